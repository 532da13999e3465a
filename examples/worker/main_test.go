package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func TestWorkerWiring(t *testing.T) {
	if err := fx.ValidateApp(modules(), fx.Invoke(func(*store.DB, *eventbus.Ingest) {})); err != nil {
		t.Fatal(err)
	}
}

// TestReadingsBecomeStatsAndAlerts: readings published on the broker are
// counted once each (a redelivered one too), the one above the threshold
// raises an alert on the broker, and a reading without a value goes to
// the dead-letter queue.
func TestReadingsBecomeStatsAndAlerts(t *testing.T) {
	app := testkit.App(t, modules())
	if app.URL != "" {
		t.Fatalf("the worker serves HTTP at %s", app.URL)
	}
	c := paho.NewClient(paho.NewClientOptions().AddBroker(app.Broker.URL).SetCleanSession(true).
		SetClientID("worker-test-" + strings.ReplaceAll(app.Broker.Prefix, "/", "-")))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(250)
	alerts := make(chan []byte, 10)
	if tok := c.Subscribe(app.Broker.Topic("tracker/events/alerts/#"), 1, func(_ paho.Client, m paho.Message) { alerts <- m.Payload() }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	publish := func(key, payload string) {
		t.Helper()
		env, _ := json.Marshal(map[string]any{
			"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "ts": time.Now().UTC().Format(time.RFC3339Nano),
			"kind": "reading", "idempotency_key": key, "payload": json.RawMessage(payload),
		})
		if tok := c.Publish(app.Broker.Topic("tracker/events/sensors/boiler"), 1, false, env); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	publish("boiler-1", `{"value": 50}`)
	publish("boiler-2", `{"value": 95.5}`)
	publish("boiler-3", `{"value": 70}`)
	publish("boiler-1", `{"value": 50}`) // the same event again
	publish("boiler-4", `{"note": "no value"}`)

	var readings, alertCount int64
	var maxValue float64
	deadline := time.Now().Add(15 * time.Second)
	for readings < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the worker counted %d readings", readings)
		}
		time.Sleep(20 * time.Millisecond)
		_ = app.DB.DB.QueryRow(t.Context(), `SELECT readings, max_value, alerts FROM sensor_stats WHERE sensor = 'boiler'`).
			Scan(&readings, &maxValue, &alertCount)
	}
	if readings != 3 || maxValue != 95.5 || alertCount != 1 {
		t.Fatalf("stats: %d readings, max %v, %d alerts", readings, maxValue, alertCount)
	}

	select {
	case m := <-alerts:
		var ev eventbus.Envelope
		if err := json.Unmarshal(m, &ev); err != nil || ev.Kind != "threshold_exceeded" || !strings.Contains(string(ev.Payload), `"reading":"boiler-2"`) {
			t.Fatalf("alert %s (%v)", m, err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no alert reached the broker")
	}

	var reason string
	deadline = time.Now().Add(15 * time.Second)
	for reason == "" {
		if time.Now().After(deadline) {
			t.Fatal("the reading without a value was not dead-lettered")
		}
		time.Sleep(20 * time.Millisecond)
		_ = app.DB.DB.QueryRow(t.Context(), `SELECT reason FROM dlq_events WHERE idempotency_key = 'boiler-4'`).Scan(&reason)
	}
	if reason != string(eventbus.ReasonHandlerFailed) {
		t.Fatalf("dead letter reason %q", reason)
	}
}
