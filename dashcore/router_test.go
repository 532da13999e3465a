package dashcore_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/danielgtaylor/huma/v2"

	"github.com/taylordash/taylordash/dashcore"
)

// TestRequestInfoOperation: contributed middleware sees the huma
// operation of the matched route (its Metadata included), the documented
// operation of a raw handler, and nil for an undocumented raw handler.
func TestRequestInfoOperation(t *testing.T) {
	seen := map[string]string{}
	h, _, err := dashcore.NewHandler(dashcore.HandlerOptions{
		Routes: []dashcore.Routes{{
			Name: "things",
			Register: func(api huma.API) {
				huma.Register(api, huma.Operation{OperationID: "get-thing", Method: http.MethodGet, Path: "/things/{id}",
					Metadata: map[string]any{"needs": "things:read"}},
					func(context.Context, *struct {
						ID string `path:"id"`
					}) (*struct{}, error) {
						return nil, nil
					})
				api.OpenAPI().AddOperation(&huma.Operation{OperationID: "stream-things", Method: http.MethodGet, Path: "/things/stream"})
			},
			Handle: func(mux *http.ServeMux) {
				mux.HandleFunc("GET /things/stream", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
				mux.HandleFunc("GET /raw", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
			},
		}},
		Middleware: []dashcore.Middleware{{Name: "spy", Wrap: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ri := dashcore.RequestInfoFrom(r.Context())
				switch {
				case ri.Operation == nil:
					seen[r.URL.Path] = "<nil>"
				default:
					needs, _ := ri.Operation.Metadata["needs"].(string)
					seen[r.URL.Path] = ri.Operation.OperationID + " " + needs
				}
				next.ServeHTTP(w, r)
			})
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/things/7", "/things/stream", "/raw"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code >= 300 {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
	}
	want := map[string]string{"/things/7": "get-thing things:read", "/things/stream": "stream-things ", "/raw": "<nil>"}
	for path, w := range want {
		if seen[path] != w {
			t.Errorf("%s: middleware saw %q, want %q", path, seen[path], w)
		}
	}
}
