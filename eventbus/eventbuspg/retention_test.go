package eventbuspg_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/testkit"
)

// fillForRetention stores rows young and old: 300 mirror events (250
// older than 40 days), 130 outbox rows (120 sent 2 days ago, 5 unsent
// and as old, 5 sent now; each also mirrored now), and 140 dead letters
// (130 that last failed 40 days ago).
func fillForRetention(t *testing.T, b bundle) {
	t.Helper()
	ctx := context.Background()
	var events []*eventbus.Event
	for i := range 300 {
		events = append(events, newEvent(t, "tracker/events/a/b", "k", fmt.Sprintf("key-%03d", i), ""))
	}
	if err := b.mirror.Record(ctx, events); err != nil {
		t.Fatal(err)
	}
	b.exec(t, "UPDATE events_mirror SET created_at = now() - interval '40 days' WHERE idempotency_key < 'key-250'")
	for i := range 130 {
		if _, err := b.outbox.Publish(ctx, "tracker/events/a/b", "k", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	b.exec(t, `UPDATE outbox SET created_at = now() - interval '2 days',
		sent_at = CASE WHEN id <= (SELECT min(id) + 119 FROM outbox) THEN now() - interval '2 days' END
		WHERE id <= (SELECT min(id) + 124 FROM outbox)`)
	b.exec(t, "UPDATE outbox SET sent_at = now() WHERE created_at > now() - interval '1 hour'")
	var letters []eventbus.DeadLetter
	for i := range 140 {
		at := time.Now()
		if i < 130 {
			at = at.Add(-40 * 24 * time.Hour)
		}
		letters = append(letters, eventbus.DeadLetter{Topic: "t", Payload: fmt.Appendf(nil, "%d", i), Reason: eventbus.ReasonNotJSON, FailedAt: at})
	}
	if err := b.dlq.Put(ctx, letters); err != nil {
		t.Fatal(err)
	}
}

func TestRetentionDeletesOnlyOldRowsInBatches(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	fillForRetention(t, b)

	keep := eventbuspg.NewRetention(b.db.DB, eventbuspg.RetentionConfig{BatchSize: 100}, nil)
	if res, err := keep.RunOnce(ctx); err != nil || res != (eventbuspg.RetentionResult{}) {
		t.Errorf("zero retentions: RunOnce = %+v, %v; want nothing deleted", res, err)
	}

	cfg := eventbuspg.Config{}.WithDefaults().Retention()
	cfg.BatchSize = 100 // fewer than each table's old rows: several batches
	res, err := eventbuspg.NewRetention(b.db.DB, cfg, testkit.NewLogger(t)).RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (eventbuspg.RetentionResult{Mirror: 250, Outbox: 120, DLQ: 130}); res != want {
		t.Errorf("RunOnce = %+v, want %+v", res, want)
	}
	for _, c := range []struct {
		query string
		want  int
	}{
		{"SELECT count(*) FROM events_mirror", 50 + 130},
		{"SELECT count(*) FROM events_mirror WHERE created_at < now() - interval '30 days'", 0},
		{"SELECT count(*) FROM outbox", 10},
		{"SELECT count(*) FROM outbox WHERE sent_at IS NULL", 5}, // old but unsent: kept
		{"SELECT count(*) FROM dlq_events", 10},
	} {
		if got := b.count(t, c.query); got != c.want {
			t.Errorf("%s = %d, want %d", c.query, got, c.want)
		}
	}
}

func TestRetentionRunsInTheBackground(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	cfg := eventbuspg.RetentionConfig{Mirror: time.Hour, Outbox: time.Hour, DLQ: time.Hour, Interval: 20 * time.Millisecond}
	r := eventbuspg.NewRetention(b.db.DB, cfg, testkit.NewLogger(t))
	for range 2 {
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = r.Stop(context.Background()) })
	if err := b.mirror.Record(ctx, []*eventbus.Event{newEvent(t, "tracker/events/a/b", "k", "", "")}); err != nil {
		t.Fatal(err)
	}
	b.exec(t, "UPDATE events_mirror SET created_at = now() - interval '2 hours'")
	waitFor(t, 5*time.Second, "the old event to be deleted", func() bool {
		return b.count(t, "SELECT count(*) FROM events_mirror") == 0
	})
	for range 2 {
		if err := r.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRetentionDropsOldMarksOfDeadInstances: in-flight marks older than a
// day whose owner is gone are deleted; a live owner's, and recent ones,
// are kept.
func TestRetentionDropsOldMarksOfDeadInstances(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	live, err := b.db.DB.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Release()
	const liveKey, deadKey = int64(0x1234_5678_9abc), int64(0x7777_0000_1111)
	if _, err := live.Exec(ctx, "SELECT pg_advisory_lock($1)", liveKey); err != nil {
		t.Fatal(err)
	}
	defer live.Exec(ctx, "SELECT pg_advisory_unlock($1)", liveKey) //nolint:errcheck
	b.exec(t, `INSERT INTO events_inflight (owner, mirror_ids, created_at) VALUES
		($1, '{1}', now() - interval '2 days'),
		($2, '{2}', now() - interval '2 days'),
		($2, '{3}', now() - interval '1 hour')`, liveKey, deadKey)
	res, err := eventbuspg.NewRetention(b.db.DB, eventbuspg.RetentionConfig{}, nil).RunOnce(ctx)
	if err != nil || res.InFlight != 1 {
		t.Fatalf("RunOnce = %+v, %v; want the one old mark of a dead owner deleted", res, err)
	}
	if n := b.count(t, "SELECT count(*) FROM events_inflight WHERE owner = $1 AND created_at < now() - interval '1 day'", deadKey); n != 0 {
		t.Fatalf("old dead mark kept")
	}
	if n := b.count(t, "SELECT count(*) FROM events_inflight"); n != 2 {
		t.Fatalf("%d marks left, want the live owner's and the recent one", n)
	}
}
