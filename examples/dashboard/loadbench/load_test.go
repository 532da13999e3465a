package loadbench_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taylordash/taylordash/examples/dashboard/loadbench"
	"github.com/taylordash/taylordash/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

const apiKey = "loadbench-key-0123456789abcdef"

// BenchmarkLoad runs, in one run and alternating, wrk against the
// dashboard (every module on) and against the raw baseline, for GET
// /api/v1/projects (50 rows) and POST /api/v1/projects, 64 connections.
// Run it with -benchtime 1x: one run is minutes of wrk.
func BenchmarkLoad(b *testing.B) {
	if _, err := exec.LookPath("wrk"); err != nil {
		b.Fatal("wrk is not installed; install it with: apt-get install wrk")
	}
	ctx := context.Background()
	dir := b.TempDir()
	db := testkit.Postgres(b)
	broker := testkit.MQTT(b)

	// An OTLP/HTTP sink, so that every span is exported as in production.
	var spanBytes atomic.Int64
	otlp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		spanBytes.Add(n)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	b.Cleanup(otlp.Close)

	bin := filepath.Join(dir, "dashboard")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/taylordash/taylordash/examples/dashboard").CombinedOutput(); err != nil {
		b.Fatalf("build the dashboard: %v\n%s", err, out)
	}
	appAddr := freeAddr(b)
	logFile, err := os.Create(filepath.Join(dir, "dashboard.log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TAYLORDASH_") && !strings.HasPrefix(kv, "OTEL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		"TAYLORDASH_HTTP_ADDR="+appAddr,
		"TAYLORDASH_DATABASE_URL="+db.URL,
		"TAYLORDASH_MQTT_URL="+broker.URL,
		"TAYLORDASH_MQTT_TOPIC_PREFIX="+broker.Prefix,
		"TAYLORDASH_MQTT_CLIENT_ID=loadbench-"+strings.Trim(strings.ReplaceAll(broker.Prefix, "/", "-"), "-"),
		"TAYLORDASH_MQTT_CLEAN_SESSION=true",
		"TAYLORDASH_API_KEY="+apiKey,
		"TAYLORDASH_BOOTSTRAP_ADMIN_GENERATE=false",
		// Rate limits stay on, set above what one load generator sends.
		"TAYLORDASH_AUTH_RATE_LIMIT_PER_IP=1000000/1s:1000000",
		"TAYLORDASH_AUTH_RATE_LIMIT_PER_PRINCIPAL=1000000/1s:1000000",
		"OTEL_TRACES_SAMPLER=always_on",
		"OTEL_EXPORTER_OTLP_ENDPOINT="+otlp.URL,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
	)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = logFile.Close()
	})
	appURL := "http://" + appAddr
	waitReady(b, appURL, logFile.Name())

	// The baseline: the same queries and JSON through a pool of the
	// dashboard's default size (20).
	pool, err := pgxpool.New(ctx, db.URL+"&pool_max_conns=20")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	rawLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	raw := &http.Server{Handler: loadbench.RawHandler(pool, apiKey), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = raw.Serve(rawLn) }()
	b.Cleanup(func() { _ = raw.Close() })
	rawURL := "http://" + rawLn.Addr().String()

	// 50 projects to list.
	if _, err := pool.Exec(ctx, `INSERT INTO projects (name, description, status, metadata)
		SELECT 'project ' || i, 'a project to list', 'active', jsonb_build_object('n', i) FROM generate_series(1, 50) i`); err != nil {
		b.Fatal(err)
	}

	const body = `{"name":"load test","description":"created by wrk","status":"active","metadata":{"source":"wrk"}}`
	load := func(base, method string, d time.Duration) loadbench.Result {
		b.Helper()
		r, err := loadbench.Run(ctx, dir, loadbench.Load{URL: base + "/api/v1/projects", Method: method, Body: body,
			APIKey: apiKey, Connections: 64, Threads: 2, Duration: d})
		if err != nil {
			b.Fatal(err)
		}
		if r.Errors > 0 {
			b.Errorf("%s %s: %d errors of %d requests", method, base, r.Errors, r.Requests)
		}
		return r
	}
	// Warm both up (connections, statement caches, JIT of nothing: Go).
	load(rawURL, "GET", 3*time.Second)
	load(appURL, "GET", 3*time.Second)

	const rounds, each = 3, 10 * time.Second
	results := map[string][]loadbench.Result{}
	var appPosts int
	for _, method := range []string{"GET", "POST"} {
		for range rounds {
			results["raw "+method] = append(results["raw "+method], load(rawURL, method, each))
			r := load(appURL, method, each)
			results["app "+method] = append(results["app "+method], r)
			if method == "POST" {
				appPosts += r.Requests
			}
		}
	}

	median := func(rs []loadbench.Result) loadbench.Result {
		s := slices.Clone(rs)
		slices.SortFunc(s, func(a, b loadbench.Result) int { return int(a.RPS - b.RPS) })
		return s[len(s)/2]
	}
	for _, method := range []string{"GET", "POST"} {
		rawM, appM := median(results["raw "+method]), median(results["app "+method])
		for i := range rounds {
			b.Logf("%-4s round %d  raw: %v", method, i+1, results["raw "+method][i])
			b.Logf("%-4s round %d  app: %v", method, i+1, results["app "+method][i])
		}
		ratio := appM.RPS / rawM.RPS
		b.Logf("%-4s median: app %.0f req/s = %.0f %% of raw %.0f req/s; app p99 %v (raw %v)",
			method, appM.RPS, ratio*100, rawM.RPS, appM.P99, rawM.P99)
		b.ReportMetric(ratio*100, strings.ToLower(method)+"_%_of_raw")
		b.ReportMetric(float64(appM.P99.Microseconds())/1000, strings.ToLower(method)+"_app_p99_ms")
	}

	// Every POST the app answered wrote its event through the outbox: the
	// relay publishes it and the app's own subscription stores it.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var outbox, published int
		if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE sent_at IS NOT NULL) FROM outbox
			WHERE topic LIKE '%tracker/events/projects/created'`).Scan(&outbox, &published); err != nil {
			b.Fatal(err)
		}
		if outbox < appPosts {
			b.Fatalf("%d project_created rows in the outbox after %d answered POSTs", outbox, appPosts)
		}
		if published == outbox {
			b.Logf("outbox: %d project_created events, all published; %d KB of spans exported over OTLP", outbox, spanBytes.Load()>>10)
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("outbox: %d of %d events published after 2 minutes", published, outbox)
		}
		time.Sleep(time.Second)
	}
	if spanBytes.Load() == 0 {
		b.Error("no span reached the OTLP sink")
	}
	for b.Loop() {
		// The measurement is the wrk runs above.
	}
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(tb testing.TB, url, logPath string) {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url + "/health/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	log, _ := os.ReadFile(logPath)
	tb.Fatalf("the dashboard did not become ready in 60 s; its log:\n%s", log)
}
