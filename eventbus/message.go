package eventbus

import (
	"sync"
	"time"
)

// Message is one delivery of a message from a Subscriber: the raw bytes as
// received (kept byte-exact for the dead-letter queue) and the topic.
// Exactly one of Ack and Nack takes effect; later calls are ignored.
type Message struct {
	// Topic is the topic the message was published on.
	Topic string
	// Payload is the message body, byte-exact.
	Payload []byte
	// Redelivered is set when the transport knows this is a redelivery
	// (MQTT's DUP flag); a message may be a redelivery without it.
	Redelivered bool
	// ReceivedAt is when the transport received the message.
	ReceivedAt time.Time

	once sync.Once
	ack  func()
	nack func()
}

// NewMessage returns a message whose Ack and Nack run ack and nack (either
// may be nil). Transports use it.
func NewMessage(topic string, payload []byte, ack, nack func()) *Message {
	return &Message{Topic: topic, Payload: payload, ReceivedAt: time.Now(), ack: ack, nack: nack}
}

// Ack confirms that the message was processed: the transport will not
// deliver it again.
func (m *Message) Ack() {
	m.once.Do(func() {
		if m.ack != nil {
			m.ack()
		}
	})
}

// Nack gives the delivery up: the message will be delivered again, at the
// latest when a subscriber with the same identity connects again.
func (m *Message) Nack() {
	m.once.Do(func() {
		if m.nack != nil {
			m.nack()
		}
	})
}
