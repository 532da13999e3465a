package eventbuspg_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/store"
)

// benchBatch returns n new events with unique keys.
func benchBatch(b *testing.B, n int) []*eventbus.Event {
	b.Helper()
	events := make([]*eventbus.Event, n)
	for i := range events {
		events[i] = newEvent(b, "tracker/events/projects/created", "project_created", "",
			fmt.Sprintf(`{"project_id":"%d","name":"Project %d","owner":"alice","tags":["a","b","c"]}`, i, i))
	}
	return events
}

// BenchmarkMirrorRecord compares ways to store a batch of 500 events with
// deduplication: the unnest statement Mirror.Record uses (one round
// trip), COPY into a temporary table then INSERT ... SELECT ... ON
// CONFLICT (a transaction of four round trips), and a multi-row VALUES
// list (one round trip, 5000 parameters).
func BenchmarkMirrorRecord(b *testing.B) {
	const batchSize = 500
	run := func(b *testing.B, record func(ctx context.Context, db *store.DB, events []*eventbus.Event) (int, error)) {
		bu := setup(b)
		ctx := context.Background()
		b.ResetTimer()
		for b.Loop() {
			b.StopTimer()
			events := benchBatch(b, batchSize)
			b.StartTimer()
			n, err := record(ctx, bu.db.DB, events)
			if err != nil {
				b.Fatal(err)
			}
			if n != batchSize {
				b.Fatalf("stored %d, want %d", n, batchSize)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/batchSize, "ns/event")
	}
	b.Run("unnest", func(b *testing.B) {
		run(b, func(ctx context.Context, db *store.DB, events []*eventbus.Event) (int, error) {
			err := eventbuspg.NewMirror(db).Record(ctx, events)
			n := 0
			for _, ev := range events {
				if !ev.Duplicate {
					n++
				}
			}
			return n, err
		})
	})
	b.Run("copy", func(b *testing.B) { run(b, recordCopy) })
	b.Run("values", func(b *testing.B) { run(b, recordValues) })
}

func benchRow(ev *eventbus.Event) []any {
	body, _ := json.Marshal(ev.Envelope)
	return []any{ev.Envelope.ID, ev.Envelope.IdempotencyKey, ev.Envelope.TraceID, ev.Envelope.TS, ev.Envelope.Kind,
		ev.Envelope.Source, ev.Topic, string(body), ev.Envelope.Traceparent, ev.ReceivedAt}
}

var mirrorColumns = []string{"event_id", "idempotency_key", "trace_id", "ts", "kind", "source", "topic", "payload", "traceparent", "received_at"}

// recordCopy is the COPY variant: the batch goes to a temporary table by
// COPY, then into the mirror by INSERT ... SELECT ... ON CONFLICT.
func recordCopy(ctx context.Context, db *store.DB, events []*eventbus.Event) (int, error) {
	n := 0
	err := store.Tx(ctx, db, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `CREATE TEMP TABLE mirror_batch (LIKE events_mirror INCLUDING DEFAULTS) ON COMMIT DROP`)
		if err != nil {
			return err
		}
		rows := make([][]any, len(events))
		for i, ev := range events {
			rows[i] = benchRow(ev)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"mirror_batch"}, mirrorColumns, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		cols := strings.Join(mirrorColumns, ", ")
		tag, err := tx.Exec(ctx, `INSERT INTO events_mirror (`+cols+`) SELECT `+cols+` FROM mirror_batch ORDER BY id
			ON CONFLICT (idempotency_key) DO NOTHING`)
		n = int(tag.RowsAffected())
		return err
	})
	return n, err
}

// recordValues is the VALUES variant: one INSERT with a row of parameters
// per event.
func recordValues(ctx context.Context, db *store.DB, events []*eventbus.Event) (int, error) {
	var sb strings.Builder
	sb.WriteString(`INSERT INTO events_mirror (` + strings.Join(mirrorColumns, ", ") + `) VALUES `)
	args := make([]any, 0, len(events)*len(mirrorColumns))
	for i, ev := range events {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("(")
		for j, v := range benchRow(ev) {
			if j > 0 {
				sb.WriteString(", ")
			}
			args = append(args, v)
			sb.WriteString("$" + strconv.Itoa(len(args)))
			if j == 7 {
				sb.WriteString("::jsonb")
			}
		}
		sb.WriteString(")")
	}
	sb.WriteString(" ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key")
	rows, err := db.Query(ctx, sb.String(), args...)
	if err != nil {
		return 0, err
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return len(keys), err
}

// BenchmarkOutbox measures PublishTx: the cost an event adds to the
// caller's transaction (in_tx: 100 events per transaction, per event),
// and Publish, an event in a transaction of its own (own_tx).
func BenchmarkOutbox(b *testing.B) {
	payload := map[string]any{"project_id": "p-1", "name": "Roadmap", "owner": "alice"}
	b.Run("in_tx", func(b *testing.B) {
		bu := setup(b)
		ctx := context.Background()
		tx, err := bu.db.DB.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		n := 0
		for b.Loop() {
			if _, err := bu.outbox.PublishTx(ctx, tx, "tracker/events/projects/created", "project_created", payload); err != nil {
				b.Fatal(err)
			}
			if n++; n%100 == 0 {
				if err := tx.Commit(ctx); err != nil {
					b.Fatal(err)
				}
				if tx, err = bu.db.DB.Begin(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("own_tx", func(b *testing.B) {
		bu := setup(b)
		ctx := context.Background()
		for b.Loop() {
			if _, err := bu.outbox.Publish(ctx, "tracker/events/projects/created", "project_created", payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}
