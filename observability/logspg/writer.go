package logspg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/taylordash/taylordash/store"
)

// ErrQueueClaimed is returned by Writer.Start when another writer drains
// the queue already.
var ErrQueueClaimed = errors.New("logspg: the queue is drained by another writer")

// Writer stores a Queue's records in application_logs: in batches of up
// to BatchSize, at the latest FlushInterval after a record arrived, one
// INSERT … SELECT FROM unnest(…) per batch. A batch leaves the queue only
// once written: while the database is unreachable the writer retries the
// same batch with capped exponential backoff, and the queue keeps taking
// records until it is full, then drops (and counts) new ones. Logging
// never waits for the database.
//
// Start and Stop are safe for concurrent use and tolerate being called
// twice; a stopped writer can be started again. Only one writer drains a
// queue at a time.
type Writer struct {
	db    store.Querier
	queue *Queue
	cfg   WriterConfig
	log   *slog.Logger
	meter metric.Meter

	written atomic.Uint64
	failing atomic.Bool

	mu       sync.Mutex
	running  bool
	cancel   context.CancelFunc
	done     chan struct{}
	deadline time.Time // of the final flush, set by Stop
	reg      metric.Registration
}

// Option configures a Writer.
type Option func(*Writer)

// WithMeterProvider makes the writer report taylor_log_dropped (records
// lost, by reason), taylor_log_written and taylor_log_queue_length
// through mp. Without it, nothing is reported.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(w *Writer) {
		if mp != nil {
			w.meter = mp.Meter("github.com/taylordash/taylordash/observability/logspg")
		}
	}
}

// NewWriter returns a writer of queue's records into db (a *store.DB, or
// any store.Querier). log receives the writer's own troubles (a failing
// database, once per outage); it may be nil, and it may itself log into
// queue.
func NewWriter(db store.Querier, queue *Queue, cfg WriterConfig, log *slog.Logger, opts ...Option) *Writer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Writer{db: db, queue: queue, cfg: cfg.WithDefaults(), log: log, meter: noop.NewMeterProvider().Meter("")}
	for _, o := range opts {
		o(w)
	}
	return w
}

// Written returns how many records this writer stored.
func (w *Writer) Written() uint64 { return w.written.Load() }

// Dropped returns how many records the queue lost (see Queue.Dropped).
func (w *Writer) Dropped() uint64 { return w.queue.Dropped() }

// Start claims the queue and starts draining it in a goroutine of its
// own; ctx is not kept. It fails with ErrQueueClaimed when another writer
// drains the queue. A running writer's Start does nothing.
func (w *Writer) Start(context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running {
		return nil
	}
	if !w.queue.claim(w.cfg.BatchSize) {
		return ErrQueueClaimed
	}
	reg, err := w.registerMetrics()
	if err != nil {
		w.queue.release()
		return fmt.Errorf("logspg: register metrics: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.running, w.cancel, w.done, w.reg, w.deadline = true, cancel, make(chan struct{}), reg, time.Time{}
	go w.loop(ctx, w.done)
	return nil
}

// Stop stops draining and writes what the queue holds in a final flush,
// bounded by ctx's deadline and WriterConfig.StopTimeout, whichever comes
// first; records it could not write stay in the queue (logged), for a
// writer started later. Stop waits for the goroutine, at most until ctx
// ends. A stopped writer's Stop does nothing.
func (w *Writer) Stop(ctx context.Context) error {
	w.mu.Lock()
	if !w.running {
		w.mu.Unlock()
		return nil
	}
	w.running = false
	w.deadline = time.Now().Add(w.cfg.StopTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(w.deadline) {
		w.deadline = d
	}
	cancel, done, reg := w.cancel, w.done, w.reg
	w.mu.Unlock()
	cancel()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("logspg: stop writer: %w", ctx.Err())
	}
	if reg != nil {
		err = errors.Join(err, reg.Unregister())
	}
	return err
}

func (w *Writer) stopDeadline() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.deadline
}

func (w *Writer) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	defer w.queue.release()
	batch := make([]Entry, 0, w.cfg.BatchSize)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for ctx.Err() == nil {
		if w.queue.Len() == 0 {
			select {
			case <-w.queue.signal:
			case <-ctx.Done():
			}
			continue
		}
		// Something is queued: wait for a full batch, at most FlushInterval.
		timer.Reset(w.cfg.FlushInterval)
	wait:
		for w.queue.Len() < w.cfg.BatchSize {
			select {
			case <-w.queue.signal:
			case <-timer.C:
				break wait
			case <-ctx.Done():
				break wait
			}
		}
		timer.Stop()
		for ctx.Err() == nil && w.queue.Len() > 0 {
			batch = w.writeBatch(ctx, batch[:0])
		}
	}
	w.finalFlush(batch)
}

// finalFlush writes what the queue holds until it is empty or the stop
// deadline passes.
func (w *Writer) finalFlush(batch []Entry) {
	ctx, cancel := context.WithDeadline(context.Background(), w.stopDeadline())
	defer cancel()
	for ctx.Err() == nil && w.queue.Len() > 0 {
		batch = w.writeBatch(ctx, batch[:0])
	}
	if n := w.queue.Len(); n > 0 {
		w.log.Warn("log sink stopped with records not written to the database",
			slog.Int("records", n), slog.Uint64("dropped", w.queue.Dropped()))
	}
}

// writeBatch writes the oldest records of the queue and removes them,
// retrying while the database is unavailable, until ctx ends (they stay
// queued then). A batch the database refuses MaxAttempts times for
// another reason is dropped and counted. It returns batch for reuse.
func (w *Writer) writeBatch(ctx context.Context, batch []Entry) []Entry {
	batch = w.queue.peek(batch, w.cfg.BatchSize)
	if len(batch) == 0 {
		return batch
	}
	delay := w.cfg.MinBackoff
	for attempt := 1; ; attempt++ {
		err := w.insert(ctx, batch)
		if err == nil {
			w.queue.commit(len(batch))
			w.written.Add(uint64(len(batch)))
			if w.failing.CompareAndSwap(true, false) {
				w.log.Info("log sink writes to the database again", slog.Uint64("dropped", w.queue.Dropped()))
			}
			return batch
		}
		if ctx.Err() != nil {
			return batch
		}
		retryable := store.IsRetryable(err) || errors.Is(err, context.DeadlineExceeded)
		if !retryable && attempt >= w.cfg.MaxAttempts {
			w.queue.commit(len(batch))
			w.queue.droppedFail.Add(uint64(len(batch)))
			w.log.Error("log sink dropped a batch the database refused",
				slog.Int("records", len(batch)), slog.Int("attempts", attempt), slog.Any("error", err))
			return batch
		}
		if w.failing.CompareAndSwap(false, true) {
			w.log.Warn("log sink cannot write to the database; queueing, and dropping when the queue is full",
				slog.Int("queued", w.queue.Len()), slog.Int("capacity", w.queue.Cap()), slog.Any("error", err))
		}
		wait := delay/2 + rand.N(delay)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return batch
		}
		delay = min(delay*2, w.cfg.MaxBackoff)
	}
}

const insertSQL = `INSERT INTO application_logs
    (ts, level, level_num, service, message, trace_id, span_id, request_id, user_id, logger, source, attributes)
SELECT ts, level, level_num, service, message, NULLIF(trace_id, ''), NULLIF(span_id, ''), NULLIF(request_id, ''),
       NULLIF(user_id, ''), NULLIF(logger, ''), NULLIF(source, ''), attributes::jsonb
FROM unnest($1::timestamptz[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
    AS t(ts, level, level_num, service, message, trace_id, span_id, request_id, user_id, logger, source, attributes)`

// insert writes batch in one statement.
func (w *Writer) insert(ctx context.Context, batch []Entry) error {
	n := len(batch)
	var (
		ts                                    = make([]time.Time, n)
		levels, services, messages, traces    = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		spans, requests, users, loggers, srcs = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		attrs                                 = make([]string, n)
		levelNums                             = make([]int32, n)
	)
	for i, e := range batch {
		ts[i], levels[i], levelNums[i] = e.Time, e.Level.String(), int32(e.Level)
		services[i], messages[i], traces[i], spans[i] = e.Service, e.Message, e.TraceID, e.SpanID
		requests[i], users[i], loggers[i], srcs[i] = e.RequestID, e.UserID, e.Logger, e.Source
		attrs[i] = "{}"
		if len(e.Attributes) > 0 {
			attrs[i] = string(e.Attributes)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.WriteTimeout)
	defer cancel()
	if _, err := w.db.Exec(ctx, insertSQL, ts, levels, levelNums, services, messages, traces, spans,
		requests, users, loggers, srcs, attrs); err != nil {
		return fmt.Errorf("logspg: insert %d log records: %w", n, err)
	}
	return nil
}

// registerMetrics registers the writer's observable instruments.
func (w *Writer) registerMetrics() (metric.Registration, error) {
	dropped, err := w.meter.Int64ObservableCounter("taylor_log_dropped",
		metric.WithDescription("Log records lost before reaching the database, by reason (queue_full, write_failed)."))
	if err != nil {
		return nil, err
	}
	written, err := w.meter.Int64ObservableCounter("taylor_log_written",
		metric.WithDescription("Log records written to the database."))
	if err != nil {
		return nil, err
	}
	length, err := w.meter.Int64ObservableGauge("taylor_log_queue_length",
		metric.WithDescription("Log records waiting in the in-memory queue."))
	if err != nil {
		return nil, err
	}
	full := metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "queue_full")))
	failed := metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "write_failed")))
	return w.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := w.queue.DropStats()
		o.ObserveInt64(dropped, int64(s.QueueFull), full)
		o.ObserveInt64(dropped, int64(s.WriteFailed), failed)
		o.ObserveInt64(written, int64(w.written.Load()))
		o.ObserveInt64(length, int64(w.queue.Len()))
		return nil
	}, dropped, written, length)
}
