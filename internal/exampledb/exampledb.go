// Package exampledb gives runnable Examples a scratch database. An Example
// cannot use testkit, which needs a *testing.T; tests use testkit.
package exampledb

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/store"
)

// Open creates a database named after prefix on the test server
// (TAYLORDASH_TEST_DATABASE_URL, else the local one on 127.0.0.1:5432),
// migrated with sets; cleanup closes the pool and drops the database.
func Open(ctx context.Context, prefix string, sets ...store.Migrations) (db *store.DB, cleanup func(), err error) {
	admin := os.Getenv("TAYLORDASH_TEST_DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres"
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return nil, nil, fmt.Errorf("exampledb: %w", err)
	}
	name := fmt.Sprintf("%s_example_%d_%d", prefix, os.Getpid(), time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		_ = conn.Close(ctx)
		return nil, nil, fmt.Errorf("exampledb: create %s: %w", name, err)
	}
	drop := func() {
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		_ = conn.Close(context.Background())
	}
	dbURL := admin + " dbname=" + name // a key=value DSN
	if u, err := url.Parse(admin); err == nil && u.Scheme != "" {
		u.Path = "/" + name
		dbURL = u.String()
	}
	db, err = store.Open(ctx, store.Config{URL: dbURL})
	if err != nil {
		drop()
		return nil, nil, err
	}
	if _, err := store.Migrate(ctx, db, sets...); err != nil {
		db.Close()
		drop()
		return nil, nil, err
	}
	return db, func() { db.Close(); drop() }, nil
}
