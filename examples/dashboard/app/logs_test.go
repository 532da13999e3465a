package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestLogsReachTheDatabase: the application's log lines, through the
// observability handler (trace and request ids, redaction), reach
// application_logs and the logs API.
func TestLogsReachTheDatabase(t *testing.T) {
	a := start(t)
	resp, body := call(t, a, http.MethodPost, "/api/v1/logs/test", apiKey, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("logs/test: %d %s", resp.StatusCode, body)
	}
	var out struct {
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.RequestID == "" {
		t.Fatalf("body %s: %v", body, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body = call(t, a, http.MethodGet, "/api/v1/logs?request_id="+out.RequestID, apiKey, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("logs: %d %s", resp.StatusCode, body)
		}
		if strings.Contains(string(body), out.RequestID) && strings.Contains(string(body), `"trace_id":"`) && !strings.Contains(string(body), `"trace_id":""`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stored log line of request %s: %s", out.RequestID, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
