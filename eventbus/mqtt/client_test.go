package mqtt_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	mochipackets "github.com/mochi-mqtt/server/v2/packets"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/mqtt"
	"github.com/taylordash/taylordash/testkit"
)

// sharedConfig is a client config on the testkit broker that leaves
// nothing behind (a clean session, no status).
func sharedConfig(t *testing.T, b *testkit.Broker, name string) mqtt.Config {
	return mqtt.Config{URL: b.URL, ClientID: uniqueID(t, name), TopicPrefix: b.Prefix, CleanSession: true, WillTopic: "-"}
}

// A consumer that does not keep up stalls its subscribing connection, not
// the publishing one: the client publishes on while its window is full.
func TestSlowConsumerDoesNotStallPublish(t *testing.T) {
	b := testkit.MQTT(t)
	ctx := testContext(t, 30*time.Second)
	cfg := sharedConfig(t, b, "both")
	cfg.Window = 5
	c := startClient(t, cfg)
	ch := subscribe(t, ctx, c, "stall/#")
	const n = 100
	start := time.Now()
	for i := range n {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := c.Publish(pctx, "stall/x", fmt.Appendf(nil, "%03d", i))
		cancel()
		if err != nil {
			t.Fatalf("publish %d while the consumer sleeps: %v", i, err)
		}
	}
	t.Logf("%d publications with a full window took %s", n, time.Since(start))
	for i := range n {
		m := receive(t, ch, 10*time.Second)
		if string(m.Payload) != fmt.Sprintf("%03d", i) {
			t.Fatalf("message %d is %q", i, m.Payload)
		}
		m.Ack()
	}
	if age := c.LastMessageAge(); age <= 0 || age > 10*time.Second {
		t.Errorf("LastMessageAge = %s", age)
	}
}

// TopicPrefix is added on the wire and removed from received topics;
// SharedGroup splits the messages between the group's instances, while a
// client outside the group gets them all.
func TestTopicPrefixAndSharedGroup(t *testing.T) {
	b := testkit.MQTT(t)
	ctx := testContext(t, 30*time.Second)
	group := func(name string) *mqtt.Client {
		cfg := sharedConfig(t, b, name)
		cfg.SharedGroup = "ingest"
		return startClient(t, cfg)
	}
	a, bb := group("a"), group("b")
	chA, chB := subscribe(t, ctx, a, "jobs/#"), subscribe(t, ctx, bb, "jobs/#")
	all := startClient(t, sharedConfig(t, b, "all"))
	chAll := subscribe(t, ctx, all, "jobs/#")
	// A client without the prefix sees the real topics.
	raw := startClient(t, mqtt.Config{URL: b.URL, ClientID: uniqueID(t, "raw"), CleanSession: true, WillTopic: "-"})
	chRaw := subscribe(t, ctx, raw, b.Prefix+"jobs/#")

	const n = 40
	for i := range n {
		if err := all.Publish(ctx, fmt.Sprintf("jobs/%d", i), []byte("j")); err != nil {
			t.Fatal(err)
		}
	}
	var topics []string
	for range n {
		m := receive(t, chAll, 10*time.Second)
		topics = append(topics, m.Topic)
		m.Ack()
	}
	if topics[0] != "jobs/0" || topics[n-1] != fmt.Sprintf("jobs/%d", n-1) {
		t.Errorf("the client outside the group received %v, want jobs/0 ... without the prefix", topics)
	}
	if m := receive(t, chRaw, 10*time.Second); m.Topic != b.Prefix+"jobs/0" {
		t.Errorf("on the wire the topic is %q, want %q", m.Topic, b.Prefix+"jobs/0")
	}
	got := map[string]string{}
	for len(got) < n {
		var m *eventbus.Message
		who := "a"
		select {
		case m = <-chA:
		case m = <-chB:
			who = "b"
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d shared messages arrived", len(got), n)
		}
		if prev, dup := got[m.Topic]; dup {
			t.Fatalf("%s went to %s and %s", m.Topic, prev, who)
		}
		got[m.Topic] = who
		m.Ack()
	}
	counts := map[string]int{}
	for _, who := range got {
		counts[who]++
	}
	if counts["a"] == 0 || counts["b"] == 0 {
		t.Errorf("the group did not share: %v", counts)
	}
}

// Two overlapping filters of one client each receive the message (the
// broker sends a copy per subscription, and each copy goes to every
// matching subscription): the broker is acknowledged once all acked.
func TestOverlappingFilters(t *testing.T) {
	b := testkit.MQTT(t)
	ctx := testContext(t, 30*time.Second)
	c := startClient(t, sharedConfig(t, b, "overlap"))
	hash, plus := subscribe(t, ctx, c, "ov/#"), subscribe(t, ctx, c, "ov/+")
	if err := c.Publish(ctx, "ov/x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]<-chan *eventbus.Message{"#": hash, "+": plus} {
		m := receive(t, ch, 10*time.Second)
		if string(m.Payload) != "x" {
			t.Errorf("%s received %q", name, m.Payload)
		}
		m.Ack()
	}
}

func TestLifecycle(t *testing.T) {
	b := testkit.MQTT(t)
	ctx := testContext(t, 30*time.Second)
	c, err := mqtt.New(sharedConfig(t, b, "life"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(ctx); !errors.Is(err, mqtt.ErrNotConnected) || !strings.Contains(err.Error(), "not connected yet") {
		t.Errorf("Check before Start = %v", err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err == nil {
		t.Error("a second Start succeeded")
	}
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if age := c.LastMessageAge(); age != 0 {
		t.Errorf("LastMessageAge before any message = %s, want 0", age)
	}
	for _, topic := range []string{"", "a/+", "a/#", "a\x00"} {
		if err := c.Publish(ctx, topic, nil); err == nil || errors.Is(err, mqtt.ErrNotConnected) {
			t.Errorf("Publish(%q) = %v, want an invalid-topic error", topic, err)
		}
	}
	for _, filter := range []string{"", "a/#/b", "a+", "$share/g", "$share//a"} {
		if _, err := c.Subscribe(ctx, filter); err == nil {
			t.Errorf("Subscribe(%q) succeeded", filter)
		}
	}
	ch := subscribe(t, ctx, c, "life/#")
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after Stop: %v", err)
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Error("a message arrived after Stop")
		}
	default:
		t.Error("the channel is open after Stop")
	}
	if err := c.Publish(ctx, "life/x", nil); !errors.Is(err, mqtt.ErrClosed) {
		t.Errorf("Publish after Stop = %v, want ErrClosed", err)
	}
	if _, err := c.Subscribe(ctx, "life/#"); !errors.Is(err, mqtt.ErrClosed) {
		t.Errorf("Subscribe after Stop = %v, want ErrClosed", err)
	}
	if err := c.Start(ctx); !errors.Is(err, mqtt.ErrClosed) {
		t.Errorf("Start after Stop = %v, want ErrClosed", err)
	}
	never, err := mqtt.New(sharedConfig(t, b, "never"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := never.Stop(ctx); err != nil {
		t.Errorf("Stop without Start: %v", err)
	}
}

// QoS 0 (AtMostOnce) works end to end.
func TestAtMostOnce(t *testing.T) {
	b := testkit.MQTT(t)
	ctx := testContext(t, 30*time.Second)
	cfg := sharedConfig(t, b, "qos0")
	cfg.QoS = mqtt.AtMostOnce
	c := startClient(t, cfg)
	ch := subscribe(t, ctx, c, "qos0")
	if err := c.Publish(ctx, "qos0", []byte("fire and forget")); err != nil {
		t.Fatal(err)
	}
	m := receive(t, ch, 10*time.Second)
	m.Ack() // a no-op at QoS 0
	if string(m.Payload) != "fire and forget" {
		t.Fatalf("received %q", m.Payload)
	}
}

// A subscription the broker refuses (SUBACK 0x80) is a *SubscribeError.
// Mosquitto 2.0 grants a denied subscription to an MQTT 3.1.1 client (and
// delivers nothing), so the test uses a mochi-mqtt broker in the process,
// which refuses it.
func TestSubscribeRefused(t *testing.T) {
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler), InlineClient: false})
	if err := srv.AddHook(new(denyHook), nil); err != nil {
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
	c := startClient(t, mqtt.Config{URL: "tcp://" + tcp.Address(), ClientID: uniqueID(t, "acl"), WillTopic: "-"})
	subscribe(t, ctx, c, "allowed/#")
	_, err := c.Subscribe(ctx, "denied/#")
	var se *mqtt.SubscribeError
	if !errors.As(err, &se) || se.Filter != "denied/#" {
		t.Fatalf("Subscribe to a denied filter = %v, want a *SubscribeError", err)
	}
	t.Log(err)
}

// denyHook lets every client in and denies the filters under denied/.
type denyHook struct{ mochi.HookBase }

func (h *denyHook) ID() string { return "deny" }

func (h *denyHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

func (h *denyHook) OnConnectAuthenticate(*mochi.Client, mochipackets.Packet) bool { return true }

func (h *denyHook) OnACLCheck(_ *mochi.Client, topic string, _ bool) bool {
	return !strings.HasPrefix(topic, "denied/")
}

// Credentials in the URL never show in errors.
func TestCheckHidesCredentials(t *testing.T) {
	c := newClient(t, mqtt.Config{URL: "tcp://svc:hunter2@127.0.0.1:1", ClientID: uniqueID(t, "creds"), WillTopic: "-"})
	err := failedAttempt(t, c)
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "svc") {
		t.Fatalf("Check shows the credentials: %v", err)
	}
	if !strings.Contains(err.Error(), "tcp://127.0.0.1:1") {
		t.Errorf("Check does not name the broker: %v", err)
	}
}

// The stable default client id, and the status topic that follows it.
func TestDefaultClientID(t *testing.T) {
	c, err := mqtt.New(mqtt.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if got := c.Config().ClientID; got != "taylordash-"+host {
		t.Errorf("ClientID = %q", got)
	}
	if got := c.Config().StatusTopic(); !slices.Contains([]string{"tracker/status/taylordash-" + host}, got) {
		t.Errorf("StatusTopic = %q", got)
	}
}
