package eventbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
)

// IngestOptions is what NewIngest composes.
type IngestOptions struct {
	// Config configures subscriptions, batching and validation.
	Config Config
	// Subscriber delivers the messages (the MQTT transport).
	Subscriber Subscriber
	// Recorder is the mirror.
	Recorder Recorder
	// DeadLetters is the dead-letter queue.
	DeadLetters DeadLetters
	// Publisher, if set, also carries dead letters to their DLQ topic.
	Publisher Publisher
	// Routes are the handlers run for each stored event.
	Routes []Route
	// Logger receives the pipeline's logs; nil discards them.
	Logger *slog.Logger
	// MeterProvider receives the pipeline's metrics; nil means none.
	MeterProvider metric.MeterProvider
	// TracerProvider receives the pipeline's spans: per message a
	// consumer span "process <topic>" (a child of the envelope's
	// traceparent) with a child "store <topic>", and per batch a span
	// "store batch" (see docs/eventbus.md, "Tracing and metrics"); nil
	// means none.
	TracerProvider trace.TracerProvider
}

// Ingest is the pipeline from the broker to the mirror and the handlers:
// messages arrive in batches (up to BatchSize, waiting at most
// BatchLatency after the first one was received); invalid ones go to the
// dead-letter queue with their reason; valid ones are stored in the
// mirror in one transaction (the idempotency key drops duplicates); the
// routes run for each, through Correlation, Dedup, DLQ, Retry and
// Recover; and only then is every message of the batch acknowledged, in
// order. The steps overlap (see run): the next batch is gathered while
// one is stored, up to two batches are stored at once, and a batch is
// acknowledged while the next one's handlers run, so that a batch's
// wait for its commit is not the whole pipeline's. A store that fails
// (the database restarting) is retried with backoff while the messages
// stay unacknowledged, so the transport's window fills and the broker
// holds the rest: back-pressure, never loss. Stopping leaves the messages
// not yet stored unacknowledged; the broker delivers them again.
type Ingest struct {
	cfg    Config
	sub    Subscriber
	rec    Recorder
	dlq    DeadLetters
	pub    Publisher
	router *Router
	log    *slog.Logger
	parse  ParseOptions
	m      *ingestMetrics
	tr     tracing

	mu     sync.Mutex
	cancel context.CancelFunc // stops taking and storing messages
	abort  context.CancelFunc // also gives up the handlers of stored ones
	done   chan struct{}
}

// NewIngest returns the pipeline; it does nothing until Start.
func NewIngest(opts IngestOptions) (*Ingest, error) {
	cfg := opts.Config.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("eventbus: invalid config: %w", err)
	}
	if opts.Subscriber == nil || opts.Recorder == nil || opts.DeadLetters == nil {
		return nil, errors.New("eventbus: the ingest pipeline needs a Subscriber, a Recorder and DeadLetters")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var dlqPub Publisher
	if !cfg.SkipDLQTopic {
		dlqPub = opts.Publisher
	}
	router, err := NewRouter(opts.Routes,
		Correlation(), Dedup(), DLQ(opts.DeadLetters, dlqPub, log),
		Retry(RetryConfig{Attempts: cfg.HandlerAttempts}), Recover())
	if err != nil {
		return nil, err
	}
	var kinds map[string]bool
	if len(cfg.Kinds) > 0 {
		kinds = make(map[string]bool, len(cfg.Kinds))
		for _, k := range cfg.Kinds {
			kinds[k] = true
		}
	}
	mp := opts.MeterProvider
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	return &Ingest{
		cfg: cfg, sub: opts.Subscriber, rec: opts.Recorder, dlq: opts.DeadLetters, pub: dlqPub,
		router: router, log: log,
		parse: ParseOptions{MaxSize: cfg.MaxSize, Kinds: kinds, Source: cfg.Source},
		m:     newIngestMetrics(mp.Meter(meterName)),
		tr:    newTracing(opts.TracerProvider),
	}, nil
}

// Start subscribes to every configured filter and starts the pipeline in
// the background. The subscriptions live until Stop, not until ctx ends.
func (in *Ingest) Start(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.done != nil {
		return errors.New("eventbus: ingest already started")
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	finishCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	queue := make(chan *Message, in.cfg.BatchSize)
	var forwarders sync.WaitGroup
	for _, f := range in.cfg.Subscribe {
		ch, err := in.sub.Subscribe(runCtx, f)
		if err != nil {
			cancel()
			abort()
			forwarders.Wait()
			return fmt.Errorf("eventbus: subscribe %s: %w", f, err)
		}
		forwarders.Go(func() {
			for m := range ch {
				select {
				case queue <- m:
				case <-runCtx.Done():
					return // unacknowledged: delivered again later
				}
			}
		})
	}
	in.cancel, in.abort = cancel, abort
	in.done = make(chan struct{})
	go func() {
		defer close(in.done)
		in.run(runCtx, finishCtx, queue)
		forwarders.Wait()
	}()
	in.log.Info("event ingest started", slog.Any("subscriptions", in.cfg.Subscribe), slog.Int("batch_size", in.cfg.BatchSize))
	return nil
}

// Stop ends the pipeline and waits for it, up to ctx. It stops taking
// messages at once, and starts no more attempts to store a batch (the
// messages not stored stay with the broker, unacknowledged, and are
// delivered again); the batches stored, or being stored, finish: their
// handlers run and their messages are acknowledged, so that a stop does
// not leave stored events whose handlers never ran (their redelivery
// would be a Duplicate, which Dedup skips). If ctx ends first, the
// handlers' context is cancelled too and Stop returns ctx's error. Safe
// to call twice.
func (in *Ingest) Stop(ctx context.Context) error {
	in.mu.Lock()
	cancel, abort, done := in.cancel, in.abort, in.done
	in.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		abort()
		return nil
	case <-ctx.Done():
		abort()
		return fmt.Errorf("eventbus: stop ingest: %w", ctx.Err())
	}
}

// batch is a set of messages on its way through the pipeline, parsed as
// they were gathered: the valid ones as events, the others as dead
// letters.
type batch struct {
	msgs    []*Message
	events  []*Event
	letters []DeadLetter
	token   int64 // the in-flight mark of its events (InFlightRecorder), 0 if none

	// With tracing on: the consumer span of each event and of each
	// dead letter, in the same order.
	spans       []trace.Span
	letterSpans []trace.Span
}

// add parses m into b.
func (in *Ingest) add(b *batch, m *Message) {
	b.msgs = append(b.msgs, m)
	env, err := Parse(m.Payload, in.parse)
	if err != nil {
		var ie *InvalidError
		reason, detail := ReasonNotJSON, err.Error()
		if errors.As(err, &ie) {
			reason, detail = ie.Reason, ie.Detail
		}
		b.letters = append(b.letters, DeadLetter{Topic: m.Topic, Payload: m.Payload, Reason: reason, Detail: detail, FailedAt: time.Now().UTC()})
		if in.tr.tracer != nil {
			b.letterSpans = append(b.letterSpans, in.startProcess(m, nil))
		}
		return
	}
	ev := &Event{Topic: m.Topic, Envelope: env, Raw: m.Payload, ReceivedAt: m.ReceivedAt}
	b.events = append(b.events, ev)
	if in.tr.tracer != nil {
		b.spans = append(b.spans, in.startProcess(m, &ev.Envelope))
	}
}

// recordAhead is how many batches the mirror may be writing at once. A
// batch in the mirror keeps one database backend busy (parsing the JSON,
// maintaining the indexes, flushing the commit); with two in flight the
// database works on the next while one commits, and on a second core:
// two concurrent 500-event inserts stored 1.7 times as many events a
// second as one after the other (PostgreSQL 15, 2 CPUs, nothing else
// running). Several instances writing one database do the same.
const recordAhead = 2

// recording is a batch in the mirror's hands; ok receives whether it was
// stored (false: ctx ended first).
type recording struct {
	b  *batch
	ok chan bool
}

// run is the pipeline, in stages that overlap, each a goroutine: gather
// collects and parses the next batch; the mirror stores up to recordAhead
// batches at once, each in its own transaction; handle takes the stored
// batches in the order they were gathered, writes their invalid messages
// to the dead-letter queue and runs the routes; settle acknowledges them,
// in the same order. So every message is acknowledged after its commit
// and its handlers, in the order received.
//
// When ctx ends, gathering stops and no store attempt starts: the
// batches not stored stay unacknowledged. An attempt in progress runs to
// its end, and the batches stored are handled and acknowledged, under
// finish, which Stop cancels only when its own deadline passes.
func (in *Ingest) run(ctx, finish context.Context, queue <-chan *Message) {
	gathered := make(chan *batch)
	recorded := make(chan *recording, recordAhead-1)
	handled := make(chan *batch, 1)
	var stages, records sync.WaitGroup
	stages.Go(func() {
		defer close(gathered)
		in.gather(ctx, queue, gathered)
	})
	stages.Go(func() {
		defer close(recorded)
		for b := range gathered {
			r := &recording{b: b, ok: make(chan bool, 1)}
			select {
			case recorded <- r:
			case <-ctx.Done():
				return
			}
			records.Go(func() { r.ok <- in.record(ctx, finish, b) })
		}
	})
	stages.Go(func() {
		defer close(handled)
		for r := range recorded {
			if !<-r.ok || !in.handle(finish, r.b) {
				return
			}
			handled <- r.b
		}
	})
	tokens := make(chan int64, 256)
	stages.Go(func() {
		defer close(tokens)
		for b := range handled {
			in.settle(finish, b)
			if b.token != 0 {
				select {
				case tokens <- b.token:
				default: // see clearInFlight
				}
			}
		}
	})
	stages.Go(func() { in.clearInFlight(finish, tokens) })
	stages.Wait()
	records.Wait()
}

// gather collects batches and hands them to out, until ctx ends. A batch
// is handed over once it is full, or once BatchLatency has passed since
// its first message was received (a message that waited in the
// transport while the pipeline was busy has waited enough) and nothing
// more is waiting; while out is not ready (the store stage is busy), the
// batch keeps filling up to BatchSize. A batch not handed over when ctx
// ends is left unacknowledged.
func (in *Ingest) gather(ctx context.Context, queue <-chan *Message, out chan<- *batch) {
	for {
		b := &batch{}
		select {
		case m := <-queue:
			in.add(b, m)
		case <-ctx.Done():
			return
		}
		now := time.Now()
		first := b.msgs[0].ReceivedAt
		if first.IsZero() || first.After(now) {
			first = now
		}
		timer := time.NewTimer(first.Add(in.cfg.BatchLatency).Sub(now))
		expired := false
	fill:
		for len(b.msgs) < in.cfg.BatchSize {
			if expired {
				select {
				case m := <-queue:
					in.add(b, m)
				default:
					break fill
				}
				continue
			}
			select {
			case m := <-queue:
				in.add(b, m)
			case <-timer.C:
				expired = true
			case <-ctx.Done():
				timer.Stop()
				return
			}
		}
		timer.Stop()
		for handed := false; !handed; {
			var more <-chan *Message
			if len(b.msgs) < in.cfg.BatchSize {
				more = queue
			}
			select {
			case out <- b:
				handed = true
			case m := <-more:
				in.add(b, m)
			case <-ctx.Done():
				return
			}
		}
	}
}

// record stores a batch's events in the mirror, retrying until it
// succeeds; it returns false when ctx ends first. An attempt in progress
// when ctx ends runs to its end under finish: a batch whose commit is
// under way is reported stored if it was, so that its handlers run
// (rather than leaving it stored and never handled, its redelivery being
// a Duplicate).
func (in *Ingest) record(ctx, finish context.Context, b *batch) bool {
	if len(b.events) == 0 {
		return true
	}
	rctx, batchSpan := finish, trace.Span(nil)
	if in.tr.tracer != nil {
		rctx, batchSpan = in.startStoreBatch(finish, b)
	}
	start, attempts := time.Now(), 0
	ok := in.retry(ctx, "mirror", func() error {
		attempts++
		for _, ev := range b.events {
			ev.Duplicate = false
		}
		if ir, ok := in.rec.(InFlightRecorder); ok {
			token, err := ir.RecordInFlight(rctx, b.events)
			b.token = token
			return err
		}
		return in.rec.Record(rctx, b.events)
	})
	end := time.Now()
	if ok {
		in.m.stored(finish, b.events, end)
	}
	if batchSpan != nil {
		in.endStore(b, batchSpan, start, end, attempts, ok)
	}
	return ok
}

// clearInFlight tells an InFlightRecorder which batches' handlers
// finished, once their messages are acknowledged, coalesced and off the
// path of the stream. Doing it after the ack loses nothing: an
// acknowledged message is never delivered again, and if the process dies
// before the mark is cleared, a later copy of one of its events (a
// publisher's retry, a replay) merely runs its handlers again, which
// at-least-once allows; that copy's batch then clears the mark.
func (in *Ingest) clearInFlight(ctx context.Context, tokens <-chan int64) {
	ir, ok := in.rec.(InFlightRecorder)
	var pending []int64
	flush := func() {
		if ok && len(pending) > 0 {
			if err := ir.Handled(ctx, pending); err != nil {
				in.log.DebugContext(ctx, "clearing in-flight marks failed; a later copy of these events would be handled again",
					slog.Int("batches", len(pending)), slog.String("error", err.Error()))
			}
		}
		pending = pending[:0]
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case t, open := <-tokens:
			if !open {
				flush()
				return
			}
			pending = append(pending, t)
			if len(pending) >= 64 {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

// handle writes a recorded batch's invalid messages to the dead-letter
// queue and runs the routes for its events, retrying what fails. It
// returns false, leaving the batch unacknowledged, when ctx ends first.
func (in *Ingest) handle(ctx context.Context, b *batch) bool {
	if len(b.letters) > 0 {
		if !in.retry(ctx, "dead-letter queue", func() error { return in.dlq.Put(ctx, b.letters) }) {
			return false
		}
		for i, l := range b.letters {
			in.m.deadLettered(ctx, l.Reason)
			if b.letterSpans != nil {
				s := b.letterSpans[i]
				s.AddEvent(EventDeadLettered, trace.WithAttributes(AttrReason.String(string(l.Reason))))
				s.SetStatus(codes.Error, string(l.Reason))
			}
		}
	}
	for i, ev := range b.events {
		hctx := ctx
		if b.spans != nil {
			hctx = trace.ContextWithSpan(ctx, b.spans[i])
		}
		if !in.retry(ctx, "dead-letter queue", func() error {
			ev.dlqWrites = 0
			return in.router.Handle(hctx, ev)
		}) {
			return false
		}
		in.m.ingested(ctx, ev)
	}
	return true
}

// settle publishes a stored batch's invalid messages to their DLQ topic
// and acknowledges every message of the batch, in order.
func (in *Ingest) settle(ctx context.Context, b *batch) {
	for i, l := range b.letters {
		lctx := ctx
		if b.letterSpans != nil {
			lctx = trace.ContextWithSpan(ctx, b.letterSpans[i])
		}
		in.log.WarnContext(lctx, "invalid event dead-lettered", slog.String("topic", l.Topic),
			slog.String("reason", string(l.Reason)), slog.String("detail", l.Detail))
		PublishDeadLetter(lctx, in.pub, l, in.log)
	}
	for _, m := range b.msgs {
		m.Ack()
	}
	in.m.batch(ctx, len(b.msgs))
	endSpans(b.spans)
	endSpans(b.letterSpans)
}

// retry runs f until it succeeds, waiting with capped, jittered backoff
// between failures; it returns false if ctx ends first.
func (in *Ingest) retry(ctx context.Context, what string, f func() error) bool {
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil {
			if attempt > 1 {
				in.log.InfoContext(ctx, what+" available again; processing resumes", slog.Int("attempts", attempt))
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		in.m.retried(ctx, what)
		if attempt == 1 || attempt%20 == 0 {
			in.log.WarnContext(ctx, what+" unavailable; holding the batch unacknowledged and retrying",
				slog.String("error", err.Error()), slog.Int("attempt", attempt))
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait/2 + rand.N(wait)):
		}
		wait = min(wait*2, 2*time.Second)
	}
}
