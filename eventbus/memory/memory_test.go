package memory_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbustest"
	"github.com/taylordash/taylordash/eventbus/memory"
)

const window = 10

func TestConformance(t *testing.T) {
	b := memory.New()
	eventbustest.Run(t, eventbustest.Transport{
		Name:          "memory",
		NewPublisher:  func(t *testing.T) eventbus.Publisher { return b.Publisher() },
		NewSubscriber: func(t *testing.T, id string) eventbus.Subscriber { return b.Subscriber(t.Name()+"/"+id, window) },
		Topic: func(t *testing.T, parts ...string) string {
			return "conformance/" + t.Name() + "/" + strings.Join(parts, "/")
		},
		Window:   window,
		Features: eventbustest.Features{SharedSubscriptions: true, ImmediateNack: true, RedeliveredFlag: true},
	})
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func receive(t *testing.T, ch <-chan *eventbus.Message) *eventbus.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("the channel closed")
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
	}
	return nil
}

func TestInvalidTopicsAndFilters(t *testing.T) {
	ctx := testContext(t)
	b := memory.New()
	pub := b.Publisher()
	for _, topic := range []string{"", "a/+", "a/#", "a\x00b"} {
		if err := pub.Publish(ctx, topic, nil); err == nil {
			t.Errorf("Publish(%q) succeeded", topic)
		}
	}
	sub := b.Subscriber("s", 1)
	for _, filter := range []string{"", "a/#/b", "a/b#", "a+/b", "$share//a", "$share/g", "$share/g+/a", "$share/g/"} {
		if _, err := sub.Subscribe(ctx, filter); err == nil {
			t.Errorf("Subscribe(%q) succeeded", filter)
		}
	}
	for _, filter := range []string{"#", "+", "a/+/b/#", "/", "$share/g/a/#", "$SYS/#"} {
		if _, err := sub.Subscribe(ctx, filter); err != nil {
			t.Errorf("Subscribe(%q): %v", filter, err)
		}
	}
}

func TestSubscribeAfterCloseFails(t *testing.T) {
	b := memory.New()
	sub := b.Subscriber("s", 1)
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sub.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := sub.Subscribe(testContext(t), "a"); !errors.Is(err, memory.ErrClosed) {
		t.Fatalf("Subscribe after Close: %v, want ErrClosed", err)
	}
	pub := b.Publisher()
	_ = pub.Close()
	if err := pub.Publish(testContext(t), "a", nil); !errors.Is(err, memory.ErrClosed) {
		t.Fatalf("Publish after Close: %v, want ErrClosed", err)
	}
}

func TestPublishHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := memory.New().Publisher().Publish(ctx, "a", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish with a cancelled context: %v", err)
	}
}

// A second Subscriber of the same identity takes the session over: the
// first one's channel closes and its unsettled message goes to the second.
func TestTakeover(t *testing.T) {
	ctx := testContext(t)
	b := memory.New()
	pub := b.Publisher()
	first := b.Subscriber("id", 5)
	ch1, _ := first.Subscribe(ctx, "t")
	_ = pub.Publish(ctx, "t", []byte("x"))
	m := receive(t, ch1)
	second := b.Subscriber("id", 5)
	ch2, err := second.Subscribe(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-ch1:
		if ok {
			t.Fatal("the first subscriber received a message after the takeover")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first subscriber's channel is still open after the takeover")
	}
	m.Ack() // too late: the session moved on
	again := receive(t, ch2)
	if string(again.Payload) != "x" || !again.Redelivered {
		t.Fatalf("the second subscriber received %q (redelivered %v), want x redelivered", again.Payload, again.Redelivered)
	}
	again.Ack()
	_ = first.Close() // does not disturb the new owner
	_ = pub.Publish(ctx, "t", []byte("y"))
	if m := receive(t, ch2); string(m.Payload) != "y" {
		t.Fatalf("received %q, want y", m.Payload)
	}
}

// Shared-group messages go to the members with a live subscriber; an
// offline member's share waits in its session only when no member is live.
func TestSharedPrefersLiveMembers(t *testing.T) {
	ctx := testContext(t)
	b := memory.New()
	pub := b.Publisher()
	filter := eventbus.SharedFilter("g", "jobs/#")
	offline := b.Subscriber("offline", 10)
	if _, err := offline.Subscribe(ctx, filter); err != nil {
		t.Fatal(err)
	}
	_ = offline.Close()
	live := b.Subscriber("live", 10)
	ch, _ := live.Subscribe(ctx, filter)
	for range 5 {
		_ = pub.Publish(ctx, "jobs/1", []byte("live"))
		receive(t, ch).Ack()
	}
	_ = live.Close()
	_ = pub.Publish(ctx, "jobs/2", []byte("queued"))
	back := b.Subscriber("offline", 10)
	ch, _ = back.Subscribe(ctx, filter)
	if m := receive(t, ch); string(m.Payload) != "queued" {
		t.Fatalf("the member that came back received %q, want the message published while nobody was live", m.Payload)
	}
}

// Nacking puts the message back in its place: before newer ones.
func TestNackKeepsOrder(t *testing.T) {
	ctx := testContext(t)
	b := memory.New()
	pub := b.Publisher()
	sub := b.Subscriber("s", 1)
	ch, _ := sub.Subscribe(ctx, "t")
	for _, p := range []string{"1", "2", "3"} {
		_ = pub.Publish(ctx, "t", []byte(p))
	}
	m := receive(t, ch)
	m.Nack()
	var got []string
	for range 3 {
		m := receive(t, ch)
		got = append(got, string(m.Payload))
		m.Ack()
	}
	if strings.Join(got, ",") != "1,2,3" {
		t.Fatalf("after a Nack of 1: %v, want 1,2,3", got)
	}
}

// A consumer that modifies a payload does not change what others or a
// redelivery receive.
func TestPayloadsAreCopied(t *testing.T) {
	ctx := testContext(t)
	b := memory.New()
	pub := b.Publisher()
	sub := b.Subscriber("s", 1)
	ch, _ := sub.Subscribe(ctx, "t")
	payload := []byte("abc")
	_ = pub.Publish(ctx, "t", payload)
	payload[0] = 'X'
	m := receive(t, ch)
	m.Payload[1] = 'Y'
	m.Nack()
	if m := receive(t, ch); string(m.Payload) != "abc" {
		t.Fatalf("redelivered %q, want abc", m.Payload)
	}
}
