package wasm_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/taylordash/taylordash/pluginhost/sdk"
	"github.com/taylordash/taylordash/pluginhost/wasm"
)

func TestCallEcho(t *testing.T) {
	b := setup(t, nil)
	p := b.load(t, "echo", wasm.PluginSpec{Version: "1.0.0", Config: json.RawMessage(`{"greeting":"hello"}`)})
	ctx := context.Background()
	if got, want := p.Exports(), []string{"td_config", "td_echo", "td_fail", "td_handle_event", "td_handle_http", "td_log", "td_projects"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Exports = %v, want %v", got, want)
	}

	for _, in := range []string{"", "x", strings.Repeat("0123456789", 10000)} {
		out, err := p.Call(ctx, "td_echo", []byte(in))
		if err != nil || string(out) != in {
			t.Fatalf("td_echo(%d bytes) = %d bytes, %v", len(in), len(out), err)
		}
	}

	_, err := p.Call(ctx, "td_fail", []byte("nope"))
	var ge *wasm.GuestError
	if !errors.As(err, &ge) || ge.Message != "refused: nope" {
		t.Errorf("td_fail: %v, want a GuestError with the guest's message", err)
	}
	if out, err := p.Call(ctx, "td_config", nil); err != nil || string(out) != "hello" {
		t.Errorf("td_config = %q, %v", out, err)
	}
	if _, err := p.Call(ctx, "td_log", []byte("first line\nsecond line")); err != nil {
		t.Fatal(err)
	}
	if !b.logs.contains(`msg="first line" plugin=echo-plugin function=td_log`) {
		t.Errorf("the plugin's log lines are missing:\n%s", b.logs)
	}

	for _, fn := range []string{"td_nothing", "_initialize", "td_abi_version", "memory"} {
		if _, err := p.Call(ctx, fn, nil); !errors.Is(err, wasm.ErrNoSuchFunction) {
			t.Errorf("Call(%s): %v, want ErrNoSuchFunction", fn, err)
		}
	}
	if _, err := p.Call(ctx, "td_echo", make([]byte, 2<<20)); !errors.Is(err, wasm.ErrInputTooLarge) {
		t.Errorf("2 MiB input: %v, want ErrInputTooLarge", err)
	}
	if len(b.violations.all()) != 0 {
		t.Errorf("violations: %v", b.violations.all())
	}
}

func TestHandleHTTP(t *testing.T) {
	b := setup(t, nil)
	p := b.load(t, "echo", wasm.PluginSpec{})
	r := httptest.NewRequest(http.MethodPost, "/api/v1/plugins/echo-plugin/items/7?q=1", strings.NewReader("payload"))
	r.Header.Set("Authorization", "Bearer secret")
	req, err := wasm.NewRequest(r, "/items/7", 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.HandleHTTP(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(resp.Body, &got); err != nil {
		t.Fatal(err)
	}
	if got["method"] != "POST" || got["path"] != "/items/7" || got["body"] != "payload" || got["authorization"] != nil {
		t.Errorf("the plugin saw %v", got)
	}
	rec := httptest.NewRecorder()
	wasm.WriteResponse(rec, resp)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Set-Cookie") != "" {
		t.Errorf("response: %d %v", rec.Code, rec.Header())
	}

	req.Path = "/fail"
	if resp, err := p.HandleHTTP(context.Background(), req); err != nil || resp.Status != 418 {
		t.Errorf("/fail: %+v, %v", resp, err)
	}
	if _, err := wasm.NewRequest(httptest.NewRequest(http.MethodPost, "/", strings.NewReader("0123456789")), "/", 4); !errors.Is(err, wasm.ErrInputTooLarge) {
		t.Errorf("large body: %v", err)
	}
}

func TestProjects(t *testing.T) {
	b := setup(t, nil)
	ctx := context.Background()
	p := b.load(t, "echo", wasm.PluginSpec{Permissions: []string{"read:projects", "write:projects"}})
	out, err := p.Call(ctx, "td_projects", []byte("From a plugin"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Project sdk.Project `json:"project"`
		Total   int         `json:"total"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got.Project.Name != "From a plugin" || got.Project.Description == nil || *got.Project.Description != "updated by a plugin" || got.Total != 1 {
		t.Errorf("td_projects = %s", out)
	}

	// read only: the create is denied
	ro := b.load(t, "echo", wasm.PluginSpec{ID: "read-only", Permissions: []string{"read:projects"}})
	_, err = ro.Call(ctx, "td_projects", []byte("x"))
	var pe *wasm.PermissionError
	if !errors.As(err, &pe) || pe.Function != "projects_create" || pe.Permission != wasm.WriteProjects {
		t.Errorf("read-only create: %v, want a PermissionError for projects_create", err)
	}
}
