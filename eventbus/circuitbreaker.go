package eventbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sony/gobreaker/v2"
)

// ErrCircuitOpen is returned by a publisher whose circuit breaker is
// open: the broker failed repeatedly, and calls fail at once until the
// cool-down ends.
var ErrCircuitOpen = errors.New("eventbus: publisher circuit open: the broker is failing")

// BreakerConfig configures CircuitBreaker.
type BreakerConfig struct {
	// Failures is how many consecutive failures open the circuit
	// (default 5).
	Failures uint32
	// CoolDown is how long the circuit stays open before one trial call
	// (default 5s).
	CoolDown time.Duration
	// OnStateChange, if set, is told every change ("closed", "open",
	// "half-open").
	OnStateChange func(state string)
}

// CircuitBreaker wraps pub so that after cfg.Failures consecutive publish
// failures it fails fast with ErrCircuitOpen for cfg.CoolDown, then lets a
// trial through: callers (an outbox relay, a request handler) stop
// waiting on a dead broker and back off instead. A caller's cancelled
// context does not count as a broker failure. (sony/gobreaker.)
func CircuitBreaker(pub Publisher, cfg BreakerConfig) Publisher {
	if cfg.Failures == 0 {
		cfg.Failures = 5
	}
	if cfg.CoolDown <= 0 {
		cfg.CoolDown = 5 * time.Second
	}
	st := gobreaker.Settings{
		Name:        "eventbus.publish",
		Timeout:     cfg.CoolDown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= cfg.Failures },
		IsExcluded: func(err error) bool {
			return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
		},
	}
	if cfg.OnStateChange != nil {
		st.OnStateChange = func(_ string, _, to gobreaker.State) { cfg.OnStateChange(to.String()) }
	}
	return &breakerPublisher{pub: pub, cb: gobreaker.NewCircuitBreaker[struct{}](st)}
}

type breakerPublisher struct {
	pub Publisher
	cb  *gobreaker.CircuitBreaker[struct{}]
}

func (b *breakerPublisher) Publish(ctx context.Context, topic string, payload []byte) error {
	_, err := b.cb.Execute(func() (struct{}, error) {
		return struct{}{}, b.pub.Publish(ctx, topic, payload)
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return fmt.Errorf("%w (publish to %s)", ErrCircuitOpen, topic)
	}
	return err
}

func (b *breakerPublisher) Close() error { return b.pub.Close() }
