package logspg

import (
	"errors"
	"log/slog"
	"time"

	"github.com/taylordash/taylordash/dashcore"
)

// Config configures the log sink, its writer and its retention. Fields
// with an env tag are read from TAYLORDASH_LOGS_* variables by dashcore,
// over the defaults of WithDefaults.
type Config struct {
	// Level is the lowest level stored in the database: debug, info, warn
	// or error. Default info (the zero slog.Level).
	Level slog.Level `env:"LOGS_LEVEL" expect:"debug, info, warn or error"`
	// QueueSize is how many records the in-memory queue holds while the
	// writer is behind or the database is down; records beyond it are
	// dropped and counted. Default 10000.
	QueueSize int `env:"LOGS_QUEUE_SIZE"`
	// BatchSize caps the records written in one statement. Default 500.
	BatchSize int `env:"LOGS_BATCH_SIZE"`
	// FlushInterval is the longest a record waits in the queue before it
	// is written, when fewer than BatchSize are waiting. Default 200ms.
	FlushInterval time.Duration `env:"LOGS_FLUSH_INTERVAL"`
	// Retention is how long rows stay in application_logs (by their
	// timestamp); 0 keeps them for ever. Default 14 days (336h).
	Retention time.Duration `env:"LOGS_RETENTION"`
	// RetentionInterval is how often old rows are deleted. Default 1h.
	RetentionInterval time.Duration `env:"LOGS_RETENTION_INTERVAL"`
}

// WithDefaults returns a copy of c with zero fields set to their defaults.
// (dashcore applies it before reading the environment, so a retention set
// to 0 by a variable still means "keep for ever".)
func (c Config) WithDefaults() Config {
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.RetentionInterval == 0 {
		c.RetentionInterval = time.Hour
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
	if c.QueueSize < 1 || c.QueueSize > maxQueueSize {
		bad("QueueSize", "must be from 1 to 1000000")
	}
	if c.BatchSize < 1 || c.BatchSize > maxBatchSize {
		bad("BatchSize", "must be from 1 to 10000")
	}
	if c.FlushInterval <= 0 {
		bad("FlushInterval", "must be positive, such as 200ms")
	}
	if c.Retention < 0 {
		bad("Retention", "must not be negative: use a duration such as 336h, or 0 to keep rows for ever")
	}
	if c.RetentionInterval <= 0 {
		bad("RetentionInterval", "must be positive, such as 1h")
	}
	return errors.Join(errs...)
}

// Queue returns the queue's part of c; service names the records that
// carry no service attribute.
func (c Config) Queue(service string) QueueConfig {
	return QueueConfig{Capacity: c.QueueSize, Level: c.Level, Service: service}.WithDefaults()
}

// Writer returns the writer's part of c.
func (c Config) Writer() WriterConfig {
	return WriterConfig{BatchSize: c.BatchSize, FlushInterval: c.FlushInterval}.WithDefaults()
}

// RetentionJob returns the retention job's part of c.
func (c Config) RetentionJob() RetentionConfig {
	return RetentionConfig{MaxAge: c.Retention, Interval: c.RetentionInterval}.WithDefaults()
}

// The defaults of Config.
const (
	// DefaultQueueSize is the default capacity of a Queue.
	DefaultQueueSize = 10000
	// DefaultBatchSize is the default number of records per INSERT.
	DefaultBatchSize = 500
	// DefaultFlushInterval is the default longest wait before a write.
	DefaultFlushInterval = 200 * time.Millisecond
	// DefaultRetention is how long rows are kept by default: 14 days.
	DefaultRetention = 14 * 24 * time.Hour
)

const (
	maxQueueSize = 1_000_000
	maxBatchSize = 10000
)

// QueueConfig configures a Queue. The zero value is ready to use.
type QueueConfig struct {
	// Capacity is how many records the queue holds. Default 10000.
	Capacity int
	// Level is the lowest level the queue accepts (Enabled). Nil means
	// info. A *slog.LevelVar changes it at run time.
	Level slog.Leveler
	// Service names the records that carry no "service" attribute.
	// Default "taylordash".
	Service string
	// MaxMessageBytes caps a record's message; a longer one is cut (on a
	// UTF-8 boundary) and marked with "…". Default 8192.
	MaxMessageBytes int
	// MaxAttributesBytes caps a record's attributes as JSON; larger ones
	// are replaced by {"_truncated": true, "_size": n}. Default 16384.
	MaxAttributesBytes int
	// AddSource stores the caller's file:line in the source column (it
	// costs a stack lookup per record). Default off.
	AddSource bool
}

// WithDefaults returns a copy of c with zero or negative fields set to
// their defaults.
func (c QueueConfig) WithDefaults() QueueConfig {
	if c.Capacity <= 0 {
		c.Capacity = DefaultQueueSize
	}
	c.Capacity = min(c.Capacity, maxQueueSize)
	if c.Level == nil {
		c.Level = slog.LevelInfo
	}
	if c.Service == "" {
		c.Service = "taylordash"
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 8192
	}
	if c.MaxAttributesBytes <= 0 {
		c.MaxAttributesBytes = 16384
	}
	return c
}

// WriterConfig configures a Writer. Zero (or negative) fields take their
// defaults.
type WriterConfig struct {
	// BatchSize caps the records of one INSERT. Default 500.
	BatchSize int
	// FlushInterval is the longest a record waits before it is written.
	// Default 200ms.
	FlushInterval time.Duration
	// MinBackoff is the first wait after a failed write; it doubles, with
	// jitter, up to MaxBackoff. Default 100ms.
	MinBackoff time.Duration
	// MaxBackoff caps the wait between retries. Default 10s.
	MaxBackoff time.Duration
	// WriteTimeout bounds one INSERT. Default 10s.
	WriteTimeout time.Duration
	// StopTimeout bounds the final flush at Stop when the caller's context
	// has no earlier deadline. Default 5s.
	StopTimeout time.Duration
	// MaxAttempts is how often a batch the database refuses for a reason
	// other than its availability (bad data) is tried before it is dropped
	// and counted. Batches failing because the database is unreachable are
	// retried until Stop. Default 3.
	MaxAttempts int
}

// WithDefaults returns a copy of c with zero or negative fields set to
// their defaults.
func (c WriterConfig) WithDefaults() WriterConfig {
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	c.BatchSize = min(c.BatchSize, maxBatchSize)
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 10 * time.Second
	}
	c.MaxBackoff = max(c.MaxBackoff, c.MinBackoff)
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 5 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
	return c
}

// RetentionConfig configures a Retention job. A zero MaxAge keeps rows for
// ever, so the zero RetentionConfig deletes nothing; Config holds the
// default (14 days).
type RetentionConfig struct {
	// MaxAge is how long rows stay, by their timestamp.
	MaxAge time.Duration
	// Interval is the time between runs. Default 1 hour.
	Interval time.Duration
	// BatchSize is how many rows one DELETE removes. Default 10000.
	BatchSize int
}

// WithDefaults returns a copy of c with Interval and BatchSize set when
// zero or negative; a negative MaxAge becomes 0 (keep).
func (c RetentionConfig) WithDefaults() RetentionConfig {
	if c.Interval <= 0 {
		c.Interval = time.Hour
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 10000
	}
	c.MaxAge = max(c.MaxAge, 0)
	return c
}
