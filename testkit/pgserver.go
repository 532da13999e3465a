package testkit

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/internal/pglocal"
)

// pgServer is the PostgreSQL server the tests of this binary use.
type pgServer struct {
	provider  string
	adminURL  string // superuser (or CREATEDB) URL to the maintenance database
	superuser bool

	// claims holds this process's slot locks (session advisory locks on
	// the maintenance database). Guarded by claimsMu, which also guards
	// owned, since a session's advisory locks are re-entrant and only the
	// owned set keeps two tests of this process from taking one slot.
	claimsMu sync.Mutex
	claims   *pgx.Conn
	owned    map[string]bool
}

// postgresServer resolves the server once per test binary.
func (k *kit) postgresServer(ctx context.Context) (*pgServer, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.pg != nil || k.pgErr != nil {
		return k.pg, k.pgErr
	}
	k.pg, k.pgErr = resolvePostgres(ctx, k)
	return k.pg, k.pgErr
}

// resolvePostgres tries the providers in order: an explicit URL, the local
// server on the standard port, local binaries, testcontainers. k.mu is
// held (the caller's), so stops are appended directly.
func resolvePostgres(ctx context.Context, k *kit) (*pgServer, error) {
	name, adminURL, err := resolveChain(chain{
		service:  "PostgreSQL",
		forceVar: EnvPostgresProvider,
		howTo:    "start one (pg_ctlcluster --skip-systemctl-redirect 15 main start), set " + EnvDatabaseURL + "=postgres://user:pass@host:5432/postgres, install the server binaries (apt-get install postgresql), or start a Docker engine",
		providers: []provider{
			{ProviderEnv, func() (string, string, error) {
				u := os.Getenv(EnvDatabaseURL)
				if u == "" {
					return "", EnvDatabaseURL + " is not set", nil
				}
				return u, "", nil
			}},
			{ProviderLocal, func() (string, string, error) {
				if !portOpen("127.0.0.1:5432", 500*time.Millisecond) {
					return "", "nothing listens on 127.0.0.1:5432", nil
				}
				u := "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
				if err := ping(ctx, u); err != nil {
					return "", "127.0.0.1:5432 refused user postgres without a password: " + err.Error(), nil
				}
				return u, "", nil
			}},
			{ProviderBinaries, func() (string, string, error) {
				if _, err := pglocal.FindBinDir(); err != nil {
					return "", err.Error(), nil
				}
				dir, err := os.MkdirTemp("", "taylordash-testkit-pg-")
				if err != nil {
					return "", "", err
				}
				cl, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, Fast: true, DieWithParent: true})
				if err != nil {
					_ = os.RemoveAll(dir)
					return "", "", err
				}
				k.stops = append(k.stops, func(ctx context.Context) error {
					err := cl.Stop(ctx)
					_ = os.RemoveAll(dir)
					return err
				})
				return cl.URL("postgres"), "", nil
			}},
			{ProviderTestcontainers, func() (string, string, error) {
				return startPostgresContainer(ctx, k)
			}},
		},
	})
	if err != nil {
		return nil, err
	}
	return connectServer(ctx, name, adminURL)
}

// provider is one way to get a service. start returns its URL, or why it
// is absent (the chain goes on), or an error (the chain stops).
type provider struct {
	name  string
	start func() (url, absent string, err error)
}

// chain is the ordered providers of one service.
type chain struct {
	service   string // "PostgreSQL"
	forceVar  string // the per-service force variable
	howTo     string // what to do when none is present
	providers []provider
}

type attempt struct {
	provider, result string
}

// resolveChain returns the first present provider's name and URL. A
// forced provider (see EnvProvider) is the only one tried, and its absence
// is an error.
func resolveChain(c chain) (name, url string, err error) {
	forced := forcedProvider(c.forceVar)
	known := slices.IndexFunc(c.providers, func(p provider) bool { return p.name == forced }) >= 0
	if forced != "" && !known {
		if os.Getenv(c.forceVar) == "" && forced == ProviderEmbedded {
			forced = "" // embedded serves MQTT only; the other service keeps its chain
		} else {
			names := make([]string, len(c.providers))
			for i, p := range c.providers {
				names[i] = p.name
			}
			return "", "", fmt.Errorf("testkit: %s=%q is not a %s provider; use %s", forcedVarName(c.forceVar), forced, c.service, strings.Join(names, ", "))
		}
	}
	var tried []attempt
	for _, p := range c.providers {
		if forced != "" && forced != p.name {
			continue
		}
		u, absent, err := p.start()
		if err != nil {
			return "", "", fmt.Errorf("testkit: %s provider %s: %w", c.service, p.name, err)
		}
		if absent == "" {
			return p.name, u, nil
		}
		if forced == p.name {
			return "", "", fmt.Errorf("testkit: %s provider %s was forced (%s) but is not available: %s", c.service, p.name, forcedVarName(c.forceVar), absent)
		}
		tried = append(tried, attempt{p.name, absent})
	}
	return "", "", noServiceError(c.service, tried, c.howTo)
}

func forcedVarName(serviceVar string) string {
	if os.Getenv(serviceVar) != "" {
		return serviceVar
	}
	return EnvProvider
}

func noServiceError(service string, tried []attempt, howTo string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "testkit: no %s server for the tests. Tried:", service)
	for _, a := range tried {
		fmt.Fprintf(&b, "\n  - %s: %s", a.provider, a.result)
	}
	b.WriteString("\nTo fix: " + howTo + ".")
	if inCI() {
		b.WriteString("\n(CI=true: tests that need it fail rather than skip.)")
	}
	return errors.New(b.String())
}

func ping(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return c.Ping(ctx)
}

func connectServer(ctx context.Context, provider, adminURL string) (*pgServer, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	claims, err := pgx.Connect(cctx, adminURL)
	if err != nil {
		hint := ""
		if provider == ProviderEnv {
			hint = "; check " + EnvDatabaseURL + " (it is the only provider tried when set)"
		}
		return nil, fmt.Errorf("testkit: connect to the %s PostgreSQL server at %s: %w%s", provider, redactURL(adminURL), err, hint)
	}
	var super, createdb bool
	if err := claims.QueryRow(cctx, "SELECT rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user").Scan(&super, &createdb); err != nil {
		_ = claims.Close(ctx)
		return nil, fmt.Errorf("testkit: check privileges at %s: %w", redactURL(adminURL), err)
	}
	if !super && !createdb {
		_ = claims.Close(ctx)
		return nil, fmt.Errorf("testkit: the user of %s may not create databases; grant CREATEDB (or use a superuser, which also enables fast recycled databases)", redactURL(adminURL))
	}
	return &pgServer{provider: provider, adminURL: adminURL, superuser: super, claims: claims, owned: make(map[string]bool)}, nil
}

// close closes the claims connection, which releases this process's slot
// locks.
func (s *pgServer) close(ctx context.Context) {
	s.claimsMu.Lock()
	defer s.claimsMu.Unlock()
	_ = s.claims.Close(ctx)
	s.owned = map[string]bool{}
}

// dbURL returns the URL of database name on the server.
func (s *pgServer) dbURL(name string) string {
	u, err := url.Parse(s.adminURL)
	if err != nil || u.Scheme == "" {
		// A keyword/value DSN: append the database, the last one wins.
		return s.adminURL + " dbname=" + name
	}
	u.Path = "/" + name
	return u.String()
}

// connect opens a connection to database name (the maintenance database
// when name is "").
func (s *pgServer) connect(ctx context.Context, name string) (*pgx.Conn, error) {
	u := s.adminURL
	if name != "" {
		u = s.dbURL(name)
	}
	return pgx.Connect(ctx, u)
}

// tryClaim takes the slot lock for name if no test holds it, in this
// process or another. It reports whether the slot is now this process's.
func (s *pgServer) tryClaim(ctx context.Context, name string) (bool, error) {
	s.claimsMu.Lock()
	defer s.claimsMu.Unlock()
	if s.owned[name] {
		return false, nil
	}
	var ok bool
	if err := s.claims.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", lockKey("slot:"+name)).Scan(&ok); err != nil {
		return false, fmt.Errorf("testkit: claim %s: %w", name, err)
	}
	if ok {
		s.owned[name] = true
	}
	return ok, nil
}

// unclaim gives a slot up (after it was renamed or dropped).
func (s *pgServer) unclaim(ctx context.Context, name string) error {
	s.claimsMu.Lock()
	defer s.claimsMu.Unlock()
	if !s.owned[name] {
		return nil
	}
	delete(s.owned, name)
	_, err := s.claims.Exec(ctx, "SELECT pg_advisory_unlock($1)", lockKey("slot:"+name))
	return err
}

// admin runs f on a fresh connection to the maintenance database, for
// CREATE and DROP DATABASE, which may run concurrently.
func (s *pgServer) admin(ctx context.Context, f func(c *pgx.Conn) error) error {
	c, err := s.connect(ctx, "")
	if err != nil {
		return fmt.Errorf("testkit: connect to %s: %w", redactURL(s.adminURL), err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	return f(c)
}

func redactURL(u string) string {
	if p, err := url.Parse(u); err == nil && p.Scheme != "" {
		return p.Redacted()
	}
	return "(a PostgreSQL DSN)"
}
