package mqtt_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/mqtt"
	"github.com/taylordash/taylordash/testkit"
)

func TestModuleValidates(t *testing.T) {
	use := fx.Invoke(func(*mqtt.Client, eventbus.Publisher, eventbus.Subscriber) {})
	t.Run("alone", func(t *testing.T) {
		if err := fx.ValidateApp(mqtt.Module, use, fx.NopLogger); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("with dashcore", func(t *testing.T) {
		if err := fx.ValidateApp(dashcore.Module, mqtt.Module, use, fx.NopLogger); err != nil {
			t.Fatal(err)
		}
	})
}

// The module's client is the app's Publisher and Subscriber, connects on
// start, and reports in /health/ready as "mqtt".
func TestModuleInApp(t *testing.T) {
	var (
		client *mqtt.Client
		pub    eventbus.Publisher
		sub    eventbus.Subscriber
	)
	clientID := uniqueID(t, "app")
	app := testkit.App(t, dashcore.Module, mqtt.Module,
		testkit.Env(map[string]string{
			"TAYLORDASH_MQTT_CLIENT_ID":     clientID,
			"TAYLORDASH_MQTT_CLEAN_SESSION": "true",
			"TAYLORDASH_MQTT_WILL_TOPIC":    "-",
		}),
		fx.Populate(&client, &pub, &sub))
	if pub != client || sub != client {
		t.Fatal("the Publisher and Subscriber are not the module's *mqtt.Client")
	}
	if got := client.Config().TopicPrefix; got != app.Broker.Prefix {
		t.Fatalf("TopicPrefix = %q, want testkit's %q", got, app.Broker.Prefix)
	}
	ctx := testContext(t, 30*time.Second)
	if err := client.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	status, body := app.Readiness(t)
	if status != http.StatusOK || body["mqtt"] != "healthy" {
		t.Fatalf("GET /health/ready = %d %v, want 200 with \"mqtt\":\"healthy\"", status, body)
	}
	ch := subscribe(t, ctx, sub, "module/+")
	if err := pub.Publish(ctx, "module/hello", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	m := receive(t, ch, 10*time.Second)
	if m.Topic != "module/hello" || string(m.Payload) != "hi" {
		t.Fatalf("received %q on %q", m.Payload, m.Topic)
	}
	m.Ack()

	// Stopped, the client is not ready; the check says so.
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	status, body = app.Readiness(t)
	if status != http.StatusServiceUnavailable || body["mqtt"] != "unhealthy" {
		t.Fatalf("after Stop, GET /health/ready = %d %v, want 503 with \"mqtt\":\"unhealthy\"", status, body)
	}
	checks, _ := body["checks"].(map[string]any)
	if mq, _ := checks["mqtt"].(map[string]any); mq["error"] != "not connected to the MQTT broker" {
		t.Errorf("the check's public error is %v", mq["error"])
	}
}
