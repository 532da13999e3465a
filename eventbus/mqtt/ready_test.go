package mqtt_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	mochipackets "github.com/mochi-mqtt/server/v2/packets"

	"github.com/taylordash/taylordash/eventbus/mqtt"
)

// WaitConnected returns once the subscriptions are in place again, not
// as soon as the connection is made: a message published after it
// returns reaches a filter subscribed while the client was disconnected,
// however slowly the broker answers the SUBSCRIBE. (It used to return
// before the SUBACK, and a message published at once was lost.)
func TestWaitConnectedWaitsForTheSubscriptions(t *testing.T) {
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler), InlineClient: false})
	if err := srv.AddHook(new(slowSubscribeHook), nil); err != nil {
		t.Fatal(err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := srv.AddListener(tcp); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ctx := testContext(t, 30*time.Second)

	p := newProxy(t, tcp.Address())
	p.setRefuse(true)
	c := newClient(t, mqtt.Config{URL: p.URL(), ClientID: uniqueID(t, "slow"), CleanSession: true, WillTopic: "-"})
	ch := subscribe(t, ctx, c, "ready/+")
	p.setRefuse(false)
	start := time.Now()
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < slowSubscribe {
		t.Errorf("WaitConnected returned after %s, before the SUBACK (delayed %s)", waited, slowSubscribe)
	}
	if !c.Connected() {
		t.Error("Connected is false after WaitConnected")
	}
	pub := startClient(t, mqtt.Config{URL: "tcp://" + tcp.Address(), ClientID: uniqueID(t, "pub"), CleanSession: true, WillTopic: "-"})
	if err := pub.Publish(ctx, "ready/x", []byte("right after")); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, ch, 5*time.Second); string(m.Payload) != "right after" {
		t.Fatalf("received %q", m.Payload)
	}
}

// slowSubscribe is how long slowSubscribeHook holds a SUBSCRIBE.
const slowSubscribe = 500 * time.Millisecond

// slowSubscribeHook lets every client in and answers the SUBSCRIBE of
// subscribing connections ("-sub") of clients named "slow" late.
type slowSubscribeHook struct{ mochi.HookBase }

func (h *slowSubscribeHook) ID() string { return "slow-subscribe" }

func (h *slowSubscribeHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck || b == mochi.OnSubscribe
}

func (h *slowSubscribeHook) OnConnectAuthenticate(*mochi.Client, mochipackets.Packet) bool {
	return true
}

func (h *slowSubscribeHook) OnACLCheck(*mochi.Client, string, bool) bool { return true }

func (h *slowSubscribeHook) OnSubscribe(cl *mochi.Client, pk mochipackets.Packet) mochipackets.Packet {
	if strings.Contains(cl.ID, "-slow-") && strings.HasSuffix(cl.ID, "-sub") {
		time.Sleep(slowSubscribe)
	}
	return pk
}
