package logspg

import (
	"context"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"

	"github.com/taylordash/taylordash/dashcore"
)

// Entry is one log record as stored in application_logs. The Queue makes
// them from slog records; POST /api/v1/logs/frontend makes them from the
// browser's entries.
type Entry struct {
	// Time is when the record was made.
	Time time.Time
	// Level is the record's level; the table stores its name (INFO,
	// WARN+1, …) and its number.
	Level slog.Level
	// Service names the emitting service ("frontend" for browser logs).
	Service string
	// Message is the record's message.
	Message string
	// TraceID and SpanID are the OpenTelemetry ids, hex, when known.
	TraceID string
	// SpanID is the OpenTelemetry span id, hex, when known.
	SpanID string
	// RequestID is the X-Request-ID of the request that logged it.
	RequestID string
	// UserID is the subject of the principal, when known.
	UserID string
	// Logger names the component that logged it (the "logger", "module"
	// or "component" attribute).
	Logger string
	// Source is the caller's file:line (QueueConfig.AddSource).
	Source string
	// Attributes is every other attribute, as a JSON object; nil means {}.
	Attributes []byte
}

// Queue is the log sink: a slog.Handler that copies each record into a
// bounded in-memory ring, from which a Writer stores them in batches. It
// never blocks: when the ring is full (the database is down or slow) the
// record is dropped and counted (Dropped). It has no dependencies, so the
// process logger can include it before the database exists.
//
// Handle, Enqueue and every method are safe for concurrent use. A Queue is
// drained by one Writer at a time.
type Queue struct {
	cfg QueueConfig

	mu   sync.Mutex
	buf  []Entry
	head int // index of the oldest entry
	n    int // entries held
	// length mirrors n, for Handle's lock-free check that the queue is
	// full (so that records dropped in an outage cost no encoding).
	length atomic.Int64

	// wakeAt is the length at which the writer wants a signal (its batch
	// size); signal is sent (without blocking) when the queue goes from
	// empty to not empty and when it reaches wakeAt.
	wakeAt atomic.Int64
	signal chan struct{}

	claimed     atomic.Bool
	enqueued    atomic.Uint64
	droppedFull atomic.Uint64
	droppedFail atomic.Uint64
}

var _ slog.Handler = (*Queue)(nil)

// NewQueue returns an empty queue of cfg (defaults applied).
func NewQueue(cfg QueueConfig) *Queue {
	cfg = cfg.WithDefaults()
	q := &Queue{cfg: cfg, buf: make([]Entry, cfg.Capacity), signal: make(chan struct{}, 1)}
	q.wakeAt.Store(int64(cfg.Capacity))
	return q
}

// Enabled reports whether level is at least the configured level.
func (q *Queue) Enabled(_ context.Context, level slog.Level) bool {
	return level >= q.cfg.Level.Level()
}

// Handle copies r into the queue, or drops it (counted) when the queue is
// full; it never waits and never fails. Attributes named trace_id,
// span_id, request_id, service, user_id and logger (outside any group)
// fill their columns; without them the trace and span come from ctx's
// span context and the request id from dashcore.RequestID(ctx).
func (q *Queue) Handle(ctx context.Context, r slog.Record) error {
	return handler{q: q}.Handle(ctx, r)
}

// WithAttrs returns a handler that adds attrs to every record, into the
// same queue.
func (q *Queue) WithAttrs(attrs []slog.Attr) slog.Handler {
	return handler{q: q}.WithAttrs(attrs)
}

// WithGroup returns a handler that puts later attributes in group name,
// into the same queue.
func (q *Queue) WithGroup(name string) slog.Handler {
	return handler{q: q}.WithGroup(name)
}

// Enqueue adds e as it is (its fields are stored, after the message is
// capped and text made valid UTF-8), or drops it when the queue is full.
// It reports whether e was queued; it never waits.
func (q *Queue) Enqueue(e Entry) bool {
	e.Message = q.capMessage(e.Message)
	for _, s := range []*string{&e.Service, &e.TraceID, &e.SpanID, &e.RequestID, &e.UserID, &e.Logger, &e.Source} {
		*s = cleanText(*s)
	}
	if e.Service == "" {
		e.Service = q.cfg.Service
	}
	if len(e.Attributes) > q.cfg.MaxAttributesBytes {
		e.Attributes = truncatedAttributes(len(e.Attributes))
	}
	return q.push(e)
}

func (q *Queue) push(e Entry) bool {
	q.mu.Lock()
	if q.n == len(q.buf) {
		q.mu.Unlock()
		q.droppedFull.Add(1)
		return false
	}
	q.buf[(q.head+q.n)%len(q.buf)] = e
	q.n++
	n := q.n
	q.length.Store(int64(n))
	q.mu.Unlock()
	q.enqueued.Add(1)
	if n == 1 || int64(n) == q.wakeAt.Load() {
		select {
		case q.signal <- struct{}{}:
		default:
		}
	}
	return true
}

// Len returns how many records the queue holds.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// Cap returns the queue's capacity.
func (q *Queue) Cap() int { return len(q.buf) }

// Dropped returns how many records were lost: dropped because the queue
// was full, plus those the database refused for good (see DropStats).
func (q *Queue) Dropped() uint64 {
	return q.droppedFull.Load() + q.droppedFail.Load()
}

// DropStats counts lost records by cause.
type DropStats struct {
	// QueueFull counts records dropped because the queue was full.
	QueueFull uint64
	// WriteFailed counts records the database refused for a reason other
	// than its availability, after the writer's attempts.
	WriteFailed uint64
}

// DropStats returns the lost records by cause.
func (q *Queue) DropStats() DropStats {
	return DropStats{QueueFull: q.droppedFull.Load(), WriteFailed: q.droppedFail.Load()}
}

// Enqueued returns how many records were accepted into the queue since it
// was made.
func (q *Queue) Enqueued() uint64 { return q.enqueued.Load() }

// claim makes the caller the queue's only consumer; it reports false when
// another holds it.
func (q *Queue) claim(wakeAt int) bool {
	if !q.claimed.CompareAndSwap(false, true) {
		return false
	}
	q.wakeAt.Store(int64(wakeAt))
	return true
}

func (q *Queue) release() { q.claimed.Store(false) }

// peek appends up to max of the oldest entries to dst, leaving them in
// the queue until commit.
func (q *Queue) peek(dst []Entry, max int) []Entry {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := 0; i < min(max, q.n); i++ {
		dst = append(dst, q.buf[(q.head+i)%len(q.buf)])
	}
	return dst
}

// commit removes the n oldest entries (written, or given up on).
func (q *Queue) commit(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, q.n)
	for i := range n {
		q.buf[(q.head+i)%len(q.buf)] = Entry{} // let the strings go
	}
	q.head = (q.head + n) % len(q.buf)
	q.n -= n
	q.length.Store(int64(q.n))
}

// handler is the Queue with attributes and groups added by WithAttrs and
// WithGroup.
type handler struct {
	q     *Queue
	steps []step // in order; each is a group opened or attrs added
}

// step is one WithGroup (group != "") or WithAttrs call.
type step struct {
	group string
	attrs []slog.Attr
}

func (h handler) Enabled(ctx context.Context, level slog.Level) bool { return h.q.Enabled(ctx, level) }

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h.steps = append(h.steps[:len(h.steps):len(h.steps)], step{attrs: append([]slog.Attr(nil), attrs...)})
	return h
}

func (h handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h.steps = append(h.steps[:len(h.steps):len(h.steps)], step{group: name})
	return h
}

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	q := h.q
	if q.length.Load() >= int64(len(q.buf)) { // full: drop before any work
		q.droppedFull.Add(1)
		return nil
	}
	e := Entry{Time: r.Time, Level: r.Level, Message: q.capMessage(r.Message)}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	enc := attrEncoder{entry: &e}
	enc.buf = append(make([]byte, 0, 256), '{')
	// A group opened by WithGroup is written only if something lands in
	// it (closeGroup cuts an empty one out again).
	for _, s := range h.steps {
		if s.group != "" {
			enc.openGroup(s.group)
			continue
		}
		for _, a := range s.attrs {
			enc.attr(a)
		}
	}
	r.Attrs(func(a slog.Attr) bool {
		enc.attr(a)
		return true
	})
	for range enc.frames {
		enc.closeGroup()
	}
	enc.buf = append(enc.buf, '}')
	if len(enc.buf) > 2 {
		e.Attributes = enc.buf
		if len(e.Attributes) > q.cfg.MaxAttributesBytes {
			e.Attributes = truncatedAttributes(len(e.Attributes))
		}
	}
	if e.Service == "" {
		e.Service = q.cfg.Service
	}
	if ctx != nil {
		if e.TraceID == "" {
			if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
				e.TraceID, e.SpanID = sc.TraceID().String(), sc.SpanID().String()
			}
		}
		if e.RequestID == "" {
			e.RequestID = dashcore.RequestID(ctx)
		}
	}
	if q.cfg.AddSource && r.PC != 0 {
		f, _ := runtime.CallersFrames([]uintptr{r.PC}).Next()
		e.Source = shortFile(f.File) + ":" + strconv.Itoa(f.Line)
	}
	q.push(e)
	return nil
}

func (q *Queue) capMessage(s string) string {
	s = cleanText(s)
	if len(s) <= q.cfg.MaxMessageBytes {
		return s
	}
	cut := q.cfg.MaxMessageBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func truncatedAttributes(size int) []byte {
	return []byte(`{"_truncated":true,"_size":` + strconv.Itoa(size) + `}`)
}

// shortFile keeps the last directory and the file name of path.
func shortFile(path string) string {
	slashes := 0
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			slashes++
			if slashes == 2 {
				return path[i+1:]
			}
		}
	}
	return path
}
