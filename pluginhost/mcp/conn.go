package mcp

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	mcpsdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// stableRun is how long a run must last for the restarts in a row to be
// counted from zero again.
const stableRun = time.Minute

// conn is one connection to a server, from Connect to Disconnect: the
// supervisor goroutine (run), the current session, and the semaphore of
// calls in flight.
type conn struct {
	m    *Manager
	spec ServerSpec
	rec  *record
	log  *slog.Logger
	sem  chan struct{}

	ctx    context.Context // ends at Disconnect or Stop
	cancel context.CancelFunc

	ready    chan struct{} // closed after the first start attempt
	startErr error         // the first attempt's error, set before ready closes
	done     chan struct{} // closed when run returns

	mu   sync.Mutex
	sess *session // nil while not running
}

func (m *Manager) newConn(spec ServerSpec, rec *record) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{m: m, spec: spec, rec: rec, log: m.log.With(slog.String("mcp_server", spec.ID)),
		sem: make(chan struct{}, spec.MaxConcurrent), ctx: ctx, cancel: cancel,
		ready: make(chan struct{}), done: make(chan struct{})}
}

// ended reports whether the supervisor has returned.
func (c *conn) ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// current returns the live session, or nil.
func (c *conn) current() *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

// unavailable is the error of a call while there is no session.
func (c *conn) unavailable() error {
	st := c.rec.snapshot()
	if st.Status == StatusRestarting {
		return serverErr(c.spec.ID, ErrRestarting, "MCP server %s is restarting", c.spec.ID)
	}
	if st.LastError != "" {
		return serverErr(c.spec.ID, ErrNotConnected, "MCP server %s not connected (%s)", c.spec.ID, st.Status)
	}
	return serverErr(c.spec.ID, ErrNotConnected, "MCP server %s not connected", c.spec.ID)
}

// run starts the server, then supervises it. It is the goroutine that
// owns the connection; it returns after Disconnect, or when the server
// stopped for good.
func (c *conn) run() {
	defer c.m.wg.Done()
	defer close(c.done)
	defer c.cancel()
	s, err := c.start()
	c.startErr = err
	close(c.ready)
	if err != nil {
		status := StatusError
		if c.ctx.Err() != nil {
			status = StatusOffline
		}
		c.m.setStatus(c.spec.ID, c.rec, status, err.Error(), 0)
		return
	}
	c.supervise(s)
}

// supervise waits for the session to end, then restarts the server as
// its policy says, with jittered exponential backoff.
func (c *conn) supervise(s *session) {
	failures := 0
	policy := c.spec.Restart
	for {
		why := c.watch(s)
		c.setSession(nil)
		s.close(c.m.cfg.StopGrace)
		if why.stopped {
			c.m.setStatus(c.spec.ID, c.rec, StatusOffline, "", 0)
			return
		}
		c.log.Warn("mcp server stopped", slog.String("reason", why.text), slog.Bool("clean", why.clean))
		if time.Since(s.started) >= stableRun {
			failures = 0
		}
		switch {
		case policy.Policy == RestartNever:
			c.m.setStatus(c.spec.ID, c.rec, StatusError, why.text, 0)
			return
		case policy.Policy == RestartOnFailure && why.clean:
			c.m.setStatus(c.spec.ID, c.rec, StatusOffline, why.text, 0)
			return
		}
		for {
			failures++
			if policy.MaxRestarts >= 0 && failures > policy.MaxRestarts {
				c.m.setStatus(c.spec.ID, c.rec, StatusError,
					fmt.Sprintf("%s; not restarted again after %d restarts in a row", why.text, policy.MaxRestarts), 0)
				return
			}
			c.m.setStatus(c.spec.ID, c.rec, StatusRestarting, why.text, 0)
			if !c.sleep(backoff(policy, failures)) {
				c.m.setStatus(c.spec.ID, c.rec, StatusOffline, "", 0)
				return
			}
			c.rec.update(func(st *State) { st.Restarts++ })
			c.m.tel.restart(c.spec.ID)
			next, err := c.start()
			if err == nil {
				s = next
				break
			}
			if c.ctx.Err() != nil {
				c.m.setStatus(c.spec.ID, c.rec, StatusOffline, "", 0)
				return
			}
			why = exitReason{text: err.Error()}
		}
	}
}

// backoff is the delay before the n-th restart in a row: Backoff
// doubled n-1 times, capped at MaxBackoff, with ±20% jitter.
func backoff(p RestartPolicy, n int) time.Duration {
	d := time.Duration(p.Backoff)
	for i := 1; i < n && d < time.Duration(p.MaxBackoff); i++ {
		d *= 2
	}
	d = min(d, time.Duration(p.MaxBackoff))
	jitter := time.Duration(float64(d) * (rand.Float64()*0.4 - 0.2))
	return d + jitter
}

// sleep waits d; false when the connection ended first.
func (c *conn) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// exitReason is why a session ended.
type exitReason struct {
	text    string
	clean   bool // exited with status 0
	stopped bool // Disconnect or Stop
}

// watch waits until the session ends and says why.
func (c *conn) watch(s *session) exitReason {
	select {
	case <-c.ctx.Done():
		return exitReason{stopped: true}
	case <-s.procDone():
		return exitReason{text: s.proc.exitErr(), clean: s.proc.cleanExit()}
	case <-s.waitDone:
		// A process that closed its stdout is about to exit: wait a
		// little for its status.
		if s.proc != nil {
			select {
			case <-s.procDone():
				return exitReason{text: s.proc.exitErr(), clean: s.proc.cleanExit()}
			case <-time.After(500 * time.Millisecond):
			}
		}
		return exitReason{text: "the server closed the connection"}
	case <-s.broken:
		return exitReason{text: s.brokenErr.Error()}
	}
}

func (c *conn) setSession(s *session) {
	c.mu.Lock()
	c.sess = s
	c.mu.Unlock()
}

// start starts the server and initializes a session, within
// Config.ConnectTimeout.
func (c *conn) start() (*session, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.m.cfg.ConnectTimeout)
	defer cancel()
	var (
		t    mcpsdk.Transport
		proc *process
	)
	switch c.spec.Transport {
	case TransportStdio:
		p, err := startProcess(c.spec, c.m.log)
		if err != nil {
			return nil, err
		}
		proc = p
		t = &mcpsdk.IOTransport{Reader: p.stdout, Writer: p.stdin}
	default:
		t = &mcpsdk.StreamableClientTransport{Endpoint: c.spec.URL, HTTPClient: httpClient(c.spec.Headers),
			DisableStandaloneSSE: true, MaxRetries: -1}
	}
	client := mcpsdk.NewClient(&mcpsdk.Implementation{Name: c.m.opts.ClientName, Version: c.m.opts.ClientVersion}, nil)
	cs, err := client.Connect(ctx, t, &mcpsdk.ClientSessionOptions{ProtocolVersion: c.spec.ProtocolVersion})
	if err != nil {
		if proc != nil {
			// A server that exits at once: report its status and stderr.
			exited := false
			select {
			case <-proc.done():
				exited = true
			case <-time.After(200 * time.Millisecond):
			}
			proc.kill()
			if exited {
				return nil, serverErr(c.spec.ID, fmt.Errorf("%w: %w", ErrUpstream, err),
					"MCP server %s exited while starting%s", c.spec.ID, strings.TrimPrefix(proc.exitErr(), "exited"))
			}
		}
		switch {
		case c.ctx.Err() != nil:
			return nil, serverErr(c.spec.ID, ErrStopped, "MCP server %s was disconnected while starting", c.spec.ID)
		case ctx.Err() != nil:
			return nil, serverErr(c.spec.ID, fmt.Errorf("%w: %w", ErrTimeout, err),
				"MCP server %s did not complete the initialize handshake within %s", c.spec.ID, c.m.cfg.ConnectTimeout)
		}
		return nil, serverErr(c.spec.ID, fmt.Errorf("%w: %w", ErrUpstream, err), "MCP server %s could not be initialized", c.spec.ID)
	}
	s := &session{cs: cs, proc: proc, started: time.Now(), waitDone: make(chan struct{}), broken: make(chan struct{})}
	go func() {
		_ = cs.Wait()
		close(s.waitDone)
	}()
	init := cs.InitializeResult()
	pid := 0
	if proc != nil {
		pid = proc.pid()
	}
	c.rec.update(func(st *State) {
		st.StartedAt, st.LastHealthCheck = s.started, s.started
		if st.FirstStartedAt.IsZero() {
			st.FirstStartedAt = s.started
		}
		st.ServerName, st.ServerVersion, st.ProtocolVersion = "", "", ""
		if init != nil {
			st.ProtocolVersion = init.ProtocolVersion
			if init.ServerInfo != nil {
				st.ServerName, st.ServerVersion = init.ServerInfo.Name, init.ServerInfo.Version
			}
		}
	})
	c.setSession(s)
	c.m.setStatus(c.spec.ID, c.rec, StatusOnline, "", pid)
	return s, nil
}

// ping pings the server within its call timeout (at most 10s).
func (c *conn) ping(ctx context.Context, s *session) error {
	ctx, cancel := context.WithTimeout(ctx, min(time.Duration(c.spec.CallTimeout), 10*time.Second))
	defer cancel()
	if err := s.cs.Ping(ctx, nil); err != nil {
		return err
	}
	c.rec.update(func(st *State) { st.LastHealthCheck = time.Now() })
	return nil
}

// session is one run of a server: the SDK session and, for stdio, the
// process.
type session struct {
	cs       *mcpsdk.ClientSession
	proc     *process // nil for http
	started  time.Time
	waitDone chan struct{} // closed when the SDK session ends

	brokenOnce sync.Once
	broken     chan struct{} // closed by markBroken
	brokenErr  error
}

// procDone is closed when the process exits; nil (never) for http.
func (s *session) procDone() <-chan struct{} {
	if s.proc == nil {
		return nil
	}
	return s.proc.done()
}

// markBroken tells the supervisor that the session no longer works.
func (s *session) markBroken(err error) {
	s.brokenOnce.Do(func() {
		s.brokenErr = err
		close(s.broken)
	})
}

// close ends the session: the SDK session (which closes a stdio
// server's stdin), then the process as [process.stop] does.
func (s *session) close(grace time.Duration) {
	closed := make(chan struct{})
	go func() {
		_ = s.cs.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(grace):
	}
	if s.proc != nil {
		s.proc.stop(grace)
	}
	select {
	case <-s.waitDone:
	case <-time.After(grace):
	}
	<-closed
}

// httpClient returns the client of an HTTP server: every request
// carries headers.
func httpClient(headers map[string]string) *http.Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	if len(headers) == 0 {
		return &http.Client{Transport: base}
	}
	h := make(http.Header, len(headers))
	for k, v := range headers {
		h.Set(k, v)
	}
	return &http.Client{Transport: headerTransport{base: base, headers: h}}
}

// headerTransport adds headers to every request.
type headerTransport struct {
	base    http.RoundTripper
	headers http.Header
}

// RoundTrip implements http.RoundTripper.
func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.headers {
		r.Header[k] = v
	}
	return t.base.RoundTrip(r)
}
