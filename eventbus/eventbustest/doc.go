// Package eventbustest is the conformance suite of the event bus
// transports: every implementation of [eventbus.Publisher] and
// [eventbus.Subscriber] passes [Run], which checks the contract written in
// the eventbus package, the way watermill's pubsub tests do.
//
//	func TestConformance(t *testing.T) {
//		b := memory.New()
//		eventbustest.Run(t, eventbustest.Transport{
//			Name:          "memory",
//			NewPublisher:  func(t *testing.T) eventbus.Publisher { return b.Publisher() },
//			NewSubscriber: func(t *testing.T, id string) eventbus.Subscriber { return b.Subscriber(t.Name()+"/"+id, 10) },
//			Topic:         func(t *testing.T, parts ...string) string { return t.Name() + "/" + strings.Join(parts, "/") },
//			Window:        10,
//			Features:      eventbustest.Features{SharedSubscriptions: true, ImmediateNack: true},
//		})
//	}
//
// # What the suite checks
//
// [TestNames] lists the subtests; each one documents its claim in the
// source. In short: a payload arrives byte-exact (non-UTF-8, empty, 64
// KiB); 1000 messages from one publisher arrive in order, none lost, none
// repeated; "+" and "#" match and nothing else arrives; an acked message
// is not delivered again to the next subscriber of the identity, an
// unsettled one is (before newer messages), a nacked one is (at once when
// [Features.ImmediateNack] is set, else after the subscriber reconnects);
// with [Transport.Interrupt], a message unsettled when the connection under
// a subscriber is cut is delivered again on its next connection (QoS 1
// redelivery after a reconnect); messages published while the identity is
// offline are delivered when it returns; a subscriber that does not ack
// stops at [Transport.Window] and loses nothing once it acks; 10
// concurrent publishers of 100 messages each are all delivered, each
// publisher's in order; Publish after Close fails; a subscription's
// channel closes when its context ends or its subscriber closes; and, with
// [Features.SharedSubscriptions], two members of a group receive disjoint
// sets whose union is everything, or, without, each receives everything
// (a shared filter served as a plain one, never taken literally).
//
// # Brokers that differ
//
// One suite runs against every MQTT broker a team might run (the
// eventbus/mqtt tests run it on Mosquitto, mochi-mqtt, RabbitMQ and NATS;
// docs/eventbus.md has the table). Where a broker differs, the transport
// declares it rather than the suite skipping: [Features] says which
// optional behaviours it has, [Features.ResumeUnordered] that a resumed
// session's messages come in any order (checked as sets), and
// [Transport.ResumeDelay] how long a broker needs to read a closed
// connection's last acknowledgements before the identity resumes.
//
// # Writing a transport's factory
//
// Subtests run in parallel. Each gets topics of its own from
// [Transport.Topic] and names its subscribers' identities; the factory
// must make an identity unique to the subtest (t.Name() is) and stable
// within it, since the suite opens a second subscriber with the same
// identity to check that it resumes the first one's session. A subscriber
// returned by NewSubscriber must be ready: messages published after
// Subscribe returns are delivered to it. The suite closes what the
// factories return when the subtest ends, unless it closed it itself.
package eventbustest
