package acceptance_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// Scenario 7, logs: the test entries are stored and found by level and
// text, one entry is read by id, and the statistics answer.
func TestScenario07Logs(t *testing.T) {
	t.Parallel()
	d := start(t, nil)
	k := key(bootstrapKey)

	t.Run("test entries", func(t *testing.T) {
		m := d.do(t, http.MethodPost, "/api/v1/logs/test", k, nil).must(t, http.StatusOK).object(t)
		if m["logs_created"] != float64(3) || m["message"] != "Test log entries created successfully" {
			t.Fatalf("logs/test: %v", m)
		}
		hasKeys(t, "logs/test", m, "timestamp")
	})

	var entry map[string]any
	t.Run("found by level and search", func(t *testing.T) {
		// ⚠ The original's table was never created: every /api/v1/logs
		// call answered 500 on a fresh database. Entries are written
		// asynchronously here, so poll.
		eventually(t, 10*time.Second, func() (bool, string) {
			m := d.do(t, http.MethodGet, "/api/v1/logs?level=ERROR&search=Test", k, nil).must(t, http.StatusOK).object(t)
			for _, l := range m["logs"].([]any) {
				if e := l.(map[string]any); e["message"] == "Test ERROR log entry" {
					entry = e
					return true, ""
				}
			}
			return false, "GET /api/v1/logs?level=ERROR&search=Test lacks \"Test ERROR log entry\""
		})
		hasKeys(t, "log entry", entry, "id", "timestamp", "level", "service", "message", "trace_id", "request_id")
		if entry["level"] != "ERROR" {
			t.Errorf("level %v", entry["level"])
		}
		// Deliberate difference: pages by cursor (count, limit, has_more,
		// next_cursor) where the original counted a total and took an
		// offset.
		m := d.do(t, http.MethodGet, "/api/v1/logs?level=ERROR&search=Test", k, nil).must(t, http.StatusOK).object(t)
		hasKeys(t, "logs page", m, "logs", "count", "limit", "has_more")
		// Only ERROR entries.
		for _, l := range m["logs"].([]any) {
			if lv := l.(map[string]any)["level"]; lv != "ERROR" {
				t.Errorf("level=ERROR lists a %v entry", lv)
			}
		}
	})
	if entry == nil {
		t.FailNow()
	}

	t.Run("one entry", func(t *testing.T) {
		id := strconv.FormatFloat(entry["id"].(float64), 'f', -1, 64)
		got := d.do(t, http.MethodGet, "/api/v1/logs/"+id, k, nil).must(t, http.StatusOK).object(t)
		if got["message"] != "Test ERROR log entry" || got["id"] != entry["id"] {
			t.Fatalf("log %s: %v", id, got)
		}
		d.do(t, http.MethodGet, "/api/v1/logs/999999999", k, nil).mustDetail(t, http.StatusNotFound, "Log entry not found")
		d.do(t, http.MethodGet, "/api/v1/logs/abc", k, nil).must(t, http.StatusUnprocessableEntity)
	})

	t.Run("stats", func(t *testing.T) {
		// ⚠ The original's route was unreachable (422) and its SQL broken.
		m := d.do(t, http.MethodGet, "/api/v1/logs/stats?hours=1", k, nil).must(t, http.StatusOK).object(t)
		hasKeys(t, "logs/stats", m, "timeframe_hours", "stats", "error_rates", "generated_at")
		if m["timeframe_hours"] != float64(1) {
			t.Errorf("timeframe_hours %v", m["timeframe_hours"])
		}
		if stats, _ := m["stats"].([]any); len(stats) == 0 {
			t.Errorf("no stats after logging: %v", m)
		}
	})
}
