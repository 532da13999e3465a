package eventbus

import (
	"context"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// meterName is the instrumentation scope of the pipeline's metrics.
const meterName = "github.com/taylordash/taylordash/eventbus"

// The names of the ingest pipeline's metrics that keep the original
// TaylorDash's Prometheus names. They are given without the suffixes the
// Prometheus exporter adds (_total for counters, _seconds for the unit
// "s"): taylor_ingest is scraped as taylor_ingest_total.
const (
	// MetricIngest counts messages taken from the broker by outcome, the
	// attribute "result": stored (new, handled), duplicate (the mirror
	// held it) or dead_lettered (invalid, or its handlers failed).
	MetricIngest = "taylor_ingest"
	// MetricDLQ counts dead letters written by the pipeline, by "reason"
	// (a Reason, or "other").
	MetricDLQ = "taylor_dlq"
	// MetricEventLatency is the histogram of the time, in seconds, from
	// an event's ts (its publication) to its storage in the mirror.
	MetricEventLatency = "taylor_event_latency"
)

// The values of the "result" attribute of MetricIngest.
const (
	ResultStored       = "stored"
	ResultDuplicate    = "duplicate"
	ResultDeadLettered = "dead_lettered"
)

// LatencyBuckets are the bucket boundaries, in seconds, of
// MetricEventLatency: from a millisecond (a batch stored at once) to a
// minute (a broker or database outage).
var LatencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// ingestMetrics are the pipeline's instruments. Kind labels are bounded:
// past maxKindLabels distinct kinds, the rest count as "other". The
// attribute sets of the taylor_* instruments are made once.
type ingestMetrics struct {
	events  metric.Int64Counter
	batches metric.Int64Histogram
	retries metric.Int64Counter

	ingest  metric.Int64Counter
	dlq     metric.Int64Counter
	latency metric.Float64Histogram

	// the options of each attribute set, as slices passed on with ...
	// (no allocation per call)
	resultStored, resultDuplicate, resultDeadLettered []metric.AddOption
	reasons                                           map[Reason][]metric.AddOption

	mu    sync.Mutex
	kinds map[string]bool
}

const maxKindLabels = 64

func newIngestMetrics(m metric.Meter) *ingestMetrics {
	var nm noop.Meter
	events, _ := m.Int64Counter("taylordash.events.ingested", metric.WithDescription("Events taken from the broker and stored, by kind and whether they were duplicates."))
	batches, _ := m.Int64Histogram("taylordash.events.batch_size", metric.WithDescription("Messages per ingest batch."))
	retries, _ := m.Int64Counter("taylordash.events.store_retries", metric.WithDescription("Retries of a failed store step (mirror or dead-letter queue) by the ingest pipeline."))
	ingest, err := m.Int64Counter(MetricIngest, metric.WithUnit("{message}"),
		metric.WithDescription("Messages taken from the broker, by result: stored, duplicate or dead_lettered."))
	if err != nil {
		ingest, _ = nm.Int64Counter("")
	}
	dlq, err := m.Int64Counter(MetricDLQ, metric.WithUnit("{message}"),
		metric.WithDescription("Dead letters written by the ingest pipeline, by reason (a bounded code)."))
	if err != nil {
		dlq, _ = nm.Int64Counter("")
	}
	latency, err := m.Float64Histogram(MetricEventLatency, metric.WithUnit("s"),
		metric.WithDescription("Time from an event's ts (its publication) to its storage in the mirror."),
		metric.WithExplicitBucketBoundaries(LatencyBuckets...))
	if err != nil {
		latency, _ = nm.Float64Histogram("")
	}
	result := func(r string) []metric.AddOption {
		return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("result", r)))}
	}
	reasons := make(map[Reason][]metric.AddOption, len(Reasons)+1)
	for _, r := range append(slices.Clone(Reasons), "other") {
		reasons[r] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", string(r))))}
	}
	return &ingestMetrics{events: events, batches: batches, retries: retries,
		ingest: ingest, dlq: dlq, latency: latency,
		resultStored: result(ResultStored), resultDuplicate: result(ResultDuplicate), resultDeadLettered: result(ResultDeadLettered),
		reasons: reasons, kinds: map[string]bool{}}
}

// stored records the latency of the events of a batch just stored (not
// the duplicates).
func (m *ingestMetrics) stored(ctx context.Context, events []*Event, now time.Time) {
	for _, ev := range events {
		if !ev.Duplicate && !ev.Envelope.TS.IsZero() {
			m.latency.Record(ctx, max(now.Sub(ev.Envelope.TS).Seconds(), 0))
		}
	}
}

// deadLettered counts an invalid message written to the dead-letter
// queue.
func (m *ingestMetrics) deadLettered(ctx context.Context, reason Reason) {
	m.dlqWritten(ctx, reason, 1)
	m.ingest.Add(ctx, 1, m.resultDeadLettered...)
}

func (m *ingestMetrics) dlqWritten(ctx context.Context, reason Reason, n int) {
	opt, ok := m.reasons[reason]
	if !ok {
		opt = m.reasons["other"]
	}
	m.dlq.Add(ctx, int64(n), opt...)
}

// ingested counts an event whose handlers ran (or were skipped, for a
// duplicate).
func (m *ingestMetrics) ingested(ctx context.Context, ev *Event) {
	switch {
	case ev.dlqWrites > 0:
		m.dlqWritten(ctx, ReasonHandlerFailed, ev.dlqWrites)
		m.ingest.Add(ctx, 1, m.resultDeadLettered...)
	case ev.Duplicate:
		m.ingest.Add(ctx, 1, m.resultDuplicate...)
	default:
		m.ingest.Add(ctx, 1, m.resultStored...)
	}
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
