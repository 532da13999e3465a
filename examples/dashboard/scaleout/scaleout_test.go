package scaleout_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/uuid"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/examples/dashboard/app"
	"github.com/taylordash/taylordash/examples/dashboard/tracker"
	"github.com/taylordash/taylordash/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

const (
	// apiKey is both instances' bootstrap key (admin).
	apiKey = "scaleout-key-0123456789abcdef"
	// sensorTopics is where the outside client publishes (under
	// tracker/events/#, which the instances subscribe to).
	sensorTopics = "tracker/events/sensors/"
	// policyRounds is how many times a rule is added and removed.
	policyRounds = 5
)

// The run's size; CI runs the defaults, heavier runs take flags:
//
//	go test ./examples/dashboard/scaleout -count=1 -v -run TestTwoInstances -args -writes 4000 -published 4000 -clients 16
var (
	writesFlag    = flag.Int("writes", 500, "writes through the two APIs, alternately: half test events, half project creations, each writing one outbox event (even)")
	publishedFlag = flag.Int("published", 500, "events published on the broker by an outside client")
	clientsFlag   = flag.Int("clients", 4, "concurrent HTTP clients making the writes")
)

// isRunTopic tells the events of the run from the others (audit events).
func isRunTopic(topic string) bool {
	return topic == eventbuspg.TestTopic || topic == tracker.TopicProjectCreated || strings.HasPrefix(topic, sensorTopics)
}

// TestTwoInstances runs two instances of the dashboard against one
// database and one broker; see the package documentation for what it
// checks. Its figures go to docs/scaling.md.
func TestTwoInstances(t *testing.T) {
	apiWrites, mqttEvents := *writesFlag, *publishedFlag
	runEvents := apiWrites + mqttEvents
	if apiWrites%2 != 0 || runEvents == 0 || *clientsFlag < 1 {
		t.Fatalf("-writes %d must be even, the run not empty, -clients %d positive", apiWrites, *clientsFlag)
	}
	ctx := t.Context()
	// An empty database: the instances migrate it themselves, together.
	db := testkit.Postgres(t)
	broker := testkit.MQTT(t)
	insts := startInstances(t, db, broker)
	a, b := insts[0], insts[1]

	// Migrations: applied once, by one instance; both started.
	var rows, distinct int
	if err := db.DB.QueryRow(ctx, `SELECT count(*), count(DISTINCT (namespace, version)) FROM taylordash_migrations`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	appliedA, appliedB := a.logs.count("migration applied"), b.logs.count("migration applied")
	waited := a.logs.count("waiting for another instance to finish migrating") + b.logs.count("waiting for another instance to finish migrating")
	if rows == 0 || distinct != rows || appliedA+appliedB != rows || min(appliedA, appliedB) != 0 {
		t.Fatalf("migrations: %d rows (%d distinct); applied by a: %d, by b: %d; want every file once, all by one instance", rows, distinct, appliedA, appliedB)
	}
	t.Logf("migrations: %d files applied once (a: %d, b: %d); the other instance waited for the lock: %v", rows, appliedA, appliedB, waited > 0)
	for _, in := range insts {
		if status, body := in.Readiness(t); status != http.StatusOK {
			t.Fatalf("instance %s not ready: %d %v", in.name, status, body)
		}
	}

	// Watchers, in place before the first event: an SSE client on each
	// instance, and a plain subscriber on the broker.
	sse := []*sseClient{follow(t, a), follow(t, b)}
	obs := observe(t, broker)

	// The run: the two APIs alternately, and an outside MQTT publisher,
	// at once.
	start := time.Now()
	var wg sync.WaitGroup
	var apiTook, mqttTook time.Duration
	wg.Go(func() {
		writeThroughAPIs(t, insts, apiWrites, *clientsFlag)
		apiTook = time.Since(start)
	})
	wg.Go(func() {
		publishOnBroker(t, broker, mqttEvents)
		mqttTook = time.Since(start)
	})
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Every event stored once, and taken from the broker by an instance.
	var stored, received int
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if err := db.DB.QueryRow(ctx, `
			SELECT count(*), count(received_at) FROM events_mirror
			 WHERE topic = ANY($1) OR topic LIKE $2`,
			[]string{eventbuspg.TestTopic, tracker.TopicProjectCreated}, sensorTopics+"%").Scan(&stored, &received); err != nil {
			t.Fatal(err)
		}
		if received >= runEvents || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	allIngested := time.Since(start)
	if stored != runEvents || received != runEvents {
		t.Fatalf("mirror: %d events of the run stored, %d of them received from the broker; want %d", stored, received, runEvents)
	}
	byClass := map[string]int{}
	classRows, err := db.DB.Query(ctx, `
		SELECT CASE WHEN topic LIKE $1 THEN 'sensors' ELSE topic END, count(*), count(DISTINCT idempotency_key)
		  FROM events_mirror WHERE topic = ANY($2) OR topic LIKE $1 GROUP BY 1`,
		sensorTopics+"%", []string{eventbuspg.TestTopic, tracker.TopicProjectCreated})
	if err != nil {
		t.Fatal(err)
	}
	for classRows.Next() {
		var class string
		var n, keys int
		if err := classRows.Scan(&class, &n, &keys); err != nil {
			t.Fatal(err)
		}
		if n != keys {
			t.Errorf("mirror: %d rows of %s for %d keys", n, class, keys)
		}
		byClass[class] = n
	}
	if classRows.Err() != nil {
		t.Fatal(classRows.Err())
	}
	if byClass[eventbuspg.TestTopic] != apiWrites/2 || byClass[tracker.TopicProjectCreated] != apiWrites/2 || byClass["sensors"] != mqttEvents {
		t.Fatalf("mirror by kind of event: %v", byClass)
	}

	// Each outbox row published once: all marked sent, and the broker
	// delivered each to the observer once.
	outboxKeys := map[string]bool{}
	keyRows, err := db.DB.Query(ctx, `SELECT idempotency_key, sent_at IS NOT NULL FROM outbox WHERE topic = ANY($1)`,
		[]string{eventbuspg.TestTopic, tracker.TopicProjectCreated})
	if err != nil {
		t.Fatal(err)
	}
	unsent := 0
	for keyRows.Next() {
		var k string
		var sent bool
		if err := keyRows.Scan(&k, &sent); err != nil {
			t.Fatal(err)
		}
		outboxKeys[k] = true
		if !sent {
			unsent++
		}
	}
	if keyRows.Err() != nil {
		t.Fatal(keyRows.Err())
	}
	if len(outboxKeys) != apiWrites || unsent != 0 {
		t.Fatalf("outbox: %d rows of the run, %d unsent; want %d, 0", len(outboxKeys), unsent, apiWrites)
	}
	waitFor(t, "the observer receives every event", func() bool { return obs.distinct() >= runEvents })
	var relayLatency []time.Duration
	for k := range outboxKeys {
		d, ok := obs.get(k)
		if !ok || d.count != 1 {
			t.Errorf("outbox event %s delivered %d times by the broker", k, d.count)
		}
		relayLatency = append(relayLatency, d.lag)
	}
	if n := obs.total(); n != runEvents {
		t.Errorf("the observer got %d deliveries for %d events", n, runEvents)
	}

	// SSE: each client saw every event of the run, once.
	for _, c := range sse {
		waitFor(t, "the SSE client of "+c.inst+" sees every event", func() bool { return c.distinct() >= runEvents })
		if n, dups := c.distinct(), c.duplicates(); n != runEvents || dups != 0 {
			t.Errorf("SSE on %s: %d events, %d twice; want %d, 0", c.inst, n, dups, runEvents)
		}
	}

	// The shared subscription split the ingest, with no duplicate; the
	// relays published each row once between them. The counters are
	// compared with the database once everything settled (audit events
	// count too).
	var ing [2]ingestFigures
	waitFor(t, "the instances' counters match the database", func() bool {
		var mirrored, sent int
		if err := db.DB.QueryRow(ctx, `SELECT (SELECT count(received_at) FROM events_mirror), (SELECT count(sent_at) FROM outbox)`).Scan(&mirrored, &sent); err != nil {
			t.Fatal(err)
		}
		for i, in := range insts {
			ing[i] = in.ingest(t)
		}
		return ing[0].stored+ing[1].stored == mirrored && ing[0].published+ing[1].published == sent
	})
	for i, in := range insts {
		if ing[i].duplicate != 0 || ing[i].deadLettered != 0 || ing[i].stored == 0 {
			t.Errorf("instance %s ingested %+v: want some stored, none duplicate or dead-lettered", in.name, ing[i])
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Connections the two instances hold on the database, besides the
	// test's own pool: their pools' and the dedicated ones (LISTEN,
	// leases).
	var conns int
	if err := db.DB.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()`).Scan(&conns); err != nil {
		t.Fatal(err)
	}
	conns -= int(db.DB.Pool.Stat().TotalConns())
	pooled := ing[0].poolConns + ing[1].poolConns

	// A policy change on a is enforced by b within a second.
	propagation := policyPropagation(t, a, b)

	t.Logf("figures (GOMAXPROCS %d, %d HTTP clients):", runtimeProcs(), *clientsFlag)
	t.Logf("  events: %d (%d through the APIs in %v, %.0f writes/s; %d from MQTT in %v), all stored and ingested in %v: %.0f events/s, the last %v after the last was sent",
		runEvents, apiWrites, apiTook.Round(time.Millisecond), float64(apiWrites)/apiTook.Seconds(), mqttEvents, mqttTook.Round(time.Millisecond),
		allIngested.Round(time.Millisecond), float64(runEvents)/allIngested.Seconds(), (allIngested - max(apiTook, mqttTook)).Round(time.Millisecond))
	t.Logf("  ingest split: a %d, b %d (duplicates 0); outbox rows published: a %d, b %d", ing[0].stored, ing[1].stored, ing[0].published, ing[1].published)
	t.Logf("  relay latency (write's envelope ts to the broker's delivery): p50 %v, p99 %v, max %v",
		pct(relayLatency, 50), pct(relayLatency, 99), pct(relayLatency, 100))
	for _, c := range sse {
		lag := c.lags()
		t.Logf("  SSE on %s (ts to the client): p50 %v, p99 %v, max %v; resets %d", c.inst, pct(lag, 50), pct(lag, 99), pct(lag, 100), c.resetCount())
	}
	t.Logf("  policy change on a enforced by b after: p50 %v, max %v (%d changes)", pct(propagation, 50), pct(propagation, 100), len(propagation))
	t.Logf("  database connections held by the two instances: %d (pools %d, max 10 each; dedicated %d)", conns, pooled, conns-pooled)
}

// instance is one replica of the dashboard.
type instance struct {
	name string
	*testkit.TestApp
	logs *logCounter
}

// startInstances starts two instances at once on db and broker, as a
// deployment's replicas start: one database, one broker prefix, one
// shared subscription group, a client id each, one plugin directory (a
// shared volume).
func startInstances(t *testing.T, db *testkit.Database, broker *testkit.Broker) [2]*instance {
	t.Helper()
	plugins := t.TempDir()
	suffix := strings.Trim(strings.ReplaceAll(broker.Prefix, "/", "-"), "-")
	var insts [2]*instance
	var wg sync.WaitGroup
	for i, name := range []string{"a", "b"} {
		in := &instance{name: name, logs: &logCounter{byMsg: map[string]int{}}}
		insts[i] = in
		env := map[string]string{
			"TAYLORDASH_DATABASE_URL":       db.URL,
			"TAYLORDASH_DATABASE_MAX_CONNS": "10",
			"TAYLORDASH_MQTT_URL":           broker.URL,
			"TAYLORDASH_MQTT_TOPIC_PREFIX":  broker.Prefix,
			"TAYLORDASH_MQTT_CLIENT_ID":     "scaleout-" + name + "-" + suffix,
			"TAYLORDASH_MQTT_SHARED_GROUP":  "dashboard",
			"TAYLORDASH_API_KEY":            apiKey,
			"TAYLORDASH_PLUGINS_DIR":        plugins,
			// The run's writers share one key and one address: a
			// limiter in front of the instances would count them.
			"TAYLORDASH_AUTH_RATE_LIMIT_DISABLED": "true",
		}
		// testkit.App fails the test from this goroutine if the start
		// fails: that ends the goroutine, and the check below stops.
		wg.Go(func() {
			in.TestApp = testkit.App(t, app.Modules(), testkit.Env(env),
				fx.Provide(dashcore.AsLogHandlerWrapper(in.logs.wrapper)))
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return insts
}

// do sends a request with the key and an optional JSON body, and returns
// the status and body.
func (in *instance) do(t *testing.T, method, path, key string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Error(err)
			return 0, nil
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, in.URL+path, r)
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	req.Header.Set("X-API-Key", key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := in.Client.Do(req)
	if err != nil {
		t.Errorf("%s %s on %s: %v", method, path, in.name, err)
		return 0, nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Errorf("%s %s on %s: read: %v", method, path, in.name, err)
	}
	return resp.StatusCode, b
}

// writeThroughAPIs makes n API writes from clients concurrent clients,
// each request to the next instance: test events and project creations,
// alternately.
func writeThroughAPIs(t *testing.T, insts [2]*instance, n, clients int) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := range jobs {
				in := insts[i%2]
				if (i/2)%2 == 0 {
					if status, body := in.do(t, http.MethodPost, "/api/v1/events/test", apiKey, nil); status != http.StatusOK {
						t.Errorf("test event %d on %s: %d %s", i, in.name, status, body)
					}
				} else {
					if status, body := in.do(t, http.MethodPost, "/api/v1/projects", apiKey, map[string]any{"name": fmt.Sprintf("scale-out %d", i)}); status != http.StatusCreated {
						t.Errorf("project %d on %s: %d %s", i, in.name, status, body)
					}
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}

// publishOnBroker publishes n outside events, as a device would: valid
// envelopes, QoS 1, on five topics.
func publishOnBroker(t *testing.T, broker *testkit.Broker, n int) {
	c := connect(t, broker, "publisher")
	if c == nil {
		return
	}
	defer c.Disconnect(250)
	tokens := make([]paho.Token, 0, n)
	for i := range n {
		env, _ := json.Marshal(map[string]any{
			"trace_id": uuid.NewString(), "ts": time.Now().UTC().Format(time.RFC3339Nano), "kind": "reading",
			"idempotency_key": fmt.Sprintf("reading-%s-%d", strings.ReplaceAll(broker.Prefix, "/", "-"), i), "source": "sensor",
			"payload": map[string]any{"sensor": i % 5, "value": i},
		})
		tokens = append(tokens, c.Publish(broker.Prefix+sensorTopics+"s"+strconv.Itoa(i%5), 1, false, env))
		if len(tokens)%50 == 0 { // a device does not flood: 50 in flight
			for _, tok := range tokens[len(tokens)-50:] {
				if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
					t.Errorf("publish: %v", tok.Error())
					return
				}
			}
		}
	}
	for _, tok := range tokens {
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Errorf("publish: %v", tok.Error())
			return
		}
	}
}

// connect returns a connected MQTT client of the test with a clean
// session, or nil after reporting the error.
func connect(t *testing.T, broker *testkit.Broker, role string) paho.Client {
	t.Helper()
	id := "scaleout-" + role + "-" + strings.Trim(strings.ReplaceAll(broker.Prefix, "/", "-"), "-")
	c := paho.NewClient(paho.NewClientOptions().AddBroker(broker.URL).SetClientID(id).SetCleanSession(true))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Errorf("connect %s: %v", role, tok.Error())
		return nil
	}
	return c
}

// delivery is what the observer got for one event.
type delivery struct {
	count int
	lag   time.Duration // first delivery's time after the envelope's ts
}

// observer counts the broker's deliveries of the run's events.
type observer struct {
	mu    sync.Mutex
	byKey map[string]delivery
	n     int
}

// observe subscribes a plain client (not in the shared group) to every
// event topic of the test.
func observe(t *testing.T, broker *testkit.Broker) *observer {
	t.Helper()
	o := &observer{byKey: map[string]delivery{}}
	c := connect(t, broker, "observer")
	if c == nil {
		t.FailNow()
	}
	t.Cleanup(func() { c.Disconnect(250) })
	tok := c.Subscribe(broker.Prefix+"tracker/events/#", 1, func(_ paho.Client, m paho.Message) {
		now := time.Now()
		if !isRunTopic(strings.TrimPrefix(m.Topic(), broker.Prefix)) {
			return
		}
		var env struct {
			Key string    `json:"idempotency_key"`
			TS  time.Time `json:"ts"`
		}
		if json.Unmarshal(m.Payload(), &env) != nil {
			return
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		d, seen := o.byKey[env.Key]
		d.count++
		if !seen {
			d.lag = now.Sub(env.TS)
		}
		o.byKey[env.Key] = d
		o.n++
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("observer subscribe: %v", tok.Error())
	}
	return o
}

func (o *observer) distinct() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.byKey)
}

func (o *observer) total() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n
}

func (o *observer) get(key string) (delivery, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	d, ok := o.byKey[key]
	return d, ok
}

// sseClient follows GET /api/v1/events/stream of one instance, as a
// browser's EventSource does: when the stream ends it reconnects with
// Last-Event-ID.
type sseClient struct {
	inst   string
	mu     sync.Mutex
	seen   map[string]time.Duration // run event → lag from its ts
	dups   int
	resets int
}

// follow opens the stream of in and reads it until the test ends.
func follow(t *testing.T, in *instance) *sseClient {
	t.Helper()
	c := &sseClient{inst: in.name, seen: map[string]time.Duration{}}
	ctx, cancel := context.WithCancel(context.Background())
	client := &http.Client{} // a stream has no overall timeout
	open := func(last string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.URL+"/api/v1/events/stream", nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("X-API-Key", apiKey)
		if last != "" {
			req.Header.Set("Last-Event-ID", last)
		}
		resp, err := client.Do(req)
		if err == nil && resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("stream: status %d", resp.StatusCode)
		}
		return resp, err
	}
	resp, err := open("")
	if err != nil {
		cancel()
		t.Fatalf("SSE on %s: %v", in.name, err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		last := ""
		for {
			last = c.read(resp.Body, last)
			resp.Body.Close()
			if ctx.Err() != nil {
				return
			}
			c.mu.Lock()
			c.resets++
			c.mu.Unlock()
			for {
				if resp, err = open(last); err == nil {
					break
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}()
	return c
}

// read consumes one connection's events and returns the last id.
func (c *sseClient) read(body io.Reader, last string) string {
	lines := bufio.NewScanner(body)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	id := ""
	for lines.Scan() {
		line := lines.Text()
		if v, ok := strings.CutPrefix(line, "id: "); ok {
			id = v
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || id == "" {
			continue
		}
		now := time.Now()
		last, id = id, ""
		var ev struct {
			Topic string    `json:"topic"`
			Key   string    `json:"idempotency_key"`
			TS    time.Time `json:"ts"`
		}
		if json.Unmarshal([]byte(data), &ev) != nil || !isRunTopic(ev.Topic) {
			continue
		}
		c.mu.Lock()
		if _, dup := c.seen[ev.Key]; dup {
			c.dups++
		} else {
			c.seen[ev.Key] = now.Sub(ev.TS)
		}
		c.mu.Unlock()
	}
	return last
}

func (c *sseClient) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func (c *sseClient) duplicates() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dups
}

func (c *sseClient) resetCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resets
}

func (c *sseClient) lags() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]time.Duration, 0, len(c.seen))
	for _, d := range c.seen {
		out = append(out, d)
	}
	return out
}

// ingestFigures are an instance's event counters, from its /metrics.
type ingestFigures struct {
	stored, duplicate, deadLettered, published int
	poolConns                                  int
}

// ingest reads the instance's ingest and relay counters, and its pool's
// size.
func (in *instance) ingest(t *testing.T) ingestFigures {
	t.Helper()
	status, body := in.do(t, http.MethodGet, "/metrics", apiKey, nil)
	if status != http.StatusOK {
		t.Fatalf("metrics of %s: %d", in.name, status)
	}
	return ingestFigures{
		stored:       metricSum(body, "taylor_ingest_total", `result="stored"`),
		duplicate:    metricSum(body, "taylor_ingest_total", `result="duplicate"`),
		deadLettered: metricSum(body, "taylor_ingest_total", `result="dead_lettered"`),
		published:    metricSum(body, "taylordash_events_outbox_published_total", ""),
		poolConns:    metricSum(body, "taylor_db_pool_total_connections", ""),
	}
}

// metricSum adds up the samples of name whose labels contain label, in a
// Prometheus text exposition.
func metricSum(body []byte, name, label string) int {
	sum := 0.0
	for line := range strings.Lines(string(body)) {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') || !strings.Contains(rest, label) {
			continue
		}
		fields := strings.Fields(rest)
		if v, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil {
			sum += v
		}
	}
	return int(math.Round(sum))
}

// policyPropagation adds a rule on a (viewers may write events) and
// measures, from the request to a, how long b takes to allow a viewer's
// write; then removes it and measures the refusal; policyRounds times.
// Each must take less than a second.
func policyPropagation(t *testing.T, a, b *instance) []time.Duration {
	t.Helper()
	status, body := a.do(t, http.MethodPost, "/api/v1/auth/keys", apiKey, map[string]any{"name": "scale-out viewer", "roles": []string{"viewer"}})
	var key struct{ Key string }
	if status != http.StatusCreated || json.Unmarshal(body, &key) != nil || key.Key == "" {
		t.Fatalf("create a viewer key on a: %d %s", status, body)
	}
	onB := func() int {
		status, _ := b.do(t, http.MethodPost, "/api/v1/events/test", key.Key, nil)
		return status
	}
	if s := onB(); s != http.StatusForbidden {
		t.Fatalf("a viewer writes events on b before any change: %d", s)
	}
	rule := map[string]any{"rules": []map[string]string{{"type": "p", "role": "viewer", "domain": "*", "resource": "events", "action": "write"}}}
	var took []time.Duration
	change := func(path string, wantA, wantB int) {
		sent := time.Now()
		if status, body := a.do(t, http.MethodPost, path, apiKey, rule); status != wantA {
			t.Fatalf("%s on a: %d %s", path, status, body)
		}
		for onB() != wantB {
			if time.Since(sent) > time.Second {
				t.Fatalf("%s on a: b does not answer %d after %v", path, wantB, time.Since(sent))
			}
			time.Sleep(2 * time.Millisecond)
		}
		took = append(took, time.Since(sent))
	}
	for range policyRounds {
		change("/api/v1/auth/policies", http.StatusCreated, http.StatusOK)
		change("/api/v1/auth/policies/remove", http.StatusOK, http.StatusForbidden)
	}
	return took
}

// waitFor polls cond for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pct returns the p-th percentile of ds (nearest rank); 100 is the max.
func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(i, 0)].Round(100 * time.Microsecond)
}

// logCounter counts the records an instance logs, by message.
type logCounter struct {
	mu    sync.Mutex
	byMsg map[string]int
}

func (c *logCounter) count(msg string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byMsg[msg]
}

// wrapper is the instance's log handler wrapper: it counts, then passes
// the record on.
func (c *logCounter) wrapper() dashcore.LogHandlerWrapper {
	return dashcore.LogHandlerWrapper{Name: "scaleout.count", Order: math.MaxInt, Wrap: func(h slog.Handler) slog.Handler {
		return countingHandler{next: h, c: c}
	}}
}

type countingHandler struct {
	next slog.Handler
	c    *logCounter
}

func (h countingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.next.Enabled(ctx, l)
}

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	h.c.mu.Lock()
	h.c.byMsg[r.Message]++
	h.c.mu.Unlock()
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return countingHandler{next: h.next.WithAttrs(as), c: h.c}
}

func (h countingHandler) WithGroup(name string) slog.Handler {
	return countingHandler{next: h.next.WithGroup(name), c: h.c}
}

var _ slog.Handler = countingHandler{}

// runtimeProcs is the GOMAXPROCS the figures were taken with.
func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
