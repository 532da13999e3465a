package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/pluginhost"
	"github.com/taylordash/taylordash/pluginhost/wasm"
)

// The README's steps: build the module, read the manifest, load the plugin
// as the host would, deliver an event, call its operations.
func TestExamplePlugin(t *testing.T) {
	wasmPath := filepath.Join(t.TempDir(), "plugin.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", wasmPath, ".")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	raw, err := os.ReadFile("plugin.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := pluginhost.ParseManifest(raw, pluginhost.ManifestCheck{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Runtime != pluginhost.RuntimeWasm || m.Wasm != "plugin.wasm" || len(m.Subscriptions) != 1 {
		t.Fatalf("manifest: %+v", m.Manifest)
	}

	ctx := context.Background()
	events := &publisher{}
	rt, err := wasm.NewRuntime(ctx, wasm.Config{}, wasm.Options{
		Logger:   slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		Events:   events,
		Projects: projects{},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rt.Close(ctx) }()
	p, err := rt.Load(ctx, wasm.PluginSpec{
		ID:             m.ID,
		Version:        m.Version,
		WasmPath:       wasmPath,
		Permissions:    m.Permissions,
		AllowedOrigins: m.AllowedOrigins,
		Limits:         wasm.Limits{MemoryPages: m.Limits.MemoryPages, Timeout: time.Duration(m.Limits.TimeoutMS) * time.Millisecond},
		Config:         json.RawMessage(`{"greeting":"Hello"}`),
	})
	if err != nil {
		t.Fatal(err)
	}

	// an event on its subscription
	ev := &eventbus.Event{Topic: "tracker/events/projects/created", Envelope: eventbus.Envelope{
		ID: "0190d3b4-0000-7000-8000-000000000001", Kind: "project_created", TS: time.Now(),
		Payload: json.RawMessage(`{"id":"0b6f1d7e-3c2a-4f9e-8a51-2d7c1e9f6a10","name":"Apollo"}`),
	}}
	if !eventbus.MatchTopic(m.Subscriptions[0], ev.Topic) {
		t.Fatalf("%s does not match the subscription %s", ev.Topic, m.Subscriptions[0])
	}
	if err := p.EventHandler()(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if len(events.kinds) != 1 || events.kinds[0] != "project_welcomed" || !bytes.Contains(events.payloads[0], []byte(`"message":"Hello, Apollo!"`)) {
		t.Errorf("published %v %s", events.kinds, events.payloads)
	}

	// its operations
	for path, want := range map[string]string{
		"/hello?name=Ann": `{"message":"Hello, Ann!"}`,
		"/summary":        `{"newest":["Apollo","Gemini"],"total":2}`,
	} {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/plugins/project-greeter"+path, nil)
		req, err := wasm.NewRequest(r, r.URL.Path[len("/api/v1/plugins/project-greeter"):], 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := p.HandleHTTP(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != http.StatusOK || string(resp.Body) != want {
			t.Errorf("GET %s = %d %s, want %s", path, resp.Status, resp.Body, want)
		}
	}
}

type publisher struct {
	mu       sync.Mutex
	kinds    []string
	payloads [][]byte
}

func (p *publisher) PublishEvent(_ context.Context, _, kind string, payload json.RawMessage) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.kinds = append(p.kinds, kind)
	p.payloads = append(p.payloads, payload)
	return nil
}

// projects serves two fixed projects.
type projects struct{}

func (projects) ListProjects(context.Context, string, int, int) (json.RawMessage, error) {
	return json.RawMessage(`{"projects":[{"name":"Apollo"},{"name":"Gemini"}],"count":2,"total":2}`), nil
}

func (projects) GetProject(context.Context, string, string) (json.RawMessage, error) {
	return nil, wasm.ErrNotFound
}

func (projects) CreateProject(context.Context, string, json.RawMessage) (json.RawMessage, error) {
	return nil, wasm.ErrInvalidArgument
}

func (projects) UpdateProject(context.Context, string, string, json.RawMessage) (json.RawMessage, error) {
	return nil, wasm.ErrInvalidArgument
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(b, "\n")))
	return len(b), nil
}
