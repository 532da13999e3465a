package memory

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/taylordash/taylordash/eventbus"
)

// ErrClosed is returned by Publish and Subscribe after Close.
var ErrClosed = errors.New("memory: closed")

// DefaultWindow is the window of a Subscriber created with a window of
// zero or less.
const DefaultWindow = 1000

// Broker is an in-memory message broker. The zero value is not usable;
// call [New].
type Broker struct {
	mu       sync.Mutex
	sessions map[string]*session
	seq      uint64         // the last publication's sequence number
	turns    map[string]int // next member of each shared group, by "$share/group/filter"
	anon     int            // counter for subscribers without an identity
}

// New returns an empty broker.
func New() *Broker {
	return &Broker{sessions: make(map[string]*session), turns: make(map[string]int)}
}

// session is the persistent state of one identity.
type session struct {
	identity string
	owner    *subscriber              // the Subscriber that holds the session, nil if none
	subs     map[string]*subscription // by filter as given (with $share/...)
}

// subscription is one filter of a session with its messages; it outlives
// the channels attached to it.
type subscription struct {
	sess     *session
	filter   string
	queue    []*entry // waiting for delivery, sorted by seq
	inflight []*entry // delivered, neither acked nor nacked
	att      *attachment
}

// entry is one message queued for one subscription.
type entry struct {
	seq         uint64
	topic       string
	payload     []byte
	redelivered bool
}

// attachment is a live channel on a subscription, fed by its pump.
type attachment struct {
	sub    *subscription
	owner  *subscriber
	window int
	wake   chan struct{} // buffered 1: something changed for the pump
	done   chan struct{} // closed when detached
}

func (a *attachment) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// route queues a message for every subscription that matches topic. b.mu
// is held.
func (b *Broker) route(topic string, payload []byte) {
	b.seq++
	seq := b.seq
	groups := make(map[string][]*subscription)
	for _, sess := range b.sessions {
		for filter, s := range sess.subs {
			if !eventbus.MatchTopic(filter, topic) {
				continue
			}
			if strings.HasPrefix(filter, "$share/") {
				groups[filter] = append(groups[filter], s)
				continue
			}
			s.enqueue(&entry{seq: seq, topic: topic, payload: payload})
		}
	}
	for filter, members := range groups {
		// Stable order, so that "in turn" means something.
		slices.SortFunc(members, func(x, y *subscription) int { return strings.Compare(x.sess.identity, y.sess.identity) })
		live := members[:0:0]
		for _, m := range members {
			if m.att != nil {
				live = append(live, m)
			}
		}
		if len(live) > 0 {
			members = live
		}
		turn := b.turns[filter]
		b.turns[filter] = turn + 1
		members[turn%len(members)].enqueue(&entry{seq: seq, topic: topic, payload: payload})
	}
}

// enqueue adds e to the queue, keeping it sorted by seq. b.mu is held.
func (s *subscription) enqueue(e *entry) {
	i, _ := slices.BinarySearchFunc(s.queue, e.seq, func(x *entry, seq uint64) int {
		switch {
		case x.seq < seq:
			return -1
		case x.seq > seq:
			return 1
		}
		return 0
	})
	s.queue = slices.Insert(s.queue, i, e)
	if s.att != nil {
		s.att.signal()
	}
}

// settle ends the delivery of e through a: acked, it is forgotten;
// nacked, it is queued again. Deliveries of a detached attachment were
// already queued again when it detached. b.mu is held.
func (s *subscription) settle(a *attachment, e *entry, ack bool) {
	if s.att != a {
		return
	}
	i := slices.Index(s.inflight, e)
	if i < 0 {
		return
	}
	s.inflight = slices.Delete(s.inflight, i, i+1)
	if !ack {
		e.redelivered = true
		s.enqueue(e)
	}
	a.signal()
}

// detach closes a's delivery: what it delivered and nobody settled is
// queued again for the next subscriber. b.mu is held.
func (s *subscription) detach(a *attachment) {
	if s.att != a {
		return
	}
	for _, e := range s.inflight {
		e.redelivered = true
		s.enqueue(e)
	}
	s.inflight = nil
	s.att = nil
	close(a.done)
}

// session returns the session of identity, created if needed. b.mu is
// held.
func (b *Broker) session(identity string) *session {
	sess, ok := b.sessions[identity]
	if !ok {
		sess = &session{identity: identity, subs: make(map[string]*subscription)}
		b.sessions[identity] = sess
	}
	return sess
}

// anonymousIdentity returns an identity no caller can name. b.mu is held.
func (b *Broker) anonymousIdentity() string {
	b.anon++
	return "\x00anonymous-" + strconv.Itoa(b.anon)
}
