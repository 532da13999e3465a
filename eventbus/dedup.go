package eventbus

import "context"

// Dedup skips events the mirror already held (Event.Duplicate, set by the
// Recorder from the idempotency key): a broker redelivery or a replay of
// an event whose handlers already ran. Put it outermost when handlers
// are not idempotent; leave it out for handlers that must see replays.
func Dedup() Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, ev *Event) error {
			if ev.Duplicate {
				return nil
			}
			return next(ctx, ev)
		}
	}
}
