package mqtt

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/taylordash/taylordash/eventbus"
)

// subscription is one Subscribe call's channel and its window.
type subscription struct {
	match     string // the filter with TopicPrefix, without $share, matched against received topics
	filter    string // the filter as sent to the broker
	out       chan *eventbus.Message
	cancel    context.CancelFunc
	queue     []*delivery // received, waiting for the consumer
	unsettled int         // queued, or delivered and neither acked nor nacked
}

// delivery is one message received for one subscription (or for none yet).
type delivery struct {
	gen      uint64 // the subscribing connection it arrived on
	topic    string // as received, with TopicPrefix
	payload  []byte
	dup      bool
	received time.Time
	group    *ackGroup
}

// ackGroup acknowledges a received message to the broker once every
// subscription it was delivered to has acked it; a Nack anywhere leaves it
// unacknowledged, so that the broker delivers it again when the session
// reconnects.
type ackGroup struct {
	msg       paho.Message
	remaining atomic.Int32
	nacked    atomic.Bool
}

func newAckGroup(m paho.Message, n int) *ackGroup {
	g := &ackGroup{msg: m}
	g.remaining.Store(int32(n))
	return g
}

func (g *ackGroup) settle(ack bool) {
	if !ack {
		g.nacked.Store(true)
	}
	if g.remaining.Add(-1) == 0 && !g.nacked.Load() {
		g.msg.Ack()
	}
}

// broadcast wakes everything waiting on c.changed. c.mu is held.
func (c *Client) broadcast() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Subscribe returns a channel of the messages whose topic matches filter
// (MQTT syntax; TopicPrefix is added, SharedGroup makes it shared unless
// filter is already "$share/<group>/...", and NoSharedSubscriptions makes
// it plain again), in the order the broker sends them. The channel closes
// when ctx ends or the client stops.
//
// When the subscribing connection is up, Subscribe returns once the broker
// has acknowledged the subscription (SUBACK), so that messages published
// afterwards arrive; a refusal is a *SubscribeError. When it is down (or
// the SUBACK does not come within ConnectTimeout), the filter is
// subscribed when the connection comes up, and Subscribe returns at once:
// an application starts while its broker is down. It also returns without
// the SUBACK while delivery is paused by a full window (see the package
// doc, Flow control): paho reads nothing then, the SUBACK included, until
// the caller consumes.
//
// Every message must be acked or nacked. Ack sends the PUBACK. Nack sends
// nothing: the broker holds the message as in flight and delivers it
// again, marked Redelivered, when this session next connects (after a lost
// connection, or to the next Client with the same ClientID), not before.
// Messages delivered and not settled when the channel closes are likewise
// delivered again on the next connection.
//
// The broker subscription stays in the session after ctx ends: messages
// for it are held, unacknowledged, for a later Subscribe to a matching
// filter (see the package doc, "Stale subscriptions").
func (c *Client) Subscribe(ctx context.Context, filter string) (<-chan *eventbus.Message, error) {
	group, inner, err := splitFilter(filter)
	if err != nil {
		return nil, err
	}
	if group == "" {
		group = c.cfg.SharedGroup
	}
	if c.cfg.NoSharedSubscriptions {
		group = "" // the broker would take $share/ literally: fan out instead
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mqtt: subscribe to %s: %w", filter, err)
	}
	subCtx, cancel := context.WithCancel(ctx)
	s := &subscription{
		match:  c.cfg.TopicPrefix + inner,
		filter: eventbus.SharedFilter(group, c.cfg.TopicPrefix+inner),
		out:    make(chan *eventbus.Message),
		cancel: cancel,
	}
	c.mu.Lock()
	if c.gate.isClosed() {
		c.mu.Unlock()
		cancel()
		return nil, fmt.Errorf("mqtt: subscribe to %s: %w", filter, ErrClosed)
	}
	// Messages that arrived before this subscription (the session's
	// queue, sent at once on connection) are its first.
	kept := c.pending[:0]
	for _, d := range c.pending {
		if eventbus.MatchTopic(s.match, d.topic) {
			s.queue = append(s.queue, d)
			s.unsettled++
		} else {
			kept = append(kept, d)
		}
	}
	clear(c.pending[len(kept):])
	c.pending = kept
	c.subs = append(c.subs, s)
	isNew := !c.filters[s.filter]
	c.filters[s.filter] = true
	c.broadcast()
	c.pumps.Add(1)
	c.mu.Unlock()
	go c.pump(subCtx, s)

	if !isNew {
		return s.out, nil
	}
	cli := c.sub.current()
	if cli == nil || !cli.IsConnectionOpen() {
		c.log.Debug("mqtt: not connected; the filter will be subscribed on connection", slog.String("filter", s.filter))
		return s.out, nil
	}
	tok := cli.SubscribeMultiple(map[string]byte{s.filter: c.cfg.QoS.Level()}, nil)
	timer := time.NewTimer(c.cfg.ConnectTimeout)
	defer timer.Stop()
	for acked := false; !acked; {
		c.mu.Lock()
		stalled, wait := c.stalled, c.changed
		c.mu.Unlock()
		if stalled {
			// The handler waits for a consumer to settle messages, so paho
			// reads nothing, the SUBACK included, until the caller
			// consumes: waiting for it could only time out. The SUBSCRIBE
			// is sent; the broker applies it in order.
			c.log.Debug("mqtt: delivery is paused by back-pressure; not waiting for the SUBACK", slog.String("filter", s.filter))
			return s.out, nil
		}
		select {
		case <-tok.Done():
			acked = true
		case <-wait:
		case <-timer.C:
			c.log.Warn("mqtt: no SUBACK in time; the filter will be subscribed again on the next connection", slog.String("filter", s.filter))
			return s.out, nil
		case <-ctx.Done():
			cancel()
			return nil, fmt.Errorf("mqtt: subscribe to %s: %w", filter, ctx.Err())
		}
	}
	if err := tok.Error(); err != nil {
		// The connection was lost: the next one subscribes.
		c.log.Debug("mqtt: subscribe interrupted; the filter will be subscribed on the next connection", slog.String("filter", s.filter), slog.String("error", err.Error()))
		return s.out, nil
	}
	if code, ok := tok.(*paho.SubscribeToken).Result()[s.filter]; ok && code == 0x80 {
		c.mu.Lock()
		delete(c.filters, s.filter)
		c.mu.Unlock()
		cancel()
		return nil, &SubscribeError{Filter: s.filter}
	}
	return s.out, nil
}

// onSubscribeUp subscribes every filter again on a new connection: the
// broker may have lost the session (no persistence, a clean session, an
// expired one), and subscribing again to a filter it has is harmless.
func (c *Client) onSubscribeUp(ctx context.Context, cli paho.Client) {
	c.mu.Lock()
	filters := make(map[string]byte, len(c.filters))
	for f := range c.filters {
		filters[f] = c.cfg.QoS.Level()
	}
	c.mu.Unlock()
	if len(filters) > 0 {
		tok := cli.SubscribeMultiple(filters, nil)
		timer := time.NewTimer(c.cfg.ConnectTimeout)
		defer timer.Stop()
	wait:
		for {
			c.mu.Lock()
			stalled, changed := c.stalled, c.changed
			c.mu.Unlock()
			if stalled {
				// Delivery waits for a consumer, so paho reads nothing, the
				// SUBACK included (see Subscribe). The SUBSCRIBE is sent;
				// the broker applies it in order.
				c.log.Debug("mqtt: delivery is paused by back-pressure; not waiting for the SUBACK after connecting")
				break
			}
			select {
			case <-tok.Done():
				if err := tok.Error(); err != nil {
					c.log.Warn("mqtt: subscribing again after connecting failed; retrying on the next connection", slog.String("error", err.Error()))
				}
				for f, code := range tok.(*paho.SubscribeToken).Result() {
					if code == 0x80 {
						c.log.Error("mqtt: the broker refused a subscription (SUBACK 0x80)", slog.String("filter", f))
					}
				}
				break wait
			case <-changed:
			case <-timer.C:
				c.log.Warn("mqtt: no SUBACK in time after connecting")
				break wait
			case <-ctx.Done():
				break wait
			case <-c.quit:
				break wait
			}
		}
	}
	if c.pub.up() {
		c.publishStatus(ctx, "online")
	}
}

// route is paho's handler for every received message, called for one
// message at a time in the broker's order. It hands the message to every
// subscription whose filter matches, or holds it until one appears. While
// a matching subscription's window is full it blocks: paho stops reading
// the connection and the broker stops sending (back-pressure, not loss).
// It gives the message up, unacknowledged, when the client stops or the
// connection is lost: the broker sends it again on the next connection.
func (c *Client) route(cli paho.Client, gen uint64, m paho.Message) {
	now := time.Now()
	c.lastMessage.Store(now.UnixNano())
	d := &delivery{gen: gen, topic: m.Topic(), payload: m.Payload(), dup: m.Duplicate(), received: now}
	var tick <-chan time.Time
	var ticker *time.Ticker
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	c.mu.Lock()
	for {
		select {
		case <-c.quit:
			c.mu.Unlock()
			return
		default:
		}
		var targets []*subscription
		room := true
		for _, s := range c.subs {
			if eventbus.MatchTopic(s.match, d.topic) {
				targets = append(targets, s)
				room = room && s.unsettled < c.cfg.Window
			}
		}
		switch {
		case len(targets) == 0 && len(c.pending) < c.cfg.Window:
			c.stalled = false
			d.group = newAckGroup(m, 1)
			c.pending = append(c.pending, d)
			c.broadcast()
			c.mu.Unlock()
			return
		case len(targets) > 0 && room:
			c.stalled = false
			g := newAckGroup(m, len(targets))
			for i, s := range targets {
				di := d
				if i > 0 {
					copied := *d
					copied.payload = slices.Clone(d.payload)
					di = &copied
				}
				di.group = g
				s.queue = append(s.queue, di)
				s.unsettled++
			}
			c.broadcast()
			c.mu.Unlock()
			return
		}
		if len(targets) == 0 {
			c.warnHeld(d.topic)
		}
		if !c.stalled {
			c.stalled = true
			c.broadcast()
		}
		wait := c.changed
		c.mu.Unlock()
		if !cli.IsConnectionOpen() {
			c.unstall()
			return
		}
		if ticker == nil {
			ticker = time.NewTicker(100 * time.Millisecond)
			tick = ticker.C
		}
		select {
		case <-wait:
		case <-c.quit:
			return
		case <-tick:
			if !cli.IsConnectionOpen() {
				c.unstall()
				return
			}
		}
		c.mu.Lock()
	}
}

func (c *Client) unstall() {
	c.mu.Lock()
	c.stalled = false
	c.mu.Unlock()
}

// warnHeld logs, at most once a minute, that messages no subscription
// matches fill the hold. c.mu is held.
func (c *Client) warnHeld(topic string) {
	if time.Since(c.warned) < time.Minute {
		return
	}
	c.warned = time.Now()
	c.log.Warn("mqtt: delivery paused: the session holds messages that no subscription of this process matches",
		slog.Int("held", len(c.pending)), slog.String("topic", topic),
		slog.String("hint", "subscribe to their filter, or remove the stale subscription from the broker session (see the eventbus/mqtt package doc)"))
}

// pump delivers s's queue to s.out until ctx ends or the client stops,
// then closes s.out.
func (c *Client) pump(ctx context.Context, s *subscription) {
	defer c.pumps.Done()
	defer close(s.out)
	defer s.cancel()
	for {
		c.mu.Lock()
		for len(s.queue) == 0 {
			wait := c.changed
			c.mu.Unlock()
			select {
			case <-wait:
			case <-ctx.Done():
				c.unsubscribe(s, nil)
				return
			case <-c.quit:
				return
			}
			c.mu.Lock()
		}
		d := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		c.mu.Unlock()

		msg := eventbus.NewMessage(strings.TrimPrefix(d.topic, c.cfg.TopicPrefix), d.payload,
			func() { c.settle(s, d, true) }, func() { c.settle(s, d, false) })
		msg.Redelivered = d.dup
		msg.ReceivedAt = d.received
		select {
		case s.out <- msg:
		case <-ctx.Done():
			c.unsubscribe(s, d)
			return
		case <-c.quit:
			return
		}
	}
}

// unsubscribe removes s from the routing; what it had not delivered yet
// (and inHand) is held for a later subscription. The broker subscription
// stays.
func (c *Client) unsubscribe(s *subscription, inHand *delivery) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.subs = slices.DeleteFunc(c.subs, func(x *subscription) bool { return x == s })
	var back []*delivery
	if inHand != nil {
		back = append(back, inHand)
	}
	back = append(back, s.queue...)
	s.unsettled -= len(back)
	s.queue = nil
	c.pending = append(back, c.pending...)
	c.broadcast()
}

// settle ends a delivery: the window has room again, and the broker gets
// the PUBACK once every subscription the message went to acked it.
func (c *Client) settle(s *subscription, d *delivery, ack bool) {
	c.mu.Lock()
	s.unsettled--
	c.broadcast()
	c.mu.Unlock()
	d.group.settle(ack)
}

// dropConnection forgets the messages of a lost subscribing connection
// that no consumer has seen: the broker sends them again on the next one.
func (c *Client) dropConnection(gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.subs {
		n := len(s.queue)
		s.queue = slices.DeleteFunc(s.queue, func(d *delivery) bool { return d.gen == gen })
		s.unsettled -= n - len(s.queue)
	}
	c.pending = slices.DeleteFunc(c.pending, func(d *delivery) bool { return d.gen == gen })
	c.broadcast()
}
