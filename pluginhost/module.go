package pluginhost

import (
	"context"
	"log/slog"

	"go.uber.org/fx"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
)

// Module provides the plugin host from the TAYLORDASH_PLUGINS_*
// configuration: the *Registry, the *Installer and the lifecycle routes
// under /api/v1/plugins, and contributes Migrations. It uses, when the
// graph has them: a BundleScanner (UI plugins are refused without one),
// a ModuleChecker (wasm plugins are refused without one), an
// auth.Auditor (changes are audited), a *slog.Logger and dashcore.Info
// (its Version is the TaylorDash version manifests must accept). It
// needs auth.Module: each plugin is a principal (role plugin:<id>) in
// the *auth.Authorizer's policy, reconciled at start, and its tokens are
// an authenticator of the guard.
var Module = fx.Module("pluginhost",
	dashcore.ProvideConfig[Config](),
	store.AsMigrations(Migrations.Namespace, Migrations.FS, Migrations.DependsOn...),
	fx.Provide(
		NewRegistry,
		newModuleInstaller,
		newModulePrincipals,
		auth.AsAuthenticator(func(p *Principals) *Principals { return p }),
		dashcore.AsRoutes(newModuleRoutes),
	),
	fx.Invoke(syncOnStart),
)

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
	Installer  *Installer
	Registry   *Registry
	Principals *Principals
	Authorizer *auth.Authorizer
	Auditor    auth.Auditor `optional:"true"`
	Logger     *slog.Logger `optional:"true"`
}

func newModuleRoutes(p routesParams) dashcore.Routes {
	rt := &Routes{Installer: p.Installer, Registry: p.Registry, Principals: p.Principals, Authorizer: p.Authorizer,
		Auditor: p.Auditor, Logger: p.Logger}
	return rt.Contribution()
}
