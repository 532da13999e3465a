package logspg_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/taylordash/taylordash/internal/pglocal"
	"github.com/taylordash/taylordash/observability/logspg"
	"github.com/taylordash/taylordash/store"
)

// TestSurvivesRestart stops a private PostgreSQL cluster under a running
// writer: logging stays prompt, the queue keeps what fits and counts the
// rest, and when the cluster is back the same writer writes what was kept.
func TestSurvivesRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Not t.TempDir: the server's OS user must reach the directory.
	dir, err := os.MkdirTemp("", "logspg-restart-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	cluster, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, Fast: true, DieWithParent: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop(context.Background()) })
	db, err := store.Open(ctx, store.Config{URL: cluster.URL("postgres"), MinConns: -1, ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := store.Migrate(ctx, db, logspg.Migrations); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		t.Helper()
		var n int
		if err := db.QueryRow(ctx, "SELECT count(*) FROM application_logs").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	q := logspg.NewQueue(logspg.QueueConfig{Capacity: 1000})
	w := startWriter(t, db, q, fastWriter)
	log := slog.New(q)
	log.Info("before the outage")
	waitFor(t, 10*time.Second, "the first record", func() bool { return w.Written() == 1 })

	if err := cluster.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	const records = 5000
	start := time.Now()
	for i := range records {
		log.Info("during the outage", slog.Int("i", i))
	}
	elapsed := time.Since(start)
	if bound := time.Second; elapsed > bound {
		t.Errorf("logging %d records with PostgreSQL stopped took %v, want under %v", records, elapsed, bound)
	}
	if q.Len() != q.Cap() || q.Dropped() != uint64(records-q.Cap()) {
		t.Errorf("queued %d, dropped %d; want %d, %d", q.Len(), q.Dropped(), q.Cap(), records-q.Cap())
	}

	cluster, err = pglocal.Start(ctx, pglocal.Options{Dir: dir, Port: cluster.Port(), Fast: true, DieWithParent: true})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the writer to recover", func() bool { return q.Len() == 0 })
	if n := count(); n != 1+q.Cap() {
		t.Errorf("%d rows after the restart, want %d", n, 1+q.Cap())
	}
	if w.Written() != uint64(1+q.Cap()) {
		t.Errorf("written %d, want %d", w.Written(), 1+q.Cap())
	}
}
