package wasm

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/tetratelabs/wazero/api"
	"go.opentelemetry.io/otel/trace"
)

// instance is one instantiated module, serving one call at a time.
type instance struct {
	mod    api.Module
	fns    map[string]api.Function
	mem    *linearMemory
	stdout stdWriter
	stderr stderrBuffer
	cur    *callState // the call in progress, for the stdout writer
}

// call runs the export function on the instance.
func (inst *instance) call(ctx context.Context, function string, inputLen uint64) (uint64, error) {
	cs := ctx.Value(callKey{}).(*callState)
	inst.cur = cs
	inst.stderr.reset()
	if inst.mem != nil {
		inst.mem.refused.Store(false)
	}
	res, err := inst.fns[function].Call(ctx, inputLen)
	inst.cur = nil
	if err != nil {
		return 0, err
	}
	return res[0], nil
}

// nearlyFull reports whether the instance's memory has grown past seven
// eighths of its cap: it is then replaced after the call, before a leak
// (or a Go guest's heap growth) makes a later call run out of memory.
func (inst *instance) nearlyFull() bool {
	m := inst.mem
	return m != nil && uint64(len(m.buf)) > m.limit-m.limit/8
}

// close closes the module and frees its memory. No call may be running.
func (inst *instance) close() {
	if inst.mod != nil {
		_ = inst.mod.Close(context.Background())
	}
	if inst.mem != nil {
		inst.mem.release()
	}
}

// callKey is the context key of the *callState of the call running.
type callKey struct{}

// callState is what the host functions of one call share: the input, the
// output, the pending host result and the violations seen.
type callState struct {
	p        *Plugin
	inst     *instance
	function string
	traceID  string
	input    []byte
	output   []byte
	result   []byte // the pending result of the last host function
	logs     int
	denied   *PermissionError
	// violations recorded during the call, one per kind and host function
	violations []Violation
}

func callStateFrom(ctx context.Context) *callState {
	cs, _ := ctx.Value(callKey{}).(*callState)
	return cs
}

// violate notes a violation of the call (once per kind and detail).
func (cs *callState) violate(kind ViolationKind, detail string) {
	for _, v := range cs.violations {
		if v.Kind == kind && v.Detail == detail {
			return
		}
	}
	cs.violations = append(cs.violations, Violation{
		PluginID: cs.p.id, Version: cs.p.version, Kind: kind,
		Function: cs.function, Detail: detail, TraceID: cs.traceID,
	})
}

// logLine logs a plugin's line at level if the call's budget allows.
func (cs *callState) logLine(ctx context.Context, level slog.Level, msg string) {
	cs.logs++
	max := cs.p.rt.cfg.MaxLogLines
	if cs.logs > max {
		if cs.logs == max+1 {
			cs.p.rt.log.WarnContext(ctx, "wasm: plugin log lines dropped", "plugin", cs.p.id, "function", cs.function, "max", max)
		}
		return
	}
	attrs := []any{"plugin", cs.p.id, "function", cs.function}
	if cs.traceID != "" && !trace.SpanContextFromContext(ctx).IsValid() {
		attrs = append(attrs, "trace_id", cs.traceID)
	}
	cs.p.rt.log.Log(ctx, level, truncate(strings.ToValidUTF8(msg, "?"), maxLogBytes), attrs...)
}

// maxLogBytes is the longest log message kept.
const maxLogBytes = 4096

// stdWriter logs what the guest writes to stdout, as lines of the call in
// progress.
type stdWriter struct {
	inst *instance
}

// Write implements io.Writer.
func (w *stdWriter) Write(b []byte) (int, error) {
	if cs := w.inst.cur; cs != nil {
		cs.logLine(context.Background(), slog.LevelInfo, strings.TrimRight(string(b[:min(len(b), maxLogBytes)]), "\n"))
	}
	return len(b), nil
}

// stderrBuffer keeps the start of what the guest writes to stderr during a
// call (a Go panic's message and stack), to explain a trap.
type stderrBuffer struct {
	b strings.Builder
}

const maxStderrBytes = 4096

// Write implements io.Writer.
func (s *stderrBuffer) Write(b []byte) (int, error) {
	if room := maxStderrBytes - s.b.Len(); room > 0 {
		s.b.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}

func (s *stderrBuffer) reset()         { s.b.Reset() }
func (s *stderrBuffer) String() string { return s.b.String() }

// errBadPointer is the trap of a host function given memory outside the
// guest's linear memory.
type errBadPointer struct {
	fn       string
	ptr, len uint32
}

func (e errBadPointer) Error() string {
	return fmt.Sprintf("host function %s: pointer %#x length %d is outside the guest's memory", e.fn, e.ptr, e.len)
}
