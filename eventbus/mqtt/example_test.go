package mqtt_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/mqtt"
)

// Example publishes and consumes an event through the broker on
// 127.0.0.1:1883 (start one with mosquitto -d). A topic prefix of its own
// keeps it apart from other users of the broker, and a clean session
// leaves nothing behind.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var run [4]byte
	_, _ = rand.Read(run[:])
	c, err := mqtt.New(mqtt.Config{
		URL:          "tcp://127.0.0.1:1883",
		ClientID:     "taylordash-example-" + hex.EncodeToString(run[:]),
		TopicPrefix:  "example/" + hex.EncodeToString(run[:]) + "/",
		CleanSession: true, // an example keeps nothing on the broker
		WillTopic:    "-",  // nor a status
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer c.Stop(context.Background())
	if err := c.WaitConnected(ctx); err != nil {
		fmt.Println(err) // names the broker and why it cannot be reached
		return
	}

	events, err := c.Subscribe(ctx, "tracker/events/#")
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Publish(ctx, "tracker/events/projects/created", []byte(`{"kind":"project_created"}`)); err != nil {
		fmt.Println(err) // retry: the outbox does
		return
	}
	select {
	case m := <-events:
		fmt.Println(m.Topic, string(m.Payload))
		m.Ack() // the PUBACK goes to the broker now, not before
	case <-ctx.Done():
		fmt.Println("nothing arrived")
	}
	// Output:
	// tracker/events/projects/created {"kind":"project_created"}
}

// Example_module wires the transport into an application: the client is
// configured from TAYLORDASH_MQTT_* variables, starts and stops with the
// application, is its eventbus.Publisher and eventbus.Subscriber, and adds
// the "mqtt" readiness check to /health/ready.
func Example_module() {
	app := fx.New(
		dashcore.Module,
		mqtt.Module,
		fx.Invoke(func(pub eventbus.Publisher, sub eventbus.Subscriber) {
			// e.g. eventbus.Module consumes sub; an outbox relay uses pub.
		}),
	)
	_ = app // app.Run() serves until a signal
}
