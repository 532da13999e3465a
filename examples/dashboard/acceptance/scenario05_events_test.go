package acceptance_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// eventList is the answer of GET /api/v1/events.
type eventList struct {
	Events []struct {
		Topic          string         `json:"topic"`
		Kind           string         `json:"kind"`
		TraceID        string         `json:"trace_id"`
		IdempotencyKey string         `json:"idempotency_key"`
		Payload        map[string]any `json:"payload"`
		CreatedAt      time.Time      `json:"created_at"`
	} `json:"events"`
	Count int `json:"count"`
}

// events lists the events matching the query (topic, kind...).
func (d *dash) events(t *testing.T, query url.Values) eventList {
	t.Helper()
	var l eventList
	d.do(t, http.MethodGet, "/api/v1/events?"+query.Encode(), key(bootstrapKey), nil).must(t, http.StatusOK).decode(t, &l)
	if l.Count != len(l.Events) {
		t.Fatalf("events: count %d for %d events", l.Count, len(l.Events))
	}
	return l
}

// Scenario 5, the event mirror: the test event, events published by
// others on the broker, and deduplication by idempotency key.
func TestScenario05EventMirror(t *testing.T) {
	t.Parallel()
	d := start(t, nil)
	c := mqttClient(t, d.Broker.URL, "mirror")

	t.Run("test event", func(t *testing.T) {
		onBroker := subscribe(t, c, d.Broker.Prefix+"tracker/events/test/api")
		r := d.do(t, http.MethodPost, "/api/v1/events/test", key(bootstrapKey), nil).must(t, http.StatusOK)
		var out struct {
			Status  string `json:"status"`
			TraceID string `json:"trace_id"`
			Message string `json:"message"`
		}
		r.decode(t, &out)
		// Deliberate difference: the trace id is the request's W3C trace
		// id (32 hex digits, also in X-Trace-ID), where the original made
		// a random uuid4 unrelated to the request.
		if out.Status != "success" || out.Message != "Test event published" || !traceIDRE.MatchString(out.TraceID) {
			t.Fatalf("test event: %s", r.Body)
		}
		var l eventList
		eventually(t, 10*time.Second, func() (bool, string) {
			l = d.events(t, url.Values{"topic": {"tracker/events/test/api"}})
			return l.Count == 1, "the test event is not listed under its topic"
		})
		ev := l.Events[0]
		if ev.Kind != "test_event" || ev.TraceID != out.TraceID || ev.Payload["kind"] != "test_event" || ev.Payload["trace_id"] != out.TraceID {
			t.Fatalf("listed: %+v", ev)
		}
		inner, _ := ev.Payload["payload"].(map[string]any)
		if inner["message"] != "Test event from API" {
			t.Fatalf("the event's payload: %v", ev.Payload)
		}
		if l := d.events(t, url.Values{"kind": {"test_event"}}); l.Count != 1 {
			t.Fatalf("kind=test_event lists %d events", l.Count)
		}
		if l := d.events(t, url.Values{"kind": {"project_created"}, "topic": {"tracker/events/test/api"}}); l.Count != 0 {
			t.Fatalf("kind=project_created lists the test event")
		}
		// It went out on the broker too, with the original's envelope.
		m := receive(t, onBroker, 10*time.Second, "the test event on the broker", func(message) bool { return true })
		var env map[string]any
		if err := json.Unmarshal(m.Payload, &env); err != nil || env["kind"] != "test_event" || env["trace_id"] != out.TraceID {
			t.Fatalf("on the broker: %s", m.Payload)
		}
	})

	t.Run("an envelope published on the broker is mirrored", func(t *testing.T) {
		e := newEnvelope("sensor_reading", map[string]any{"value": 42})
		publish(t, c, d.Broker.Prefix+"tracker/events/foo/bar", e.bytes(t))
		eventually(t, 10*time.Second, func() (bool, string) {
			l := d.events(t, url.Values{"topic": {"tracker/events/foo/bar"}})
			for _, ev := range l.Events {
				if ev.IdempotencyKey == e.IdempotencyKey && ev.TraceID == e.TraceID && ev.Kind == "sensor_reading" {
					inner, _ := ev.Payload["payload"].(map[string]any)
					return inner["value"] == float64(42), "the mirrored payload differs"
				}
			}
			return false, "the published envelope is not in /api/v1/events"
		})
	})

	t.Run("a duplicate idempotency key is stored once", func(t *testing.T) {
		// ⚠ The original stored every delivery.
		topic := "tracker/events/dedup/probe"
		e := newEnvelope("dedup_probe", map[string]any{"n": 1})
		publish(t, c, d.Broker.Prefix+topic, e.bytes(t))
		publish(t, c, d.Broker.Prefix+topic, e.bytes(t))
		// A later event on the same topic: once it is stored, both copies
		// before it have been through the pipeline.
		last := newEnvelope("dedup_probe", map[string]any{"n": 2})
		publish(t, c, d.Broker.Prefix+topic, last.bytes(t))
		var l eventList
		eventually(t, 10*time.Second, func() (bool, string) {
			l = d.events(t, url.Values{"topic": {topic}})
			for _, ev := range l.Events {
				if ev.IdempotencyKey == last.IdempotencyKey {
					return true, ""
				}
			}
			return false, "the last event is not stored"
		})
		n := 0
		for _, ev := range l.Events {
			if ev.IdempotencyKey == e.IdempotencyKey {
				n++
			}
		}
		if n != 1 || l.Count != 2 {
			t.Fatalf("the duplicated event is stored %d times (%d events on the topic), want once", n, l.Count)
		}
		if dup := d.metricSum(t, "taylor_ingest_total", `result="duplicate"`); dup < 1 {
			t.Errorf("taylor_ingest_total{result=\"duplicate\"} = %v", dup)
		}
	})
}
