package logspg_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/observability/logspg"
	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

const apiKey = "logspg-test-key-0123456789"

// api is a running application with the logs API, guarded by auth.Module
// with the bootstrap key apiKey, whose process logger also feeds the
// queue (as observability.Module makes it do).
type api struct {
	t     *testing.T
	app   *testkit.TestApp
	queue *logspg.Queue
}

func newAPI(t *testing.T) *api {
	t.Helper()
	a := &api{t: t}
	a.app = testkit.App(t, dashcore.Module, store.Module, auth.Module,
		fx.Module("logs.test",
			fx.Decorate(func(l *slog.Logger, q *logspg.Queue) *slog.Logger {
				return slog.New(slog.NewMultiHandler(l.Handler(), q))
			}),
			logspg.Module, logspg.HTTPModule,
		),
		fx.Populate(&a.queue),
		testkit.Env(map[string]string{
			"TAYLORDASH_API_KEY":             apiKey,
			"TAYLORDASH_LOGS_FLUSH_INTERVAL": "10ms",
			"TAYLORDASH_LOGS_LEVEL":          "debug",
		}),
	)
	return a
}

// do sends a request with the API key (unless key is "") and decodes a
// JSON response into out (if not nil); it returns the status.
func (a *api) do(method, path, key, contentType string, body []byte, out any) int {
	a.t.Helper()
	req, err := http.NewRequest(method, a.app.URL+path, bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set(auth.APIKeyHeader, key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := a.app.Client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		a.t.Errorf("%s %s: %d with Content-Type %q, want a problem", method, path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			a.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

type listBody struct {
	Logs       []logspg.Record `json:"logs"`
	Count      int             `json:"count"`
	Limit      int             `json:"limit"`
	HasMore    bool            `json:"has_more"`
	NextCursor string          `json:"next_cursor"`
}

func (a *api) list(query string) listBody {
	a.t.Helper()
	var b listBody
	if st := a.do(http.MethodGet, "/api/v1/logs?"+query, apiKey, "", nil, &b); st != http.StatusOK {
		a.t.Fatalf("GET /api/v1/logs?%s: %d", query, st)
	}
	return b
}

// waitCount waits until the list of query holds n records.
func (a *api) waitCount(query string, n int) listBody {
	a.t.Helper()
	var b listBody
	waitFor(a.t, 10*time.Second, query, func() bool { b = a.list(query); return b.Count >= n })
	if b.Count != n {
		a.t.Fatalf("%s: %d records, want %d", query, b.Count, n)
	}
	return b
}

// seed logs a known set through the queue: service a: 3 info, 2 error;
// service b: 1 warn, 4 info; 10 in all.
func (a *api) seed() {
	log := slog.New(a.queue)
	for i := range 3 {
		log.Info("disk 50% full", slog.String("service", "svc-a"), slog.Int("i", i))
	}
	log.Error("disk 500 full", slog.String("service", "svc-a"), slog.String("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"))
	log.Error("a_b failed", slog.String("service", "svc-a"), slog.String("request_id", "req-42"))
	log.Warn("axb slow", slog.String("service", "svc-b"))
	for i := range 4 {
		log.Info("tick", slog.String("service", "svc-b"), slog.Int("i", i))
	}
	a.waitCount("service=ALL&search=&limit=500", 10)
}

func TestAPIListFiltersSearchPaginates(t *testing.T) {
	a := newAPI(t)
	a.seed()
	for _, c := range []struct {
		query string
		want  int
	}{
		{"service=svc-a", 5},
		{"service=svc-b", 5},
		{"level=error", 2},
		{"level=ERROR&service=svc-a", 2},
		{"level=warning", 1},
		{"level=ALL&service=svc-b", 5},
		{"min_level=warn", 3},
		{"trace_id=4bf92f3577b34da6a3ce929d0e0e4736", 1},
		{"request_id=req-42", 1},
		{"search=" + url.QueryEscape("50%"), 3}, // % is no wildcard: "disk 500 full" does not match
		{"search=" + url.QueryEscape("a_b"), 1}, // _ is no wildcard: "axb slow" does not match
		{"search=DISK", 4},                      // case-insensitive
		{"since=" + url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)), 0},
		{"until=" + url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)), 10},
	} {
		if b := a.list(c.query); b.Count != c.want || len(b.Logs) != c.want {
			t.Errorf("%s: %d records, want %d", c.query, b.Count, c.want)
		}
	}

	// Pages of 3, newest first, cover everything once.
	var ids []int64
	cursor := ""
	for page := 0; ; page++ {
		b := a.list("limit=3&cursor=" + cursor)
		for _, r := range b.Logs {
			ids = append(ids, r.ID)
		}
		if b.NextCursor == "" {
			break
		}
		if !b.HasMore || b.Limit != 3 {
			t.Errorf("page %d: has_more %v, limit %d", page, b.HasMore, b.Limit)
		}
		cursor = b.NextCursor
		if page > 10 {
			t.Fatal("pagination does not end")
		}
	}
	if len(ids) != 10 || !slices.IsSortedFunc(ids, func(x, y int64) int { return int(y - x) }) || len(slices.Compact(slices.Clone(ids))) != 10 {
		t.Errorf("paged ids = %v, want 10 distinct, descending", ids)
	}

	// Bounds and malformed input.
	for _, q := range []string{"limit=501", "limit=0", "cursor=abc", "cursor=-1", "since=yesterday", "min_level=loud"} {
		if st := a.do(http.MethodGet, "/api/v1/logs?"+q, apiKey, "", nil, nil); st != http.StatusBadRequest && st != http.StatusUnprocessableEntity {
			t.Errorf("GET /api/v1/logs?%s: %d, want 400 or 422", q, st)
		}
	}
}

func TestAPIGetAndStats(t *testing.T) {
	a := newAPI(t)
	a.seed()
	first := a.list("request_id=req-42").Logs[0]

	var got logspg.Record
	if st := a.do(http.MethodGet, "/api/v1/logs/"+strconv.FormatInt(first.ID, 10), apiKey, "", nil, &got); st != http.StatusOK {
		t.Fatalf("GET /api/v1/logs/{id}: %d", st)
	}
	if got.Message != "a_b failed" || got.Level != "ERROR" || got.Service != "svc-a" || got.RequestID != "req-42" {
		t.Errorf("GET /api/v1/logs/{id} = %+v", got)
	}
	var problem dashcore.Problem
	if st := a.do(http.MethodGet, "/api/v1/logs/999999", apiKey, "", nil, &problem); st != http.StatusNotFound || problem.Status != 404 || problem.Detail != "Log entry not found" {
		t.Errorf("GET unknown id: %d %+v, want 404", st, problem)
	}
	for _, id := range []string{"abc", "0", "1.5"} {
		if st := a.do(http.MethodGet, "/api/v1/logs/"+id, apiKey, "", nil, nil); st != http.StatusUnprocessableEntity && st != http.StatusBadRequest {
			t.Errorf("GET /api/v1/logs/%s: %d, want 422", id, st)
		}
	}

	// /stats is its own route, not an id, and counts right.
	var stats struct {
		TimeframeHours int                   `json:"timeframe_hours"`
		Total          int64                 `json:"total"`
		ByLevel        []logspg.LevelCount   `json:"by_level"`
		ByService      []logspg.ServiceCount `json:"by_service"`
		Stats          []logspg.StatItem     `json:"stats"`
		ErrorRates     []logspg.ErrorRate    `json:"error_rates"`
	}
	if st := a.do(http.MethodGet, "/api/v1/logs/stats?hours=1", apiKey, "", nil, &stats); st != http.StatusOK {
		t.Fatalf("GET /api/v1/logs/stats: %d", st)
	}
	if stats.TimeframeHours != 1 || stats.Total != 10 {
		t.Errorf("stats: timeframe %d, total %d; want 1, 10", stats.TimeframeHours, stats.Total)
	}
	if got, want := fmt.Sprint(stats.ByLevel), "[{ERROR 2} {WARN 1} {INFO 7}]"; got != want {
		t.Errorf("by_level = %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(stats.ByService), "[{svc-a 5} {svc-b 5}]"; got != want {
		t.Errorf("by_service = %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(stats.Stats), "[{ERROR svc-a 2} {WARN svc-b 1} {INFO svc-a 3} {INFO svc-b 4}]"; got != want {
		t.Errorf("stats = %s, want %s", got, want)
	}
	var errs, total int64
	for _, h := range stats.ErrorRates {
		errs, total = errs+h.ErrorCount, total+h.TotalCount
	}
	if errs != 2 || total != 10 {
		t.Errorf("error_rates %+v sum to %d of %d, want 2 of 10", stats.ErrorRates, errs, total)
	}
	if st := a.do(http.MethodGet, "/api/v1/logs/stats?hours=0", apiKey, "", nil, nil); st != http.StatusUnprocessableEntity {
		t.Errorf("stats?hours=0: %d, want 422", st)
	}
}

func TestAPITestRoute(t *testing.T) {
	a := newAPI(t)
	var out struct {
		Message     string `json:"message"`
		LogsCreated int    `json:"logs_created"`
		RequestID   string `json:"request_id"`
	}
	if st := a.do(http.MethodPost, "/api/v1/logs/test", apiKey, "", nil, &out); st != http.StatusOK {
		t.Fatalf("POST /api/v1/logs/test: %d", st)
	}
	if out.LogsCreated != 3 || out.RequestID == "" {
		t.Fatalf("POST /api/v1/logs/test = %+v", out)
	}
	b := a.waitCount("request_id="+out.RequestID, 3)
	var levels []string
	for _, r := range b.Logs {
		levels = append(levels, r.Level+":"+r.Message)
	}
	want := []string{"ERROR:Test ERROR log entry", "WARN:Test WARNING log entry", "INFO:Test INFO log entry"}
	if !slices.Equal(levels, want) {
		t.Errorf("test records = %v, want %v", levels, want)
	}
}

func TestAPIFrontend(t *testing.T) {
	a := newAPI(t)
	type accepted struct {
		Accepted int `json:"accepted"`
		Dropped  int `json:"dropped"`
	}
	post := func(contentType, body string, out any) int {
		t.Helper()
		return a.do(http.MethodPost, "/api/v1/logs/frontend", apiKey, contentType, []byte(body), out)
	}
	var acc accepted
	if st := post("application/json", `{"level":"error","message":"TypeError: x is undefined","timestamp":"2020-01-01T00:00:00Z","url":"/projects","stack":"at f (app.js:1:2)","service":"spoofed","user_id":"spoofed","context":{"view":"board","headers":{"Authorization":"Bearer abc"}},"session_token":"s3cret"}`, &acc); st != http.StatusAccepted || acc.Accepted != 1 {
		t.Fatalf("single entry: %d %+v", st, acc)
	}
	if st := post("text/plain;charset=UTF-8", `[{"level":"info","message":"page view"},{"level":"WARNING","message":"slow render","trace_id":"0af7651916cd43dd8448eb211c80319c"}]`, &acc); st != http.StatusAccepted || acc.Accepted != 2 {
		t.Fatalf("batch as text/plain (sendBeacon): %d %+v", st, acc)
	}
	if st := post("", `{"logs":[{"level":"debug","message":"`+strings.Repeat("é", 3000)+`"}]}`, &acc); st != http.StatusAccepted || acc.Accepted != 1 {
		t.Fatalf("{logs: [...]}: %d %+v", st, acc)
	}
	b := a.waitCount("service=frontend", 4)
	for _, r := range b.Logs {
		if r.Service != logspg.FrontendService || r.UserID != "bootstrap" || r.RequestID == "" {
			t.Errorf("frontend record %+v: want service frontend, user bootstrap and the request's id", r)
		}
		if r.Timestamp.Year() == 2020 {
			t.Errorf("the browser's timestamp was used: %v", r.Timestamp)
		}
	}
	first := b.Logs[len(b.Logs)-1]
	var ctxAttrs map[string]any
	_ = json.Unmarshal(first.Context, &ctxAttrs)
	if first.Level != "ERROR" || ctxAttrs["client_timestamp"] != "2020-01-01T00:00:00Z" || ctxAttrs["url"] != "/projects" ||
		ctxAttrs["stack"] == nil || ctxAttrs["user_agent"] == nil {
		t.Errorf("first frontend record = %+v, context %v", first, ctxAttrs)
	}
	if got := string(first.Context); strings.Contains(got, "s3cret") || strings.Contains(got, "Bearer abc") || !strings.Contains(got, `"view":"board"`) || strings.Contains(got, "spoofed") {
		t.Errorf("first frontend record's context = %s, want secrets redacted and the rest kept", got)
	}
	if r := a.list("service=frontend&level=warn").Logs; len(r) != 1 || r[0].TraceID != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("warning record = %+v, want the browser's trace id", r)
	}
	if long := a.list("service=frontend&level=debug").Logs[0].Message; len(long) > logspg.MaxFrontendMessageBytes+len("…") || !strings.HasSuffix(long, "…") {
		t.Errorf("long message kept %d bytes, want it cut at %d", len(long), logspg.MaxFrontendMessageBytes)
	}

	// Refusals.
	many := "[" + strings.TrimSuffix(strings.Repeat(`{"level":"info","message":"m"},`, logspg.MaxFrontendEntries+1), ",") + "]"
	for _, c := range []struct {
		name, body string
		want       int
	}{
		{"bad level", `{"level":"loud","message":"m"}`, http.StatusUnprocessableEntity},
		{"bad level in batch", `[{"level":"info","message":"m"},{"level":5,"message":"m"}]`, http.StatusUnprocessableEntity},
		{"no message", `{"level":"info"}`, http.StatusUnprocessableEntity},
		{"empty batch", `[]`, http.StatusUnprocessableEntity},
		{"too many", many, http.StatusUnprocessableEntity},
		{"not json", `level=info`, http.StatusBadRequest},
		{"too large", `{"level":"info","message":"` + strings.Repeat("x", logspg.MaxFrontendBodyBytes) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		var p dashcore.Problem
		if st := post("application/json", c.body, &p); st != c.want {
			t.Errorf("%s: %d %+v, want %d", c.name, st, p, c.want)
		}
		if c.name == "bad level in batch" && (len(p.Errors) != 1 || p.Errors[0].Location != "body[1].level") {
			t.Errorf("%s: errors %+v, want one at body[1].level", c.name, p.Errors)
		}
	}
	if n := a.list("service=frontend").Count; n != 4 {
		t.Errorf("%d frontend records after the refusals, want 4 (a refused batch stores nothing)", n)
	}
}

func TestAPIGuarded(t *testing.T) {
	a := newAPI(t)
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/logs"}, {http.MethodGet, "/api/v1/logs/1"}, {http.MethodGet, "/api/v1/logs/stats"},
		{http.MethodPost, "/api/v1/logs/test"}, {http.MethodPost, "/api/v1/logs/frontend"},
	} {
		if st := a.do(r.method, r.path, "", "application/json", []byte(`{"level":"info","message":"m"}`), nil); st != http.StatusUnauthorized {
			t.Errorf("%s %s without a key: %d, want 401", r.method, r.path, st)
		}
	}
	if st := a.do(http.MethodGet, "/api/v1/logs", "wrong-key-0123456789", "", nil, nil); st != http.StatusUnauthorized {
		t.Errorf("wrong key: %d, want 401", st)
	}
}
