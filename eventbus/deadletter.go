package eventbus

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"
	"unicode/utf8"
)

// DLQ records an event whose handlers still fail (after the retries
// inside it) in the dead-letter queue with ReasonHandlerFailed, publishes
// it to its DLQ topic when pub is not nil (best effort), and then reports
// success, so that the message is acknowledged and the stream goes on. If
// the queue cannot be written, the handler's error is returned instead:
// the message is not acknowledged and comes back later. Nothing is lost.
func DLQ(dlq DeadLetters, pub Publisher, log *slog.Logger) Middleware {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(next Handler) Handler {
		return func(ctx context.Context, ev *Event) error {
			err := next(ctx, ev)
			if err == nil {
				return nil
			}
			letter := DeadLetter{
				Topic:          ev.Topic,
				Payload:        ev.Raw,
				Reason:         ReasonHandlerFailed,
				Detail:         err.Error(),
				IdempotencyKey: ev.Envelope.IdempotencyKey,
				Attempts:       max(ev.Attempt, 1),
				FailedAt:       time.Now().UTC(),
			}
			if perr := dlq.Put(ctx, []DeadLetter{letter}); perr != nil {
				log.WarnContext(ctx, "dead-letter queue unavailable; the message will be delivered again",
					slog.String("topic", ev.Topic), slog.String("error", perr.Error()))
				return err
			}
			ev.dlqWrites++
			deadLettered(ctx, ReasonHandlerFailed)
			log.WarnContext(ctx, "event dead-lettered", slog.String("topic", ev.Topic),
				slog.String("idempotency_key", ev.Envelope.IdempotencyKey), slog.String("error", err.Error()))
			PublishDeadLetter(ctx, pub, letter, log)
			return nil
		}
	}
}

// DLQMessage is what the dead-letter topic carries, with the original's
// keys: the original topic, the reason code and detail, when, and the
// payload (as JSON when it was JSON, else as text when it was UTF-8, else
// base64 under payload_base64).
type DLQMessage struct {
	OriginalTopic    string          `json:"original_topic"`
	FailureReason    Reason          `json:"failure_reason"`
	FailureDetail    string          `json:"failure_detail,omitempty"`
	FailureTimestamp time.Time       `json:"failure_timestamp"`
	Payload          json.RawMessage `json:"payload,omitempty"`
	PayloadBase64    []byte          `json:"payload_base64,omitempty"`
}

// NewDLQMessage returns the DLQ topic's message for a dead letter.
func NewDLQMessage(l DeadLetter) DLQMessage {
	m := DLQMessage{OriginalTopic: l.Topic, FailureReason: l.Reason, FailureDetail: l.Detail, FailureTimestamp: l.FailedAt}
	switch {
	case json.Valid(l.Payload):
		m.Payload = l.Payload
	case utf8.Valid(l.Payload):
		m.Payload, _ = json.Marshal(string(l.Payload))
	default:
		m.PayloadBase64 = l.Payload
	}
	return m
}

// PublishDeadLetter publishes a dead letter to its DLQ topic when pub is
// not nil. It is best effort: the dead-letter table is the record, so a
// failure is only logged.
func PublishDeadLetter(ctx context.Context, pub Publisher, l DeadLetter, log *slog.Logger) {
	if pub == nil {
		return
	}
	b, err := json.Marshal(NewDLQMessage(l))
	if err == nil {
		err = pub.Publish(ctx, DLQTopic(l.Topic), b)
	}
	if err != nil && log != nil {
		log.WarnContext(ctx, "publish to the dead-letter topic failed (the dead-letter table has the message)",
			slog.String("topic", DLQTopic(l.Topic)), slog.String("error", err.Error()))
	}
}
