package acceptance_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// deadLetter is one item of GET /api/v1/dlq.
type deadLetter struct {
	ID            int64     `json:"id"`
	OriginalTopic string    `json:"original_topic"`
	FailureReason string    `json:"failure_reason"`
	FailureDetail string    `json:"failure_detail"`
	Attempts      int       `json:"attempts"`
	CreatedAt     time.Time `json:"created_at"`
	Payload       struct {
		OriginalTopic    string          `json:"original_topic"`
		FailureReason    string          `json:"failure_reason"`
		FailureTimestamp time.Time       `json:"failure_timestamp"`
		Payload          json.RawMessage `json:"payload"`
		PayloadBase64    []byte          `json:"payload_base64"`
	} `json:"payload"`
}

// Scenario 6, the dead-letter queue: invalid messages are listed with
// their reason, republished on tracker/dlq/<topic>, counted, and never
// cost the connection.
func TestScenario06DLQ(t *testing.T) {
	t.Parallel()
	d := start(t, nil)
	c := mqttClient(t, d.Broker.URL, "dlq")
	dlqTopic := d.Broker.Prefix + "tracker/dlq/tracker_events_foo_bar"
	republished := subscribe(t, c, dlqTopic)
	topic := d.Broker.Prefix + "tracker/events/foo/bar"

	// waitLetter publishes payload on tracker/events/foo/bar and returns
	// its dead letter.
	waitLetter := func(t *testing.T, payload []byte) deadLetter {
		t.Helper()
		before := map[int64]bool{}
		for _, l := range d.deadLetters(t) {
			before[l.ID] = true
		}
		publish(t, c, topic, payload)
		var got deadLetter
		eventually(t, 10*time.Second, func() (bool, string) {
			for _, l := range d.deadLetters(t) {
				if !before[l.ID] {
					got = l
					return true, ""
				}
			}
			return false, "no new dead letter in GET /api/v1/dlq"
		})
		if got.OriginalTopic != "tracker/events/foo/bar" || got.Payload.OriginalTopic != got.OriginalTopic ||
			got.Payload.FailureReason != got.FailureReason || got.Payload.FailureTimestamp.IsZero() || got.CreatedAt.IsZero() {
			t.Fatalf("dead letter %+v", got)
		}
		return got
	}

	// Deliberate difference: failure_reason is a reason code (not_json,
	// missing_field, bad_trace_id, not_utf8, ...) with the explanation in
	// failure_detail, where the original wrote a free text ("JSON decode
	// error: ...", "Missing fields: [...]", "Processing error: ...").
	t.Run("not JSON", func(t *testing.T) {
		l := waitLetter(t, []byte("{oops"))
		if l.FailureReason != "not_json" || l.FailureDetail == "" {
			t.Fatalf("reason %q detail %q", l.FailureReason, l.FailureDetail)
		}
		// The message itself, as the original's envelope kept it.
		var raw string
		if err := json.Unmarshal(l.Payload.Payload, &raw); err != nil || raw != "{oops" {
			t.Fatalf("kept payload %s", l.Payload.Payload)
		}
	})

	t.Run("missing idempotency_key", func(t *testing.T) {
		e := newEnvelope("incomplete", map[string]any{})
		b, _ := json.Marshal(map[string]any{"trace_id": e.TraceID, "ts": e.TS, "kind": e.Kind, "payload": e.Payload})
		l := waitLetter(t, b)
		if l.FailureReason != "missing_field" || !strings.Contains(l.FailureDetail, "idempotency_key") {
			t.Fatalf("reason %q detail %q", l.FailureReason, l.FailureDetail)
		}
		var kept map[string]any
		if err := json.Unmarshal(l.Payload.Payload, &kept); err != nil || kept["kind"] != "incomplete" {
			t.Fatalf("kept payload %s", l.Payload.Payload)
		}
	})

	t.Run("trace_id that is not a UUID", func(t *testing.T) {
		// The original's own Makefile message ("trace_id":"test-123").
		e := newEnvelope("make_test", map[string]any{})
		e.TraceID = "test-123"
		l := waitLetter(t, e.bytes(t))
		if l.FailureReason != "bad_trace_id" {
			t.Fatalf("reason %q detail %q", l.FailureReason, l.FailureDetail)
		}
	})

	t.Run("republished on tracker/dlq/<topic>", func(t *testing.T) {
		m := receive(t, republished, 10*time.Second, "a message on "+dlqTopic, func(message) bool { return true })
		var env map[string]any
		if err := json.Unmarshal(m.Payload, &env); err != nil {
			t.Fatalf("DLQ message %s: %v", m.Payload, err)
		}
		hasKeys(t, "DLQ envelope", env, "original_topic", "failure_reason", "failure_timestamp", "payload")
		if env["original_topic"] != "tracker/events/foo/bar" {
			t.Fatalf("DLQ envelope %v", env)
		}
	})

	t.Run("counted in taylor_dlq_total", func(t *testing.T) {
		if n := d.metricSum(t, "taylor_dlq_total"); n < 3 {
			t.Fatalf("taylor_dlq_total = %v after 3 dead letters", n)
		}
		if n := d.metricSum(t, "taylor_dlq_total", `reason="not_json"`); n < 1 {
			t.Fatalf("taylor_dlq_total{reason=\"not_json\"} = %v", n)
		}
	})

	t.Run("non-UTF-8 goes to the DLQ and the connection stays", func(t *testing.T) {
		// ⚠ The original's connection died on such a message, and five of
		// them stopped its ingest for good. Send six.
		poison := []byte{0xff, 0xfe, '{', 0xc3, 0x28}
		for range 6 {
			publish(t, c, topic, poison)
		}
		// Deliberate difference: one dead letter per distinct message,
		// counting its attempts (the original wrote a row per failure).
		var l deadLetter
		eventually(t, 10*time.Second, func() (bool, string) {
			for _, x := range d.deadLetters(t) {
				if x.FailureReason == "not_utf8" {
					l = x
					return x.Attempts == 6, "the non-UTF-8 dead letter counts " + itoa(int64(x.Attempts)) + " attempts, want 6"
				}
			}
			return false, "no not_utf8 dead letter in GET /api/v1/dlq"
		})
		if l.OriginalTopic != "tracker/events/foo/bar" || !bytes.Equal(l.Payload.PayloadBase64, poison) {
			t.Fatalf("dead letter %+v", l)
		}
		// Still connected: readiness says so, and a valid event is stored.
		m := d.do(t, http.MethodGet, "/health/ready", anonymous, nil).must(t, http.StatusOK).object(t)
		if m["mqtt"] != "healthy" {
			t.Fatalf("ready after poison: %v", m)
		}
		e := newEnvelope("after_poison", map[string]any{})
		publish(t, c, topic, e.bytes(t))
		eventually(t, 10*time.Second, func() (bool, string) {
			for _, ev := range d.events(t, url.Values{"kind": {"after_poison"}}).Events {
				if ev.IdempotencyKey == e.IdempotencyKey {
					return true, ""
				}
			}
			return false, "a valid event sent after the poison messages is not stored"
		})
	})
}

// deadLetters lists the dead letters.
func (d *dash) deadLetters(t *testing.T) []deadLetter {
	t.Helper()
	var out struct {
		DLQEvents []deadLetter `json:"dlq_events"`
		Count     int          `json:"count"`
	}
	d.do(t, http.MethodGet, "/api/v1/dlq", key(bootstrapKey), nil).must(t, http.StatusOK).decode(t, &out)
	if out.Count != len(out.DLQEvents) {
		t.Fatalf("dlq: count %d for %d items", out.Count, len(out.DLQEvents))
	}
	return out.DLQEvents
}
