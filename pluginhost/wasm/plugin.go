package wasm

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mrand "math/rand/v2"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"
	"go.opentelemetry.io/otel/trace"

	"github.com/taylordash/taylordash/pluginhost/sdk"
)

// Plugin is a loaded WebAssembly plugin: a compiled module and a pool of
// instances, each serving one call at a time. It is safe for concurrent
// use; at most Config.MaxInstances calls run at once, others wait.
type Plugin struct {
	rt      *Runtime
	id      string
	version string
	perms   permSet
	permsIn []string
	origins map[origin]bool
	config  []byte
	limits  pluginLimits
	exports []string

	compiled wazero.CompiledModule
	sum      [sha256.Size]byte
	modCfg   wazero.ModuleConfig
	seed     [32]byte // of the deterministic random source
	tel      *pluginTelemetry

	idle      chan *instance
	tokens    chan struct{} // one per live instance
	bgCtx     context.Context
	bgCancel  context.CancelFunc
	bg        sync.WaitGroup
	refilling atomic.Bool
	disabled  atomic.Bool

	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
	window   []Violation // the violations within the window, oldest first
}

type pluginLimits struct {
	pages   uint32
	timeout time.Duration
}

func newPlugin(r *Runtime, spec PluginSpec, limits pluginLimits, perms permSet, origins map[origin]bool,
	mod wazero.CompiledModule, sum [sha256.Size]byte, exports []string) *Plugin {
	cfg := wazero.NewModuleConfig().
		WithName(""). // anonymous: many instances of one module
		WithStartFunctions("_initialize")
	if perms.has(SystemClock) {
		cfg = cfg.WithSysWalltime().WithSysNanotime()
	}
	if perms.has(SystemRandom) {
		cfg = cfg.WithRandSource(crand.Reader)
	}
	config := []byte(spec.Config)
	if len(config) == 0 {
		config = []byte("null")
	}
	p := &Plugin{
		rt:       r,
		id:       spec.ID,
		version:  spec.Version,
		perms:    perms,
		permsIn:  slices.Clone(spec.Permissions),
		origins:  origins,
		config:   slices.Clone(config),
		limits:   limits,
		exports:  exports,
		compiled: mod,
		sum:      sum,
		modCfg:   cfg,
		seed:     sha256.Sum256([]byte("taylordash plugin " + spec.ID)),
		idle:     make(chan *instance, r.cfg.MaxInstances),
		tokens:   make(chan struct{}, r.cfg.MaxInstances),
	}
	p.bgCtx, p.bgCancel = context.WithCancel(context.Background())
	p.tel = r.tel.forPlugin(p.id)
	return p
}

// ID returns the plugin's id.
func (p *Plugin) ID() string { return p.id }

// Version returns the plugin's version.
func (p *Plugin) Version() string { return p.version }

// Exports returns the names of the functions Call accepts, sorted.
func (p *Plugin) Exports() []string { return slices.Clone(p.exports) }

// Permissions returns the granted permissions as given.
func (p *Plugin) Permissions() []string { return slices.Clone(p.permsIn) }

// Granted reports whether the plugin holds perm.
func (p *Plugin) Granted(perm Permission) bool { return p.perms.has(perm) }

// MemoryPages returns the plugin's memory cap in 64 KiB pages.
func (p *Plugin) MemoryPages() uint32 { return p.limits.pages }

// Timeout returns the plugin's CPU deadline per call.
func (p *Plugin) Timeout() time.Duration { return p.limits.timeout }

// errPluginDeadline is the cause of a call's context when the plugin's own
// deadline (not the caller's) ended it.
var errPluginDeadline = errors.New("wasm: plugin deadline")

// Call calls the guest export function (a "td_" name the module exports)
// with input, and returns its output. It runs on a pooled instance with
// the plugin's memory cap and CPU deadline (or ctx's, if earlier); if a
// span is active in ctx, it runs in a child span "plugin.call <id>
// <function>".
//
// Errors: [ErrDisabled], [ErrClosed], [ErrNoSuchFunction],
// [ErrInputTooLarge] before running; a *GuestError when the plugin
// returned an error; [ErrTimeout], [ErrMemoryLimit] or a *TrapError when
// the guest was stopped (the instance is discarded and the next call gets
// a new one); a *PermissionError when the guest called a host function it
// was not granted (the call fails even if the guest carried on); ctx's
// error when the caller gave up. The last four are violations, except
// ctx's: they are recorded and count towards disabling the plugin.
func (p *Plugin) Call(ctx context.Context, function string, input []byte) ([]byte, error) {
	start := time.Now()
	ctx, span := p.rt.tel.start(ctx, p, function)
	out, result, err := p.call(ctx, function, input)
	p.tel.called(ctx, function, result, time.Since(start))
	p.rt.tel.end(span, result, err)
	return out, err
}

// Result labels of the calls metric (a bounded set).
const (
	resultOK          = "ok"
	resultGuestError  = "error"
	resultCanceled    = "canceled"
	resultDisabled    = "disabled"
	resultClosed      = "closed"
	resultInvalid     = "invalid"
	resultUnavailable = "unavailable"
)

func (p *Plugin) call(ctx context.Context, function string, input []byte) ([]byte, string, error) {
	if p.disabled.Load() {
		return nil, resultDisabled, fmt.Errorf("plugin %s: %w", p.id, ErrDisabled)
	}
	if !p.hasExport(function) {
		return nil, resultInvalid, fmt.Errorf("plugin %s: %s: %w", p.id, function, ErrNoSuchFunction)
	}
	if len(input) > p.rt.cfg.MaxInputBytes {
		return nil, resultInvalid, fmt.Errorf("plugin %s: %s: %w (%d bytes, limit %d)", p.id, function, ErrInputTooLarge, len(input), p.rt.cfg.MaxInputBytes)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, resultClosed, fmt.Errorf("plugin %s: %w", p.id, ErrClosed)
	}
	p.inflight.Add(1)
	p.mu.Unlock()
	defer p.inflight.Done()

	if err := p.rt.enter(ctx); err != nil {
		return nil, resultCanceled, fmt.Errorf("plugin %s: %s: %w", p.id, function, err)
	}
	defer p.rt.leave()
	inst, err := p.acquire(ctx)
	if err != nil {
		return nil, resultOf(err), err
	}
	cs := &callState{p: p, inst: inst, function: function, input: input}
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		cs.traceID = sc.TraceID().String()
	}
	callCtx, cancel := context.WithTimeoutCause(ctx, p.limits.timeout, errPluginDeadline)
	res, err := inst.call(context.WithValue(callCtx, callKey{}, cs), function, uint64(len(input)))
	var kind ViolationKind
	if err != nil {
		kind, err = p.classify(ctx, callCtx, cs, inst, err)
	}
	cancel()
	p.release(inst, err == nil && !inst.nearlyFull())
	if kind != "" {
		cs.violate(kind, err.Error())
	}
	p.recordViolations(ctx, cs.violations)

	switch {
	case err != nil:
		return nil, resultOf(err), err
	case cs.denied != nil:
		return nil, string(ViolationPermissionDenied), cs.denied
	case res == sdk.ResultOK:
		return cs.output, resultOK, nil
	case res == sdk.ResultError:
		return nil, resultGuestError, &GuestError{Function: function, Message: truncate(string(cs.output), 1024)}
	default:
		return nil, resultGuestError, &GuestError{Function: function, Message: fmt.Sprintf("invalid result code %d", res)}
	}
}

func (p *Plugin) hasExport(name string) bool {
	_, ok := slices.BinarySearch(p.exports, name)
	return ok
}

// resultOf maps a call's error to its metric label.
func resultOf(err error) string {
	var te *TrapError
	switch {
	case err == nil:
		return resultOK
	case errors.As(err, &te):
		return string(te.Kind)
	case errors.Is(err, ErrTimeout):
		return string(ViolationTimeout)
	case errors.Is(err, ErrPermissionDenied):
		return string(ViolationPermissionDenied)
	case errors.Is(err, ErrDisabled):
		return resultDisabled
	case errors.Is(err, ErrClosed):
		return resultClosed
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return resultCanceled
	default:
		return resultUnavailable
	}
}

// classify turns the error of a guest call (or instantiation) into a
// violation kind and the error Call returns. callCtx is the context the
// guest ran with; ctx the caller's.
func (p *Plugin) classify(ctx, callCtx context.Context, cs *callState, inst *instance, err error) (ViolationKind, error) {
	stderr := inst.stderr.String()
	where := fmt.Sprintf("plugin %s: %s", p.id, cs.function)
	var exit *sys.ExitError
	if errors.As(err, &exit) && (exit.ExitCode() == sys.ExitCodeDeadlineExceeded || exit.ExitCode() == sys.ExitCodeContextCanceled) {
		if context.Cause(callCtx) == errPluginDeadline {
			return ViolationTimeout, fmt.Errorf("%s: %w after %s", where, ErrTimeout, p.limits.timeout)
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("%s: %w", where, ctx.Err())
		}
		return "", fmt.Errorf("%s: %w", where, ErrClosed) // the runtime closed the instance
	}
	if errors.As(err, &exit) && p.closing() { // closed under the call, not the guest's doing
		return "", fmt.Errorf("%s: %w", where, ErrClosed)
	}
	if stderr != "" {
		p.rt.log.WarnContext(ctx, "wasm: plugin stderr", "plugin", p.id, "function", cs.function, "stderr", stderr)
	}
	msg := firstLine(stderr)
	if msg == "" {
		msg = firstLine(err.Error())
	}
	switch {
	case (inst.mem != nil && inst.mem.refused.Load()) || strings.Contains(stderr, "out of memory"):
		return ViolationMemory, fmt.Errorf("%s: %w", where, &TrapError{Kind: ViolationMemory, Message: msg})
	case strings.Contains(stderr, "panic: "):
		return ViolationPanic, fmt.Errorf("%s: %w", where, &TrapError{Kind: ViolationPanic, Message: panicMessage(stderr)})
	case errors.As(err, &exit):
		return ViolationTrap, fmt.Errorf("%s: %w", where, &TrapError{Kind: ViolationTrap, Message: fmt.Sprintf("exited with code %d: %s", exit.ExitCode(), msg)})
	default:
		return ViolationTrap, fmt.Errorf("%s: %w", where, &TrapError{Kind: ViolationTrap, Message: msg})
	}
}

// panicMessage returns the line of a Go panic's output that names the
// panic.
func panicMessage(stderr string) string {
	for line := range strings.SplitSeq(stderr, "\n") {
		if strings.HasPrefix(line, "panic: ") {
			return truncate(line, 512)
		}
	}
	return firstLine(stderr)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return truncate(s, 512)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// acquire returns an idle instance, or a new one while the pool has room,
// or waits for one.
func (p *Plugin) acquire(ctx context.Context) (*instance, error) {
	select {
	case inst := <-p.idle:
		return inst, nil
	default:
	}
	select {
	case inst := <-p.idle:
		return inst, nil
	case p.tokens <- struct{}{}:
		inst, err := p.newInstance(ctx)
		if err != nil {
			<-p.tokens
			return nil, err
		}
		return inst, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("plugin %s: waiting for an instance: %w", p.id, ctx.Err())
	}
}

// release returns a healthy instance to the pool, or discards it and asks
// for a replacement.
func (p *Plugin) release(inst *instance, healthy bool) {
	p.mu.Lock()
	if healthy && !p.closed {
		p.idle <- inst // never blocks: tokens bound the instances
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	inst.close()
	<-p.tokens
	p.refill()
}

// warm starts the warm instances; the first one also checks that the
// module starts and speaks the ABI.
func (p *Plugin) warm(ctx context.Context) error {
	for range p.rt.cfg.WarmInstances {
		if err := p.rt.enter(ctx); err != nil {
			return err
		}
		p.tokens <- struct{}{}
		inst, err := p.newInstance(ctx)
		p.rt.leave()
		if err != nil {
			<-p.tokens
			return err
		}
		p.idle <- inst
	}
	return nil
}

// refill replaces discarded instances in the background, up to
// Config.WarmInstances idle ones, so that calls do not wait for a Go
// runtime to start.
func (p *Plugin) refill() {
	if p.disabled.Load() || !p.refilling.CompareAndSwap(false, true) {
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.refilling.Store(false)
		return
	}
	p.bg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.bg.Done()
		defer p.refilling.Store(false)
		for len(p.idle) < p.rt.cfg.WarmInstances && !p.disabled.Load() {
			select {
			case p.tokens <- struct{}{}:
			default:
				return
			}
			if p.rt.enter(p.bgCtx) != nil {
				<-p.tokens
				return
			}
			inst, err := p.newInstance(p.bgCtx)
			p.rt.leave()
			if err != nil {
				<-p.tokens
				if p.bgCtx.Err() == nil {
					p.rt.log.Warn("wasm: plugin instance not replaced", "plugin", p.id, "error", err)
				}
				return
			}
			p.release(inst, true)
		}
	}()
}

// newInstance instantiates the module and runs _initialize (the Go
// runtime's start, and the plugin's init functions), under the plugin's
// memory cap and a deadline of at least two seconds.
func (p *Plugin) newInstance(ctx context.Context) (*instance, error) {
	start := time.Now()
	inst := &instance{}
	cs := &callState{p: p, inst: inst, function: "_initialize"}
	alloc := &memoryAllocator{limit: uint64(p.limits.pages) * pageSize}
	ictx, cancel := context.WithTimeoutCause(ctx, max(p.limits.timeout, 2*time.Second), errPluginDeadline)
	defer cancel()
	ictx = experimental.WithMemoryAllocator(ictx, alloc)
	inst.stdout = stdWriter{inst: inst}
	inst.cur = cs
	cfg := p.modCfg.WithStdout(&inst.stdout).WithStderr(&inst.stderr)
	if !p.perms.has(SystemRandom) {
		// deterministic: the same stream in every instance of the plugin
		// (cheaper to start than wazero's default, a seeded math/rand)
		cfg = cfg.WithRandSource(mrand.NewChaCha8(p.seed))
	}
	mod, err := p.rt.rt.InstantiateModule(context.WithValue(ictx, callKey{}, cs), p.compiled, cfg)
	inst.mem = alloc.mem
	if err != nil {
		defer inst.close()
		kind, err := p.classify(ctx, ictx, cs, inst, err)
		if kind != "" {
			cs.violate(kind, err.Error())
		}
		p.recordViolations(ctx, cs.violations)
		return nil, err
	}
	inst.mod = mod
	if cs.denied != nil { // the init functions called a host function not granted
		p.recordViolations(ctx, cs.violations)
		inst.close()
		return nil, fmt.Errorf("plugin %s: _initialize: %w", p.id, cs.denied)
	}
	inst.fns = make(map[string]api.Function, len(p.exports))
	for _, name := range p.exports {
		inst.fns[name] = mod.ExportedFunction(name)
	}
	inst.cur = nil
	v, err := mod.ExportedFunction(sdk.ExportABIVersion).Call(ictx)
	if err != nil || len(v) != 1 || v[0] != sdk.ABIVersion {
		inst.close()
		return nil, fmt.Errorf("plugin %s: %w: %s() = %v (%v), want %d", p.id, ErrInvalidModule, sdk.ExportABIVersion, v, err, sdk.ABIVersion)
	}
	p.tel.instantiated(ctx, time.Since(start))
	return inst, nil
}

// closing reports whether the plugin or its runtime is closed.
func (p *Plugin) closing() bool {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	p.rt.mu.Lock()
	defer p.rt.mu.Unlock()
	return closed || p.rt.closed
}

// Disabled reports whether the plugin is disabled.
func (p *Plugin) Disabled() bool { return p.disabled.Load() }

// Enable re-enables a disabled plugin and forgets its past violations.
func (p *Plugin) Enable() {
	p.mu.Lock()
	p.window = nil
	p.mu.Unlock()
	if p.disabled.CompareAndSwap(true, false) {
		p.rt.log.Info("wasm: plugin enabled", "plugin", p.id)
		p.refill()
	}
}

// Disable disables the plugin (calls return ErrDisabled) without firing
// Options.OnDisabled: for an operator's decision.
func (p *Plugin) Disable() {
	if p.disabled.CompareAndSwap(false, true) {
		p.rt.log.Info("wasm: plugin disabled", "plugin", p.id)
	}
}

// Violations returns the violations within the current window, oldest
// first.
func (p *Plugin) Violations() []Violation {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.window)
}

// recordViolations counts vs, hands them to the recorder, and disables the
// plugin when the window holds Config.MaxViolations of them.
func (p *Plugin) recordViolations(ctx context.Context, vs []Violation) {
	if len(vs) == 0 {
		return
	}
	cfg := &p.rt.cfg
	var tripped *Disabled
	now := p.rt.opts.Now()
	p.mu.Lock()
	for i := range vs {
		vs[i].At = now
		p.window = append(p.window, vs[i])
	}
	cut := now.Add(-cfg.ViolationWindow)
	p.window = slices.DeleteFunc(p.window, func(v Violation) bool { return v.At.Before(cut) })
	if len(p.window) > cfg.MaxViolations {
		p.window = slices.Delete(p.window, 0, len(p.window)-cfg.MaxViolations)
	}
	if len(p.window) >= cfg.MaxViolations && p.disabled.CompareAndSwap(false, true) {
		tripped = &Disabled{PluginID: p.id, Version: p.version, Violations: slices.Clone(p.window), At: now}
	}
	p.mu.Unlock()

	rctx := context.WithoutCancel(ctx)
	for _, v := range vs {
		p.tel.violated(rctx, v.Kind)
		p.rt.log.WarnContext(rctx, "wasm: plugin violation", "plugin", p.id, "kind", string(v.Kind),
			"function", v.Function, "detail", v.Detail)
		if rec := p.rt.opts.Violations; rec != nil {
			if err := rec.RecordViolation(rctx, v); err != nil {
				p.rt.log.ErrorContext(rctx, "wasm: record violation", "plugin", p.id, "error", err)
			}
		}
	}
	if tripped != nil {
		p.rt.log.WarnContext(rctx, "wasm: plugin disabled after violations", "plugin", p.id,
			"violations", len(tripped.Violations), "window", cfg.ViolationWindow)
		if hook := p.rt.opts.OnDisabled; hook != nil {
			hook(*tripped)
		}
	}
}

// Close stops the plugin: new calls fail with ErrClosed, and its id is
// free for another Load. It waits for the calls in flight, then frees the
// instances and the compiled module; if ctx ends first, it returns an
// error and the calls still running free them when they end (at their
// deadline at the latest). It tolerates being called twice.
func (p *Plugin) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.bgCancel()

	done := make(chan struct{})
	go func() { p.inflight.Wait(); p.bg.Wait(); close(done) }()
	p.rt.unregister(p)
	free := func() {
		for {
			select {
			case inst := <-p.idle:
				inst.close()
				continue
			default:
			}
			break
		}
		p.rt.release(context.WithoutCancel(ctx), p.sum)
	}
	var err error
	select {
	case <-done:
		free()
	case <-ctx.Done():
		// The calls still running end at their deadline; free the
		// compiled module after them.
		go func() { <-done; free() }()
		err = fmt.Errorf("wasm: close %s: calls still running: %w", p.id, ctx.Err())
	}
	return err
}
