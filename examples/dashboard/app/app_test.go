package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/examples/dashboard/app"
	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func get(t *testing.T, a *testkit.TestApp, path string) (*http.Response, []byte) {
	t.Helper()
	resp, err := a.Client.Get(a.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// apiKey is the key the tests configure.
const apiKey = "test-key-0123456789abcdef"

func start(t *testing.T) *testkit.TestApp {
	t.Helper()
	return testkit.App(t, app.Modules(), testkit.Env(map[string]string{"TAYLORDASH_API_KEY": apiKey}))
}

func TestDashboardServes(t *testing.T) {
	a := start(t)

	resp, body := get(t, a, "/health/ready")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ready: %d %s", resp.StatusCode, body)
	}
	var ready map[string]any
	if err := json.Unmarshal(body, &ready); err != nil {
		t.Fatal(err)
	}
	if ready["status"] != "ready" || ready["database"] != "healthy" || ready["mqtt"] != "healthy" || ready["service"] != "taylordash-backend" {
		t.Fatalf("ready body: %s", body)
	}

	resp, body = get(t, a, "/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"message":"TaylorDash Backend API"`) {
		t.Fatalf("root: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, a, "/no/such/path")
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("unknown path: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}

	resp, body = get(t, a, "/openapi.json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("openapi: %d", resp.StatusCode)
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
		Info    struct {
			Title, Version string
		} `json:"info"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || doc.Info.Title != "TaylorDash API" || doc.Info.Version != app.Version {
		t.Fatalf("openapi header: %+v", doc)
	}
	if resp, _ := get(t, a, "/docs"); resp.StatusCode != http.StatusOK {
		t.Fatalf("docs: %d", resp.StatusCode)
	}
}

func TestDashboardWiring(t *testing.T) {
	if err := fx.ValidateApp(app.Modules(), fx.Invoke(func(*dashcore.Server, *store.DB) {})); err != nil {
		t.Fatal(err)
	}
}
