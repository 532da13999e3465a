package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/taylordash/taylordash/eventbus"
)

// Subscriber returns a subscriber whose persistent session is named by
// identity: a later Subscriber with the same identity resumes it (and
// takes it over from this one, whose channels then close). An empty
// identity gives a session of its own that nobody can resume. At most
// window messages per subscription are delivered and not yet acked or
// nacked; window <= 0 means [DefaultWindow].
func (b *Broker) Subscriber(identity string, window int) eventbus.Subscriber {
	if window <= 0 {
		window = DefaultWindow
	}
	if identity == "" {
		b.mu.Lock()
		identity = b.anonymousIdentity()
		b.mu.Unlock()
	}
	return &subscriber{b: b, identity: identity, window: window}
}

type subscriber struct {
	b        *Broker
	identity string
	window   int

	// guarded by b.mu
	closed bool
	atts   map[*attachment]struct{}

	pumps sync.WaitGroup
}

var _ eventbus.Subscriber = (*subscriber)(nil)

// Subscribe adds filter to the session (if new) and returns a channel of
// its messages: first those the session holds for it, then new ones. The
// channel closes when ctx ends, when Close is called, or when another
// Subscriber of the same identity takes the session over, or subscribes to
// the same filter through this Subscriber again. The filter stays in the
// session after that: its messages are kept for the next subscriber.
func (s *subscriber) Subscribe(ctx context.Context, filter string) (<-chan *eventbus.Message, error) {
	if err := validFilter(filter); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: subscribe to %s: %w", filter, err)
	}
	b := s.b
	b.mu.Lock()
	if s.closed {
		b.mu.Unlock()
		return nil, fmt.Errorf("memory: subscribe to %s: %w", filter, ErrClosed)
	}
	sess := b.session(s.identity)
	if sess.owner != nil && sess.owner != s {
		// A new subscriber of the identity takes the session over.
		for _, sub := range sess.subs {
			if sub.att != nil {
				sub.detach(sub.att)
			}
		}
	}
	sess.owner = s
	sub, ok := sess.subs[filter]
	if !ok {
		sub = &subscription{sess: sess, filter: filter}
		sess.subs[filter] = sub
	}
	if sub.att != nil {
		sub.detach(sub.att)
	}
	a := &attachment{sub: sub, owner: s, window: s.window, wake: make(chan struct{}, 1), done: make(chan struct{})}
	sub.att = a
	if s.atts == nil {
		s.atts = make(map[*attachment]struct{})
	}
	s.atts[a] = struct{}{}
	s.pumps.Add(1)
	b.mu.Unlock()

	out := make(chan *eventbus.Message)
	go s.pump(ctx, a, out)
	return out, nil
}

// pump delivers a's messages to out, up to the window, until a is
// detached or ctx ends; then it closes out.
func (s *subscriber) pump(ctx context.Context, a *attachment, out chan<- *eventbus.Message) {
	defer s.pumps.Done()
	defer close(out)
	b := s.b
	stop := func() {
		b.mu.Lock()
		a.sub.detach(a)
		delete(s.atts, a)
		b.mu.Unlock()
	}
	for {
		b.mu.Lock()
		sub := a.sub
		if sub.att != a {
			delete(s.atts, a)
			b.mu.Unlock()
			return
		}
		if len(sub.queue) == 0 || len(sub.inflight) >= a.window {
			b.mu.Unlock()
			select {
			case <-a.wake:
				continue
			case <-a.done:
				continue
			case <-ctx.Done():
				stop()
				return
			}
		}
		e := sub.queue[0]
		sub.queue = sub.queue[1:]
		sub.inflight = append(sub.inflight, e)
		b.mu.Unlock()

		msg := eventbus.NewMessage(e.topic, append([]byte(nil), e.payload...),
			func() { b.mu.Lock(); sub.settle(a, e, true); b.mu.Unlock() },
			func() { b.mu.Lock(); sub.settle(a, e, false); b.mu.Unlock() })
		msg.Redelivered = e.redelivered
		select {
		case out <- msg:
		case <-a.done:
			// Detached while in hand: detach already queued e again.
		case <-ctx.Done():
			stop()
			return
		}
	}
}

// Close closes every channel of this subscriber (their unsettled messages
// are delivered again to the next subscriber of the identity) and waits
// for them; later Subscribe calls fail with ErrClosed. It is safe to call
// more than once.
func (s *subscriber) Close() error {
	b := s.b
	b.mu.Lock()
	s.closed = true
	for a := range s.atts {
		a.sub.detach(a)
	}
	if sess := b.sessions[s.identity]; sess != nil && sess.owner == s {
		sess.owner = nil
	}
	b.mu.Unlock()
	s.pumps.Wait()
	return nil
}
