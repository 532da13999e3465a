package mqtt

import (
	"context"
	"fmt"

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
)

const meterName = "github.com/taylordash/taylordash/eventbus/mqtt"

type metrics struct {
	meter      metric.Meter
	connected  metric.Int64ObservableGauge
	reconnects metric.Int64ObservableCounter
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
	return m, nil
}

// register starts reporting c's connections.
func (m *metrics) register(c *Client) error {
	reg, err := m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
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
	}, m.connected, m.reconnects)
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
