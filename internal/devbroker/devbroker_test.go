package devbroker

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

func TestResolveExplicitURL(t *testing.T) {
	b, err := Resolve(context.Background(), Options{URL: "tcp://broker.internal:1883"})
	if err != nil || b.Source != SourceEnvironment || b.URL != "tcp://broker.internal:1883" || b.WebsocketURL != "" {
		t.Fatalf("explicit: %+v %v", b, err)
	}
	if err := b.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a log destination the broker's goroutines may write to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// take listens on a free loopback port for the test, so that the broker
// finds it taken.
func take(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

// embedded starts an embedded broker on addresses already taken, stopped
// when the test ends (after its clients have disconnected: see connect).
func embedded(t *testing.T) (*Broker, *syncBuffer, [2]string) {
	t.Helper()
	taken := [2]string{take(t), take(t)}
	logs := &syncBuffer{}
	b, err := Resolve(context.Background(), Options{Addr: taken[0], WebsocketAddr: taken[1],
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return b, logs, taken
}

// connect connects a client to url, disconnected when the test ends,
// before the broker stops: mochi-mqtt v2.7.9 races when a connection is
// still being set up while it closes.
func connect(t *testing.T, url, id string) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(id).
		SetConnectTimeout(5 * time.Second).SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect to %s: %v", url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(250) })
	return c
}

func TestResolveEmbeddedOnTakenAddresses(t *testing.T) {
	b, logs, taken := embedded(t)
	if b.Source != SourceEmbedded || !strings.HasPrefix(b.URL, "tcp://127.0.0.1:") || !strings.HasPrefix(b.WebsocketURL, "ws://127.0.0.1:") {
		t.Fatalf("embedded: %+v", b)
	}
	if b.URL == "tcp://"+taken[0] || b.WebsocketURL == "ws://"+taken[1] {
		t.Fatalf("the broker claims an address the test holds: %+v, taken %v", b, taken)
	}
	for _, want := range []string{
		taken[0] + " is taken; the embedded broker listens on port " + strings.TrimPrefix(b.URL, "tcp://127.0.0.1:"),
		taken[1] + " is taken; the embedded broker listens on port " + strings.TrimPrefix(b.WebsocketURL, "ws://127.0.0.1:"),
		"websocket_url=" + b.WebsocketURL,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, logs)
		}
	}

	// A message at QoS 1 crosses from a websocket client (a browser) to a
	// TCP client, and back.
	tcp := connect(t, b.URL, "devbroker-test-tcp")
	ws := connect(t, b.WebsocketURL, "devbroker-test-ws")
	got := make(chan string, 2)
	for _, c := range []paho.Client{tcp, ws} {
		if tok := c.Subscribe("devbroker/test/#", 1, func(_ paho.Client, m paho.Message) {
			got <- m.Topic() + " " + string(m.Payload())
		}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
	}
	if tok := ws.Publish("devbroker/test/from-ws", 1, false, "hello"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish over websocket: %v", tok.Error())
	}
	if tok := tcp.Publish("devbroker/test/from-tcp", 1, false, "hi"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish over tcp: %v", tok.Error())
	}
	seen := map[string]int{}
	for range 4 {
		select {
		case m := <-got:
			seen[m]++
		case <-time.After(5 * time.Second):
			t.Fatalf("messages delivered: %v", seen)
		}
	}
	if seen["devbroker/test/from-ws hello"] != 2 || seen["devbroker/test/from-tcp hi"] != 2 {
		t.Fatalf("messages delivered: %v", seen)
	}
}

func TestResolveEmbeddedOnFreeAddresses(t *testing.T) {
	var free [2]string
	for i := range free {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		free[i] = l.Addr().String()
		l.Close()
	}
	b, err := Resolve(context.Background(), Options{Addr: free[0], WebsocketAddr: free[1]})
	if err != nil {
		t.Fatal(err)
	}
	if b.URL != "tcp://"+free[0] || b.WebsocketURL != "ws://"+free[1] {
		t.Errorf("asked for %v, got %s and %s", free, b.URL, b.WebsocketURL)
	}
	if err := b.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestResolveBadAddress(t *testing.T) {
	_, err := Resolve(context.Background(), Options{Addr: "127.0.0.1:notaport"})
	if err == nil || !strings.Contains(err.Error(), "TAYLORDASH_MQTT_EMBEDDED_ADDR") {
		t.Fatalf("err = %v, want one naming TAYLORDASH_MQTT_EMBEDDED_ADDR", err)
	}
}

func TestDialable(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:1883": "127.0.0.1:1883",
		":1883":          "127.0.0.1:1883",
		"0.0.0.0:9001":   "127.0.0.1:9001",
		"[::]:9001":      "[::1]:9001",
		"broker.lan:1":   "broker.lan:1",
	} {
		if got := dialable(in); got != want {
			t.Errorf("dialable(%q) = %q, want %q", in, got, want)
		}
	}
}

// The defaults: 127.0.0.1:1883 (where Mosquitto runs on a developer's
// machine, so usually another port) and 127.0.0.1:9001.
func TestResolveDefaults(t *testing.T) {
	logs := &syncBuffer{}
	b, err := Resolve(context.Background(), Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	for url, def := range map[string]string{b.URL: "tcp://" + DefaultAddr, b.WebsocketURL: "ws://" + DefaultWebsocketAddr} {
		if url != def && !strings.Contains(logs.String(), strings.SplitN(def, "//", 2)[1]+" is taken") {
			t.Errorf("%s instead of %s, and the log does not say why:\n%s", url, def, logs)
		}
	}
}
