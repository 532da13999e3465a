package mqtt

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Metric names.
const (
	// MetricConnected is a gauge per connection ("connection" attribute:
	// publish or subscribe): 1 while it is up, else 0.
	MetricConnected = "taylordash.mqtt.connected"
	// MetricReconnects counts the connections made again after a loss,
	// per connection.
	MetricReconnects = "taylordash.mqtt.reconnects"
	// MetricTaylorConnected is the original TaylorDash's gauge, without
	// attributes: 1 while both connections are up, else 0.
	MetricTaylorConnected = "taylor_mqtt_connected"
	// MetricLastMessageAge is a gauge of the seconds since the last message
	// was received (since Start while none was): a quiet bus shows as a
	// growing age. Scraped as taylor_mqtt_last_message_age_seconds.
	MetricLastMessageAge = "taylor_mqtt_last_message_age"
)

const meterName = "github.com/taylordash/taylordash/eventbus/mqtt"

type metrics struct {
	meter      metric.Meter
	connected  metric.Int64ObservableGauge
	reconnects metric.Int64ObservableCounter
	up         metric.Int64ObservableGauge
	lastAge    metric.Float64ObservableGauge
	reg        metric.Registration
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := &metrics{meter: mp.Meter(meterName)}
	var err error
	if m.connected, err = m.meter.Int64ObservableGauge(MetricConnected,
		metric.WithDescription("1 while the connection to the MQTT broker is up, else 0")); err != nil {
		return nil, fmt.Errorf("mqtt: metric %s: %w", MetricConnected, err)
	}
	if m.reconnects, err = m.meter.Int64ObservableCounter(MetricReconnects,
		metric.WithDescription("Connections to the MQTT broker made again after a loss")); err != nil {
		return nil, fmt.Errorf("mqtt: metric %s: %w", MetricReconnects, err)
	}
	if m.up, err = m.meter.Int64ObservableGauge(MetricTaylorConnected,
		metric.WithDescription("1 while both connections to the MQTT broker are up, else 0")); err != nil {
		return nil, fmt.Errorf("mqtt: metric %s: %w", MetricTaylorConnected, err)
	}
	if m.lastAge, err = m.meter.Float64ObservableGauge(MetricLastMessageAge, metric.WithUnit("s"),
		metric.WithDescription("Seconds since the last message was received from the MQTT broker (since the client started, while none was)")); err != nil {
		return nil, fmt.Errorf("mqtt: metric %s: %w", MetricLastMessageAge, err)
	}
	return m, nil
}

// register starts reporting c's connections.
func (m *metrics) register(c *Client) error {
	started := time.Now()
	reg, err := m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		both := int64(0)
		if c.Connected() {
			both = 1
		}
		o.ObserveInt64(m.up, both)
		age := c.LastMessageAge()
		if age == 0 {
			age = time.Since(started)
		}
		o.ObserveFloat64(m.lastAge, age.Seconds())
		for _, k := range []*connection{c.pub, c.sub} {
			attrs := metric.WithAttributes(attribute.String("connection", k.name))
			up := int64(0)
			if k.up() {
				up = 1
			}
			o.ObserveInt64(m.connected, up, attrs)
			k.mu.Lock()
			n := k.reconnects
			k.mu.Unlock()
			o.ObserveInt64(m.reconnects, n, attrs)
		}
		return nil
	}, m.connected, m.reconnects, m.up, m.lastAge)
	if err != nil {
		return fmt.Errorf("mqtt: register metrics: %w", err)
	}
	m.reg = reg
	return nil
}

func (m *metrics) unregister() {
	if m.reg != nil {
		_ = m.reg.Unregister()
		m.reg = nil
	}
}
