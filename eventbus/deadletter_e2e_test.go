package eventbus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/eventbus/mqtt"
	"github.com/taylordash/taylordash/testkit"
)

// poison is a message the pipeline must dead-letter, and why.
type poison struct {
	name    string
	payload []byte
	reason  eventbus.Reason
}

// poisons returns 20 invalid messages, one or more of every reason Parse
// gives: each differs from a valid envelope of kind test_event in one way.
func poisons(tb testing.TB) []poison {
	tb.Helper()
	// valid returns the fields of a valid envelope; change makes it
	// invalid.
	envelopeWith := func(change func(m map[string]any)) []byte {
		u := uuid.New()
		m := map[string]any{
			"id": uuid.Must(uuid.NewV7()).String(), "trace_id": fmt.Sprintf("%x", u[:]),
			"ts": time.Now().UTC().Format(time.RFC3339Nano), "kind": "test_event",
			"idempotency_key": uuid.NewString(), "payload": map[string]any{"n": 1},
		}
		change(m)
		b, err := json.Marshal(m)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	without := func(key string) []byte { return envelopeWith(func(m map[string]any) { delete(m, key) }) }
	set := func(key string, v any) []byte { return envelopeWith(func(m map[string]any) { m[key] = v }) }
	badUTF8 := envelopeWith(func(m map[string]any) { m["kind"] = "KIND" })
	badUTF8 = bytes.Replace(badUTF8, []byte("KIND"), []byte{'k', 0xff, 0xfe, 'd'}, 1)
	return []poison{
		{"binary garbage", []byte{0xde, 0xad, 0xbe, 0xef, 0xff, 0x00, 0x01, 0xfe, 0x80}, eventbus.ReasonNotUTF8},
		{"invalid UTF-8 in a JSON string", badUTF8, eventbus.ReasonNotUTF8},
		{"truncated JSON", []byte(`{"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "ts":`), eventbus.ReasonNotJSON},
		{"a JSON array", []byte(`[{"kind":"test_event"}]`), eventbus.ReasonNotJSON},
		{"plain text", []byte("project created: Apollo"), eventbus.ReasonNotJSON},
		{"an empty message", []byte{}, eventbus.ReasonNotJSON},
		{"no trace_id", without("trace_id"), eventbus.ReasonMissingField},
		{"no ts", without("ts"), eventbus.ReasonMissingField},
		{"no kind", without("kind"), eventbus.ReasonMissingField},
		{"no idempotency_key", without("idempotency_key"), eventbus.ReasonMissingField},
		{"an empty kind", set("kind", "  "), eventbus.ReasonMissingField},
		{"a numeric trace_id", set("trace_id", 42), eventbus.ReasonMissingField},
		{"ts not a time", set("ts", "yesterday"), eventbus.ReasonBadTimestamp},
		{"ts without a zone", set("ts", "2026-01-02T03:04:05"), eventbus.ReasonBadTimestamp},
		{"trace_id not hex", set("trace_id", "not-a-trace-id"), eventbus.ReasonBadTraceID},
		{"trace_id of 31 hex digits", set("trace_id", "4bf92f3577b34da6a3ce929d0e0e473"), eventbus.ReasonBadTraceID},
		{"payload an array", set("payload", []int{1, 2}), eventbus.ReasonBadPayload},
		{"payload a string", set("payload", "name=Apollo"), eventbus.ReasonBadPayload},
		{"oversize (300 KiB)", set("payload", map[string]string{"blob": strings.Repeat("x", 300<<10)}), eventbus.ReasonOversize},
		{"a kind not in the registry", set("kind", "project_exploded"), eventbus.ReasonUnknownKind},
	}
}

// 20 poison messages mixed into valid traffic: each lands in dlq_events
// with its reason and its bytes exactly, and on its DLQ topic; the
// subscribing connection never drops; every valid event around them is
// stored.
func TestE2EPoisonMessages(t *testing.T) {
	const validAround = 10
	broker := startBroker(t, e2eBrokerConfig)
	db := testkit.Postgres(t, eventbuspg.Migrations)
	p := startPipeline(t, pipelineOptions{URL: broker.URL(), DB: db.DB, Config: eventbus.Config{Kinds: []string{"test_event"}}})
	watcher := startClient(t, mqtt.Config{URL: broker.URL(), ClientID: clientID(t, "dlq-watcher"), CleanSession: true, WillTopic: "-"})
	dlqTopic := collect(t, watcher, "tracker/dlq/#")
	pub := newPublisher(t, broker.URL())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	bad := poisons(t)
	const topic = "tracker/events/e2e/poison"
	pubBefore, subBefore := p.client.Reconnects()
	var keys []string
	seq := 0
	valid := func() {
		for range validAround {
			raw, key := envelope(t, "test_event", map[string]any{"seq": seq})
			seq++
			keys = append(keys, key)
			if err := pub.publish(ctx, fmt.Sprintf("tracker/events/e2e/%d", seq%3), raw); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, b := range bad {
		valid()
		if err := pub.publish(ctx, topic, b.payload); err != nil {
			t.Fatalf("%s: %v", b.name, err)
		}
	}
	valid()

	eventually(t, 30*time.Second, "every poison message is in dlq_events", func() bool {
		return tryCount(db.DB, "SELECT count(*) FROM dlq_events") >= len(bad)
	})
	waitRows(t, db.DB, len(keys), 30*time.Second)
	checkMirror(t, db.DB, keys)
	if n := count(t, db.DB, "SELECT count(*) FROM dlq_events"); n != len(bad) {
		t.Errorf("dlq_events holds %d rows, want %d", n, len(bad))
	}
	for _, b := range bad {
		var reason, gotTopic string
		var payload []byte
		err := db.DB.QueryRow(ctx, "SELECT reason, original_topic, payload FROM dlq_events WHERE fingerprint = $1",
			eventbuspg.Fingerprint(topic, b.payload)).Scan(&reason, &gotTopic, &payload)
		if err != nil {
			t.Errorf("%s: not found in dlq_events by its fingerprint: %v", b.name, err)
			continue
		}
		if reason != string(b.reason) || gotTopic != topic || !bytes.Equal(payload, b.payload) {
			t.Errorf("%s: dlq_events has reason %s, topic %s, payload equal %v; want %s, %s, true",
				b.name, reason, gotTopic, bytes.Equal(payload, b.payload), b.reason, topic)
		}
	}

	// The DLQ topic: one message per poison, as NewDLQMessage makes it.
	published := func(m eventbus.DLQMessage) string {
		return string(m.FailureReason) + "|" + string(m.Payload) + "|" + string(m.PayloadBase64)
	}
	eventually(t, 30*time.Second, "the DLQ topic carries every poison message", func() bool {
		return len(dlqTopic.messages()) >= len(bad)
	})
	onTopic := make(map[string]int)
	for _, m := range dlqTopic.messages() {
		var dm eventbus.DLQMessage
		if err := json.Unmarshal(m.Payload, &dm); err != nil {
			t.Fatalf("DLQ topic message %.60q: %v", m.Payload, err)
		}
		if m.Topic != eventbus.DLQTopic(topic) || dm.OriginalTopic != topic {
			t.Errorf("a DLQ message on %s for %s, want %s for %s", m.Topic, dm.OriginalTopic, eventbus.DLQTopic(topic), topic)
		}
		onTopic[published(dm)]++
	}
	for _, b := range bad {
		raw, err := json.Marshal(eventbus.NewDLQMessage(eventbus.DeadLetter{Topic: topic, Payload: b.payload, Reason: b.reason}))
		if err != nil {
			t.Fatal(err)
		}
		var want eventbus.DLQMessage
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		if onTopic[published(want)] != 1 {
			t.Errorf("%s: on the DLQ topic %d times with reason %s and its payload, want once", b.name, onTopic[published(want)], b.reason)
		}
	}

	pubAfter, subAfter := p.client.Reconnects()
	if pubAfter != pubBefore || subAfter != subBefore || !p.client.Connected() {
		t.Errorf("the pipeline's connections reconnected (publish %d→%d, subscribe %d→%d; connected %v); poison must not cost a connection",
			pubBefore, pubAfter, subBefore, subAfter, p.client.Connected())
	}
	t.Logf("%d poison messages dead-lettered with their reasons, %d valid events around them stored", len(bad), len(keys))
}

// A handler that always fails, and one that panics: after
// HandlerAttempts tries each event goes to the dead-letter queue as
// handler_failed, its message is acknowledged, and the events after it
// are stored and handled.
func TestE2EFailingHandlers(t *testing.T) {
	const attempts, between = 3, 50
	broker := startBroker(t, e2eBrokerConfig)
	db := testkit.Postgres(t, eventbuspg.Migrations)
	tries := newCounter()
	routes := []eventbus.Route{
		{Name: "always-fails", Pattern: "tracker/events/e2e/fail", Handler: func(_ context.Context, ev *eventbus.Event) error {
			tries.add(ev.Envelope.IdempotencyKey)
			return errors.New("e2e: this handler always fails")
		}},
		{Name: "panics", Pattern: "tracker/events/e2e/panic", Handler: func(_ context.Context, ev *eventbus.Event) error {
			tries.add(ev.Envelope.IdempotencyKey)
			panic("e2e: this handler panics")
		}},
	}
	p := startPipeline(t, pipelineOptions{URL: broker.URL(), DB: db.DB, Routes: routes, Config: eventbus.Config{HandlerAttempts: attempts}})
	watcher := startClient(t, mqtt.Config{URL: broker.URL(), ClientID: clientID(t, "dlq-watcher"), CleanSession: true, WillTopic: "-"})
	dlqTopic := collect(t, watcher, "tracker/dlq/#")
	pub := newPublisher(t, broker.URL())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	msgs, keys := events(t, 3*between)
	failRaw, failKey := envelope(t, "test_event", map[string]any{"will": "fail"})
	panicRaw, panicKey := envelope(t, "test_event", map[string]any{"will": "panic"})
	var all []message
	all = append(all, msgs[:between]...)
	all = append(all, message{"tracker/events/e2e/fail", failRaw})
	all = append(all, msgs[between:2*between]...)
	all = append(all, message{"tracker/events/e2e/panic", panicRaw})
	all = append(all, msgs[2*between:]...)
	start := time.Now()
	if err := pub.publishAll(ctx, all, 1); err != nil {
		t.Fatal(err)
	}
	allKeys := append(append([]string{}, keys...), failKey, panicKey)
	waitRows(t, db.DB, len(allKeys), 30*time.Second)
	eventually(t, 30*time.Second, "both events are dead-lettered", func() bool {
		return tryCount(db.DB, "SELECT count(*) FROM dlq_events") >= 2
	})
	eventually(t, 30*time.Second, "every valid event is handled", func() bool {
		_, n := p.handled.total()
		return n >= len(allKeys)
	})
	checkMirror(t, db.DB, allKeys)
	t.Logf("stored and handled %d events, two of them dead-lettered by their handlers, in %s", len(allKeys), time.Since(start).Round(time.Millisecond))

	for _, c := range []struct {
		name, key, detail string
		raw               []byte
	}{{"failing", failKey, "always fails", failRaw}, {"panicking", panicKey, "panic", panicRaw}} {
		if got := tries.get(c.key); got != attempts {
			t.Errorf("the %s handler ran %d times, want %d", c.name, got, attempts)
		}
		var reason, detail string
		var n int
		var payload []byte
		err := db.DB.QueryRow(ctx, "SELECT reason, detail, attempts, payload FROM dlq_events WHERE idempotency_key = $1", c.key).
			Scan(&reason, &detail, &n, &payload)
		if err != nil {
			t.Errorf("the %s handler's event is not in dlq_events: %v", c.name, err)
			continue
		}
		if reason != string(eventbus.ReasonHandlerFailed) || n != attempts || !bytes.Equal(payload, c.raw) || !strings.Contains(detail, c.detail) {
			t.Errorf("the %s handler's dead letter: reason %s, %d attempts, detail %q, payload equal %v; want %s, %d, %q, true",
				c.name, reason, n, detail, bytes.Equal(payload, c.raw), eventbus.ReasonHandlerFailed, attempts, c.detail)
		}
	}
	for _, k := range keys {
		if h := p.handled.get(k); h != 1 {
			t.Fatalf("event %s was handled %d times, want once", k, h)
		}
	}
	eventually(t, 30*time.Second, "both dead letters are on the DLQ topic", func() bool { return len(dlqTopic.messages()) >= 2 })
	for _, m := range dlqTopic.messages() {
		var dm eventbus.DLQMessage
		if err := json.Unmarshal(m.Payload, &dm); err != nil {
			t.Fatal(err)
		}
		if dm.FailureReason != eventbus.ReasonHandlerFailed || m.Topic != eventbus.DLQTopic(dm.OriginalTopic) {
			t.Errorf("DLQ topic message on %s: reason %s for %s", m.Topic, dm.FailureReason, dm.OriginalTopic)
		}
	}
}
