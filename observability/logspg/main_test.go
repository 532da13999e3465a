package logspg_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/taylordash/taylordash/observability/logspg"
	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// bundle is what most tests need: a fresh migrated database, a queue and
// a started writer draining it into the database.
type bundle struct {
	db     *testkit.Database
	queue  *logspg.Queue
	writer *logspg.Writer
	repo   *logspg.Repository
}

// fastWriter flushes often, so that tests wait little.
var fastWriter = logspg.WriterConfig{FlushInterval: 10 * time.Millisecond, MinBackoff: 10 * time.Millisecond,
	MaxBackoff: 50 * time.Millisecond, StopTimeout: 2 * time.Second}

func setup(tb testing.TB, qc logspg.QueueConfig) bundle {
	tb.Helper()
	db := testkit.Postgres(tb, logspg.Migrations)
	q := logspg.NewQueue(qc)
	w := startWriter(tb, db.DB, q, fastWriter)
	return bundle{db: db, queue: q, writer: w, repo: logspg.NewRepository(db.DB)}
}

// startWriter starts a writer of q into db and stops it when the test
// ends.
func startWriter(tb testing.TB, db store.Querier, q *logspg.Queue, cfg logspg.WriterConfig) *logspg.Writer {
	tb.Helper()
	w := logspg.NewWriter(db, q, cfg, testkit.NewLogger(tb))
	if err := w.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { stopWriter(tb, w) })
	return w
}

func stopWriter(tb testing.TB, w *logspg.Writer) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Stop(ctx); err != nil {
		tb.Errorf("stop writer: %v", err)
	}
}

// count returns the result of a count query.
func (b bundle) count(tb testing.TB, query string, args ...any) int {
	tb.Helper()
	var n int
	if err := b.db.DB.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}

// waitRows waits until application_logs holds n rows.
func (b bundle) waitRows(tb testing.TB, n int) {
	tb.Helper()
	waitFor(tb, 10*time.Second, "rows in application_logs", func() bool {
		return b.count(tb, "SELECT count(*) FROM application_logs") >= n
	})
	if got := b.count(tb, "SELECT count(*) FROM application_logs"); got != n {
		tb.Fatalf("application_logs holds %d rows, want %d", got, n)
	}
}

// waitFor polls cond until it holds, or fails the test after timeout.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// unreachableDB returns a pool whose server is a closed port: every
// statement fails to connect.
func unreachableDB(tb testing.TB) *store.DB {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	db, err := store.New(store.Config{URL: "postgres://nobody@" + addr + "/nowhere?sslmode=disable",
		MinConns: -1, ConnectTimeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(db.Close)
	return db
}
