package mqtt_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/taylordash/taylordash/eventbus/mqtt"
)

// fakeMeter records the instruments and the callback the client registers;
// collect runs the callback as a reader would.
type fakeMeter struct {
	noop.Meter
	mu           sync.Mutex
	callback     metric.Callback
	unregistered bool
}

type fakeProvider struct {
	noop.MeterProvider
	m *fakeMeter
}

func (p fakeProvider) Meter(string, ...metric.MeterOption) metric.Meter { return p.m }

type namedGauge struct {
	noop.Int64ObservableGauge
	name string
}

type namedCounter struct {
	noop.Int64ObservableCounter
	name string
}

func (m *fakeMeter) Int64ObservableGauge(name string, _ ...metric.Int64ObservableGaugeOption) (metric.Int64ObservableGauge, error) {
	return namedGauge{name: name}, nil
}

func (m *fakeMeter) Int64ObservableCounter(name string, _ ...metric.Int64ObservableCounterOption) (metric.Int64ObservableCounter, error) {
	return namedCounter{name: name}, nil
}

func (m *fakeMeter) RegisterCallback(f metric.Callback, _ ...metric.Observable) (metric.Registration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.callback = f
	return fakeRegistration{m: m}, nil
}

type fakeRegistration struct {
	noop.Registration
	m *fakeMeter
}

func (r fakeRegistration) Unregister() error {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	r.m.unregistered = true
	return nil
}

// observations maps "name connection" to the observed value.
type observations struct {
	embedded.Observer
	mu     sync.Mutex
	values map[string]int64
}

func (o *observations) ObserveFloat64(metric.Float64Observable, float64, ...metric.ObserveOption) {}

func (o *observations) ObserveInt64(obsrv metric.Int64Observable, v int64, opts ...metric.ObserveOption) {
	name := ""
	switch i := obsrv.(type) {
	case namedGauge:
		name = i.name
	case namedCounter:
		name = i.name
	}
	attrs := metric.NewObserveConfig(opts).Attributes()
	conn, _ := attrs.Value("connection")
	o.mu.Lock()
	defer o.mu.Unlock()
	o.values[name+" "+conn.AsString()] = v
}

func (m *fakeMeter) collect(t *testing.T) map[string]int64 {
	t.Helper()
	m.mu.Lock()
	f := m.callback
	m.mu.Unlock()
	if f == nil {
		t.Fatal("no callback registered")
	}
	o := &observations{values: map[string]int64{}}
	if err := f(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	return o.values
}

// The connected gauge follows the connections and the reconnect counter
// counts their returns.
func TestMetrics(t *testing.T) {
	broker := privateBroker(t, "", "")
	p := newProxy(t, strings.TrimPrefix(broker.URL(), "tcp://"))
	m := &fakeMeter{}
	c := startClient(t, mqtt.Config{URL: p.URL(), ClientID: uniqueID(t, "m"), WillTopic: "-", MeterProvider: fakeProvider{m: m}})
	want := func(connected, reconnects int64) {
		t.Helper()
		waitFor(t, "the metrics follow", func() bool {
			v := m.collect(t)
			for _, conn := range []string{"publish", "subscribe"} {
				if v[mqtt.MetricConnected+" "+conn] != connected || v[mqtt.MetricReconnects+" "+conn] != reconnects {
					return false
				}
			}
			return true
		})
	}
	want(1, 0)
	p.setRefuse(true)
	p.cut()
	want(0, 0)
	p.setRefuse(false)
	want(1, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.unregistered {
		t.Error("Stop did not unregister the callback")
	}
}
