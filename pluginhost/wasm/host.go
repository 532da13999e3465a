package wasm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/taylordash/taylordash/pluginhost/sdk"
)

// host is the taylordash host module: the functions a plugin imports,
// each gated by a permission (or none) and run with the call's context.
type host struct {
	rt   *Runtime
	http HTTPDoer
}

// hostFn is one host function.
type hostFn struct {
	name    string
	params  []api.ValueType
	results []api.ValueType
	// perm is the permission it needs; "" means none.
	perm Permission
	// fn runs it, after the permission check, with the call's state.
	fn func(ctx context.Context, h *host, cs *callState, mem api.Memory, stack []uint64)
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// hostFunctions are the functions of the taylordash module. Those that
// return i64 return sdk.PackResult(status, length) and leave their result
// (or error message) pending for result_read.
var hostFunctions = []hostFn{
	{name: "input_read", params: []api.ValueType{i32, i32}, results: []api.ValueType{i32}, fn: hostInputRead},
	{name: "output_write", params: []api.ValueType{i32, i32}, results: []api.ValueType{i32}, fn: hostOutputWrite},
	{name: "result_read", params: []api.ValueType{i32, i32}, results: []api.ValueType{i32}, fn: hostResultRead},
	{name: "log", params: []api.ValueType{i32, i32, i32}, fn: hostLog},
	{name: "config_get", results: []api.ValueType{i64}, fn: hostConfigGet},
	{name: "publish_event", params: []api.ValueType{i32, i32, i32, i32}, results: []api.ValueType{i64}, perm: PublishEvents, fn: hostPublishEvent},
	{name: "projects_list", params: []api.ValueType{i32, i32}, results: []api.ValueType{i64}, perm: ReadProjects, fn: hostProjectsList},
	{name: "projects_get", params: []api.ValueType{i32, i32}, results: []api.ValueType{i64}, perm: ReadProjects, fn: hostProjectsGet},
	{name: "projects_create", params: []api.ValueType{i32, i32}, results: []api.ValueType{i64}, perm: WriteProjects, fn: hostProjectsCreate},
	{name: "projects_update", params: []api.ValueType{i32, i32, i32, i32}, results: []api.ValueType{i64}, perm: WriteProjects, fn: hostProjectsUpdate},
	{name: "http_fetch", params: []api.ValueType{i32, i32}, results: []api.ValueType{i64}, perm: NetworkHTTP, fn: hostHTTPFetch},
}

func (h *host) fn(name string) (hostFn, bool) {
	for _, f := range hostFunctions {
		if f.name == name {
			return f, true
		}
	}
	return hostFn{}, false
}

// instantiate registers the module in the wazero runtime.
func (h *host) instantiate(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(sdk.HostModule)
	for _, f := range hostFunctions {
		b.NewFunctionBuilder().
			WithGoModuleFunction(h.wrap(f), f.params, f.results).
			WithParameterNames(paramNames(f)...).
			Export(f.name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("wasm: instantiate host module: %w", err)
	}
	return nil
}

func paramNames(f hostFn) []string {
	names := make([]string, len(f.params))
	for i := range names {
		names[i] = fmt.Sprintf("p%d", i)
	}
	return names
}

// wrap adds the common steps: find the call, check the permission and the
// context.
func (h *host) wrap(f hostFn) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		cs := callStateFrom(ctx)
		if cs == nil { // not from a plugin call: nothing to serve
			if len(f.results) > 0 {
				stack[0] = sdk.PackResult(sdk.StatusUnavailable, 0)
			}
			return
		}
		if f.perm != "" {
			if !cs.p.perms.has(f.perm) {
				cs.deny(ctx, stack, f.name, f.perm, "")
				return
			}
			if ctx.Err() != nil {
				cs.reply(ctx, stack, f.name, sdk.StatusCanceled, []byte("the plugin call's deadline passed"))
				return
			}
		}
		f.fn(ctx, h, cs, mod.Memory(), stack)
	}
}

// read returns a view of n bytes of guest memory at ptr; a pointer outside
// the memory traps the call.
func read(mem api.Memory, fn string, ptr, n uint32) []byte {
	b, ok := mem.Read(ptr, n)
	if !ok {
		panic(errBadPointer{fn: fn, ptr: ptr, len: n})
	}
	return b
}

func write(mem api.Memory, fn string, ptr uint32, b []byte) {
	if !mem.Write(ptr, b) {
		panic(errBadPointer{fn: fn, ptr: ptr, len: uint32(len(b))})
	}
}

// reply sets the pending result and the packed status of a host function.
func (cs *callState) reply(ctx context.Context, stack []uint64, fn string, st sdk.Status, result []byte) {
	cs.result = result
	stack[0] = sdk.PackResult(st, uint32(len(result)))
	cs.p.tel.hostCalled(ctx, fn, st)
}

// deny refuses a host function: the guest gets StatusPermissionDenied, the
// call will fail with a *PermissionError, and a violation is noted.
func (cs *callState) deny(ctx context.Context, stack []uint64, fn string, perm Permission, detail string) {
	pe := &PermissionError{Function: fn, Permission: perm, Detail: detail}
	if cs.denied == nil {
		cs.denied = pe
	}
	cs.violate(ViolationPermissionDenied, pe.Error())
	cs.reply(ctx, stack, fn, sdk.StatusPermissionDenied, []byte(pe.Error()))
}

// fail replies with the status of a backend's error: not found and invalid
// argument with their message, a done context as canceled, anything else
// as a generic "unavailable" (the error is logged, never shown).
func (cs *callState) fail(ctx context.Context, stack []uint64, fn string, err error) {
	switch {
	case ctx.Err() != nil:
		cs.reply(ctx, stack, fn, sdk.StatusCanceled, []byte("the plugin call's deadline passed"))
	case errors.Is(err, ErrNotFound):
		cs.reply(ctx, stack, fn, sdk.StatusNotFound, []byte(err.Error()))
	case errors.Is(err, ErrInvalidArgument):
		cs.reply(ctx, stack, fn, sdk.StatusInvalidArgument, []byte(err.Error()))
	default:
		cs.p.rt.log.ErrorContext(ctx, "wasm: host function failed", "plugin", cs.p.id, "host_function", fn, "error", err)
		cs.reply(ctx, stack, fn, sdk.StatusUnavailable, []byte(fn+": unavailable"))
	}
}

// arg reads an argument of at most Config.MaxInputBytes; ok is false (and
// the reply sent) when it is too large.
func (cs *callState) arg(ctx context.Context, stack []uint64, mem api.Memory, fn string, ptr, n uint32) ([]byte, bool) {
	if limit := cs.p.rt.cfg.MaxInputBytes; int(n) > limit {
		cs.reply(ctx, stack, fn, sdk.StatusTooLarge, fmt.Appendf(nil, "argument of %d bytes exceeds the limit of %d", n, limit))
		return nil, false
	}
	return bytes.Clone(read(mem, fn, ptr, n)), true
}

func hostInputRead(_ context.Context, _ *host, cs *callState, mem api.Memory, stack []uint64) {
	ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	k := min(int(n), len(cs.input))
	write(mem, "input_read", ptr, cs.input[:k])
	stack[0] = api.EncodeU32(uint32(k))
}

func hostOutputWrite(_ context.Context, _ *host, cs *callState, mem api.Memory, stack []uint64) {
	ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	if limit := cs.p.rt.cfg.MaxOutputBytes; int(n) > limit {
		cs.output = fmt.Appendf(nil, "output of %d bytes exceeds the limit of %d", n, limit)
		stack[0] = api.EncodeU32(uint32(sdk.StatusTooLarge))
		return
	}
	cs.output = bytes.Clone(read(mem, "output_write", ptr, n))
	stack[0] = api.EncodeU32(uint32(sdk.StatusOK))
}

func hostResultRead(_ context.Context, _ *host, cs *callState, mem api.Memory, stack []uint64) {
	ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	k := min(int(n), len(cs.result))
	write(mem, "result_read", ptr, cs.result[:k])
	cs.result = nil
	stack[0] = api.EncodeU32(uint32(k))
}

func hostLog(ctx context.Context, _ *host, cs *callState, mem api.Memory, stack []uint64) {
	level := slog.Level(api.DecodeI32(stack[0]))
	ptr, n := api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	level = min(max(level, slog.LevelDebug), slog.LevelError)
	cs.logLine(ctx, level, string(read(mem, "log", ptr, min(n, maxLogBytes))))
}

func hostConfigGet(ctx context.Context, _ *host, cs *callState, _ api.Memory, stack []uint64) {
	cs.reply(ctx, stack, "config_get", sdk.StatusOK, cs.p.config)
}

var kindPattern = regexp.MustCompile(`^[a-z0-9_.-]{1,64}$`)

// jsonObject reports whether b is a JSON object.
func jsonObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

func hostPublishEvent(ctx context.Context, h *host, cs *callState, mem api.Memory, stack []uint64) {
	const fn = "publish_event"
	kind := string(read(mem, fn, api.DecodeU32(stack[0]), min(api.DecodeU32(stack[1]), 65)))
	payload, ok := cs.arg(ctx, stack, mem, fn, api.DecodeU32(stack[2]), api.DecodeU32(stack[3]))
	switch {
	case !ok:
	case !kindPattern.MatchString(kind):
		cs.reply(ctx, stack, fn, sdk.StatusInvalidArgument, []byte("kind must match [a-z0-9_.-]{1,64}"))
	case !jsonObject(payload):
		cs.reply(ctx, stack, fn, sdk.StatusInvalidArgument, []byte("payload must be a JSON object"))
	case h.rt.opts.Events == nil:
		cs.reply(ctx, stack, fn, sdk.StatusUnavailable, []byte("no event publisher is configured"))
	default:
		if err := h.rt.opts.Events.PublishEvent(ctx, cs.p.id, kind, payload); err != nil {
			cs.fail(ctx, stack, fn, err)
			return
		}
		cs.reply(ctx, stack, fn, sdk.StatusOK, nil)
	}
}

// projects returns the store, or replies unavailable.
func (h *host) projects(ctx context.Context, cs *callState, stack []uint64, fn string) ProjectStore {
	if h.rt.opts.Projects == nil {
		cs.reply(ctx, stack, fn, sdk.StatusUnavailable, []byte("no project store is configured"))
	}
	return h.rt.opts.Projects
}

// maxIDBytes bounds an object id argument.
const maxIDBytes = 128

func hostProjectsList(ctx context.Context, h *host, cs *callState, mem api.Memory, stack []uint64) {
	const fn = "projects_list"
	arg, ok := cs.arg(ctx, stack, mem, fn, api.DecodeU32(stack[0]), api.DecodeU32(stack[1]))
	if !ok {
		return
	}
	var opts sdk.ListOptions
	if len(arg) > 0 {
		if err := json.Unmarshal(arg, &opts); err != nil {
			cs.reply(ctx, stack, fn, sdk.StatusInvalidArgument, []byte("options: "+err.Error()))
			return
		}
	}
	store := h.projects(ctx, cs, stack, fn)
	if store == nil {
		return
	}
	out, err := store.ListProjects(ctx, cs.p.id, opts.Limit, opts.Offset)
	if err != nil {
		cs.fail(ctx, stack, fn, err)
		return
	}
	cs.reply(ctx, stack, fn, sdk.StatusOK, out)
}

func hostProjectsGet(ctx context.Context, h *host, cs *callState, mem api.Memory, stack []uint64) {
	const fn = "projects_get"
	id := string(read(mem, fn, api.DecodeU32(stack[0]), min(api.DecodeU32(stack[1]), maxIDBytes)))
	store := h.projects(ctx, cs, stack, fn)
	if store == nil {
		return
	}
	out, err := store.GetProject(ctx, cs.p.id, id)
	if err != nil {
		cs.fail(ctx, stack, fn, err)
		return
	}
	cs.reply(ctx, stack, fn, sdk.StatusOK, out)
}

func hostProjectsCreate(ctx context.Context, h *host, cs *callState, mem api.Memory, stack []uint64) {
	const fn = "projects_create"
	body, ok := cs.arg(ctx, stack, mem, fn, api.DecodeU32(stack[0]), api.DecodeU32(stack[1]))
	if !ok {
		return
	}
	if !jsonObject(body) {
		cs.reply(ctx, stack, fn, sdk.StatusInvalidArgument, []byte("the project must be a JSON object"))
		return
	}
	store := h.projects(ctx, cs, stack, fn)
	if store == nil {
		return
	}
	out, err := store.CreateProject(ctx, cs.p.id, body)
	if err != nil {
		cs.fail(ctx, stack, fn, err)
		return
	}
	cs.reply(ctx, stack, fn, sdk.StatusOK, out)
}

func hostProjectsUpdate(ctx context.Context, h *host, cs *callState, mem api.Memory, stack []uint64) {
	const fn = "projects_update"
	id := string(read(mem, fn, api.DecodeU32(stack[0]), min(api.DecodeU32(stack[1]), maxIDBytes)))
	body, ok := cs.arg(ctx, stack, mem, fn, api.DecodeU32(stack[2]), api.DecodeU32(stack[3]))
	if !ok {
		return
	}
	if !jsonObject(body) {
		cs.reply(ctx, stack, fn, sdk.StatusInvalidArgument, []byte("the changes must be a JSON object"))
		return
	}
	store := h.projects(ctx, cs, stack, fn)
	if store == nil {
		return
	}
	out, err := store.UpdateProject(ctx, cs.p.id, id, body)
	if err != nil {
		cs.fail(ctx, stack, fn, err)
		return
	}
	cs.reply(ctx, stack, fn, sdk.StatusOK, out)
}
