package eventbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
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
}

// Ingest is the pipeline from the broker to the mirror and the handlers:
// messages arrive in batches (up to BatchSize, waiting at most
// BatchLatency); invalid ones go to the dead-letter queue with their
// reason; valid ones are stored in the mirror in one transaction (the
// idempotency key drops duplicates); the routes run for each, through
// Correlation, Dedup, DLQ, Retry and Recover; and only then is every
// message of the batch acknowledged, in order. A store that fails (the
// database restarting) is retried with backoff while the messages stay
// unacknowledged, so the transport's window fills and the broker holds
// the rest: back-pressure, never loss. Stopping leaves unfinished
// messages unacknowledged; the broker delivers them again.
type Ingest struct {
	cfg    Config
	sub    Subscriber
	rec    Recorder
	dlq    DeadLetters
	pub    Publisher
	router *Router
	log    *slog.Logger
	parse  ParseOptions
	m      ingestMetrics

	mu     sync.Mutex
	cancel context.CancelFunc
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
		m:     newIngestMetrics(mp.Meter("github.com/taylordash/taylordash/eventbus")),
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
	queue := make(chan *Message, in.cfg.BatchSize)
	var forwarders sync.WaitGroup
	for _, f := range in.cfg.Subscribe {
		ch, err := in.sub.Subscribe(runCtx, f)
		if err != nil {
			cancel()
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
	in.cancel = cancel
	in.done = make(chan struct{})
	go func() {
		defer close(in.done)
		in.run(runCtx, queue)
		forwarders.Wait()
	}()
	in.log.Info("event ingest started", slog.Any("subscriptions", in.cfg.Subscribe), slog.Int("batch_size", in.cfg.BatchSize))
	return nil
}

// Stop ends the pipeline and waits for it, up to ctx. Messages not yet
// acknowledged stay with the broker. Safe to call twice.
func (in *Ingest) Stop(ctx context.Context) error {
	in.mu.Lock()
	cancel, done := in.cancel, in.done
	in.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("eventbus: stop ingest: %w", ctx.Err())
	}
}

func (in *Ingest) run(ctx context.Context, queue <-chan *Message) {
	for {
		batch := in.collect(ctx, queue)
		if batch == nil {
			return
		}
		if !in.process(ctx, batch) {
			return
		}
	}
}

// collect waits for a first message, then gathers more until the batch is
// full or BatchLatency has passed. It returns nil when ctx ends (a
// partial batch is left unacknowledged).
func (in *Ingest) collect(ctx context.Context, queue <-chan *Message) []*Message {
	var batch []*Message
	select {
	case m := <-queue:
		batch = append(batch, m)
	case <-ctx.Done():
		return nil
	}
	timer := time.NewTimer(in.cfg.BatchLatency)
	defer timer.Stop()
	for len(batch) < in.cfg.BatchSize {
		select {
		case m := <-queue:
			batch = append(batch, m)
		case <-timer.C:
			return batch
		case <-ctx.Done():
			return nil
		}
	}
	return batch
}

// process takes a batch through the pipeline and acknowledges it. It
// returns false, leaving the batch unacknowledged, when ctx ends first.
func (in *Ingest) process(ctx context.Context, batch []*Message) bool {
	events := make([]*Event, 0, len(batch))
	var letters []DeadLetter
	for _, m := range batch {
		env, err := Parse(m.Payload, in.parse)
		if err != nil {
			var ie *InvalidError
			reason, detail := ReasonNotJSON, err.Error()
			if errors.As(err, &ie) {
				reason, detail = ie.Reason, ie.Detail
			}
			letters = append(letters, DeadLetter{Topic: m.Topic, Payload: m.Payload, Reason: reason, Detail: detail, FailedAt: time.Now().UTC()})
			continue
		}
		events = append(events, &Event{Topic: m.Topic, Envelope: env, Raw: m.Payload, ReceivedAt: m.ReceivedAt})
	}
	if len(letters) > 0 && !in.retry(ctx, "dead-letter queue", func() error { return in.dlq.Put(ctx, letters) }) {
		return false
	}
	if len(events) > 0 {
		if !in.retry(ctx, "mirror", func() error {
			for _, ev := range events {
				ev.Duplicate = false
			}
			return in.rec.Record(ctx, events)
		}) {
			return false
		}
		for _, ev := range events {
			if !in.retry(ctx, "dead-letter queue", func() error { return in.router.Handle(ctx, ev) }) {
				return false
			}
			in.m.ingested(ctx, ev)
		}
	}
	for _, l := range letters {
		in.log.WarnContext(ctx, "invalid event dead-lettered", slog.String("topic", l.Topic),
			slog.String("reason", string(l.Reason)), slog.String("detail", l.Detail))
		PublishDeadLetter(ctx, in.pub, l, in.log)
	}
	for _, m := range batch {
		m.Ack()
	}
	in.m.batch(ctx, len(batch))
	return true
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

// ingestMetrics are the pipeline's instruments. Kind labels are bounded:
// past maxKindLabels distinct kinds, the rest count as "other".
type ingestMetrics struct {
	events  metric.Int64Counter
	batches metric.Int64Histogram
	retries metric.Int64Counter

	mu    sync.Mutex
	kinds map[string]bool
}

const maxKindLabels = 64

func newIngestMetrics(m metric.Meter) ingestMetrics {
	events, _ := m.Int64Counter("taylordash.events.ingested", metric.WithDescription("Events taken from the broker and stored, by kind and whether they were duplicates."))
	batches, _ := m.Int64Histogram("taylordash.events.batch_size", metric.WithDescription("Messages per ingest batch."))
	retries, _ := m.Int64Counter("taylordash.events.store_retries", metric.WithDescription("Retries of a failed store step (mirror or dead-letter queue) by the ingest pipeline."))
	return ingestMetrics{events: events, batches: batches, retries: retries, kinds: map[string]bool{}}
}

func (m *ingestMetrics) ingested(ctx context.Context, ev *Event) {
	kind := ev.Envelope.Kind
	m.mu.Lock()
	if !m.kinds[kind] {
		if len(m.kinds) >= maxKindLabels {
			kind = "other"
		} else {
			m.kinds[kind] = true
		}
	}
	m.mu.Unlock()
	m.events.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", kind), attribute.Bool("duplicate", ev.Duplicate)))
}

func (m *ingestMetrics) batch(ctx context.Context, n int) { m.batches.Record(ctx, int64(n)) }

func (m *ingestMetrics) retried(ctx context.Context, what string) {
	m.retries.Add(ctx, 1, metric.WithAttributes(attribute.String("stage", what)))
}
