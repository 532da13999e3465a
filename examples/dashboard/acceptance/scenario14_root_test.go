package acceptance_test

import (
	"net/http"
	"reflect"
	"testing"
)

// Scenario 14, the root: the API's name and version, exactly as the
// original answered them.
func TestScenario14Root(t *testing.T) {
	t.Parallel()
	d := start(t, nil)
	r := d.do(t, http.MethodGet, "/", anonymous, nil).must(t, http.StatusOK)
	want := map[string]any{"message": "TaylorDash Backend API", "version": "1.0.0"}
	if got := r.object(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("GET /: %s, want %v", r.Body, want)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
}
