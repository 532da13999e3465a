package eventbuspg_test

import (
	"context"
	"testing"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
)

// TestMirrorInFlight: events of a batch recorded in flight whose handlers
// never finished because their process died are no duplicates when they
// come again (while it lives, they are: it will finish them); once a
// batch is handled, its events are duplicates; and handling them again
// clears the marks the dead run left.
func TestMirrorInFlight(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	run1 := eventbuspg.NewMirror(b.db.DB)
	topic := "tracker/events/a/b"
	batch := func(keys ...string) []*eventbus.Event {
		var evs []*eventbus.Event
		for _, k := range keys {
			evs = append(evs, newEvent(t, topic, "k", k, ""))
		}
		return evs
	}
	inflight := func() int { return b.count(t, "SELECT count(*) FROM events_inflight") }

	// A run records two batches, handles the first, and dies.
	first, second := batch("a", "b"), batch("c", "d")
	t1, err := run1.RecordInFlight(ctx, first)
	if err != nil || t1 == 0 {
		t.Fatalf("RecordInFlight = %d, %v", t1, err)
	}
	t2, err := run1.RecordInFlight(ctx, second)
	if err != nil || t2 <= t1 {
		t.Fatalf("RecordInFlight = %d, %v", t2, err)
	}
	if err := run1.Handled(ctx, []int64{t1}); err != nil {
		t.Fatal(err)
	}
	if got := inflight(); got != 1 {
		t.Fatalf("in-flight rows = %d, want the unhandled batch's", got)
	}
	// While the run lives, another copy of its in-flight events is a
	// duplicate: the run will finish them.
	copyWhileAlive := batch("c")
	if _, err := b.mirror.RecordInFlight(ctx, copyWhileAlive); err != nil || !copyWhileAlive[0].Duplicate {
		t.Fatalf("copy of an event a live run has in flight: %v, Duplicate %v; want a duplicate", err, copyWhileAlive[0].Duplicate)
	}
	if err := run1.Close(ctx); err != nil { // the process dies: its lease goes
		t.Fatal(err)
	}

	// The broker delivers everything again: the handled batch's events are
	// duplicates, the unhandled batch's are not.
	again := batch("a", "b", "c", "d")
	t3, err := b.mirror.RecordInFlight(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{true, true, false, false}
	for i, ev := range again {
		if ev.Duplicate != want[i] {
			t.Errorf("redelivery of %s: Duplicate %v, want %v", ev.Envelope.IdempotencyKey, ev.Duplicate, want[i])
		}
	}
	// Handling them clears both their batch and the crashed run's mark.
	if err := b.mirror.Handled(ctx, []int64{t3}); err != nil {
		t.Fatal(err)
	}
	if got := inflight(); got != 0 {
		t.Fatalf("in-flight rows after handling again = %d, want 0", got)
	}
	last := batch("c", "d")
	if _, err := b.mirror.RecordInFlight(ctx, last); err != nil {
		t.Fatal(err)
	}
	if !last[0].Duplicate || !last[1].Duplicate {
		t.Fatal("events handled after the crash are still not duplicates")
	}
	if n := b.count(t, "SELECT count(*) FROM events_mirror"); n != 4 {
		t.Fatalf("mirror rows = %d, want 4", n)
	}
	// A batch with nothing new gets no token and no row.
	tok, err := b.mirror.RecordInFlight(ctx, batch("a"))
	if err != nil || tok != 0 {
		t.Fatalf("RecordInFlight(nothing new) = %d, %v; want 0", tok, err)
	}
	if err := b.mirror.Handled(ctx, []int64{0}); err != nil {
		t.Fatal(err)
	}
}

// TestMirrorInFlightPartialOverlap: a crashed run's mark keeps the events
// not handled again yet.
func TestMirrorInFlightPartialOverlap(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	dead := eventbuspg.NewMirror(b.db.DB)
	evs := []*eventbus.Event{newEvent(t, "t/x", "k", "p", ""), newEvent(t, "t/x", "k", "q", "")}
	stale, err := dead.RecordInFlight(ctx, evs)
	if err != nil || stale == 0 {
		t.Fatal(stale, err)
	}
	if err := dead.Close(ctx); err != nil {
		t.Fatal(err)
	}
	onlyP := []*eventbus.Event{newEvent(t, "t/x", "k", "p", "")}
	tok, err := b.mirror.RecordInFlight(ctx, onlyP)
	if err != nil || onlyP[0].Duplicate {
		t.Fatalf("redelivery of an in-flight event: %v, Duplicate %v", err, onlyP[0].Duplicate)
	}
	if err := b.mirror.Handled(ctx, []int64{tok}); err != nil {
		t.Fatal(err)
	}
	var left []int64
	if err := b.db.DB.QueryRow(ctx, "SELECT mirror_ids FROM events_inflight WHERE id = $1", stale).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 {
		t.Fatalf("the crashed run's mark holds %v, want only q's id", left)
	}
	onlyQ := []*eventbus.Event{newEvent(t, "t/x", "k", "q", "")}
	if _, err := b.mirror.RecordInFlight(ctx, onlyQ); err != nil || onlyQ[0].Duplicate {
		t.Fatalf("q, still in flight from the crash: %v, Duplicate %v", err, onlyQ[0].Duplicate)
	}
}
