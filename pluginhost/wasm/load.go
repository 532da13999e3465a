package wasm

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/taylordash/taylordash/pluginhost/sdk"
)

// wasiModule is the name of the WASI module Go guests import.
const wasiModule = "wasi_snapshot_preview1"

// grantedWASI are the WASI functions a plugin may import: those a Go
// guest's runtime imports, plus clock_res_get and fd_read. With no
// preopened directory, no arguments and no environment they give no
// access to the host: the descriptors are stdin (empty), stdout and
// stderr (captured and logged). Clocks and randomness are fake unless
// granted (system:clock, system:random), and sleeping returns at once.
// Every other function (path_open and the rest of the file system,
// sockets) is refused at Load, so a plugin that would touch files fails to
// load with a clear message instead of failing at run time.
var grantedWASI = []string{
	"args_get", "args_sizes_get", "environ_get", "environ_sizes_get",
	"clock_res_get", "clock_time_get", "random_get", "poll_oneoff", "sched_yield", "proc_exit",
	"fd_write", "fd_read", "fd_close", "fd_fdstat_get", "fd_fdstat_set_flags",
	"fd_prestat_get", "fd_prestat_dir_name",
}

// Load compiles (or finds compiled) the plugin's module, checks it, starts
// its warm instances and returns the plugin, ready for calls. The module
// must be a reactor (built with -buildmode=c-shared), import only the
// taylordash host functions and the granted WASI subset, export "memory",
// "_initialize", td_abi_version returning sdk.ABIVersion, and callable
// td_* functions of signature (i32) -> i32. Errors wrap
// [ErrInvalidModule] when the module is at fault.
func (r *Runtime) Load(ctx context.Context, spec PluginSpec) (*Plugin, error) {
	if !idPattern.MatchString(spec.ID) {
		return nil, fmt.Errorf("wasm: load: id %q: must be 3 to 50 of a-z, 0-9 and -", spec.ID)
	}
	fail := func(err error) (*Plugin, error) { return nil, fmt.Errorf("wasm: load %s: %w", spec.ID, err) }
	perms, err := parsePermissions(spec.Permissions)
	if err != nil {
		return fail(err)
	}
	origins, err := parseAllowedOrigins(spec.AllowedOrigins, r.cfg.FetchAllowHTTP)
	if err != nil {
		return fail(err)
	}
	pages := r.cfg.MaxMemoryPages
	if spec.Limits.MemoryPages != 0 {
		if spec.Limits.MemoryPages < MinMemoryPages {
			return fail(fmt.Errorf("memory limit %d pages is below the minimum %d", spec.Limits.MemoryPages, MinMemoryPages))
		}
		pages = min(pages, spec.Limits.MemoryPages)
	}
	timeout := r.cfg.DefaultTimeout
	if spec.Limits.Timeout > 0 {
		timeout = min(spec.Limits.Timeout, r.cfg.MaxTimeout)
	}
	wasm := spec.Wasm
	if len(wasm) == 0 {
		if spec.WasmPath == "" {
			return fail(fmt.Errorf("%w: neither Wasm nor WasmPath given", ErrInvalidModule))
		}
		if wasm, err = os.ReadFile(spec.WasmPath); err != nil {
			return fail(err)
		}
	}

	mod, sum, err := r.compile(ctx, wasm)
	if err != nil {
		return fail(err)
	}
	exports, err := r.checkModule(mod, pages)
	if err != nil {
		r.release(ctx, sum)
		return fail(err)
	}
	p := newPlugin(r, spec, pluginLimits{pages: pages, timeout: timeout}, perms, origins, mod, sum, exports)
	if err := r.register(p); err != nil {
		r.release(ctx, sum)
		return nil, err
	}
	if err := p.warm(ctx); err != nil {
		_ = p.Close(ctx)
		return fail(err)
	}
	r.log.InfoContext(ctx, "wasm: plugin loaded", "plugin", p.id, "version", p.version,
		"memory_pages", pages, "timeout", timeout, "exports", exports)
	return p, nil
}

// checkModule checks a compiled module's imports, exports and memory, and
// returns its callable exports, sorted.
func (r *Runtime) checkModule(mod wazero.CompiledModule, pages uint32) ([]string, error) {
	for _, f := range mod.ImportedFunctions() {
		module, name, _ := f.Import()
		switch module {
		case sdk.HostModule:
			hf, ok := r.host.fn(name)
			if !ok {
				return nil, fmt.Errorf("%w: imports %s.%s, which the host does not provide (is the SDK newer than the host?)", ErrInvalidModule, module, name)
			}
			if !slices.Equal(f.ParamTypes(), hf.params) || !slices.Equal(f.ResultTypes(), hf.results) {
				return nil, fmt.Errorf("%w: imports %s.%s with the wrong signature", ErrInvalidModule, module, name)
			}
		case wasiModule:
			if !slices.Contains(grantedWASI, name) {
				return nil, fmt.Errorf("%w: imports %s.%s, which is not granted (no file system, no sockets)", ErrInvalidModule, module, name)
			}
		default:
			return nil, fmt.Errorf("%w: imports %s.%s: only the %s and %s modules are available", ErrInvalidModule, module, name, sdk.HostModule, wasiModule)
		}
	}
	if len(mod.ImportedMemories()) > 0 {
		return nil, fmt.Errorf("%w: imports a memory; it must define its own", ErrInvalidModule)
	}
	mems := mod.ExportedMemories()
	mem, ok := mems["memory"]
	if !ok {
		return nil, fmt.Errorf("%w: exports no memory named \"memory\"", ErrInvalidModule)
	}
	if mem.Min() > pages {
		return nil, fmt.Errorf("%w: needs %d pages of memory at start, above its limit of %d", ErrInvalidModule, mem.Min(), pages)
	}
	fns := mod.ExportedFunctions()
	if _, ok := fns["_start"]; ok {
		return nil, fmt.Errorf("%w: is a command (it exports _start); build a reactor with -buildmode=c-shared", ErrInvalidModule)
	}
	if f, ok := fns["_initialize"]; !ok || len(f.ParamTypes()) != 0 || len(f.ResultTypes()) != 0 {
		return nil, fmt.Errorf("%w: exports no _initialize() (build with -buildmode=c-shared)", ErrInvalidModule)
	}
	i32 := []api.ValueType{api.ValueTypeI32}
	if f, ok := fns[sdk.ExportABIVersion]; !ok || len(f.ParamTypes()) != 0 || !slices.Equal(f.ResultTypes(), i32) {
		return nil, fmt.Errorf("%w: exports no %s() i32 (use the SDK, github.com/taylordash/taylordash/pluginhost/sdk)", ErrInvalidModule, sdk.ExportABIVersion)
	}
	var callable []string
	for name, f := range fns {
		if !strings.HasPrefix(name, sdk.ExportPrefix) || name == sdk.ExportABIVersion {
			continue
		}
		if !slices.Equal(f.ParamTypes(), i32) || !slices.Equal(f.ResultTypes(), i32) {
			return nil, fmt.Errorf("%w: export %s must have the signature (i32) -> i32", ErrInvalidModule, name)
		}
		callable = append(callable, name)
	}
	if len(callable) == 0 {
		return nil, fmt.Errorf("%w: exports no callable %s* function", ErrInvalidModule, sdk.ExportPrefix)
	}
	slices.Sort(callable)
	return callable, nil
}
