package eventbus

import (
	"context"
	"time"
)

// Event is a valid message on its way through the ingest pipeline.
type Event struct {
	// Topic is the topic the message arrived on (without the transport's
	// topic prefix).
	Topic string
	// Envelope is the parsed message.
	Envelope Envelope
	// Raw is the message as received.
	Raw []byte
	// ReceivedAt is when the transport received it.
	ReceivedAt time.Time
	// Duplicate is set by the Recorder when the mirror already held an
	// event with the same idempotency key (a redelivery or a replay):
	// handlers have seen it before (see Dedup).
	Duplicate bool
	// Attempt counts handler attempts for this delivery, from 1.
	Attempt int

	// dlqWrites counts the dead letters the DLQ middleware wrote for
	// this delivery (one per failing route), for the metrics.
	dlqWrites int
}

// Recorder stores events in the mirror.
//
// Record stores the events of a batch that are not stored yet, in one
// transaction, deciding "stored yet" by idempotency key, and sets
// Duplicate on the others. On error nothing is known to be stored: the
// caller retries the whole batch, which the idempotency key makes safe
// (a commit whose acknowledgement was lost stores nothing the second
// time). An event this service published through a transactional outbox
// is in the mirror from its commit on, yet its first delivery from the
// broker is not a Duplicate: handlers run once for it. Record may be
// called for several batches at once (the ingest pipeline stores up to
// two concurrently, each from its own goroutine, never sharing an
// event); when two of them carry the same key, one stores it and the
// other marks it a Duplicate.
type Recorder interface {
	Record(ctx context.Context, events []*Event) error
}

// InFlightRecorder is a Recorder that also remembers which stored events
// are still being handled, so that a crash between the commit and the
// handlers loses no handling: an event stored but in flight when the
// process died is no Duplicate when the broker delivers it again, and its
// handlers run.
//
// RecordInFlight is Record that also marks the batch's stored events in
// flight, in the same transaction, and returns a token for them. Handled
// clears the marks of tokens whose handlers finished (the ingest pipeline
// calls it after acknowledging their messages, coalesced). Both are safe
// for concurrent use.
type InFlightRecorder interface {
	Recorder
	RecordInFlight(ctx context.Context, events []*Event) (token int64, err error)
	Handled(ctx context.Context, tokens []int64) error
}

// DeadLetter is a message that could not be processed: invalid, or failed
// by its handlers after every retry.
type DeadLetter struct {
	// Topic is the topic the message arrived on.
	Topic string
	// Payload is the message byte-exact, as received.
	Payload []byte
	// Reason is the bounded code; Detail says more, for people.
	Reason Reason
	// Detail explains the failure without secrets.
	Detail string
	// IdempotencyKey is the event's key, when the message parsed.
	IdempotencyKey string
	// Attempts is how many times handling was tried in this delivery.
	Attempts int
	// FailedAt is when the failure happened.
	FailedAt time.Time
}

// DeadLetters stores dead letters. Put stores a batch in one transaction;
// the same message (topic and payload) dead-lettered again updates its
// attempts and last failure instead of adding a row. On error the caller
// retries; Put is called by one goroutine at a time.
type DeadLetters interface {
	Put(ctx context.Context, letters []DeadLetter) error
}

// DLQTopic returns the dead-letter topic of a topic, as the original
// named it: tracker/dlq/<topic with "/" replaced by "_">.
func DLQTopic(topic string) string {
	out := []byte("tracker/dlq/")
	for i := 0; i < len(topic); i++ {
		if topic[i] == '/' {
			out = append(out, '_')
		} else {
			out = append(out, topic[i])
		}
	}
	return string(out)
}
