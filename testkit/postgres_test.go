package testkit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/store"
)

func TestMain(m *testing.M) { Main(m) }

// widgets is a small schema with a foreign key, an identity column, a
// serial, a generated column and a seeded row.
var widgets = store.Migrations{Namespace: "testkit-widgets", FS: fstest.MapFS{
	"0001_widgets.sql": {Data: []byte(`
CREATE TABLE kinds (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text UNIQUE NOT NULL);
INSERT INTO kinds (name) VALUES ('default');
CREATE TABLE widgets (
	id bigserial PRIMARY KEY,
	kind_id int NOT NULL REFERENCES kinds(id),
	name text NOT NULL,
	upper_name text GENERATED ALWAYS AS (upper(name)) STORED
);`)},
}}

func count(t *testing.T, db *Database, table string) int {
	t.Helper()
	var n int
	if err := db.DB.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPostgresIsMigratedAndEmpty(t *testing.T) {
	db := Postgres(t, widgets)
	if got := count(t, db, "widgets"); got != 0 {
		t.Fatalf("widgets has %d rows, want 0", got)
	}
	if got := count(t, db, "kinds"); got != 1 {
		t.Fatalf("kinds has %d rows, want the 1 seeded row", got)
	}
	var applied int
	if err := db.DB.QueryRow(context.Background(), "SELECT count(*) FROM taylordash_migrations WHERE namespace = 'testkit-widgets'").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 1 {
		t.Fatalf("taylordash_migrations lists %d files, want 1", applied)
	}
}

// TestPostgresRecycles runs tests one after another on the same slot and
// checks that each starts from the template's state: rows gone, seeded
// rows back, sequences rewound.
func TestPostgresRecycles(t *testing.T) {
	ctx := context.Background()
	var names []string
	for i := range 3 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			db := Postgres(t, widgets)
			names = append(names, db.Name)
			if got := count(t, db, "widgets"); got != 0 {
				t.Fatalf("run %d: widgets has %d rows left from an earlier test", i, got)
			}
			if got := count(t, db, "kinds"); got != 1 {
				t.Fatalf("run %d: kinds has %d rows, want the seeded one", i, got)
			}
			var kindID int
			if err := db.DB.QueryRow(ctx, "INSERT INTO kinds (name) VALUES ('extra') RETURNING id").Scan(&kindID); err != nil {
				t.Fatal(err)
			}
			if kindID != 2 {
				t.Fatalf("run %d: identity gave %d, want 2 (rewound)", i, kindID)
			}
			var id int64
			if err := db.DB.QueryRow(ctx, "INSERT INTO widgets (kind_id, name) VALUES (1, 'a') RETURNING id").Scan(&id); err != nil {
				t.Fatal(err)
			}
			if id != 1 {
				t.Fatalf("run %d: serial gave %d, want 1 (rewound)", i, id)
			}
			if _, err := db.DB.Exec(ctx, "DELETE FROM kinds WHERE name = 'default'"); err == nil {
				t.Fatal("deleting a referenced row succeeded; foreign keys must stay on for the test")
			}
		})
	}
	if names[0] != names[1] || names[1] != names[2] {
		t.Fatalf("consecutive tests got databases %v; want the same slot reused", names)
	}
}

// TestPostgresDDLReplacesSlot checks the guard: a test that changes the
// schema does not leak the change into the next test.
func TestPostgresDDLReplacesSlot(t *testing.T) {
	ctx := context.Background()
	t.Run("alter", func(t *testing.T) {
		db := Postgres(t, widgets)
		if _, err := db.DB.Exec(ctx, "ALTER TABLE widgets ADD COLUMN colour text; CREATE TABLE scratch (x int)"); err != nil {
			t.Fatal(err)
		}
		// A temporary table is not DDL that outlives the session.
		if _, err := db.DB.Exec(ctx, "CREATE TEMP TABLE tmp (x int)"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("after", func(t *testing.T) {
		db := Postgres(t, widgets)
		var n int
		err := db.DB.QueryRow(ctx, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'widgets' AND column_name = 'colour'").Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatal("the column added by the previous test is still there")
		}
		if err := db.DB.QueryRow(ctx, "SELECT to_regclass('scratch') IS NULL").Scan(new(bool)); err != nil {
			t.Fatal(err)
		}
		var gone bool
		_ = db.DB.QueryRow(ctx, "SELECT to_regclass('scratch') IS NULL").Scan(&gone)
		if !gone {
			t.Fatal("the table created by the previous test is still there")
		}
	})
}

// TestPostgresParallel gives tests that run at the same time distinct
// databases: two parallel tests hold theirs until both have one.
func TestPostgresParallel(t *testing.T) {
	var both sync.WaitGroup
	both.Add(2)
	names := make([]string, 2)
	t.Run("group", func(t *testing.T) {
		for i := range 2 {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				db := Postgres(t, widgets)
				names[i] = db.Name
				if _, err := db.DB.Exec(context.Background(), "INSERT INTO widgets (kind_id, name) VALUES (1, $1)", fmt.Sprint(i)); err != nil {
					t.Fatal(err)
				}
				both.Done()
				both.Wait()
				if got := count(t, db, "widgets"); got != 1 {
					t.Fatalf("widgets has %d rows, want only this test's", got)
				}
			})
		}
	})
	if names[0] == names[1] {
		t.Fatalf("parallel tests shared database %s", names[0])
	}
}

// TestPostgresLeakedConnection: a test that leaves a connection open in a
// transaction holding locks must not block the next test's reset.
func TestPostgresLeakedConnection(t *testing.T) {
	ctx := context.Background()
	var leaked *pgx.Conn
	t.Run("leak", func(t *testing.T) {
		db := Postgres(t, widgets)
		c, err := pgx.Connect(ctx, db.URL)
		if err != nil {
			t.Fatal(err)
		}
		leaked = c
		if _, err := c.Exec(ctx, "BEGIN; LOCK TABLE widgets IN ACCESS EXCLUSIVE MODE"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("next", func(t *testing.T) {
		db := Postgres(t, widgets)
		if got := count(t, db, "widgets"); got != 0 {
			t.Fatalf("widgets has %d rows", got)
		}
	})
	if leaked != nil {
		_ = leaked.Close(ctx)
	}
}

// TestPostgresKeepsFailedDatabase runs a failing test in a fake testing.TB
// and checks that its database is kept under a new name with its rows.
func TestPostgresKeepsFailedDatabase(t *testing.T) {
	ctx := context.Background()
	ft := &fakeTB{TB: t, name: "failing"}
	db := Postgres(ft, widgets)
	if _, err := db.DB.Exec(ctx, "INSERT INTO widgets (kind_id, name) VALUES (1, 'evidence')"); err != nil {
		t.Fatal(err)
	}
	ft.failed = true
	ft.runCleanups()
	var kept string
	for _, l := range ft.logs {
		if strings.Contains(l, "kept the database") {
			kept = l
		}
	}
	if kept == "" {
		t.Fatalf("no 'kept' message in %q", ft.logs)
	}
	srv, err := shared.postgresServer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	err = srv.admin(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT datname FROM pg_database WHERE $1 LIKE '%' || datname || '%' AND datname LIKE 'tdt\\_%\\_k%'", kept).Scan(&name)
	})
	if err != nil {
		t.Fatalf("kept database not found: %v", err)
	}
	t.Cleanup(func() {
		_ = srv.admin(ctx, func(c *pgx.Conn) error { return dropDatabase(ctx, c, name) })
	})
	c, err := srv.connect(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM widgets WHERE name = 'evidence'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("kept database lost the failed test's row: n=%d err=%v", n, err)
	}
}

// fakeTB records what Postgres does with a testing.TB, so that a failing
// test can be simulated without failing this one.
type fakeTB struct {
	testing.TB
	name     string
	failed   bool
	cleanups []func()
	logs     []string
	mu       sync.Mutex
}

func (f *fakeTB) Name() string               { return f.name }
func (f *fakeTB) Failed() bool               { return f.failed }
func (f *fakeTB) Cleanup(fn func())          { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Helper()                    {}
func (f *fakeTB) Log(args ...any)            { f.add(fmt.Sprint(args...)) }
func (f *fakeTB) Logf(s string, args ...any) { f.add(fmt.Sprintf(s, args...)) }
func (f *fakeTB) Errorf(s string, args ...any) {
	f.failed = true
	f.add(fmt.Sprintf(s, args...))
}
func (f *fakeTB) add(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, s)
}
func (f *fakeTB) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

// TestPostgresSessionStateDoesNotLeak: pooled connections are reused
// between tests, so everything a session can carry must be gone.
func TestPostgresSessionStateDoesNotLeak(t *testing.T) {
	ctx := context.Background()
	t.Run("dirty", func(t *testing.T) {
		db := Postgres(t, widgets)
		conn, err := db.DB.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		for _, stmt := range []string{
			"CREATE TEMP TABLE leftover (x int)",
			"PREPARE leftover_stmt AS SELECT 1",
			"SELECT pg_advisory_lock(4242)",
			"LISTEN leftover_channel",
			"SET statement_timeout = '10min'",
			"SET search_path = nowhere",
		} {
			if _, err := conn.Exec(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
	})
	t.Run("clean", func(t *testing.T) {
		db := Postgres(t, widgets)
		conns := db.DB.AcquireAllIdle(ctx)
		defer func() {
			for _, c := range conns {
				c.Release()
			}
		}()
		if len(conns) == 0 {
			t.Fatal("the pool has no idle connection; the test proves nothing")
		}
		for _, c := range conns {
			var path, timeout string
			var temps, prepared, locks, listens int
			err := c.QueryRow(ctx, `SELECT current_setting('search_path'), current_setting('statement_timeout'),
				(SELECT count(*) FROM pg_class WHERE relpersistence = 't'),
				(SELECT count(*) FROM pg_prepared_statements),
				(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()),
				(SELECT count(*) FROM pg_listening_channels())`).Scan(&path, &timeout, &temps, &prepared, &locks, &listens)
			if err != nil {
				t.Fatal(err)
			}
			if path == "nowhere" || timeout != "0" || temps != 0 || locks != 0 || listens != 0 {
				t.Fatalf("session state leaked: search_path=%q statement_timeout=%q temp tables=%d advisory locks=%d listens=%d",
					path, timeout, temps, locks, listens)
			}
			if prepared > 1 { // pgx may have prepared this very query
				t.Fatalf("%d prepared statements leaked", prepared)
			}
		}
	})
}

// TestPostgresSurvivesClosedPool: a test (or the code it tests) that
// closes the pool does not break the next test.
func TestPostgresSurvivesClosedPool(t *testing.T) {
	t.Run("close", func(t *testing.T) {
		Postgres(t, widgets).DB.Close()
	})
	t.Run("next", func(t *testing.T) {
		db := Postgres(t, widgets)
		if err := db.DB.Ping(context.Background()); err != nil {
			t.Fatalf("pool after a closed one: %v", err)
		}
	})
}
