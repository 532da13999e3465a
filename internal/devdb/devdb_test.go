package devdb

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
)

func query(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var db string
	if err := c.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	if db != "taylordash_devdb_test" {
		t.Fatalf("connected to %q", db)
	}
}

func TestResolveExplicitURL(t *testing.T) {
	d, err := Resolve(context.Background(), Options{URL: "postgres://x@example.invalid/db"})
	if err != nil {
		t.Fatal(err)
	}
	if d.URL != "postgres://x@example.invalid/db" || d.Source != "environment" {
		t.Fatalf("got %+v", d)
	}
}

func TestResolveLocalServer(t *testing.T) {
	ctx := context.Background()
	d, err := Resolve(ctx, Options{Database: "taylordash_devdb_test"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Source != "local server" {
		t.Fatalf("source %q, want the local server that runs here", d.Source)
	}
	query(t, d.URL)
	// Idempotent: the database now exists.
	if _, err := Resolve(ctx, Options{Database: "taylordash_devdb_test"}); err != nil {
		t.Fatal(err)
	}
}

// TestResolveLocalBinaries starts the throwaway cluster twice on the same
// directory: the second start reuses the data.
func TestResolveLocalBinaries(t *testing.T) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "devdb-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Like the default ./.taylordash/pg: parents that do not exist yet must
	// be created traversable for the server's OS user.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, ".taylordash", "pg")
	for i := range 2 {
		d, err := Resolve(ctx, Options{Database: "taylordash_devdb_test", SkipLocal: true, Dir: dataDir})
		if err != nil {
			t.Fatal(err)
		}
		if d.Source != "local binaries" {
			t.Fatalf("run %d: source %q", i, d.Source)
		}
		query(t, d.URL)
		if err := d.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
