package eventbuspg_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/eventbus/memory"
	"github.com/taylordash/taylordash/store"
)

func TestDeadLetterPayloadRoundTripsByteExact(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	payload := []byte{0xff, 0xfe, 0x00, '{', '"', 0xc3, 0x28, '\n', 0x80}
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
	err := b.dlq.Put(ctx, []eventbus.DeadLetter{{
		Topic: "tracker/events/a/b", Payload: payload, Reason: eventbus.ReasonNotUTF8,
		Detail: "the message is not valid UTF-8", Attempts: 1, FailedAt: at,
	}})
	if err != nil {
		t.Fatal(err)
	}
	list, err := b.dlq.List(ctx, eventbuspg.DLQFilter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v; want one row", list, err)
	}
	got, err := b.dlq.Get(ctx, list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Payload, payload) {
		t.Errorf("payload = %x, want %x", got.Payload, payload)
	}
	if got.Topic != "tracker/events/a/b" || got.Reason != eventbus.ReasonNotUTF8 || got.Attempts != 1 ||
		!got.FirstFailureAt.Equal(at) || !got.LastFailureAt.Equal(at) || got.ReplayedAt != nil ||
		got.Fingerprint != eventbuspg.Fingerprint("tracker/events/a/b", payload) || got.IdempotencyKey != "" {
		t.Errorf("Get = %+v", got)
	}
	if _, err := b.dlq.Get(ctx, got.ID+1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want store.ErrNotFound", err)
	}
}

func TestDeadLetterSameMessageIsOneRow(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	msg := func(attempts int, at time.Time, reason eventbus.Reason) eventbus.DeadLetter {
		return eventbus.DeadLetter{Topic: "tracker/events/a/b", Payload: []byte(`{"kind":"x"}`), Reason: reason,
			Detail: string(reason), IdempotencyKey: "key-1", Attempts: attempts, FailedAt: at}
	}
	// Twice in one batch, and again later; another topic is another message.
	other := msg(1, t0, eventbus.ReasonMissingField)
	other.Topic = "tracker/events/a/c"
	if err := b.dlq.Put(ctx, []eventbus.DeadLetter{msg(3, t0, eventbus.ReasonMissingField), msg(1, t0.Add(time.Minute), eventbus.ReasonMissingField), other}); err != nil {
		t.Fatal(err)
	}
	if err := b.dlq.Put(ctx, []eventbus.DeadLetter{msg(2, t0.Add(time.Hour), eventbus.ReasonHandlerFailed)}); err != nil {
		t.Fatal(err)
	}
	list, err := b.dlq.List(ctx, eventbuspg.DLQFilter{Topic: "tracker/events/a/b"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("rows for the message = %d, want 1", len(list))
	}
	got := list[0]
	if got.Attempts != 6 || !got.FirstFailureAt.Equal(t0) || !got.LastFailureAt.Equal(t0.Add(time.Hour)) ||
		got.Reason != eventbus.ReasonHandlerFailed || got.Detail != "handler_failed" || got.IdempotencyKey != "key-1" {
		t.Errorf("row = %+v; want attempts 6, first %v, last %v, the latest reason", got, t0, t0.Add(time.Hour))
	}
	if n := b.count(t, "SELECT count(*) FROM dlq_events"); n != 2 {
		t.Errorf("rows = %d, want 2", n)
	}
	// Attempts below 1 count as one failure.
	if err := b.dlq.Put(ctx, []eventbus.DeadLetter{{Topic: "t", Payload: []byte("p"), Reason: eventbus.ReasonNotJSON}}); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, "SELECT attempts FROM dlq_events WHERE original_topic = 't'"); n != 1 {
		t.Errorf("attempts of a letter with Attempts 0 = %d, want 1", n)
	}
}

// putLetters stores n dead letters on topic with reason, failed at
// t0 + i minutes, and returns their ids in order.
func putLetters(t *testing.T, b bundle, n int, topic string, reason eventbus.Reason, t0 time.Time) []int64 {
	t.Helper()
	letters := make([]eventbus.DeadLetter, n)
	for i := range letters {
		letters[i] = eventbus.DeadLetter{Topic: topic, Payload: fmt.Appendf(nil, `{"n":%d,"topic":%q}`, i, topic),
			Reason: reason, Attempts: 1, FailedAt: t0.Add(time.Duration(i) * time.Minute)}
	}
	if err := b.dlq.Put(context.Background(), letters); err != nil {
		t.Fatal(err)
	}
	rows, err := b.db.DB.Query(context.Background(), "SELECT id FROM dlq_events WHERE original_topic = $1 ORDER BY last_failure_at", topic)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func TestDeadLetterListCountPurge(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a := putLetters(t, b, 30, "tracker/events/a/x", eventbus.ReasonNotJSON, t0)
	putLetters(t, b, 20, "tracker/events/b/x", eventbus.ReasonMissingField, t0)
	b.exec(t, "UPDATE dlq_events SET replayed_at = now() WHERE id = ANY($1)", a[:5])

	list := func(f eventbuspg.DLQFilter) []eventbuspg.StoredDeadLetter {
		t.Helper()
		got, err := b.dlq.List(ctx, f)
		if err != nil {
			t.Fatalf("List(%+v): %v", f, err)
		}
		return got
	}
	yes, no := true, false
	for _, c := range []struct {
		name string
		f    eventbuspg.DLQFilter
		want int
	}{
		{"all", eventbuspg.DLQFilter{}, 50},
		{"topic", eventbuspg.DLQFilter{Topic: "tracker/events/a/x"}, 30},
		{"reason", eventbuspg.DLQFilter{Reason: eventbus.ReasonMissingField}, 20},
		{"since", eventbuspg.DLQFilter{Since: t0.Add(25 * time.Minute)}, 5},
		{"until", eventbuspg.DLQFilter{Until: t0.Add(10 * time.Minute)}, 20},
		{"replayed", eventbuspg.DLQFilter{Replayed: &yes}, 5},
		{"not replayed", eventbuspg.DLQFilter{Replayed: &no}, 45},
		{"ids", eventbuspg.DLQFilter{IDs: a[:3]}, 3},
		{"topic and not replayed", eventbuspg.DLQFilter{Topic: "tracker/events/a/x", Replayed: &no}, 25},
	} {
		if got := list(c.f); len(got) != c.want {
			t.Errorf("%s: List returned %d, want %d", c.name, len(got), c.want)
		}
		if n, err := b.dlq.Count(ctx, c.f); err != nil || n != int64(c.want) {
			t.Errorf("%s: Count = %d, %v; want %d", c.name, n, err, c.want)
		}
	}
	// Pages, newest first.
	var ids []int64
	var after int64
	for {
		page := list(eventbuspg.DLQFilter{Limit: 15, AfterID: after})
		if len(page) == 0 {
			break
		}
		for _, l := range page {
			if len(ids) > 0 && l.ID >= ids[len(ids)-1] {
				t.Fatalf("id %d after %d: not newest first", l.ID, ids[len(ids)-1])
			}
			ids = append(ids, l.ID)
		}
		after = page[len(page)-1].ID
	}
	if len(ids) != 50 {
		t.Errorf("paged through %d dead letters, want 50", len(ids))
	}
	for _, f := range []eventbuspg.DLQFilter{{Limit: -1}, {Limit: 1001}, {AfterID: -1}} {
		if _, err := b.dlq.List(ctx, f); !errors.Is(err, dashcore.ErrInvalid) {
			t.Errorf("List(%+v) = %v, want dashcore.ErrInvalid", f, err)
		}
	}

	// Purge: never everything by accident.
	if _, err := b.dlq.Purge(ctx, eventbuspg.DLQFilter{}); !errors.Is(err, eventbuspg.ErrPurgeEverything) || !errors.Is(err, dashcore.ErrInvalid) {
		t.Errorf("Purge(no filter) = %v, want ErrPurgeEverything (a dashcore.ErrInvalid)", err)
	}
	if _, err := b.dlq.Purge(ctx, eventbuspg.DLQFilter{Limit: 10}); !errors.Is(err, dashcore.ErrInvalid) {
		t.Errorf("Purge(limit only) = %v, want dashcore.ErrInvalid", err)
	}
	if n := b.count(t, "SELECT count(*) FROM dlq_events"); n != 50 {
		t.Fatalf("refused purges deleted rows: %d left, want 50", n)
	}
	if n, err := b.dlq.Purge(ctx, eventbuspg.DLQFilter{Topic: "tracker/events/a/x", Replayed: &yes}); err != nil || n != 5 {
		t.Errorf("Purge(topic a, replayed) = %d, %v; want 5", n, err)
	}
	if n, err := b.dlq.Purge(ctx, eventbuspg.DLQFilter{Reason: eventbus.ReasonMissingField}); err != nil || n != 20 {
		t.Errorf("Purge(reason) = %d, %v; want 20", n, err)
	}
	if n, err := b.dlq.PurgeAll(ctx); err != nil || n != 25 {
		t.Errorf("PurgeAll = %d, %v; want 25", n, err)
	}
}

func TestDeadLetterReplayRepublishesByteExact(t *testing.T) {
	b := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	broker := memory.New()
	sub := broker.Subscriber("replay-test", 10)
	defer sub.Close()
	msgs, err := sub.Subscribe(ctx, "tracker/events/#")
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte{'{', 0xff, 0x00, '}'}
	if err := b.dlq.Put(ctx, []eventbus.DeadLetter{{Topic: "tracker/events/a/b", Payload: payload, Reason: eventbus.ReasonNotUTF8}}); err != nil {
		t.Fatal(err)
	}
	list, err := b.dlq.List(ctx, eventbuspg.DLQFilter{})
	if err != nil {
		t.Fatal(err)
	}
	id := list[0].ID

	res, err := b.dlq.Replay(ctx, broker.Publisher(), id)
	if err != nil || res != (eventbuspg.ReplayResult{Total: 1, Replayed: 1}) {
		t.Fatalf("Replay = %+v, %v", res, err)
	}
	select {
	case m := <-msgs:
		if m.Topic != "tracker/events/a/b" || !bytes.Equal(m.Payload, payload) {
			t.Errorf("replayed %q to %s, want %x to tracker/events/a/b", m.Payload, m.Topic, payload)
		}
		m.Ack()
	case <-ctx.Done():
		t.Fatal("the replayed message never arrived")
	}
	got, err := b.dlq.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.ReplayedAt == nil || got.ReplayCount != 1 {
		t.Errorf("after replay: replayed_at %v, replay_count %d; want set, 1", got.ReplayedAt, got.ReplayCount)
	}
	// Still invalid: dead-lettered again onto the same row, unreplayed.
	if err := b.dlq.Put(ctx, []eventbus.DeadLetter{{Topic: "tracker/events/a/b", Payload: payload, Reason: eventbus.ReasonNotUTF8}}); err != nil {
		t.Fatal(err)
	}
	got, err = b.dlq.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.ReplayedAt != nil || got.ReplayCount != 1 || got.Attempts != 2 {
		t.Errorf("dead-lettered again: replayed_at %v, replay_count %d, attempts %d; want nil, 1, 2", got.ReplayedAt, got.ReplayCount, got.Attempts)
	}

	// Unknown ids: nothing is published.
	pub := newRecordingPublisher()
	if _, err := b.dlq.Replay(ctx, pub, id, id+100); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Replay(unknown id) = %v, want store.ErrNotFound", err)
	}
	if n := len(pub.deliveries()); n != 0 {
		t.Errorf("Replay with an unknown id published %d messages, want 0", n)
	}
}

func TestDeadLetterReplayStopsAtFirstFailure(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	ids := putLetters(t, b, 5, "tracker/events/a/x", eventbus.ReasonHandlerFailed, time.Now())
	pub := newRecordingPublisher()
	calls := 0
	pub.setBefore(func(delivery) error {
		if calls++; calls == 3 {
			return errBrokerDown
		}
		return nil
	})
	res, err := b.dlq.Replay(ctx, pub, ids...)
	if !errors.Is(err, errBrokerDown) {
		t.Fatalf("Replay = %v, want the publish error", err)
	}
	if res != (eventbuspg.ReplayResult{Total: 5, Replayed: 2, FailedID: ids[2]}) {
		t.Errorf("result = %+v, want 2 of 5 replayed, failed at %d", res, ids[2])
	}
	got := pub.deliveries()
	if len(got) != 2 || !bytes.Contains(got[0].Payload, []byte(`"n":0`)) || !bytes.Contains(got[1].Payload, []byte(`"n":1`)) {
		t.Errorf("published %d messages (%q), want the first two in order", len(got), got)
	}
	if n := b.count(t, "SELECT count(*) FROM dlq_events WHERE replayed_at IS NOT NULL AND replay_count = 1 AND id = ANY($1)", ids[:2]); n != 2 {
		t.Errorf("%d of the two replayed rows are marked", n)
	}
	if n := b.count(t, "SELECT count(*) FROM dlq_events WHERE replayed_at IS NULL AND replay_count = 0 AND id = ANY($1)", ids[2:]); n != 3 {
		t.Errorf("%d of the three rows not replayed are unmarked, want 3", n)
	}
}

func TestDeadLetterReplayAll(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	t0 := time.Now().Add(-time.Hour)
	ids := putLetters(t, b, 12, "tracker/events/a/x", eventbus.ReasonHandlerFailed, t0)
	putLetters(t, b, 3, "tracker/events/b/x", eventbus.ReasonHandlerFailed, t0)
	b.exec(t, "UPDATE dlq_events SET replayed_at = now(), replay_count = 1 WHERE id = $1", ids[0])

	pub := newRecordingPublisher()
	var progress [][2]int
	no := false
	res, err := b.dlq.ReplayAll(ctx, pub, eventbuspg.DLQFilter{Topic: "tracker/events/a/x", Replayed: &no, Limit: 2},
		func(done, total int) { progress = append(progress, [2]int{done, total}) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 11 || res.Replayed != 11 {
		t.Errorf("ReplayAll = %+v, want 11 of 11 (Limit is ignored)", res)
	}
	if len(progress) != 11 || progress[10] != [2]int{11, 11} || progress[0] != [2]int{1, 11} {
		t.Errorf("progress = %v, want 1/11 .. 11/11", progress)
	}
	got := pub.deliveries()
	for i, d := range got { // oldest first
		if want := fmt.Sprintf(`"n":%d,`, i+1); !bytes.Contains(d.Payload, []byte(want)) {
			t.Errorf("replay %d = %s, want the letter with %s", i, d.Payload, want)
		}
	}
	if n := b.count(t, "SELECT count(*) FROM dlq_events WHERE replayed_at IS NULL"); n != 3 {
		t.Errorf("rows not replayed = %d, want the 3 of topic b", n)
	}
}
