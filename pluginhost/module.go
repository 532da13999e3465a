package pluginhost

import (
	"context"
	"log/slog"
	"path/filepath"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/pluginhost/wasm"
	"github.com/taylordash/taylordash/store"
)

// Module provides the plugin host from the TAYLORDASH_PLUGINS_*
// configuration: the *Registry, the *Installer and the lifecycle routes
// under /api/v1/plugins, and contributes Migrations. It uses, when the
// graph has them: a BundleScanner (UI plugins are refused without one),
// a ModuleChecker (wasm plugins are refused without one), an
// auth.Auditor (changes are audited), a *slog.Logger and dashcore.Info
// (its Version is the TaylorDash version manifests must accept), a
// Publisher (plugin events; the event bus's outbox) and the meter and
// tracer providers. It needs auth.Module: each plugin is a principal
// (role plugin:<id>) in the *auth.Authorizer's policy, reconciled at
// start, and its tokens are an authenticator of the guard. It runs the
// WebAssembly runtime (TAYLORDASH_PLUGINS_WASM_*) with the *WasmHost,
// which is the installer's ModuleChecker, routes every event to the
// plugins subscribed to it (an eventbus handler on "#", so it needs
// eventbus.Module) and serves their operations.
var Module = fx.Module("pluginhost",
	dashcore.ProvideConfig[Config](),
	store.AsMigrations(Migrations.Namespace, Migrations.FS, Migrations.DependsOn...),
	dashcore.ProvideConfig[wasm.Config](),
	fx.Provide(
		NewRegistry,
		newModuleInstaller,
		newModulePrincipals,
		auth.AsAuthenticator(func(p *Principals) *Principals { return p }),
		fx.Annotate(newModuleWasmHost, fx.As(fx.Self()), fx.As(new(ModuleChecker))),
		dashcore.AsRoutes(newModuleRoutes),
		dashcore.AsHealthCheck(func(h *WasmHost) dashcore.HealthCheck { return h.HealthCheck() }),
	),
	eventbus.AsHandler("#", func(h *WasmHost) eventbus.Handler { return h.HandleEvent }),
	fx.Invoke(syncOnStart),
)

type wasmParams struct {
	fx.In
	LC             fx.Lifecycle
	Config         Config
	Wasm           wasm.Config
	Registry       *Registry
	Events         Publisher            `optional:"true"`
	Logger         *slog.Logger         `optional:"true"`
	MeterProvider  metric.MeterProvider `optional:"true"`
	TracerProvider trace.TracerProvider `optional:"true"`
}

// newModuleWasmHost starts the WebAssembly runtime (its compiled code
// cached on disk under the plugin directory unless
// TAYLORDASH_PLUGINS_WASM_CACHE_DIR says otherwise) and the host that
// runs the installed wasm plugins, from start to stop.
func newModuleWasmHost(p wasmParams) (*WasmHost, error) {
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With(slog.String("module", "pluginhost"))
	cfg := p.Wasm
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(p.Config.Dir, ".cache")
	}
	h, err := NewWasmHost(context.Background(), cfg, wasm.Options{Logger: log, MeterProvider: p.MeterProvider,
		TracerProvider: p.TracerProvider}, p.Registry, p.Events)
	if err != nil {
		return nil, err
	}
	p.LC.Append(fx.Hook{
		OnStart: func(ctx context.Context) error { return h.Start(ctx, p.Config.WasmSyncInterval) },
		OnStop:  h.Close,
	})
	return h, nil
}

func newModulePrincipals(db *store.DB, authz *auth.Authorizer, cfg Config) *Principals {
	return NewPrincipals(db, authz, cfg.TokenTTL)
}

// syncOnStart reconciles the plugins' roles with the policy when the
// application starts.
func syncOnStart(lc fx.Lifecycle, ps *Principals, log *slog.Logger) {
	lc.Append(fx.StartHook(func(ctx context.Context) {
		if err := ps.SyncAll(ctx); err != nil {
			log.Error("plugin roles not reconciled", slog.Any("error", err))
		}
	}))
}

type installerParams struct {
	fx.In
	DB      *store.DB
	Config  Config
	Info    dashcore.Info `optional:"true"`
	Scanner BundleScanner `optional:"true"`
	Modules ModuleChecker `optional:"true"`
	Logger  *slog.Logger  `optional:"true"`
}

func newModuleInstaller(p installerParams) (*Installer, error) {
	version := p.Info.Version
	if version == "" {
		version = "1.0.0"
	}
	log := p.Logger
	if log != nil {
		log = log.With(slog.String("module", "pluginhost"))
	}
	return NewInstaller(p.DB, p.Config.installerConfig(version), InstallerOptions{Scanner: p.Scanner, Modules: p.Modules, Logger: log})
}

type routesParams struct {
	fx.In
	Wasm       *WasmHost
	Installer  *Installer
	Registry   *Registry
	Principals *Principals
	Authorizer *auth.Authorizer
	Auditor    auth.Auditor `optional:"true"`
	Logger     *slog.Logger `optional:"true"`
}

func newModuleRoutes(p routesParams) dashcore.Routes {
	rt := &Routes{Installer: p.Installer, Registry: p.Registry, Principals: p.Principals, Authorizer: p.Authorizer,
		Auditor: p.Auditor, Logger: p.Logger, Wasm: p.Wasm}
	p.Wasm.api = rt
	return rt.Contribution()
}
