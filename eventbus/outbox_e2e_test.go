package eventbus_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/eventbus/mqtt"
	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

// crashingPublisher publishes through inner and, once the broker has
// accepted the message carrying key, runs crash before it returns: the
// relay dies between the broker's acknowledgement and marking the row
// sent.
type crashingPublisher struct {
	inner eventbus.Publisher
	key   string
	crash func()
	once  sync.Once
}

func (c *crashingPublisher) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := c.inner.Publish(ctx, topic, payload); err != nil {
		return err
	}
	if bytes.Contains(payload, []byte(c.key)) {
		c.once.Do(c.crash)
	}
	return nil
}

func (c *crashingPublisher) Close() error { return nil }

// The transactional outbox through the real broker and the ingest
// pipeline: a rolled-back write publishes nothing and mirrors nothing; a
// committed one reaches a plain MQTT subscriber once, is marked sent, and
// comes back through ingest once; and a relay that dies between the
// broker's acknowledgement and marking the row sent makes the next relay
// publish it again, which the mirror stores once and the handlers see
// once.
func TestE2EOutbox(t *testing.T) {
	broker := startBroker(t, e2eBrokerConfig)
	db := testkit.Postgres(t, eventbuspg.Migrations)
	p := startPipeline(t, pipelineOptions{URL: broker.URL(), DB: db.DB})
	plain := startClient(t, mqtt.Config{URL: broker.URL(), ClientID: clientID(t, "plain"), CleanSession: true, WillTopic: "-"})
	seen := collect(t, plain, "tracker/events/#")
	outbox := eventbuspg.NewOutbox(db.DB, eventbuspg.OutboxConfig{Source: "e2e-app"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const topic = "tracker/events/projects/created"
	fast := eventbuspg.RelayConfig{PollInterval: time.Second, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	startRelay := func(pub eventbus.Publisher, cfg eventbuspg.RelayConfig) *eventbuspg.Relay {
		t.Helper()
		r := eventbuspg.NewRelay(db.DB, pub, cfg, testkit.NewLogger(t))
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := r.Stop(sctx); err != nil {
				t.Errorf("stop relay: %v", err)
			}
		})
		return r
	}
	publish := func(name string) eventbus.Envelope {
		t.Helper()
		env, err := outbox.Publish(ctx, topic, "project_created", map[string]string{"name": name})
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	// through waits until the event went all the way: to the plain
	// subscriber, marked sent, and through ingest to the handlers.
	through := func(env eventbus.Envelope, deliveries int) {
		t.Helper()
		eventually(t, 30*time.Second, string(env.Payload)+" is delivered, marked sent and handled", func() bool {
			return seen.keys()[env.IdempotencyKey] >= deliveries && p.handled.get(env.IdempotencyKey) > 0 &&
				tryCount(db.DB, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
		})
	}
	rows := func(key string) int {
		return count(t, db.DB, "SELECT count(*) FROM events_mirror WHERE idempotency_key = $1", key)
	}

	// Rolled back, then committed.
	relay := startRelay(p.client, fast)
	rollback := errors.New("roll back")
	var ghost eventbus.Envelope
	err := store.Tx(ctx, db.DB, func(tx pgx.Tx) error {
		var err error
		if ghost, err = outbox.PublishTx(ctx, tx, topic, "project_created", map[string]string{"name": "ghost"}); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("the transaction: %v", err)
	}
	committed := publish("committed")
	through(committed, 1)
	// A later event on the same topic, from the same relay: once it has
	// gone through, so has anything published before it.
	later := publish("later")
	through(later, 1)
	if n := seen.keys()[ghost.IdempotencyKey]; n != 0 || rows(ghost.IdempotencyKey) != 0 {
		t.Errorf("the rolled-back event reached the broker %d times and the mirror %d times, want 0 and 0", n, rows(ghost.IdempotencyKey))
	}
	if n := seen.keys()[committed.IdempotencyKey]; n != 1 {
		t.Errorf("the committed event reached the subscriber %d times, want once", n)
	}
	if n := count(t, db.DB, "SELECT count(*) FROM outbox WHERE idempotency_key = $1 AND sent_at IS NOT NULL", committed.IdempotencyKey); n != 1 {
		t.Errorf("the committed event's outbox row is not marked sent")
	}
	if n := count(t, db.DB, "SELECT count(*) FROM events_mirror WHERE idempotency_key = $1 AND received_at IS NOT NULL", committed.IdempotencyKey); n != 1 {
		t.Errorf("the committed event has %d mirror rows received back from the broker, want 1", n)
	}
	if h := p.handled.get(committed.IdempotencyKey); h != 1 {
		t.Errorf("the committed event was handled %d times, want once", h)
	}
	if err := relay.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// The relay dies between the broker's PUBACK and its commit: its
	// database connection is cut, as when the process is killed.
	crashed := publish("crashed")
	died := make(chan struct{})
	crashing := &crashingPublisher{inner: p.client, key: crashed.IdempotencyKey, crash: func() {
		defer close(died)
		var n int
		err := db.DB.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND state = 'idle in transaction' AND pid <> pg_backend_pid()`).Scan(&n)
		if err != nil || n != 1 {
			t.Errorf("terminating the relay's transaction: %d backends, %v", n, err)
		}
	}}
	dying := startRelay(crashing, eventbuspg.RelayConfig{PollInterval: time.Second, MinBackoff: time.Minute, MaxBackoff: time.Minute})
	select {
	case <-died:
	case <-ctx.Done():
		t.Fatal("the relay never published the event")
	}
	if err := dying.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db.DB, "SELECT count(*) FROM outbox WHERE sent_at IS NULL"); n != 1 {
		t.Fatalf("%d outbox rows unsent after the crash, want 1 (published, never marked)", n)
	}
	startRelay(p.client, fast)
	through(crashed, 2)
	last := publish("last")
	through(last, 1)

	if n := seen.keys()[crashed.IdempotencyKey]; n != 2 {
		t.Errorf("the event published before the crash reached the subscriber %d times, want twice (at least once)", n)
	}
	if n := rows(crashed.IdempotencyKey); n != 1 {
		t.Errorf("the mirror holds %d rows for it, want 1", n)
	}
	if h := p.handled.get(crashed.IdempotencyKey); h != 1 {
		t.Errorf("it was handled %d times, want once", h)
	}
	if n := count(t, db.DB, "SELECT count(*) FROM events_mirror"); n != 4 {
		t.Errorf("events_mirror holds %d rows, want 4", n)
	}
	t.Logf("the crashed relay's event was delivered twice, stored once, handled once; the mirror found %d duplicate deliveries", p.rec.duplicates.Load())
}
