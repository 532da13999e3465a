package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// testContext bounds a test's database work, so that a hang fails the
// test instead of the whole binary.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openDB opens a pool of its own (not the testkit's) and closes it when
// the test ends.
func openDB(t *testing.T, cfg store.Config) *store.DB {
	t.Helper()
	db, err := store.Open(testContext(t), cfg)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

// querier is what *store.DB, *pgx.Conn and pgx.Tx have in common.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// scalar runs a query that returns one value.
func scalar[T any](t *testing.T, q querier, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := q.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestPoolRecoversAfterEveryBackendIsKilled(t *testing.T) {
	ctx := testContext(t)
	tdb := testkit.Postgres(t)
	const conns = 5
	db := openDB(t, store.Config{URL: tdb.URL, MinConns: conns, MaxConns: conns})

	// Use every connection of the pool at once, so that all of them are
	// open and recently used (pgxpool pings only connections idle > 1s).
	usePool := func() (pids []uint32, errs []error) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range conns {
			wg.Go(func() {
				var pid uint32
				err := db.QueryRow(ctx, "SELECT pg_backend_pid() FROM pg_sleep(0.05)").Scan(&pid)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				} else {
					pids = append(pids, pid)
				}
			})
		}
		wg.Wait()
		return pids, errs
	}
	before, errs := usePool()
	if len(errs) > 0 {
		t.Fatalf("queries before the kill failed: %v", errors.Join(errs...))
	}
	if got := db.Stat().TotalConns(); got != conns {
		t.Fatalf("pool has %d connections, want %d", got, conns)
	}

	killer, err := pgx.Connect(ctx, tdb.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer killer.Close(context.Background())
	killed := scalar[int](t, killer, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", tdb.Name)
	if killed < conns {
		t.Fatalf("terminated %d backends, want at least the pool's %d", killed, conns)
	}
	// pg_terminate_backend only signals: wait until the backends are gone.
	for deadline := time.Now().Add(10 * time.Second); ; {
		left := scalar[int](t, killer, "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)", before)
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d killed backends still running", left)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Right after the kill, the first use of each dead connection may fail,
	// and that error must say that a retry can succeed.
	var failed int
	for range 3 {
		_, errs := usePool()
		for _, err := range errs {
			if failed == 0 {
				t.Logf("first failure: %v", err)
			}
			failed++
			if !store.IsRetryable(err) {
				t.Errorf("error on a killed connection is not retryable: %v", err)
			}
		}
	}
	if failed > conns {
		t.Errorf("%d queries failed after the kill; at most one per dead connection (%d) may", failed, conns)
	}
	t.Logf("%d of %d queries failed right after the kill, all retryable", failed, 3*conns)

	// Once the dead connections have been idle for more than a second, the
	// pool pings them before use: nothing fails any more.
	time.Sleep(1100 * time.Millisecond)
	after, errs := usePool()
	if len(errs) > 0 {
		t.Fatalf("queries a second after the kill failed: %v", errors.Join(errs...))
	}
	for _, pid := range after {
		for _, old := range before {
			if pid == old {
				t.Fatalf("backend %d was killed but still serves the pool", pid)
			}
		}
	}
	for i := range 20 {
		if _, err := db.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatalf("query %d after recovery: %v", i, err)
		}
	}
	if err := db.Check(ctx); err != nil {
		t.Fatalf("readiness check after recovery: %v", err)
	}
}

func TestOpenGivesUpOnClosedPortNamingTarget(t *testing.T) {
	addr := closedPort(t)
	const password = "s3cret-Pa55word"
	var logs testkit.LogCapture
	cfg := store.Config{
		URL:            "postgres://alice:" + password + "@" + addr + "/appdb?sslmode=disable",
		StartupTimeout: time.Second,
		Logger:         logs.Logger(),
	}
	start := time.Now()
	db, err := store.Open(context.Background(), cfg)
	took := time.Since(start)
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded against a closed port")
	}
	if took < 900*time.Millisecond || took > 5*time.Second {
		t.Errorf("Open gave up after %s, want about StartupTimeout (1s)", took)
	}
	msg := err.Error()
	t.Logf("error: %s", msg)
	for _, want := range []string{addr, `database "appdb"`, `user "alice"`, "TAYLORDASH_DATABASE_URL", "gave up after"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, password) {
		t.Errorf("error leaks the password:\n%s", msg)
	}
	if strings.Contains(logs.String(), password) {
		t.Errorf("logs leak the password:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "retrying") {
		t.Errorf("no retry was logged:\n%s", logs.String())
	}
}

func TestOpenFailsAtOnceWhenDatabaseIsMissing(t *testing.T) {
	tdb := testkit.Postgres(t)
	u, err := url.Parse(tdb.URL)
	if err != nil {
		t.Fatal(err)
	}
	missing := fmt.Sprintf("td_missing_%d", time.Now().UnixNano())
	u.Path = "/" + missing
	start := time.Now()
	db, err := store.Open(context.Background(), store.Config{URL: u.String(), StartupTimeout: 30 * time.Second})
	took := time.Since(start)
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded on a missing database")
	}
	if took > 3*time.Second {
		t.Errorf("Open took %s: a missing database must fail at once, not wait for StartupTimeout", took)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "3D000" {
		t.Errorf("error does not hold the server's invalid_catalog_name (3D000): %v", err)
	}
	for _, want := range []string{missing, "create the database", "TAYLORDASH_DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

// TestWaitReadyWaitsForServer starts the server (a proxy to the real one)
// only after Open began, as when the application and the database start
// together.
func TestWaitReadyWaitsForServer(t *testing.T) {
	tdb := testkit.Postgres(t)
	u, err := url.Parse(tdb.URL)
	if err != nil {
		t.Fatal(err)
	}
	upstream := u.Host
	addr := closedPort(t)
	const delay = 500 * time.Millisecond
	go func() {
		time.Sleep(delay)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("proxy listen: %v", err)
			return
		}
		t.Cleanup(func() { _ = l.Close() })
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go proxy(c, upstream)
		}
	}()

	var logs testkit.LogCapture
	u.Host = addr
	start := time.Now()
	db := openDB(t, store.Config{URL: u.String(), StartupTimeout: 10 * time.Second, Logger: logs.Logger()})
	if took := time.Since(start); took < delay {
		t.Fatalf("Open returned after %s, before the server was up", took)
	}
	if got := scalar[string](t, db, "SELECT current_database()"); got != tdb.Name {
		t.Fatalf("connected to %q, want %q", got, tdb.Name)
	}
	if !strings.Contains(logs.String(), "database reachable") {
		t.Errorf("the eventual success was not logged:\n%s", logs.String())
	}
}

func proxy(c net.Conn, upstream string) {
	defer c.Close()
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer u.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
	<-done
}

func TestNewDoesNotConnect(t *testing.T) {
	db, err := store.New(store.Config{URL: "postgres://nobody@" + closedPort(t) + "/nothing", MinConns: -1})
	if err != nil {
		t.Fatalf("New with a valid config failed: %v", err)
	}
	defer db.Close()
	pc := db.Pool.Config()
	if pc.MinConns != 0 || pc.MaxConns != 20 {
		t.Errorf("pool MinConns=%d MaxConns=%d, want 0 (MinConns -1 keeps none) and the default 20", pc.MinConns, pc.MaxConns)
	}
	if got := db.Config(); got.StartupTimeout != 30*time.Second || got.MinConns != -1 {
		t.Errorf("Config() = %+v, want defaults applied and MinConns -1 kept", got)
	}
	if err := db.Check(context.Background()); err == nil {
		t.Error("Check succeeded with no server")
	}
}

func TestCheck(t *testing.T) {
	tdb := testkit.Postgres(t)
	db := openDB(t, store.Config{URL: tdb.URL, MinConns: -1})
	if err := db.Check(testContext(t)); err != nil {
		t.Fatalf("Check on a live server: %v", err)
	}
	db.Close()
	err := db.Check(testContext(t))
	if err == nil {
		t.Fatal("Check on a closed pool succeeded")
	}
	if !strings.Contains(err.Error(), tdb.Name) {
		t.Errorf("Check error does not name the database: %v", err)
	}
}

func TestConfigWithDefaults(t *testing.T) {
	c := store.Config{URL: "postgres://localhost/x"}.WithDefaults()
	if c.MinConns != 0 || c.EffectiveMinConns() != 5 || c.MaxConns != 20 || c.HealthCheckPeriod != 30*time.Second ||
		c.ConnectTimeout != 5*time.Second || c.MaxConnLifetime != time.Hour ||
		c.MaxConnIdleTime != 30*time.Minute || c.StartupTimeout != 30*time.Second {
		t.Errorf("WithDefaults() = %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	kept := store.Config{MinConns: -1, MaxConns: 3, StartupTimeout: time.Second}.WithDefaults()
	if kept.MinConns != -1 || kept.MaxConns != 3 || kept.StartupTimeout != time.Second {
		t.Errorf("WithDefaults overwrote set fields: %+v", kept)
	}
	// Setting only a small MaxConns is valid: the default minimum follows it.
	small := store.Config{URL: "postgres://localhost/x", MaxConns: 3}.WithDefaults()
	if err := small.Validate(); err != nil || small.EffectiveMinConns() != 3 {
		t.Errorf("MaxConns 3 alone: validate %v, effective min %d, want nil and 3", err, small.EffectiveMinConns())
	}
	if got := (store.Config{MinConns: -1}).EffectiveMinConns(); got != 0 {
		t.Errorf("MinConns -1: effective %d, want 0", got)
	}
}

// fieldErrors returns the problems of a joined error by field, failing
// the test for an error that is not a *dashcore.FieldError.
func fieldErrors(t *testing.T, err error) map[string]string {
	t.Helper()
	errs := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	}
	out := map[string]string{}
	for _, e := range errs {
		var fe *dashcore.FieldError
		if !errors.As(e, &fe) {
			t.Errorf("not a *dashcore.FieldError: %v", e)
			continue
		}
		out[fe.Field] = fe.Problem
	}
	return out
}

func TestConfigValidate(t *testing.T) {
	valid := store.Config{URL: "postgres://app@127.0.0.1:5432/app"}.WithDefaults()
	tests := []struct {
		name   string
		change func(*store.Config)
		fields map[string]string // field → part of the problem
		// defaulted: New fills the zero field with its default and
		// accepts the config.
		defaulted bool
	}{
		{name: "empty URL", change: func(c *store.Config) { c.URL = "" },
			fields: map[string]string{"URL": "is required"}},
		{name: "unparsable URL", change: func(c *store.Config) { c.URL = "postgres://app:hunter2@127.0.0.1:notaport/app" },
			fields: map[string]string{"URL": "not a valid"}},
		{name: "MaxConns below MinConns", change: func(c *store.Config) { c.MinConns, c.MaxConns = 10, 4 },
			fields: map[string]string{"MaxConns": "MinConns (10)"}},
		{name: "MaxConns zero", change: func(c *store.Config) { c.MaxConns = 0 },
			fields: map[string]string{"MaxConns": "at least 1"}, defaulted: true},
		{name: "MinConns below -1", change: func(c *store.Config) { c.MinConns = -2 },
			fields: map[string]string{"MinConns": "-1"}},
		{name: "negative durations", change: func(c *store.Config) {
			c.HealthCheckPeriod, c.ConnectTimeout, c.MaxConnLifetime, c.MaxConnIdleTime, c.StartupTimeout = -1, -1, -1, -1, -1
		}, fields: map[string]string{
			"HealthCheckPeriod": "negative", "ConnectTimeout": "negative", "MaxConnLifetime": "negative",
			"MaxConnIdleTime": "negative", "StartupTimeout": "negative",
		}},
		{name: "every problem at once", change: func(c *store.Config) { c.URL, c.MinConns, c.StartupTimeout = "", -5, -time.Second },
			fields: map[string]string{"URL": "required", "MinConns": "-1", "StartupTimeout": "negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.change(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate accepted the config")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the password: %v", err)
			}
			got := fieldErrors(t, err)
			if len(got) != len(tt.fields) {
				t.Errorf("fields %v, want %v", got, tt.fields)
			}
			for field, want := range tt.fields {
				if !strings.Contains(got[field], want) {
					t.Errorf("field %s: problem %q, want it to contain %q", field, got[field], want)
				}
			}
			if tt.defaulted {
				return
			}
			if _, err := store.New(c); err == nil {
				t.Error("New accepted the config")
			} else if fe := (*dashcore.FieldError)(nil); !errors.As(err, &fe) {
				t.Errorf("New's error holds no *dashcore.FieldError: %v", err)
			}
		})
	}
	if err := valid.Validate(); err != nil {
		t.Errorf("valid config rejected: %v", err)
	}
}

func TestCheckPool(t *testing.T) {
	db := testkit.Postgres(t)
	pool, err := store.Open(context.Background(), store.Config{URL: db.URL, MaxConns: 2, MinConns: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := pool.CheckPool(context.Background()); err != nil {
		t.Fatalf("idle pool: %v", err)
	}
	var held []*pgxpool.Conn
	for range 2 {
		c, err := pool.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	err = pool.CheckPool(context.Background())
	if err == nil || !strings.Contains(err.Error(), "2 of 2") {
		t.Fatalf("saturated pool: %v", err)
	}
	for _, c := range held {
		c.Release()
	}
	if err := pool.CheckPool(context.Background()); err != nil {
		t.Fatalf("released pool: %v", err)
	}
}
