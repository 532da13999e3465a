package pluginhost_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/pluginhost"
	"github.com/taylordash/taylordash/pluginhost/wasm"
	"github.com/taylordash/taylordash/testkit"
)

// BenchmarkWasmEvent measures an event handled by a wasm plugin through
// the host (the route "#" of the event bus): the example plugin
// (examples/wasmplugin) ignoring an event of another kind, and welcoming
// a project (it publishes an event, which the outbox stores in
// PostgreSQL). The baselines are a Go handler doing the same work: the
// same JSON decoding, and the same outbox write.
func BenchmarkWasmEvent(b *testing.B) {
	ctx := context.Background()
	wasmPath := filepath.Join(b.TempDir(), "plugin.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", wasmPath, ".")
	cmd.Dir = "../examples/wasmplugin"
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	module, _ := os.ReadFile(wasmPath)
	manifest, _ := os.ReadFile("../examples/wasmplugin/plugin.json")
	db := testkit.Postgres(b, pluginhost.Migrations, eventbuspg.Migrations)
	reg := pluginhost.NewRegistry(db.DB)
	outbox := eventbuspg.NewOutbox(db.DB, eventbuspg.OutboxConfig{Source: "bench"})
	host, err := pluginhost.NewWasmHost(ctx, wasm.Config{}, wasm.Options{Logger: slog.New(slog.DiscardHandler)}, reg, outbox)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = host.Close(context.Background()) })
	in, _ := pluginhost.NewInstaller(db.DB, pluginhost.InstallerConfig{Dir: b.TempDir(), HostVersion: "1.0.0"},
		pluginhost.InstallerOptions{Modules: host})
	res, err := in.Install(ctx, pluginhost.InstallRequest{Source: pluginhost.FromArchive(bytes.NewReader(
		zipOf(b, entry{name: "plugin.json", body: manifest}, entry{name: "plugin.wasm", body: module})))})
	if err != nil || res.Status != pluginhost.OutcomeInstalled {
		b.Fatalf("install: %+v %v", res, err)
	}
	if err := host.Sync(ctx); err != nil {
		b.Fatal(err)
	}

	event := func(kind string, i int) *eventbus.Event {
		env, err := eventbus.New(ctx, "bench", kind, map[string]any{"id": fmt.Sprint(i), "name": "Project"})
		if err != nil {
			b.Fatal(err)
		}
		raw, _ := json.Marshal(env)
		return &eventbus.Event{Topic: "tracker/events/projects/created", Envelope: env, Raw: raw, ReceivedAt: time.Now()}
	}
	goHandler := func(publish bool) eventbus.Handler {
		return func(ctx context.Context, ev *eventbus.Event) error {
			var p struct{ ID, Name string }
			if err := json.Unmarshal(ev.Envelope.Payload, &p); err != nil {
				return err
			}
			if ev.Envelope.Kind != "project_created" || !publish {
				return nil
			}
			_, err := outbox.Publish(ctx, "tracker/events/plugins/go/events", "project_welcomed",
				map[string]string{"project_id": p.ID, "message": "Welcome, " + p.Name + "!"})
			return err
		}
	}
	run := func(b *testing.B, h eventbus.Handler, kind string) {
		for i := 0; b.Loop(); i++ {
			if err := h(ctx, event(kind, i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("ignored/go", func(b *testing.B) { run(b, goHandler(false), "project_updated") })
	b.Run("ignored/wasm", func(b *testing.B) { run(b, host.HandleEvent, "project_updated") })
	b.Run("publishes/go", func(b *testing.B) { run(b, goHandler(true), "project_created") })
	b.Run("publishes/wasm", func(b *testing.B) { run(b, host.HandleEvent, "project_created") })
}
