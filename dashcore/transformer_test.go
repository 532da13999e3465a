package dashcore_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/testkit"
)

// tagging returns a transformer that appends its name to the message of
// a greeting, and records the statuses it sees.
func tagging(name string, seen *[]string, mu *sync.Mutex) dashcore.Transformer {
	return dashcore.Transformer{Name: name, Transform: func(_ huma.Context, status string, v any) (any, error) {
		mu.Lock()
		*seen = append(*seen, name+" "+status)
		mu.Unlock()
		if g, ok := v.(struct {
			Message string `json:"message"`
		}); ok {
			g.Message += " " + name // g is a copy
			return g, nil
		}
		return v, nil
	}}
}

func TestTransformersRunInNameOrderBeforeProblems(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	contribute := func(name string) fx.Option {
		return fx.Provide(dashcore.AsTransformer(func() dashcore.Transformer { return tagging(name, &seen, &mu) }))
	}
	failing := func(api huma.API) {
		huma.Register(api, huma.Operation{OperationID: "fail", Method: http.MethodGet, Path: "/fail"},
			func(context.Context, *struct{}) (*greeting, error) {
				return nil, dashcore.NewError(dashcore.ErrConflict, "taken", nil)
			})
	}
	app := testkit.App(t, dashcore.Module,
		routes("greet", greet("/hello", "hi"), nil), routes("fail", failing, nil),
		contribute("zeta"), contribute("alpha"), contribute("mid"))

	resp, body := get(t, app.Client, app.URL+"/hello")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"message":"hi alpha mid zeta"`) {
		t.Fatalf("GET /hello: %d %s", resp.StatusCode, body)
	}
	// An error reaches the transformers as the handler's error, and is a
	// problem in the end.
	resp, body = get(t, app.Client, app.URL+"/fail")
	if p := problem(t, resp, body); p.Status != http.StatusConflict || p.Detail != "taken" {
		t.Fatalf("GET /fail: %d %s", resp.StatusCode, body)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"alpha 200", "mid 200", "zeta 200", "alpha 409", "mid 409", "zeta 409"}
	if !slices.Equal(seen, want) {
		t.Errorf("transformers ran as %q, want %q", seen, want)
	}
}

func TestTransformerSetupSeesEveryOperation(t *testing.T) {
	var added []string
	setup := func(api huma.API) error {
		// Before any operation: the hook sees them all, health included.
		if n := len(api.OpenAPI().Paths); n != 0 {
			t.Errorf("Setup ran after %d paths were registered", n)
		}
		api.OpenAPI().OnAddOperation = append(api.OpenAPI().OnAddOperation, func(_ *huma.OpenAPI, op *huma.Operation) {
			added = append(added, op.OperationID)
		})
		return nil
	}
	noop := func(_ huma.Context, _ string, v any) (any, error) { return v, nil }
	_, _, err := dashcore.NewHandler(dashcore.HandlerOptions{
		Routes:       []dashcore.Routes{{Name: "greet", Register: greet("/hello", "hi")}},
		Transformers: []dashcore.Transformer{{Name: "doc", Transform: noop, Setup: setup}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"greet-hello", "health-live", "health-ready"} {
		if !slices.Contains(added, id) {
			t.Errorf("the hook did not see %s: %q", id, added)
		}
	}
}

func TestTransformerErrors(t *testing.T) {
	noop := func(_ huma.Context, _ string, v any) (any, error) { return v, nil }
	refuse := func(api huma.API) error {
		api.OpenAPI().OnAddOperation = append(api.OpenAPI().OnAddOperation, func(_ *huma.OpenAPI, op *huma.Operation) {
			if op.OperationID == "greet-bad" {
				panic("greet-bad has a body I cannot transform")
			}
		})
		return nil
	}
	tests := []struct {
		name    string
		ts      []dashcore.Transformer
		wantErr []string
	}{
		{"no name", []dashcore.Transformer{{Transform: noop}}, []string{"a transformer has no name"}},
		{"duplicate names", []dashcore.Transformer{{Name: "x", Transform: noop}, {Name: "x", Transform: noop}},
			[]string{`two transformers are named "x"`}},
		{"no Transform", []dashcore.Transformer{{Name: "x"}}, []string{`transformer "x" has no Transform function`}},
		{"Setup fails", []dashcore.Transformer{{Name: "x", Transform: noop, Setup: func(huma.API) error { return errors.New("no way") }}},
			[]string{`set up transformer "x": no way`}},
		{"hook refuses an operation", []dashcore.Transformer{{Name: "x", Transform: noop, Setup: refuse}},
			[]string{`register routes "bad"`, "greet-bad has a body I cannot transform"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := dashcore.NewHandler(dashcore.HandlerOptions{
				Routes:       []dashcore.Routes{{Name: "bad", Register: greet("/bad", "b")}},
				Transformers: tt.ts,
			})
			if err == nil {
				t.Fatal("NewHandler succeeded")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestTransformerDoesNotTouchRawHandlers(t *testing.T) {
	called := false
	tr := dashcore.Transformer{Name: "x", Transform: func(_ huma.Context, _ string, v any) (any, error) {
		called = true
		return v, nil
	}}
	raw := func(mux *http.ServeMux) {
		mux.HandleFunc("GET /raw", func(w http.ResponseWriter, _ *http.Request) {
			_ = json.NewEncoder(w).Encode(map[string]string{"secret": "s"})
		})
	}
	srv := handler(t, dashcore.HandlerOptions{Routes: []dashcore.Routes{{Name: "raw", Handle: raw}}, Transformers: []dashcore.Transformer{tr}})
	resp, body := get(t, srv.Client(), srv.URL+"/raw")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"secret":"s"`) {
		t.Fatalf("GET /raw: %d %s", resp.StatusCode, body)
	}
	if called {
		t.Error("the transformer saw a raw handler's response")
	}
}
