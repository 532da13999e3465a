package logspg_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/taylordash/taylordash/observability/logspg"
)

// observingProvider keeps the callbacks registered on it and runs them on
// collect, recording each observation by instrument name and reason.
type observingProvider struct {
	noop.MeterProvider
	m *observingMeter
}

func (p observingProvider) Meter(string, ...metric.MeterOption) metric.Meter { return p.m }

type observingMeter struct {
	noop.Meter
	callbacks []metric.Callback
}

type namedCounter struct {
	noop.Int64ObservableCounter
	name string
}

type namedGauge struct {
	noop.Int64ObservableGauge
	name string
}

func (m *observingMeter) Int64ObservableCounter(name string, _ ...metric.Int64ObservableCounterOption) (metric.Int64ObservableCounter, error) {
	return namedCounter{name: name}, nil
}

func (m *observingMeter) Int64ObservableGauge(name string, _ ...metric.Int64ObservableGaugeOption) (metric.Int64ObservableGauge, error) {
	return namedGauge{name: name}, nil
}

func (m *observingMeter) RegisterCallback(f metric.Callback, _ ...metric.Observable) (metric.Registration, error) {
	m.callbacks = append(m.callbacks, f)
	return noop.Registration{}, nil
}

type recorder struct {
	metric.Observer
	got map[string]int64
}

func (r recorder) ObserveInt64(o metric.Int64Observable, v int64, opts ...metric.ObserveOption) {
	name := ""
	switch x := o.(type) {
	case namedCounter:
		name = x.name
	case namedGauge:
		name = x.name
	}
	attrs := metric.NewObserveConfig(opts).Attributes()
	if reason, ok := attrs.Value("reason"); ok {
		name += "{reason=" + reason.AsString() + "}"
	}
	r.got[name] = v
}

func (m *observingMeter) collect(t *testing.T) map[string]int64 {
	t.Helper()
	r := recorder{got: map[string]int64{}}
	for _, f := range m.callbacks {
		if err := f(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	return r.got
}

func TestMetrics(t *testing.T) {
	b := setup(t, logspg.QueueConfig{})
	q := logspg.NewQueue(logspg.QueueConfig{Capacity: 5})
	for range 8 { // nothing drains yet: 3 are dropped
		slog.New(q).Info("m")
	}
	mp := observingProvider{m: &observingMeter{}}
	w := logspg.NewWriter(b.db.DB, q, fastWriter, nil, logspg.WithMeterProvider(mp))
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopWriter(t, w) })
	waitFor(t, 10*time.Second, "the queue to drain", func() bool { return q.Len() == 0 })

	got := mp.m.collect(t)
	want := map[string]int64{
		"taylor_log_dropped{reason=queue_full}":   3,
		"taylor_log_dropped{reason=write_failed}": 0,
		"taylor_log_written":                      5,
		"taylor_log_queue_length":                 0,
	}
	if len(got) != len(want) {
		t.Errorf("observed %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}
