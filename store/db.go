package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taylordash/taylordash/dashcore"
)

// DB is a PostgreSQL connection pool. It embeds *pgxpool.Pool, so
// db.Query, db.Exec, db.Begin and db.Stat work directly; DB adds start-up
// retries, the readiness check and migrations.
type DB struct {
	*pgxpool.Pool
	cfg    Config
	log    *slog.Logger
	target string
}

// New returns a pool for cfg (defaults applied) without connecting: the
// first query, or WaitReady, connects. It fails only on invalid config.
func New(cfg Config) (*DB, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("store: invalid config: %w", err)
	}
	pc, err := pgxpool.ParseConfig(cfg.connString())
	if err != nil { // unreachable after Validate, kept for safety
		return nil, fmt.Errorf("store: parse URL: %s", redactParseError(err))
	}
	pc.MinConns = cfg.EffectiveMinConns()
	pc.MaxConns = cfg.MaxConns
	pc.HealthCheckPeriod = cfg.HealthCheckPeriod
	pc.MaxConnLifetime = cfg.MaxConnLifetime
	pc.MaxConnLifetimeJitter = cfg.MaxConnLifetime / 10
	pc.MaxConnIdleTime = cfg.MaxConnIdleTime
	pc.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	if cfg.Tracer != nil {
		pc.ConnConfig.Tracer = cfg.Tracer
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, fmt.Errorf("store: create pool: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	target := fmt.Sprintf("%s:%d (database %q, user %q)", pc.ConnConfig.Host, pc.ConnConfig.Port, pc.ConnConfig.Database, pc.ConnConfig.User)
	return &DB{Pool: pool, cfg: cfg, log: log, target: target}, nil
}

// Open returns a pool for cfg once the server answers (see WaitReady).
// It does not migrate; call Migrate for that.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	db, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := db.WaitReady(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Config returns the configuration of db, defaults applied.
func (db *DB) Config() Config { return db.cfg }

// WaitReady pings the server until it answers, retrying with capped
// exponential backoff and jitter for up to Config.StartupTimeout (or ctx's
// deadline). Errors that waiting cannot fix (bad password, missing
// database) fail at once. The error names the host, database and user.
func (db *DB) WaitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, db.cfg.StartupTimeout)
	defer cancel()
	start := time.Now()
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := db.Ping(ctx)
		if err == nil {
			if attempt > 1 {
				db.log.Info("database reachable", slog.String("target", db.target), slog.Int("attempts", attempt))
			}
			return nil
		}
		if hint := permanentHint(err); hint != "" {
			return fmt.Errorf("store: connect to PostgreSQL at %s: %w; %s", db.target, err, hint)
		}
		wait := delay/2 + rand.N(delay)
		db.log.Warn("database not reachable yet; retrying",
			slog.String("target", db.target), slog.String("error", err.Error()),
			slog.Int("attempt", attempt), slog.Duration("retry_in", wait))
		select {
		case <-ctx.Done():
			return fmt.Errorf("store: connect to PostgreSQL at %s: %w (gave up after %d attempts in %s); check that the server is running and that TAYLORDASH_DATABASE_URL is right",
				db.target, err, attempt, time.Since(start).Round(time.Millisecond))
		case <-time.After(wait):
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// permanentHint returns what to do about errors that retrying cannot fix,
// or "" for errors worth retrying.
func permanentHint(err error) string {
	if hint := tlsHint(err); hint != "" {
		return hint
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return ""
	}
	switch pe.Code {
	case "3D000":
		return "create the database (createdb) or fix the database name in TAYLORDASH_DATABASE_URL"
	case "28P01", "28000":
		if strings.Contains(pe.Message, "client certificate") {
			return "the server requires a client certificate its CA signed: set TAYLORDASH_DATABASE_CERT_FILE and TAYLORDASH_DATABASE_KEY_FILE (or sslcert and sslkey in TAYLORDASH_DATABASE_URL)"
		}
		if strings.Contains(pe.Message, "no encryption") {
			return "the server accepts this connection only over TLS (hostssl in pg_hba.conf): add sslmode=verify-full to TAYLORDASH_DATABASE_URL and set TAYLORDASH_DATABASE_CA_FILE"
		}
		return "fix the user or password in TAYLORDASH_DATABASE_URL, or the server's pg_hba.conf"
	case "42501":
		return "grant the user CONNECT on the database"
	}
	return ""
}

// tlsHint returns what to check when err is a TLS failure that retrying
// cannot fix, or "".
func tlsHint(err error) string {
	var (
		verr    *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &unknown):
		return "the server's certificate is not signed by a trusted CA: check that TAYLORDASH_DATABASE_CA_FILE (or sslrootcert in TAYLORDASH_DATABASE_URL) holds the CA that signed it"
	case errors.As(err, &host):
		return "the server's certificate does not name the host of TAYLORDASH_DATABASE_URL: connect by a name the certificate holds, or reissue it with this host"
	case errors.As(err, &invalid):
		return "the server's certificate is not valid (expired, not yet valid, or not for a server): renew it"
	case errors.As(err, &verr):
		return "the server's certificate does not verify: check TAYLORDASH_DATABASE_CA_FILE and the server's certificate"
	case strings.Contains(err.Error(), "remote error: tls"):
		return "the server refused the TLS handshake: check the client certificate (TAYLORDASH_DATABASE_CERT_FILE, TAYLORDASH_DATABASE_KEY_FILE) and the server's ssl settings"
	case strings.Contains(err.Error(), "server refused TLS connection"):
		return "the server does not speak TLS: turn ssl on in its postgresql.conf, or change sslmode in TAYLORDASH_DATABASE_URL"
	}
	return ""
}

// CheckPool fails while the pool is saturated: every connection it may
// open is in use (requests then wait for one). It reads the pool's
// statistics only; it never queries.
func (db *DB) CheckPool(context.Context) error {
	st := db.Stat()
	if max := st.MaxConns(); max > 0 && st.AcquiredConns() >= max {
		return dashcore.NewError(dashcore.ErrUnavailable,
			fmt.Sprintf("the pool is saturated: %d of %d connections in use", st.AcquiredConns(), max), nil)
	}
	return nil
}

// Check is the readiness check: it runs a round trip on a pooled
// connection within ctx.
func (db *DB) Check(ctx context.Context) error {
	if err := db.Ping(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", db.target, err)
	}
	return nil
}
