package acceptance_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// mqttClient connects an MQTT client to url (tcp:// or, as a browser,
// ws://), disconnected when the test ends.
func mqttClient(t *testing.T, url, name string) paho.Client {
	t.Helper()
	id := "acceptance-" + name + "-" + randomHex(4)
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(id).
		SetCleanSession(true).SetConnectTimeout(5 * time.Second).SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("MQTT connect to %s: %v", url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(250) })
	return c
}

// message is an MQTT message received.
type message struct {
	Topic   string
	Payload []byte
}

// subscribe subscribes c to filter at QoS 1; the channel receives every
// message (it holds 256).
func subscribe(t *testing.T, c paho.Client, filter string) <-chan message {
	t.Helper()
	ch := make(chan message, 256)
	tok := c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		select {
		case ch <- message{Topic: m.Topic(), Payload: m.Payload()}:
		default:
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return ch
}

// publish publishes payload on topic at QoS 1 and waits for the broker.
func publish(t *testing.T, c paho.Client, topic string, payload []byte) {
	t.Helper()
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish on %s: %v", topic, tok.Error())
	}
}

// receive waits for the first message on ch that match accepts.
func receive(t *testing.T, ch <-chan message, timeout time.Duration, what string, match func(message) bool) message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-ch:
			if match(m) {
				return m
			}
		case <-deadline:
			t.Fatalf("no %s within %v", what, timeout)
		}
	}
}

// envelope is the original's event envelope: trace_id, ts, kind,
// idempotency_key, payload.
type envelope struct {
	TraceID        string         `json:"trace_id"`
	TS             string         `json:"ts"`
	Kind           string         `json:"kind"`
	IdempotencyKey string         `json:"idempotency_key"`
	Payload        map[string]any `json:"payload"`
}

// newEnvelope returns a valid envelope of kind, as the original's
// publish_event made it (a uuid4 trace id, an isoformat ts with +00:00,
// kind_<epoch ms>_<8 hex>).
func newEnvelope(kind string, payload map[string]any) envelope {
	now := time.Now().UTC()
	return envelope{
		TraceID:        uuid4(),
		TS:             now.Format("2006-01-02T15:04:05.000000+00:00"),
		Kind:           kind,
		IdempotencyKey: kind + "_" + itoa(now.UnixMilli()) + "_" + randomHex(4),
		Payload:        payload,
	}
}

func (e envelope) bytes(t *testing.T) []byte {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func uuid4() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return strings.Join([]string{h[:8], h[8:12], h[12:16], h[16:20], h[20:]}, "-")
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
