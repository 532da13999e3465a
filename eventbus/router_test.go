package eventbus

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMatchTopic(t *testing.T) {
	for _, c := range []struct {
		filter, topic string
		want          bool
	}{
		{"tracker/events/#", "tracker/events/projects/created", true},
		{"tracker/events/#", "tracker/events", true},
		{"tracker/events/#", "tracker/eventsx/a", false},
		{"tracker/events/+/+", "tracker/events/projects/created", true},
		{"tracker/events/+/+", "tracker/events/x", false},
		{"tracker/events/+/+", "tracker/events/a/b/c", false},
		{"tracker/+/created", "tracker/projects/created", true},
		{"#", "anything/at/all", true},
		{"#", "$SYS/broker/uptime", false},
		{"+/x", "$SYS/x", false},
		{"$share/g1/tracker/events/#", "tracker/events/a", true},
		{"$share/g1", "tracker", false},
		{"a/b", "a/b", true},
		{"a/b", "a/b/c", false},
		{"a/+", "a/", true},
	} {
		if got := MatchTopic(c.filter, c.topic); got != c.want {
			t.Errorf("MatchTopic(%q, %q) = %v, want %v", c.filter, c.topic, got, c.want)
		}
	}
	if got := SharedFilter("workers", "tracker/events/#"); got != "$share/workers/tracker/events/#" {
		t.Fatalf("SharedFilter: %q", got)
	}
	if got := SharedFilter("", "a/#"); got != "a/#" {
		t.Fatalf("SharedFilter without group: %q", got)
	}
}

func TestRouterRunsMatchingRoutesInNameOrder(t *testing.T) {
	var calls []string
	rec := func(name string) Handler {
		return func(context.Context, *Event) error { calls = append(calls, name); return nil }
	}
	r, err := NewRouter([]Route{
		{Name: "b", Pattern: "tracker/events/#", Handler: rec("b")},
		{Name: "a", Pattern: "tracker/events/projects/+", Handler: rec("a")},
		{Name: "c", Pattern: "tracker/commands/#", Handler: rec("c")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Handle(context.Background(), &Event{Topic: "tracker/events/projects/created"}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(calls, ",") != "a,b" {
		t.Fatalf("calls %v", calls)
	}
	if _, err := NewRouter([]Route{{Name: "x", Pattern: "a", Handler: rec("x")}, {Name: "x", Pattern: "b", Handler: rec("x")}}); err == nil {
		t.Fatal("duplicate names accepted")
	}
	if _, err := NewRouter([]Route{{Name: "x", Pattern: "a"}}); err == nil {
		t.Fatal("a route without handler accepted")
	}
}

func TestRouterJoinsErrorsWithRouteNames(t *testing.T) {
	boom := errors.New("boom")
	r, _ := NewRouter([]Route{
		{Name: "fails", Pattern: "#", Handler: func(context.Context, *Event) error { return boom }},
		{Name: "works", Pattern: "#", Handler: func(context.Context, *Event) error { return nil }},
	})
	err := r.Handle(context.Background(), &Event{Topic: "t"})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "route fails") {
		t.Fatalf("err %v", err)
	}
}

func TestRetryRetriesThenGivesUp(t *testing.T) {
	attempts := 0
	h := Retry(RetryConfig{Attempts: 3, InitialInterval: time.Millisecond})(func(context.Context, *Event) error {
		attempts++
		return errors.New("transient")
	})
	ev := &Event{}
	if err := h(context.Background(), ev); err == nil || attempts != 3 || ev.Attempt != 3 {
		t.Fatalf("err %v, attempts %d, ev.Attempt %d", err, attempts, ev.Attempt)
	}
	attempts = 0
	h = Retry(RetryConfig{Attempts: 5, InitialInterval: time.Millisecond})(func(context.Context, *Event) error {
		attempts++
		if attempts < 2 {
			return errors.New("once")
		}
		return nil
	})
	if err := h(context.Background(), &Event{}); err != nil || attempts != 2 {
		t.Fatalf("err %v, attempts %d", err, attempts)
	}
	attempts = 0
	h = Retry(RetryConfig{Attempts: 5, InitialInterval: time.Millisecond})(func(context.Context, *Event) error {
		attempts++
		return Permanent(errors.New("bad input"))
	})
	if err := h(context.Background(), &Event{}); !IsPermanent(err) || attempts != 1 {
		t.Fatalf("permanent: err %v, attempts %d", err, attempts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h = Retry(RetryConfig{Attempts: 5, InitialInterval: time.Hour})(func(context.Context, *Event) error { return errors.New("x") })
	if err := h(ctx, &Event{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestRecoverTurnsPanicsIntoErrors(t *testing.T) {
	h := Recover()(func(context.Context, *Event) error { panic("kaboom") })
	err := h(context.Background(), &Event{})
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "kaboom" || len(pe.Stack) == 0 {
		t.Fatalf("err %v", err)
	}
}

func TestDedupSkipsDuplicates(t *testing.T) {
	calls := 0
	h := Dedup()(func(context.Context, *Event) error { calls++; return nil })
	_ = h(context.Background(), &Event{Duplicate: true})
	_ = h(context.Background(), &Event{})
	if calls != 1 {
		t.Fatalf("calls %d", calls)
	}
}

// letterBox is a DeadLetters kept in memory, with an optional failure.
type letterBox struct {
	mu      sync.Mutex
	letters []DeadLetter
	fail    error
}

func (b *letterBox) Put(_ context.Context, ls []DeadLetter) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		return b.fail
	}
	b.letters = append(b.letters, ls...)
	return nil
}

func TestDLQRecordsFailuresAndAcks(t *testing.T) {
	box := &letterBox{}
	h := DLQ(box, nil, nil)(Retry(RetryConfig{Attempts: 2, InitialInterval: time.Millisecond})(
		func(context.Context, *Event) error { return errors.New("handler broke") }))
	ev := &Event{Topic: "tracker/events/a/b", Raw: []byte("raw"), Envelope: Envelope{IdempotencyKey: "k"}}
	if err := h(context.Background(), ev); err != nil {
		t.Fatalf("a dead-lettered event must count as handled: %v", err)
	}
	if len(box.letters) != 1 {
		t.Fatalf("letters %v", box.letters)
	}
	l := box.letters[0]
	if l.Reason != ReasonHandlerFailed || l.Attempts != 2 || string(l.Payload) != "raw" || l.IdempotencyKey != "k" || !strings.Contains(l.Detail, "handler broke") {
		t.Fatalf("letter %+v", l)
	}
	// The queue unavailable: the error comes back, so the message is not acked.
	box.fail = errors.New("db down")
	if err := h(context.Background(), ev); err == nil {
		t.Fatal("DLQ failure swallowed: the message would be acked and lost")
	}
}

func TestDLQTopic(t *testing.T) {
	if got := DLQTopic("tracker/events/a/b"); got != "tracker/dlq/tracker_events_a_b" {
		t.Fatalf("DLQTopic: %q", got)
	}
}

func TestNewDLQMessage(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		payload []byte
		want    string
	}{
		{[]byte(`{"a":1}`), `"payload":{"a":1}`},
		{[]byte(`not json`), `"payload":"not json"`},
		{[]byte{0xff, 0x00}, `"payload_base64":"/wA="`},
	} {
		m := NewDLQMessage(DeadLetter{Topic: "t/x", Payload: c.payload, Reason: ReasonNotJSON, FailedAt: at})
		b, err := jsonMarshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), c.want) || !strings.Contains(string(b), `"original_topic":"t/x"`) || !strings.Contains(string(b), `"failure_reason":"not_json"`) {
			t.Errorf("DLQ message %s lacks %s", b, c.want)
		}
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
