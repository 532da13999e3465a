package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/taylordash/taylordash/testkit"
)

func call(t *testing.T, a *testkit.TestApp, method, path, key string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, a.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestAPIKeyGuardsTheAPI(t *testing.T) {
	a := start(t)
	for _, c := range []struct{ key, detail, challenge string }{
		{"", "authentication is required: send a bearer token or an X-API-Key", `Bearer realm="taylordash"`},
		{"wrong-key-wrong-key", "the credentials are not valid", `Bearer realm="taylordash", error="invalid_token"`},
	} {
		resp, body := call(t, a, http.MethodGet, "/api/v1/events", c.key, nil)
		var p struct{ Detail string }
		_ = json.Unmarshal(body, &p)
		if resp.StatusCode != http.StatusUnauthorized || p.Detail != c.detail || resp.Header.Get("WWW-Authenticate") != c.challenge {
			t.Fatalf("key %q: %d %s %q", c.key, resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if resp, _ := call(t, a, http.MethodGet, "/health/live", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("health needs no key: %d", resp.StatusCode)
	}
	if resp, body := call(t, a, http.MethodGet, "/api/v1/events", apiKey, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("the bootstrap key opens the API: %d %s", resp.StatusCode, body)
	}
}

// TestTestEventIsStoredStreamedAndListed: POST /api/v1/events/test writes
// through the outbox; the event is listed at once, the SSE stream carries
// it, and it goes out to the broker.
func TestTestEventIsStoredStreamedAndListed(t *testing.T) {
	a := start(t)

	// A plain MQTT client sees what the relay publishes.
	got := make(chan []byte, 1)
	c := paho.NewClient(paho.NewClientOptions().AddBroker(a.Broker.URL).SetClientID("observer-" + strings.ReplaceAll(a.Broker.Prefix, "/", "-")))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Subscribe(a.Broker.Prefix+"tracker/events/test/api", 1, func(_ paho.Client, m paho.Message) { got <- m.Payload() }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}

	// The stream, opened before the event exists.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+"/api/v1/events/stream?kind=test_event", nil)
	req.Header.Set("X-API-Key", apiKey)
	stream, err := a.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if stream.StatusCode != http.StatusOK || stream.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", stream.StatusCode, stream.Header.Get("Content-Type"))
	}

	resp, body := call(t, a, http.MethodPost, "/api/v1/events/test", apiKey, nil)
	var out struct{ Status, TraceID, Message, EventID string }
	_ = json.Unmarshal(body, &struct {
		Status  *string `json:"status"`
		TraceID *string `json:"trace_id"`
		Message *string `json:"message"`
		EventID *string `json:"event_id"`
	}{&out.Status, &out.TraceID, &out.Message, &out.EventID})
	if resp.StatusCode != http.StatusOK || out.Status != "success" || out.Message != "Test event published" || out.TraceID == "" {
		t.Fatalf("test event: %d %s", resp.StatusCode, body)
	}
	// The request's trace (X-Trace-ID) is the event's: one id from request to event.
	if resp.Header.Get("X-Trace-ID") != out.TraceID {
		t.Fatalf("event trace id %s, response X-Trace-ID %s", out.TraceID, resp.Header.Get("X-Trace-ID"))
	}

	// Listed at once, payload as a JSON object.
	resp, body = call(t, a, http.MethodGet, "/api/v1/events?kind=test_event", apiKey, nil)
	var list struct {
		Events []struct {
			Topic, Kind, TraceID string
			Payload              map[string]any
		} `json:"events"`
		Count int `json:"count"`
	}
	if err := json.Unmarshal(body, &list); err != nil || resp.StatusCode != http.StatusOK || list.Count != 1 {
		t.Fatalf("list: %d %s %v", resp.StatusCode, body, err)
	}
	if ev := list.Events[0]; ev.Topic != "tracker/events/test/api" || ev.Payload["kind"] != "test_event" || ev.Payload["trace_id"] != out.TraceID {
		t.Fatalf("listed event %+v", ev)
	}

	// Streamed.
	lines := bufio.NewScanner(stream.Body)
	var id, data string
	for data == "" && lines.Scan() {
		line := lines.Text()
		if v, ok := strings.CutPrefix(line, "id: "); ok {
			id = v
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			data = v
		}
	}
	if id == "" || !strings.Contains(data, `"kind":"test_event"`) || !strings.Contains(data, out.EventID) {
		t.Fatalf("stream gave id %q data %q (%v)", id, data, lines.Err())
	}

	// Published by the relay.
	select {
	case m := <-got:
		if !strings.Contains(string(m), out.EventID) {
			t.Fatalf("broker got %s", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the relay never published the test event")
	}
}

// TestPoisonMessageReachesTheDLQAPI: a message that is not JSON lands in
// the dead-letter queue, is listed with its reason, can be replayed and
// purged.
func TestPoisonMessageReachesTheDLQAPI(t *testing.T) {
	a := start(t)
	c := paho.NewClient(paho.NewClientOptions().AddBroker(a.Broker.URL).SetClientID("poisoner-" + strings.ReplaceAll(a.Broker.Prefix, "/", "-")))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Publish(a.Broker.Prefix+"tracker/events/bad/input", 1, false, []byte("{not json")); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	var dlq struct {
		DLQEvents []struct {
			ID            int64
			OriginalTopic string `json:"original_topic"`
			FailureReason string `json:"failure_reason"`
			Payload       struct {
				OriginalTopic string `json:"original_topic"`
				Payload       string `json:"payload"`
			}
		} `json:"dlq_events"`
		Count int
	}
	deadline := time.Now().Add(15 * time.Second)
	for dlq.Count == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the poison message never reached GET /api/v1/dlq")
		}
		time.Sleep(50 * time.Millisecond)
		_, body := call(t, a, http.MethodGet, "/api/v1/dlq", apiKey, nil)
		if err := json.Unmarshal(body, &dlq); err != nil {
			t.Fatal(err)
		}
	}
	l := dlq.DLQEvents[0]
	if l.OriginalTopic != "tracker/events/bad/input" || l.FailureReason != "not_json" || l.Payload.Payload != "{not json" {
		t.Fatalf("dead letter %+v", l)
	}

	resp, body := call(t, a, http.MethodPost, "/api/v1/dlq/replay", apiKey, strings.NewReader(`{"ids":[`+itoa(l.ID)+`]}`))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"replayed":1`) {
		t.Fatalf("replay: %d %s", resp.StatusCode, body)
	}
	if resp, body := call(t, a, http.MethodDelete, "/api/v1/dlq", apiKey, nil); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("purge with no filter must be refused: %d %s", resp.StatusCode, body)
	}
	resp, body = call(t, a, http.MethodDelete, "/api/v1/dlq?reason=not_json", apiKey, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"purged":`) {
		t.Fatalf("purge: %d %s", resp.StatusCode, body)
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
