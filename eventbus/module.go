package eventbus

import (
	"fmt"
	"log/slog"
	"reflect"
	"runtime"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
)

// Module runs the ingest pipeline: it consumes the configured topics from
// the eventbus.Subscriber in the graph (the MQTT transport's module
// provides it), stores events through the eventbus.Recorder and
// eventbus.DeadLetters (eventbuspg's module provides them), and runs the
// handlers contributed with AsHandler and AsRoute. A metric.MeterProvider
// and a trace.TracerProvider in the graph are used when present.
var Module = fx.Module("eventbus",
	dashcore.ProvideConfig[Config](),
	fx.Provide(newModuleIngest),
	fx.Invoke(func(*Ingest) {}),
)

// RoutesGroup is the value group of handler routes.
const RoutesGroup = "eventbus.routes"

// AsRoute annotates a constructor returning a Route as a handler of the
// ingest pipeline: fx.Provide(eventbus.AsRoute(newProjectsHandler)).
func AsRoute(f any) any {
	return fx.Annotate(f, fx.ResultTags(`group:"`+RoutesGroup+`"`))
}

// AsHandler contributes handler for the topics matching pattern. handler
// is a Handler (or a func(context.Context, *Event) error), or a
// constructor returning one, whose parameters fx fills:
//
//	eventbus.AsHandler("tracker/events/projects/+", func(db *store.DB) eventbus.Handler { ... })
//
// The route is named after the pattern and the function.
func AsHandler(pattern string, handler any) fx.Option {
	v := reflect.ValueOf(handler)
	if !v.IsValid() || v.Kind() != reflect.Func {
		return fx.Error(fmt.Errorf("eventbus: AsHandler(%q): handler must be a function, got %T", pattern, handler))
	}
	name := pattern + " " + runtime.FuncForPC(v.Pointer()).Name()
	handlerType := reflect.TypeFor[Handler]()
	if v.Type().ConvertibleTo(handlerType) {
		h := v.Convert(handlerType).Interface().(Handler)
		return fx.Provide(AsRoute(func() Route { return Route{Name: name, Pattern: pattern, Handler: h} }))
	}
	t := v.Type()
	if t.NumOut() < 1 || !t.Out(0).ConvertibleTo(handlerType) || t.NumOut() > 2 ||
		(t.NumOut() == 2 && t.Out(1) != reflect.TypeFor[error]()) {
		return fx.Error(fmt.Errorf("eventbus: AsHandler(%q): %s is neither a Handler nor a constructor returning one", pattern, t))
	}
	in := make([]reflect.Type, t.NumIn())
	for i := range in {
		in[i] = t.In(i)
	}
	ctor := reflect.MakeFunc(
		reflect.FuncOf(in, []reflect.Type{reflect.TypeFor[Route](), reflect.TypeFor[error]()}, false),
		func(args []reflect.Value) []reflect.Value {
			out := v.Call(args)
			errOut := reflect.Zero(reflect.TypeFor[error]())
			if len(out) == 2 && !out[1].IsNil() {
				return []reflect.Value{reflect.ValueOf(Route{}), out[1]}
			}
			h := out[0].Convert(handlerType).Interface().(Handler)
			return []reflect.Value{reflect.ValueOf(Route{Name: name, Pattern: pattern, Handler: h}), errOut}
		})
	return fx.Provide(AsRoute(ctor.Interface()))
}

type ingestParams struct {
	fx.In
	Config         Config
	Core           dashcore.Config `optional:"true"`
	Subscriber     Subscriber
	Recorder       Recorder
	DeadLetters    DeadLetters
	Publisher      Publisher            `optional:"true"`
	Routes         []Route              `group:"eventbus.routes"`
	Logger         *slog.Logger         `optional:"true"`
	MeterProvider  metric.MeterProvider `optional:"true"`
	TracerProvider trace.TracerProvider `optional:"true"`
	Lifecycle      fx.Lifecycle
}

func newModuleIngest(p ingestParams) (*Ingest, error) {
	cfg := p.Config
	if cfg.Source == "" || cfg.Source == (Config{}).WithDefaults().Source {
		if p.Core.ServiceName != "" {
			cfg.Source = p.Core.ServiceName
		}
	}
	log := p.Logger
	if log != nil {
		log = log.With(slog.String("module", "eventbus"))
	}
	in, err := NewIngest(IngestOptions{
		Config: cfg, Subscriber: p.Subscriber, Recorder: p.Recorder, DeadLetters: p.DeadLetters,
		Publisher: p.Publisher, Routes: p.Routes, Logger: log, MeterProvider: p.MeterProvider,
		TracerProvider: p.TracerProvider,
	})
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.Hook{OnStart: in.Start, OnStop: in.Stop})
	return in, nil
}
