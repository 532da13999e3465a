package eventbuspg

import (
	"log/slog"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/store"
)

// Module provides the PostgreSQL parts of the event bus from the
// TAYLORDASH_EVENTS_* configuration: the *Mirror (also as
// eventbus.Recorder), the *DeadLetterStore (also as
// eventbus.DeadLetters), the *Outbox, and the *Relay and *Retention,
// which it starts and stops with the application. It contributes
// Migrations to store.Module. The relay publishes through the
// eventbus.Publisher of the graph (the MQTT transport's module provides
// it). A metric.MeterProvider, a trace.TracerProvider and a *slog.Logger
// in the graph are used when present.
var Module = fx.Module("eventbus.pg",
	dashcore.ProvideConfig[Config](),
	store.AsMigrations(Migrations.Namespace, Migrations.FS, Migrations.DependsOn...),
	fx.Provide(
		fx.Annotate(newModuleMirror, fx.As(fx.Self()), fx.As(new(eventbus.Recorder))),
		fx.Annotate(newModuleDeadLetters, fx.As(fx.Self()), fx.As(new(eventbus.DeadLetters))),
		newModuleOutbox,
		newModuleRelay,
		newModuleRetention,
		newModuleStream,
	),
	fx.Invoke(func(*Relay, *Retention, *Stream) {}),
)

type moduleParams struct {
	fx.In
	DB             *store.DB
	Config         Config
	Core           dashcore.Config      `optional:"true"`
	Events         eventbus.Config      `optional:"true"`
	Logger         *slog.Logger         `optional:"true"`
	MeterProvider  metric.MeterProvider `optional:"true"`
	TracerProvider trace.TracerProvider `optional:"true"`
}

func (p moduleParams) options() []Option {
	var opts []Option
	if p.MeterProvider != nil {
		opts = append(opts, WithMeterProvider(p.MeterProvider))
	}
	if p.TracerProvider != nil {
		opts = append(opts, WithTracerProvider(p.TracerProvider))
	}
	return opts
}

func (p moduleParams) logger() *slog.Logger {
	if p.Logger == nil {
		return nil
	}
	return p.Logger.With(slog.String("module", "eventbus.pg"))
}

type mirrorParams struct {
	fx.In
	Common    moduleParams
	Lifecycle fx.Lifecycle
}

// newModuleMirror closes the mirror's lease when the application stops.
func newModuleMirror(p mirrorParams) *Mirror {
	m := NewMirror(p.Common.DB, p.Common.options()...)
	p.Lifecycle.Append(fx.StopHook(m.Close))
	return m
}

func newModuleDeadLetters(p moduleParams) *DeadLetterStore {
	return NewDeadLetterStore(p.DB, p.options()...)
}

// newModuleOutbox names the source as the ingest pipeline does: its
// configured source, else the service's name.
func newModuleOutbox(p moduleParams) *Outbox {
	source := p.Events.Source
	if source == "" || source == (eventbus.Config{}).WithDefaults().Source {
		if p.Core.ServiceName != "" {
			source = p.Core.ServiceName
		}
	}
	return NewOutbox(p.DB, OutboxConfig{Source: source}, p.options()...)
}

type relayParams struct {
	fx.In
	Common    moduleParams
	Publisher eventbus.Publisher
	Lifecycle fx.Lifecycle
}

func newModuleRelay(p relayParams) *Relay {
	c := p.Common
	r := NewRelay(c.DB, p.Publisher, c.Config.Relay(), c.logger(), c.options()...)
	p.Lifecycle.Append(fx.Hook{OnStart: r.Start, OnStop: r.Stop})
	return r
}

type retentionParams struct {
	fx.In
	Common    moduleParams
	Lifecycle fx.Lifecycle
}

func newModuleRetention(p retentionParams) *Retention {
	c := p.Common
	r := NewRetention(c.DB, c.Config.Retention(), c.logger())
	p.Lifecycle.Append(fx.Hook{OnStart: r.Start, OnStop: r.Stop})
	return r
}

type streamParams struct {
	fx.In
	Common    moduleParams
	Lifecycle fx.Lifecycle
}

// newModuleStream follows the mirror for the event stream route, from the
// application's start to its stop.
func newModuleStream(p streamParams) *Stream {
	s := NewStream(p.Common.DB, StreamConfig{}, p.Common.logger())
	p.Lifecycle.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	return s
}
