package logspg

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
)

// Record is one stored log record, as the API returns it. The JSON names
// keep the original API's where it had them (timestamp, level, service,
// message, trace_id, request_id, user_id, context).
type Record struct {
	// ID is the row's id; pages are cut by it.
	ID int64 `json:"id"`
	// Timestamp is when the record was made.
	Timestamp time.Time `json:"timestamp"`
	// Level is the level's name: DEBUG, INFO, WARN, ERROR (or INFO+2…).
	Level string `json:"level"`
	// LevelNum is slog's number of the level (DEBUG -4, INFO 0, WARN 4,
	// ERROR 8).
	LevelNum int `json:"level_num"`
	// Service names the emitting service.
	Service string `json:"service"`
	// Message is the record's message.
	Message string `json:"message"`
	// TraceID is the OpenTelemetry trace id, when known.
	TraceID string `json:"trace_id,omitempty"`
	// SpanID is the OpenTelemetry span id, when known.
	SpanID string `json:"span_id,omitempty"`
	// RequestID is the X-Request-ID of the request that logged it.
	RequestID string `json:"request_id,omitempty"`
	// UserID is the subject of the principal, when known.
	UserID string `json:"user_id,omitempty"`
	// Logger names the component that logged it.
	Logger string `json:"logger,omitempty"`
	// Source is the caller's file:line, when recorded.
	Source string `json:"source,omitempty"`
	// Context is every other attribute of the record, as a JSON object
	// (the attributes column; the original's context).
	Context json.RawMessage `json:"context"`
}

// Filter selects records for List. Zero fields do not filter.
type Filter struct {
	// Level matches the level's name exactly, case-insensitively ("warn").
	Level string
	// MinLevel, when set, keeps records at this level or above.
	MinLevel *slog.Level
	// Service matches exactly.
	Service string
	// TraceID matches exactly.
	TraceID string
	// RequestID matches exactly.
	RequestID string
	// Since keeps records made at or after it.
	Since time.Time
	// Until keeps records made before it.
	Until time.Time
	// Search keeps records whose message contains it, case-insensitively
	// (no wildcards: % and _ match themselves).
	Search string
	// BeforeID keeps records with a smaller id: the id of the last record
	// of the previous page.
	BeforeID int64
	// Limit caps the records returned: 0 means DefaultLimit; above
	// MaxLimit, or negative, is refused (dashcore.ErrInvalid).
	Limit int
}

// The page sizes of List.
const (
	// DefaultLimit is the page size when Filter.Limit is 0.
	DefaultLimit = 100
	// MaxLimit is the most records one List call returns.
	MaxLimit = 500
)

// Repository reads application_logs.
type Repository struct {
	db store.Querier
}

// NewRepository returns a repository on db (a *store.DB, a transaction…).
func NewRepository(db store.Querier) *Repository { return &Repository{db: db} }

const recordColumns = `id, ts, level, level_num, service, message, COALESCE(trace_id, ''), COALESCE(span_id, ''),
    COALESCE(request_id, ''), COALESCE(user_id, ''), COALESCE(logger, ''), COALESCE(source, ''), attributes`

func scanRecord(row pgx.CollectableRow) (Record, error) {
	var r Record
	var attrs []byte
	err := row.Scan(&r.ID, &r.Timestamp, &r.Level, &r.LevelNum, &r.Service, &r.Message, &r.TraceID, &r.SpanID,
		&r.RequestID, &r.UserID, &r.Logger, &r.Source, &attrs)
	r.Context = attrs
	return r, err
}

// List returns the records matching f, newest (highest id) first.
func (r *Repository) List(ctx context.Context, f Filter) ([]Record, error) {
	var w where
	if f.Level != "" {
		w.add("level = ?", strings.ToUpper(f.Level))
	}
	if f.MinLevel != nil {
		w.add("level_num >= ?", int(*f.MinLevel))
	}
	if f.Service != "" {
		w.add("service = ?", f.Service)
	}
	if f.TraceID != "" {
		w.add("trace_id = ?", f.TraceID)
	}
	if f.RequestID != "" {
		w.add("request_id = ?", f.RequestID)
	}
	if !f.Since.IsZero() {
		w.add("ts >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		w.add("ts < ?", f.Until)
	}
	if f.Search != "" {
		w.add(`message ILIKE '%' || ? || '%'`, escapeLike(f.Search))
	}
	if f.BeforeID > 0 {
		w.add("id < ?", f.BeforeID)
	}
	limit := f.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 0 || limit > MaxLimit {
		return nil, dashcore.NewError(dashcore.ErrInvalid, fmt.Sprintf("limit must be from 1 to %d", MaxLimit), nil)
	}
	q := "SELECT " + recordColumns + " FROM application_logs" + w.sql() +
		" ORDER BY id DESC LIMIT " + strconv.Itoa(limit)
	rows, err := r.db.Query(ctx, q, w.args...)
	if err != nil {
		return nil, fmt.Errorf("logspg: list logs: %w", store.MapError(err))
	}
	recs, err := pgx.CollectRows(rows, scanRecord)
	if err != nil {
		return nil, fmt.Errorf("logspg: list logs: %w", store.MapError(err))
	}
	return recs, nil
}

// Get returns the record with id, or an error wrapping store.ErrNotFound.
func (r *Repository) Get(ctx context.Context, id int64) (Record, error) {
	rows, err := r.db.Query(ctx, "SELECT "+recordColumns+" FROM application_logs WHERE id = $1", id)
	if err != nil {
		return Record{}, fmt.Errorf("logspg: get log %d: %w", id, store.MapError(err))
	}
	rec, err := pgx.CollectExactlyOneRow(rows, scanRecord)
	if err != nil {
		return Record{}, fmt.Errorf("logspg: get log %d: %w", id, store.MapError(err))
	}
	return rec, nil
}

// Stats counts the records of a time window.
type Stats struct {
	// Since and Until bound the window: [Since, Until).
	Since time.Time
	// Until is the window's end.
	Until time.Time
	// Total counts every record of the window.
	Total int64
	// ByLevelService counts by level and service, sorted by level
	// (highest first), then service.
	ByLevelService []LevelServiceCount
	// Hourly counts per hour (UTC) that has records, oldest first.
	Hourly []HourCount
}

// LevelServiceCount is the count of one level and service.
type LevelServiceCount struct {
	// Level is the level's name.
	Level string
	// LevelNum is the level's number.
	LevelNum int
	// Service names the service.
	Service string
	// Count counts the records.
	Count int64
}

// HourCount is the count of one hour.
type HourCount struct {
	// Hour is the hour's start, UTC.
	Hour time.Time
	// Errors counts records at ERROR or above.
	Errors int64
	// Total counts every record.
	Total int64
}

// Stats counts the records made in [since, until).
func (r *Repository) Stats(ctx context.Context, since, until time.Time) (Stats, error) {
	s := Stats{Since: since, Until: until}
	rows, err := r.db.Query(ctx, `SELECT level, level_num, service, count(*) FROM application_logs
		WHERE ts >= $1 AND ts < $2 GROUP BY level, level_num, service ORDER BY level_num DESC, level, service`, since, until)
	if err != nil {
		return s, fmt.Errorf("logspg: log stats: %w", store.MapError(err))
	}
	s.ByLevelService, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (LevelServiceCount, error) {
		var c LevelServiceCount
		err := row.Scan(&c.Level, &c.LevelNum, &c.Service, &c.Count)
		return c, err
	})
	if err != nil {
		return s, fmt.Errorf("logspg: log stats: %w", store.MapError(err))
	}
	for _, c := range s.ByLevelService {
		s.Total += c.Count
	}
	rows, err = r.db.Query(ctx, `SELECT date_trunc('hour', ts, 'UTC'), count(*) FILTER (WHERE level_num >= $3), count(*)
		FROM application_logs WHERE ts >= $1 AND ts < $2 GROUP BY 1 ORDER BY 1`, since, until, int(slog.LevelError))
	if err != nil {
		return s, fmt.Errorf("logspg: log stats: %w", store.MapError(err))
	}
	s.Hourly, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (HourCount, error) {
		var h HourCount
		err := row.Scan(&h.Hour, &h.Errors, &h.Total)
		h.Hour = h.Hour.UTC()
		return h, err
	})
	if err != nil {
		return s, fmt.Errorf("logspg: log stats: %w", store.MapError(err))
	}
	return s, nil
}

// escapeLike makes s match itself in a LIKE pattern (escape character \).
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// where builds a WHERE clause with numbered parameters.
type where struct {
	conds []string
	args  []any
}

// add appends cond, whose one ? becomes the next parameter.
func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, strings.Replace(cond, "?", "$"+strconv.Itoa(len(w.args)), 1))
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}
