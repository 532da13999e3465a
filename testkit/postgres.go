package testkit

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/taylordash/taylordash/store"
)

// Database is an isolated PostgreSQL database for one test, migrated with
// the migrations given to Postgres and holding no rows but the ones those
// migrations seed.
type Database struct {
	// Name is the database's name.
	Name string
	// URL connects to it as a superuser (or the user the provider gives).
	URL string
	// DB is a pool connected to it. Tests of a binary share pools with
	// the slot: between tests every connection is scrubbed (DISCARD ALL),
	// so session state does not leak; do not close it, and release what you
	// acquire from it (a connection still in use when the test ends makes
	// the next test wait for a new pool).
	DB *store.DB
	// Provider says where the server came from (local, binaries, ...).
	Provider string
}

// Postgres returns a fresh database for the test, migrated with sets.
//
// Speed comes from reuse: the first call of a test binary for a set of
// migrations builds a template database once (shared by every binary
// through an advisory lock); each test then gets a slot, a clone of it
// that earlier tests used and that is emptied in one round trip (rows
// deleted, seeded rows restored, sequences rewound). A test that changed
// the schema (DDL) makes its slot be replaced by a fresh clone. A failed
// test's database is kept for inspection and its name logged (set
// TAYLORDASH_TEST_KEEP_FAILED=false to drop it instead).
//
// Without superuser rights every test gets a new clone, dropped after it
// (slower). The server comes from the provider chain (see the package
// documentation); with none available the test fails, never skips.
func Postgres(tb testing.TB, sets ...store.Migrations) *Database {
	tb.Helper()
	db, err := postgres(tb, sets)
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

// postgres is Postgres returning its error instead of failing the test.
func postgres(tb testing.TB, sets []store.Migrations) (*Database, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := testLogger(tb)
	db, release, err := acquireDatabase(ctx, sets, log)
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		kept, err := release(ctx, tb.Failed() && keepFailed())
		if err != nil {
			tb.Errorf("testkit: release database %s: %v", db.Name, err)
		}
		if kept != "" {
			tb.Logf("testkit: kept the database of this failed test for inspection: %s (drop it with: psql -c 'DROP DATABASE %s')", redactURL(db.srvURL(kept)), kept)
		}
	})
	return db.Database, nil
}

type acquired struct {
	*Database
	srv *pgServer
}

func (a acquired) srvURL(name string) string { return a.srv.dbURL(name) }

// acquireDatabase is Postgres without testing.TB, for benchmarks. release
// closes the pool and returns the slot; keep renames and keeps it.
func acquireDatabase(ctx context.Context, sets []store.Migrations, log *slog.Logger) (acquired, func(ctx context.Context, keep bool) (string, error), error) {
	srv, err := shared.postgresServer(ctx)
	if err != nil {
		return acquired{}, nil, err
	}
	fam, err := shared.family(srv, sets)
	if err != nil {
		return acquired{}, nil, err
	}
	s, err := fam.acquire(ctx, log)
	if err != nil {
		return acquired{}, nil, err
	}
	db := &Database{Name: s.name, URL: s.url, DB: s.pool, Provider: srv.provider}
	release := func(ctx context.Context, keep bool) (string, error) {
		if !srv.superuser {
			return "", fam.dropUnique(ctx, s)
		}
		return fam.release(ctx, s, keep, log)
	}
	return acquired{Database: db, srv: srv}, release, nil
}

func keepFailed() bool {
	v, err := strconv.ParseBool(os.Getenv(EnvKeepFailed))
	return err != nil || v
}
