package acceptance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/taylordash/taylordash/internal/devbroker"
	"github.com/taylordash/taylordash/internal/mosquittolocal"
)

// TestBrowserClientOverWebsockets: the original's front end did not
// receive events from the API but from the broker, over MQTT on
// websockets (ws://host:9001), and published there too. That keeps
// working with the dashboard, whether the broker is Mosquitto with a
// websocket listener (as the original deployed it) or the broker the
// dashboard embeds when started with no configuration.
func TestBrowserClientOverWebsockets(t *testing.T) {
	t.Parallel()

	t.Run("Mosquitto's websocket listener", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		wsPort := freePort(t)
		b, err := mosquittolocal.Start(ctx, mosquittolocal.Options{
			DieWithParent: true,
			// The original's second listener (infra/mosquitto).
			Config: fmt.Sprintf("listener %d 127.0.0.1\nprotocol websockets\n", wsPort),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Stop(context.Background()) })
		d := start(t, map[string]string{"TAYLORDASH_MQTT_URL": b.URL()})
		browserFlow(t, d, fmt.Sprintf("ws://127.0.0.1:%d/mqtt", wsPort))
	})

	t.Run("the embedded broker's websocket listener", func(t *testing.T) {
		t.Parallel()
		// The addresses the command would use are taken here (held by
		// the test), so the broker takes free ports, as it does when a
		// Mosquitto already runs on 1883.
		b, err := devbroker.Resolve(context.Background(), devbroker.Options{
			Addr: holdPort(t), WebsocketAddr: holdPort(t), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		// Stopped after the app and the browser's client (cleanups run
		// last in, first out).
		t.Cleanup(func() { _ = b.Stop(context.Background()) })
		if b.Source != devbroker.SourceEmbedded || b.WebsocketURL == "" {
			t.Fatalf("broker %+v", b)
		}
		d := start(t, map[string]string{"TAYLORDASH_MQTT_URL": b.URL})
		browserFlow(t, d, b.WebsocketURL+"/mqtt")
	})
}

// browserFlow is what the original front end did: subscribe to the
// events over websockets, write through the API (with the key and a
// session, from its origin), see the event arrive; publish an event over
// websockets and find it in the API.
func browserFlow(t *testing.T, d *dash, wsURL string) {
	t.Helper()
	ws := mqttClient(t, wsURL, "browser")
	events := subscribe(t, ws, d.Broker.Prefix+"tracker/events/#")

	s := d.login(t, adminUser, adminPassword, nil)
	spa := withHeaders(key(bootstrapKey), "Authorization", "Bearer "+s.SessionToken, "Origin", spaOrigin)
	project := d.do(t, http.MethodPost, "/api/v1/projects", spa, map[string]any{"name": "seen by the browser"}).
		must(t, http.StatusCreated).object(t)
	receive(t, events, 15*time.Second, "project_created over websockets", func(m message) bool {
		var env envelope
		if json.Unmarshal(m.Payload, &env) != nil || env.Kind != "project_created" {
			return false
		}
		return m.Topic == d.Broker.Prefix+"tracker/events/projects/created" && env.Payload["project_id"] == project["id"]
	})

	e := newEnvelope("ui_clicked", map[string]any{"button": "refresh"})
	publish(t, ws, d.Broker.Prefix+"tracker/events/ui/clicked", e.bytes(t))
	eventually(t, 15*time.Second, func() (bool, string) {
		for _, ev := range d.events(t, url.Values{"topic": {"tracker/events/ui/clicked"}}).Events {
			if ev.IdempotencyKey == e.IdempotencyKey {
				return true, ""
			}
		}
		return false, "the browser's event is not in /api/v1/events"
	})
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// holdPort listens on a free loopback port until the test ends, and
// returns its address.
func holdPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}
