package eventbuspg_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// bundle is what most tests need: a fresh migrated database and the
// package's stores on it.
type bundle struct {
	db      *testkit.Database
	mirror  *eventbuspg.Mirror
	dlq     *eventbuspg.DeadLetterStore
	outbox  *eventbuspg.Outbox
	metrics *countingProvider
}

func setup(tb testing.TB) bundle {
	tb.Helper()
	db := testkit.Postgres(tb, eventbuspg.Migrations)
	mp := newCountingProvider()
	return bundle{
		db:      db,
		mirror:  eventbuspg.NewMirror(db.DB, eventbuspg.WithMeterProvider(mp)),
		dlq:     eventbuspg.NewDeadLetterStore(db.DB, eventbuspg.WithMeterProvider(mp)),
		outbox:  eventbuspg.NewOutbox(db.DB, eventbuspg.OutboxConfig{Source: "test"}),
		metrics: mp,
	}
}

// count returns the result of a count query.
func (b bundle) count(tb testing.TB, query string, args ...any) int {
	tb.Helper()
	var n int
	if err := b.db.DB.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}

// exec runs a statement or fails the test.
func (b bundle) exec(tb testing.TB, query string, args ...any) {
	tb.Helper()
	if _, err := b.db.DB.Exec(context.Background(), query, args...); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
}

// startRelay starts a relay on b's database and stops it when the test
// ends.
func (b bundle) startRelay(tb testing.TB, pub eventbus.Publisher, cfg eventbuspg.RelayConfig) *eventbuspg.Relay {
	tb.Helper()
	r := eventbuspg.NewRelay(b.db.DB, pub, cfg, testkit.NewLogger(tb))
	if err := r.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			tb.Errorf("stop relay: %v", err)
		}
	})
	return r
}

// newEvent returns an event of kind on topic with key as idempotency key
// and payload (a JSON object, or "").
func newEvent(tb testing.TB, topic, kind, key, payload string) *eventbus.Event {
	tb.Helper()
	env, err := eventbus.New(context.Background(), "test", kind, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if key != "" {
		env.IdempotencyKey = key
	}
	if payload != "" {
		env.Payload = []byte(payload)
	}
	return &eventbus.Event{Topic: topic, Envelope: env, ReceivedAt: time.Now()}
}

// delivery is one message a recordingPublisher accepted.
type delivery struct {
	Topic   string
	Payload []byte
	At      time.Time
}

// recordingPublisher is a broker stand-in for the relay and replay tests:
// it records what it accepts, fails while down, and runs an optional hook
// before accepting (to delay, or to crash the caller).
type recordingPublisher struct {
	mu     sync.Mutex
	got    []delivery
	down   error
	calls  int
	before func(d delivery) error
	closed bool
	notify chan struct{}
}

func newRecordingPublisher() *recordingPublisher {
	return &recordingPublisher{notify: make(chan struct{}, 1)}
}

var errBrokerDown = errors.New("broker down")

func (p *recordingPublisher) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d := delivery{Topic: topic, Payload: append([]byte(nil), payload...), At: time.Now()}
	p.mu.Lock()
	p.calls++
	down, before, closed := p.down, p.before, p.closed
	p.mu.Unlock()
	if closed {
		return errors.New("publisher closed")
	}
	if down != nil {
		return down
	}
	if before != nil {
		if err := before(d); err != nil {
			return err
		}
	}
	p.mu.Lock()
	p.got = append(p.got, d)
	p.mu.Unlock()
	select {
	case p.notify <- struct{}{}:
	default:
	}
	return nil
}

func (p *recordingPublisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	return nil
}

func (p *recordingPublisher) setDown(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = err
}

func (p *recordingPublisher) setBefore(f func(d delivery) error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.before = f
}

func (p *recordingPublisher) deliveries() []delivery {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]delivery(nil), p.got...)
}

// waitFor polls cond until it holds, or fails the test after timeout.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// parse reads a published envelope.
func parse(tb testing.TB, raw []byte) eventbus.Envelope {
	tb.Helper()
	env, err := eventbus.Parse(raw, eventbus.ParseOptions{})
	if err != nil {
		tb.Fatalf("published message %q: %v", raw, err)
	}
	return env
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
