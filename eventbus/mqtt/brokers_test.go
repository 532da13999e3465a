package mqtt_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/eventbus/eventbustest"
	"github.com/taylordash/taylordash/eventbus/mqtt"
	"github.com/taylordash/taylordash/internal/devbroker"
	"github.com/taylordash/taylordash/internal/mosquittolocal"
	"github.com/taylordash/taylordash/internal/natslocal"
	"github.com/taylordash/taylordash/internal/rabbitmqlocal"
	"github.com/taylordash/taylordash/testkit"
)

// brokerKind is an MQTT broker the transport is checked against, with
// what it is declared to support (docs/eventbus.md, "Brokers", has the
// table); TestBrokers checks each declaration.
type brokerKind struct {
	name string
	// start starts the broker (or a listener of its own) for the test and
	// returns its URL; it fails the test, or skips it where allowed (see
	// unavailable).
	start func(t *testing.T) string
	// features are the suite's optional checks the broker passes.
	features eventbustest.Features
	// retained: the broker keeps retained messages for new subscribers.
	retained bool
	// resumeDelay is the suite's Transport.ResumeDelay.
	resumeDelay time.Duration
	// shared is the broker, not the test's: its sessions outlive the test
	// unless the test ends them (RabbitMQ's are durable queues).
	shared bool
}

// brokerKinds are the brokers a team might run: Mosquitto (the reference),
// mochi-mqtt (embedded by the example dashboard), RabbitMQ's MQTT plugin
// and NATS server's MQTT listener (both clusterable).
var brokerKinds = []brokerKind{
	{
		name:     "mosquitto",
		start:    startMosquitto,
		features: eventbustest.Features{SharedSubscriptions: true, RedeliveredFlag: true},
		retained: true,
	},
	{
		name:  "mochi",
		start: startMochi,
		// mochi v2.7.9 resends a session's messages sorted by their second
		// of arrival with an unstable sort (inflight.go, GetAll), and takes
		// a session over on a new connection while the old one's last
		// PUBACKs may still be unread.
		features:    eventbustest.Features{SharedSubscriptions: true, RedeliveredFlag: true, ResumeUnordered: true},
		retained:    true,
		resumeDelay: 100 * time.Millisecond,
	},
	{
		name:     "rabbitmq",
		start:    startRabbitMQ,
		features: eventbustest.Features{RedeliveredFlag: true},
		retained: true,
		shared:   true,
	},
	{
		name:  "nats",
		start: startNATS,
		// NATS redelivers an unacknowledged message after ack_wait (2s
		// here, 30s by default), not when the session resumes: behind
		// newer messages.
		features: eventbustest.Features{RedeliveredFlag: true, ResumeUnordered: true},
		retained: true,
	},
}

// TestBrokers runs, on each broker: the conformance suite (with
// NoSharedSubscriptions where the broker lacks $share/, and connection
// cuts for the reconnection test), a check of the declared features
// against what the broker does, and two ingest pipelines in one shared
// group storing every event exactly once in PostgreSQL's mirror.
func TestBrokers(t *testing.T) {
	for _, k := range brokerKinds {
		t.Run(k.name, func(t *testing.T) {
			url := k.start(t)
			t.Run("Conformance", func(t *testing.T) {
				began := time.Now()
				t.Cleanup(func() { t.Logf("the suite took %v on %s", time.Since(began).Round(10*time.Millisecond), k.name) })
				eventbustest.Run(t, brokerTransport(k, url))
			})
			t.Run("Features", func(t *testing.T) { checkFeatures(t, k, url) })
			t.Run("StoredOnce", func(t *testing.T) { storedOnce(t, k, url) })
		})
	}
}

// unavailable ends a test whose broker cannot start: a skip when the
// broker is not installed and CI is not set, a failure naming what is
// missing otherwise.
func unavailable(t *testing.T, broker string, notInstalled bool, err error) {
	t.Helper()
	if notInstalled && !inCI() {
		t.Skipf("%s is not installed here (with CI=true this fails): %v", broker, err)
	}
	t.Fatalf("%s cannot start: %v", broker, err)
}

func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}

func startMosquitto(t *testing.T) string {
	t.Helper()
	if _, err := mosquittolocal.FindBinary(); err != nil {
		unavailable(t, "Mosquitto", true, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := mosquittolocal.Start(ctx, mosquittolocal.Options{Config: deliveryConfig, DieWithParent: true})
	if err != nil {
		unavailable(t, "Mosquitto", false, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Stop(ctx); err != nil {
			t.Errorf("stop mosquitto: %v", err)
		}
	})
	return b.URL()
}

// startMochi starts the broker the example dashboard embeds, as it does.
func startMochi(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := devbroker.Resolve(ctx, devbroker.Options{Addr: "127.0.0.1:0", WebsocketAddr: "127.0.0.1:0", Logger: testkit.NewLogger(t)})
	if err != nil {
		unavailable(t, "the embedded mochi-mqtt broker", false, err)
	}
	t.Cleanup(func() {
		if err := b.Stop(context.Background()); err != nil {
			t.Errorf("stop the embedded broker: %v", err)
		}
	})
	return b.URL
}

func startRabbitMQ(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := rabbitmqlocal.Start(ctx, rabbitmqlocal.Options{})
	if err != nil {
		unavailable(t, "RabbitMQ's MQTT plugin", errors.Is(err, rabbitmqlocal.ErrNotInstalled), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := l.Stop(ctx); err != nil {
			t.Errorf("remove the RabbitMQ MQTT listener: %v", err)
		}
	})
	return l.URL()
}

// natsMQTTConfig shortens ack_wait, after which NATS redelivers an
// unacknowledged message (30s by default), so that the suite's
// redeliveries come within seconds. It stays above what the suite holds a
// message unacknowledged on purpose (the back-pressure test, about 1s).
const natsMQTTConfig = `ack_wait: "2s"`

func startNATS(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := natslocal.Start(ctx, natslocal.Options{DieWithParent: true, MQTT: natsMQTTConfig})
	if err != nil {
		unavailable(t, "nats-server with an MQTT listener", errors.Is(err, natslocal.ErrNotInstalled), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop nats-server: %v", err)
		}
	})
	return s.URL()
}

// runID returns a random name for one run of a test on a shared broker.
func runID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// brokerTransport is the conformance suite's view of the client on broker
// k at url: subscribers connect through a link each, which Interrupt
// cuts.
func brokerTransport(k brokerKind, url string) eventbustest.Transport {
	run := runID()
	var mu sync.Mutex
	links := map[eventbus.Subscriber]*link{}
	last := map[string]*link{} // by test and identity
	return eventbustest.Transport{
		Name: "mqtt on " + k.name,
		NewPublisher: func(t *testing.T) eventbus.Publisher {
			return startClient(t, mqtt.Config{URL: url, ClientID: uniqueID(t, "pub"), CleanSession: true, WillTopic: "-"})
		},
		NewSubscriber: func(t *testing.T, identity string) eventbus.Subscriber {
			id := "tdtest-" + run + "-" + sanitize(t.Name()) + "-" + identity
			if k.shared {
				forgetSession(t, url, id)
			}
			mu.Lock()
			prev := last[id]
			mu.Unlock()
			if prev != nil {
				// What the previous subscriber of the identity sent before
				// it closed reaches the broker before this one connects,
				// as it would without the link.
				prev.waitIdle(t)
			}
			l := newLink(t, strings.TrimPrefix(url, "tcp://"))
			c := startClient(t, mqtt.Config{URL: l.url(), ClientID: id, Window: conformanceWindow, WillTopic: "-",
				NoSharedSubscriptions: !k.features.SharedSubscriptions})
			mu.Lock()
			links[c], last[id] = l, l
			mu.Unlock()
			return c
		},
		Interrupt: func(t *testing.T, s eventbus.Subscriber) {
			mu.Lock()
			l := links[s]
			mu.Unlock()
			if l == nil {
				t.Fatalf("Interrupt: %T is not a subscriber of this transport", s)
			}
			l.cut()
		},
		Topic: func(t *testing.T, parts ...string) string {
			return "tdtest/" + run + "/" + sanitize(t.Name()) + "/" + strings.Join(parts, "/")
		},
		Window:      conformanceWindow,
		Features:    k.features,
		ResumeDelay: k.resumeDelay,
	}
}

// link forwards a client's connections to a broker and can cut them
// abruptly (a TCP reset, no DISCONNECT), as a failing network does.
type link struct {
	target string
	ln     net.Listener

	mu     sync.Mutex
	conns  []net.Conn
	active int // forwarding goroutines running
}

func newLink(t *testing.T, target string) *link {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &link{target: target, ln: ln}
	go l.serve()
	t.Cleanup(func() {
		ln.Close()
		l.cut()
	})
	return l
}

func (l *link) url() string { return "tcp://" + l.ln.Addr().String() }

func (l *link) serve() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", l.target)
		if err != nil {
			c.Close()
			continue
		}
		l.mu.Lock()
		l.conns = append(l.conns, c, up)
		l.active += 2
		l.mu.Unlock()
		go l.forward(up, c)
		go l.forward(c, up)
	}
}

// forward copies from src to dst until src ends, then closes dst.
func (l *link) forward(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	l.mu.Lock()
	l.active--
	l.mu.Unlock()
}

// cut resets every connection of the link.
func (l *link) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
	l.conns = nil
}

// waitIdle waits until everything the link's clients sent was forwarded
// and their connections are closed.
func (l *link) waitIdle(t *testing.T) {
	t.Helper()
	waitFor(t, "the previous subscriber's connection is closed", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.active == 0
	})
}

// checkFeatures checks what k is declared to support against what the
// broker does: a shared subscription ($share/<group>/<filter>) receives a
// message published after its SUBACK, and a retained message reaches a
// later subscriber. RabbitMQ and NATS grant a $share/ subscription
// (SUBACK 1) and take it as a literal topic: only a message tells.
func checkFeatures(t *testing.T, k brokerKind, url string) {
	topic := "tdtest/" + runID() + "/features"
	pub := pahoClient(t, url, uniqueID(t, "pub"))

	sub := pahoClient(t, url, uniqueID(t, "shared"))
	got := make(chan struct{}, 1)
	shared := "$share/probe/" + topic + "/shared"
	if tok := sub.Subscribe(shared, 1, func(paho.Client, paho.Message) { got <- struct{}{} }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", shared, tok.Error())
	} else if codes := tok.(*paho.SubscribeToken).Result(); codes[shared] == 0x80 {
		t.Logf("%s refuses %s (SUBACK 0x80)", k.name, shared)
	}
	// A plain subscriber of the same topic says when the broker has routed
	// the message; the shared one gets a little longer.
	plain := pahoClient(t, url, uniqueID(t, "plain"))
	routed := make(chan struct{}, 1)
	if tok := plain.Subscribe(topic+"/shared", 1, func(paho.Client, paho.Message) { routed <- struct{}{} }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	pahoPublish(t, pub, topic+"/shared", false, "probe")
	select {
	case <-routed:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not deliver a message to a plain subscriber within 10s", k.name)
	}
	select {
	case <-got:
		if !k.features.SharedSubscriptions {
			t.Errorf("%s delivers shared subscriptions, but is declared without them", k.name)
		}
	case <-time.After(time.Second):
		if k.features.SharedSubscriptions {
			t.Errorf("%s does not deliver to a shared subscription, but is declared with them", k.name)
		}
	}

	pahoPublish(t, pub, topic+"/retained", true, "kept")
	t.Cleanup(func() { pahoPublish(t, pub, topic+"/retained", true, "") })
	later := pahoClient(t, url, uniqueID(t, "later"))
	kept := make(chan string, 1)
	if tok := later.Subscribe(topic+"/retained", 1, func(_ paho.Client, m paho.Message) { kept <- string(m.Payload()) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	select {
	case p := <-kept:
		if p != "kept" || !k.retained {
			t.Errorf("%s sent the retained message %q to a later subscriber; declared retained: %v", k.name, p, k.retained)
		}
	case <-time.After(3 * time.Second):
		if k.retained {
			t.Errorf("%s did not send the retained message to a later subscriber within 3s", k.name)
		}
	}
}

// pahoClient connects a plain clean-session paho client that disconnects
// when the test ends.
func pahoClient(t *testing.T, url, id string) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).
		SetConnectTimeout(10 * time.Second).SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect to %s: %v", url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(250) })
	return c
}

func pahoPublish(t *testing.T, c paho.Client, topic string, retained bool, payload string) {
	t.Helper()
	if tok := c.Publish(topic, 1, retained, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish to %s: %v", topic, tok.Error())
	}
}

// storedOnce runs two ingest pipelines (an MQTT client each, sharing the
// group "ingest", and one PostgreSQL mirror) and publishes events: the
// mirror holds each once and its handler runs once. On a broker with
// shared subscriptions the instances split the events; on one without,
// with NoSharedSubscriptions, both receive every event and the mirror's
// idempotency key stores it once.
func storedOnce(t *testing.T, k brokerKind, url string) {
	const n = 500
	db := testkit.Postgres(t, eventbuspg.Migrations)
	prefix := "tdtest/" + runID() + "/"
	var handled sync.Map // idempotency key -> *atomic.Int32
	instance := func(name string) *countingRecorder {
		id := uniqueID(t, name)
		if k.shared {
			forgetSession(t, url, id)
		}
		c := startClient(t, mqtt.Config{URL: url, ClientID: id, TopicPrefix: prefix, SharedGroup: "ingest",
			NoSharedSubscriptions: !k.features.SharedSubscriptions, WillTopic: "-", Window: 100})
		rec := &countingRecorder{Mirror: eventbuspg.NewMirror(db.DB)}
		in, err := eventbus.NewIngest(eventbus.IngestOptions{
			Config:      eventbus.Config{Subscribe: []string{"tracker/events/#"}, BatchSize: 50, BatchLatency: 5 * time.Millisecond},
			Subscriber:  c,
			Publisher:   c,
			Recorder:    rec,
			DeadLetters: eventbuspg.NewDeadLetterStore(db.DB),
			Routes: []eventbus.Route{{Name: "count", Pattern: "tracker/events/#", Handler: func(_ context.Context, ev *eventbus.Event) error {
				v, _ := handled.LoadOrStore(ev.Envelope.IdempotencyKey, new(atomic.Int32))
				v.(*atomic.Int32).Add(1)
				return nil
			}}},
			Logger: testkit.NewLogger(t),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := in.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := in.Stop(ctx); err != nil {
				t.Errorf("stop ingest %s: %v", name, err)
			}
			if err := rec.Mirror.Close(ctx); err != nil {
				t.Errorf("close mirror %s: %v", name, err)
			}
		})
		return rec
	}
	a, b := instance("a"), instance("b")
	pub := startClient(t, mqtt.Config{URL: url, ClientID: uniqueID(t, "pub"), TopicPrefix: prefix, CleanSession: true, WillTopic: "-"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	keys := make([]string, n)
	for i := range n {
		env, err := eventbus.New(ctx, "brokers-test", "test_event", map[string]any{"seq": i})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := env.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = env.IdempotencyKey
		if err := pub.Publish(ctx, fmt.Sprintf("tracker/events/brokers/%d", i%5), raw); err != nil {
			t.Fatal(err)
		}
	}
	// Every event arrives at both instances without shared subscriptions,
	// at one of them with.
	want := int64(n)
	if !k.features.SharedSubscriptions {
		want = 2 * n
	}
	deadline := time.Now().Add(time.Minute)
	for a.seen()+b.seen() < want {
		if time.Now().After(deadline) {
			t.Fatalf("the instances took %d and %d deliveries of %d events in a minute; want %d in all", a.seen(), b.seen(), n, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // anything more would be a redelivery
	var rows, distinct int
	if err := db.DB.QueryRow(ctx, "SELECT count(*), count(DISTINCT idempotency_key) FROM events_mirror").Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != n || distinct != n {
		t.Errorf("events_mirror holds %d rows with %d distinct keys; want %d, each once", rows, distinct, n)
	}
	for _, key := range keys {
		v, ok := handled.Load(key)
		if !ok || v.(*atomic.Int32).Load() != 1 {
			got := int32(0)
			if ok {
				got = v.(*atomic.Int32).Load()
			}
			t.Errorf("event %s was handled %d times, want once", key, got)
		}
	}
	if s := a.stored.Load() + b.stored.Load(); s != n {
		t.Errorf("the instances stored %d + %d events, want %d in all", a.stored.Load(), b.stored.Load(), n)
	}
	if !k.features.SharedSubscriptions && (a.seen() != n || b.seen() != n) {
		t.Errorf("without shared subscriptions each instance must receive every event: a took %d, b %d, of %d", a.seen(), b.seen(), n)
	}
	if k.features.SharedSubscriptions && (a.seen() == 0 || b.seen() == 0) {
		t.Errorf("with shared subscriptions both instances take a share: a took %d, b %d", a.seen(), b.seen())
	}
	t.Logf("%s: instance a stored %d (%d duplicates), b stored %d (%d duplicates); the mirror holds %d rows",
		k.name, a.stored.Load(), a.duplicates.Load(), b.stored.Load(), b.duplicates.Load(), rows)
}

// countingRecorder is the mirror, counting what it stored and what it
// found stored already.
type countingRecorder struct {
	*eventbuspg.Mirror
	stored, duplicates atomic.Int64
}

func (r *countingRecorder) Record(ctx context.Context, events []*eventbus.Event) error {
	return r.count(events, r.Mirror.Record(ctx, events))
}

func (r *countingRecorder) RecordInFlight(ctx context.Context, events []*eventbus.Event) (int64, error) {
	token, err := r.Mirror.RecordInFlight(ctx, events)
	return token, r.count(events, err)
}

func (r *countingRecorder) count(events []*eventbus.Event, err error) error {
	if err != nil {
		return err
	}
	for _, ev := range events {
		if ev.Duplicate {
			r.duplicates.Add(1)
		} else {
			r.stored.Add(1)
		}
	}
	return nil
}

// seen is how many deliveries the recorder took.
func (r *countingRecorder) seen() int64 { return r.stored.Load() + r.duplicates.Load() }

// NoSharedSubscriptions (TAYLORDASH_MQTT_NO_SHARED_SUBSCRIPTIONS) makes a
// SharedGroup, and a $share/ filter given to Subscribe, plain
// subscriptions: on Mosquitto, which would split them, both instances
// receive every message.
func TestNoSharedSubscriptionsFansOut(t *testing.T) {
	cfg := mqtt.Config{}.WithDefaults()
	if err := dashcore.LoadConfig(dashcore.NewEnvironment(map[string]string{"TAYLORDASH_MQTT_NO_SHARED_SUBSCRIPTIONS": "true"}), &cfg); err != nil {
		t.Fatal(err)
	}
	if !cfg.NoSharedSubscriptions {
		t.Fatal("TAYLORDASH_MQTT_NO_SHARED_SUBSCRIPTIONS=true did not set NoSharedSubscriptions")
	}
	b := privateBroker(t, deliveryConfig, "")
	ctx := testContext(t, 30*time.Second)
	topic := "tdtest/" + runID() + "/fanout"
	var chans []<-chan *eventbus.Message
	for _, name := range []string{"a", "b"} {
		c := startClient(t, mqtt.Config{URL: b.URL(), ClientID: uniqueID(t, name), SharedGroup: "ingest", NoSharedSubscriptions: true, WillTopic: "-"})
		chans = append(chans, subscribe(t, ctx, c, topic+"/#"))
	}
	explicit := startClient(t, mqtt.Config{URL: b.URL(), ClientID: uniqueID(t, "explicit"), NoSharedSubscriptions: true, WillTopic: "-"})
	chans = append(chans, subscribe(t, ctx, explicit, eventbus.SharedFilter("ingest", topic+"/#")))
	pub := startClient(t, mqtt.Config{URL: b.URL(), ClientID: uniqueID(t, "pub"), CleanSession: true, WillTopic: "-"})
	const n = 20
	for i := range n {
		if err := pub.Publish(ctx, fmt.Sprintf("%s/%d", topic, i), fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for who, ch := range chans {
		for i := range n {
			m := receive(t, ch, 10*time.Second)
			if want := fmt.Sprintf("m%d", i); string(m.Payload) != want {
				t.Fatalf("subscriber %d: message %d is %q, want %q", who, i, m.Payload, want)
			}
			m.Ack()
		}
	}
}
