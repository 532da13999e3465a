package observability

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// BatchOptions tunes [NewBatchProcessor]; zero fields take the defaults
// of the OTel batch span processor.
type BatchOptions struct {
	// MaxQueueSize is how many ended spans may wait; more are dropped
	// (and counted). Default 2048.
	MaxQueueSize int
	// MaxExportBatchSize is the most spans sent in one export; a queue
	// this long is exported at once. Default 512.
	MaxExportBatchSize int
	// ScheduleDelay is the longest a span waits before export. Default 5s.
	ScheduleDelay time.Duration
	// ExportTimeout bounds each export. Default 30s.
	ExportTimeout time.Duration
}

func (o BatchOptions) withDefaults() BatchOptions {
	if o.MaxQueueSize <= 0 {
		o.MaxQueueSize = 2048
	}
	if o.MaxExportBatchSize <= 0 || o.MaxExportBatchSize > o.MaxQueueSize {
		o.MaxExportBatchSize = min(512, o.MaxQueueSize)
	}
	if o.ScheduleDelay <= 0 {
		o.ScheduleDelay = 5 * time.Second
	}
	if o.ExportTimeout <= 0 {
		o.ExportTimeout = 30 * time.Second
	}
	return o
}

// BatchProcessor is a batching span processor, like the SDK's, that costs
// the request path less: ending a span appends it to a queue under a
// mutex, and the exporting goroutine is woken only when a batch is full
// or the schedule delay passes, not once per span. Sampled spans only are
// queued; when the queue is full spans are dropped and counted. Shutdown
// stops the goroutine, exports what is queued and shuts the exporter
// down.
type BatchProcessor struct {
	exp  sdktrace.SpanExporter
	opts BatchOptions

	mu      sync.Mutex
	queue   []sdktrace.ReadOnlySpan
	stopped bool
	dropped atomic.Int64

	exportMu sync.Mutex // one export at a time, in order

	kick     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	ctx      context.Context // the goroutine's; canceled when Shutdown gives up
	cancel   context.CancelFunc
	stopOnce sync.Once
	stopErr  error
}

var _ sdktrace.SpanProcessor = (*BatchProcessor)(nil)

// NewBatchProcessor starts a processor exporting to exp. Its goroutine
// runs until Shutdown.
func NewBatchProcessor(exp sdktrace.SpanExporter, opts BatchOptions) *BatchProcessor {
	ctx, cancel := context.WithCancel(context.Background())
	p := &BatchProcessor{
		exp:    exp,
		opts:   opts.withDefaults(),
		kick:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		ctx:    ctx,
		cancel: cancel,
	}
	go p.run()
	return p
}

// OnStart implements sdktrace.SpanProcessor; it does nothing.
func (p *BatchProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd queues a sampled span for export.
func (p *BatchProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	p.mu.Lock()
	if p.stopped || len(p.queue) >= p.opts.MaxQueueSize {
		p.mu.Unlock()
		p.dropped.Add(1)
		return
	}
	p.queue = append(p.queue, s)
	full := len(p.queue) >= p.opts.MaxExportBatchSize
	p.mu.Unlock()
	if full {
		select {
		case p.kick <- struct{}{}:
		default: // already woken
		}
	}
}

// Dropped returns how many spans were dropped because the queue was full
// or the processor stopped.
func (p *BatchProcessor) Dropped() int64 { return p.dropped.Load() }

func (p *BatchProcessor) run() {
	defer close(p.done)
	t := time.NewTicker(p.opts.ScheduleDelay)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		case <-p.kick:
		}
		// Errors cannot be reported from here without a global handler;
		// ForceFlush and Shutdown return theirs.
		_ = p.export(p.ctx)
	}
}

// export sends the queue, batch by batch, until it is empty.
func (p *BatchProcessor) export(ctx context.Context) error {
	p.exportMu.Lock()
	defer p.exportMu.Unlock()
	var errs []error
	for {
		p.mu.Lock()
		n := min(len(p.queue), p.opts.MaxExportBatchSize)
		if n == 0 {
			p.mu.Unlock()
			return errors.Join(errs...)
		}
		batch := p.queue[:n:n]
		if n == len(p.queue) {
			p.queue = nil
		} else {
			p.queue = append([]sdktrace.ReadOnlySpan(nil), p.queue[n:]...)
		}
		p.mu.Unlock()
		ectx, cancel := context.WithTimeout(ctx, p.opts.ExportTimeout)
		err := p.exp.ExportSpans(ectx, batch)
		cancel()
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				return errors.Join(errs...)
			}
		}
	}
}

// ForceFlush exports every queued span within ctx.
func (p *BatchProcessor) ForceFlush(ctx context.Context) error {
	if err := p.export(ctx); err != nil {
		return fmt.Errorf("observability: export spans: %w", err)
	}
	return nil
}

// Shutdown stops the goroutine (canceling its export if ctx ends first),
// exports the queue and shuts the exporter down. Later calls return the
// first result.
func (p *BatchProcessor) Shutdown(ctx context.Context) error {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		p.stopped = true
		p.mu.Unlock()
		close(p.stop)
		select {
		case <-p.done:
		case <-ctx.Done():
			p.cancel()
			<-p.done
		}
		p.cancel()
		var errs []error
		if err := p.export(ctx); err != nil {
			errs = append(errs, fmt.Errorf("export spans: %w", err))
		}
		if err := p.exp.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut the exporter down: %w", err))
		}
		if err := errors.Join(errs...); err != nil {
			p.stopErr = fmt.Errorf("observability: batch processor: %w", err)
		}
	})
	return p.stopErr
}
