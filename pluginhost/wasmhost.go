package pluginhost

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/pluginhost/wasm"
)

// Publisher publishes an event outside any transaction (the event bus's
// *eventbuspg.Outbox). It must be safe for concurrent use.
type Publisher interface {
	Publish(ctx context.Context, topic, kind string, payload any) (eventbus.Envelope, error)
}

// Topics of plugin events.
const (
	// TopicPluginDisabled carries {"plugin_id", "version", "reason",
	// "violations"} when a plugin is disabled automatically.
	TopicPluginDisabled = "tracker/events/plugins/disabled"
	// KindPluginDisabled is its kind.
	KindPluginDisabled = "plugin_disabled"
	// TopicPluginEvents is the topic prefix of events wasm plugins
	// publish: tracker/events/plugins/<id>/events.
	TopicPluginEvents = "tracker/events/plugins/"
)

// loaded is a wasm plugin running in the runtime.
type loaded struct {
	plugin *wasm.Plugin
	// key is what a reload follows: the bundle's digest and the
	// configuration.
	key     string
	version string
	subs    []string
}

// WasmHost runs the installed, enabled wasm plugins: it loads them into
// the runtime (at start, after changes, and every sync interval, so that
// every instance follows installs made on another), hands them the
// events of their subscriptions, serves their operations, records their
// violations and disables a plugin the runtime gave up on. It is also
// the installer's ModuleChecker.
type WasmHost struct {
	rt     *wasm.Runtime
	api    *Routes
	reg    *Registry
	events Publisher
	log    *slog.Logger

	mu      sync.RWMutex
	plugins map[string]*loaded

	statsMu sync.Mutex
	stats   map[string]*statDelta

	syncMu sync.Mutex
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// NewWasmHost starts a WebAssembly runtime with cfg and opts and returns
// the host that runs reg's wasm plugins in it. The host fills opts'
// Events (plugin events go to events, under
// tracker/events/plugins/<id>/events), Projects (the API's own project
// operations, once the routes are registered), Violations (stored with
// origin runtime) and OnDisabled (the plugin marked disabled, and a
// plugin_disabled event). events may be nil: plugins then cannot
// publish. Close the host to stop it and its runtime.
func NewWasmHost(ctx context.Context, cfg wasm.Config, opts wasm.Options, reg *Registry, events Publisher) (*WasmHost, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hctx, cancel := context.WithCancel(context.Background())
	h := &WasmHost{reg: reg, events: events, log: log, plugins: map[string]*loaded{}, stats: map[string]*statDelta{},
		ctx: hctx, cancel: cancel}
	opts.Events, opts.Projects, opts.Violations, opts.OnDisabled = h, projectsViaAPI{host: h}, h, h.OnDisabled
	rt, err := wasm.NewRuntime(ctx, cfg, opts)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("pluginhost: start the wasm runtime: %w", err)
	}
	h.rt = rt
	return h, nil
}

// Close stops the host (Stop) and closes its runtime.
func (h *WasmHost) Close(ctx context.Context) error {
	return errors.Join(h.Stop(ctx), h.rt.Close(ctx))
}

var _ ModuleChecker = (*WasmHost)(nil)

// CheckModule implements ModuleChecker: the module is loaded under a
// throwaway id with the manifest's permissions and limits (which checks
// its imports, exports and ABI, and starts an instance), then closed.
func (h *WasmHost) CheckModule(ctx context.Context, module []byte, m *Manifest) error {
	var b [6]byte
	_, _ = rand.Read(b[:])
	spec := specOf(m, nil)
	spec.ID, spec.Wasm = "check-"+hex.EncodeToString(b[:]), module
	p, err := h.rt.Load(ctx, spec)
	if err != nil {
		msg := err.Error()
		msg = strings.ReplaceAll(msg, spec.ID, m.ID)
		return errors.New(strings.TrimPrefix(msg, "wasm: "))
	}
	return p.Close(ctx)
}

// specOf is the runtime's view of a plugin.
func specOf(m *Manifest, config []byte) wasm.PluginSpec {
	spec := wasm.PluginSpec{ID: m.ID, Version: m.Version, Permissions: m.Permissions, AllowedOrigins: m.AllowedOrigins, Config: config}
	if m.Limits != nil {
		spec.Limits = wasm.Limits{MemoryPages: m.Limits.MemoryPages, Timeout: time.Duration(m.Limits.TimeoutMS) * time.Millisecond}
	}
	return spec
}

// Sync makes the runtime hold exactly the enabled wasm plugins, in their
// installed version and configuration.
func (h *WasmHost) Sync(ctx context.Context) error {
	h.syncMu.Lock()
	defer h.syncMu.Unlock()
	ps, err := h.reg.List(ctx, ListFilter{})
	if err != nil {
		return err
	}
	want := map[string]*Plugin{}
	for _, p := range ps {
		if p.Runtime == RuntimeWasm && p.Status == StatusInstalled {
			want[p.ID] = p
		}
	}
	var errs []error
	h.mu.RLock()
	current := make(map[string]*loaded, len(h.plugins))
	for id, l := range h.plugins {
		current[id] = l
	}
	h.mu.RUnlock()
	for id, l := range current {
		p, ok := want[id]
		if ok && l.key == p.BundleSHA256+string(p.Config) && !l.plugin.Disabled() {
			continue
		}
		h.unload(ctx, id, l)
	}
	for id, p := range want {
		h.mu.RLock()
		_, ok := h.plugins[id]
		h.mu.RUnlock()
		if ok {
			continue
		}
		spec := specOf(&p.Manifest, p.Config)
		spec.WasmPath = p.InstallPath + "/" + p.Manifest.Wasm
		wp, err := h.rt.Load(ctx, spec)
		if err != nil {
			errs = append(errs, fmt.Errorf("pluginhost: load %s: %w", id, err))
			continue
		}
		h.mu.Lock()
		h.plugins[id] = &loaded{plugin: wp, key: p.BundleSHA256 + string(p.Config), version: p.Version, subs: p.Manifest.Subscriptions}
		h.mu.Unlock()
		h.log.Info("wasm plugin loaded", slog.String("plugin", id), slog.String("version", p.Version),
			slog.Any("subscriptions", p.Manifest.Subscriptions))
	}
	return errors.Join(errs...)
}

func (h *WasmHost) unload(ctx context.Context, id string, l *loaded) {
	h.mu.Lock()
	if h.plugins[id] == l {
		delete(h.plugins, id)
	}
	h.mu.Unlock()
	if err := l.plugin.Close(ctx); err != nil {
		h.log.Warn("wasm plugin not closed cleanly", slog.String("plugin", id), slog.Any("error", err))
	}
}

// Start loads the plugins and syncs every interval until Stop.
func (h *WasmHost) Start(ctx context.Context, every time.Duration) error {
	if err := h.Sync(ctx); err != nil {
		h.log.Error("wasm plugins not all loaded", slog.Any("error", err))
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-h.ctx.Done():
				return
			case <-t.C:
				if err := h.Sync(h.ctx); err != nil && h.ctx.Err() == nil {
					h.log.Error("wasm plugins not all loaded", slog.Any("error", err))
				}
				if err := h.FlushStats(h.ctx); err != nil && h.ctx.Err() == nil {
					h.log.Warn("plugin runtime statistics not stored", slog.Any("error", err))
				}
			}
		}
	}()
	return nil
}

// Stop ends the sync loop and the disable notices in flight, and closes
// the plugins (the runtime is closed by its owner).
func (h *WasmHost) Stop(ctx context.Context) error {
	h.cancel()
	h.wg.Wait()
	if err := h.FlushStats(ctx); err != nil {
		h.log.Warn("plugin runtime statistics not stored", slog.Any("error", err))
	}
	h.mu.Lock()
	ps := h.plugins
	h.plugins = map[string]*loaded{}
	h.mu.Unlock()
	for id, l := range ps {
		if err := l.plugin.Close(ctx); err != nil {
			h.log.Warn("wasm plugin not closed cleanly", slog.String("plugin", id), slog.Any("error", err))
		}
	}
	return nil
}

// HandleEvent delivers ev to every loaded plugin subscribed to its topic
// (an eventbus.Handler for the route "#"). A plugin's failure is the
// plugin's: it is logged and recorded (violations), and never retried
// or dead-lettered, so that one plugin cannot hold up the others or fill
// the dead-letter queue.
func (h *WasmHost) HandleEvent(ctx context.Context, ev *eventbus.Event) error {
	h.mu.RLock()
	var targets []*loaded
	for _, l := range h.plugins {
		for _, s := range l.subs {
			if eventbus.MatchTopic(s, ev.Topic) {
				targets = append(targets, l)
				break
			}
		}
	}
	h.mu.RUnlock()
	for _, l := range targets {
		err := l.plugin.HandleEvent(ctx, ev)
		h.count(l.plugin.ID(), err)
		if err != nil {
			h.log.WarnContext(ctx, "wasm plugin did not handle an event", slog.String("plugin", l.plugin.ID()),
				slog.String("topic", ev.Topic), slog.Any("error", err))
		}
	}
	return nil
}

// Loaded returns the loaded plugin id, or nil.
func (h *WasmHost) Loaded(id string) *wasm.Plugin {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if l := h.plugins[id]; l != nil {
		return l.plugin
	}
	return nil
}

// RecordViolation implements wasm.ViolationRecorder: the violation is
// stored with origin runtime.
func (h *WasmHost) RecordViolation(ctx context.Context, v wasm.Violation) error {
	typ, sev := "runtime_fault", "high"
	h.statsMu.Lock()
	d := h.delta(v.PluginID)
	if v.Kind == wasm.ViolationPermissionDenied {
		d.denials++
	} else {
		d.traps++
	}
	h.statsMu.Unlock()
	switch v.Kind {
	case wasm.ViolationPermissionDenied:
		typ = "permission_escalation"
	case wasm.ViolationTimeout, wasm.ViolationMemory:
		typ, sev = "resource_abuse", "medium"
	}
	return h.reg.AddViolations(ctx, v.PluginID, Violation{PluginID: v.PluginID, Type: typ, Severity: sev, Origin: "runtime",
		Description: fmt.Sprintf("%s in %s: %s", v.Kind, v.Function, v.Detail),
		Context:     map[string]any{"kind": string(v.Kind), "function": v.Function, "version": v.Version, "trace_id": v.TraceID}})
}

// OnDisabled is the runtime's hook: the plugin is marked disabled in the
// registry (so every instance stops it) and a plugin_disabled event is
// published. It returns at once; the work runs in the host's goroutine.
func (h *WasmHost) OnDisabled(d wasm.Disabled) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(h.ctx), 10*time.Second)
		defer cancel()
		reason := fmt.Sprintf("disabled automatically after %d violations", len(d.Violations))
		if err := h.reg.SetStatus(ctx, d.PluginID, StatusDisabled, reason); err != nil {
			h.log.Error("disabled plugin not marked in the registry", slog.String("plugin", d.PluginID), slog.Any("error", err))
		}
		h.log.Warn("wasm plugin disabled", slog.String("plugin", d.PluginID), slog.Int("violations", len(d.Violations)))
		if h.events == nil {
			return
		}
		kinds := make([]string, len(d.Violations))
		for i, v := range d.Violations {
			kinds[i] = string(v.Kind)
		}
		if _, err := h.events.Publish(ctx, TopicPluginDisabled, KindPluginDisabled, map[string]any{
			"plugin_id": d.PluginID, "version": d.Version, "reason": reason, "violations": kinds}); err != nil {
			h.log.Error("plugin_disabled event not published", slog.String("plugin", d.PluginID), slog.Any("error", err))
		}
	}()
}

// PublishEvent implements wasm.EventPublisher: a plugin's event goes to
// tracker/events/plugins/<id>/events through the outbox.
func (h *WasmHost) PublishEvent(ctx context.Context, pluginID, kind string, payload json.RawMessage) error {
	if h.events == nil {
		return errors.New("pluginhost: no event publisher")
	}
	_, err := h.events.Publish(ctx, TopicPluginEvents+pluginID+"/events", kind, rawJSON(payload))
	return err
}

// rawJSON marshals as itself.
type rawJSON []byte

// MarshalJSON implements json.Marshaler.
func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

// pluginAPIPattern is where a wasm plugin's operations are served.
const pluginAPIPattern = "/api/v1/plugins/{plugin_id}/api/{path...}"

// documentPluginAPI documents the wasm plugins' operations: reading
// (GET) needs plugins:read, anything else plugins:write, since a plugin
// acts with its own permissions.
func documentPluginAPI(api huma.API) {
	for _, m := range proxyMethods {
		action := "write"
		if m == http.MethodGet {
			action = "read"
		}
		op := auth.Require(huma.Operation{
			OperationID: "plugin-api-" + strings.ToLower(m), Method: m, Path: pluginAPIPattern, Tags: []string{"plugins"},
			Summary: "A wasm plugin's own operation (" + m + ")",
			Description: "Served by the plugin (td_handle_http) in its sandbox. The caller's credentials never reach the " +
				"plugin, and it cannot set cookies or security headers. A plugin that is disabled, or runtime ui, answers 404.",
			Parameters: []*huma.Param{
				{Name: "plugin_id", In: "path", Required: true, Schema: &huma.Schema{Type: "string"}, Example: "hello-wasm"},
				{Name: "path", In: "path", Required: true, Schema: &huma.Schema{Type: "string"}, Example: "greeting"},
			},
			Responses: map[string]*huma.Response{
				"200": {Description: "The plugin's answer."},
				"404": {Description: "No such enabled wasm plugin."},
				"503": {Description: "The plugin failed (trap, timeout, memory)."},
			},
		}, "plugins", action)
		api.OpenAPI().AddOperation(&op)
	}
}

// serveHTTP serves a wasm plugin's operation.
func (h *WasmHost) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p := h.Loaded(r.PathValue("plugin_id"))
	if p == nil {
		dashcore.WriteProblem(w, r, http.StatusNotFound, "no such enabled wasm plugin")
		return
	}
	req, err := wasm.NewRequest(r, "/"+r.PathValue("path"), 1<<20)
	if err != nil {
		dashcore.WriteProblem(w, r, http.StatusRequestEntityTooLarge, "the request body is too large for a plugin (1 MiB)")
		return
	}
	resp, err := p.HandleHTTP(r.Context(), req)
	h.count(p.ID(), err)
	if err != nil {
		h.log.WarnContext(r.Context(), "wasm plugin operation failed", slog.String("plugin", p.ID()), slog.Any("error", err))
		var ge *wasm.GuestError
		if errors.As(err, &ge) {
			dashcore.WriteProblem(w, r, http.StatusBadGateway, "the plugin reported an error")
			return
		}
		dashcore.WriteProblem(w, r, http.StatusServiceUnavailable, "the plugin failed; the failure is recorded as a violation")
		return
	}
	wasm.WriteResponse(w, resp)
}

// HealthCheck is the plugin host in the readiness report and the stack
// health (optional: plugins never make the service unready): it fails,
// naming them, while plugins stand disabled after violations, and when
// the registry cannot be read.
func (h *WasmHost) HealthCheck() dashcore.HealthCheck {
	return dashcore.HealthCheck{Name: "plugins", Optional: true, Check: func(ctx context.Context) error {
		ps, err := h.reg.List(ctx, ListFilter{Status: StatusDisabled})
		if err != nil {
			return err
		}
		var auto []string
		for _, p := range ps {
			if strings.HasPrefix(p.DisabledReason, "disabled automatically") {
				auto = append(auto, p.ID)
			}
		}
		if len(auto) > 0 {
			return dashcore.NewError(dashcore.ErrUnavailable, "disabled after violations: "+strings.Join(auto, ", "), nil)
		}
		return nil
	}}
}

// statDelta counts calls since the last flush.
type statDelta struct {
	calls, errors, traps, denials int64
	lastCall, lastError           time.Time
}

// delta returns id's pending counts; statsMu must be held.
func (h *WasmHost) delta(id string) *statDelta {
	d := h.stats[id]
	if d == nil {
		d = &statDelta{}
		h.stats[id] = d
	}
	return d
}

// count records one call of plugin id.
func (h *WasmHost) count(id string, err error) {
	now := time.Now()
	h.statsMu.Lock()
	defer h.statsMu.Unlock()
	d := h.delta(id)
	d.calls++
	d.lastCall = now
	if err != nil {
		d.errors++
		d.lastError = now
	}
}

// FlushStats adds the calls counted since the last flush to
// plugin_runtime_stats (the health route's record); it runs on the sync
// interval, at stop, and before a health answer.
func (h *WasmHost) FlushStats(ctx context.Context) error {
	h.statsMu.Lock()
	pending := h.stats
	h.stats = map[string]*statDelta{}
	h.statsMu.Unlock()
	var errs []error
	for id, d := range pending {
		if err := h.reg.addStats(ctx, id, d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
