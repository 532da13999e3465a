package mqtt

import (
	"context"
	"fmt"
	"log/slog"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus"
)

// Module provides the *Client from the TAYLORDASH_MQTT_* configuration,
// also as the application's eventbus.Publisher and eventbus.Subscriber,
// and the "mqtt" readiness check. The client starts connecting when the
// application starts (without waiting: see [Client.Start]) and stops with
// it. A *slog.Logger, a metric.MeterProvider and a trace.TracerProvider in
// the graph are used when present; so is a *dashcore.TLSPolicy, which
// warns about a plaintext broker URL to another machine, or refuses it
// with TAYLORDASH_REQUIRE_TLS.
var Module = fx.Module("eventbus.mqtt",
	dashcore.ProvideConfig[Config](),
	fx.Provide(
		newModuleClient,
		fx.Annotate(func(c *Client) *Client { return c }, fx.As(new(eventbus.Publisher))),
		fx.Annotate(func(c *Client) *Client { return c }, fx.As(new(eventbus.Subscriber))),
		dashcore.AsHealthCheck(newHealthCheck),
	),
)

type moduleParams struct {
	fx.In
	Config         Config
	Logger         *slog.Logger         `optional:"true"`
	MeterProvider  metric.MeterProvider `optional:"true"`
	TracerProvider trace.TracerProvider `optional:"true"`
	TLSPolicy      *dashcore.TLSPolicy  `optional:"true"`
	Lifecycle      fx.Lifecycle
}

func newModuleClient(p moduleParams) (*Client, error) {
	cfg := p.Config
	if cfg.MeterProvider == nil {
		cfg.MeterProvider = p.MeterProvider
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = p.TracerProvider
	}
	log := p.Logger
	if log != nil {
		log = log.With(slog.String("module", "eventbus.mqtt"))
	}
	c, err := New(cfg, log)
	if err != nil {
		return nil, err
	}
	if err := p.TLSPolicy.Check(cfg.Endpoints()...); err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	p.Lifecycle.Append(fx.StartStopHook(c.Start, c.Stop))
	return c, nil
}

func newHealthCheck(c *Client) dashcore.HealthCheck {
	return dashcore.HealthCheck{Name: "mqtt", Check: func(ctx context.Context) error {
		if err := c.Check(ctx); err != nil {
			return dashcore.NewError(dashcore.ErrUnavailable, "not connected to the MQTT broker", err)
		}
		return nil
	}}
}
