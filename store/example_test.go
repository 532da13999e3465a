package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
)

// Example_migrate opens a pool, applies a module's migrations, and writes
// in a transaction. A second Migrate (another instance starting, or the
// next deploy) finds nothing to do.
func Example_migrate() {
	ctx := context.Background()
	dbURL, drop, err := scratchDatabase(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer drop()

	// In a module, FS is an embed.FS: //go:embed migrations/*.sql
	projects := store.Migrations{Namespace: "projects", FS: fstest.MapFS{
		"migrations/0001_projects.sql": {Data: []byte(`CREATE TABLE projects (
			id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			name text NOT NULL UNIQUE
		);`)},
		"migrations/0002_inbox.sql": {Data: []byte(`INSERT INTO projects (name) VALUES ('inbox');`)},
	}}

	db, err := store.Open(ctx, store.Config{URL: dbURL})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	applied, err := store.Migrate(ctx, db, projects)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range applied {
		fmt.Println("applied", a.Namespace+"/"+a.Name)
	}
	applied, err = store.Migrate(ctx, db, projects)
	fmt.Println("applied on the second run:", len(applied), err)

	err = store.Tx(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO projects (name) VALUES ('roadmap')"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO projects (name) VALUES ('inbox')")
		return err
	})
	err = store.MapError(err)
	fmt.Println("conflict:", errors.Is(err, dashcore.ErrConflict), store.IsUniqueViolation(err))

	var n int
	_ = db.QueryRow(ctx, "SELECT count(*) FROM projects").Scan(&n)
	fmt.Println("projects:", n) // the transaction left no 'roadmap'

	// Output:
	// applied projects/0001_projects.sql
	// applied projects/0002_inbox.sql
	// applied on the second run: 0 <nil>
	// conflict: true true
	// projects: 1
}

// scratchDatabase creates a database of its own on the test server (an
// Example cannot use testkit, which needs a *testing.T) and returns its
// URL and a func that drops it.
func scratchDatabase(ctx context.Context) (string, func(), error) {
	admin := os.Getenv("TAYLORDASH_TEST_DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres"
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", nil, err
	}
	name := fmt.Sprintf("store_example_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		_ = conn.Close(ctx)
		return "", nil, err
	}
	drop := func() {
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		_ = conn.Close(context.Background())
	}
	u, err := url.Parse(admin)
	if err != nil || u.Scheme == "" {
		return admin + " dbname=" + name, drop, nil // a key=value DSN
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}
