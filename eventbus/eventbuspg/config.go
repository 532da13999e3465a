package eventbuspg

import (
	"errors"
	"time"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus"
)

// Config configures the module: retention and the outbox relay. Fields
// with an env tag are read from TAYLORDASH_EVENTS_* variables by dashcore,
// over the defaults of WithDefaults; a retention set to 0 keeps rows for
// ever.
type Config struct {
	// MirrorRetention is how long events stay in the mirror (by
	// created_at); 0 keeps them for ever. Default 30 days.
	MirrorRetention time.Duration `env:"EVENTS_MIRROR_RETENTION"`
	// OutboxRetention is how long published outbox rows are kept (by
	// sent_at), for inspection; 0 keeps them. Default 1 day. Unpublished
	// rows are never deleted.
	OutboxRetention time.Duration `env:"EVENTS_OUTBOX_RETENTION"`
	// DLQRetention is how long dead letters stay (by last failure); 0
	// keeps them. Default 30 days.
	DLQRetention time.Duration `env:"EVENTS_DLQ_RETENTION"`
	// RetentionInterval is how often old rows are deleted. Default 1 hour.
	RetentionInterval time.Duration `env:"EVENTS_RETENTION_INTERVAL"`
	// RelayBatchSize caps the outbox rows the relay publishes in one
	// transaction (also how many a crash may publish twice). Default 500.
	RelayBatchSize int `env:"EVENTS_RELAY_BATCH_SIZE"`
	// RelayPollInterval is how often the relay looks for work when no
	// notification woke it (the fallback when LISTEN is down). Default 1s.
	RelayPollInterval time.Duration `env:"EVENTS_RELAY_POLL_INTERVAL"`
}

// WithDefaults returns a copy of c with zero fields set to their defaults.
// (dashcore applies it before reading the environment, so a variable set
// to 0 still means "keep for ever".)
func (c Config) WithDefaults() Config {
	if c.MirrorRetention == 0 {
		c.MirrorRetention = 30 * 24 * time.Hour
	}
	if c.OutboxRetention == 0 {
		c.OutboxRetention = 24 * time.Hour
	}
	if c.DLQRetention == 0 {
		c.DLQRetention = 30 * 24 * time.Hour
	}
	if c.RetentionInterval == 0 {
		c.RetentionInterval = time.Hour
	}
	if c.RelayBatchSize == 0 {
		c.RelayBatchSize = 500
	}
	if c.RelayPollInterval == 0 {
		c.RelayPollInterval = time.Second
	}
	return c
}

// Validate reports every field that cannot work, naming the field and the
// fix. It checks c as given; call it on c.WithDefaults().
func (c Config) Validate() error {
	var errs []error
	bad := func(field, problem string) {
		errs = append(errs, &dashcore.FieldError{Field: field, Problem: problem})
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"MirrorRetention", c.MirrorRetention}, {"OutboxRetention", c.OutboxRetention}, {"DLQRetention", c.DLQRetention}} {
		if d.v < 0 {
			bad(d.field, "must not be negative: use a duration such as 720h, or 0 to keep rows for ever")
		}
	}
	if c.RetentionInterval <= 0 {
		bad("RetentionInterval", "must be positive, such as 1h")
	}
	if c.RelayBatchSize < 1 || c.RelayBatchSize > maxBatchSize {
		bad("RelayBatchSize", "must be from 1 to 10000")
	}
	if c.RelayPollInterval <= 0 {
		bad("RelayPollInterval", "must be positive, such as 1s")
	}
	return errors.Join(errs...)
}

// Relay returns the relay's part of c.
func (c Config) Relay() RelayConfig {
	return RelayConfig{BatchSize: c.RelayBatchSize, PollInterval: c.RelayPollInterval}.WithDefaults()
}

// Retention returns the retention job's part of c.
func (c Config) Retention() RetentionConfig {
	return RetentionConfig{Mirror: c.MirrorRetention, Outbox: c.OutboxRetention, DLQ: c.DLQRetention,
		Interval: c.RetentionInterval}.WithDefaults()
}

const maxBatchSize = 10000

// OutboxConfig configures an Outbox.
type OutboxConfig struct {
	// Source names this service in the envelopes written. Default
	// "taylordash-backend".
	Source string
	// MaxSize is the largest envelope accepted, in bytes: a larger one
	// would be dead-lettered by the consumers, so PublishTx refuses it.
	// Default eventbus.DefaultMaxSize.
	MaxSize int
}

// WithDefaults returns a copy of c with zero fields set to their defaults.
func (c OutboxConfig) WithDefaults() OutboxConfig {
	if c.Source == "" {
		c.Source = "taylordash-backend"
	}
	if c.MaxSize <= 0 {
		c.MaxSize = eventbus.DefaultMaxSize
	}
	return c
}

// RelayConfig configures a Relay. Zero (or negative) fields take their
// defaults.
type RelayConfig struct {
	// BatchSize caps the rows published in one transaction. Default 500,
	// at most 10000.
	BatchSize int
	// PollInterval is how often the relay looks for work without a
	// notification. Default 1s.
	PollInterval time.Duration
	// PublishTimeout bounds one Publish call (waiting for the broker's
	// acknowledgement). Default 10s.
	PublishTimeout time.Duration
	// MinBackoff is the first wait after a failure (publish or database);
	// it doubles, with jitter, up to MaxBackoff. Default 100ms.
	MinBackoff time.Duration
	// MaxBackoff caps the wait between retries. Default 30s.
	MaxBackoff time.Duration
}

// WithDefaults returns a copy of c with zero or negative fields set to
// their defaults.
func (c RelayConfig) WithDefaults() RelayConfig {
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	c.BatchSize = min(c.BatchSize, maxBatchSize)
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = 10 * time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	c.MaxBackoff = max(c.MaxBackoff, c.MinBackoff)
	return c
}

// RetentionConfig configures a Retention job. A zero retention keeps
// those rows for ever, so the zero RetentionConfig deletes nothing; the
// module's Config holds the defaults (30 days, 1 day, 30 days).
type RetentionConfig struct {
	// Mirror is how long events stay in the mirror (by created_at).
	Mirror time.Duration
	// Outbox is how long published outbox rows stay (by sent_at).
	// Unpublished rows are never deleted.
	Outbox time.Duration
	// DLQ is how long dead letters stay (by last failure).
	DLQ time.Duration
	// Interval is the time between runs. Default 1 hour.
	Interval time.Duration
	// BatchSize is how many rows one DELETE removes. Default 10000.
	BatchSize int
}

// WithDefaults returns a copy of c with Interval and BatchSize set when
// zero or negative; negative retentions become 0 (keep).
func (c RetentionConfig) WithDefaults() RetentionConfig {
	if c.Interval <= 0 {
		c.Interval = time.Hour
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 10000
	}
	c.Mirror, c.Outbox, c.DLQ = max(c.Mirror, 0), max(c.Outbox, 0), max(c.DLQ, 0)
	return c
}
