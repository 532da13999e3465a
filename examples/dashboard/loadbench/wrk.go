package loadbench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// Result is what one wrk run measured.
type Result struct {
	// RPS is wrk's requests per second.
	RPS float64
	// P50 and P99 are wrk's latency percentiles.
	P50, P99 time.Duration
	// Requests and Errors count the requests and the non-2xx answers,
	// socket errors and timeouts among them.
	Requests, Errors int
}

// Load is one wrk run.
type Load struct {
	// URL is the target.
	URL string
	// Method is GET or POST; a POST sends Body as JSON.
	Method, Body string
	// APIKey is sent as X-API-Key.
	APIKey string
	// Connections, Threads and Duration configure wrk.
	Connections, Threads int
	Duration             time.Duration
}

// Run runs wrk for l. dir holds the Lua script of a POST.
func Run(ctx context.Context, dir string, l Load) (Result, error) {
	args := []string{"-t", strconv.Itoa(l.Threads), "-c", strconv.Itoa(l.Connections),
		"-d", fmt.Sprintf("%ds", int(l.Duration.Seconds())), "--latency", "-H", "X-API-Key: " + l.APIKey}
	if l.Method == "POST" {
		script := filepath.Join(dir, "post.lua")
		lua := fmt.Sprintf("wrk.method = \"POST\"\nwrk.body = %q\nwrk.headers[\"Content-Type\"] = \"application/json\"\n", l.Body)
		if err := os.WriteFile(script, []byte(lua), 0o644); err != nil {
			return Result{}, err
		}
		args = append(args, "-s", script)
	}
	out, err := exec.CommandContext(ctx, "wrk", append(args, l.URL)...).CombinedOutput()
	if err != nil {
		return Result{}, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	return parse(string(out))
}

var (
	reRPS     = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reTotal   = regexp.MustCompile(`(\d+) requests in`)
	reNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	reSocket  = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	rePercent = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
)

func parse(out string) (Result, error) {
	var r Result
	m := reRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk: no Requests/sec in its output:\n%s", out)
	}
	r.RPS, _ = strconv.ParseFloat(m[1], 64)
	if m := reTotal.FindStringSubmatch(out); m != nil {
		r.Requests, _ = strconv.Atoi(m[1])
	}
	if m := reNon2xx.FindStringSubmatch(out); m != nil {
		n, _ := strconv.Atoi(m[1])
		r.Errors += n
	}
	if m := reSocket.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.Atoi(s)
			r.Errors += n
		}
	}
	for _, m := range rePercent.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[3]]
		d := time.Duration(v * float64(unit))
		if m[1] == "50" {
			r.P50 = d
		} else {
			r.P99 = d
		}
	}
	if r.P99 == 0 {
		return r, fmt.Errorf("wrk: no latency distribution in its output:\n%s", out)
	}
	return r, nil
}

// String formats r for a table row.
func (r Result) String() string {
	return fmt.Sprintf("%8.0f req/s  p50 %-9v p99 %-9v  %d requests, %d errors",
		r.RPS, r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), r.Requests, r.Errors)
}
