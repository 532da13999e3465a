package eventbuspg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/store"
)

// StreamNotifyChannel is the channel a trigger on events_mirror notifies
// after every statement that stores events.
const StreamNotifyChannel = "taylordash_events"

// Position is a place in the mirror's commit order: the inserting
// transaction and the row. Its string form "txid.id" is what the
// Server-Sent Events stream sends as event ids, so a client that
// reconnects resumes where it stopped (Last-Event-ID).
type Position struct {
	TxID uint64
	ID   int64
}

// String returns "txid.id".
func (p Position) String() string {
	return strconv.FormatUint(p.TxID, 10) + "." + strconv.FormatInt(p.ID, 10)
}

// ParsePosition parses the string form of a Position.
func ParsePosition(s string) (Position, error) {
	tx, id, ok := strings.Cut(s, ".")
	p := Position{}
	var err1, err2 error
	p.TxID, err1 = strconv.ParseUint(tx, 10, 64)
	p.ID, err2 = strconv.ParseInt(id, 10, 64)
	if !ok || err1 != nil || err2 != nil || p.ID < 0 {
		return Position{}, invalid("position %q is not of the form <txid>.<id>", s)
	}
	return p, nil
}

// After reports whether p comes after q in commit order.
func (p Position) After(q Position) bool {
	return p.TxID > q.TxID || (p.TxID == q.TxID && p.ID > q.ID)
}

// StreamFilter selects events of a stream. Empty fields match all.
type StreamFilter struct {
	// Topic is an exact topic or an MQTT filter (+, #).
	Topic string
	// Kind is an exact kind.
	Kind string
	// TraceID is an exact trace id.
	TraceID string
}

func (f StreamFilter) match(e StoredEvent) bool {
	return (f.Topic == "" || f.Topic == e.Topic || eventbus.MatchTopic(f.Topic, e.Topic)) &&
		(f.Kind == "" || f.Kind == e.Kind) &&
		(f.TraceID == "" || f.TraceID == e.TraceID)
}

// StreamEvent is one event of a stream, with its position.
type StreamEvent struct {
	StoredEvent
	Position Position
}

// ErrTooSlow ends a subscription whose reader fell too far behind; it can
// subscribe again from its last position.
var ErrTooSlow = errors.New("eventbuspg: the stream reader fell behind; resume from its last position")

// StreamConfig configures a Stream.
type StreamConfig struct {
	// PollInterval is how often the stream looks for new rows without a
	// notification (default 1s).
	PollInterval time.Duration
	// Buffer is how many events a subscriber may have waiting before it is
	// ended with ErrTooSlow (default 1024).
	Buffer int
}

// Stream follows the mirror and hands every stored event, in commit
// order, to any number of subscribers, each with a filter. It reads rows
// whose inserting transaction is older than the oldest transaction still
// running, so no row is skipped however late its transaction commits (a
// long-running transaction delays the stream, it loses nothing). It is
// woken by the mirror's notification and polls as a fallback. Every
// instance of a service follows the shared mirror, so a client of any
// instance sees every event, whichever instance ingested it.
type Stream struct {
	db  *store.DB
	cfg StreamConfig
	log *slog.Logger

	mu     sync.Mutex
	pos    Position // the last row broadcast (or the start)
	subs   map[*streamSub]struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

type streamSub struct {
	filter StreamFilter
	ch     chan StreamEvent
	err    error
	closed bool
}

// NewStream returns a stream over db's mirror; it reads nothing until
// Start.
func NewStream(db *store.DB, cfg StreamConfig, log *slog.Logger) *Stream {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 1024
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Stream{db: db, cfg: cfg, log: log, subs: map[*streamSub]struct{}{}}
}

// Start takes the current end of the mirror as the starting point and
// follows it in the background until Stop.
func (s *Stream) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil {
		return nil
	}
	h, err := s.currentHorizon(ctx)
	if err != nil {
		return err
	}
	s.pos = Position{TxID: h, ID: -1}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel, s.done = cancel, make(chan struct{})
	go s.run(runCtx)
	return nil
}

// Stop ends the stream and every subscription. Safe to call twice.
func (s *Stream) Stop(ctx context.Context) error {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("eventbuspg: stop stream: %w", ctx.Err())
	}
	s.mu.Lock()
	for sub := range s.subs {
		s.endLocked(sub, context.Canceled)
	}
	s.mu.Unlock()
	return nil
}

// Subscribe returns the events matching f, from the position after from
// when it is not nil (events already stored, then live ones), else from
// now. The channel closes when ctx ends, the stream stops, or the reader
// falls behind; then err() says why (nil for ctx).
func (s *Stream) Subscribe(ctx context.Context, f StreamFilter, from *Position) (<-chan StreamEvent, func() error, error) {
	sub := &streamSub{filter: f, ch: make(chan StreamEvent, s.cfg.Buffer)}
	s.mu.Lock()
	if s.done == nil {
		s.mu.Unlock()
		return nil, nil, errors.New("eventbuspg: stream not started")
	}
	upTo := s.pos
	// Live events, all after upTo, queue in the subscription's buffer
	// while it catches up to upTo.
	s.subs[sub] = struct{}{}
	s.mu.Unlock()

	out := make(chan StreamEvent)
	var errMu sync.Mutex
	var endErr error
	errFn := func() error { errMu.Lock(); defer errMu.Unlock(); return endErr }
	go func() {
		defer close(out)
		defer s.unsubscribe(sub)
		end := func(err error) { errMu.Lock(); endErr = err; errMu.Unlock() }
		if from != nil {
			if err := s.catchUp(ctx, f, *from, upTo, out); err != nil {
				end(err)
				return
			}
		}
		for {
			select {
			case ev, ok := <-sub.ch:
				if !ok {
					s.mu.Lock()
					end(sub.err)
					s.mu.Unlock()
					return
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, errFn, nil
}

func (s *Stream) unsubscribe(sub *streamSub) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endLocked(sub, nil)
}

func (s *Stream) endLocked(sub *streamSub, err error) {
	if sub.closed {
		return
	}
	sub.closed, sub.err = true, err
	close(sub.ch)
	delete(s.subs, sub)
}

// catchUp sends the stored events after from, up to and including upTo,
// page by page.
func (s *Stream) catchUp(ctx context.Context, f StreamFilter, from, upTo Position, out chan<- StreamEvent) error {
	for upTo.After(from) {
		page, err := s.read(ctx, from, upTo, 500)
		if err != nil {
			return err
		}
		for _, ev := range page {
			from = ev.Position
			if !f.match(ev.StoredEvent) {
				continue
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return nil
			}
		}
		if len(page) < 500 {
			return nil
		}
	}
	return nil
}

func (s *Stream) run(ctx context.Context) {
	defer close(s.done)
	wake := make(chan struct{}, 1)
	var listener sync.WaitGroup
	listener.Go(func() { s.listen(ctx, wake) })
	defer listener.Wait()
	ticker := time.NewTicker(s.cfg.PollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-ticker.C:
		}
		if err := s.advance(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("event stream: read failed; retrying", slog.String("error", err.Error()))
		}
	}
}

// advance broadcasts the rows after the last one broadcast whose
// transactions are below the current horizon (so final).
func (s *Stream) advance(ctx context.Context) error {
	hi, err := s.currentHorizon(ctx)
	if err != nil {
		return err
	}
	end := Position{TxID: hi, ID: -1} // before every row of transaction hi
	for {
		s.mu.Lock()
		from := s.pos
		s.mu.Unlock()
		page, err := s.read(ctx, from, end, 1000)
		if err != nil {
			return err
		}
		s.broadcast(page)
		if len(page) < 1000 {
			return nil
		}
	}
}

// broadcast hands events to the subscribers and advances pos past them,
// under one lock, so that a subscriber registering meanwhile catches up to
// exactly where live delivery starts.
func (s *Stream) broadcast(events []StreamEvent) {
	if len(events) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pos = events[len(events)-1].Position
	for sub := range s.subs {
		for _, ev := range events {
			if !sub.filter.match(ev.StoredEvent) {
				continue
			}
			select {
			case sub.ch <- ev:
			default:
				s.endLocked(sub, ErrTooSlow)
			}
			if sub.closed {
				break
			}
		}
	}
}

// currentHorizon is the oldest transaction still running: every
// transaction below it has ended.
func (s *Stream) currentHorizon(ctx context.Context) (uint64, error) {
	var h uint64
	if err := s.db.QueryRow(ctx, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").Scan(&h); err != nil {
		return 0, fmt.Errorf("eventbuspg: stream horizon: %w", err)
	}
	return h, nil
}

// read returns up to limit rows after from and up to upTo (inclusive), in
// commit order.
func (s *Stream) read(ctx context.Context, from, upTo Position, limit int) ([]StreamEvent, error) {
	rows, err := s.db.Query(ctx, `
		SELECT id, COALESCE(event_id::text, '') AS event_id, topic, COALESCE(kind, '') AS kind,
			COALESCE(trace_id, '') AS trace_id, idempotency_key, COALESCE(source, '') AS source,
			COALESCE(ts, created_at) AS ts, payload, created_at, txid::text::bigint AS txid
		FROM events_mirror
		WHERE (txid, id) > ($1::text::xid8, $2) AND (txid, id) <= ($3::text::xid8, $4)
		ORDER BY txid, id
		LIMIT $5`, strconv.FormatUint(from.TxID, 10), from.ID, strconv.FormatUint(upTo.TxID, 10), upTo.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("eventbuspg: stream read: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (StreamEvent, error) {
		var ev StreamEvent
		var tx int64
		err := r.Scan(&ev.ID, &ev.EventID, &ev.Topic, &ev.Kind, &ev.TraceID, &ev.IdempotencyKey,
			&ev.Source, &ev.TS, &ev.Payload, &ev.CreatedAt, &tx)
		ev.Position = Position{TxID: uint64(tx), ID: ev.ID}
		return ev, err
	})
}

// listen holds a LISTEN connection and signals wake on each notification,
// reconnecting with backoff; polling covers its gaps.
func (s *Stream) listen(ctx context.Context, wake chan<- struct{}) {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		s.log.Debug("event stream: listener lost; reconnecting", slog.String("error", fmt.Sprint(err)))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait/2 + rand.N(wait)):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

func (s *Stream) listenOnce(ctx context.Context, wake chan<- struct{}) error {
	pooled, err := s.db.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection leaves the pool rather than go back to it with the
	// channel still registered.
	conn := pooled.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+StreamNotifyChannel); err != nil {
		return err
	}
	signal := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	signal() // catch up on what was stored while not listening
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		signal()
	}
}
