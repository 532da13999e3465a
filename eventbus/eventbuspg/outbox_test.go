package eventbuspg_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/store"
)

// fastRelay is a relay configuration for tests: short backoff, and a
// poll interval long enough that only a notification explains a quick
// publication.
var fastRelay = eventbuspg.RelayConfig{PollInterval: 10 * time.Second, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}

func TestOutboxRolledBackTransactionPublishesNothing(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	pub := newRecordingPublisher()
	b.startRelay(t, pub, fastRelay)

	rollback := errors.New("roll back")
	err := store.Tx(ctx, b.db.DB, func(tx pgx.Tx) error {
		if _, err := b.outbox.PublishTx(ctx, tx, "tracker/events/projects/created", "project_created", map[string]string{"name": "ghost"}); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	// A committed marker, published after anything the rollback could
	// have let through.
	marker, err := b.outbox.Publish(ctx, "tracker/events/projects/created", "project_created", map[string]string{"name": "marker"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the marker", func() bool { return len(pub.deliveries()) > 0 })
	time.Sleep(50 * time.Millisecond)
	got := pub.deliveries()
	if len(got) != 1 || parse(t, got[0].Payload).ID != marker.ID {
		t.Errorf("published %d messages, want only the marker", len(got))
	}
	if n := b.count(t, "SELECT count(*) FROM events_mirror"); n != 1 {
		t.Errorf("mirror rows = %d, want 1 (the marker's)", n)
	}
	if n := b.count(t, "SELECT count(*) FROM outbox"); n != 1 {
		t.Errorf("outbox rows = %d, want 1", n)
	}
}

func TestOutboxCommittedEventIsMirroredAtCommitAndPublishedOnce(t *testing.T) {
	b := setup(t)
	ctx := eventbus.WithTraceID(context.Background(), "0af7651916cd43dd8448eb211c80319c")
	var env eventbus.Envelope
	err := store.Tx(ctx, b.db.DB, func(tx pgx.Tx) error {
		var err error
		env, err = b.outbox.PublishTx(ctx, tx, "tracker/events/projects/created", "project_created", map[string]any{"name": "Roadmap"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if env.TraceID != "0af7651916cd43dd8448eb211c80319c" || env.Source != "test" || env.IdempotencyKey != env.ID {
		t.Errorf("envelope = %+v; want the trace id of ctx, source test, the id as key", env)
	}
	// Mirrored at commit, with no relay running (the broker could be down).
	events, err := b.mirror.List(ctx, eventbuspg.EventFilter{TraceID: env.TraceID})
	if err != nil || len(events) != 1 || events[0].EventID != env.ID || events[0].Kind != "project_created" {
		t.Fatalf("mirror after commit = %+v, %v; want the event", events, err)
	}
	if n, err := b.outbox.Backlog(ctx); err != nil || n != 1 {
		t.Errorf("Backlog = %d, %v; want 1", n, err)
	}
	if age, err := b.outbox.BacklogAge(ctx); err != nil || age <= 0 || age > time.Minute {
		t.Errorf("BacklogAge = %v, %v; want a small positive age", age, err)
	}

	pub := newRecordingPublisher()
	b.startRelay(t, pub, eventbuspg.RelayConfig{PollInterval: 20 * time.Millisecond})
	waitFor(t, 5*time.Second, "the publication", func() bool { return len(pub.deliveries()) > 0 })
	time.Sleep(100 * time.Millisecond) // five more polls
	got := pub.deliveries()
	if len(got) != 1 {
		t.Fatalf("published %d times, want once", len(got))
	}
	if got[0].Topic != "tracker/events/projects/created" {
		t.Errorf("topic = %s", got[0].Topic)
	}
	raw, _ := env.Marshal()
	if !bytes.Equal(got[0].Payload, raw) {
		t.Errorf("published %s, want the envelope %s", got[0].Payload, raw)
	}
	if n := b.count(t, "SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL AND attempts = 1 AND last_error IS NULL"); n != 1 {
		t.Errorf("outbox rows marked sent = %d, want 1", n)
	}
	if n, err := b.outbox.Backlog(ctx); err != nil || n != 0 {
		t.Errorf("Backlog = %d, %v; want 0", n, err)
	}
	if age, err := b.outbox.BacklogAge(ctx); err != nil || age != 0 {
		t.Errorf("BacklogAge = %v, %v; want 0", age, err)
	}
	// The publication comes back through ingest: the first delivery is
	// handled (no handler saw the event yet), redeliveries are duplicates.
	delivered := func() *eventbus.Event {
		return &eventbus.Event{Topic: got[0].Topic, Envelope: parse(t, got[0].Payload), ReceivedAt: time.Now()}
	}
	batch := []*eventbus.Event{delivered(), delivered()}
	if err := b.mirror.Record(ctx, batch); err != nil || batch[0].Duplicate || !batch[1].Duplicate {
		t.Errorf("Record(the publication twice) = %v, Duplicate %v %v; want false true", err, batch[0].Duplicate, batch[1].Duplicate)
	}
	again := delivered()
	if err := b.mirror.Record(ctx, []*eventbus.Event{again}); err != nil || !again.Duplicate {
		t.Errorf("Record(a redelivery) = %v, Duplicate %v; want a duplicate", err, again.Duplicate)
	}
	if n := b.count(t, "SELECT count(*) FROM events_mirror WHERE received_at IS NOT NULL"); n != 1 {
		t.Errorf("mirror rows with received_at = %d, want 1", n)
	}
}

// Without a ReceivedAt (not from a transport), an event the outbox wrote
// counts as a duplicate: only a received delivery completes the row.
func TestMirrorOutboxRowsAreCompletedByTheirFirstDelivery(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	env, err := b.outbox.Publish(ctx, "tracker/events/a/b", "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	notReceived := &eventbus.Event{Topic: "tracker/events/a/b", Envelope: env}
	if err := b.mirror.Record(ctx, []*eventbus.Event{notReceived}); err != nil || !notReceived.Duplicate {
		t.Errorf("Record(no ReceivedAt) = %v, Duplicate %v; want a duplicate", err, notReceived.Duplicate)
	}
	received := &eventbus.Event{Topic: "tracker/events/a/b", Envelope: env, ReceivedAt: time.Now()}
	if err := b.mirror.Record(ctx, []*eventbus.Event{received}); err != nil || received.Duplicate {
		t.Errorf("Record(first delivery) = %v, Duplicate %v; want stored", err, received.Duplicate)
	}
	if n := b.count(t, "SELECT count(*) FROM events_mirror"); n != 1 {
		t.Errorf("rows = %d, want 1", n)
	}
}

func TestOutboxRefusesWhatCouldNeverBePublished(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	small := eventbuspg.NewOutbox(b.db.DB, eventbuspg.OutboxConfig{MaxSize: 300})
	for _, c := range []struct {
		name, topic, kind string
		payload           any
		outbox            *eventbuspg.Outbox
	}{
		{"empty topic", "", "k", nil, b.outbox},
		{"wildcard +", "tracker/+/x", "k", nil, b.outbox},
		{"wildcard #", "tracker/#", "k", nil, b.outbox},
		{"NUL in topic", "tracker/\x00", "k", nil, b.outbox},
		{"empty kind", "tracker/events/a/b", " ", nil, b.outbox},
		{"payload not an object", "tracker/events/a/b", "k", []int{1}, b.outbox},
		{"oversize", "tracker/events/a/b", "k", map[string]string{"x": strings.Repeat("x", 300)}, small},
	} {
		if _, err := c.outbox.Publish(ctx, c.topic, c.kind, c.payload); err == nil {
			t.Errorf("%s: Publish succeeded", c.name)
		}
	}
	if n := b.count(t, "SELECT count(*) FROM outbox"); n != 0 {
		t.Errorf("outbox rows = %d, want 0", n)
	}
	// NUL in a string of the payload: published byte-exact, mirrored cleaned.
	if _, err := b.outbox.Publish(ctx, "tracker/events/a/b", "k", map[string]string{"s": "a\x00b"}); err != nil {
		t.Errorf("Publish(NUL in the payload) = %v", err)
	}
}

func TestRelayIsWokenByNotify(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	pub := newRecordingPublisher()
	b.startRelay(t, pub, fastRelay) // polls every 10s: only NOTIFY is fast
	time.Sleep(100 * time.Millisecond)

	const n = 20
	var latencies []time.Duration
	for i := range n {
		committed := time.Now()
		if _, err := b.outbox.Publish(ctx, "tracker/events/a/b", "k", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, fmt.Sprintf("publication %d", i), func() bool { return len(pub.deliveries()) > i })
		latencies = append(latencies, pub.deliveries()[i].At.Sub(committed))
	}
	slices.Sort(latencies)
	t.Logf("commit → publish: median %v, max %v (poll interval 10s)", latencies[n/2], latencies[n-1])
	if latencies[n/2] > 50*time.Millisecond || latencies[n-1] > time.Second {
		t.Errorf("commit → publish: median %v, max %v; want ~50ms, far below the 10s poll", latencies[n/2], latencies[n-1])
	}
}

func TestRelayListensAgainAfterItsConnectionDrops(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	pub := newRecordingPublisher()
	b.startRelay(t, pub, fastRelay)
	listeners := func() []int {
		rows, err := b.db.DB.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN taylordash_outbox'`)
		if err != nil {
			t.Fatal(err)
		}
		pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			t.Fatal(err)
		}
		return pids
	}
	old := listeners()
	if len(old) != 1 {
		t.Fatalf("LISTEN connections = %v, want 1", old)
	}
	b.exec(t, "SELECT pg_terminate_backend($1)", old[0])
	waitFor(t, 5*time.Second, "a new LISTEN connection", func() bool {
		pids := listeners()
		return len(pids) == 1 && pids[0] != old[0]
	})
	start := time.Now()
	if _, err := b.outbox.Publish(ctx, "tracker/events/a/b", "k", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "the publication (the poll interval is 10s)", func() bool { return len(pub.deliveries()) == 1 })
	t.Logf("published %v after commit, on the new connection", time.Since(start))
}

func TestOutboxWritesStayFastWithTheBrokerDownAndGoOutInOrder(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	pub := newRecordingPublisher()
	pub.setDown(errBrokerDown)
	b.startRelay(t, pub, eventbuspg.RelayConfig{PollInterval: 10 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, BatchSize: 50})

	const n = 200
	var slowest time.Duration
	start := time.Now()
	for i := range n {
		t0 := time.Now()
		if _, err := b.outbox.Publish(ctx, "tracker/events/projects/updated", "project_updated", map[string]int{"seq": i}); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(t0))
	}
	t.Logf("%d writes with the broker down: %v in all, slowest %v", n, time.Since(start), slowest)
	if slowest > 500*time.Millisecond {
		t.Errorf("slowest write took %v with the broker down; writes must not wait for it", slowest)
	}
	if n := b.count(t, "SELECT count(*) FROM events_mirror"); n != 200 {
		t.Errorf("mirror rows with the broker down = %d, want all 200", n)
	}
	waitFor(t, 5*time.Second, "failed attempts to be recorded", func() bool {
		return b.count(t, "SELECT count(*) FROM outbox WHERE attempts > 1 AND last_error LIKE '%broker down%'") == 1
	})
	// Only the oldest row is tried: nothing overtakes it.
	if n := b.count(t, "SELECT count(*) FROM outbox WHERE attempts > 0"); n != 1 {
		t.Errorf("rows tried while down = %d, want 1 (the oldest)", n)
	}
	if backlog, _ := b.outbox.Backlog(ctx); backlog != n {
		t.Errorf("Backlog = %d, want %d", backlog, n)
	}

	pub.setDown(nil)
	waitFor(t, 10*time.Second, "every event", func() bool { return len(pub.deliveries()) >= n })
	for i, d := range pub.deliveries() {
		var seq struct{ Seq int }
		if err := jsonUnmarshal(parse(t, d.Payload).Payload, &seq); err != nil || seq.Seq != i {
			t.Fatalf("delivery %d has seq %d (%v), want %d: out of order", i, seq.Seq, err, i)
		}
	}
	waitFor(t, 5*time.Second, "every row marked sent", func() bool {
		return b.count(t, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
	})
}

// A topic the broker refuses (an ACL, a message too large for it) waits
// in backoff, in order; the other topics go on.
func TestRelayFailingTopicDoesNotHoldBackTheOthers(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	pub := newRecordingPublisher()
	var refuse atomic.Bool
	refuse.Store(true)
	pub.setBefore(func(d delivery) error {
		if d.Topic == "tracker/events/bad/x" && refuse.Load() {
			return errors.New("not authorized")
		}
		return nil
	})
	b.startRelay(t, pub, eventbuspg.RelayConfig{PollInterval: 10 * time.Second, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	const n = 20
	for i := range n {
		for _, topic := range []string{"tracker/events/bad/x", "tracker/events/good/x"} {
			if _, err := b.outbox.Publish(ctx, topic, "seq", map[string]int{"seq": i}); err != nil {
				t.Fatal(err)
			}
		}
	}
	seqs := func(topic string) []int {
		var out []int
		for _, d := range pub.deliveries() {
			if d.Topic == topic {
				var seq struct{ Seq int }
				if err := jsonUnmarshal(parse(t, d.Payload).Payload, &seq); err != nil {
					t.Fatal(err)
				}
				out = append(out, seq.Seq)
			}
		}
		return out
	}
	waitFor(t, 5*time.Second, "the good topic", func() bool { return len(seqs("tracker/events/good/x")) == n })
	if got := seqs("tracker/events/bad/x"); len(got) != 0 {
		t.Fatalf("the refused topic published %v", got)
	}
	if n := b.count(t, "SELECT count(*) FROM outbox WHERE topic = 'tracker/events/bad/x' AND attempts > 0"); n != 1 {
		t.Errorf("refused rows tried = %d, want 1 (the oldest; the others wait behind it)", n)
	}
	refuse.Store(false)
	waitFor(t, 5*time.Second, "the refused topic, once accepted", func() bool { return len(seqs("tracker/events/bad/x")) == n })
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	for _, topic := range []string{"tracker/events/bad/x", "tracker/events/good/x"} {
		if got := seqs(topic); !slices.Equal(got, want) {
			t.Errorf("%s published %v, want %v", topic, got, want)
		}
	}
}

func TestRelayKeepsOrderPerTopicWithTwoRelays(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	const topics, perTopic = 5, 400

	type rec struct {
		relay string
		topic string
		seq   int
	}
	var mu sync.Mutex
	var log []rec
	relayPub := func(name string) *recordingPublisher {
		p := newRecordingPublisher()
		p.setBefore(func(d delivery) error {
			if rand.IntN(20) == 0 {
				time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
			}
			var seq struct{ Seq int }
			if err := jsonUnmarshal(parse(t, d.Payload).Payload, &seq); err != nil {
				return err
			}
			mu.Lock()
			log = append(log, rec{name, d.Topic, seq.Seq})
			mu.Unlock()
			return nil
		})
		return p
	}
	cfg := eventbuspg.RelayConfig{BatchSize: 50, PollInterval: 20 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
	b.startRelay(t, relayPub("A"), cfg)
	b.startRelay(t, relayPub("B"), cfg)

	// One writer per topic, each writing its topic's events in sequence,
	// some in transactions of several events.
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, topics)
	for tp := range topics {
		wg.Go(func() {
			topic := fmt.Sprintf("tracker/events/t%d/x", tp)
			for seq := 0; seq < perTopic; {
				k := 1 + rand.IntN(5)
				err := store.Tx(ctx, b.db.DB, func(tx pgx.Tx) error {
					for j := range k {
						if seq+j >= perTopic {
							break
						}
						if _, err := b.outbox.PublishTx(ctx, tx, topic, "seq", map[string]int{"seq": seq + j}); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
				seq += k
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "every row sent", func() bool {
		return b.count(t, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
	})
	t.Logf("%d events over %d topics written and relayed in %v", topics*perTopic, topics, time.Since(start))

	mu.Lock()
	defer mu.Unlock()
	last := map[string]int{}
	lastRelay := map[string]string{}
	handoffs := 0 // a topic published by one relay, then by the other
	seen := map[string]map[int]bool{}
	byRelay := map[string]int{}
	for _, r := range log {
		byRelay[r.relay]++
		if prev, ok := lastRelay[r.topic]; ok && prev != r.relay {
			handoffs++
		}
		lastRelay[r.topic] = r.relay
		if prev, ok := last[r.topic]; ok && r.seq <= prev {
			t.Fatalf("%s: seq %d published (by %s) after %d", r.topic, r.seq, r.relay, prev)
		}
		last[r.topic] = r.seq
		if seen[r.topic] == nil {
			seen[r.topic] = map[int]bool{}
		}
		seen[r.topic][r.seq] = true
	}
	for tp := range topics {
		topic := fmt.Sprintf("tracker/events/t%d/x", tp)
		if len(seen[topic]) != perTopic {
			t.Errorf("%s: %d distinct events published, want %d", topic, len(seen[topic]), perTopic)
		}
	}
	t.Logf("publications by relay: %v; a topic changed relays %d times", byRelay, handoffs)
	if byRelay["A"] == 0 || byRelay["B"] == 0 || handoffs == 0 {
		t.Errorf("publications by relay = %v, hand-overs %d; want both relays to share the work, topics passing between them", byRelay, handoffs)
	}
}

// A relay that dies after the broker accepted a message but before its
// transaction marked it sent: the next relay publishes it again (at least
// once), and the mirror stores it once.
func TestRelayRepublishesAfterACrashBetweenPublishAndCommit(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	const n, k = 10, 4
	var envs []eventbus.Envelope
	for i := range n {
		env, err := b.outbox.Publish(ctx, "tracker/events/a/b", "seq", map[string]int{"seq": i})
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, env)
	}

	// The first relay's broker accepts message k, then the relay's
	// database connection dies (as with a crash or a kill -9).
	crashing := newRecordingPublisher()
	crashed := make(chan struct{})
	var once sync.Once
	crashing.setBefore(func(d delivery) error {
		if parse(t, d.Payload).ID == envs[k].ID {
			once.Do(func() {
				_, err := b.db.DB.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
					WHERE datname = current_database() AND state = 'idle in transaction' AND pid <> pg_backend_pid()`)
				if err != nil {
					t.Error(err)
				}
				close(crashed)
			})
		}
		return nil
	})
	first := eventbuspg.NewRelay(b.db.DB, crashing, eventbuspg.RelayConfig{MinBackoff: time.Minute}, nil)
	if err := first.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-crashed:
	case <-time.After(10 * time.Second):
		t.Fatal("the relay never published message k")
	}
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, "SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL"); n != 0 {
		t.Fatalf("%d rows marked sent by the crashed transaction, want 0", n)
	}

	// pg_terminate_backend only signals: the killed backend may still hold
	// the topic's advisory lock for a moment, and a relay that finds every
	// topic locked waits for the next notification or poll (10 s here).
	waitFor(t, 10*time.Second, "the killed relay transaction's locks to go", func() bool {
		return b.count(t, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database =
			(SELECT oid FROM pg_database WHERE datname = current_database())`) == 0
	})

	second := newRecordingPublisher()
	b.startRelay(t, second, fastRelay)
	waitFor(t, 10*time.Second, "the second relay", func() bool { return len(second.deliveries()) >= n })

	all := append(crashing.deliveries(), second.deliveries()...)
	count := 0
	var events []*eventbus.Event
	for _, d := range all {
		env := parse(t, d.Payload)
		if env.ID == envs[k].ID {
			count++
		}
		events = append(events, &eventbus.Event{Topic: d.Topic, Envelope: env, ReceivedAt: d.At})
	}
	if count < 2 {
		t.Errorf("message k delivered %d times, want at least 2 (at least once)", count)
	}
	// The relay does not touch the database between publications: it
	// learns that its connection died at the end of the batch.
	if got := len(crashing.deliveries()); got < k+1 {
		t.Errorf("the first relay published %d messages, want at least %d", got, k+1)
	}
	// Every delivery goes through the mirror: one row per event, and one
	// delivery of each that is not a duplicate (handled once).
	handled := map[string]int{}
	for i := 0; i < len(events); i += 3 {
		batch := events[i:min(i+3, len(events))]
		if err := b.mirror.Record(ctx, batch); err != nil {
			t.Fatal(err)
		}
		for _, ev := range batch {
			if !ev.Duplicate {
				handled[ev.Envelope.IdempotencyKey]++
			}
		}
	}
	for _, env := range envs {
		if handled[env.IdempotencyKey] != 1 {
			t.Errorf("event %s: %d deliveries not duplicates, want 1", env.ID, handled[env.IdempotencyKey])
		}
	}
	if got := b.count(t, "SELECT count(*) FROM events_mirror WHERE idempotency_key = $1", envs[k].IdempotencyKey); got != 1 {
		t.Errorf("mirror rows for message k = %d, want 1", got)
	}
	if got := b.count(t, "SELECT count(*) FROM events_mirror"); got != n {
		t.Errorf("mirror rows = %d, want %d", got, n)
	}
	waitFor(t, 5*time.Second, "every row sent", func() bool {
		return b.count(t, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
	})
}

func TestRelayStartAndStopAreIdempotent(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	pub := newRecordingPublisher()
	r := eventbuspg.NewRelay(b.db.DB, pub, fastRelay, nil)
	if err := r.Stop(ctx); err != nil {
		t.Errorf("Stop before Start = %v", err)
	}
	for range 2 {
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.outbox.Publish(ctx, "tracker/events/a/b", "k", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the publication", func() bool { return len(pub.deliveries()) == 1 })
	for range 2 {
		if err := r.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Stopped: nothing more goes out; started again, it catches up.
	if _, err := b.outbox.Publish(ctx, "tracker/events/a/b", "k", nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if len(pub.deliveries()) != 1 {
		t.Fatal("a stopped relay published")
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the publication after a restart", func() bool { return len(pub.deliveries()) == 2 })
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// The connection is closed by Stop; its server process exits a moment later.
	waitFor(t, 5*time.Second, "no LISTEN connection left after Stop", func() bool {
		return b.count(t, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'") == 0
	})
}

func TestRelayStopCutsAHungPublishAtItsDeadline(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	entered := make(chan struct{})
	hung := &ctxPublisher{entered: entered}
	r := eventbuspg.NewRelay(b.db.DB, hung, fastRelay, nil)
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.outbox.Publish(ctx, "tracker/events/a/b", "k", nil); err != nil {
		t.Fatal(err)
	}
	<-entered
	stopCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := r.Stop(stopCtx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop = %v, want the deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Stop took %v", d)
	}
	if n := b.count(t, "SELECT count(*) FROM outbox WHERE sent_at IS NULL"); n != 1 {
		t.Errorf("unsent rows = %d, want 1 (published again by the next relay)", n)
	}
}

// ctxPublisher blocks until ctx ends, like a broker that never answers.
type ctxPublisher struct {
	entered chan struct{}
	once    sync.Once
}

func (p *ctxPublisher) Publish(ctx context.Context, _ string, _ []byte) error {
	p.once.Do(func() { close(p.entered) })
	<-ctx.Done()
	return ctx.Err()
}

func (p *ctxPublisher) Close() error { return nil }
