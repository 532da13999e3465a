package acceptance_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/taylordash/taylordash/internal/pglocal"
)

// Scenario 1, health: the probes answer as the original's did, readiness
// follows the database, and /metrics is public and counts ingested
// events.
func TestScenario01Health(t *testing.T) {
	t.Parallel()
	d := start(t, nil)

	t.Run("live", func(t *testing.T) {
		m := d.do(t, http.MethodGet, "/health/live", anonymous, nil).must(t, http.StatusOK).object(t)
		if m["status"] != "alive" || m["service"] != "taylordash-backend" {
			t.Fatalf("live: %v", m)
		}
	})

	t.Run("ready", func(t *testing.T) {
		m := d.do(t, http.MethodGet, "/health/ready", anonymous, nil).must(t, http.StatusOK).object(t)
		// The original's three keys; the dashboard adds the broker and a
		// report per check.
		if m["status"] != "ready" || m["service"] != "taylordash-backend" || m["database"] != "healthy" {
			t.Fatalf("ready: %v", m)
		}
		if m["mqtt"] != "healthy" {
			t.Fatalf("ready: the broker is not reported healthy: %v", m)
		}
	})

	t.Run("ready is 503 with the database down", func(t *testing.T) {
		t.Parallel()
		readyWithDatabaseDown(t)
	})

	t.Run("metrics count an ingest, without credentials", func(t *testing.T) {
		// The application's own events (the first admin's audit event)
		// come back from the broker too: count from here.
		before := d.metricSum(t, "taylor_ingest_total", `result="stored"`)
		c := mqttClient(t, d.Broker.URL, "health")
		publish(t, c, d.Broker.Prefix+"tracker/events/acceptance/metrics", newEnvelope("metrics_probe", map[string]any{"n": 1}).bytes(t))
		eventually(t, 15*time.Second, func() (bool, string) {
			n := d.metricSum(t, "taylor_ingest_total", `result="stored"`)
			return n > before, "taylor_ingest_total{result=\"stored\"} did not count the published event"
		})
		r := d.do(t, http.MethodGet, "/metrics", anonymous, nil).must(t, http.StatusOK)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("metrics content type %q, want the Prometheus text format", ct)
		}
		// The original declared http_requests_total but never counted:
		// it had only HELP and TYPE lines. Here it counts.
		if n := d.metricSum(t, "http_requests_total"); n == 0 {
			t.Errorf("http_requests_total counts no request")
		}
		for _, name := range []string{"taylor_event_latency_seconds_bucket", "taylor_mqtt_connected"} {
			if !strings.Contains(string(r.Body), name) {
				t.Errorf("/metrics lacks %s", name)
			}
		}
	})
}

// readyWithDatabaseDown runs the dashboard on a PostgreSQL cluster of its
// own, stops the cluster, and expects readiness to say so.
func readyWithDatabaseDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Not t.TempDir: the server's OS user must reach the directory.
	dir, err := os.MkdirTemp("", "acceptance-ready-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	cluster, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, Fast: true, DieWithParent: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop(context.Background()) })
	d := start(t, map[string]string{
		"TAYLORDASH_DATABASE_URL":             cluster.URL("postgres"),
		"TAYLORDASH_DATABASE_CONNECT_TIMEOUT": "1s",
	})
	d.do(t, http.MethodGet, "/health/ready", anonymous, nil).must(t, http.StatusOK)

	if err := cluster.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	r := d.do(t, http.MethodGet, "/health/ready", anonymous, nil).must(t, http.StatusServiceUnavailable)
	// Deliberate difference: the original answered {"detail": "Database
	// not ready"}; the dashboard answers its readiness report, with the
	// failing check named.
	m := r.object(t)
	if m["status"] != "not_ready" || m["database"] != "unhealthy" {
		t.Fatalf("ready with the database down: %s", r.Body)
	}
	// Liveness does not depend on the database.
	d.do(t, http.MethodGet, "/health/live", anonymous, nil).must(t, http.StatusOK)
}
