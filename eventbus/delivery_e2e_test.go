package eventbus_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/testkit"
)

// Two instances of the application share a subscription
// ($share/<group>/...): the broker splits the events between them, each
// is stored once and handled once, and both do a real share of the work.
func TestE2ESharedSubscription(t *testing.T) {
	const n = 2000
	broker := startBroker(t, e2eBrokerConfig)
	db := testkit.Postgres(t, eventbuspg.Migrations)
	a := startPipeline(t, pipelineOptions{URL: broker.URL(), ClientID: clientID(t, "a"), SharedGroup: "ingest", DB: db.DB})
	b := startPipeline(t, pipelineOptions{URL: broker.URL(), ClientID: clientID(t, "b"), SharedGroup: "ingest", DB: db.DB})
	pub := newPublisher(t, broker.URL())
	msgs, keys := events(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if err := pub.publishAll(ctx, msgs, 4); err != nil {
		t.Fatal(err)
	}
	waitRows(t, db.DB, n, time.Minute)
	checkMirror(t, db.DB, keys)

	ha, hb := a.handled.snapshot(), b.handled.snapshot()
	for _, k := range keys {
		if got := ha[k] + hb[k]; got != 1 {
			t.Errorf("event %s was handled %d times (instance a: %d, b: %d), want once", k, got, ha[k], hb[k])
		}
	}
	sa, sb := a.rec.stored.Load(), b.rec.stored.Load()
	t.Logf("instance a stored %d and handled %d events, instance b %d and %d; duplicates seen: %d and %d",
		sa, len(ha), sb, len(hb), a.rec.duplicates.Load(), b.rec.duplicates.Load())
	if sa+sb != n {
		t.Errorf("the instances stored %d + %d events, want %d in all", sa, sb, n)
	}
	for name, share := range map[string]int{"a": len(ha), "b": len(hb)} {
		if share < n/5 {
			t.Errorf("instance %s handled %d of %d events; want a real share (at least 20%%)", name, share, n)
		}
	}
}

// One event delivered several times is one row, handled once: the same
// bytes published twice (in one batch, and in two batches), and a
// different envelope carrying the same idempotency key. The mirror keeps
// the first.
func TestE2ESameIdempotencyKeyIsOneRow(t *testing.T) {
	broker := startBroker(t, e2eBrokerConfig)
	db := testkit.Postgres(t, eventbuspg.Migrations)
	p := startPipeline(t, pipelineOptions{URL: broker.URL(), DB: db.DB})
	pub := newPublisher(t, broker.URL())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const topic = "tracker/events/e2e/dedup"

	// sameKey returns a second envelope (a new id, another payload) with
	// key as its idempotency key.
	sameKey := func(key string) []byte {
		raw, _ := envelope(t, "test_event", map[string]any{"other": true})
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		m["idempotency_key"] = key
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	publish := func(payloads ...[]byte) {
		t.Helper()
		for _, pl := range payloads {
			if err := pub.publish(ctx, topic, pl); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Across batches: the first copy is stored before the others arrive.
	first, key1 := envelope(t, "test_event", map[string]any{"case": "across batches"})
	publish(first)
	waitRows(t, db.DB, 1, 30*time.Second)
	publish(first, sameKey(key1))
	// Back to back, most likely in one batch.
	second, key2 := envelope(t, "test_event", map[string]any{"case": "one batch"})
	publish(second, second, sameKey(key2))
	// A marker, published last on the same topic by the same publisher:
	// once it is stored, everything before it was processed.
	marker, markerKey := envelope(t, "test_event", map[string]any{"case": "marker"})
	publish(marker)
	eventually(t, 30*time.Second, "the marker is stored", func() bool { return p.handled.get(markerKey) > 0 })

	if rows := count(t, db.DB, "SELECT count(*) FROM events_mirror"); rows != 3 {
		t.Errorf("events_mirror holds %d rows, want 3 (two keys and the marker)", rows)
	}
	for _, c := range []struct {
		key string
		raw []byte
	}{{key1, first}, {key2, second}} {
		if n := count(t, db.DB, "SELECT count(*) FROM events_mirror WHERE idempotency_key = $1", c.key); n != 1 {
			t.Errorf("key %s: %d rows, want 1", c.key, n)
		}
		var id string
		if err := db.DB.QueryRow(ctx, "SELECT payload->>'id' FROM events_mirror WHERE idempotency_key = $1", c.key).Scan(&id); err != nil {
			t.Fatal(err)
		}
		var env struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(c.raw, &env); err != nil {
			t.Fatal(err)
		}
		if id != env.ID {
			t.Errorf("key %s: the mirror kept envelope %s, want the first one, %s", c.key, id, env.ID)
		}
		if h := p.handled.get(c.key); h != 1 {
			t.Errorf("key %s: handled %d times, want once", c.key, h)
		}
	}
	if d := p.rec.duplicates.Load(); d != 4 {
		t.Errorf("the mirror found %d duplicate deliveries, want 4", d)
	}
}
