package logspg_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/observability/logspg"
	"github.com/taylordash/taylordash/testkit"
)

func TestRecordsLand(t *testing.T) {
	b := setup(t, logspg.QueueConfig{Service: "api", Level: slog.LevelDebug})
	log := slog.New(b.queue)
	ctx := context.Background()

	log.Info("plain", slog.Int("n", 1), slog.Bool("ok", true), slog.Duration("took", 1500*time.Millisecond))
	log.With(slog.String("module", "projects")).WithGroup("req").Warn("grouped",
		slog.String("method", "GET"), slog.Group("user", slog.String("name", "ann")))
	log.Error("with ids", slog.String("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"),
		slog.String("span_id", "00f067aa0ba902b7"), slog.String("request_id", "req-1"),
		slog.String("service", "worker"), slog.Any("err", errors.New("boom")))
	log.Debug("bad text \x00 and \xff", slog.String("k\x00", "v\xfe"), slog.Any("m", map[string]any{"a": []int{1, 2}}))

	// Ids from the context when the record has none.
	tid, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	sid, _ := trace.SpanIDFromHex("b7ad6b7169203331")
	sctx := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	log.InfoContext(dashcore.WithRequestID(sctx, "req-ctx"), "from context")

	b.waitRows(t, 5)
	recs, err := b.repo.List(ctx, logspg.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	byMsg := map[string]logspg.Record{}
	for _, r := range recs {
		byMsg[r.Message] = r
	}
	attrs := func(r logspg.Record) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(r.Context, &m); err != nil {
			t.Fatalf("context %s: %v", r.Context, err)
		}
		return m
	}

	plain := byMsg["plain"]
	if plain.Level != "INFO" || plain.LevelNum != 0 || plain.Service != "api" {
		t.Errorf("plain = %+v", plain)
	}
	if a := attrs(plain); a["n"] != 1.0 || a["ok"] != true || a["took"] != "1.5s" {
		t.Errorf("plain attributes = %v", a)
	}

	g := byMsg["grouped"]
	if g.Level != "WARN" || g.Logger != "projects" {
		t.Errorf("grouped = %+v", g)
	}
	want := `{"module":"projects","req":{"method":"GET","user":{"name":"ann"}}}`
	if got, _ := json.Marshal(attrs(g)); string(got) != want {
		t.Errorf("grouped attributes = %s, want %s", got, want)
	}

	ids := byMsg["with ids"]
	if ids.Level != "ERROR" || ids.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || ids.SpanID != "00f067aa0ba902b7" ||
		ids.RequestID != "req-1" || ids.Service != "worker" {
		t.Errorf("with ids = %+v", ids)
	}
	if a := attrs(ids); a["err"] != "boom" || len(a) != 1 {
		t.Errorf("with ids attributes = %v (ids belong in their columns)", a)
	}

	bad := byMsg["bad text \uFFFD and \uFFFD"]
	if bad.ID == 0 || bad.Level != "DEBUG" {
		t.Fatalf("the record with NUL and invalid UTF-8 was not stored as expected: %v", recs)
	}
	if a := attrs(bad); a["k\uFFFD"] != "v\uFFFD" {
		t.Errorf("bad attributes = %v", a)
	}

	c := byMsg["from context"]
	if c.TraceID != tid.String() || c.SpanID != sid.String() || c.RequestID != "req-ctx" {
		t.Errorf("from context = %+v", c)
	}
	if b.queue.Dropped() != 0 || b.writer.Written() != 5 {
		t.Errorf("dropped %d, written %d; want 0, 5", b.queue.Dropped(), b.writer.Written())
	}
}

func TestLevelFilters(t *testing.T) {
	q := logspg.NewQueue(logspg.QueueConfig{Level: slog.LevelWarn})
	log := slog.New(q)
	log.Info("no")
	log.Debug("no")
	log.Warn("yes")
	log.Error("yes")
	if q.Len() != 2 {
		t.Errorf("queued %d records, want the 2 at warn or above", q.Len())
	}
	var lv slog.LevelVar
	lv.Set(slog.LevelError)
	q = logspg.NewQueue(logspg.QueueConfig{Level: &lv})
	if slog.New(q).Enabled(context.Background(), slog.LevelWarn) {
		t.Error("warn enabled at level error")
	}
	lv.Set(slog.LevelDebug)
	if !slog.New(q).Enabled(context.Background(), slog.LevelDebug) {
		t.Error("debug not enabled after the LevelVar changed")
	}
}

func TestBatches(t *testing.T) {
	b := setup(t, logspg.QueueConfig{})
	log := slog.New(b.queue)
	for i := range 1234 {
		log.Info("many", slog.Int("i", i))
	}
	b.waitRows(t, 1234)
	if n := b.count(t, "SELECT count(DISTINCT (attributes->>'i')::int) FROM application_logs"); n != 1234 {
		t.Errorf("%d distinct records, want 1234", n)
	}
	if b.queue.Len() != 0 {
		t.Errorf("queue holds %d after the write", b.queue.Len())
	}
}

// TestNeverBlocks logs 50,000 records while the database is unreachable:
// every call returns at once, the queue keeps what fits and counts the
// rest as dropped; once a writer reaches a database, what the queue held
// is written.
func TestNeverBlocks(t *testing.T) {
	db := testkit.Postgres(t, logspg.Migrations)
	q := logspg.NewQueue(logspg.QueueConfig{Capacity: 10000})
	downCfg := fastWriter
	downCfg.StopTimeout = 300 * time.Millisecond
	down := startWriter(t, unreachableDB(t), q, downCfg)
	log := slog.New(q)

	const records = 50000
	var slowest time.Duration
	start := time.Now()
	for i := range records {
		t0 := time.Now()
		log.Info("while the database is down", slog.Int("i", i), slog.String("user", "ann"))
		slowest = max(slowest, time.Since(t0))
	}
	elapsed := time.Since(start)
	t.Logf("%d records logged in %v (%v per call, slowest %v); queued %d, dropped %d",
		records, elapsed, elapsed/records, slowest, q.Len(), q.Dropped())
	bound := time.Second // a sanity bound, not a performance claim
	if raceEnabled {
		bound *= 4
	}
	if elapsed > bound {
		t.Errorf("logging %d records took %v with the database down (bound %v); the sink must not wait", records, elapsed, bound)
	}
	if slowest > 250*time.Millisecond {
		t.Errorf("the slowest log call took %v; the sink must not wait", slowest)
	}
	if q.Len() != q.Cap() {
		t.Errorf("queue holds %d, want it full (%d)", q.Len(), q.Cap())
	}
	if got, want := q.Dropped(), uint64(records-q.Cap()); got != want {
		t.Errorf("Dropped() = %d, want records - queue capacity = %d", got, want)
	}
	if s := q.DropStats(); s.QueueFull != q.Dropped() || s.WriteFailed != 0 {
		t.Errorf("DropStats = %+v", s)
	}
	if down.Written() != 0 {
		t.Errorf("the writer on the unreachable database wrote %d", down.Written())
	}

	// The database comes back: a writer that reaches it drains the queue.
	stopWriter(t, down) // its final flush fails; the records stay queued
	if q.Len() != q.Cap() {
		t.Fatalf("queue holds %d after the failed final flush, want %d", q.Len(), q.Cap())
	}
	up := startWriter(t, db.DB, q, fastWriter)
	waitFor(t, 30*time.Second, "the queue to drain", func() bool { return q.Len() == 0 })
	if up.Written() != uint64(q.Cap()) {
		t.Errorf("written %d, want %d", up.Written(), q.Cap())
	}
	var n, lo, hi int
	if err := db.DB.QueryRow(context.Background(),
		`SELECT count(*), min((attributes->>'i')::int), max((attributes->>'i')::int) FROM application_logs`).Scan(&n, &lo, &hi); err != nil {
		t.Fatal(err)
	}
	if n != q.Cap() || lo != 0 || hi != q.Cap()-1 {
		t.Errorf("stored %d records, i from %d to %d; want the first %d", n, lo, hi, q.Cap())
	}
}

func TestOneWriterPerQueue(t *testing.T) {
	b := setup(t, logspg.QueueConfig{})
	other := logspg.NewWriter(b.db.DB, b.queue, fastWriter, nil)
	if err := other.Start(context.Background()); !errors.Is(err, logspg.ErrQueueClaimed) {
		t.Errorf("second writer's Start = %v, want ErrQueueClaimed", err)
	}
	// Start and Stop twice are harmless.
	if err := b.writer.Start(context.Background()); err != nil {
		t.Error(err)
	}
	stopWriter(t, b.writer)
	stopWriter(t, b.writer)
	if err := other.Start(context.Background()); err != nil {
		t.Errorf("Start after the first writer stopped = %v", err)
	}
	stopWriter(t, other)
}

func TestStopFlushes(t *testing.T) {
	b := setup(t, logspg.QueueConfig{})
	// A writer with a long flush interval writes everything at Stop.
	q := logspg.NewQueue(logspg.QueueConfig{})
	slow := logspg.NewWriter(b.db.DB, q, logspg.WriterConfig{FlushInterval: time.Hour, BatchSize: 1000}, nil)
	if err := slow.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		slog.New(q).Info("at stop", slog.Int("i", i))
	}
	time.Sleep(50 * time.Millisecond)
	if n := b.count(t, "SELECT count(*) FROM application_logs"); n != 0 {
		t.Fatalf("%d rows before the flush interval", n)
	}
	stopWriter(t, slow)
	if n := b.count(t, "SELECT count(*) FROM application_logs"); n != 10 {
		t.Errorf("%d rows after Stop, want 10", n)
	}
}
