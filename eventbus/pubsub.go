package eventbus

import "context"

// Publisher sends messages to a broker.
//
// Publish returns nil only once the broker has taken responsibility for
// the message (for MQTT QoS 1, its PUBACK arrived): a message for which
// Publish returned nil is never lost by the transport (the broker's own
// durability, its persistence and autosave, bounds the rest). On error the
// message may or may not have been delivered (the acknowledgement may
// have been lost): retrying may deliver it twice, which the mirror's
// idempotency key makes harmless. Publish honours ctx. Publish is safe for
// concurrent use; messages published by one goroutine, one after the
// other, reach a subscriber in that order. Close waits for Publish calls
// in progress and makes later ones fail.
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte) error
	Close() error
}

// Subscriber receives messages from a broker.
//
// Subscribe returns a channel of the messages whose topic matches filter
// (MQTT syntax: + one level, # the rest), in the order the broker sent
// them (except redeliveries, and with no order across the members of a
// shared group), and keeps it open until ctx ends or Close is called.
// Once Subscribe returns on a connected transport, messages published
// afterwards that match filter are delivered; a message matching several
// filters of one subscriber may be delivered once per filter. Several
// messages may be outstanding at once, up to the transport's window per
// subscription (counting messages neither acked nor nacked); a subscriber
// stops delivering when that many are outstanding, so a slow consumer is
// back-pressure, not loss. Every message must be acked (processed, never
// delivered again) or nacked (delivered again, at the latest after the
// subscriber reconnects with the same identity; a transport may pause
// while nacked messages wait, so Nack gives up, it does not retry). Ack
// or Nack after the channel closed may be ignored: the message is then
// delivered again.
//
// The identity is the one the transport was created with (MQTT: the
// client id). A message neither acked nor nacked when the subscriber
// closes is delivered again to the next subscriber of the same identity
// (the MQTT persistent session); a second subscriber of the same
// identity takes the session over. Subscribe after Close fails.
// Subscribe and Close are safe for concurrent use; a message's Ack and
// Nack may be called from any goroutine. A value implementing both
// Publisher and Subscriber may share one Close that ends both.
type Subscriber interface {
	Subscribe(ctx context.Context, filter string) (<-chan *Message, error)
	Close() error
}
