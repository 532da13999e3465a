package eventbuspg_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/testkit"
)

func startStream(tb testing.TB, b bundle, cfg eventbuspg.StreamConfig) *eventbuspg.Stream {
	tb.Helper()
	s := eventbuspg.NewStream(b.db.DB, cfg, testkit.NewLogger(tb))
	if err := s.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			tb.Errorf("stop stream: %v", err)
		}
	})
	return s
}

func record(tb testing.TB, b bundle, events ...*eventbus.Event) {
	tb.Helper()
	if err := b.mirror.Record(context.Background(), events); err != nil {
		tb.Fatal(err)
	}
}

func receive(tb testing.TB, ch <-chan eventbuspg.StreamEvent, n int) []eventbuspg.StreamEvent {
	tb.Helper()
	var got []eventbuspg.StreamEvent
	deadline := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case ev, ok := <-ch:
			if !ok {
				tb.Fatalf("stream closed after %d of %d events", len(got), n)
			}
			got = append(got, ev)
		case <-deadline:
			tb.Fatalf("received %d of %d events", len(got), n)
		}
	}
	return got
}

func TestStreamDeliversInCommitOrder(t *testing.T) {
	b := setup(t)
	s := startStream(t, b, eventbuspg.StreamConfig{PollInterval: 10 * time.Second})
	ctx := t.Context()
	ch, _, err := s.Subscribe(ctx, eventbuspg.StreamFilter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	record(t, b, newEvent(t, "tracker/events/a/1", "k", "s1", ""), newEvent(t, "tracker/events/a/2", "k", "s2", ""))
	got := receive(t, ch, 2)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("notification did not wake the stream: %v (poll interval 10s)", took)
	}
	if got[0].IdempotencyKey != "s1" || got[1].IdempotencyKey != "s2" || !got[1].Position.After(got[0].Position) {
		t.Fatalf("got %v", got)
	}

	// Transaction A inserts first (lower id) but commits after B: the
	// stream must deliver both, A's first, and nothing of B before A ends.
	txA, err := b.db.DB.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer txA.Rollback(ctx) //nolint:errcheck
	if _, err := txA.Exec(ctx, `INSERT INTO events_mirror (idempotency_key, topic, payload) VALUES ('late-a', 'tracker/events/a/x', '{}')`); err != nil {
		t.Fatal(err)
	}
	record(t, b, newEvent(t, "tracker/events/a/y", "k", "early-b", ""))
	select {
	case ev := <-ch:
		t.Fatalf("delivered %s while an older transaction was still running", ev.IdempotencyKey)
	case <-time.After(300 * time.Millisecond):
	}
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got = receive(t, ch, 2)
	if got[0].IdempotencyKey != "late-a" || got[1].IdempotencyKey != "early-b" {
		t.Fatalf("order %s, %s; want late-a (older transaction) first", got[0].IdempotencyKey, got[1].IdempotencyKey)
	}
	if got[0].ID > got[1].ID {
		t.Fatalf("late-a has id %d, early-b %d: the test did not exercise a late commit", got[0].ID, got[1].ID)
	}
}

func TestStreamResumesAndFilters(t *testing.T) {
	b := setup(t)
	s := startStream(t, b, eventbuspg.StreamConfig{})
	ctx := t.Context()
	all, _, err := s.Subscribe(ctx, eventbuspg.StreamFilter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var events []*eventbus.Event
	for i := range 10 {
		kind := "odd"
		if i%2 == 0 {
			kind = "even"
		}
		events = append(events, newEvent(t, fmt.Sprintf("tracker/events/p/%d", i), kind, fmt.Sprintf("r%d", i), ""))
	}
	record(t, b, events...)
	got := receive(t, all, 10)

	// Resume after the fourth event: the rest, from the database, then live.
	from := got[3].Position
	parsed, err := eventbuspg.ParsePosition(from.String())
	if err != nil || parsed != from {
		t.Fatalf("position round trip %q: %v %v", from, parsed, err)
	}
	resumed, _, err := s.Subscribe(ctx, eventbuspg.StreamFilter{}, &from)
	if err != nil {
		t.Fatal(err)
	}
	back := receive(t, resumed, 6)
	for i, ev := range back {
		if ev.IdempotencyKey != fmt.Sprintf("r%d", i+4) {
			t.Fatalf("resumed event %d is %s", i, ev.IdempotencyKey)
		}
	}
	record(t, b, newEvent(t, "tracker/events/p/live", "even", "live", ""))
	if ev := receive(t, resumed, 1)[0]; ev.IdempotencyKey != "live" {
		t.Fatalf("live after catch-up: %s", ev.IdempotencyKey)
	}

	// Filters: kind, and an MQTT topic pattern.
	zero := eventbuspg.Position{}
	evens, _, err := s.Subscribe(ctx, eventbuspg.StreamFilter{Kind: "even", Topic: "tracker/events/p/+"}, &zero)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range receive(t, evens, 6) {
		if ev.Kind != "even" {
			t.Fatalf("filter let %s (%s) through", ev.IdempotencyKey, ev.Kind)
		}
	}
	if _, err := eventbuspg.ParsePosition("nonsense"); !errors.Is(err, dashcore.ErrInvalid) {
		t.Fatalf("bad position: %v", err)
	}
}

func TestStreamEndsSlowReaders(t *testing.T) {
	b := setup(t)
	s := startStream(t, b, eventbuspg.StreamConfig{Buffer: 2})
	ch, errFn, err := s.Subscribe(t.Context(), eventbuspg.StreamFilter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var events []*eventbus.Event
	for i := range 20 {
		events = append(events, newEvent(t, "tracker/events/s/x", "k", fmt.Sprintf("slow%d", i), ""))
	}
	record(t, b, events...)
	time.Sleep(500 * time.Millisecond) // the reader does not read meanwhile
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				if !errors.Is(errFn(), eventbuspg.ErrTooSlow) {
					t.Fatalf("ended with %v, want ErrTooSlow", errFn())
				}
				return
			}
		case <-deadline:
			t.Fatal("a reader that fell behind was never ended")
		}
	}
}

// TestStreamEveryInstanceSeesEverything: two streams (two instances of a
// service) on one database both deliver every event.
func TestStreamEveryInstanceSeesEverything(t *testing.T) {
	b := setup(t)
	s1 := startStream(t, b, eventbuspg.StreamConfig{})
	s2 := startStream(t, b, eventbuspg.StreamConfig{})
	c1, _, _ := s1.Subscribe(t.Context(), eventbuspg.StreamFilter{}, nil)
	c2, _, _ := s2.Subscribe(t.Context(), eventbuspg.StreamFilter{}, nil)
	var events []*eventbus.Event
	for i := range 50 {
		events = append(events, newEvent(t, "tracker/events/i/x", "k", fmt.Sprintf("inst%d", i), ""))
	}
	record(t, b, events...)
	// The outbox writes mirror rows too: they are streamed as well.
	err := pgx.BeginFunc(t.Context(), b.db.DB, func(tx pgx.Tx) error {
		_, err := b.outbox.PublishTx(t.Context(), tx, "tracker/events/i/x", "from_outbox", nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(receive(t, c1, 51)); n != 51 {
		t.Fatal(n)
	}
	if n := len(receive(t, c2, 51)); n != 51 {
		t.Fatal(n)
	}
}
