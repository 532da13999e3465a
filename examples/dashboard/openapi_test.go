package main

import (
	"io"
	"net/http"
	"testing"

	"github.com/taylordash/taylordash/examples/dashboard/app"
	"github.com/taylordash/taylordash/testkit"
)

// TestOpenAPI: the command prints, with no database or broker, exactly
// the document the running server serves, in YAML and in JSON.
func TestOpenAPI(t *testing.T) {
	a := testkit.App(t, app.Modules())
	served := func(path string) string {
		t.Helper()
		resp, err := a.Client.Get(a.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return string(b)
	}

	// Nothing to connect to: the command must not try.
	vars := map[string]string{"TAYLORDASH_DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "TAYLORDASH_MQTT_URL": "tcp://127.0.0.1:1"}
	res := execute(t, vars, "", "openapi")
	if res.code != exitOK || res.stdout != served("/openapi.yaml") {
		t.Fatalf("openapi: exit %d, stderr %q; the document differs from the served one", res.code, res.stderr)
	}
	res = execute(t, nil, "", "openapi", "--format", "json")
	doc := decode[struct {
		OpenAPI string `json:"openapi"`
		Info    struct {
			Title, Version string
		} `json:"info"`
		Paths map[string]any `json:"paths"`
	}](t, res)
	if res.code != exitOK || doc.Info.Title != "TaylorDash API" || doc.Info.Version != app.Version || doc.OpenAPI != "3.1.0" ||
		doc.Paths["/api/v1/plugins/install"] == nil || res.stdout != served("/openapi.json") {
		t.Fatalf("openapi --format json: exit %d, %+v", res.code, doc.Info)
	}
}
