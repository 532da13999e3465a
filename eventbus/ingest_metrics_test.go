package eventbus_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/testkit"
)

// meterReader reads an SDK meter provider's metrics on demand.
type meterReader struct {
	t *testing.T
	r *sdkmetric.ManualReader
}

func newMeter(t *testing.T) (*sdkmetric.MeterProvider, meterReader) {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return mp, meterReader{t: t, r: r}
}

// point is a data point's value: a sum or gauge value, or a histogram's
// count.
type point struct {
	value float64
	found bool
}

// get returns the value of metric name at the point whose attribute key
// has value ("" and "" for a point without attributes).
func (m meterReader) get(name, key, value string) point {
	m.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := m.r.Collect(context.Background(), &rm); err != nil {
		m.t.Fatal(err)
	}
	match := func(set attribute.Set) bool {
		if key == "" {
			return set.Len() == 0
		}
		v, ok := set.Value(attribute.Key(key))
		return ok && v.String() == value
	}
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			if md.Name != name {
				continue
			}
			switch d := md.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						return point{float64(p.Value), true}
					}
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						return point{float64(p.Value), true}
					}
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						return point{p.Value, true}
					}
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						return point{float64(p.Count), true}
					}
				}
			}
		}
	}
	return point{}
}

// After a known workload the pipeline's metrics hold exactly its counts:
// 3 events stored, 2 duplicates, and 4 dead letters (2 not_json, 1 bad_ts,
// 1 handler_failed); the latency histogram has one observation per event
// stored in the mirror (the 3 and the one whose handler failed); the
// connection gauge says connected.
func TestMetricsAfterKnownWorkload(t *testing.T) {
	mp, metrics := newMeter(t)
	broker := startBroker(t, e2eBrokerConfig)
	db := testkit.Postgres(t, eventbuspg.Migrations)
	failing := eventbus.Route{Name: "failing", Pattern: "tracker/events/boom/#", Handler: func(context.Context, *eventbus.Event) error {
		return errors.New("boom")
	}}
	p := startPipeline(t, pipelineOptions{URL: broker.URL(), DB: db.DB, MeterProvider: mp, Routes: []eventbus.Route{failing},
		Config: eventbus.Config{HandlerAttempts: 1, SkipDLQTopic: true}})
	pub := newPublisher(t, broker.URL())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var msgs []message
	var keys []string
	for i := range 3 {
		raw, key := envelope(t, "counted", map[string]int{"seq": i})
		msgs = append(msgs, message{"tracker/events/ok/" + strconv.Itoa(i), raw})
		keys = append(keys, key)
	}
	msgs = append(msgs, msgs[0], msgs[1]) // duplicates
	boom, boomKey := envelope(t, "boom", nil)
	msgs = append(msgs,
		message{"tracker/events/boom/1", boom},
		message{"tracker/events/bad/1", []byte("not json 1")},
		message{"tracker/events/bad/2", []byte("not json 2")},
		message{"tracker/events/bad/3", []byte(`{"trace_id":"0af7651916cd43dd8448eb211c80319c","ts":"yesterday","kind":"k","idempotency_key":"x"}`)},
	)
	for _, m := range msgs { // one by one: in this order
		if err := pub.publish(ctx, m.topic, m.payload); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "all 9 messages counted", func() bool {
		var n float64
		for _, r := range []string{eventbus.ResultStored, eventbus.ResultDuplicate, eventbus.ResultDeadLettered} {
			n += metrics.get(eventbus.MetricIngest, "result", r).value
		}
		return n == 9
	})
	for _, c := range []struct {
		name, key, value string
		want             float64
	}{
		{eventbus.MetricIngest, "result", "stored", 3},
		{eventbus.MetricIngest, "result", "duplicate", 2},
		{eventbus.MetricIngest, "result", "dead_lettered", 4},
		{eventbus.MetricDLQ, "reason", "not_json", 2},
		{eventbus.MetricDLQ, "reason", "bad_ts", 1},
		{eventbus.MetricDLQ, "reason", "handler_failed", 1},
		{eventbus.MetricEventLatency, "", "", 4},
		{"taylor_mqtt_connected", "", "", 1},
	} {
		if got := metrics.get(c.name, c.key, c.value); got.value != c.want {
			t.Errorf("%s{%s=%q} = %v (found: %v), want %v", c.name, c.key, c.value, got.value, got.found, c.want)
		}
	}
	if got := metrics.get("taylor_mqtt_last_message_age", "", ""); !got.found || got.value < 0 || got.value > 60 {
		t.Errorf("taylor_mqtt_last_message_age = %v (found: %v), want a recent age", got.value, got.found)
	}
	for _, k := range keys {
		if n := p.handled.get(k); n != 1 {
			t.Errorf("event %s handled %d times, want once", k, n)
		}
	}
	if n := p.handled.get(boomKey); n != 1 {
		t.Errorf("the failing event reached the counting route %d times, want once", n)
	}
}

// The outbox gauges report the rows the relay has not published (here,
// with the broker refusing them all).
func TestMetricsOutboxBacklog(t *testing.T) {
	mp, metrics := newMeter(t)
	db := testkit.Postgres(t, eventbuspg.Migrations)
	outbox := eventbuspg.NewOutbox(db.DB, eventbuspg.OutboxConfig{Source: "metrics-test"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 2 {
		if _, err := outbox.Publish(ctx, "tracker/events/backlog/"+strconv.Itoa(i), "queued", nil); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond) // an age above zero
	relay := eventbuspg.NewRelay(db.DB, downPublisher{}, eventbuspg.RelayConfig{}, testkit.NewLogger(t), eventbuspg.WithMeterProvider(mp))
	if err := relay.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := relay.Stop(ctx); err != nil {
			t.Error(err)
		}
	}()
	if got := metrics.get(eventbuspg.MetricOutboxBacklog, "", ""); got.value != 2 {
		t.Errorf("%s = %v (found: %v), want 2", eventbuspg.MetricOutboxBacklog, got.value, got.found)
	}
	if got := metrics.get(eventbuspg.MetricOutboxBacklogAge, "", ""); got.value <= 0 || got.value > 60 {
		t.Errorf("%s = %v (found: %v), want the age of the oldest row", eventbuspg.MetricOutboxBacklogAge, got.value, got.found)
	}
}

// downPublisher refuses every message, as a broker that is down.
type downPublisher struct{}

func (downPublisher) Publish(context.Context, string, []byte) error {
	return errors.New("the broker is down")
}

func (downPublisher) Close() error { return nil }

// Without providers nothing is traced or measured, nothing panics, and
// the OpenTelemetry globals are not read: a global tracer provider that
// would record every span records none.
func TestNoProvidersTouchNoGlobals(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	global := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	mp, metrics := newMeter(t)
	prevTP, prevMP := otel.GetTracerProvider(), otel.GetMeterProvider()
	otel.SetTracerProvider(global)
	otel.SetMeterProvider(mp)
	t.Cleanup(func() {
		otel.SetTracerProvider(prevTP)
		otel.SetMeterProvider(prevMP)
		_ = global.Shutdown(context.Background())
	})

	broker := startBroker(t, e2eBrokerConfig)
	db := testkit.Postgres(t, eventbuspg.Migrations)
	p := startPipeline(t, pipelineOptions{URL: broker.URL(), DB: db.DB})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	relay := eventbuspg.NewRelay(db.DB, p.client, eventbuspg.RelayConfig{PollInterval: 100 * time.Millisecond}, testkit.NewLogger(t))
	if err := relay.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := relay.Stop(ctx); err != nil {
			t.Error(err)
		}
	}()
	outbox := eventbuspg.NewOutbox(db.DB, eventbuspg.OutboxConfig{Source: "no-providers"})
	env, err := outbox.Publish(ctx, "tracker/events/quiet/1", "quiet", nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := newPublisher(t, broker.URL())
	if err := pub.publish(ctx, "tracker/events/quiet/2", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the event is handled", func() bool { return p.handled.get(env.IdempotencyKey) == 1 })
	eventually(t, 30*time.Second, "the dead letter is stored", func() bool {
		return tryCount(db.DB, "SELECT count(*) FROM dlq_events") == 1
	})
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("the global tracer provider recorded %d spans, want none", n)
	}
	if got := metrics.get(eventbus.MetricIngest, "result", "stored"); got.found {
		t.Errorf("the global meter provider has %s = %v, want nothing", eventbus.MetricIngest, got.value)
	}
}
