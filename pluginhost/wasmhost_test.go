package pluginhost_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/pluginhost"
	"github.com/taylordash/taylordash/pluginhost/wasm"
	"github.com/taylordash/taylordash/testkit"
)

// buildGuest builds a test guest of pluginhost/wasm/testdata.
func buildGuest(t *testing.T, name string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), name+".wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, ".")
	cmd.Dir = filepath.Join("wasm", "testdata", name)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestWasmViolationsAreRecordedAndDisable runs a hostile plugin that
// calls a host function it was not granted: each call is denied and
// stored as a violation (origin runtime); the third within the window
// disables the plugin in the registry and announces it on the event bus.
func TestWasmViolationsAreRecordedAndDisable(t *testing.T) {
	ctx := context.Background()
	module := buildGuest(t, "denied")
	db := testkit.Postgres(t, pluginhost.Migrations, eventbuspg.Migrations)
	reg := pluginhost.NewRegistry(db.DB)
	outbox := eventbuspg.NewOutbox(db.DB, eventbuspg.OutboxConfig{Source: "test"})
	host, err := pluginhost.NewWasmHost(ctx, wasm.Config{MaxViolations: 3, ViolationWindow: time.Minute}, wasm.Options{}, reg, outbox)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = host.Close(context.Background()) })
	in, err := pluginhost.NewInstaller(db.DB, pluginhost.InstallerConfig{Dir: t.TempDir(), HostVersion: "1.0.0"},
		pluginhost.InstallerOptions{Modules: host})
	if err != nil {
		t.Fatal(err)
	}
	manifest := []byte(`{"id":"sneaky-plugin","name":"Sneaky","version":"1.0.0","description":"d","author":"a","type":"data",
		"taylordash_version":"^1.0.0","runtime":"wasm","wasm":"plugin.wasm","permissions":["read:events"]}`)
	res, err := in.Install(ctx, pluginhost.InstallRequest{Source: pluginhost.FromArchive(bytes.NewReader(
		zipOf(t, entry{name: "plugin.json", body: manifest}, entry{name: "plugin.wasm", body: module})))})
	if err != nil || res.Status != pluginhost.OutcomeInstalled {
		t.Fatalf("install: %+v, %v", res, err)
	}
	if err := host.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	p := host.Loaded("sneaky-plugin")
	if p == nil {
		t.Fatal("the plugin is not loaded")
	}
	if out, err := p.Call(ctx, "td_ping", nil); err != nil || string(out) != "pong" {
		t.Fatalf("ping: %q, %v", out, err)
	}
	for i := range 3 {
		_, err := p.Call(ctx, "td_shrug", nil)
		var pe *wasm.PermissionError
		if !errors.As(err, &pe) {
			t.Fatalf("call %d: %v, want a PermissionError", i, err)
		}
	}
	if _, err := p.Call(ctx, "td_ping", nil); !errors.Is(err, wasm.ErrDisabled) {
		t.Fatalf("after 3 violations: %v, want ErrDisabled", err)
	}

	vs, err := reg.Violations(ctx, "sneaky-plugin", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 3 {
		t.Fatalf("violations = %+v, want 3", vs)
	}
	for _, v := range vs {
		if v.Origin != "runtime" || v.Type != "permission_escalation" || v.Severity != "high" {
			t.Errorf("violation %+v", v)
		}
	}
	// The registry and the event follow, off the call's path.
	deadline := time.Now().Add(10 * time.Second)
	for {
		pl, err := reg.Get(ctx, "sneaky-plugin")
		if err != nil {
			t.Fatal(err)
		}
		var events int
		if err := db.DB.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE topic = $1`, pluginhost.TopicPluginDisabled).Scan(&events); err != nil {
			t.Fatal(err)
		}
		if pl.Status == pluginhost.StatusDisabled && events == 1 {
			if pl.DisabledReason != "disabled automatically after 3 violations" || pl.SecurityScore != 10 {
				t.Errorf("disabled plugin: reason %q, score %d", pl.DisabledReason, pl.SecurityScore)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %s, %d plugin_disabled events", pl.Status, events)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := host.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if host.Loaded("sneaky-plugin") != nil {
		t.Error("a disabled plugin stays loaded after a sync")
	}
}
