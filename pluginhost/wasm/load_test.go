package wasm_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taylordash/taylordash/pluginhost/wasm"
)

func TestLoadRefusesBadModules(t *testing.T) {
	b := setup(t, nil)
	ctx := context.Background()
	hello := helloModule()
	edit := func(f func(*module)) []byte {
		m := helloModule()
		m.types = append([][]byte(nil), hello.types...)
		m.imports = append([][3]any(nil), hello.imports...)
		m.funcs = append([][2]any(nil), hello.funcs...)
		m.exports = append([][3]any(nil), hello.exports...)
		f(&m)
		return m.encode()
	}
	for _, tc := range []struct {
		name, want string
		wasm       []byte
	}{
		{"not wasm", "compile", []byte("\x00asm but not really")},
		{"foreign import", "only the taylordash and wasi_snapshot_preview1 modules", edit(func(m *module) {
			m.imports = append(m.imports, [3]any{"env", "system", 3})
		})},
		{"file system", "wasi_snapshot_preview1.path_open, which is not granted", edit(func(m *module) {
			m.imports = append(m.imports, [3]any{"wasi_snapshot_preview1", "path_open", 3})
		})},
		{"sockets", "wasi_snapshot_preview1.sock_accept, which is not granted", edit(func(m *module) {
			m.imports = append(m.imports, [3]any{"wasi_snapshot_preview1", "sock_accept", 3})
		})},
		{"unknown host function", "taylordash.exec, which the host does not provide", edit(func(m *module) {
			m.imports = append(m.imports, [3]any{"taylordash", "exec", 3})
		})},
		{"wrong host signature", "taylordash.log with the wrong signature", edit(func(m *module) {
			m.imports = append(m.imports, [3]any{"taylordash", "log", 3})
		})},
		{"no memory", "exports no memory", edit(func(m *module) { m.exports = m.exports[1:] })},
		{"command", "is a command", edit(func(m *module) { m.exports = append(m.exports, [3]any{"_start", 0, 1}) })},
		{"no _initialize", "exports no _initialize", edit(func(m *module) { m.exports = append(m.exports[:1], m.exports[2:]...) })},
		{"no ABI version", "exports no td_abi_version", edit(func(m *module) { m.exports = append(m.exports[:2], m.exports[3:]...) })},
		{"wrong ABI version", "td_abi_version() = [2]", edit(func(m *module) { m.funcs[1][1] = body(0x41, 0x02, 0x0b) })},
		{"bad export signature", "export td_bad must have the signature (i32) -> i32", edit(func(m *module) {
			m.exports = append(m.exports, [3]any{"td_bad", 0, 2})
		})},
		{"nothing to call", "exports no callable td_* function", edit(func(m *module) { m.exports = m.exports[:3] })},
		{"memory above the host's cap", "min 300 pages (18 Mi) over limit of 256 pages", edit(func(m *module) { m.memory = []byte{0x00, 0xac, 0x02} })},
		{"trap in _initialize", "unreachable", edit(func(m *module) { m.funcs[0][1] = body(0x00, 0x0b) })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.rt.Load(ctx, wasm.PluginSpec{ID: "bad-module", Wasm: tc.wasm})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v, want an error containing %q", err, tc.want)
			}
			if tc.name != "trap in _initialize" && !errors.Is(err, wasm.ErrInvalidModule) {
				t.Errorf("%v does not match ErrInvalidModule", err)
			}
			if b.rt.Plugin("bad-module") != nil {
				t.Error("a refused plugin stays registered")
			}
		})
	}
}

func TestLoadRefusesBadSpecs(t *testing.T) {
	b := setup(t, nil)
	ctx := context.Background()
	good := helloModule().encode()
	big := helloModule()
	big.memory = []byte{0x00, 0x64} // 100 pages
	if _, err := b.rt.Load(ctx, wasm.PluginSpec{ID: "big", Wasm: big.encode(), Limits: wasm.Limits{MemoryPages: 64}}); err == nil ||
		!strings.Contains(err.Error(), "needs 100 pages of memory at start, above its limit of 64") {
		t.Errorf("Load of a module above the plugin's memory limit: %v", err)
	}
	for _, spec := range []wasm.PluginSpec{
		{ID: "No_Caps", Wasm: good},
		{ID: "ab", Wasm: good},
		{ID: "perms", Wasm: good, Permissions: []string{"read:everything"}},
		{ID: "tiny", Wasm: good, Limits: wasm.Limits{MemoryPages: 8}},
		{ID: "nothing", Wasm: nil},
		{ID: "missing-file", WasmPath: filepath.Join(t.TempDir(), "none.wasm")},
	} {
		if _, err := b.rt.Load(ctx, spec); err == nil {
			t.Errorf("Load(%+v) succeeded", spec)
		}
	}
	if _, err := b.rt.Load(ctx, wasm.PluginSpec{ID: "twice", Wasm: good}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.rt.Load(ctx, wasm.PluginSpec{ID: "twice", Wasm: good}); err == nil || !strings.Contains(err.Error(), "loaded already") {
		t.Errorf("second Load of one id: %v", err)
	}
}

func TestLimits(t *testing.T) {
	b := setup(t, func(c *wasm.Config, _ *wasm.Options) {
		c.MaxMemoryPages = 128
		c.DefaultTimeout = 2 * time.Second
		c.MaxTimeout = 3 * time.Second
	})
	ctx := context.Background()
	good := helloModule().encode()
	for _, tc := range []struct {
		limits  wasm.Limits
		pages   uint32
		timeout time.Duration
	}{
		{wasm.Limits{}, 128, 2 * time.Second},
		{wasm.Limits{MemoryPages: 64, Timeout: time.Second}, 64, time.Second},
		{wasm.Limits{MemoryPages: 1000, Timeout: time.Hour}, 128, 3 * time.Second},
	} {
		p, err := b.rt.Load(ctx, wasm.PluginSpec{ID: "limits", Wasm: good, Limits: tc.limits})
		if err != nil {
			t.Fatal(err)
		}
		if p.MemoryPages() != tc.pages || p.Timeout() != tc.timeout {
			t.Errorf("limits %+v: %d pages, %s; want %d, %s", tc.limits, p.MemoryPages(), p.Timeout(), tc.pages, tc.timeout)
		}
		if err := p.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := wasm.NewRuntime(ctx, wasm.Config{MaxMemoryPages: 16}, wasm.Options{}); err == nil || !strings.Contains(err.Error(), "MaxMemoryPages") {
		t.Errorf("NewRuntime with 16 pages: %v", err)
	}
}

// The compiled code is kept on disk: a second runtime on the same
// directory loads the module from the cache.
func TestCompilationCacheOnDisk(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	mod := guestWasm(t, "noop")
	var took []time.Duration
	for range 2 {
		rt, err := wasm.NewRuntime(ctx, wasm.Config{CacheDir: dir}, wasm.Options{Logger: discard()})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		p, err := rt.Load(ctx, wasm.PluginSpec{ID: "noop", Wasm: mod})
		if err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(start))
		if _, err := p.Call(ctx, "td_noop", nil); err != nil {
			t.Fatal(err)
		}
		if err := rt.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var files int
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			files++
		}
		return nil
	})
	if files == 0 {
		t.Fatal("the cache directory is empty")
	}
	t.Logf("Load: %s compiling, %s from the disk cache", took[0].Round(time.Millisecond), took[1].Round(time.Millisecond))
}

// At most MaxInstances calls run at once; the others wait for an
// instance, and all succeed.
func TestConcurrentCallsShareThePool(t *testing.T) {
	b := setup(t, func(c *wasm.Config, _ *wasm.Options) { c.MaxInstances = 2 })
	p := b.load(t, "echo", wasm.PluginSpec{})
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			in := []byte(strings.Repeat("x", i))
			out, err := p.Call(context.Background(), "td_echo", in)
			if err == nil && string(out) != string(in) {
				err = errors.New("wrong output " + string(out))
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestClose(t *testing.T) {
	b := setup(t, nil)
	ctx := context.Background()
	p := b.load(t, "noop", wasm.PluginSpec{})
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := p.Call(ctx, "td_noop", nil); !errors.Is(err, wasm.ErrClosed) {
		t.Errorf("call after Close: %v", err)
	}
	if b.rt.Plugin("noop-plugin") != nil {
		t.Error("a closed plugin stays registered")
	}
	// the id can be loaded again
	b.load(t, "noop", wasm.PluginSpec{})
	if err := b.rt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.rt.Load(ctx, wasm.PluginSpec{ID: "late", Wasm: helloModule().encode()}); !errors.Is(err, wasm.ErrClosed) {
		t.Errorf("Load after Close: %v", err)
	}
}

// Closing a plugin, and then the runtime, while a guest spins: Close
// reports the call still running, the call ends, nothing crashes.
func TestCloseWhileCalling(t *testing.T) {
	b := setup(t, nil)
	p := b.load(t, "spin", wasm.PluginSpec{Limits: wasm.Limits{Timeout: 300 * time.Millisecond}})
	errc := make(chan error, 1)
	go func() { _, err := p.Call(context.Background(), "td_spin", nil); errc <- err }()
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close during a call: %v, want the context's error", err)
	}
	if err := b.rt.Close(ctx); err != nil {
		t.Errorf("runtime Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, wasm.ErrClosed) {
			t.Errorf("the spinning call ended with %v, want ErrClosed", err)
		}
		if n := len(b.violations.all()); n != 0 {
			t.Errorf("%d violations for a call the host closed", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the call did not end")
	}
}
