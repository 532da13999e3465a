package store

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
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
	// Every libpq parameter pgx understands works in it, the TLS ones
	// (sslmode, sslrootcert, sslcert, sslkey) included.
	URL string `env:"DATABASE_URL" secret:"true" expect:"a PostgreSQL URL such as postgres://user:pass@host:5432/db"`
	// CAFile is a PEM file of the certificate authorities that verify the
	// server's certificate: the URL's sslrootcert, set apart (it wins over
	// one in the URL). Without an sslmode in the URL it makes the mode
	// verify-full. The file is read when the pool is created.
	CAFile string `env:"DATABASE_CA_FILE"`
	// CertFile and KeyFile are the client's PEM certificate and key, for
	// servers that authenticate clients by certificate: the URL's sslcert
	// and sslkey, set apart (they win over the URL's).
	CertFile string `env:"DATABASE_CERT_FILE"`
	// KeyFile goes with CertFile.
	KeyFile string `env:"DATABASE_KEY_FILE"`
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
	filesOK := true
	for _, f := range []struct{ field, path string }{{"CAFile", c.CAFile}, {"CertFile", c.CertFile}, {"KeyFile", c.KeyFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			filesOK = false
			bad(f.field, fmt.Sprintf("cannot be read: %v", errors.Unwrap(err)))
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		filesOK = false
		if c.CertFile == "" {
			bad("CertFile", "must be set together with KeyFile")
		} else {
			bad("KeyFile", "must be set together with CertFile")
		}
	}
	if mode, ok := connParam(c.URL, "sslmode"); ok && c.CAFile != "" && (mode == "disable" || mode == "allow" || mode == "prefer") {
		filesOK = false
		bad("CAFile", "is set, but the URL's sslmode="+mode+" does not verify the server with it: use sslmode=verify-full, or leave sslmode out")
	}
	switch {
	case c.URL == "":
		bad("URL", "is required: set it to a PostgreSQL URL such as postgres://user:pass@127.0.0.1:5432/taylordash")
	case !filesOK:
		// The URL is parsed with the files: their problem is reported.
	default:
		if _, err := pgxpool.ParseConfig(c.connString()); err != nil {
			bad("URL", "is not a valid PostgreSQL URL or DSN ("+redactParseError(err)+")")
		}
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
	// The TLS files' problems hold no part of the URL: say which.
	if msg == "failed to configure TLS" && pe.Unwrap() != nil {
		msg += ": " + pe.Unwrap().Error()
	}
	return msg
}

// connString returns URL with CAFile, CertFile and KeyFile added as
// sslrootcert, sslcert and sslkey (and sslmode=verify-full with a CAFile,
// when URL names no sslmode): one connection string, parsed once by pgx,
// whichever way the operator configured TLS. Added parameters come last,
// so they win over the URL's own (pgx keeps the last of a repeated key).
func (c Config) connString() string {
	var params [][2]string
	if c.CAFile != "" {
		params = append(params, [2]string{"sslrootcert", c.CAFile})
		if _, ok := connParam(c.URL, "sslmode"); !ok {
			params = append(params, [2]string{"sslmode", "verify-full"})
		}
	}
	if c.CertFile != "" {
		params = append(params, [2]string{"sslcert", c.CertFile})
	}
	if c.KeyFile != "" {
		params = append(params, [2]string{"sslkey", c.KeyFile})
	}
	if len(params) == 0 {
		return c.URL
	}
	var b strings.Builder
	b.WriteString(c.URL)
	if isURL(c.URL) {
		sep := "?"
		if strings.Contains(c.URL, "?") {
			sep = "&"
		}
		for _, p := range params {
			// %20, not +, for spaces: pgx decodes URLs as libpq does.
			b.WriteString(sep + p[0] + "=" + strings.ReplaceAll(url.QueryEscape(p[1]), "+", "%20"))
			sep = "&"
		}
		return b.String()
	}
	for _, p := range params {
		v := strings.ReplaceAll(p[1], `\`, `\\`)
		b.WriteString(" " + p[0] + "='" + strings.ReplaceAll(v, "'", `\'`) + "'")
	}
	return b.String()
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// connParam returns the last value of key in a connection URL's query or
// a keyword/value DSN, and whether it is there.
func connParam(conn, key string) (value string, ok bool) {
	if isURL(conn) {
		_, query, _ := strings.Cut(conn, "?")
		query, _, _ = strings.Cut(query, "#")
		for _, pair := range strings.Split(query, "&") {
			k, v, _ := strings.Cut(pair, "=")
			if k == key {
				if dv, err := url.PathUnescape(v); err == nil {
					v = dv
				}
				value, ok = v, true
			}
		}
		return value, ok
	}
	for s := strings.TrimSpace(conn); s != ""; s = strings.TrimLeft(s, " \t\n\r") {
		k, rest, found := strings.Cut(s, "=")
		if !found {
			break
		}
		k = strings.TrimSpace(k)
		rest = strings.TrimLeft(rest, " \t")
		var v strings.Builder
		quoted := strings.HasPrefix(rest, "'")
		if quoted {
			rest = rest[1:]
		}
		i := 0
		for ; i < len(rest); i++ {
			ch := rest[i]
			if ch == '\\' && i+1 < len(rest) {
				i++
				v.WriteByte(rest[i])
				continue
			}
			if (quoted && ch == '\'') || (!quoted && (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r')) {
				i++
				break
			}
			v.WriteByte(ch)
		}
		s = rest[min(i, len(rest)):]
		if k == key {
			value, ok = v.String(), true
		}
	}
	return value, ok
}

// Endpoints returns the server addresses of the configuration as the
// dashcore.TLSPolicy sees them: each host (several for a multi-host URL)
// with how its connection is protected. A connection that may fall back
// to plaintext (sslmode=prefer, the default, or allow) counts as
// plaintext; sslmode=require without a root certificate as unverified
// TLS; verify-ca and verify-full as verified. Unix sockets are loopback.
// It returns nil for a configuration that does not parse (Validate
// reports it).
func (c Config) Endpoints() []dashcore.Endpoint {
	pc, err := pgconn.ParseConfig(c.connString())
	if err != nil {
		return nil
	}
	type attempt struct {
		host string
		port uint16
		tls  *tls.Config
	}
	attempts := []attempt{{pc.Host, pc.Port, pc.TLSConfig}}
	for _, fb := range pc.Fallbacks {
		attempts = append(attempts, attempt{fb.Host, fb.Port, fb.TLSConfig})
	}
	var out []dashcore.Endpoint
	index := map[string]int{}
	for _, a := range attempts {
		addr := a.host
		if !strings.HasPrefix(addr, "/") {
			addr = net.JoinHostPort(a.host, strconv.Itoa(int(a.port)))
		}
		t := dashcore.TLSVerified
		switch {
		case a.tls == nil:
			t = dashcore.Plaintext
		case a.tls.InsecureSkipVerify && a.tls.VerifyPeerCertificate == nil:
			t = dashcore.TLSUnverified
		}
		if i, seen := index[addr]; seen {
			out[i].Transport = min(out[i].Transport, t) // the weakest attempt
			continue
		}
		index[addr] = len(out)
		out = append(out, dashcore.Endpoint{Name: "database", Setting: dashcore.EnvPrefix + "DATABASE_URL", Address: addr, Transport: t})
	}
	for i := range out {
		switch out[i].Transport {
		case dashcore.Plaintext:
			out[i].Fix = "add sslmode=verify-full to the URL and set TAYLORDASH_DATABASE_CA_FILE to the CA that signed the server's certificate (sslmode=prefer, the default, falls back to plaintext)"
		case dashcore.TLSUnverified:
			out[i].Fix = "use sslmode=verify-full and set TAYLORDASH_DATABASE_CA_FILE to the CA that signed the server's certificate (sslmode=require does not verify it)"
		}
	}
	return out
}
