package mqtt_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/taylordash/taylordash/eventbus/mqtt"
	"github.com/taylordash/taylordash/testkit"
)

// The broker restarts while 2000 QoS 1 messages are published (each
// retried until Publish succeeds, as the outbox does) and consumed with
// manual acks: every message arrives at least once, both sides of both
// clients reconnect by themselves, and Check reports the outage.
func TestBrokerRestart(t *testing.T) {
	const n = 2000
	broker := privateBroker(t, deliveryConfig, t.TempDir())
	ctx := testContext(t, 2*time.Minute)
	sub := startClient(t, mqtt.Config{URL: broker.URL(), ClientID: uniqueID(t, "sub"), Window: 100})
	pub := startClient(t, mqtt.Config{URL: broker.URL(), ClientID: uniqueID(t, "pub")})
	ch := subscribe(t, ctx, sub, "restart/#")

	var (
		mu       sync.Mutex
		seen     = make(map[string]int, n)
		received atomic.Int64
	)
	go func() {
		for m := range ch {
			mu.Lock()
			seen[string(m.Payload)]++
			if seen[string(m.Payload)] == 1 {
				received.Add(1)
			}
			mu.Unlock()
			m.Ack()
		}
	}()

	// Check, watched throughout: it must fail during the outage.
	var sawDown atomic.Bool
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	go func() {
		for watchCtx.Err() == nil {
			if sub.Check(watchCtx) != nil || pub.Check(watchCtx) != nil {
				sawDown.Store(true)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()

	var published, retries atomic.Int64
	pubErr := make(chan error, 1)
	go func() {
		for i := range n {
			for {
				err := pub.Publish(ctx, fmt.Sprintf("restart/%d", i%10), fmt.Appendf(nil, "m-%04d", i))
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					pubErr <- fmt.Errorf("message %d: %w", i, err)
					return
				}
				retries.Add(1)
				time.Sleep(20 * time.Millisecond)
			}
			published.Add(1)
		}
		pubErr <- nil
	}()

	waitFor(t, "500 messages are published", func() bool { return published.Load() >= 500 })
	restartCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := broker.Restart(restartCtx); err != nil {
		t.Fatal(err)
	}
	t.Logf("broker restarted after %d publications", published.Load())
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	waitFor(t, fmt.Sprintf("all %d messages arrive", n), func() bool { return received.Load() == n })
	stopWatching()

	if !sawDown.Load() {
		t.Error("Check never reported the outage")
	}
	if err := sub.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pub.Check(ctx); err != nil {
		t.Errorf("the publisher is not ready after the restart: %v", err)
	}
	for name, c := range map[string]*mqtt.Client{"publisher": pub, "subscriber": sub} {
		p, s := c.Reconnects()
		if p < 1 || s < 1 {
			t.Errorf("the %s's connections reconnected %d (publish) and %d (subscribe) times, want at least once each", name, p, s)
		}
	}
	mu.Lock()
	dups := 0
	for _, c := range seen {
		dups += c - 1
	}
	mu.Unlock()
	t.Logf("%d publish retries, %d duplicate deliveries", retries.Load(), dups)
}

// A subscriber that stops ("crashes") without acking 50 messages it
// received gets them again, as a new Client with the same ClientID.
func TestUnackedMessagesSurviveTheSubscriber(t *testing.T) {
	const n = 50
	broker := privateBroker(t, deliveryConfig, "")
	ctx := testContext(t, time.Minute)
	id := uniqueID(t, "worker")
	first := startClient(t, mqtt.Config{URL: broker.URL(), ClientID: id, Window: 100})
	ch := subscribe(t, ctx, first, "crash/+")
	pub := startClient(t, mqtt.Config{URL: broker.URL(), ClientID: uniqueID(t, "pub")})
	for i := range n {
		if err := pub.Publish(ctx, "crash/job", fmt.Appendf(nil, "job-%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if m := receive(t, ch, 10*time.Second); string(m.Payload) != fmt.Sprintf("job-%02d", i) {
			t.Fatalf("message %d is %q", i, m.Payload)
		}
	}
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	second := startClient(t, mqtt.Config{URL: broker.URL(), ClientID: id, Window: 100})
	ch = subscribe(t, ctx, second, "crash/+")
	for i := range n {
		m := receive(t, ch, 10*time.Second)
		if string(m.Payload) != fmt.Sprintf("job-%02d", i) {
			t.Fatalf("redelivered message %d is %q", i, m.Payload)
		}
		if !m.Redelivered {
			t.Errorf("job-%02d is not marked Redelivered", i)
		}
		m.Ack()
	}
	select {
	case m := <-ch:
		t.Fatalf("an extra message arrived: %q", m.Payload)
	case <-time.After(300 * time.Millisecond):
	}
}

// 300 KiB of non-UTF-8 garbage arrives byte-exact, and the connection
// carries on.
func TestPoisonPayload(t *testing.T) {
	b := testkit.MQTT(t)
	ctx := testContext(t, 30*time.Second)
	cfg := mqtt.Config{URL: b.URL, TopicPrefix: b.Prefix, CleanSession: true, WillTopic: "-"}
	cfg.ClientID = uniqueID(t, "sub")
	sub := startClient(t, cfg)
	cfg.ClientID = uniqueID(t, "pub")
	pub := startClient(t, cfg)
	ch := subscribe(t, ctx, sub, "poison/#")
	garbage := make([]byte, 300<<10)
	_, _ = rand.Read(garbage)
	garbage[0], garbage[1] = 0xff, 0xfe // never valid UTF-8
	for _, p := range [][]byte{garbage, []byte(`{"after":"poison"}`)} {
		if err := pub.Publish(ctx, "poison/x", p); err != nil {
			t.Fatal(err)
		}
	}
	if m := receive(t, ch, 10*time.Second); !bytes.Equal(m.Payload, garbage) {
		t.Fatalf("the garbage arrived as %d different bytes", len(m.Payload))
	} else {
		m.Ack()
	}
	if m := receive(t, ch, 10*time.Second); string(m.Payload) != `{"after":"poison"}` {
		t.Fatalf("then %q", m.Payload)
	}
	for _, c := range []*mqtt.Client{sub, pub} {
		if err := c.Check(ctx); err != nil {
			t.Error(err)
		}
		if p, s := c.Reconnects(); p+s != 0 {
			t.Errorf("the poison cost a reconnection (%d, %d)", p, s)
		}
	}
}

// When a client's connections die without a DISCONNECT, the broker
// publishes its last will: the status topic says offline. The client
// reconnects by itself and says online again; Stop says offline.
func TestLastWill(t *testing.T) {
	b := testkit.MQTT(t)
	ctx := testContext(t, 30*time.Second)
	p := newProxy(t, strings.TrimPrefix(b.URL, "tcp://"))
	id := uniqueID(t, "dying")
	dying := startClient(t, mqtt.Config{URL: p.URL(), ClientID: id, TopicPrefix: b.Prefix, CleanSession: true})
	watcher := startClient(t, mqtt.Config{URL: b.URL, ClientID: uniqueID(t, "watcher"), TopicPrefix: b.Prefix, CleanSession: true, WillTopic: "-"})
	statusTopic := mqtt.DefaultWillTopic + id
	t.Cleanup(func() { clearRetained(b.URL, b.Prefix+statusTopic) })
	ch := subscribe(t, ctx, watcher, statusTopic)
	expect := func(status string) {
		t.Helper()
		want := fmt.Sprintf(`{"status":%q,"client_id":%q}`, status, id)
		for {
			m := receive(t, ch, 15*time.Second)
			m.Ack()
			if string(m.Payload) == want {
				return
			}
			t.Logf("status %s (waiting for %s)", m.Payload, status)
		}
	}
	expect("online")

	p.setRefuse(true)
	p.cut()
	expect("offline")
	waitFor(t, "the client notices", func() bool { return !dying.Connected() })
	if err := dying.Check(ctx); !errors.Is(err, mqtt.ErrNotConnected) {
		t.Errorf("Check during the outage: %v", err)
	}

	p.setRefuse(false)
	expect("online")
	if err := dying.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if err := dying.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	expect("offline")
}

// clearRetained removes a retained message (an empty retained publish
// does), so that tests leave no status behind on a shared broker.
func clearRetained(url, topic string) {
	cli := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("").SetCleanSession(true).SetConnectTimeout(5 * time.Second))
	if tok := cli.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return
	}
	cli.Publish(topic, 1, true, []byte{}).WaitTimeout(5 * time.Second)
	cli.Disconnect(250)
}

// The application starts while the broker is unreachable: Start succeeds,
// Check and Publish say the client is not connected (naming the broker),
// Subscribe registers the filter; when the broker becomes reachable the
// client connects by itself and the subscription works.
func TestStartWhileBrokerIsDown(t *testing.T) {
	b := testkit.MQTT(t)
	ctx := testContext(t, 30*time.Second)
	p := newProxy(t, strings.TrimPrefix(b.URL, "tcp://"))
	p.setRefuse(true)
	c := newClient(t, mqtt.Config{URL: p.URL(), ClientID: uniqueID(t, "early"), TopicPrefix: b.Prefix, CleanSession: true, WillTopic: "-"})
	waitFor(t, "a connection attempt failed", func() bool {
		err := c.Check(ctx)
		return err != nil && !strings.Contains(err.Error(), "not connected yet")
	})
	err := c.Check(ctx)
	addr := strings.TrimPrefix(p.URL(), "tcp://")
	if !errors.Is(err, mqtt.ErrNotConnected) || !strings.Contains(err.Error(), addr) {
		t.Errorf("Check = %v, want ErrNotConnected naming %s", err, addr)
	}
	t.Logf("Check: %v", err)
	if err := c.Publish(ctx, "early/x", []byte("x")); !errors.Is(err, mqtt.ErrNotConnected) {
		t.Errorf("Publish while down = %v, want ErrNotConnected", err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := c.WaitConnected(short); err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), addr) {
		t.Errorf("WaitConnected while down = %v", err)
	}
	ch := subscribe(t, ctx, c, "early/+")

	p.setRefuse(false)
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	pub := startClient(t, mqtt.Config{URL: b.URL, ClientID: uniqueID(t, "pub"), TopicPrefix: b.Prefix, CleanSession: true, WillTopic: "-"})
	if err := pub.Publish(ctx, "early/x", []byte("late")); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, ch, 10*time.Second); string(m.Payload) != "late" {
		t.Fatalf("received %q", m.Payload)
	}
}
