package mcp

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/internal/periodic"
)

// Source looks servers up by id (the *Registry). Get returns an error
// wrapping [ErrNotFound] for an unknown id. It must be safe for
// concurrent use.
type Source interface {
	Get(ctx context.Context, id string) (*Server, error)
}

// ManagerOptions are the optional parts of a [Manager]. The zero value
// works: default Config, no logs, no telemetry.
type ManagerOptions struct {
	// Config is the client's configuration; zero fields take defaults.
	Config Config
	// Logger receives the servers' stderr (at info, with mcp_server) and
	// the supervisors' reports. Nil discards them.
	Logger *slog.Logger
	// TracerProvider records a span per call; nil records none.
	TracerProvider trace.TracerProvider
	// MeterProvider records the Metric* instruments; nil records none.
	MeterProvider metric.MeterProvider
	// ClientName and ClientVersion are sent in the initialize request;
	// default "taylordash" and "1.0.0".
	ClientName, ClientVersion string
	// OnStatus is called, from the goroutine that changed it, after each
	// change of a server's status. It must not block for long nor call
	// the Manager's Connect, Disconnect or Stop.
	OnStatus func(StatusChange)
}

// Manager connects to MCP servers, supervises them and makes calls to
// them. It owns one goroutine per connected server (the supervisor,
// which restarts a server that stopped as its restart policy says) and
// the health loop; Stop ends them all and every server process. Its
// methods are safe for concurrent use.
type Manager struct {
	src  Source
	cfg  Config
	log  *slog.Logger
	tel  *telemetry
	opts ManagerOptions

	mu      sync.Mutex
	conns   map[string]*conn
	records map[string]*record
	stopped bool
	wg      sync.WaitGroup
	health  *periodic.Loop
}

// NewManager returns a manager of the servers of src. Start it to
// connect the servers marked autoconnect and run the health pings;
// Connect works without Start.
func NewManager(src Source, opts ManagerOptions) (*Manager, error) {
	cfg := opts.Config.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.ClientName == "" {
		opts.ClientName = "taylordash"
	}
	if opts.ClientVersion == "" {
		opts.ClientVersion = "1.0.0"
	}
	m := &Manager{src: src, cfg: cfg, log: log, opts: opts, conns: map[string]*conn{}, records: map[string]*record{}}
	tel, err := newTelemetry(opts.TracerProvider, opts.MeterProvider, m.uptimes)
	if err != nil {
		return nil, fmt.Errorf("mcp: telemetry: %w", err)
	}
	m.tel = tel
	if !limitsSupported {
		log.Warn("mcp: resource limits of stdio servers are not applied on this system")
	}
	if cfg.HealthInterval > 0 {
		m.health = periodic.New(cfg.HealthInterval, false, m.pingAll)
	}
	return m, nil
}

// Start starts the health pings and connects the given servers (those
// marked autoconnect, see [AutoConnectIDs]) in the background: a server
// that cannot be connected is logged and reported in its status. Start
// returns at once; Stop waits for the connections it began.
func (m *Manager) Start(autoconnect []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return ErrStopped
	}
	if m.health != nil {
		m.health.Start()
	}
	for _, id := range autoconnect {
		m.wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), m.cfg.ConnectTimeout+time.Second)
			defer cancel()
			if _, err := m.Connect(ctx, id); err != nil {
				m.log.Error("mcp server not connected at start", slog.String("mcp_server", id), slog.Any("error", err))
			}
		})
	}
	return nil
}

// AutoConnectIDs returns the ids of the servers marked autoconnect.
func AutoConnectIDs(servers []*Server) []string {
	var ids []string
	for _, s := range servers {
		if s.Spec.AutoConnect {
			ids = append(ids, s.Spec.ID)
		}
	}
	return ids
}

// Stop disconnects every server, killing the process groups of stdio
// servers that do not exit in time, and waits for all of it, at most
// until ctx ends. A stopped manager refuses new connections. A second
// Stop does nothing more.
func (m *Manager) Stop(ctx context.Context) error {
	m.mu.Lock()
	m.stopped = true
	conns := slices.Collect(maps.Values(m.conns))
	m.mu.Unlock()
	if m.health != nil {
		if err := m.health.Stop(ctx); err != nil {
			return err
		}
	}
	for _, c := range conns {
		c.cancel()
	}
	done := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		m.tel.close()
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mcp: stop: %w", ctx.Err())
	}
}

// Check reports the servers that the client tried to run and that do
// not work: in status error or restarting. It is the module's readiness
// check (optional: it never makes the service unready).
func (m *Manager) Check(context.Context) error {
	m.mu.Lock()
	recs := maps.Clone(m.records)
	m.mu.Unlock()
	var bad []string
	for _, id := range slices.Sorted(maps.Keys(recs)) {
		if st := recs[id].snapshot(); st.Status == StatusError || st.Status == StatusRestarting {
			bad = append(bad, id+" ("+st.Status+")")
		}
	}
	if len(bad) > 0 {
		return dashcore.NewError(dashcore.ErrUnavailable, "MCP servers not working: "+strings.Join(bad, ", "), nil)
	}
	return nil
}

// record returns the server's record, made on first use.
func (m *Manager) record(id string) *record {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.records[id]
	if r == nil {
		r = newRecord()
		m.records[id] = r
	}
	return r
}

// State returns what the client knows of the server: offline with zero
// counters for a server it never connected.
func (m *Manager) State(id string) State {
	m.mu.Lock()
	r := m.records[id]
	m.mu.Unlock()
	if r == nil {
		return State{Status: StatusOffline}
	}
	return r.snapshot()
}

// uptimes reports the uptime of every server, for the gauge.
func (m *Manager) uptimes() map[string]time.Duration {
	m.mu.Lock()
	recs := maps.Clone(m.records)
	m.mu.Unlock()
	now := time.Now()
	out := make(map[string]time.Duration, len(recs))
	for id, r := range recs {
		out[id] = r.snapshot().Uptime(now)
	}
	return out
}

// Connect connects the server: it starts a stdio server's process (or
// opens the HTTP session), performs the initialize handshake, and
// supervises it until Disconnect or Stop. Connecting a connected server
// returns its state. The start is bounded by Config.ConnectTimeout and
// goes on if ctx ends first (the caller then gets ctx's error).
//
// A failure is reported in the server's status (error) and returned: an
// error wrapping [ErrNotFound], a [*CommandNotFoundError], or an error
// wrapping [ErrUpstream] or [ErrTimeout].
func (m *Manager) Connect(ctx context.Context, id string) (State, error) {
	srv, err := m.src.Get(ctx, id)
	if err != nil {
		return State{}, err
	}
	spec := srv.Spec.withDefaults(m.cfg)
	rec := m.record(id)
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return State{}, ErrStopped
	}
	c := m.conns[id]
	if c == nil || c.ended() {
		c = m.newConn(spec, rec)
		m.conns[id] = c
		m.wg.Add(1)
		go c.run()
	}
	m.mu.Unlock()
	select {
	case <-c.ready:
	case <-ctx.Done():
		return m.State(id), ctx.Err()
	}
	if c.startErr != nil {
		return m.State(id), c.startErr
	}
	return m.State(id), nil
}

// Disconnect stops the server (its process group, for stdio) and waits
// until it has stopped, at most until ctx ends. Disconnecting a server
// that is not connected does nothing.
func (m *Manager) Disconnect(ctx context.Context, id string) error {
	m.mu.Lock()
	c := m.conns[id]
	delete(m.conns, id)
	m.mu.Unlock()
	if c == nil {
		return nil
	}
	c.cancel()
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mcp: disconnect %s: %w", id, ctx.Err())
	}
}

// Connected reports whether the server has a live connection or is
// being restarted.
func (m *Manager) Connected(id string) bool {
	m.mu.Lock()
	c := m.conns[id]
	m.mu.Unlock()
	return c != nil && !c.ended()
}

// Reconnect connects the server again with its current specification
// if it is connected (after an update); otherwise it does nothing.
func (m *Manager) Reconnect(ctx context.Context, id string) (State, error) {
	if !m.Connected(id) {
		return m.State(id), nil
	}
	if err := m.Disconnect(ctx, id); err != nil {
		return m.State(id), err
	}
	return m.Connect(ctx, id)
}

// Forget disconnects the server and drops its counters (after it was
// deleted).
func (m *Manager) Forget(ctx context.Context, id string) error {
	err := m.Disconnect(ctx, id)
	m.mu.Lock()
	delete(m.records, id)
	m.mu.Unlock()
	return err
}

// setStatus records a status change and reports it.
func (m *Manager) setStatus(id string, r *record, status, errText string, pid int) {
	before, after := r.update(func(s *State) {
		s.Status = status
		if errText != "" {
			s.LastError, s.LastErrorAt = errText, time.Now()
		}
		s.PID = pid
		if status != StatusOnline {
			s.StartedAt = time.Time{}
		}
	})
	if before.Status == after.Status && errText == "" {
		return
	}
	level := slog.LevelInfo
	if status == StatusError || status == StatusRestarting {
		level = slog.LevelWarn
	}
	m.log.Log(context.Background(), level, "mcp server "+status, slog.String("mcp_server", id),
		slog.String("previous", before.Status), slog.String("error", errText), slog.Int("restarts", after.Restarts))
	if m.opts.OnStatus != nil {
		m.opts.OnStatus(StatusChange{ServerID: id, Status: status, Previous: before.Status, Error: errText,
			Restarts: after.Restarts, PID: pid, Timestamp: time.Now().UTC()})
	}
}

// pingAll pings every online server with no call in flight (a server
// that handles one request at a time would leave the ping waiting behind
// a long call; calls have their own timeouts); one that does not answer
// within its call timeout (at most 10s) is marked broken, and its
// supervisor restarts it as its policy says.
func (m *Manager) pingAll(ctx context.Context) {
	m.mu.Lock()
	conns := slices.Collect(maps.Values(m.conns))
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range conns {
		s := c.current()
		if s == nil || c.rec.snapshot().InFlight > 0 {
			continue
		}
		wg.Go(func() {
			if err := c.ping(ctx, s); err != nil && ctx.Err() == nil {
				s.markBroken(fmt.Errorf("did not answer a ping: %w", err))
			}
		})
	}
	wg.Wait()
}

// Ping pings a connected server and records when it answered.
func (m *Manager) Ping(ctx context.Context, id string) error {
	c, err := m.conn(ctx, id)
	if err != nil {
		return err
	}
	s := c.current()
	if s == nil {
		return c.unavailable()
	}
	return c.ping(ctx, s)
}

// conn returns the server's connection, or an error saying why there is
// none: [ErrNotFound] for an unknown server, [ErrNotConnected],
// [ErrStopped].
func (m *Manager) conn(ctx context.Context, id string) (*conn, error) {
	m.mu.Lock()
	c, stopped := m.conns[id], m.stopped
	m.mu.Unlock()
	if stopped {
		return nil, ErrStopped
	}
	if c != nil {
		return c, nil
	}
	if _, err := m.src.Get(ctx, id); err != nil {
		return nil, err
	}
	return nil, serverErr(id, ErrNotConnected, "MCP server %s not connected", id)
}
