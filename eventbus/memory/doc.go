// Package memory is an in-process transport for the event bus: a [Broker]
// whose [Broker.Publisher] and [Broker.Subscriber] implement
// [eventbus.Publisher] and [eventbus.Subscriber] exactly as the MQTT
// transport does, without a network. Tests, examples and single-process
// tools use it; it passes the same conformance suite
// ([github.com/taylordash/taylordash/eventbus/eventbustest]).
//
//	b := memory.New()
//	pub := b.Publisher()
//	sub := b.Subscriber("worker-1", 100)
//	ch, err := sub.Subscribe(ctx, "tracker/events/#")
//	...
//	err = pub.Publish(ctx, "tracker/events/projects/created", payload)
//	msg := <-ch
//	msg.Ack()
//
// # Semantics
//
// The broker keeps what an MQTT broker with persistent sessions keeps:
//
//   - Filters use MQTT syntax: "+" matches one level, a final "#" the rest
//     (see [eventbus.MatchTopic]). "$share/<group>/<filter>" is a shared
//     subscription: each message matching it goes to one member of the
//     group, members with a live subscriber first, in turn.
//   - A session per identity: the identity given to [Broker.Subscriber]
//     names it. A filter subscribed once stays in the session after its
//     channel closes; messages published while no subscriber of that
//     identity is live are queued and delivered, in order, when one
//     subscribes to the filter again. A second Subscriber with the same
//     identity takes the session over (the first one's channels close), as
//     a second MQTT client with the same client id does.
//   - At least once: a message is delivered until it is acknowledged.
//     [eventbus.Message.Nack] puts it back at once, in publication order,
//     marked Redelivered; messages delivered but neither acked nor nacked
//     when their channel closes are delivered again to the next subscriber
//     of the identity, before newer ones.
//   - Back-pressure: at most window messages per subscription are
//     delivered and not yet acked or nacked; delivery pauses there and
//     nothing is dropped. The queues are unbounded (memory is the limit).
//   - Order: messages reach a subscription in the order they were
//     published (one broker-wide order), except that redeliveries come
//     again in their original place.
//   - Overlapping filters in one session each get a copy of a message, as
//     with Mosquitto.
//
// Payloads are copied when published and again for every delivery, so a
// consumer may keep or modify what it received.
//
// Everything is safe for concurrent use. A Broker lives as long as it is
// referenced; it has no goroutines of its own (each live subscription has
// one, stopped when its context ends or its Subscriber is closed).
package memory
