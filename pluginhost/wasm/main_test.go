package wasm_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/taylordash/taylordash/pluginhost/wasm"
)

// guests caches the built test plugins of this test binary.
var guests struct {
	sync.Mutex
	wasm map[string][]byte
}

// guestWasm returns testdata/<name> built as a reactor module
// (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared). Builds are kept
// on disk under the user's cache directory, keyed by the hash of the
// guest's and the SDK's sources and the Go version, so that only the first
// run pays for them (a cold build of the Go runtime for wasm takes tens of
// seconds; later ones under a second).
func guestWasm(t testing.TB, name string) []byte {
	t.Helper()
	guests.Lock()
	defer guests.Unlock()
	if b, ok := guests.wasm[name]; ok {
		return b
	}
	dir := filepath.Join("testdata", name)
	out := filepath.Join(guestCacheDir(t), name+"-"+sourceHash(t, dir, "../sdk")+".wasm")
	if b, err := os.ReadFile(out); err == nil {
		return remember(name, b)
	}
	b, err := buildGuest(dir, out)
	if err != nil {
		t.Fatalf("build %s: %v", dir, err)
	}
	return remember(name, b)
}

func remember(name string, b []byte) []byte {
	if guests.wasm == nil {
		guests.wasm = make(map[string][]byte)
	}
	guests.wasm[name] = b
	return b
}

// buildGuest builds the Go package in dir to out as a wasip1 reactor.
func buildGuest(dir, out string) ([]byte, error) {
	tmp := out + ".tmp" + uuid.NewString()
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", tmp, "./"+filepath.ToSlash(dir))
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w: %s", err, stderr.String())
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, err
	}
	if d := time.Since(start); d > 5*time.Second {
		fmt.Fprintf(os.Stderr, "built %s in %s\n", dir, d.Round(time.Millisecond))
	}
	return os.ReadFile(out)
}

func guestCacheDir(t testing.TB) string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "taylordash-test", "wasm-guests")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// sourceHash hashes the .go files of dirs and the Go version.
func sourceHash(t testing.TB, dirs ...string) string {
	t.Helper()
	h := sha256.New()
	h.Write([]byte(runtime.Version()))
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s (%v)", dir, err)
		}
		slices.Sort(files)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// bundle is a runtime under test and what it reports to.
type bundle struct {
	rt         *wasm.Runtime
	events     *eventLog
	projects   *projectMap
	violations *violationLog
	disabled   chan wasm.Disabled
	logs       *syncBuffer
}

// setup starts a runtime with in-memory backends; edit adjusts its config
// and options.
func setup(t *testing.T, edit func(*wasm.Config, *wasm.Options)) *bundle {
	t.Helper()
	b := &bundle{
		events:     &eventLog{},
		projects:   &projectMap{m: map[string]json.RawMessage{}},
		violations: &violationLog{},
		disabled:   make(chan wasm.Disabled, 8),
		logs:       &syncBuffer{},
	}
	cfg := wasm.Config{CacheDir: filepath.Join(guestCacheDir(t), "compiled")}
	opts := wasm.Options{
		Logger:     slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Events:     b.events,
		Projects:   b.projects,
		Violations: b.violations,
		OnDisabled: func(d wasm.Disabled) { b.disabled <- d },
	}
	if edit != nil {
		edit(&cfg, &opts)
	}
	rt, err := wasm.NewRuntime(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rt.Close(context.Background()); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("runtime log:\n%s", b.logs.String())
		}
	})
	b.rt = rt
	return b
}

// load loads guest as plugin id with the given spec fields.
func (b *bundle) load(t *testing.T, guest string, spec wasm.PluginSpec) *wasm.Plugin {
	t.Helper()
	if spec.ID == "" {
		spec.ID = guest + "-plugin"
	}
	spec.Wasm = guestWasm(t, guest)
	p, err := b.rt.Load(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// eventLog is an EventPublisher that keeps what it is given.
type eventLog struct {
	mu     sync.Mutex
	events []publishedEvent
}

type publishedEvent struct {
	ctx      context.Context
	pluginID string
	kind     string
	payload  json.RawMessage
}

func (l *eventLog) PublishEvent(ctx context.Context, pluginID, kind string, payload json.RawMessage) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, publishedEvent{ctx, pluginID, kind, payload})
	return nil
}

func (l *eventLog) all() []publishedEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// projectMap is a ProjectStore over a map.
type projectMap struct {
	mu sync.Mutex
	m  map[string]json.RawMessage
}

func (s *projectMap) ListProjects(_ context.Context, _ string, limit, offset int) (json.RawMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []json.RawMessage
	for _, p := range s.m {
		list = append(list, p)
	}
	total := len(list)
	list = list[min(offset, len(list)):]
	if limit > 0 {
		list = list[:min(limit, len(list))]
	}
	return json.Marshal(map[string]any{"projects": list, "count": len(list), "total": total})
}

func (s *projectMap) GetProject(_ context.Context, _ string, id string) (json.RawMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.m[id]
	if !ok {
		return nil, fmt.Errorf("project %s: %w", id, wasm.ErrNotFound)
	}
	return p, nil
}

func (s *projectMap) CreateProject(_ context.Context, _ string, input json.RawMessage) (json.RawMessage, error) {
	var p map[string]any
	if err := json.Unmarshal(input, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", wasm.ErrInvalidArgument, err)
	}
	if p["name"] == nil || p["name"] == "" {
		return nil, fmt.Errorf("%w: name is required", wasm.ErrInvalidArgument)
	}
	p["id"] = uuid.NewString()
	if p["status"] == nil {
		p["status"] = "planning"
	}
	b, _ := json.Marshal(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[p["id"].(string)] = b
	return b, nil
}

func (s *projectMap) UpdateProject(_ context.Context, _ string, id string, input json.RawMessage) (json.RawMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.m[id]
	if !ok {
		return nil, fmt.Errorf("project %s: %w", id, wasm.ErrNotFound)
	}
	var p, changes map[string]any
	_ = json.Unmarshal(old, &p)
	if err := json.Unmarshal(input, &changes); err != nil {
		return nil, fmt.Errorf("%w: %v", wasm.ErrInvalidArgument, err)
	}
	for k, v := range changes {
		p[k] = v
	}
	b, _ := json.Marshal(p)
	s.m[id] = b
	return b, nil
}

// violationLog is a ViolationRecorder that keeps what it is given.
type violationLog struct {
	mu sync.Mutex
	vs []wasm.Violation
}

func (l *violationLog) RecordViolation(_ context.Context, v wasm.Violation) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.vs = append(l.vs, v)
	return nil
}

func (l *violationLog) all() []wasm.Violation {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.vs)
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) contains(sub string) bool { return strings.Contains(s.String(), sub) }

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
