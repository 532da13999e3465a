package wasm_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taylordash/taylordash/pluginhost/wasm"
)

// An infinite loop is stopped within 100 ms of its deadline, the call
// ends with ErrTimeout, a violation is recorded, and the plugin's next call
// runs on a fresh instance. The bound is checked on the median of five
// calls (each must also stop within a second): on a shared two-core
// machine the operating system alone can hold a thread back for longer
// than 100 ms now and then.
func TestInfiniteLoopStoppedAtDeadline(t *testing.T) {
	b := setup(t, func(c *wasm.Config, _ *wasm.Options) { c.MaxViolations = 10 })
	const timeout = 200 * time.Millisecond
	p := b.load(t, "spin", wasm.PluginSpec{Limits: wasm.Limits{Timeout: timeout}})
	ctx := context.Background()
	var lateness []time.Duration
	for i := range 5 {
		start := time.Now()
		_, err := p.Call(ctx, "td_spin", nil)
		late := time.Since(start) - timeout
		if !errors.Is(err, wasm.ErrTimeout) {
			t.Fatalf("td_spin: %v, want ErrTimeout", err)
		}
		t.Logf("call %d stopped %s after its deadline", i, late.Round(time.Microsecond))
		if late < 0 || late > time.Second {
			t.Errorf("call %d stopped %s after its deadline", i, late)
		}
		lateness = append(lateness, late)
		if out, err := p.Call(ctx, "td_ping", nil); err != nil || string(out) != "pong" {
			t.Fatalf("td_ping after a timeout: %q, %v", out, err)
		}
	}
	slices.Sort(lateness)
	if median := lateness[len(lateness)/2]; median > 100*time.Millisecond {
		t.Errorf("the calls stopped a median %s after their deadline, want within 100ms", median)
	}
	vs := b.violations.all()
	if len(vs) != 5 || vs[0].Kind != wasm.ViolationTimeout || vs[0].PluginID != "spin-plugin" || vs[0].Function != "td_spin" {
		t.Errorf("violations = %+v", vs)
	}

	// the caller's own deadline is not the plugin's fault
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := p.Call(cctx, "td_spin", nil); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, wasm.ErrTimeout) {
		t.Errorf("td_spin with the caller's deadline: %v, want context.DeadlineExceeded", err)
	}
	if n := len(b.violations.all()); n != 5 {
		t.Errorf("%d violations after the caller's deadline, want still 5", n)
	}
}

// Allocating past the memory cap traps with ErrMemoryLimit, and the next
// call on the same plugin works on a new instance.
func TestAllocationPastCapTraps(t *testing.T) {
	b := setup(t, nil)
	p := b.load(t, "alloc", wasm.PluginSpec{Limits: wasm.Limits{MemoryPages: 64}})
	if p.MemoryPages() != 64 {
		t.Fatalf("MemoryPages = %d", p.MemoryPages())
	}
	ctx := context.Background()
	for range 2 {
		_, err := p.Call(ctx, "td_alloc", nil)
		var te *wasm.TrapError
		if !errors.Is(err, wasm.ErrMemoryLimit) || !errors.As(err, &te) || te.Kind != wasm.ViolationMemory {
			t.Fatalf("td_alloc: %v, want ErrMemoryLimit", err)
		}
		t.Logf("td_alloc: %v", err)
		if out, err := p.Call(ctx, "td_ping", nil); err != nil || string(out) != "pong" {
			t.Fatalf("td_ping after running out of memory: %q, %v", out, err)
		}
	}
	if vs := b.violations.all(); len(vs) != 2 || vs[0].Kind != wasm.ViolationMemory {
		t.Errorf("violations = %+v", vs)
	}
}

// An instance whose memory has grown close to its cap is replaced after
// its call, so that a slow leak does not end in an out-of-memory trap.
func TestNearlyFullInstanceReplaced(t *testing.T) {
	b := setup(t, nil)
	p := b.load(t, "alloc", wasm.PluginSpec{Limits: wasm.Limits{MemoryPages: 128}})
	for i := range 20 {
		if _, err := p.Call(context.Background(), "td_grow", nil); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if vs := b.violations.all(); len(vs) != 0 {
		t.Errorf("violations: %+v", vs)
	}
}

// A panic ends the call as a trap with the panic's message.
func TestPanicIsATrap(t *testing.T) {
	b := setup(t, nil)
	p := b.load(t, "panic", wasm.PluginSpec{})
	_, err := p.Call(context.Background(), "td_panic", nil)
	var te *wasm.TrapError
	if !errors.Is(err, wasm.ErrTrap) || !errors.As(err, &te) || te.Kind != wasm.ViolationPanic ||
		!strings.Contains(te.Message, "assignment to entry in nil map") {
		t.Fatalf("td_panic: %v, want a panic trap", err)
	}
	if out, err := p.Call(context.Background(), "td_ping", nil); err != nil || string(out) != "pong" {
		t.Fatalf("td_ping after a panic: %q, %v", out, err)
	}
	if vs := b.violations.all(); len(vs) != 1 || vs[0].Kind != wasm.ViolationPanic || !strings.Contains(vs[0].Detail, "nil map") {
		t.Errorf("violations = %+v", vs)
	}
}

// Calling a host function that was not granted is denied: the guest gets
// an error, the call fails with a PermissionError even when the guest
// carries on, and a violation is recorded; the instance stays usable.
func TestHostFunctionNotGrantedIsDenied(t *testing.T) {
	b := setup(t, nil)
	p := b.load(t, "denied", wasm.PluginSpec{})
	ctx := context.Background()

	_, err := p.Call(ctx, "td_publish", nil)
	var pe *wasm.PermissionError
	if !errors.Is(err, wasm.ErrPermissionDenied) || !errors.As(err, &pe) || pe.Function != "publish_event" || pe.Permission != wasm.PublishEvents {
		t.Fatalf("td_publish: %v, want a PermissionError for publish_event", err)
	}
	_, err = p.Call(ctx, "td_shrug", nil)
	if !errors.As(err, &pe) || pe.Function != "projects_list" || pe.Permission != wasm.ReadProjects {
		t.Fatalf("td_shrug: %v, want a PermissionError for projects_list", err)
	}
	if len(b.events.all()) != 0 {
		t.Error("a denied event was published")
	}
	vs := b.violations.all()
	if len(vs) != 2 || vs[0].Kind != wasm.ViolationPermissionDenied || !strings.Contains(vs[0].Detail, "publish_event needs publish:events") {
		t.Errorf("violations = %+v", vs)
	}
	if out, err := p.Call(ctx, "td_ping", nil); err != nil || string(out) != "pong" {
		t.Fatalf("td_ping: %q, %v", out, err)
	}
}

// After MaxViolations violations within the window the plugin is
// disabled, the hook fires once, calls fail with ErrDisabled until it is
// enabled again.
func TestViolationsDisablePlugin(t *testing.T) {
	b := setup(t, func(c *wasm.Config, _ *wasm.Options) { c.MaxViolations = 3 })
	p := b.load(t, "panic", wasm.PluginSpec{Version: "0.1.0"})
	other := b.load(t, "panic", wasm.PluginSpec{ID: "bystander"})
	ctx := context.Background()
	for range 3 {
		if _, err := p.Call(ctx, "td_panic", nil); !errors.Is(err, wasm.ErrTrap) {
			t.Fatal(err)
		}
	}
	select {
	case d := <-b.disabled:
		if d.PluginID != "panic-plugin" || d.Version != "0.1.0" || len(d.Violations) != 3 {
			t.Errorf("OnDisabled got %+v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnDisabled was not called")
	}
	if !p.Disabled() {
		t.Error("not disabled")
	}
	if _, err := p.Call(ctx, "td_ping", nil); !errors.Is(err, wasm.ErrDisabled) {
		t.Errorf("call to a disabled plugin: %v", err)
	}
	if _, err := other.Call(ctx, "td_ping", nil); err != nil {
		t.Errorf("another plugin: %v", err)
	}
	select {
	case d := <-b.disabled:
		t.Errorf("OnDisabled called again: %+v", d)
	default:
	}

	p.Enable()
	if p.Disabled() || len(p.Violations()) != 0 {
		t.Error("Enable left it disabled or kept the violations")
	}
	if out, err := p.Call(ctx, "td_ping", nil); err != nil || string(out) != "pong" {
		t.Errorf("td_ping after Enable: %q, %v", out, err)
	}
}

// Violations older than the window do not count.
func TestViolationWindowSlides(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	b := setup(t, func(c *wasm.Config, o *wasm.Options) {
		c.MaxViolations = 2
		c.ViolationWindow = time.Minute
		o.Now = func() time.Time { return now }
	})
	p := b.load(t, "panic", wasm.PluginSpec{})
	ctx := context.Background()
	_, _ = p.Call(ctx, "td_panic", nil)
	now = now.Add(2 * time.Minute)
	_, _ = p.Call(ctx, "td_panic", nil)
	if p.Disabled() {
		t.Fatal("disabled by violations two minutes apart with a one-minute window")
	}
	_, _ = p.Call(ctx, "td_panic", nil)
	if !p.Disabled() {
		t.Fatal("not disabled by two violations within the window")
	}
}
