package eventbus_test

// End-to-end proofs of the event bus: the real pipeline (an mqtt.Client
// subscribing, eventbus.Ingest, the PostgreSQL mirror and dead-letter
// queue) against real brokers and databases, fed by a separate
// mqtt.Client publishing. This file holds what the *_e2e_test.go files
// share; each proof is in the file named after its subject.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/eventbus/mqtt"
	"github.com/taylordash/taylordash/internal/mosquittolocal"
	"github.com/taylordash/taylordash/internal/pglocal"
	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// The settings every end-to-end test runs with. The broker's are those
// the eventbus/mqtt package documentation lists for its guarantees
// ("Broker settings"): mosquittolocal writes "persistence true" and
// "persistence_location <PersistenceDir>/" (the broker's database
// survives Restart), and e2eBrokerConfig adds the rest. The broker sends
// a client at most max_inflight_messages unacknowledged messages, which is
// at most the client's Window (so the broker's flow control, not the
// client's, is the one normally reached) and at least the pipeline's
// batch (so a batch can fill).
const (
	e2eWindow    = 1000
	e2eInflight  = 400
	e2eBatchSize = 200

	e2eBrokerConfig = "autosave_interval 1\n" +
		"max_queued_messages 0\n" +
		"max_queued_bytes 0\n" +
		"max_inflight_messages 400\n" +
		"persistent_client_expiration 1h\n"
)

// startBroker starts a private Mosquitto with persistence in a directory
// of the test's and the given configuration lines; it stops with the
// test.
func startBroker(tb testing.TB, config string) *mosquittolocal.Broker {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := mosquittolocal.Start(ctx, mosquittolocal.Options{
		Config:         config,
		PersistenceDir: tb.TempDir(),
		DieWithParent:  true,
	})
	if err != nil {
		tb.Fatalf("start a private mosquitto (the mosquitto package is needed): %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := b.Stop(ctx); err != nil {
			tb.Logf("stop mosquitto: %v", err)
		}
	})
	return b
}

// cluster is a private PostgreSQL cluster a test may stop and start again.
type cluster struct {
	tb   testing.TB
	dir  string
	port int
	cur  *pglocal.Cluster
	db   *store.DB
}

// startCluster starts a private PostgreSQL cluster in a new directory
// (under /tmp: when running as root, the server runs as the postgres
// user, who cannot reach t.TempDir), opens a pool on it and migrates it.
func startCluster(tb testing.TB) *cluster {
	tb.Helper()
	dir, err := os.MkdirTemp("", "eventbus-e2e-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	c := &cluster{tb: tb, dir: dir}
	tb.Cleanup(func() {
		if c.db != nil {
			c.db.Close()
		}
		c.stop()
		_ = os.RemoveAll(dir)
	})
	c.start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.db, err = store.Open(ctx, store.Config{URL: c.cur.URL("postgres"), MaxConns: 8, ConnectTimeout: 2 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := store.Migrate(ctx, c.db, eventbuspg.Migrations); err != nil {
		tb.Fatal(err)
	}
	return c
}

// start starts the cluster on its directory and, after the first start,
// on the same port.
func (c *cluster) start() {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := pglocal.Start(ctx, pglocal.Options{Dir: c.dir, Port: c.port, DieWithParent: true})
	if err != nil {
		c.tb.Fatalf("start a private PostgreSQL cluster: %v", err)
	}
	c.cur, c.port = cl, cl.Port()
}

// stop shuts the cluster down (a fast shutdown: clients are cut off).
func (c *cluster) stop() {
	c.tb.Helper()
	if c.cur == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.cur.Stop(ctx); err != nil {
		c.tb.Errorf("stop the PostgreSQL cluster: %v", err)
	}
	c.cur = nil
}

// recorder is the mirror as the pipeline sees it, counting what the
// mirror's deduplication decided: events stored, deliveries found to be
// duplicates, and failed calls (a database down).
type recorder struct {
	inner eventbus.Recorder

	stored, duplicates, failures atomic.Int64
}

func (r *recorder) Record(ctx context.Context, events []*eventbus.Event) error {
	return r.count(events, r.inner.Record(ctx, events))
}

// RecordInFlight passes on to the mirror, which is an
// eventbus.InFlightRecorder, counting as Record does.
func (r *recorder) RecordInFlight(ctx context.Context, events []*eventbus.Event) (int64, error) {
	token, err := r.inner.(eventbus.InFlightRecorder).RecordInFlight(ctx, events)
	return token, r.count(events, err)
}

// Handled passes on to the mirror.
func (r *recorder) Handled(ctx context.Context, tokens []int64) error {
	return r.inner.(eventbus.InFlightRecorder).Handled(ctx, tokens)
}

func (r *recorder) count(events []*eventbus.Event, err error) error {
	if err != nil {
		r.failures.Add(1)
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

// counter counts per key, safe for concurrent use.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func newCounter() *counter { return &counter{n: make(map[string]int)} }

func (c *counter) add(key string) {
	c.mu.Lock()
	c.n[key]++
	c.mu.Unlock()
}

func (c *counter) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

// total returns the sum of the counts and the number of keys.
func (c *counter) total() (sum, keys int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.n {
		sum += n
	}
	return sum, len(c.n)
}

// snapshot returns a copy of the counts.
func (c *counter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.n))
	for k, n := range c.n {
		out[k] = n
	}
	return out
}

// pipelineOptions configures startPipeline.
type pipelineOptions struct {
	// URL is the broker.
	URL string
	// ClientID is the subscriber's; "" makes one from the test's name.
	ClientID string
	// SharedGroup, if set, makes the subscriptions shared.
	SharedGroup string
	// DB holds the mirror and the dead-letter queue.
	DB *store.DB
	// Config is the pipeline's; zero fields get the e2e defaults.
	Config eventbus.Config
	// Routes run in addition to the "e2e-handled" route, which counts
	// every event handled (after Dedup) by idempotency key.
	Routes []eventbus.Route
	// TracerProvider and MeterProvider, if set, are given to the client
	// and the ingest.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
}

// pipeline is one instance of the application's event path: its MQTT
// client (subscriber, and publisher of the DLQ topic) and its ingest.
type pipeline struct {
	client  *mqtt.Client
	ingest  *eventbus.Ingest
	rec     *recorder
	handled *counter // handler runs by idempotency key

	stopOnce sync.Once
}

// startPipeline starts a pipeline and waits until its client is
// connected; it stops with the test.
func startPipeline(tb testing.TB, o pipelineOptions) *pipeline {
	tb.Helper()
	if o.ClientID == "" {
		o.ClientID = clientID(tb, "app")
	}
	cfg := o.Config
	if cfg.BatchSize == 0 {
		cfg.BatchSize = e2eBatchSize
	}
	if cfg.BatchLatency == 0 {
		cfg.BatchLatency = 5 * time.Millisecond
	}
	log := testkit.NewLogger(tb)
	client := startClient(tb, mqtt.Config{URL: o.URL, ClientID: o.ClientID, SharedGroup: o.SharedGroup, Window: e2eWindow,
		TracerProvider: o.TracerProvider, MeterProvider: o.MeterProvider})
	p := &pipeline{client: client, rec: &recorder{inner: eventbuspg.NewMirror(o.DB)}, handled: newCounter()}
	routes := append([]eventbus.Route{{Name: "e2e-handled", Pattern: "tracker/events/#", Handler: func(_ context.Context, ev *eventbus.Event) error {
		p.handled.add(ev.Envelope.IdempotencyKey)
		return nil
	}}}, o.Routes...)
	in, err := eventbus.NewIngest(eventbus.IngestOptions{
		Config:      cfg,
		Subscriber:  client,
		Publisher:   client,
		Recorder:    p.rec,
		DeadLetters: eventbuspg.NewDeadLetterStore(o.DB),
		Routes:      routes,
		Logger:      log,

		TracerProvider: o.TracerProvider,
		MeterProvider:  o.MeterProvider,
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := in.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	p.ingest = in
	tb.Cleanup(func() { p.stop(tb) })
	return p
}

// stop stops the ingest, then the client: what was not acknowledged
// stays with the broker. Safe to call twice.
func (p *pipeline) stop(tb testing.TB) {
	tb.Helper()
	p.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := p.ingest.Stop(ctx); err != nil {
			tb.Errorf("stop ingest: %v", err)
		}
		// As the module does at stop: the mirror's lease goes, so that the
		// batches this instance left in flight count as abandoned.
		if m, ok := p.rec.inner.(*eventbuspg.Mirror); ok {
			if err := m.Close(ctx); err != nil {
				tb.Errorf("close the mirror: %v", err)
			}
		}
		if err := p.client.Stop(ctx); err != nil {
			tb.Errorf("stop the pipeline's client: %v", err)
		}
	})
}

// clientID returns an MQTT client id for the test.
func clientID(tb testing.TB, name string) string {
	var b []byte
	for _, r := range tb.Name() {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b = append(b, byte(r))
		}
	}
	if len(b) > 40 {
		b = b[len(b)-40:]
	}
	return "e2e-" + string(b) + "-" + name
}

// startClient starts an MQTT client that stops with the test, and waits
// until it is connected.
func startClient(tb testing.TB, cfg mqtt.Config) *mqtt.Client {
	tb.Helper()
	cfg.ConnectTimeout = 5 * time.Second
	cfg.MaxReconnectInterval = time.Second
	c, err := mqtt.New(cfg, testkit.NewLogger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			tb.Errorf("stop client %s: %v", cfg.ClientID, err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.WaitConnected(ctx); err != nil {
		tb.Fatal(err)
	}
	return c
}

// publisher publishes the way the bus's contract asks of publishers: a
// message whose Publish fails is published again until it succeeds (the
// idempotency key makes a second copy harmless).
type publisher struct {
	c       *mqtt.Client
	retries atomic.Int64
	done    atomic.Int64 // messages published
}

func newPublisher(tb testing.TB, url string) *publisher {
	tb.Helper()
	return &publisher{c: startClient(tb, mqtt.Config{URL: url, ClientID: clientID(tb, "publisher"), CleanSession: true, WillTopic: "-"})}
}

// publish publishes one message until the broker accepts it, or ctx ends.
func (p *publisher) publish(ctx context.Context, topic string, payload []byte) error {
	for {
		err := p.c.Publish(ctx, topic, payload)
		if err == nil {
			p.done.Add(1)
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("publish to %s: %w", topic, err)
		}
		p.retries.Add(1)
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// message is a message to publish.
type message struct {
	topic   string
	payload []byte
}

// publishAll publishes msgs from workers goroutines (each message until
// it succeeds) and returns when all are published, or at the first that
// could not be (ctx ended).
func (p *publisher) publishAll(ctx context.Context, msgs []message, workers int) error {
	var next atomic.Int64
	errs := make(chan error, workers)
	for range workers {
		go func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(msgs) {
					errs <- nil
					return
				}
				if err := p.publish(ctx, msgs[i].topic, msgs[i].payload); err != nil {
					errs <- fmt.Errorf("message %d: %w", i, err)
					return
				}
			}
		}()
	}
	var first error
	for range workers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// events returns n distinct valid envelopes, as published, on topics
// tracker/events/e2e/<i mod 10>, and their idempotency keys.
func events(tb testing.TB, n int) ([]message, []string) {
	tb.Helper()
	msgs := make([]message, n)
	keys := make([]string, n)
	for i := range n {
		raw, key := envelope(tb, "test_event", map[string]any{"seq": i})
		msgs[i] = message{topic: "tracker/events/e2e/" + strconv.Itoa(i%10), payload: raw}
		keys[i] = key
	}
	return msgs, keys
}

// envelope returns a new envelope of kind with payload, marshalled, and
// its idempotency key.
func envelope(tb testing.TB, kind string, payload any) ([]byte, string) {
	tb.Helper()
	env, err := eventbus.New(context.Background(), "e2e-publisher", kind, payload)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := env.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return raw, env.IdempotencyKey
}

// eventually polls cond every 10ms until it holds, failing the test after
// timeout.
func eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting until %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// count runs a query returning one number.
func count(tb testing.TB, db *store.DB, query string, args ...any) int {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n int
	if err := db.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}

// tryCount is count that reports failure (a database down) as -1.
func tryCount(db *store.DB, query string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var n int
	if err := db.QueryRow(ctx, query).Scan(&n); err != nil {
		return -1
	}
	return n
}

// waitRows polls until events_mirror holds at least n rows.
func waitRows(tb testing.TB, db *store.DB, n int, timeout time.Duration) {
	tb.Helper()
	eventually(tb, timeout, fmt.Sprintf("events_mirror holds %d rows", n), func() bool {
		return tryCount(db, "SELECT count(*) FROM events_mirror") >= n
	})
}

// checkMirror asserts that events_mirror holds exactly the events of keys,
// once each: as many rows as keys, as many distinct keys, none missing.
func checkMirror(tb testing.TB, db *store.DB, keys []string) {
	tb.Helper()
	rows := count(tb, db, "SELECT count(*) FROM events_mirror")
	distinct := count(tb, db, "SELECT count(DISTINCT idempotency_key) FROM events_mirror")
	missing := count(tb, db, "SELECT count(*) FROM unnest($1::text[]) AS k WHERE NOT EXISTS (SELECT 1 FROM events_mirror WHERE idempotency_key = k)", keys)
	if rows != len(keys) || distinct != len(keys) || missing != 0 {
		tb.Fatalf("events_mirror: %d rows, %d distinct keys, %d published keys missing; want %d, %d, 0",
			rows, distinct, missing, len(keys), len(keys))
	}
}

// collector reads a subscription, acknowledging everything, and keeps
// what arrived.
type collector struct {
	mu   sync.Mutex
	msgs []*eventbus.Message
}

// collect subscribes c to filter and collects its messages until the test
// ends.
func collect(tb testing.TB, c *mqtt.Client, filter string) *collector {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	ch, err := c.Subscribe(ctx, filter)
	if err != nil {
		tb.Fatal(err)
	}
	col := &collector{}
	go func() {
		for m := range ch {
			col.mu.Lock()
			col.msgs = append(col.msgs, m)
			col.mu.Unlock()
			m.Ack()
		}
	}()
	return col
}

func (c *collector) messages() []*eventbus.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*eventbus.Message(nil), c.msgs...)
}

// keys returns how many times each idempotency key arrived (messages that
// are not envelopes are left out).
func (c *collector) keys() map[string]int {
	out := make(map[string]int)
	for _, m := range c.messages() {
		var env struct {
			Key string `json:"idempotency_key"`
		}
		if json.Unmarshal(m.Payload, &env) == nil && env.Key != "" {
			out[env.Key]++
		}
	}
	return out
}
