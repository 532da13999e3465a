package app_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taylordash/taylordash/examples/dashboard/app"
	"github.com/taylordash/taylordash/internal/pglocal"
	"github.com/taylordash/taylordash/testkit"
)

// TestRequestsSucceedWhilePostgresIsDown runs the dashboard on a private
// PostgreSQL cluster and stops the cluster: requests that need no database
// still succeed promptly (the log sink is off their path), the readiness
// probe says the database is down, and the log lines the sink cannot keep
// are counted in taylor_log_dropped_total.
func TestRequestsSucceedWhilePostgresIsDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Not t.TempDir: the server's OS user must reach the directory.
	dir, err := os.MkdirTemp("", "dashboard-outage-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	cluster, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, Fast: true, DieWithParent: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop(context.Background()) })

	a := testkit.App(t, app.Modules(), testkit.Env(map[string]string{
		"TAYLORDASH_API_KEY":                  apiKey,
		"TAYLORDASH_DATABASE_URL":             cluster.URL("postgres"),
		"TAYLORDASH_DATABASE_CONNECT_TIMEOUT": "1s",
		"TAYLORDASH_LOGS_QUEUE_SIZE":          "100",
		// One test client sends them all: no per-IP limit in the way.
		"TAYLORDASH_AUTH_RATE_LIMIT_PER_IP": "10000/1s:10000",
	}))
	if resp, body := call(t, a, http.MethodGet, "/health/ready", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("ready before the outage: %d %s", resp.StatusCode, body)
	}

	if err := cluster.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// 300 requests, each writing log lines (the access log, and 20
	// browser entries per frontend post): far more than the queue holds.
	entries := make([]string, 20)
	for i := range entries {
		entries[i] = fmt.Sprintf(`{"level":"info","message":"click %d"}`, i)
	}
	frontend := `{"logs":[` + strings.Join(entries, ",") + `]}`
	var slowest time.Duration
	for i := range 300 {
		start := time.Now()
		var resp *http.Response
		var body []byte
		switch i % 3 {
		case 0:
			resp, body = call(t, a, http.MethodGet, "/", "", nil)
		case 1:
			resp, body = call(t, a, http.MethodGet, "/health/live", "", nil)
		case 2:
			resp, body = call(t, a, http.MethodPost, "/api/v1/logs/frontend", apiKey, bytes.NewBufferString(frontend))
		}
		if resp.StatusCode >= 300 {
			t.Fatalf("request %d with the database down: %d %s", i, resp.StatusCode, body)
		}
		slowest = max(slowest, time.Since(start))
	}
	// Not a performance claim: a sink that waited for the database would
	// hold each request for the connect timeout (1 s) or more.
	if slowest > 900*time.Millisecond {
		t.Errorf("slowest request took %v with the database down: something waits for it", slowest)
	}
	t.Logf("slowest of 300 requests with the database down: %v", slowest)

	resp, body := call(t, a, http.MethodGet, "/health/ready", "", nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("ready with the database down: %d %s", resp.StatusCode, body)
	}

	_, metrics := call(t, a, http.MethodGet, "/metrics", "", nil)
	var dropped float64
	for _, line := range strings.Split(string(metrics), "\n") {
		if strings.HasPrefix(line, "taylor_log_dropped_total{") {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			dropped += v
		}
	}
	// 100 frontend posts of 20 entries each, into a queue of 100.
	if dropped < 1000 {
		t.Errorf("taylor_log_dropped_total = %v after 2000 browser entries into a queue of 100 with the database down", dropped)
	}
}
