package eventbus

import (
	"errors"
	"fmt"
	"time"

	"github.com/taylordash/taylordash/dashcore"
)

// Config configures the ingest pipeline. Fields with an env tag are read
// from TAYLORDASH_EVENTS_* variables by dashcore.
type Config struct {
	// Subscribe lists the topic filters ingested; the original's topics by
	// default.
	Subscribe []string `env:"EVENTS_SUBSCRIBE"`
	// BatchSize caps the messages stored in one transaction.
	BatchSize int `env:"EVENTS_BATCH_SIZE"`
	// BatchLatency caps how long a message waits for its batch to fill.
	BatchLatency time.Duration `env:"EVENTS_BATCH_LATENCY"`
	// MaxSize is the largest message accepted; larger ones are
	// dead-lettered as oversize.
	MaxSize int `env:"EVENTS_MAX_SIZE"`
	// Kinds, when set, is the closed set of event kinds accepted (a schema
	// registry); others are dead-lettered as unknown_kind.
	Kinds []string `env:"EVENTS_KINDS"`
	// HandlerAttempts is how many times a failing handler is tried before
	// its event is dead-lettered.
	HandlerAttempts int `env:"EVENTS_HANDLER_ATTEMPTS"`
	// SkipDLQTopic stops dead letters from also being published to
	// tracker/dlq/<topic> (the table always has them).
	SkipDLQTopic bool `env:"EVENTS_SKIP_DLQ_TOPIC"`
	// Source names this service in envelopes that lack one.
	Source string `env:"EVENTS_SOURCE"`
}

// DefaultSubscriptions are the original TaylorDash's topics.
var DefaultSubscriptions = []string{"tracker/events/#", "tracker/commands/#", "tracker/metrics/#"}

// WithDefaults returns a copy of c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if len(c.Subscribe) == 0 {
		c.Subscribe = append([]string(nil), DefaultSubscriptions...)
	}
	if c.BatchSize == 0 {
		c.BatchSize = 500
	}
	if c.BatchLatency == 0 {
		c.BatchLatency = 10 * time.Millisecond
	}
	if c.MaxSize == 0 {
		c.MaxSize = DefaultMaxSize
	}
	if c.HandlerAttempts == 0 {
		c.HandlerAttempts = 3
	}
	if c.Source == "" {
		c.Source = "taylordash-backend"
	}
	return c
}

// Validate reports every field that cannot work.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, problem string) {
		errs = append(errs, &dashcore.FieldError{Field: field, Problem: problem})
	}
	for _, f := range c.Subscribe {
		if f == "" || f[0] == '/' {
			bad("Subscribe", fmt.Sprintf("%q is not an MQTT topic filter", f))
		}
	}
	if c.BatchSize < 1 || c.BatchSize > 10000 {
		bad("BatchSize", "must be from 1 to 10000")
	}
	if c.BatchLatency < 0 {
		bad("BatchLatency", "must not be negative")
	}
	if c.MaxSize < 1 {
		bad("MaxSize", "must be positive")
	}
	if c.HandlerAttempts < 1 {
		bad("HandlerAttempts", "must be at least 1")
	}
	return errors.Join(errs...)
}
