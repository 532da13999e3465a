package eventbuspg

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/store"
)

// DeadLetterStore is the dlq_events table: it stores dead letters (it
// implements eventbus.DeadLetters) and lists, replays and purges them. It
// is safe for concurrent use.
type DeadLetterStore struct {
	db      *store.DB
	metrics mirrorMetrics
}

var _ eventbus.DeadLetters = (*DeadLetterStore)(nil)

// NewDeadLetterStore returns the dead-letter queue stored in db (migrated
// with Migrations).
func NewDeadLetterStore(db *store.DB, opts ...Option) *DeadLetterStore {
	o := applyOptions(opts)
	return &DeadLetterStore{db: db, metrics: newMirrorMetrics(o.meterProvider)}
}

// Fingerprint identifies a message in the dead-letter queue: the hex
// SHA-256 of its topic, a NUL byte and its payload.
func Fingerprint(topic string, payload []byte) string {
	h := sha256.New()
	h.Write([]byte(topic))
	h.Write([]byte{0})
	h.Write(payload)
	return hex.EncodeToString(h.Sum(nil))
}

// putDeadLetters upserts a batch by fingerprint in one statement. The
// batch holds each fingerprint once (ON CONFLICT DO UPDATE cannot touch a
// row twice). A message dead-lettered again counts its attempts, moves
// its last failure, takes the new reason and detail, and becomes
// unreplayed again (its replay failed).
const putDeadLetters = `INSERT INTO dlq_events
	(fingerprint, original_topic, reason, detail, payload, idempotency_key, attempts, first_failure_at, last_failure_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::text[], $7::int[],
	$8::timestamptz[], $9::timestamptz[])
ON CONFLICT (fingerprint) DO UPDATE SET
	attempts = LEAST(dlq_events.attempts::bigint + excluded.attempts, 1073741824),
	first_failure_at = LEAST(dlq_events.first_failure_at, excluded.first_failure_at),
	last_failure_at = GREATEST(dlq_events.last_failure_at, excluded.last_failure_at),
	reason = excluded.reason,
	detail = excluded.detail,
	idempotency_key = COALESCE(excluded.idempotency_key, dlq_events.idempotency_key),
	replayed_at = NULL`

// Put implements eventbus.DeadLetters: it stores the batch in one
// statement. The same message (topic and payload, see Fingerprint) is
// one row: dead-lettered again, in this batch or later, its attempts add
// up, its last failure moves, its reason and detail are the latest and it
// counts as not replayed. Attempts below 1 count as 1; a zero FailedAt
// means now. The payload is stored byte-exact.
func (d *DeadLetterStore) Put(ctx context.Context, letters []eventbus.DeadLetter) error {
	if len(letters) == 0 {
		return nil
	}
	type row struct {
		fingerprint, topic, reason, detail string
		payload                            []byte
		key                                *string
		attempts                           int32
		first, last                        time.Time
	}
	now := time.Now()
	index := make(map[string]int, len(letters))
	rows := make([]row, 0, len(letters))
	for _, l := range letters {
		at := l.FailedAt
		if at.IsZero() {
			at = now
		}
		attempts := int32(min(max(l.Attempts, 1), maxAttempts))
		var key *string
		if l.IdempotencyKey != "" {
			k := cleanText(l.IdempotencyKey)
			key = &k
		}
		fp := Fingerprint(l.Topic, l.Payload)
		if i, ok := index[fp]; ok { // the same message twice in the batch
			r := &rows[i]
			r.attempts = min(r.attempts+attempts, maxAttempts)
			r.first, r.last = minTime(r.first, at), maxTime(r.last, at)
			r.reason, r.detail = cleanText(string(l.Reason)), cleanText(l.Detail)
			if key != nil {
				r.key = key
			}
			continue
		}
		index[fp] = len(rows)
		payload := l.Payload
		if payload == nil {
			payload = []byte{}
		}
		rows = append(rows, row{fingerprint: fp, topic: cleanText(l.Topic), reason: cleanText(string(l.Reason)),
			detail: cleanText(l.Detail), payload: payload, key: key, attempts: attempts, first: at, last: at})
	}
	var (
		fps, topics, reasons, details []string
		payloads                      [][]byte
		keys                          []*string
		attempts                      []int32
		firsts, lasts                 []time.Time
	)
	for _, r := range rows {
		fps, topics, reasons, details = append(fps, r.fingerprint), append(topics, r.topic), append(reasons, r.reason), append(details, r.detail)
		payloads, keys, attempts = append(payloads, r.payload), append(keys, r.key), append(attempts, r.attempts)
		firsts, lasts = append(firsts, r.first), append(lasts, r.last)
	}
	args := []any{fps, topics, reasons, details, payloads, keys, attempts, firsts, lasts}
	if _, err := d.db.Exec(ctx, putDeadLetters, args...); err != nil {
		return fmt.Errorf("eventbuspg: store %d dead letters: %w", len(letters), err)
	}
	d.metrics.deadLettered(ctx, letters)
	return nil
}

// maxAttempts caps the attempts counter far below the int column's limit.
const maxAttempts = 1 << 30

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// StoredDeadLetter is a row of the dead-letter queue.
type StoredDeadLetter struct {
	// ID identifies the row.
	ID int64 `db:"id"`
	// Fingerprint identifies the message (see Fingerprint).
	Fingerprint string `db:"fingerprint"`
	// Topic is the topic the message arrived on (original_topic).
	Topic string `db:"original_topic"`
	// Reason is the bounded code of the latest failure.
	Reason eventbus.Reason `db:"reason"`
	// Detail explains the latest failure.
	Detail string `db:"detail"`
	// Payload is the message byte-exact.
	Payload []byte `db:"payload"`
	// IdempotencyKey is the event's key when the message parsed, else "".
	IdempotencyKey string `db:"idempotency_key"`
	// Attempts counts the failed attempts over every dead-lettering.
	Attempts int `db:"attempts"`
	// FirstFailureAt is when the message first failed.
	FirstFailureAt time.Time `db:"first_failure_at"`
	// LastFailureAt is when it last failed (the original's created_at).
	LastFailureAt time.Time `db:"last_failure_at"`
	// CreatedAt is when the row was stored.
	CreatedAt time.Time `db:"created_at"`
	// ReplayedAt is when the message was last replayed, nil if it was
	// not, or if it failed again since.
	ReplayedAt *time.Time `db:"replayed_at"`
	// ReplayCount counts replays.
	ReplayCount int `db:"replay_count"`
}

// DLQFilter selects dead letters. Zero fields do not filter.
type DLQFilter struct {
	// Topic matches the original topic exactly.
	Topic string
	// Reason matches the reason.
	Reason eventbus.Reason
	// Since keeps rows whose last failure is at or after it.
	Since time.Time
	// Until keeps rows whose last failure is before it.
	Until time.Time
	// Replayed, when set, keeps rows that were replayed (true) or not
	// (false) since their last failure.
	Replayed *bool
	// IDs keeps these rows only.
	IDs []int64
	// Limit is List's page size, 1 to MaxLimit; 0 means DefaultLimit.
	// Purge refuses it (it deletes every match).
	Limit int
	// AfterID continues a List after the row with this id: the listing is
	// newest first, so the page holds smaller ids (keyset pagination).
	AfterID int64
}

func (f DLQFilter) where() (where, error) {
	var w where
	if f.Topic != "" {
		w.add("original_topic = ?", f.Topic)
	}
	if f.Reason != "" {
		w.add("reason = ?", string(f.Reason))
	}
	if !f.Since.IsZero() {
		w.add("last_failure_at >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		w.add("last_failure_at < ?", f.Until)
	}
	if f.Replayed != nil {
		if *f.Replayed {
			w.conds = append(w.conds, "replayed_at IS NOT NULL")
		} else {
			w.conds = append(w.conds, "replayed_at IS NULL")
		}
	}
	if f.IDs != nil {
		w.add("id = ANY(?)", f.IDs)
	}
	if f.AfterID < 0 {
		return w, invalid("after id %d is negative", f.AfterID)
	}
	if f.AfterID > 0 {
		w.add("id < ?", f.AfterID)
	}
	return w, nil
}

const dlqColumns = `id, fingerprint, original_topic, reason, detail, payload,
	COALESCE(idempotency_key, '') AS idempotency_key, attempts, first_failure_at, last_failure_at,
	created_at, replayed_at, replay_count`

// List returns the dead letters that match f, newest first (by id), at
// most f.Limit of them; continue with f.AfterID set to the last id. A bad
// limit is a dashcore.ErrInvalid.
func (d *DeadLetterStore) List(ctx context.Context, f DLQFilter) ([]StoredDeadLetter, error) {
	limit, err := pageLimit(f.Limit)
	if err != nil {
		return nil, err
	}
	w, err := f.where()
	if err != nil {
		return nil, err
	}
	conds := w.sql()
	q := `SELECT ` + dlqColumns + ` FROM dlq_events` + conds + ` ORDER BY id DESC LIMIT ` + w.param(limit)
	rows, err := d.db.Query(ctx, q, w.args...)
	if err != nil {
		return nil, fmt.Errorf("eventbuspg: list dead letters: %w", store.MapError(err))
	}
	letters, err := pgx.CollectRows(rows, pgx.RowToStructByName[StoredDeadLetter])
	if err != nil {
		return nil, fmt.Errorf("eventbuspg: list dead letters: %w", store.MapError(err))
	}
	return letters, nil
}

// Count returns how many dead letters match f (Limit and AfterID aside:
// AfterID still filters).
func (d *DeadLetterStore) Count(ctx context.Context, f DLQFilter) (int64, error) {
	w, err := f.where()
	if err != nil {
		return 0, err
	}
	var n int64
	if err := d.db.QueryRow(ctx, `SELECT count(*) FROM dlq_events`+w.sql(), w.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("eventbuspg: count dead letters: %w", store.MapError(err))
	}
	return n, nil
}

// Get returns the dead letter with id, or an error matching
// store.ErrNotFound.
func (d *DeadLetterStore) Get(ctx context.Context, id int64) (StoredDeadLetter, error) {
	rows, err := d.db.Query(ctx, `SELECT `+dlqColumns+` FROM dlq_events WHERE id = $1`, id)
	if err != nil {
		return StoredDeadLetter{}, fmt.Errorf("eventbuspg: get dead letter %d: %w", id, store.MapError(err))
	}
	l, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[StoredDeadLetter])
	if err != nil {
		return StoredDeadLetter{}, fmt.Errorf("eventbuspg: get dead letter %d: %w", id, store.MapError(err))
	}
	return l, nil
}

// ReplayResult reports a replay.
type ReplayResult struct {
	// Total is how many dead letters were to be replayed.
	Total int
	// Replayed is how many were published again and marked replayed.
	Replayed int
	// FailedID is the dead letter whose publication failed, if one did.
	FailedID int64
}

// Replay publishes the dead letters with ids again, in the order given,
// each byte-exact to its original topic through pub, and marks each
// replayed (replayed_at, replay_count) once pub accepted it. It stops at
// the first error, which it returns with the result so far: a dead letter
// is replayed at most once per call, and those after the failure not at
// all. Unknown ids fail the call before anything is published, with an
// error matching store.ErrNotFound.
//
// A replay is a redelivery: an event the mirror already holds is
// recognized by its idempotency key and stored once; a message that is
// still invalid is dead-lettered again onto the same row.
func (d *DeadLetterStore) Replay(ctx context.Context, pub eventbus.Publisher, ids ...int64) (ReplayResult, error) {
	ids = uniqueIDs(ids)
	res := ReplayResult{Total: len(ids)}
	if len(ids) == 0 {
		return res, nil
	}
	type msg struct {
		topic   string
		payload []byte
	}
	msgs := make(map[int64]msg, len(ids))
	rows, err := d.db.Query(ctx, `SELECT id, original_topic, payload FROM dlq_events WHERE id = ANY($1)`, ids)
	if err != nil {
		return res, fmt.Errorf("eventbuspg: replay: %w", store.MapError(err))
	}
	var id int64
	var m msg
	if _, err := pgx.ForEachRow(rows, []any{&id, &m.topic, &m.payload}, func() error {
		msgs[id] = m
		return nil
	}); err != nil {
		return res, fmt.Errorf("eventbuspg: replay: %w", store.MapError(err))
	}
	var missing []int64
	for _, id := range ids {
		if _, ok := msgs[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return res, fmt.Errorf("eventbuspg: replay: no dead letters with ids %v: %w", missing, store.ErrNotFound)
	}
	for _, id := range ids {
		m := msgs[id]
		if err := pub.Publish(ctx, m.topic, m.payload); err != nil {
			res.FailedID = id
			return res, fmt.Errorf("eventbuspg: replay dead letter %d to %s: %w", id, m.topic, err)
		}
		if _, err := d.db.Exec(ctx, `UPDATE dlq_events SET replayed_at = now(), replay_count = replay_count + 1 WHERE id = $1`, id); err != nil {
			// Published, but not marked: a later replay publishes it again,
			// which the mirror's deduplication makes harmless.
			res.FailedID = id
			return res, fmt.Errorf("eventbuspg: mark dead letter %d replayed: %w", id, store.MapError(err))
		}
		res.Replayed++
	}
	return res, nil
}

func uniqueIDs(ids []int64) []int64 {
	seen := make(map[int64]bool, len(ids))
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// replayPage is how many ids ReplayAll reads at a time.
const replayPage = 500

// ReplayAll replays every dead letter matching f (its Limit aside), oldest
// first, as Replay does: byte-exact, marking each, stopping at the first
// error. Dead letters stored after the call began are left alone, so a
// message that fails again cannot make it loop. progress, if not nil, is
// called after each replayed message with the count so far and the total
// matched at the start (for a CLI's progress bar). To replay only what
// was not replayed yet, set f.Replayed to a pointer to false.
func (d *DeadLetterStore) ReplayAll(ctx context.Context, pub eventbus.Publisher, f DLQFilter, progress func(done, total int)) (ReplayResult, error) {
	f.Limit = 0
	var maxID int64
	if err := d.db.QueryRow(ctx, `SELECT COALESCE(max(id), 0) FROM dlq_events`).Scan(&maxID); err != nil {
		return ReplayResult{}, fmt.Errorf("eventbuspg: replay all: %w", store.MapError(err))
	}
	base, err := f.where()
	if err != nil {
		return ReplayResult{}, err
	}
	base.add("id <= ?", maxID)
	var total int64
	if err := d.db.QueryRow(ctx, `SELECT count(*) FROM dlq_events`+base.sql(), base.args...).Scan(&total); err != nil {
		return ReplayResult{}, fmt.Errorf("eventbuspg: replay all: %w", store.MapError(err))
	}
	res := ReplayResult{Total: int(total)}
	var last int64
	for {
		w := base
		w.conds, w.args = slices.Clone(base.conds), slices.Clone(base.args)
		w.add("id > ?", last)
		conds := w.sql()
		rows, err := d.db.Query(ctx, `SELECT id FROM dlq_events`+conds+` ORDER BY id LIMIT `+w.param(replayPage), w.args...)
		if err != nil {
			return res, fmt.Errorf("eventbuspg: replay all: %w", store.MapError(err))
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return res, fmt.Errorf("eventbuspg: replay all: %w", store.MapError(err))
		}
		for _, id := range ids {
			r, err := d.Replay(ctx, pub, id)
			if err != nil && !errors.Is(err, store.ErrNotFound) { // purged meanwhile: skip
				res.FailedID = r.FailedID
				return res, err
			}
			res.Replayed += r.Replayed
			if progress != nil && r.Replayed > 0 {
				progress(res.Replayed, res.Total)
			}
		}
		if len(ids) < replayPage {
			return res, nil
		}
		last = ids[len(ids)-1]
	}
}

// purgeBatch is how many rows one DELETE of Purge removes, so that a
// large purge never holds many row locks for long.
const purgeBatch = 10000

// ErrPurgeEverything is returned by Purge for a filter without any
// condition: deleting the whole queue takes PurgeAll.
var ErrPurgeEverything = dashcore.NewError(dashcore.ErrInvalid,
	"purging needs at least one condition (topic, reason, since, until, replayed or ids); use PurgeAll to delete every dead letter", nil)

// Purge deletes the dead letters matching f and returns how many it
// deleted. f must hold a condition (ErrPurgeEverything otherwise) and no
// Limit. Rows go in batches, each its own statement.
func (d *DeadLetterStore) Purge(ctx context.Context, f DLQFilter) (int64, error) {
	if f.Limit != 0 {
		return 0, invalid("purge deletes every match: remove the limit %d", f.Limit)
	}
	w, err := f.where()
	if err != nil {
		return 0, err
	}
	if len(w.conds) == 0 {
		return 0, ErrPurgeEverything
	}
	return deleteBatched(ctx, d.db, "dlq_events", w, purgeBatch)
}

// PurgeAll deletes every dead letter and returns how many it deleted.
func (d *DeadLetterStore) PurgeAll(ctx context.Context) (int64, error) {
	return deleteBatched(ctx, d.db, "dlq_events", where{}, purgeBatch)
}

// deleteBatched deletes the rows of table matching w, batch rows per
// statement, until none is left.
func deleteBatched(ctx context.Context, db *store.DB, table string, w where, batch int) (int64, error) {
	conds := w.sql()
	q := `DELETE FROM ` + table + ` WHERE id IN (SELECT id FROM ` + table + conds + ` LIMIT ` + w.param(batch) + `)`
	var total int64
	for {
		tag, err := db.Exec(ctx, q, w.args...)
		if err != nil {
			return total, fmt.Errorf("eventbuspg: delete from %s: %w", table, store.MapError(err))
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < int64(batch) {
			return total, nil
		}
	}
}
