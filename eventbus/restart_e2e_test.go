package eventbus_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/testkit"
)

// restartEvents is how many events the restart tests publish.
const restartEvents = 10000

// 10,000 events are published while the broker restarts (a clean
// shutdown, which saves its database, and a start from it): every event
// ends in the mirror once, none lost, none twice.
func TestE2EBrokerRestartMidStream(t *testing.T) {
	broker := startBroker(t, e2eBrokerConfig)
	db := testkit.Postgres(t, eventbuspg.Migrations)
	p := startPipeline(t, pipelineOptions{URL: broker.URL(), DB: db.DB})
	pub := newPublisher(t, broker.URL())
	msgs, keys := events(t, restartEvents)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	start := time.Now()
	published := make(chan error, 1)
	go func() { published <- pub.publishAll(ctx, msgs, 8) }()
	eventually(t, time.Minute, "3,000 events are published", func() bool { return pub.done.Load() >= 3000 })
	atRestart, storedAtRestart := pub.done.Load(), p.rec.stored.Load()
	if err := broker.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("broker restarted after %d events published, %d stored, in %s", atRestart, storedAtRestart, time.Since(start).Round(time.Millisecond))
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	waitRows(t, db.DB, restartEvents, 2*time.Minute)
	elapsed := time.Since(start)
	checkMirror(t, db.DB, keys)

	_, subReconnects := p.client.Reconnects()
	if subReconnects < 1 {
		t.Errorf("the pipeline's subscribing connection reconnected %d times; the restart was not seen", subReconnects)
	}
	handled, distinct := p.handled.total()
	if distinct != restartEvents {
		t.Errorf("handlers saw %d distinct events, want %d", distinct, restartEvents)
	}
	t.Logf("%d events stored once each in %s: %d deliveries were duplicates (dropped by the mirror's idempotency key), %d handler runs, %d publish retries",
		restartEvents, elapsed.Round(time.Millisecond), p.rec.duplicates.Load(), handled, pub.retries.Load())
}

// The same while PostgreSQL restarts (a fast shutdown, cutting the
// pipeline's connections, and a start a second later on the same data
// and port): the pipeline keeps its batch unacknowledged and retries,
// and the mirror ends with every event once.
func TestE2EPostgresRestartMidStream(t *testing.T) {
	broker := startBroker(t, e2eBrokerConfig)
	pg := startCluster(t)
	p := startPipeline(t, pipelineOptions{URL: broker.URL(), DB: pg.db})
	pub := newPublisher(t, broker.URL())
	msgs, keys := events(t, restartEvents)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	start := time.Now()
	published := make(chan error, 1)
	go func() { published <- pub.publishAll(ctx, msgs, 8) }()
	eventually(t, time.Minute, "3,000 events are stored", func() bool { return p.rec.stored.Load() >= 3000 })
	pg.stop()
	stopped := time.Now()
	t.Logf("PostgreSQL stopped after %d events stored, %d published", p.rec.stored.Load(), pub.done.Load())
	eventually(t, 30*time.Second, "the pipeline fails to store", func() bool { return p.rec.failures.Load() > 0 })
	time.Sleep(time.Until(stopped.Add(1500 * time.Millisecond))) // the outage itself, not a synchronisation
	pg.start()
	t.Logf("PostgreSQL started again after %s; the mirror had failed %d times", time.Since(stopped).Round(time.Millisecond), p.rec.failures.Load())
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	waitRows(t, pg.db, restartEvents, 2*time.Minute)
	elapsed := time.Since(start)
	checkMirror(t, pg.db, keys)
	if _, sub := p.client.Reconnects(); sub != 0 {
		t.Errorf("the subscribing connection reconnected %d times during a database outage; want 0 (back-pressure, not a lost connection)", sub)
	}
	handled, distinct := p.handled.total()
	t.Logf("%d events stored once each in %s: %d failed store attempts while the database was down, %d duplicate deliveries, handlers ran %d times for %d events",
		restartEvents, elapsed.Round(time.Millisecond), p.rec.failures.Load(), p.rec.duplicates.Load(), handled, distinct)
}

// The application stops while the database is down, with messages
// delivered but not stored: they stay with the broker, unacknowledged,
// and the next instance with the same ClientID stores them all.
func TestE2EStopWhileDatabaseDown(t *testing.T) {
	const before, during = 300, 700
	broker := startBroker(t, e2eBrokerConfig)
	pg := startCluster(t)
	id := clientID(t, "app")
	first := startPipeline(t, pipelineOptions{URL: broker.URL(), ClientID: id, DB: pg.db})
	pub := newPublisher(t, broker.URL())
	msgs, keys := events(t, before+during)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if err := pub.publishAll(ctx, msgs[:before], 4); err != nil {
		t.Fatal(err)
	}
	waitRows(t, pg.db, before, 30*time.Second)
	pg.stop()
	if err := pub.publishAll(ctx, msgs[before:], 4); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the pipeline fails to store", func() bool { return first.rec.failures.Load() > 0 })
	stopStart := time.Now()
	first.stop(t)
	t.Logf("the first instance stopped in %s with the database down (%d failed store attempts)",
		time.Since(stopStart).Round(100*time.Microsecond), first.rec.failures.Load())
	if got := first.rec.stored.Load(); got != before {
		t.Fatalf("the first instance stored %d events, want %d", got, before)
	}

	pg.start()
	second := startPipeline(t, pipelineOptions{URL: broker.URL(), ClientID: id, DB: pg.db})
	waitRows(t, pg.db, before+during, time.Minute)
	checkMirror(t, pg.db, keys)
	if got := second.rec.stored.Load(); got != during {
		t.Errorf("the second instance stored %d events, want the %d left unacknowledged", got, during)
	}
	t.Logf("the second instance stored %d events (%d deliveries were duplicates)", second.rec.stored.Load(), second.rec.duplicates.Load())
}

// The application stops while its handlers are busy (each takes a
// millisecond and honours its context): Stop lets every batch already
// stored finish its handlers and acknowledges it, so that no event is
// left stored but never handled (its redelivery would be a Duplicate,
// which Dedup skips). The next instance with the same ClientID handles
// the rest: every event is handled exactly once over the two.
func TestE2EStopFinishesStoredBatches(t *testing.T) {
	const n = 3000
	broker := startBroker(t, e2eBrokerConfig)
	db := testkit.Postgres(t, eventbuspg.Migrations)
	id := clientID(t, "app")
	slow := []eventbus.Route{{Name: "slow", Pattern: "tracker/events/#", Handler: func(ctx context.Context, _ *eventbus.Event) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
			return nil
		}
	}}}
	first := startPipeline(t, pipelineOptions{URL: broker.URL(), ClientID: id, DB: db.DB, Routes: slow})
	pub := newPublisher(t, broker.URL())
	msgs, keys := events(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := pub.publishAll(ctx, msgs, 4); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "a third of the events are handled", func() bool {
		_, handled := first.handled.total()
		return handled >= n/3
	})
	first.stop(t)
	rows := count(t, db.DB, "SELECT count(*) FROM events_mirror")
	handledFirst := first.handled.snapshot()
	unhandled := count(t, db.DB, "SELECT count(*) FROM events_mirror WHERE NOT (idempotency_key = ANY($1))", mapKeys(handledFirst))
	t.Logf("stopped with %d events stored, %d handled by the first instance", rows, len(handledFirst))
	if unhandled != 0 {
		t.Errorf("%d events were stored by the first instance but never handled by it", unhandled)
	}

	second := startPipeline(t, pipelineOptions{URL: broker.URL(), ClientID: id, DB: db.DB})
	waitRows(t, db.DB, n, time.Minute)
	checkMirror(t, db.DB, keys)
	eventually(t, 30*time.Second, "every event is handled", func() bool {
		_, handled := second.handled.total()
		return len(handledFirst)+handled >= n
	})
	handledSecond := second.handled.snapshot()
	for _, k := range keys {
		if got := handledFirst[k] + handledSecond[k]; got != 1 {
			t.Fatalf("event %s was handled %d times (first instance %d, second %d), want once", k, got, handledFirst[k], handledSecond[k])
		}
	}
	t.Logf("the second instance handled the other %d events (%d deliveries were duplicates)", len(handledSecond), second.rec.duplicates.Load())
}

func mapKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestE2EHandlersRunAfterACrashBetweenCommitAndHandlers: events stored in
// the mirror whose handlers never finished (the process died between the
// commit and the handlers) are handled when the broker delivers them
// again. Handling is at least once: events of the batch that was cut off
// may run twice, but none of a batch that finished before the crash.
func TestE2EHandlersRunAfterACrashBetweenCommitAndHandlers(t *testing.T) {
	const n = 400
	broker := startBroker(t, e2eBrokerConfig)
	db := testkit.Postgres(t, eventbuspg.Migrations)
	id := clientID(t, "app")
	// The first instance's handler hangs from the 101st event on: the
	// batches stored after it are never handled, as if the process had died.
	var seen atomic.Int32
	hang := []eventbus.Route{{Name: "hang", Pattern: "tracker/events/#", Handler: func(ctx context.Context, _ *eventbus.Event) error {
		if seen.Add(1) > 100 {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}}}
	first := startPipeline(t, pipelineOptions{URL: broker.URL(), ClientID: id, DB: db.DB, Routes: hang})
	pub := newPublisher(t, broker.URL())
	msgs, keys := events(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pub.publishAll(ctx, msgs, 4); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the hung instance stored events it did not handle", func() bool {
		return seen.Load() > 100 && tryCount(db.DB, "SELECT count(*) FROM events_inflight") > 0
	})
	// Kill it: a stop whose deadline has passed gives the handlers up.
	dead, cancelDead := context.WithCancel(context.Background())
	cancelDead()
	_ = first.ingest.Stop(dead)
	first.stop(t)
	handledFirst := first.handled.snapshot()
	stored := count(t, db.DB, "SELECT count(*) FROM events_mirror")
	inflight := count(t, db.DB, "SELECT count(DISTINCT i) FROM events_inflight, unnest(mirror_ids) AS i")
	t.Logf("killed with %d events stored, %d handled, %d marked in flight", stored, len(handledFirst), inflight)
	if inflight == 0 {
		t.Fatal("no event was left in flight: the test proves nothing")
	}

	restarted := time.Now()
	second := startPipeline(t, pipelineOptions{URL: broker.URL(), ClientID: id, DB: db.DB})
	waitRows(t, db.DB, n, time.Minute)
	eventually(t, 30*time.Second, "every event is handled", func() bool {
		h := second.handled.snapshot()
		for _, k := range keys {
			if handledFirst[k]+h[k] == 0 {
				return false
			}
		}
		return true
	})
	// The second instance clears its own marks. Marks the killed one left
	// for batches it had handled and acknowledged stay (their messages never
	// come back) until retention removes them; they cost only a second
	// handling of a later copy of those events.
	eventually(t, 10*time.Second, "the second instance's batches are no longer in flight", func() bool {
		var n int
		_ = db.DB.QueryRow(context.Background(), "SELECT count(*) FROM events_inflight WHERE created_at >= $1", restarted).Scan(&n)
		return n == 0
	})
	again := 0
	for k, c := range second.handled.snapshot() {
		if handledFirst[k] > 0 && c > 0 {
			again++
		}
	}
	t.Logf("the second instance handled the rest; %d events were handled a second time (the batch cut off)", again)
	if again > e2eBatchSize {
		t.Errorf("%d events were handled twice: more than the one batch that was cut off", again)
	}
}
