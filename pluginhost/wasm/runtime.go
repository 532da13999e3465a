package wasm

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Runtime runs WebAssembly plugins: it compiles modules (once, cached in
// memory by SHA-256 and on disk in Config.CacheDir), and holds the host
// module and the loaded plugins. It is safe for concurrent use. Close it
// to free everything.
type Runtime struct {
	cfg  Config
	opts Options
	log  *slog.Logger
	tel  *telemetry
	host *host

	rt    wazero.Runtime
	cache wazero.CompilationCache
	slots chan struct{} // one per guest running (Config.MaxConcurrentCalls)

	mu       sync.Mutex
	compiled map[[sha256.Size]byte]*compiledEntry
	plugins  map[string]*Plugin
	closed   bool
}

type compiledEntry struct {
	mod  wazero.CompiledModule
	refs int
}

// NewRuntime starts a runtime: a wazero runtime with the memory cap and
// context-done termination, the WASI subset and the taylordash host
// module. ctx bounds the start only.
func NewRuntime(ctx context.Context, cfg Config, opts Options) (*Runtime, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("wasm: config: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Runtime{
		cfg:      cfg,
		opts:     opts,
		log:      opts.Logger,
		compiled: make(map[[sha256.Size]byte]*compiledEntry),
		slots:    make(chan struct{}, cfg.MaxConcurrentCalls),
		plugins:  make(map[string]*Plugin),
	}
	tel, err := newTelemetry(opts.TracerProvider, opts.MeterProvider)
	if err != nil {
		return nil, err
	}
	r.tel = tel

	rc := wazero.NewRuntimeConfig().
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(cfg.MaxMemoryPages).
		WithMemoryCapacityFromMax(true).
		WithDebugInfoEnabled(false)
	if cfg.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasm: compilation cache %s: %w", cfg.CacheDir, err)
		}
		r.cache = cache
		rc = rc.WithCompilationCache(cache)
	}
	r.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r.rt); err != nil {
		_ = r.closeEngine(ctx)
		return nil, fmt.Errorf("wasm: instantiate WASI: %w", err)
	}
	doer := opts.HTTP
	if doer == nil {
		doer = newFetchClient(cfg, opts.FetchRootCAs)
	}
	r.host = &host{rt: r, http: doer}
	if err := r.host.instantiate(ctx, r.rt); err != nil {
		_ = r.closeEngine(ctx)
		return nil, err
	}
	return r, nil
}

// enter waits for a slot to run a guest (Config.MaxConcurrentCalls).
func (r *Runtime) enter(ctx context.Context) error {
	select {
	case r.slots <- struct{}{}:
		return nil
	default:
	}
	select {
	case r.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting to run: %w", ctx.Err())
	}
}

// leave frees the slot taken by enter.
func (r *Runtime) leave() { <-r.slots }

// Plugin returns the loaded plugin id, or nil.
func (r *Runtime) Plugin(id string) *Plugin {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.plugins[id]
}

// Plugins returns the loaded plugins, in no particular order.
func (r *Runtime) Plugins() []*Plugin {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Plugin, 0, len(r.plugins))
	for _, p := range r.plugins {
		out = append(out, p)
	}
	return out
}

// compile returns the compiled module of wasm, compiling it unless it is
// in memory already, and takes a reference to it.
func (r *Runtime) compile(ctx context.Context, wasm []byte) (wazero.CompiledModule, [sha256.Size]byte, error) {
	sum := sha256.Sum256(wasm)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, sum, ErrClosed
	}
	if e, ok := r.compiled[sum]; ok {
		e.refs++
		r.mu.Unlock()
		return e.mod, sum, nil
	}
	r.mu.Unlock()

	start := time.Now()
	mod, err := r.rt.CompileModule(ctx, coalesceData(wasm))
	if err != nil {
		return nil, sum, fmt.Errorf("%w: compile: %w", ErrInvalidModule, err)
	}
	r.log.DebugContext(ctx, "wasm: module compiled", "sha256", fmt.Sprintf("%x", sum[:8]), "duration", time.Since(start))

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		_ = mod.Close(ctx)
		return nil, sum, ErrClosed
	}
	if e, ok := r.compiled[sum]; ok { // compiled concurrently
		_ = mod.Close(ctx)
		e.refs++
		return e.mod, sum, nil
	}
	r.compiled[sum] = &compiledEntry{mod: mod, refs: 1}
	return mod, sum, nil
}

// release drops a reference to a compiled module, closing it at zero.
func (r *Runtime) release(ctx context.Context, sum [sha256.Size]byte) {
	r.mu.Lock()
	e, ok := r.compiled[sum]
	if !ok {
		r.mu.Unlock()
		return
	}
	e.refs--
	if e.refs > 0 {
		r.mu.Unlock()
		return
	}
	delete(r.compiled, sum)
	r.mu.Unlock()
	_ = e.mod.Close(ctx)
}

func (r *Runtime) register(p *Plugin) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if _, ok := r.plugins[p.id]; ok {
		return fmt.Errorf("wasm: plugin %s is loaded already; close it first", p.id)
	}
	r.plugins[p.id] = p
	return nil
}

func (r *Runtime) unregister(p *Plugin) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.plugins[p.id] == p {
		delete(r.plugins, p.id)
	}
}

// Close closes every plugin (waiting, until ctx is done, for their calls
// to finish; calls still running then are stopped) and the engine. It
// tolerates being called twice.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	plugins := make([]*Plugin, 0, len(r.plugins))
	for _, p := range r.plugins {
		plugins = append(plugins, p)
	}
	r.mu.Unlock()

	var errs []error
	for _, p := range plugins {
		errs = append(errs, p.Close(ctx))
	}
	errs = append(errs, r.closeEngine(ctx))
	return errors.Join(errs...)
}

func (r *Runtime) closeEngine(ctx context.Context) error {
	err := r.rt.Close(context.WithoutCancel(ctx))
	if r.cache != nil {
		err = errors.Join(err, r.cache.Close(context.WithoutCancel(ctx)))
	}
	if err != nil {
		return fmt.Errorf("wasm: close: %w", err)
	}
	return nil
}
