package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/taylordash/taylordash/eventbus"
)

// Publisher returns a new publisher on b. Each publisher is closed on its
// own.
func (b *Broker) Publisher() eventbus.Publisher {
	return &publisher{b: b}
}

type publisher struct {
	b      *Broker
	mu     sync.RWMutex // held for reading by Publish, for writing by Close
	closed bool
}

var _ eventbus.Publisher = (*publisher)(nil)

// Publish queues payload (copied) for every subscription whose filter
// matches topic, and returns: the broker has taken responsibility. It
// fails when ctx has ended, the topic is not a valid topic name (empty,
// or holding a wildcard or a NUL), or the publisher is closed.
func (p *publisher) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: publish to %s: %w", topic, err)
	}
	if err := validTopic(topic); err != nil {
		return err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return fmt.Errorf("memory: publish to %s: %w", topic, ErrClosed)
	}
	body := append([]byte(nil), payload...)
	p.b.mu.Lock()
	p.b.route(topic, body)
	p.b.mu.Unlock()
	return nil
}

// Close waits for Publish calls in progress; later ones fail with
// ErrClosed. It is safe to call more than once.
func (p *publisher) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return nil
}
