package wasm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taylordash/taylordash/pluginhost/wasm"
)

// apiServer stands in for the API: each request encodes a page of 50
// small JSON objects, a few tens of microseconds of work.
func apiServer(t *testing.T) *httptest.Server {
	t.Helper()
	type item struct {
		ID     int       `json:"id"`
		Name   string    `json:"name"`
		Status string    `json:"status"`
		At     time.Time `json:"at"`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		items := make([]item, 50)
		for i := range items {
			items[i] = item{ID: i, Name: fmt.Sprintf("project %d", i), Status: "active", At: time.Now()}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(items)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// measure sends requests one after another for d and returns their
// latencies; every request must succeed.
func measure(t *testing.T, url string, d time.Duration) []time.Duration {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	var lat []time.Duration
	for end := time.Now().Add(d); time.Now().Before(end); {
		start := time.Now()
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	return lat
}

func pct(lat []time.Duration, p float64) time.Duration {
	return lat[min(len(lat)-1, int(float64(len(lat))*p))].Round(time.Microsecond)
}

func summary(lat []time.Duration) string {
	return fmt.Sprintf("n=%d p50=%s p90=%s p99=%s max=%s", len(lat), pct(lat, 0.5), pct(lat, 0.9), pct(lat, 0.99), lat[len(lat)-1].Round(time.Microsecond))
}

// Hostile plugins (an infinite loop stopped by its deadline, allocation
// past the cap, panics, denied host calls) run continuously while an HTTP
// server answers requests: every request succeeds, and the latencies with
// and without them are logged for docs/benchmarks.md (not asserted: the
// machine is shared). It runs with the default MaxConcurrentCalls
// (GOMAXPROCS/2) and, for comparison, with as many guests as processors.
func TestConcurrentAPIRequestsUnaffected(t *testing.T) {
	const phase = 2 * time.Second
	srv := apiServer(t)
	measure(t, srv.URL, 200*time.Millisecond) // warm up
	baseline := measure(t, srv.URL, phase)
	t.Logf("GOMAXPROCS=%d", runtime.GOMAXPROCS(0))
	t.Logf("without plugins:      %s", summary(baseline))
	for _, slots := range []int{0, runtime.GOMAXPROCS(0)} {
		name := "MaxConcurrentCalls default"
		if slots != 0 {
			name = fmt.Sprintf("MaxConcurrentCalls=%d", slots)
		}
		t.Run(name, func(t *testing.T) { hostileLatency(t, srv.URL, slots, phase) })
	}
}

func hostileLatency(t *testing.T, url string, slots int, phase time.Duration) {
	b := setup(t, func(c *wasm.Config, _ *wasm.Options) {
		c.MaxViolations = 1 << 30 // keep them running
		c.MaxInstances = 2
		c.MaxConcurrentCalls = slots
	})
	type hostile struct {
		p    *wasm.Plugin
		fn   string
		want error
	}
	hostiles := []hostile{
		{b.load(t, "spin", wasm.PluginSpec{Limits: wasm.Limits{Timeout: 100 * time.Millisecond}}), "td_spin", wasm.ErrTimeout},
		{b.load(t, "alloc", wasm.PluginSpec{Limits: wasm.Limits{MemoryPages: 64}}), "td_alloc", wasm.ErrMemoryLimit},
		{b.load(t, "panic", wasm.PluginSpec{}), "td_panic", wasm.ErrTrap},
		{b.load(t, "denied", wasm.PluginSpec{}), "td_publish", wasm.ErrPermissionDenied},
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	counts := make([]atomic.Int64, len(hostiles))
	for i, h := range hostiles {
		wg.Go(func() {
			for ctx.Err() == nil {
				_, err := h.p.Call(ctx, h.fn, nil)
				if ctx.Err() != nil {
					return
				}
				if !errors.Is(err, h.want) {
					t.Errorf("%s: %v, want %v", h.fn, err, h.want)
					return
				}
				counts[i].Add(1)
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	under := measure(t, url, phase)
	cancel()
	wg.Wait()

	t.Logf("with hostile plugins: %s", summary(under))
	for i, h := range hostiles {
		t.Logf("  %s: %d calls in %s", h.fn, counts[i].Load(), phase)
		if counts[i].Load() == 0 {
			t.Errorf("%s never ran", h.fn)
		}
	}
}
