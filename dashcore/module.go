package dashcore

import (
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
)

// Module composes an application's core: the environment and typed
// configuration, the *slog.Logger, the HTTP server with its huma API,
// health endpoints and middleware chain. Other modules contribute with
// [AsRoutes], [AsHealthCheck], [AsMiddleware], [AsTransformer],
// [AsLogHandlerWrapper] and [ProvideConfig]. It provides the [*TLSPolicy]
// (TAYLORDASH_REQUIRE_TLS) that modules opening connections check their
// links with, and checks the HTTP listener with it.
var Module = fx.Module("dashcore",
	ProvideConfig[Config](),
	fx.Provide(
		func() Environment { return OSEnvironment() },
		newConfigSet,
		func(p loggerParams) *slog.Logger {
			return WrapLogger(loggerFromEnv(p.Env, os.Stderr), p.Wrappers)
		},
		newModuleServer,
		func(c Config, log *slog.Logger) *TLSPolicy { return NewTLSPolicy(c.RequireTLS, log) },
	),
	fx.Invoke(func(*Server) {}),
)

// Value group names, for modules that annotate by hand.
const (
	RoutesGroup     = "dashcore.routes"
	HealthGroup     = "dashcore.health"
	MiddlewareGroup = "dashcore.middleware"
	// TransformersGroup collects the response [Transformer]s.
	TransformersGroup = "dashcore.transformers"
	ConfigGroup       = "dashcore.config"
	// LogWrappersGroup collects the [LogHandlerWrapper]s applied around
	// the handler of the application's *slog.Logger.
	LogWrappersGroup = "dashcore.log_wrappers"
)

// AsRoutes annotates a constructor returning [Routes] as a contribution
// to the API: fx.Provide(dashcore.AsRoutes(newProjectRoutes)).
func AsRoutes(f any) any {
	return fx.Annotate(f, fx.ResultTags(`group:"`+RoutesGroup+`"`))
}

// AsHealthCheck annotates a constructor returning [HealthCheck] as a
// readiness check: fx.Provide(dashcore.AsHealthCheck(newDBCheck)).
func AsHealthCheck(f any) any {
	return fx.Annotate(f, fx.ResultTags(`group:"`+HealthGroup+`"`))
}

// AsMiddleware annotates a constructor returning [Middleware] as a
// contribution to the middleware chain.
func AsMiddleware(f any) any {
	return fx.Annotate(f, fx.ResultTags(`group:"`+MiddlewareGroup+`"`))
}

// AsTransformer annotates a constructor returning [Transformer] as a
// response transformer: fx.Provide(dashcore.AsTransformer(newRedactor)).
func AsTransformer(f any) any {
	return fx.Annotate(f, fx.ResultTags(`group:"`+TransformersGroup+`"`))
}

// AsLogHandlerWrapper annotates a constructor returning [LogHandlerWrapper]
// as a wrapper of the application logger's handler:
// fx.Provide(dashcore.AsLogHandlerWrapper(newRedactingWrapper)). The
// constructor must not depend on *slog.Logger, directly or through its
// own dependencies, or the graph has a cycle.
func AsLogHandlerWrapper(f any) any {
	return fx.Annotate(f, fx.ResultTags(`group:"`+LogWrappersGroup+`"`))
}

type loggerParams struct {
	fx.In
	Env      Environment
	Wrappers []LogHandlerWrapper `group:"dashcore.log_wrappers"`
}

// WithEnv makes vars win over the process environment in this application,
// without the unknown-variable check (they come from code, not from an
// operator). Tests and CLIs use it; keys are full names
// ("TAYLORDASH_HTTP_ADDR").
func WithEnv(vars map[string]string) fx.Option {
	return fx.Decorate(func(env Environment) Environment { return env.With(vars) })
}

// ConfigTarget is one module's config struct, contributed to the group
// that the loader fills in one pass. Create it with [ProvideConfig].
type ConfigTarget struct {
	ptr any
}

// Type returns the config struct's type (for documentation generators).
func (t ConfigTarget) Type() reflect.Type { return reflect.TypeOf(t.ptr).Elem() }

// Vars lists the variables the target reads.
func (t ConfigTarget) Vars() []ConfigVar {
	vars, _ := ConfigVars(t.ptr)
	return vars
}

// configSet is every module's config, loaded and validated together so that
// one error lists every bad variable of the application.
type configSet struct {
	byType map[reflect.Type]any
}

type configSetParams struct {
	fx.In
	Env     Environment
	Targets []ConfigTarget `group:"dashcore.config"`
}

func newConfigSet(p configSetParams) (*configSet, error) {
	set := &configSet{byType: make(map[reflect.Type]any, len(p.Targets))}
	ptrs := make([]any, 0, len(p.Targets))
	// Group order is random: sort, so that the problems of one
	// configuration are listed in the same order on every start.
	targets := slices.Clone(p.Targets)
	slices.SortFunc(targets, func(a, b ConfigTarget) int {
		return strings.Compare(typeName(a.ptr), typeName(b.ptr))
	})
	for _, t := range targets {
		set.byType[reflect.TypeOf(t.ptr).Elem()] = t.ptr
		ptrs = append(ptrs, t.ptr)
	}
	if err := LoadConfig(p.Env, ptrs...); err != nil {
		return nil, err
	}
	return set, nil
}

func typeName(ptr any) string {
	t := reflect.TypeOf(ptr).Elem()
	return t.PkgPath() + "." + t.Name()
}

type configParams struct {
	fx.In
	Set *configSet  `optional:"true"`
	Env Environment `optional:"true"`
}

// ProvideConfig declares T, a config struct with env tags, as a module's
// configuration and provides it, loaded from the environment. T starts
// from T.WithDefaults() when T has that method. With dashcore.Module in the
// application every config is loaded and checked in one pass (one error
// lists every bad variable, unknown ones included); without it, T alone is
// loaded from the process environment.
func ProvideConfig[T any]() fx.Option {
	return fx.Options(
		fx.Provide(fx.Annotate(
			func() ConfigTarget { v := defaultsOf[T](); return ConfigTarget{ptr: &v} },
			fx.ResultTags(`group:"`+ConfigGroup+`"`),
		)),
		fx.Provide(func(p configParams) (T, error) {
			if p.Set != nil {
				if ptr, ok := p.Set.byType[reflect.TypeFor[T]()].(*T); ok {
					return *ptr, nil
				}
			}
			v := defaultsOf[T]()
			env := p.Env
			if env.vars == nil && env.overrides == nil { // none provided
				env = OSEnvironment()
			}
			err := LoadConfig(env.With(map[string]string{EnvPrefix + "ALLOW_UNKNOWN_ENV": "true"}), &v)
			return v, err
		}),
	)
}

func defaultsOf[T any]() T {
	var v T
	if d, ok := any(v).(interface{ WithDefaults() T }); ok {
		v = d.WithDefaults()
	}
	return v
}

type serverParams struct {
	fx.In
	Config     Config
	Log        *slog.Logger
	Info       Info          `optional:"true"`
	Routes     []Routes      `group:"dashcore.routes"`
	Checks     []HealthCheck `group:"dashcore.health"`
	Middleware []Middleware  `group:"dashcore.middleware"`
	// Transformers is the TransformersGroup.
	Transformers []Transformer `group:"dashcore.transformers"`
	Lifecycle    fx.Lifecycle
	Shutdowner   fx.Shutdowner
	TLSPolicy    *TLSPolicy
}

func newModuleServer(p serverParams) (*Server, error) {
	if err := p.TLSPolicy.Check(p.Config.HTTP.Endpoints()...); err != nil {
		return nil, fmt.Errorf("dashcore: %w", err)
	}
	h, _, err := NewHandler(HandlerOptions{
		Config:       p.Config.HTTP,
		ServiceName:  p.Config.ServiceName,
		Info:         p.Info,
		Logger:       p.Log,
		Routes:       p.Routes,
		Checks:       p.Checks,
		Middleware:   p.Middleware,
		Transformers: p.Transformers,
	})
	if err != nil {
		return nil, err
	}
	srv := NewServer(p.Config.HTTP, h, p.Log)
	srv.onFatal = func(error) { _ = p.Shutdowner.Shutdown(fx.ExitCode(1)) }
	p.Lifecycle.Append(fx.StartStopHook(srv.Start, srv.Stop))
	return srv, nil
}

// FxLogger returns the option that routes fx's own event log to the
// application's *slog.Logger (lifecycle at debug level, failures at
// error). [New] and [Run] include it.
func FxLogger() fx.Option {
	return fx.WithLogger(func(log *slog.Logger) fxevent.Logger { return newFxLogger(log, slog.LevelError) })
}
