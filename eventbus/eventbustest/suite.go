package eventbustest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/taylordash/taylordash/eventbus"
)

// Transport describes the transport under test.
type Transport struct {
	// Name names the transport in failure messages.
	Name string
	// NewPublisher returns a publisher; the suite closes it.
	NewPublisher func(t *testing.T) eventbus.Publisher
	// NewSubscriber returns a subscriber whose persistent session is named
	// by identity (the same identity, in the same test, later resumes the
	// same session), ready to subscribe. The suite closes it unless it
	// closed it itself.
	NewSubscriber func(t *testing.T, identity string) eventbus.Subscriber
	// Topic returns a topic (or, with wildcards among parts, a filter)
	// unique to the test, made of parts, e.g. with testkit's prefix.
	Topic func(t *testing.T, parts ...string) string
	// Window is the window of the subscribers NewSubscriber returns: how
	// many messages one subscription delivers without acknowledgement
	// before it pauses. Required; keep it small (10 to 100), the
	// back-pressure test publishes twice as many.
	Window int
	// Features says which optional behaviours to check.
	Features Features
	// Interrupt, if set, cuts the connection under s abruptly (no
	// goodbye, as when a network fails or a broker restarts), after which
	// s must connect again by itself with the same identity. Without it
	// the reconnection test is skipped.
	Interrupt func(t *testing.T, s eventbus.Subscriber)
	// Timeout bounds each subtest; zero means 60s.
	Timeout time.Duration
	// ResumeDelay is how long the suite waits after closing a subscriber
	// before it opens the next one of the same identity: a broker that
	// serves connections concurrently (mochi-mqtt) may take the session
	// over on the new connection before it has read the last
	// acknowledgements of the old one, and deliver those messages again.
	// Zero means none.
	ResumeDelay time.Duration
}

// Features are the behaviours a transport may or may not have.
type Features struct {
	// SharedSubscriptions: "$share/<group>/<filter>" splits the messages
	// among the group's subscribers. Without it, a transport must still
	// serve a shared filter, as a plain one: every subscriber of the group
	// receives every message (plain fan-out, which the mirror's
	// idempotency key makes safe), never none.
	SharedSubscriptions bool
	// ImmediateNack: a nacked message is delivered again without the
	// subscriber reconnecting. Without it, the suite closes the subscriber
	// and opens a new one of the same identity to see the redelivery.
	ImmediateNack bool
	// RedeliveredFlag: a message delivered again after a Nack or a closed
	// subscriber has Message.Redelivered set.
	RedeliveredFlag bool
	// ResumeUnordered: when a session resumes (a new subscriber of the
	// identity, or a new connection), the messages it had not settled and
	// those published meanwhile may arrive in any order, each still once.
	// Not a feature but a known difference: mochi-mqtt v2.7.9 resends a
	// session's messages sorted by their second of arrival, unstably; NATS
	// redelivers an unacknowledged message after its ack_wait, behind
	// newer ones. The suite then compares sets, not sequences, in the
	// tests that resume a session.
	ResumeUnordered bool
}

// receiveTimeout bounds the wait for one message.
const receiveTimeout = 15 * time.Second

// quiet is how long "nothing more arrives" is watched for.
const quiet = 500 * time.Millisecond

type test struct {
	name string
	run  func(t *testing.T, h *harness)
}

// tests are the subtests, in the order they are listed and started.
var tests = []test{
	{"PublishReceiveByteExact", testPublishReceive},
	{"OrderOneThousand", testOrder},
	{"Wildcards", testWildcards},
	{"AckPreventsRedelivery", testAckPreventsRedelivery},
	{"UnsettledRedeliveredFirst", testUnsettledRedelivered},
	{"NackRedelivers", testNackRedelivers},
	{"RedeliveredAfterReconnect", testRedeliveredAfterReconnect},
	{"OfflineMessagesQueued", testOfflineQueued},
	{"BackPressureWindow", testBackPressure},
	{"ConcurrentPublishers", testConcurrentPublishers},
	{"PublishAfterCloseFails", testPublishAfterClose},
	{"ContextCancelClosesChannel", testContextCancel},
	{"CloseClosesChannel", testCloseClosesChannel},
	{"SharedSubscription", testShared},
}

// TestNames lists the subtests Run runs, in order.
func TestNames() []string {
	names := make([]string, len(tests))
	for i, tc := range tests {
		names[i] = tc.name
	}
	return names
}

// Run runs the conformance suite against tr, each check as a parallel
// subtest.
func Run(t *testing.T, tr Transport) {
	t.Helper()
	switch {
	case tr.NewPublisher == nil || tr.NewSubscriber == nil || tr.Topic == nil:
		t.Fatal("eventbustest: Transport needs NewPublisher, NewSubscriber and Topic")
	case tr.Window < 1:
		t.Fatal("eventbustest: Transport.Window must be the subscribers' window, at least 1")
	}
	if tr.Timeout <= 0 {
		tr.Timeout = 60 * time.Second
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), tr.Timeout)
			t.Cleanup(cancel)
			tc.run(t, &harness{tr: tr, ctx: ctx})
		})
	}
}

// harness holds one subtest's transport and deadline.
type harness struct {
	tr  Transport
	ctx context.Context
}

func (h *harness) topic(t *testing.T, parts ...string) string {
	t.Helper()
	return h.tr.Topic(t, parts...)
}

func (h *harness) publisher(t *testing.T) eventbus.Publisher {
	t.Helper()
	p := h.tr.NewPublisher(t)
	if p == nil {
		t.Fatalf("%s: NewPublisher returned nil", h.tr.Name)
	}
	c := &closer{close: p.Close}
	t.Cleanup(func() { c.Close() })
	return &closingPublisher{Publisher: p, c: c}
}

// subscriber returns a subscriber of identity; Close on it may be called
// by the test, and the cleanup closes it only if not.
func (h *harness) subscriber(t *testing.T, identity string) eventbus.Subscriber {
	t.Helper()
	s := h.tr.NewSubscriber(t, identity)
	if s == nil {
		t.Fatalf("%s: NewSubscriber returned nil", h.tr.Name)
	}
	c := &closer{close: s.Close}
	t.Cleanup(func() { c.Close() })
	return &closingSubscriber{Subscriber: s, c: c}
}

// resume returns the next subscriber of identity, after
// Transport.ResumeDelay.
func (h *harness) resume(t *testing.T, identity string) eventbus.Subscriber {
	t.Helper()
	if d := h.tr.ResumeDelay; d > 0 {
		time.Sleep(d)
	}
	return h.subscriber(t, identity)
}

// receiveResumed receives len(want) messages of a resumed session: want
// in order, or, with Features.ResumeUnordered, in any order; each once.
// It acks each as it arrives (the window may be smaller than want), and
// returns them by payload.
func (h *harness) receiveResumed(t *testing.T, ch <-chan *eventbus.Message, what string, want ...[]byte) map[string]*eventbus.Message {
	t.Helper()
	got := make(map[string]*eventbus.Message, len(want))
	for i, w := range want {
		m := h.receive(t, ch, fmt.Sprintf("%s (message %d of %d, %s)", what, i+1, len(want), abbrev(w)))
		if !h.tr.Features.ResumeUnordered && !bytes.Equal(m.Payload, w) {
			t.Fatalf("%s: message %d is %s, want %s (lost, repeated or out of order)", what, i+1, abbrev(m.Payload), abbrev(w))
		}
		if !slices.ContainsFunc(want, func(w []byte) bool { return bytes.Equal(w, m.Payload) }) {
			t.Fatalf("%s: unexpected message %s", what, abbrev(m.Payload))
		}
		if _, dup := got[string(m.Payload)]; dup {
			t.Fatalf("%s: %s arrived twice", what, abbrev(m.Payload))
		}
		got[string(m.Payload)] = m
		m.Ack()
	}
	return got
}

// closer calls close once.
type closer struct {
	once  sync.Once
	close func() error
	err   error
}

func (c *closer) Close() error {
	c.once.Do(func() { c.err = c.close() })
	return c.err
}

type closingPublisher struct {
	eventbus.Publisher
	c *closer
}

func (p *closingPublisher) Close() error { return p.c.Close() }

type closingSubscriber struct {
	eventbus.Subscriber
	c *closer
}

func (s *closingSubscriber) Close() error { return s.c.Close() }

func (h *harness) subscribe(t *testing.T, s eventbus.Subscriber, filter string) <-chan *eventbus.Message {
	t.Helper()
	ch, err := s.Subscribe(h.ctx, filter)
	if err != nil {
		t.Fatalf("%s: Subscribe(%q): %v", h.tr.Name, filter, err)
	}
	if ch == nil {
		t.Fatalf("%s: Subscribe(%q) returned a nil channel", h.tr.Name, filter)
	}
	return ch
}

func (h *harness) publish(t *testing.T, p eventbus.Publisher, topic string, payload []byte) {
	t.Helper()
	if err := p.Publish(h.ctx, topic, payload); err != nil {
		t.Fatalf("%s: Publish(%q): %v", h.tr.Name, topic, err)
	}
}

// receive returns the next message of ch, failing the test when none
// arrives in time or the channel closes.
func (h *harness) receive(t *testing.T, ch <-chan *eventbus.Message, what string) *eventbus.Message {
	t.Helper()
	timer := time.NewTimer(receiveTimeout)
	defer timer.Stop()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatalf("%s: the channel closed while waiting for %s", h.tr.Name, what)
		}
		if m == nil {
			t.Fatalf("%s: a nil message arrived while waiting for %s", h.tr.Name, what)
		}
		return m
	case <-timer.C:
		t.Fatalf("%s: no message within %s while waiting for %s", h.tr.Name, receiveTimeout, what)
	case <-h.ctx.Done():
		t.Fatalf("%s: the test timed out while waiting for %s", h.tr.Name, what)
	}
	return nil
}

// expectNothing fails if a message arrives on ch within d.
func (h *harness) expectNothing(t *testing.T, ch <-chan *eventbus.Message, d time.Duration, why string) {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatalf("%s: the channel closed early (%s)", h.tr.Name, why)
		}
		t.Fatalf("%s: unexpected message on %s (%s): %s", h.tr.Name, m.Topic, abbrev(m.Payload), why)
	case <-time.After(d):
	}
}

// expectClosed waits for ch to close, nacking what still arrives.
func (h *harness) expectClosed(t *testing.T, ch <-chan *eventbus.Message, why string) {
	t.Helper()
	timer := time.NewTimer(receiveTimeout)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				return
			}
			m.Nack()
		case <-timer.C:
			t.Fatalf("%s: the channel is still open %s after %s", h.tr.Name, receiveTimeout, why)
		}
	}
}

func abbrev(b []byte) string {
	if len(b) > 40 {
		return fmt.Sprintf("%q... (%d bytes)", b[:40], len(b))
	}
	return fmt.Sprintf("%q", b)
}

func seqPayload(tag string, i int) []byte { return fmt.Appendf(nil, "%s-%06d", tag, i) }

// testPublishReceive: payloads arrive byte-exact (binary and non-UTF-8,
// empty, 64 KiB) with their topic, not marked redelivered.
func testPublishReceive(t *testing.T, h *harness) {
	big := make([]byte, 64<<10)
	_, _ = rand.Read(big)
	payloads := [][]byte{
		{0xff, 0xfe, 0x00, 'a', 0xc3, 0x28, 0x00, 0x80},
		{},
		[]byte(`{"kind":"héllo ✓"}`),
		big,
	}
	sub := h.subscriber(t, "exact")
	topic := h.topic(t, "exact", "one")
	ch := h.subscribe(t, sub, topic)
	pub := h.publisher(t)
	before := time.Now()
	for _, p := range payloads {
		h.publish(t, pub, topic, p)
	}
	for i, want := range payloads {
		m := h.receive(t, ch, fmt.Sprintf("payload %d", i))
		if m.Topic != topic {
			t.Errorf("message %d: Topic = %q, want %q", i, m.Topic, topic)
		}
		if !bytes.Equal(m.Payload, want) {
			t.Errorf("message %d: Payload = %s, want %s", i, abbrev(m.Payload), abbrev(want))
		}
		if m.Redelivered {
			t.Errorf("message %d: Redelivered is set on a first delivery", i)
		}
		if m.ReceivedAt.Before(before.Add(-time.Second)) || m.ReceivedAt.After(time.Now().Add(time.Second)) {
			t.Errorf("message %d: ReceivedAt = %v, not the time it was received", i, m.ReceivedAt)
		}
		m.Ack()
	}
}

// testOrder: 1000 messages from one publisher goroutine arrive in order,
// none lost, none repeated.
func testOrder(t *testing.T, h *harness) {
	const n = 1000
	sub := h.subscriber(t, "order")
	topic := h.topic(t, "order")
	ch := h.subscribe(t, sub, topic)
	pub := h.publisher(t)
	errc := make(chan error, 1)
	go func() {
		for i := range n {
			if err := pub.Publish(h.ctx, topic, seqPayload("m", i)); err != nil {
				errc <- fmt.Errorf("publish %d: %w", i, err)
				return
			}
		}
		errc <- nil
	}()
	for i := range n {
		m := h.receive(t, ch, fmt.Sprintf("message %d of %d", i, n))
		if want := seqPayload("m", i); !bytes.Equal(m.Payload, want) {
			t.Fatalf("message %d is %s, want %s (out of order, lost or repeated)", i, abbrev(m.Payload), want)
		}
		m.Ack()
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	h.expectNothing(t, ch, quiet, "all 1000 arrived; anything more is a duplicate")
}

// testWildcards: "+" matches one level, "#" the rest (including the parent
// level), and messages on other topics do not arrive.
func testWildcards(t *testing.T, h *harness) {
	plus := h.subscribe(t, h.subscriber(t, "plus"), h.topic(t, "w", "+", "temp"))
	hash := h.subscribe(t, h.subscriber(t, "hash"), h.topic(t, "w", "#"))
	pub := h.publisher(t)
	topics := []string{
		h.topic(t, "w", "a", "temp"),       // both
		h.topic(t, "w", "b", "humidity"),   // # only
		h.topic(t, "w", "a", "b", "temp"),  // # only
		h.topic(t, "w"),                    // # only: it matches the parent level
		h.topic(t, "x", "a", "temp"),       // neither
		h.topic(t, "wx", "a", "temp"),      // neither: levels match whole
		h.topic(t, "w", "c", "temp"),       // both
		h.topic(t, "w", "c", "temp", "x"),  // # only
		h.topic(t, "other", "w", "a", "b"), // neither
	}
	wantPlus := []string{topics[0], topics[6]}
	wantHash := []string{topics[0], topics[1], topics[2], topics[3], topics[6], topics[7]}
	for i, tp := range topics {
		h.publish(t, pub, tp, seqPayload("w", i))
	}
	// A last message each filter matches: order per publisher means that
	// everything published before it has arrived when it does.
	end := h.topic(t, "w", "end", "temp")
	h.publish(t, pub, end, []byte("end"))
	for _, c := range []struct {
		name string
		ch   <-chan *eventbus.Message
		want []string
	}{{"+", plus, wantPlus}, {"#", hash, wantHash}} {
		var got []string
		for {
			m := h.receive(t, c.ch, "the end marker on the "+c.name+" subscription")
			m.Ack()
			if m.Topic == end {
				break
			}
			got = append(got, m.Topic)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("the %s subscription received\n%q\nwant\n%q", c.name, got, c.want)
		}
	}
}

// testAckPreventsRedelivery: a message acked before its subscriber closes
// is not delivered to the next subscriber of the identity.
func testAckPreventsRedelivery(t *testing.T, h *harness) {
	topic := h.topic(t, "acked")
	pub := h.publisher(t)
	first := h.subscriber(t, "acker")
	ch := h.subscribe(t, first, topic)
	h.publish(t, pub, topic, []byte("first"))
	m := h.receive(t, ch, "the first message")
	m.Ack()
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	second := h.resume(t, "acker")
	ch = h.subscribe(t, second, topic)
	h.publish(t, pub, topic, []byte("second"))
	m = h.receive(t, ch, "the second message")
	if string(m.Payload) != "second" {
		t.Fatalf("the resumed session received %s first, want \"second\": an acked message was delivered again", abbrev(m.Payload))
	}
	m.Ack()
	h.expectNothing(t, ch, quiet, "the acked message must not come back")
}

// testUnsettledRedelivered: a message neither acked nor nacked when its
// subscriber closes is delivered again to the next subscriber of the
// identity, before messages published later (in any order with
// ResumeUnordered).
func testUnsettledRedelivered(t *testing.T, h *harness) {
	topic := h.topic(t, "unsettled")
	pub := h.publisher(t)
	first := h.subscriber(t, "crasher")
	ch := h.subscribe(t, first, topic)
	h.publish(t, pub, topic, []byte("unsettled"))
	h.receive(t, ch, "the message left unsettled")
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	h.publish(t, pub, topic, []byte("later"))
	second := h.resume(t, "crasher")
	ch = h.subscribe(t, second, topic)
	got := h.receiveResumed(t, ch, "the unsettled message again, then the later one", []byte("unsettled"), []byte("later"))
	if h.tr.Features.RedeliveredFlag && !got["unsettled"].Redelivered {
		t.Error("the redelivered message does not have Redelivered set")
	}
	h.expectNothing(t, ch, quiet, "both messages were acked")
}

// testNackRedelivers: a nacked message is delivered again: at once with
// ImmediateNack, else at the latest to the next subscriber of the
// identity.
func testNackRedelivers(t *testing.T, h *harness) {
	topic := h.topic(t, "nacked")
	pub := h.publisher(t)
	sub := h.subscriber(t, "nacker")
	ch := h.subscribe(t, sub, topic)
	h.publish(t, pub, topic, []byte("nacked"))
	m := h.receive(t, ch, "the message to nack")
	m.Nack()
	m.Ack() // ignored: the first of Ack and Nack wins
	if !h.tr.Features.ImmediateNack {
		if err := sub.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		sub = h.resume(t, "nacker")
		ch = h.subscribe(t, sub, topic)
	}
	m = h.receive(t, ch, "the nacked message, again")
	if string(m.Payload) != "nacked" {
		t.Fatalf("received %s, want the nacked message again", abbrev(m.Payload))
	}
	if h.tr.Features.RedeliveredFlag && !m.Redelivered {
		t.Error("the redelivered message does not have Redelivered set")
	}
	m.Ack()
	h.expectNothing(t, ch, quiet, "the message was acked the second time")
}

// testRedeliveredAfterReconnect: when the connection under a subscriber
// is cut, a message it had not settled is delivered again on the
// connection it makes next, to the same subscription, before a message
// published meanwhile (in any order with ResumeUnordered); settling the
// first copy afterwards disturbs nothing, nothing else comes back, and
// the subscriber's whole window is still there.
func testRedeliveredAfterReconnect(t *testing.T, h *harness) {
	if h.tr.Interrupt == nil {
		t.Skipf("%s: the transport has no connection to cut (Transport.Interrupt)", h.tr.Name)
	}
	topic := h.topic(t, "interrupted")
	pub := h.publisher(t)
	sub := h.subscriber(t, "flaky")
	ch := h.subscribe(t, sub, topic)
	h.publish(t, pub, topic, []byte("before"))
	first := h.receive(t, ch, "the message left unsettled")
	h.tr.Interrupt(t, sub.(*closingSubscriber).Subscriber)
	h.publish(t, pub, topic, []byte("during"))
	got := h.receiveResumed(t, ch, "after the reconnection, the unsettled message again, then the one published meanwhile", []byte("before"), []byte("during"))
	if h.tr.Features.RedeliveredFlag && !got["before"].Redelivered {
		t.Error("the redelivered message does not have Redelivered set")
	}
	first.Ack() // the copy of the lost connection: ignored
	h.expectNothing(t, ch, quiet, "both messages were acked")
	// The subscriber still works, and its window was not taken by the
	// lost copy.
	for i := range h.tr.Window + 1 {
		h.publish(t, pub, topic, seqPayload("after", i))
	}
	for i := range h.tr.Window + 1 {
		m := h.receive(t, ch, fmt.Sprintf("message %d after the reconnection", i))
		if want := seqPayload("after", i); !bytes.Equal(m.Payload, want) {
			t.Fatalf("message %d after the reconnection is %s, want %s", i, abbrev(m.Payload), want)
		}
		m.Ack()
	}
}

// testOfflineQueued: messages published while the identity has no
// subscriber, after it subscribed once, are delivered in order (in any
// order with ResumeUnordered), once each, when it returns.
func testOfflineQueued(t *testing.T, h *harness) {
	const n = 20
	topic := h.topic(t, "offline")
	first := h.subscriber(t, "sleeper")
	h.subscribe(t, first, topic)
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	pub := h.publisher(t)
	for i := range n {
		h.publish(t, pub, topic, seqPayload("offline", i))
	}
	second := h.resume(t, "sleeper")
	ch := h.subscribe(t, second, topic)
	want := make([][]byte, n)
	for i := range n {
		want[i] = seqPayload("offline", i)
	}
	h.receiveResumed(t, ch, "the messages published offline", want...)
	h.expectNothing(t, ch, quiet, "every offline message arrived once")
}

// testBackPressure: a subscriber that does not ack receives exactly its
// window and then nothing; once it acks, the rest arrives, none lost.
func testBackPressure(t *testing.T, h *harness) {
	w := h.tr.Window
	n := 2*w + 5
	topic := h.topic(t, "window")
	sub := h.subscriber(t, "slow")
	ch := h.subscribe(t, sub, topic)
	pub := h.publisher(t)
	for i := range n {
		h.publish(t, pub, topic, seqPayload("bp", i))
	}
	var held []*eventbus.Message
	for len(held) < w {
		held = append(held, h.receive(t, ch, fmt.Sprintf("message %d of the window of %d", len(held), w)))
	}
	h.expectNothing(t, ch, quiet, fmt.Sprintf("%d messages are unacknowledged, the window is full", w))
	got := make([]int, 0, n)
	for _, m := range held {
		var i int
		if _, err := fmt.Sscanf(string(m.Payload), "bp-%06d", &i); err != nil {
			t.Fatalf("unexpected payload %s", abbrev(m.Payload))
		}
		got = append(got, i)
		m.Ack()
	}
	for len(got) < n {
		m := h.receive(t, ch, fmt.Sprintf("message %d of %d after acking", len(got), n))
		var i int
		if _, err := fmt.Sscanf(string(m.Payload), "bp-%06d", &i); err != nil {
			t.Fatalf("unexpected payload %s", abbrev(m.Payload))
		}
		got = append(got, i)
		m.Ack()
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("message %d is bp-%06d: lost, repeated or out of order", i, v)
		}
	}
	h.expectNothing(t, ch, quiet, "every message arrived once")
}

// testConcurrentPublishers: 10 goroutines publishing 100 messages each on
// one publisher: all arrive, each goroutine's in order.
func testConcurrentPublishers(t *testing.T, h *harness) {
	const goroutines, each = 10, 100
	topic := h.topic(t, "concurrent")
	sub := h.subscriber(t, "gatherer")
	ch := h.subscribe(t, sub, topic)
	pub := h.publisher(t)
	var wg sync.WaitGroup
	errc := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				if err := pub.Publish(h.ctx, topic, fmt.Appendf(nil, "g%02d-%03d", g, i)); err != nil {
					errc <- fmt.Errorf("goroutine %d, message %d: %w", g, i, err)
					return
				}
			}
		})
	}
	next := make([]int, goroutines)
	for range goroutines * each {
		m := h.receive(t, ch, "the concurrent messages")
		var g, i int
		if _, err := fmt.Sscanf(string(m.Payload), "g%02d-%03d", &g, &i); err != nil || g < 0 || g >= goroutines {
			t.Fatalf("unexpected payload %s", abbrev(m.Payload))
		}
		if i != next[g] {
			t.Fatalf("goroutine %d's message %d arrived when %d was expected: out of order, lost or repeated", g, i, next[g])
		}
		next[g]++
		m.Ack()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	h.expectNothing(t, ch, quiet, "every message arrived once")
}

// testPublishAfterClose: Publish fails once the publisher is closed.
func testPublishAfterClose(t *testing.T, h *harness) {
	pub := h.publisher(t)
	topic := h.topic(t, "closed")
	h.publish(t, pub, topic, []byte("before"))
	if err := pub.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := pub.Publish(h.ctx, topic, []byte("after")); err == nil {
		t.Fatal("Publish after Close returned nil")
	}
}

// testContextCancel: a subscription's channel closes when its context
// ends; the subscriber stays usable.
func testContextCancel(t *testing.T, h *harness) {
	sub := h.subscriber(t, "cancelled")
	ctx, cancel := context.WithCancel(h.ctx)
	ch, err := sub.Subscribe(ctx, h.topic(t, "cancel"))
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	cancel()
	h.expectClosed(t, ch, "its context was cancelled")
}

// testCloseClosesChannel: Close closes the subscriber's channels.
func testCloseClosesChannel(t *testing.T, h *harness) {
	sub := h.subscriber(t, "closer")
	ch := h.subscribe(t, sub, h.topic(t, "close"))
	if err := sub.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	h.expectClosed(t, ch, "the subscriber was closed")
}

// testShared: two subscribers of one shared group receive disjoint sets
// whose union is every message, each a share of them. Without
// SharedSubscriptions, each receives every message once.
func testShared(t *testing.T, h *harness) {
	const n = 200
	filter := eventbus.SharedFilter("eventbustest", h.topic(t, "jobs", "#"))
	a := h.subscribe(t, h.subscriber(t, "member-a"), filter)
	b := h.subscribe(t, h.subscriber(t, "member-b"), filter)
	pub := h.publisher(t)
	for i := range n {
		h.publish(t, pub, h.topic(t, "jobs", fmt.Sprint(i%7)), seqPayload("job", i))
	}
	if !h.tr.Features.SharedSubscriptions {
		testFanOut(t, h, n, a, b)
		return
	}
	seen := make(map[string]string, n)
	counts := map[string]int{}
	for len(seen) < n {
		var m *eventbus.Message
		var who string
		select {
		case m = <-a:
			who = "a"
		case m = <-b:
			who = "b"
		case <-time.After(receiveTimeout):
			t.Fatalf("%d of %d messages arrived (a: %d, b: %d)", len(seen), n, counts["a"], counts["b"])
		case <-h.ctx.Done():
			t.Fatalf("the test timed out with %d of %d messages arrived (a: %d, b: %d)", len(seen), n, counts["a"], counts["b"])
		}
		if m == nil {
			t.Fatalf("member %s's channel closed", who)
		}
		if prev, dup := seen[string(m.Payload)]; dup {
			t.Fatalf("%s was delivered to member %s and again to member %s", m.Payload, prev, who)
		}
		seen[string(m.Payload)] = who
		counts[who]++
		m.Ack()
	}
	for i := range n {
		if _, ok := seen[string(seqPayload("job", i))]; !ok {
			t.Errorf("job %d never arrived", i)
		}
	}
	if counts["a"] == 0 || counts["b"] == 0 {
		t.Errorf("one member received everything (a: %d, b: %d): the group does not share", counts["a"], counts["b"])
	}
	h.expectNothing(t, a, quiet, "every job arrived once")
	h.expectNothing(t, b, quiet, "every job arrived once")
}

// testFanOut checks that every member of a shared filter on a transport
// without shared subscriptions receives the n jobs, in order, once each.
// It reads the members as their messages come, so that none waits with a
// full window.
func testFanOut(t *testing.T, h *harness, n int, a, b <-chan *eventbus.Message) {
	next := map[string]int{}
	for next["a"] < n || next["b"] < n {
		var m *eventbus.Message
		var who string
		select {
		case m = <-a:
			who = "a"
		case m = <-b:
			who = "b"
		case <-time.After(receiveTimeout):
			t.Fatalf("without shared subscriptions every member receives every message: a has %d of %d, b %d (none means the shared filter was taken literally)", next["a"], n, next["b"])
		case <-h.ctx.Done():
			t.Fatalf("the test timed out: a has %d of %d, b %d", next["a"], n, next["b"])
		}
		if m == nil {
			t.Fatalf("member %s's channel closed", who)
		}
		if want := seqPayload("job", next[who]); !bytes.Equal(m.Payload, want) {
			t.Fatalf("member %s: job %d is %s, want %s (lost, repeated or out of order)", who, next[who], abbrev(m.Payload), want)
		}
		next[who]++
		m.Ack()
	}
	h.expectNothing(t, a, quiet, "member a received every job once")
	h.expectNothing(t, b, quiet, "member b received every job once")
}
