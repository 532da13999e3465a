package store

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taylordash/taylordash/dashcore"
)

// Config configures the connection pool. Fields with an env tag are read
// from TAYLORDASH_DATABASE_* variables by dashcore.
type Config struct {
	// URL is the PostgreSQL connection URL or DSN, e.g.
	// postgres://user:pass@host:5432/db?sslmode=verify-full. Required.
	URL string `env:"DATABASE_URL" secret:"true" expect:"a PostgreSQL URL such as postgres://user:pass@host:5432/db"`
	// MinConns is the number of connections kept open even when idle.
	// Zero means the default: 5, or MaxConns if that is lower. -1 keeps
	// none.
	MinConns int32 `env:"DATABASE_MIN_CONNS"`
	// MaxConns caps the pool. Zero means the default (20).
	MaxConns int32 `env:"DATABASE_MAX_CONNS"`
	// HealthCheckPeriod is how often idle connections are checked.
	HealthCheckPeriod time.Duration `env:"DATABASE_HEALTH_CHECK_PERIOD"`
	// ConnectTimeout bounds establishing one connection.
	ConnectTimeout time.Duration `env:"DATABASE_CONNECT_TIMEOUT"`
	// MaxConnLifetime closes connections older than this (rebalancing
	// after a failover, picking up server settings).
	MaxConnLifetime time.Duration `env:"DATABASE_MAX_CONN_LIFETIME"`
	// MaxConnIdleTime closes connections idle for longer than this.
	MaxConnIdleTime time.Duration `env:"DATABASE_MAX_CONN_IDLE_TIME"`
	// StartupTimeout is how long Open, WaitReady and the module's start
	// wait for the server to answer, retrying with backoff, before giving
	// up.
	StartupTimeout time.Duration `env:"DATABASE_STARTUP_TIMEOUT"`
	// SkipMigrations leaves the schema alone at start (run `migrate`
	// separately, e.g. from a deploy job).
	SkipMigrations bool `env:"DATABASE_SKIP_MIGRATIONS"`

	// Logger receives connection and migration logs; nil discards them.
	Logger *slog.Logger
	// Tracer, if set, traces every query (e.g. an OpenTelemetry tracer).
	Tracer pgx.QueryTracer
}

// defaultMinConns is the idle connections kept when MinConns is zero
// (capped at MaxConns).
const defaultMinConns = 5

// WithDefaults returns a copy of c with zero fields set to their defaults.
// MinConns stays zero: its default depends on MaxConns (see
// EffectiveMinConns), so that setting only MaxConns low works.
func (c Config) WithDefaults() Config {
	if c.MaxConns == 0 {
		c.MaxConns = 20
	}
	if c.HealthCheckPeriod == 0 {
		c.HealthCheckPeriod = 30 * time.Second
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	if c.MaxConnLifetime == 0 {
		c.MaxConnLifetime = time.Hour
	}
	if c.MaxConnIdleTime == 0 {
		c.MaxConnIdleTime = 30 * time.Minute
	}
	if c.StartupTimeout == 0 {
		c.StartupTimeout = 30 * time.Second
	}
	return c
}

// EffectiveMinConns is the number of idle connections the pool keeps for
// c: MinConns if positive, none for -1, else the default capped at
// MaxConns.
func (c Config) EffectiveMinConns() int32 {
	switch {
	case c.MinConns > 0:
		return c.MinConns
	case c.MinConns < 0:
		return 0
	default:
		return min(defaultMinConns, max(c.MaxConns, 1))
	}
}

// Validate reports every field that cannot work, naming the field and the
// fix. It checks c as given; call it on c.WithDefaults().
func (c Config) Validate() error {
	var errs []error
	bad := func(field, problem string) {
		errs = append(errs, &dashcore.FieldError{Field: field, Problem: problem})
	}
	if c.URL == "" {
		bad("URL", "is required: set it to a PostgreSQL URL such as postgres://user:pass@127.0.0.1:5432/taylordash")
	} else if _, err := pgxpool.ParseConfig(c.URL); err != nil {
		bad("URL", "is not a valid PostgreSQL URL or DSN ("+redactParseError(err)+")")
	}
	if c.MinConns < -1 {
		bad("MinConns", "must be -1 (none), 0 (default) or positive")
	}
	if c.MaxConns < 1 {
		bad("MaxConns", "must be at least 1")
	} else if c.MinConns > c.MaxConns {
		// An explicit MinConns only: the default is capped at MaxConns.
		bad("MaxConns", fmt.Sprintf("must be at least MinConns (%d): raise it or lower MinConns", c.MinConns))
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"HealthCheckPeriod", c.HealthCheckPeriod}, {"ConnectTimeout", c.ConnectTimeout},
		{"MaxConnLifetime", c.MaxConnLifetime}, {"MaxConnIdleTime", c.MaxConnIdleTime},
		{"StartupTimeout", c.StartupTimeout},
	} {
		if d.v < 0 {
			bad(d.field, "must not be negative")
		}
	}
	return errors.Join(errs...)
}

// redactParseError keeps pgx's reason but neither the URL it quotes nor
// the wrapped parser error, either of which may hold a password.
func redactParseError(err error) string {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return "cannot parse"
	}
	msg := pe.Error()
	if i := strings.LastIndex(msg, "`: "); i >= 0 {
		msg = msg[i+3:]
	}
	if i := strings.Index(msg, " ("); i >= 0 {
		msg = msg[:i]
	}
	return msg
}
