package logspg

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"go.opentelemetry.io/otel/trace"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
)

// The limits of POST /api/v1/logs/frontend.
const (
	// FrontendService is the service of every browser log record.
	FrontendService = "frontend"
	// MaxFrontendEntries is the most entries one request may carry.
	MaxFrontendEntries = 100
	// MaxFrontendBodyBytes is the largest request body accepted.
	MaxFrontendBodyBytes = 64 << 10
	// MaxFrontendMessageBytes caps an entry's message; longer ones are cut.
	MaxFrontendMessageBytes = 4096
)

// NewRoutes returns the logs API: GET /api/v1/logs, GET
// /api/v1/logs/stats, GET /api/v1/logs/{id} (logs:read), POST
// /api/v1/logs/test (logs:write) and POST /api/v1/logs/frontend (any
// authenticated caller). repo reads the table; queue takes the browser's
// records; log is the process logger the test records go through (nil:
// straight into queue).
func NewRoutes(repo *Repository, queue *Queue, log *slog.Logger) dashcore.Routes {
	if log == nil {
		log = slog.New(queue)
	}
	r := &routes{repo: repo, queue: queue, log: log}
	return dashcore.Routes{Name: "logs", Register: r.register}
}

type routes struct {
	repo  *Repository
	queue *Queue
	log   *slog.Logger
}

type listLogsInput struct {
	Level     string    `query:"level" doc:"Exact level name, case-insensitive: debug, info, warn, error (or INFO+2…). ALL means no filter, as in the original."`
	MinLevel  string    `query:"min_level" enum:"debug,info,warn,error" doc:"This level or above."`
	Service   string    `query:"service" doc:"Exact service. ALL means no filter."`
	TraceID   string    `query:"trace_id" doc:"Exact trace id."`
	RequestID string    `query:"request_id" doc:"Exact request id."`
	Since     time.Time `query:"since" doc:"Made at or after (RFC 3339)."`
	Until     time.Time `query:"until" doc:"Made before (RFC 3339)."`
	Search    string    `query:"search" maxLength:"200" doc:"Case-insensitive substring of the message (% and _ match themselves)."`
	Limit     int       `query:"limit" minimum:"1" maximum:"500" default:"100"`
	Cursor    string    `query:"cursor" doc:"next_cursor of the previous page."`
}

type listLogsOutput struct {
	Body struct {
		Logs       []Record `json:"logs"`
		Count      int      `json:"count" doc:"Records in this page."`
		Limit      int      `json:"limit"`
		HasMore    bool     `json:"has_more" doc:"Whether an older page may follow."`
		NextCursor string   `json:"next_cursor,omitempty" doc:"Pass as cursor for the next (older) page; absent on the last page."`
	}
}

type logIDInput struct {
	ID int64 `path:"id" minimum:"1" doc:"The record's id."`
}

type logOutput struct {
	Body Record
}

type statsInput struct {
	Hours int `query:"hours" minimum:"1" maximum:"720" default:"24" doc:"The window: the last hours hours."`
}

// LevelCount is a count by level of GET /api/v1/logs/stats.
type LevelCount struct {
	// Level is the level's name.
	Level string `json:"level"`
	// Count counts the records.
	Count int64 `json:"count"`
}

// ServiceCount is a count by service of GET /api/v1/logs/stats.
type ServiceCount struct {
	// Service names the service.
	Service string `json:"service"`
	// Count counts the records.
	Count int64 `json:"count"`
}

// StatItem is a count by level and service (the original's stats items).
type StatItem struct {
	// Level is the level's name.
	Level string `json:"level"`
	// Service names the service.
	Service string `json:"service"`
	// Count counts the records.
	Count int64 `json:"count"`
}

// ErrorRate is one hour of GET /api/v1/logs/stats (the original's
// error_rates items).
type ErrorRate struct {
	// Hour is the hour's start, UTC.
	Hour time.Time `json:"hour"`
	// ErrorCount counts records at ERROR or above.
	ErrorCount int64 `json:"error_count"`
	// TotalCount counts every record.
	TotalCount int64 `json:"total_count"`
	// ErrorRate is ErrorCount / TotalCount.
	ErrorRate float64 `json:"error_rate"`
}

type statsOutput struct {
	Body struct {
		TimeframeHours int            `json:"timeframe_hours"`
		Since          time.Time      `json:"since"`
		Total          int64          `json:"total"`
		ByLevel        []LevelCount   `json:"by_level"`
		ByService      []ServiceCount `json:"by_service"`
		Stats          []StatItem     `json:"stats"`
		ErrorRates     []ErrorRate    `json:"error_rates"`
		GeneratedAt    time.Time      `json:"generated_at"`
	}
}

type testLogOutput struct {
	Body struct {
		Message     string    `json:"message" example:"Test log entries created successfully"`
		LogsCreated int       `json:"logs_created" doc:"Records logged (at INFO, WARN and ERROR); those below the sink's level are not stored."`
		Timestamp   time.Time `json:"timestamp"`
		RequestID   string    `json:"request_id" doc:"Find the records with GET /api/v1/logs?request_id=…"`
		TraceID     string    `json:"trace_id,omitempty"`
	}
}

type frontendInput struct {
	UserAgent string `header:"User-Agent"`
	RawBody   []byte
}

type frontendOutput struct {
	Status int
	Body   struct {
		Accepted int `json:"accepted" doc:"Entries queued for storage."`
		Dropped  int `json:"dropped" doc:"Entries dropped because the log queue is full."`
	}
}

// FrontendEntry documents an entry of POST /api/v1/logs/frontend. Fields
// other than these are kept in the record's context.
type FrontendEntry struct {
	// Level is debug, info, warn, warning, error, fatal or critical, in
	// any case.
	Level string `json:"level" enum:"debug,info,warn,warning,error,fatal,critical" doc:"Case-insensitive."`
	// Message is the entry's text; longer than 4096 bytes, it is cut.
	Message string `json:"message" minLength:"1" doc:"Cut at 4096 bytes."`
	// Timestamp is the browser's time, kept in context as
	// client_timestamp; the record is stamped on arrival.
	Timestamp string `json:"timestamp,omitempty" doc:"The browser's time (kept in context as client_timestamp; the record is stamped on arrival)."`
	// TraceID, 32 hex digits, links the entry to a trace; otherwise the
	// request's trace is used.
	TraceID string `json:"trace_id,omitempty" doc:"32 hex digits; otherwise the request's trace is used."`
	// Logger names the browser's component.
	Logger string `json:"logger,omitempty"`
	// URL is the page the entry comes from.
	URL string `json:"url,omitempty"`
	// Stack is an error's stack trace.
	Stack string `json:"stack,omitempty"`
	// Context is any JSON value the browser adds.
	Context json.RawMessage `json:"context,omitempty"`
}

func (r *routes) register(api huma.API) {
	tags := []string{"logs"}
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "list-logs", Method: http.MethodGet, Path: "/api/v1/logs", Tags: tags,
		Summary:     "List log records",
		Description: "Stored log records, newest first, filtered, with bounded pagination (cursor).",
		Errors:      auth.Guarded(http.StatusBadRequest),
		Responses: dashcore.ExampleResponse(http.StatusOK, map[string]any{
			"logs": []Record{exampleRecord}, "count": 1, "limit": 100, "has_more": false}),
	}, "logs", "read"), r.list)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "log-stats", Method: http.MethodGet, Path: "/api/v1/logs/stats", Tags: tags,
		Summary:     "Count log records",
		Description: "Counts by level and by service over the last hours hours, and error rates per hour.",
		Errors:      auth.Guarded(),
		Responses:   dashcore.ExampleResponse(http.StatusOK, exampleStats),
	}, "logs", "read"), r.stats)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "get-log", Method: http.MethodGet, Path: "/api/v1/logs/{id}", Tags: tags,
		Summary:   "Get a log record",
		Errors:    auth.Guarded(http.StatusNotFound),
		Responses: dashcore.ExampleResponse(http.StatusOK, exampleRecord),
	}, "logs", "read"), r.get)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "write-test-logs", Method: http.MethodPost, Path: "/api/v1/logs/test", Tags: tags,
		Summary: "Log test records",
		Description: "Logs \"Test INFO log entry\", \"Test WARNING log entry\" and \"Test ERROR log entry\" through the process logger. " +
			"They reach the database asynchronously, within a second normally; find them by the returned request_id.",
		Errors: auth.Guarded(),
		Responses: dashcore.ExampleResponse(http.StatusOK, map[string]any{"message": "Test log entries created successfully", "logs_created": 3,
			"timestamp": exampleTime, "request_id": exampleRecord.RequestID, "trace_id": exampleRecord.TraceID}),
	}, "logs", "write"), r.test)

	entry := huma.Schema{Type: "object"}
	if s := api.OpenAPI().Components.Schemas.Schema(reflectFrontendEntry, true, "FrontendEntry"); s != nil {
		entry = *s
	}
	huma.Register(api, auth.RequireAuthenticated(huma.Operation{
		OperationID: "post-frontend-logs", Method: http.MethodPost, Path: "/api/v1/logs/frontend", Tags: tags,
		Summary: "Store the browser's log entries",
		Description: fmt.Sprintf("One entry, an array of up to %d, or {\"logs\": [...]}. JSON with any content type "+
			"(navigator.sendBeacon sends text/plain). The entries are queued (202), never written on the request's path; "+
			"their service is %q and their user_id the caller's subject.", MaxFrontendEntries, FrontendService),
		MaxBodyBytes:  MaxFrontendBodyBytes,
		DefaultStatus: http.StatusAccepted,
		// The handler reads and checks the body itself, whatever its
		// content type (sendBeacon's text/plain included).
		SkipValidateBody: true,
		Errors:           []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity},
		Responses: map[string]*huma.Response{strconv.Itoa(http.StatusAccepted): {
			Content: map[string]*huma.MediaType{"application/json": {Example: map[string]int{"accepted": 2, "dropped": 0}}},
		}},
		RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
			"application/json": {Example: exampleFrontendEntries, Schema: &huma.Schema{OneOf: []*huma.Schema{
				&entry,
				{Type: "array", Items: &entry, MinItems: ptr(1), MaxItems: ptr(MaxFrontendEntries)},
				{Type: "object", Properties: map[string]*huma.Schema{
					"logs": {Type: "array", Items: &entry, MinItems: ptr(1), MaxItems: ptr(MaxFrontendEntries)}}},
			}}},
		}},
	}), r.frontend)
	// huma documents a RawBody as octet-stream; the body is JSON, sent as
	// application/json or, by sendBeacon, as text/plain.
	if item := api.OpenAPI().Paths["/api/v1/logs/frontend"]; item != nil && item.Post != nil && item.Post.RequestBody != nil {
		c := item.Post.RequestBody.Content
		delete(c, "application/octet-stream")
		if j := c["application/json"]; j != nil {
			c["text/plain"] = j
		}
	}
}

func ptr[T any](v T) *T { return &v }

func (r *routes) list(ctx context.Context, in *listLogsInput) (*listLogsOutput, error) {
	f := Filter{TraceID: in.TraceID, RequestID: in.RequestID, Since: in.Since, Until: in.Until,
		Search: in.Search, Limit: in.Limit}
	switch l := strings.ToUpper(in.Level); l {
	case "ALL":
	case "WARNING": // the original's and Python's name
		f.Level = "WARN"
	case "CRITICAL", "FATAL":
		f.Level = (slog.LevelError + 4).String()
	default:
		f.Level = l
	}
	if !strings.EqualFold(in.Service, "ALL") {
		f.Service = in.Service
	}
	if in.MinLevel != "" {
		var l slog.Level
		if err := l.UnmarshalText([]byte(in.MinLevel)); err != nil {
			return nil, dashcore.NewError(dashcore.ErrBadRequest, "min_level must be debug, info, warn or error", err)
		}
		f.MinLevel = &l
	}
	if in.Cursor != "" {
		id, err := strconv.ParseInt(in.Cursor, 10, 64)
		if err != nil || id < 1 {
			return nil, dashcore.NewError(dashcore.ErrBadRequest, "cursor is not one this API returned", err)
		}
		f.BeforeID = id
	}
	recs, err := r.repo.List(ctx, f)
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	out := &listLogsOutput{}
	out.Body.Logs, out.Body.Count, out.Body.Limit = recs, len(recs), in.Limit
	if out.Body.Logs == nil {
		out.Body.Logs = []Record{}
	}
	if len(recs) == in.Limit && in.Limit > 0 {
		out.Body.HasMore = true
		out.Body.NextCursor = strconv.FormatInt(recs[len(recs)-1].ID, 10)
	}
	return out, nil
}

func (r *routes) get(ctx context.Context, in *logIDInput) (*logOutput, error) {
	rec, err := r.repo.Get(ctx, in.ID)
	if errors.Is(err, dashcore.ErrNotFound) {
		// The original's detail.
		return nil, dashcore.NewError(dashcore.ErrNotFound, "Log entry not found", err)
	}
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	return &logOutput{Body: rec}, nil
}

func (r *routes) stats(ctx context.Context, in *statsInput) (*statsOutput, error) {
	now := time.Now()
	s, err := r.repo.Stats(ctx, now.Add(-time.Duration(in.Hours)*time.Hour), now.Add(time.Minute))
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	out := &statsOutput{}
	b := &out.Body
	b.TimeframeHours, b.Since, b.Total, b.GeneratedAt = in.Hours, s.Since.UTC(), s.Total, now.UTC()
	b.ByLevel, b.ByService, b.Stats, b.ErrorRates = []LevelCount{}, []ServiceCount{}, []StatItem{}, []ErrorRate{}
	byService := map[string]int64{}
	for _, c := range s.ByLevelService {
		b.Stats = append(b.Stats, StatItem{Level: c.Level, Service: c.Service, Count: c.Count})
		if n := len(b.ByLevel); n > 0 && b.ByLevel[n-1].Level == c.Level {
			b.ByLevel[n-1].Count += c.Count
		} else {
			b.ByLevel = append(b.ByLevel, LevelCount{Level: c.Level, Count: c.Count})
		}
		byService[c.Service] += c.Count
	}
	for svc, n := range byService {
		b.ByService = append(b.ByService, ServiceCount{Service: svc, Count: n})
	}
	slices.SortFunc(b.ByService, func(x, y ServiceCount) int {
		if x.Count != y.Count {
			return int(y.Count - x.Count)
		}
		return strings.Compare(x.Service, y.Service)
	})
	for _, h := range s.Hourly {
		b.ErrorRates = append(b.ErrorRates, ErrorRate{Hour: h.Hour, ErrorCount: h.Errors, TotalCount: h.Total,
			ErrorRate: float64(h.Errors) / float64(h.Total)})
	}
	return out, nil
}

func (r *routes) test(ctx context.Context, _ *struct{}) (*testLogOutput, error) {
	r.log.LogAttrs(ctx, slog.LevelInfo, "Test INFO log entry", slog.String("category", "API"), slog.Bool("test", true))
	r.log.LogAttrs(ctx, slog.LevelWarn, "Test WARNING log entry", slog.String("category", "API"), slog.Bool("test", true))
	r.log.LogAttrs(ctx, slog.LevelError, "Test ERROR log entry", slog.String("category", "API"), slog.Bool("test", true),
		slog.String("error_code", "TEST_ERROR"))
	out := &testLogOutput{}
	out.Body.Message, out.Body.LogsCreated, out.Body.Timestamp = "Test log entries created successfully", 3, time.Now().UTC()
	out.Body.RequestID = dashcore.RequestID(ctx)
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		out.Body.TraceID = sc.TraceID().String()
	}
	return out, nil
}

// frontendLevels maps the browser's level names to slog levels.
var frontendLevels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "warning": slog.LevelWarn,
	"error": slog.LevelError, "fatal": slog.LevelError + 4, "critical": slog.LevelError + 4,
}

func (r *routes) frontend(ctx context.Context, in *frontendInput) (*frontendOutput, error) {
	raw, err := splitEntries(in.RawBody)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	base := Entry{Time: now, Service: FrontendService, RequestID: dashcore.RequestID(ctx)}
	if p := auth.PrincipalFrom(ctx); p != nil {
		base.UserID = p.Subject
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		base.TraceID, base.SpanID = sc.TraceID().String(), sc.SpanID().String()
	}
	client := auth.ClientInfoFrom(ctx)
	if client.UserAgent == "" {
		client.UserAgent = in.UserAgent
	}
	entries := make([]Entry, 0, len(raw))
	var problems []*huma.ErrorDetail
	for i, m := range raw {
		e, detail := frontendEntry(base, m, client)
		if detail != nil {
			if len(raw) > 1 || in.RawBody[0] == '[' {
				detail.Location = fmt.Sprintf("body[%d].%s", i, detail.Location)
			} else {
				detail.Location = "body." + detail.Location
			}
			problems = append(problems, detail)
			continue
		}
		entries = append(entries, e)
	}
	if len(problems) > 0 {
		return nil, &dashcore.Error{Kind: dashcore.ErrInvalid, Detail: "some log entries are invalid; none was stored", Fields: problems}
	}
	out := &frontendOutput{Status: http.StatusAccepted}
	for _, e := range entries {
		if r.queue.Enqueue(e) {
			out.Body.Accepted++
		} else {
			out.Body.Dropped++
		}
	}
	return out, nil
}

// splitEntries reads a body of one entry, an array of entries or
// {"logs": [...]}, into the entries' fields.
func splitEntries(body []byte) ([]map[string]json.RawMessage, error) {
	body = bytes.TrimSpace(body)
	bad := func(err error) error {
		return dashcore.NewError(dashcore.ErrBadRequest, "the body must be a JSON log entry, an array of entries, or {\"logs\": [...]}", err)
	}
	if len(body) == 0 {
		return nil, bad(errors.New("empty body"))
	}
	var entries []map[string]json.RawMessage
	switch body[0] {
	case '[':
		if err := json.Unmarshal(body, &entries); err != nil {
			return nil, bad(err)
		}
	case '{':
		var one map[string]json.RawMessage
		if err := json.Unmarshal(body, &one); err != nil {
			return nil, bad(err)
		}
		if logs, ok := one["logs"]; ok && one["message"] == nil {
			if err := json.Unmarshal(logs, &entries); err != nil {
				return nil, bad(err)
			}
		} else {
			entries = []map[string]json.RawMessage{one}
		}
	default:
		return nil, bad(errors.New("not a JSON object or array"))
	}
	if len(entries) == 0 {
		return nil, dashcore.NewError(dashcore.ErrInvalid, "no log entries", nil)
	}
	if len(entries) > MaxFrontendEntries {
		return nil, dashcore.NewError(dashcore.ErrInvalid, fmt.Sprintf("at most %d log entries per request; send the rest in another", MaxFrontendEntries), nil)
	}
	return entries, nil
}

// frontendEntry makes the queue entry of one browser entry, or says what
// is wrong with it (Location relative to the entry).
func frontendEntry(base Entry, m map[string]json.RawMessage, client auth.ClientInfo) (Entry, *huma.ErrorDetail) {
	if m == nil {
		return base, &huma.ErrorDetail{Location: "", Message: "must be an object"}
	}
	e := base
	var level string
	if err := json.Unmarshal(m["level"], &level); err != nil {
		return e, &huma.ErrorDetail{Location: "level", Message: "must be a string: debug, info, warn, warning, error, fatal or critical"}
	}
	l, ok := frontendLevels[strings.ToLower(level)]
	if !ok {
		return e, &huma.ErrorDetail{Location: "level", Message: "must be debug, info, warn, warning, error, fatal or critical", Value: level}
	}
	e.Level = l
	if err := json.Unmarshal(m["message"], &e.Message); err != nil || strings.TrimSpace(e.Message) == "" {
		return e, &huma.ErrorDetail{Location: "message", Message: "must be a non-empty string"}
	}
	if len(e.Message) > MaxFrontendMessageBytes {
		cut := MaxFrontendMessageBytes
		for cut > 0 && (e.Message[cut]&0xC0) == 0x80 {
			cut--
		}
		e.Message = e.Message[:cut] + "…"
	}
	var s string
	if json.Unmarshal(m["trace_id"], &s) == nil && validTraceID(s) {
		e.TraceID, e.SpanID = strings.ToLower(s), ""
	}
	if json.Unmarshal(m["logger"], &s) == nil && s != "" {
		e.Logger = s
	}
	// The columns the server sets are not the browser's to choose.
	for _, k := range []string{"level", "message", "trace_id", "logger", "service", "user_id", "request_id", "span_id"} {
		delete(m, k)
	}
	// The rest is context; the browser's timestamp under client_timestamp
	// (the record is stamped on arrival, so retention and ordering are
	// the server's).
	if ts, ok := m["timestamp"]; ok {
		delete(m, "timestamp")
		m["client_timestamp"] = ts
	}
	if client.IP != "" {
		m["client_ip"], _ = json.Marshal(client.IP)
	}
	if client.UserAgent != "" {
		m["user_agent"], _ = json.Marshal(client.UserAgent)
	}
	redactRaw(m)
	if len(m) > 0 {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b := []byte{'{'}
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = append(b, bytes.ReplaceAll(m[k], []byte(`\u0000`), []byte(`\ufffd`))...)
		}
		e.Attributes = append(b, '}')
	}
	return e, nil
}

func validTraceID(s string) bool {
	if len(s) != 32 {
		return false
	}
	b, err := hex.DecodeString(s)
	return err == nil && !bytes.Equal(b, make([]byte, 16))
}

var reflectFrontendEntry = reflect.TypeFor[FrontendEntry]()

// secretKeys are the parts of a key whose value the browser's entries must
// not store (they bypass the process logger and its redaction).
var secretKeys = []string{"password", "passwd", "secret", "token", "authorization", "cookie", "api_key", "apikey", "api-key", "session"}

const redacted = "[REDACTED]"

func secretKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range secretKeys {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// redactRaw replaces the values of secret-looking keys in m, and in the
// objects it holds, at any depth.
func redactRaw(m map[string]json.RawMessage) {
	for k, raw := range m {
		if secretKey(k) {
			m[k] = json.RawMessage(`"` + redacted + `"`)
			continue
		}
		if t := bytes.TrimSpace(raw); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
			var v any
			if json.Unmarshal(t, &v) != nil {
				continue
			}
			if redactValue(v) {
				if b, err := json.Marshal(v); err == nil {
					m[k] = b
				}
			}
		}
	}
}

// redactValue redacts v (decoded JSON) in place and reports whether it
// changed anything.
func redactValue(v any) bool {
	changed := false
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			if secretKey(k) {
				x[k], changed = redacted, true
				continue
			}
			changed = redactValue(sub) || changed
		}
	case []any:
		for _, sub := range x {
			changed = redactValue(sub) || changed
		}
	}
	return changed
}

// The examples of the API's documentation.
var (
	exampleTime   = time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC)
	exampleRecord = Record{ID: 90211, Timestamp: exampleTime, Level: "ERROR", LevelNum: 8, Service: "taylordash-backend",
		Message: "Test ERROR log entry", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7",
		RequestID: "01JH5V6Y9Q2R3S4T5U6V7W8X9Y", Context: json.RawMessage(`{"category":"API","error_code":"TEST_ERROR","test":true}`)}
	exampleStats = map[string]any{"timeframe_hours": 24, "since": exampleTime.Add(-24 * time.Hour), "total": 120,
		"by_level":     []LevelCount{{Level: "INFO", Count: 100}, {Level: "WARN", Count: 15}, {Level: "ERROR", Count: 5}},
		"by_service":   []ServiceCount{{Service: "taylordash-backend", Count: 112}, {Service: FrontendService, Count: 8}},
		"stats":        []StatItem{{Level: "INFO", Service: "taylordash-backend", Count: 95}, {Level: "INFO", Service: FrontendService, Count: 5}},
		"error_rates":  []ErrorRate{{Hour: exampleTime.Truncate(time.Hour), ErrorCount: 2, TotalCount: 40, ErrorRate: 0.05}},
		"generated_at": exampleTime}
	exampleFrontendEntries = []FrontendEntry{{Level: "error", Message: "Failed to load the projects",
		Timestamp: "2026-01-05T09:29:58.120Z", Logger: "ProjectsPage", URL: "https://dashboard.example/projects",
		Context: json.RawMessage(`{"status":503}`)}}
)
