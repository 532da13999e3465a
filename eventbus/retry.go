package eventbus

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// RetryConfig configures Retry.
type RetryConfig struct {
	// Attempts is the number of tries in all, the first included
	// (default 3).
	Attempts int
	// InitialInterval is the wait after the first failure (default
	// 100ms); each next wait doubles, up to MaxInterval (default 5s), with
	// ±50 % jitter.
	InitialInterval time.Duration
	// MaxInterval caps the wait.
	MaxInterval time.Duration
}

func (c RetryConfig) withDefaults() RetryConfig {
	if c.Attempts <= 0 {
		c.Attempts = 3
	}
	if c.InitialInterval <= 0 {
		c.InitialInterval = 100 * time.Millisecond
	}
	if c.MaxInterval <= 0 {
		c.MaxInterval = 5 * time.Second
	}
	return c
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: Retry gives up at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// Retry runs the handler again after a failure, with capped exponential
// backoff and jitter, up to cfg.Attempts tries in all; ev.Attempt counts
// them. It stops early for a Permanent error or when ctx ends, and returns
// the last error.
func Retry(cfg RetryConfig) Middleware {
	cfg = cfg.withDefaults()
	return func(next Handler) Handler {
		return func(ctx context.Context, ev *Event) error {
			wait := cfg.InitialInterval
			var err error
			for attempt := 1; attempt <= cfg.Attempts; attempt++ {
				ev.Attempt = attempt
				if err = next(ctx, ev); err == nil || IsPermanent(err) || attempt == cfg.Attempts {
					return err
				}
				d := wait/2 + rand.N(wait)
				select {
				case <-ctx.Done():
					return errors.Join(err, ctx.Err())
				case <-time.After(d):
				}
				wait = min(wait*2, cfg.MaxInterval)
			}
			return err
		}
	}
}
