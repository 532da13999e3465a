package eventbuspg_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
)

func duplicates(events []*eventbus.Event) []bool {
	out := make([]bool, len(events))
	for i, ev := range events {
		out[i] = ev.Duplicate
	}
	return out
}

func TestMirrorRecordDeduplicatesByIdempotencyKey(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	topic := "tracker/events/projects/created"

	first := []*eventbus.Event{
		newEvent(t, topic, "project_created", "key-a", `{"n":1}`),
		newEvent(t, topic, "project_created", "key-b", `{"n":2}`),
		newEvent(t, topic, "project_created", "key-a", `{"n":3}`), // same key in the batch
	}
	if err := b.mirror.Record(ctx, first); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(duplicates(first)), "[false false true]"; got != want {
		t.Errorf("first batch Duplicate = %s, want %s", got, want)
	}
	second := []*eventbus.Event{
		newEvent(t, topic, "project_created", "key-a", `{"n":4}`), // stored by an earlier batch
		newEvent(t, topic, "project_created", "key-c", `{"n":5}`),
	}
	if err := b.mirror.Record(ctx, second); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(duplicates(second)), "[true false]"; got != want {
		t.Errorf("second batch Duplicate = %s, want %s", got, want)
	}
	// A retried batch (its commit acknowledgement lost) stores nothing new.
	if err := b.mirror.Record(ctx, second); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(duplicates(second)), "[true true]"; got != want {
		t.Errorf("retried batch Duplicate = %s, want %s", got, want)
	}
	if n := b.count(t, "SELECT count(*) FROM events_mirror"); n != 3 {
		t.Errorf("rows = %d, want 3 (one per key)", n)
	}
	// The first event of a key is the one stored.
	if n := b.count(t, "SELECT (payload->'payload'->>'n')::int FROM events_mirror WHERE idempotency_key = 'key-a'"); n != 1 {
		t.Errorf("key-a stored payload n=%d, want the first event's (1)", n)
	}
	if err := b.mirror.Record(ctx, nil); err != nil {
		t.Errorf("Record(nil) = %v", err)
	}
}

func TestMirrorRecordsTenThousandEventsInBatches(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	const total, batchSize = 10000, 500
	start := time.Now()
	for i := 0; i < total; i += batchSize {
		batch := make([]*eventbus.Event, batchSize)
		for j := range batch {
			batch[j] = newEvent(t, fmt.Sprintf("tracker/events/t%d/x", (i+j)%7), "bulk", "", fmt.Sprintf(`{"i":%d}`, i+j))
		}
		if err := b.mirror.Record(ctx, batch); err != nil {
			t.Fatal(err)
		}
		for _, ev := range batch {
			if ev.Duplicate {
				t.Fatalf("event %s marked Duplicate", ev.Envelope.IdempotencyKey)
			}
		}
	}
	t.Logf("%d events in batches of %d: %v", total, batchSize, time.Since(start))
	if n := b.count(t, "SELECT count(*) FROM events_mirror"); n != total {
		t.Errorf("rows = %d, want %d", n, total)
	}
}

func TestMirrorStoresTheEnvelopeAsJSON(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	ev := newEvent(t, "tracker/events/projects/created", "project_created", "", `{"name":"Roadmap","tags":["a","b"]}`)
	ev.Envelope.Traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	if err := b.mirror.Record(ctx, []*eventbus.Event{ev}); err != nil {
		t.Fatal(err)
	}
	var kind, name, payloadType, eventID, traceparent string
	err := b.db.DB.QueryRow(ctx, `SELECT payload->>'kind', payload->'payload'->>'name', jsonb_typeof(payload->'payload'),
		event_id::text, traceparent FROM events_mirror`).Scan(&kind, &name, &payloadType, &eventID, &traceparent)
	if err != nil {
		t.Fatal(err)
	}
	if kind != "project_created" || name != "Roadmap" || payloadType != "object" {
		t.Errorf("payload->>'kind' = %q, payload->'payload'->>'name' = %q, its type %q; want project_created, Roadmap, object", kind, name, payloadType)
	}
	if eventID != ev.Envelope.ID || traceparent != ev.Envelope.Traceparent {
		t.Errorf("event_id, traceparent = %q, %q; want %q, %q", eventID, traceparent, ev.Envelope.ID, ev.Envelope.Traceparent)
	}

	got, err := b.mirror.List(ctx, eventbuspg.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("List returned %d events, want 1", len(got))
	}
	var env eventbus.Envelope
	if err := json.Unmarshal(got[0].Payload, &env); err != nil {
		t.Fatalf("List payload %s is not an envelope: %v", got[0].Payload, err)
	}
	if env.ID != ev.Envelope.ID || env.Kind != "project_created" || !env.TS.Equal(ev.Envelope.TS) {
		t.Errorf("List payload = %+v, want the envelope %+v", env, ev.Envelope)
	}
	var inner map[string]any
	if err := json.Unmarshal(env.Payload, &inner); err != nil || inner["name"] != "Roadmap" {
		t.Errorf("List payload's payload = %s (%v), want the object", env.Payload, err)
	}
	e := got[0]
	if e.EventID != ev.Envelope.ID || e.Topic != ev.Topic || e.Kind != "project_created" || e.TraceID != ev.Envelope.TraceID ||
		e.IdempotencyKey != ev.Envelope.IdempotencyKey || e.Source != "test" || e.CreatedAt.IsZero() || e.ID == 0 {
		t.Errorf("List = %+v, fields do not match the event %+v", e, ev.Envelope)
	}
}

// Events that parse but that PostgreSQL cannot store as they are must
// not fail their batch for ever (a poison pill).
func TestMirrorStoresEventsPostgresWouldRefuse(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	nul := newEvent(t, "tracker/events/a/b", "kind\x00with-nul", "key\x00nul", `{"s":"a\u0000b","t":"\\u0000 is text"}`)
	oddID := newEvent(t, "tracker/events/a/b", "k", "", "")
	oddID.Envelope.ID = "not-a-uuid"
	badUTF8 := newEvent(t, "tracker/events/\xff", "k", "", "")
	noTS := newEvent(t, "tracker/events/a/b", "k", "", "")
	noTS.Envelope.TS = time.Time{}
	if err := b.mirror.Record(ctx, []*eventbus.Event{nul, oddID, badUTF8, noTS}); err != nil {
		t.Fatalf("Record = %v, want every event stored", err)
	}
	if n := b.count(t, "SELECT count(*) FROM events_mirror"); n != 4 {
		t.Fatalf("rows = %d, want 4", n)
	}
	var s, text, kind string
	if err := b.db.DB.QueryRow(ctx, `SELECT payload->'payload'->>'s', payload->'payload'->>'t', kind FROM events_mirror WHERE kind LIKE 'kind%'`).Scan(&s, &text, &kind); err != nil {
		t.Fatal(err)
	}
	if s != "a\uFFFDb" || text != `\u0000 is text` || kind != "kind\uFFFDwith-nul" {
		t.Errorf("stored s=%q t=%q kind=%q; want NUL replaced by U+FFFD and the escaped text untouched", s, text, kind)
	}
	if n := b.count(t, "SELECT count(*) FROM events_mirror WHERE event_id IS NULL"); n != 1 {
		t.Errorf("rows without event_id = %d, want 1 (the non-UUID id)", n)
	}
	// The cleaned key still deduplicates.
	again := newEvent(t, "tracker/events/a/b", "k", "key\x00nul", "")
	if err := b.mirror.Record(ctx, []*eventbus.Event{again}); err != nil || !again.Duplicate {
		t.Errorf("Record(same NUL key) = %v, Duplicate %v; want a duplicate", err, again.Duplicate)
	}
}

func TestMirrorList(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	// 150 events: topics a (100) and b (50), kinds by parity, one trace.
	var events []*eventbus.Event
	for i := range 150 {
		topic := "tracker/events/a/x"
		if i%3 == 2 {
			topic = "tracker/events/b/x"
		}
		kind := "even"
		if i%2 == 1 {
			kind = "odd"
		}
		ev := newEvent(t, topic, kind, fmt.Sprintf("key-%03d", i), fmt.Sprintf(`{"i":%d}`, i))
		if i == 7 {
			ev.Envelope.TraceID = "0af7651916cd43dd8448eb211c80319c"
		}
		events = append(events, ev)
	}
	// Record in three batches, with created_at set apart afterwards.
	for i := 0; i < 150; i += 50 {
		if err := b.mirror.Record(ctx, events[i:i+50]); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.exec(t, "UPDATE events_mirror SET created_at = $1::timestamptz + (substr(idempotency_key, 5)::int / 50) * interval '1 hour'", base)

	list := func(f eventbuspg.EventFilter) []eventbuspg.StoredEvent {
		t.Helper()
		got, err := b.mirror.List(ctx, f)
		if err != nil {
			t.Fatalf("List(%+v): %v", f, err)
		}
		return got
	}
	if got := list(eventbuspg.EventFilter{}); len(got) != eventbuspg.DefaultLimit {
		t.Errorf("limit 0 returned %d events, want the default %d", len(got), eventbuspg.DefaultLimit)
	}
	if got := list(eventbuspg.EventFilter{Topic: "tracker/events/b/x", Limit: 1000}); len(got) != 50 {
		t.Errorf("topic b: %d events, want 50", len(got))
	}
	if got := list(eventbuspg.EventFilter{Topic: "tracker/events/b"}); len(got) != 0 {
		t.Errorf("topic is an exact match, but a prefix returned %d events", len(got))
	}
	if got := list(eventbuspg.EventFilter{Kind: "odd", Topic: "tracker/events/a/x", Limit: 1000}); len(got) != 50 {
		t.Errorf("kind odd on topic a: %d events, want 50", len(got))
	}
	if got := list(eventbuspg.EventFilter{TraceID: "0af7651916cd43dd8448eb211c80319c"}); len(got) != 1 || got[0].IdempotencyKey != "key-007" {
		t.Errorf("trace filter = %v, want key-007", got)
	}
	// since/until on created_at: the second batch only.
	got := list(eventbuspg.EventFilter{Since: base.Add(time.Hour), Until: base.Add(2 * time.Hour), Limit: 1000})
	if len(got) != 50 || got[0].IdempotencyKey != "key-099" || got[49].IdempotencyKey != "key-050" {
		t.Errorf("since/until returned %d events (%v...), want key-099 down to key-050", len(got), got[0].IdempotencyKey)
	}

	// Keyset pages, newest first, cover everything once.
	seen := map[string]bool{}
	var prev *eventbuspg.StoredEvent
	var after eventbuspg.Cursor
	pages := 0
	for {
		page := list(eventbuspg.EventFilter{Limit: 40, After: after})
		if len(page) == 0 {
			break
		}
		pages++
		for i := range page {
			e := page[i]
			if seen[e.IdempotencyKey] {
				t.Fatalf("%s listed twice", e.IdempotencyKey)
			}
			seen[e.IdempotencyKey] = true
			if prev != nil && (e.CreatedAt.After(prev.CreatedAt) || (e.CreatedAt.Equal(prev.CreatedAt) && e.ID > prev.ID)) {
				t.Fatalf("%s listed after %s: not newest first", e.IdempotencyKey, prev.IdempotencyKey)
			}
			prev = &e
		}
		// The cursor survives a trip through a URL.
		c, err := eventbuspg.ParseCursor(page[len(page)-1].Cursor().String())
		if err != nil {
			t.Fatal(err)
		}
		after = c
	}
	if len(seen) != 150 || pages != 4 {
		t.Errorf("paged through %d events in %d pages, want 150 in 4", len(seen), pages)
	}

	for _, f := range []eventbuspg.EventFilter{{Limit: -1}, {Limit: eventbuspg.MaxLimit + 1}, {Limit: 5000}} {
		if _, err := b.mirror.List(ctx, f); !errors.Is(err, dashcore.ErrInvalid) {
			t.Errorf("List(limit %d) = %v, want dashcore.ErrInvalid", f.Limit, err)
		}
	}
	for _, s := range []string{"x", "12", "12_", "_3", "1_-2", "a_b"} {
		if _, err := eventbuspg.ParseCursor(s); !errors.Is(err, dashcore.ErrInvalid) {
			t.Errorf("ParseCursor(%q) = %v, want dashcore.ErrInvalid", s, err)
		}
	}
	if c, err := eventbuspg.ParseCursor(""); err != nil || !c.IsZero() {
		t.Errorf(`ParseCursor("") = %v, %v; want the zero cursor`, c, err)
	}
}
