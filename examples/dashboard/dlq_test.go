package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/testkit"
)

// TestDLQ: list shows the dead letters; replay --all publishes each
// byte-exact to its original topic through the broker, with progress and
// a summary, and marks it replayed; replay --id replays one; unknown ids
// and a missing broker fail with exit 1 and say what to do.
func TestDLQ(t *testing.T) {
	db := testkit.Postgres(t)
	broker := testkit.MQTT(t)
	vars := map[string]string{"TAYLORDASH_DATABASE_URL": db.URL, "TAYLORDASH_MQTT_URL": broker.URL,
		"TAYLORDASH_MQTT_TOPIC_PREFIX": broker.Prefix, "TAYLORDASH_MQTT_CLIENT_ID": "dashboard-dlq-test-" + strconv.Itoa(os.Getpid())}
	ctx := context.Background()
	if res := execute(t, vars, "", "migrate"); res.code != exitOK {
		t.Fatalf("migrate: %+v", res)
	}
	const n = 120
	letters := make([]eventbus.DeadLetter, n)
	for i := range letters {
		letters[i] = eventbus.DeadLetter{Topic: fmt.Sprintf("tracker/events/cli/%d", i), Payload: []byte(fmt.Sprintf("not json %d", i)),
			Reason: eventbus.ReasonNotJSON, Detail: "invalid character 'o' in literal null", FailedAt: time.Now()}
	}
	if err := eventbuspg.NewDeadLetterStore(db.DB).Put(ctx, letters); err != nil {
		t.Fatal(err)
	}

	// What the broker delivers, by topic.
	var mu sync.Mutex
	got := map[string]string{}
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(broker.URL).SetClientID("dashboard-dlq-test-sub-" + strconv.Itoa(os.Getpid())).
		SetConnectTimeout(5 * time.Second).SetAutoReconnect(false))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: %v", tok.Error())
	}
	t.Cleanup(func() { sub.Disconnect(250) })
	if tok := sub.Subscribe(broker.Topic("tracker", "events", "cli", "#"), 1, func(_ paho.Client, m paho.Message) {
		mu.Lock()
		got[strings.TrimPrefix(m.Topic(), broker.Prefix)] = string(m.Payload())
		mu.Unlock()
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	// list
	res := execute(t, vars, "", "dlq", "list", "--limit", "1000", "--output", "json")
	list := decode[struct {
		DLQEvents []eventbuspg.DLQItem `json:"dlq_events"`
		Count     int                  `json:"count"`
		NextAfter int64                `json:"next_after"`
	}](t, res)
	if res.code != exitOK || list.Count != n || len(list.DLQEvents) != n || list.NextAfter != 0 ||
		list.DLQEvents[0].FailureReason != eventbus.ReasonNotJSON || !strings.HasPrefix(string(list.DLQEvents[0].Payload.Payload), `"not json`) {
		t.Fatalf("list: exit %d, count %d, next %d", res.code, list.Count, list.NextAfter)
	}
	res = execute(t, vars, "", "dlq", "list", "--limit", "5")
	if res.code != exitOK || !strings.HasPrefix(res.stdout, "ID ") || strings.Count(res.stdout, "tracker/events/cli/") != 5 ||
		!strings.Contains(res.stdout, "5 dead letters shown; the next page: dashboard dlq list --after") {
		t.Fatalf("list: %+v", res)
	}
	if res := execute(t, vars, "", "dlq", "list", "--reason", "handler_failed"); res.code != exitOK || res.stdout != "No dead letters match.\n" {
		t.Fatalf("list --reason: %+v", res)
	}

	// replay --all
	res = execute(t, vars, "", "dlq", "replay", "--all", "--progress", "always")
	if res.code != exitOK || res.stdout != fmt.Sprintf("Replayed %d of %d dead letters.\n", n, n) || !strings.Contains(res.stderr, "replaying 100%") {
		t.Fatalf("replay --all: %+v", res)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		have := len(got)
		mu.Unlock()
		if have == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the broker delivered %d of %d replayed messages", have, n)
		}
	}
	mu.Lock()
	for _, l := range letters {
		if got[l.Topic] != string(l.Payload) {
			t.Errorf("%s: delivered %q, want %q byte-exact", l.Topic, got[l.Topic], l.Payload)
		}
	}
	mu.Unlock()
	var replayed int
	if err := db.DB.QueryRow(ctx, `SELECT count(*) FROM dlq_events WHERE replayed_at IS NOT NULL AND replay_count = 1`).Scan(&replayed); err != nil || replayed != n {
		t.Fatalf("marked replayed: %d, %v", replayed, err)
	}
	if res := execute(t, vars, "", "dlq", "replay", "--all", "--replayed", "false"); res.code != exitOK || res.stdout != "Nothing to replay: no dead letters match.\n" {
		t.Fatalf("replay --all --replayed false: %+v", res)
	}

	// replay --id
	id := list.DLQEvents[0].ID
	res = execute(t, vars, "", "dlq", "replay", "--id", strconv.FormatInt(id, 10), "--id", strconv.FormatInt(id, 10), "--output", "json")
	if sum := decode[replaySummary](t, res); res.code != exitOK || sum != (replaySummary{Total: 1, Replayed: 1}) {
		t.Fatalf("replay --id: exit %d, %+v", res.code, sum)
	}
	res = execute(t, vars, "", "dlq", "replay", "--id", strconv.FormatInt(id, 10)+",999999")
	if res.code != exitFailure || !strings.Contains(res.stderr, "no dead letters with ids [999999]; nothing was replayed") {
		t.Fatalf("replay of an unknown id: %+v", res)
	}

	// No broker to replay to.
	res = execute(t, map[string]string{"TAYLORDASH_DATABASE_URL": db.URL}, "", "dlq", "replay", "--all")
	if res.code != exitFailure || !strings.Contains(res.stderr, "no broker to replay to") || !strings.Contains(res.stderr, "set TAYLORDASH_MQTT_URL") {
		t.Fatalf("without a broker: %+v", res)
	}
}
