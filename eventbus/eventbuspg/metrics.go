package eventbuspg

import (
	"context"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/taylordash/taylordash/eventbus"
)

// Option configures the optional collaborators of a constructor.
type Option func(*options)

type options struct {
	meterProvider  metric.MeterProvider
	tracerProvider trace.TracerProvider
}

// WithMeterProvider records the component's metrics with mp; without
// it, no metrics are recorded.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) { o.meterProvider = mp }
}

// WithTracerProvider records the component's spans with tp (see the
// package documentation, Tracing); without it, none are recorded.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracerProvider = tp }
}

func applyOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.meterProvider == nil {
		o.meterProvider = noop.NewMeterProvider()
	}
	if o.tracerProvider == nil {
		o.tracerProvider = tracenoop.NewTracerProvider()
	}
	return o
}

// meterName is the instrumentation scope of every metric of this package.
const meterName = "github.com/taylordash/taylordash/eventbus/eventbuspg"

// mirrorMetrics are the Mirror's and the DeadLetterStore's instruments.
type mirrorMetrics struct {
	stored      metric.Int64Counter
	duplicates  metric.Int64Counter
	latency     metric.Float64Histogram
	deadLetters metric.Int64Counter
}

func newMirrorMetrics(mp metric.MeterProvider) mirrorMetrics {
	m := mp.Meter(meterName)
	var nm noop.Meter
	stored, err := m.Int64Counter("taylordash.events.mirror.stored", metric.WithUnit("{event}"),
		metric.WithDescription("Events stored in the mirror (duplicates excluded)."))
	if err != nil {
		stored, _ = nm.Int64Counter("")
	}
	duplicates, err := m.Int64Counter("taylordash.events.mirror.duplicates", metric.WithUnit("{event}"),
		metric.WithDescription("Events not stored because the mirror held their idempotency key (redeliveries, replays)."))
	if err != nil {
		duplicates, _ = nm.Int64Counter("")
	}
	latency, err := m.Float64Histogram("taylordash.events.mirror.latency", metric.WithUnit("s"),
		metric.WithDescription("Time from an event's ts (its publication) to its storage in the mirror."),
		metric.WithExplicitBucketBoundaries(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
	if err != nil {
		latency, _ = nm.Float64Histogram("")
	}
	deadLetters, err := m.Int64Counter("taylordash.events.dead_letters", metric.WithUnit("{message}"),
		metric.WithDescription("Messages dead-lettered, by reason (a bounded code)."))
	if err != nil {
		deadLetters, _ = nm.Int64Counter("")
	}
	return mirrorMetrics{stored: stored, duplicates: duplicates, latency: latency, deadLetters: deadLetters}
}

func (m mirrorMetrics) recorded(ctx context.Context, events []*eventbus.Event, now time.Time) {
	var stored, dups int64
	for _, ev := range events {
		if ev.Duplicate {
			dups++
			continue
		}
		stored++
		if !ev.Envelope.TS.IsZero() {
			m.latency.Record(ctx, max(now.Sub(ev.Envelope.TS).Seconds(), 0))
		}
	}
	if stored > 0 {
		m.stored.Add(ctx, stored)
	}
	if dups > 0 {
		m.duplicates.Add(ctx, dups)
	}
}

// reasonLabel keeps the label set closed: a reason outside
// eventbus.Reasons is counted as "other".
func reasonLabel(r eventbus.Reason) string {
	if slices.Contains(eventbus.Reasons, r) {
		return string(r)
	}
	return "other"
}

func (m mirrorMetrics) deadLettered(ctx context.Context, letters []eventbus.DeadLetter) {
	for _, l := range letters {
		m.deadLetters.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reasonLabel(l.Reason))))
	}
}

// The names of the outbox gauges that follow the original TaylorDash's
// naming (without the _seconds suffix the Prometheus exporter adds for
// the unit "s").
const (
	// MetricOutboxBacklog is a gauge of the outbox rows committed but not
	// published yet.
	MetricOutboxBacklog = "taylor_outbox_backlog"
	// MetricOutboxBacklogAge is a gauge of the age, in seconds, of the
	// oldest unpublished outbox row; 0 when there is none.
	MetricOutboxBacklogAge = "taylor_outbox_backlog_age"
)

// relayMetrics are the Relay's instruments; the backlog gauges are
// registered while the relay runs.
type relayMetrics struct {
	meter      metric.Meter
	published  metric.Int64Counter
	failures   metric.Int64Counter
	backlog    metric.Int64ObservableGauge
	oldest     metric.Float64ObservableGauge
	taylorRows metric.Int64ObservableGauge
	taylorAge  metric.Float64ObservableGauge
}

func newRelayMetrics(mp metric.MeterProvider) relayMetrics {
	m := mp.Meter(meterName)
	var nm noop.Meter
	published, err := m.Int64Counter("taylordash.events.outbox.published", metric.WithUnit("{event}"),
		metric.WithDescription("Outbox events published by the relay."))
	if err != nil {
		published, _ = nm.Int64Counter("")
	}
	failures, err := m.Int64Counter("taylordash.events.outbox.publish_failures", metric.WithUnit("{error}"),
		metric.WithDescription("Failed publish attempts of the relay (the event is retried)."))
	if err != nil {
		failures, _ = nm.Int64Counter("")
	}
	backlog, err := m.Int64ObservableGauge("taylordash.events.outbox.backlog", metric.WithUnit("{event}"),
		metric.WithDescription("Outbox events committed but not published yet."))
	if err != nil {
		backlog, _ = nm.Int64ObservableGauge("")
	}
	oldest, err := m.Float64ObservableGauge("taylordash.events.outbox.oldest_age", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest unpublished outbox event; 0 when none."))
	if err != nil {
		oldest, _ = nm.Float64ObservableGauge("")
	}
	taylorRows, err := m.Int64ObservableGauge(MetricOutboxBacklog, metric.WithUnit("{row}"),
		metric.WithDescription("Outbox rows committed but not published yet."))
	if err != nil {
		taylorRows, _ = nm.Int64ObservableGauge("")
	}
	taylorAge, err := m.Float64ObservableGauge(MetricOutboxBacklogAge, metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest unpublished outbox row; 0 when none."))
	if err != nil {
		taylorAge, _ = nm.Float64ObservableGauge("")
	}
	return relayMetrics{meter: m, published: published, failures: failures, backlog: backlog, oldest: oldest,
		taylorRows: taylorRows, taylorAge: taylorAge}
}
