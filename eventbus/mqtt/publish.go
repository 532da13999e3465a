package mqtt

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/taylordash/taylordash/eventbus"
)

// Publish sends payload to topic (with TopicPrefix) at the configured QoS
// and, at QoS 1, returns nil once the broker's PUBACK arrived: the broker
// has the message. It fails at once with ErrNotConnected while the
// publishing connection is down, and when the connection is lost or ctx
// ends before the PUBACK; the message may then have been delivered or not,
// and the caller retries (the idempotency key makes a duplicate harmless).
// Publications of one goroutine, one after the other, reach subscribers in
// that order. Publish is safe for concurrent use. With
// Config.TracerProvider it records a producer span "publish <topic>"
// (see [eventbus.StartPublishSpan]).
func (c *Client) Publish(ctx context.Context, topic string, payload []byte) error {
	if c.tracer == nil {
		return c.publish(ctx, topic, payload)
	}
	ctx, span := eventbus.StartPublishSpan(ctx, c.tracer, topic)
	defer span.End()
	span.SetAttributes(attribute.Int("messaging.message.body.size", len(payload)))
	err := c.publish(ctx, topic, payload)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
	}
	return err
}

// publish is Publish without its span.
func (c *Client) publish(ctx context.Context, topic string, payload []byte) error {
	if err := validTopic(topic); err != nil {
		return err
	}
	if !c.gate.enter() {
		return fmt.Errorf("mqtt: publish to %s: %w", topic, ErrClosed)
	}
	defer c.gate.leave()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mqtt: publish to %s: %w", topic, err)
	}
	cli := c.pub.current()
	if cli == nil || !cli.IsConnectionOpen() {
		return fmt.Errorf("mqtt: publish to %s: %w %s", topic, ErrNotConnected, c.addr)
	}
	// paho may still write the payload after an early return: it gets a
	// copy the caller cannot change.
	body := append([]byte(nil), payload...)
	tok := cli.Publish(c.cfg.TopicPrefix+topic, c.cfg.QoS.Level(), false, body)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("mqtt: publish to %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mqtt: publish to %s: no PUBACK: %w", topic, ctx.Err())
	}
}
