package mcp

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// The statuses of a server, the original's three and restarting.
const (
	// StatusOnline: connected and initialized; calls are served.
	StatusOnline = "online"
	// StatusOffline: not connected (never, disconnected, or exited with
	// status 0 under the on-failure policy).
	StatusOffline = "offline"
	// StatusError: it could not be started, or stopped and is not
	// restarted (policy never, or max_restarts reached).
	StatusError = "error"
	// StatusRestarting: it stopped and is being started again.
	StatusRestarting = "restarting"
)

// latencyWindow is how many recent call durations a server keeps for
// its latency percentiles.
const latencyWindow = 256

// State is what the client knows of a server: its status and its
// counters since the application started.
type State struct {
	// Status is one of the Status* values.
	Status string
	// LastError says why the server last stopped or failed to start.
	LastError string
	// LastErrorAt is when.
	LastErrorAt time.Time
	// LastHealthCheck is when the server last answered a ping (or was
	// initialized).
	LastHealthCheck time.Time
	// StartedAt is when the current run started; zero when not running.
	StartedAt time.Time
	// FirstStartedAt is when the server was first started since the
	// application started (the original's start_time).
	FirstStartedAt time.Time
	// Restarts counts restarts since the application started.
	Restarts int
	// PID is a running stdio server's process id.
	PID int
	// ServerName and ServerVersion are what the server reported in its
	// initialize answer; ProtocolVersion the version agreed.
	ServerName, ServerVersion, ProtocolVersion string
	// Requests counts calls; Errors the calls that failed (tool errors,
	// JSON-RPC errors, timeouts, broken connections). Timeouts, Rejected
	// (over max_concurrent) and Denied (tools not allowed) are parts of
	// them.
	Requests, Errors, Timeouts, Rejected, Denied int64
	// InFlight is the number of calls in progress.
	InFlight int
	// LatencyP50 and LatencyP95 are over the last 256 calls; LatencyMean
	// over all.
	LatencyP50, LatencyP95, LatencyMean time.Duration
}

// Uptime is how long the current run has lasted; 0 when not running.
func (s State) Uptime(now time.Time) time.Duration {
	if s.StartedAt.IsZero() || s.Status != StatusOnline {
		return 0
	}
	return now.Sub(s.StartedAt)
}

// FormatUptime writes d as the original did: "Xd Yh Zm", "Yh Zm" or
// "Zm".
func FormatUptime(d time.Duration) string {
	mins := int64(d / time.Minute)
	days, hours, m := mins/(24*60), (mins/60)%24, mins%60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh %dm", days, hours, m)
	case hours > 0:
		return fmt.Sprintf("%dh %dm", hours, m)
	}
	return fmt.Sprintf("%dm", m)
}

// record is the mutable state of one server; it outlives connections.
type record struct {
	mu      sync.Mutex
	st      State
	latSum  time.Duration
	latN    int64
	recent  []time.Duration // ring of the last latencyWindow durations
	recentI int
}

func newRecord() *record { return &record{st: State{Status: StatusOffline}} }

func (r *record) snapshot() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.st
	if r.latN > 0 {
		s.LatencyMean = r.latSum / time.Duration(r.latN)
	}
	if len(r.recent) > 0 {
		sorted := slices.Clone(r.recent)
		slices.Sort(sorted)
		s.LatencyP50 = sorted[(len(sorted)-1)*50/100]
		s.LatencyP95 = sorted[(len(sorted)-1)*95/100]
	}
	return s
}

// update changes the state under the lock and returns the old and new
// states.
func (r *record) update(f func(s *State)) (before, after State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	before = r.st
	f(&r.st)
	return before, r.st
}

// observe counts a finished call.
func (r *record) observe(result string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st.Requests++
	switch result {
	case ResultOK:
	case ResultTimeout:
		r.st.Errors++
		r.st.Timeouts++
	case ResultBusy:
		r.st.Errors++
		r.st.Rejected++
	case ResultDenied:
		r.st.Errors++
		r.st.Denied++
	default:
		r.st.Errors++
	}
	if result == ResultBusy || result == ResultDenied || result == ResultUnavailable {
		return // nothing reached the server
	}
	r.latSum += d
	r.latN++
	if len(r.recent) < latencyWindow {
		r.recent = append(r.recent, d)
	} else {
		r.recent[r.recentI] = d
		r.recentI = (r.recentI + 1) % latencyWindow
	}
}

func (r *record) inFlight(delta int) {
	r.mu.Lock()
	r.st.InFlight += delta
	r.mu.Unlock()
}
