package authpg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/casbin/casbin/v2/persist"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
)

// Config configures the module.
type Config struct {
	// Sessions configures local sessions (TAYLORDASH_AUTH_SESSION_*).
	Sessions SessionConfig `envPrefix:"AUTH_SESSION_"`
	// BootstrapAdminUser, with BootstrapAdminPassword, creates the first
	// admin on start when no active admin exists. There is no default
	// admin and no default password.
	BootstrapAdminUser string `env:"BOOTSTRAP_ADMIN_USER"`
	// BootstrapAdminPassword is the first admin's password; it must meet
	// the password policy.
	BootstrapAdminPassword string `env:"BOOTSTRAP_ADMIN_PASSWORD" secret:"true"`
	// GenerateAdmin creates an admin with a random password on start
	// when no active admin exists ([Accounts.GenerateAdmin]), and prints
	// the password once, to standard error; later starts find the admin
	// and print nothing. Ignored when BootstrapAdminUser is set. Default
	// false: a library never makes an admin unasked; the dashboard
	// command turns it on.
	GenerateAdmin bool `env:"BOOTSTRAP_ADMIN_GENERATE"`
	// AuditRetention is how long audit rows are kept; 0 keeps them for
	// ever. Default 365 days.
	AuditRetention time.Duration `env:"AUTH_AUDIT_RETENTION"`
	// CleanupInterval is how often ended sessions (a day after they
	// ended) and audit rows past AuditRetention are deleted. Default 1h.
	CleanupInterval time.Duration `env:"AUTH_CLEANUP_INTERVAL"`
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	c.Sessions = c.Sessions.WithDefaults()
	if c.AuditRetention == 0 {
		c.AuditRetention = 365 * 24 * time.Hour
	}
	if c.CleanupInterval == 0 {
		c.CleanupInterval = time.Hour
	}
	return c
}

// Validate reports every field that cannot work.
func (c Config) Validate() error {
	var errs []error
	if err := c.Sessions.Validate(); err != nil {
		errs = append(errs, &dashcore.FieldError{Field: "Sessions", Problem: err.Error()})
	}
	if c.AuditRetention < 0 {
		errs = append(errs, &dashcore.FieldError{Field: "AuditRetention", Problem: "must not be negative; 0 keeps rows for ever"})
	}
	if c.CleanupInterval <= 0 {
		errs = append(errs, &dashcore.FieldError{Field: "CleanupInterval", Problem: "must be positive, such as 1h"})
	}
	if (c.BootstrapAdminUser == "") != (c.BootstrapAdminPassword == "") {
		errs = append(errs, &dashcore.FieldError{Field: "BootstrapAdminPassword",
			Problem: "must be set together with TAYLORDASH_BOOTSTRAP_ADMIN_USER (both or neither)"})
	}
	return errors.Join(errs...)
}

// Module keeps the auth module's state in PostgreSQL: it contributes
// Migrations, and provides the Casbin policy's persist.Adapter and
// persist.Watcher (started and stopped with the application), the
// *APIKeys (also as auth.APIKeyStore), the *Sessions (auth.SessionStore),
// the *AuditLog (auth.Auditor; its events also go through an Outbox when
// the graph has one) and the *Accounts. On start, when no active admin
// exists, it creates the bootstrap admin when configured, or, with
// Config.GenerateAdmin, an admin with a random password that it prints once
// to standard error (or to the io.Writer named [AdminNoticeName]); from
// start to stop it deletes ended sessions and audit rows past their
// retention (Cleanup). Use it with auth.Module; HTTPModule adds the routes.
var Module = fx.Module("authpg",
	dashcore.ProvideConfig[Config](),
	store.AsMigrations(Migrations.Namespace, Migrations.FS, Migrations.DependsOn...),
	fx.Provide(
		fx.Annotate(NewCasbinAdapter, fx.As(new(persist.Adapter))),
		newModuleWatcher,
		fx.Annotate(NewAPIKeys, fx.As(fx.Self()), fx.As(new(auth.APIKeyStore))),
		fx.Annotate(newModuleAuditLog, fx.As(fx.Self()), fx.As(new(auth.Auditor))),
		newModuleAccounts,
		fx.Annotate(func(a *Accounts) *Sessions { return a.Sessions() }, fx.As(fx.Self()), fx.As(new(auth.SessionStore))),
	),
	fx.Invoke(bootstrapAdmin, startCleanup),
)

// HTTPModule adds the auth API (see Routes) to the application.
var HTTPModule = fx.Module("authpg.http",
	fx.Provide(dashcore.AsRoutes(newModuleRoutes)),
)

type watcherParams struct {
	fx.In
	DB        *store.DB
	Logger    *slog.Logger `optional:"true"`
	Lifecycle fx.Lifecycle
}

func newModuleWatcher(p watcherParams) persist.Watcher {
	w := NewPolicyWatcher(p.DB, WatcherConfig{}, p.Logger)
	p.Lifecycle.Append(fx.Hook{OnStart: w.Start, OnStop: w.Stop})
	return w
}

type auditParams struct {
	fx.In
	DB     *store.DB
	Outbox Outbox       `optional:"true"`
	Logger *slog.Logger `optional:"true"`
}

func newModuleAuditLog(p auditParams) *AuditLog { return NewAuditLog(p.DB, p.Outbox, p.Logger) }

type accountsParams struct {
	fx.In
	DB         *store.DB
	Config     Config
	Hasher     *auth.PasswordHasher
	Guard      *auth.LoginGuard
	Audit      *AuditLog
	Authorizer *auth.Authorizer
	Logger     *slog.Logger `optional:"true"`
}

func newModuleAccounts(p accountsParams) (*Accounts, error) {
	return NewAccounts(p.DB, AccountsOptions{Sessions: p.Config.Sessions, Hasher: p.Hasher, Guard: p.Guard,
		Auditor: p.Audit, Roles: p.Authorizer.GrantableRoles, Logger: p.Logger})
}

// AdminNoticeName names the io.Writer that [Module] prints a generated
// admin's password to, when the application supplies one (tests);
// standard error otherwise:
//
//	fx.Supply(fx.Annotate(w, fx.As(new(io.Writer)), fx.ResultTags(`name:"authpg.admin_notice"`)))
const AdminNoticeName = "authpg.admin_notice"

type bootstrapParams struct {
	fx.In
	Config    Config
	Accounts  *Accounts
	Logger    *slog.Logger `optional:"true"`
	Notice    io.Writer    `name:"authpg.admin_notice" optional:"true"`
	Lifecycle fx.Lifecycle
}

func bootstrapAdmin(p bootstrapParams) {
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch {
	case p.Config.BootstrapAdminUser != "":
		p.Lifecycle.Append(fx.Hook{OnStart: func(ctx context.Context) error {
			created, err := p.Accounts.EnsureAdmin(ctx, p.Config.BootstrapAdminUser, p.Config.BootstrapAdminPassword)
			if err != nil {
				return fmt.Errorf("authpg: TAYLORDASH_BOOTSTRAP_ADMIN_USER: %w", err)
			}
			if created {
				log.InfoContext(ctx, "auth: created the first admin", "username", p.Config.BootstrapAdminUser)
			}
			return nil
		}})
	case p.Config.GenerateAdmin:
		notice := p.Notice
		if notice == nil {
			notice = os.Stderr
		}
		p.Lifecycle.Append(fx.Hook{OnStart: func(ctx context.Context) error {
			admin, err := p.Accounts.GenerateAdmin(ctx)
			if err != nil {
				return fmt.Errorf("authpg: TAYLORDASH_BOOTSTRAP_ADMIN_GENERATE: %w", err)
			}
			if admin == nil {
				log.DebugContext(ctx, "auth: an active admin exists; none generated")
				return nil
			}
			if err := admin.WriteNotice(notice); err != nil {
				return fmt.Errorf("authpg: print the generated admin's password: %w", err)
			}
			where := "standard error"
			if p.Notice != nil {
				where = AdminNoticeName
			}
			log.WarnContext(ctx, "auth: no admin existed; generated one and printed its password once to "+where+
				"; it is not shown again: log in with it and change it",
				"username", admin.Username)
			return nil
		}})
	}
}

type cleanupParams struct {
	fx.In
	DB        *store.DB
	Config    Config
	Logger    *slog.Logger `optional:"true"`
	Lifecycle fx.Lifecycle
}

func startCleanup(p cleanupParams) {
	c := NewCleanup(p.DB, CleanupConfig{Interval: p.Config.CleanupInterval, AuditRetention: p.Config.AuditRetention}, p.Logger)
	p.Lifecycle.Append(fx.Hook{OnStart: c.Start, OnStop: c.Stop})
}

type routesParams struct {
	fx.In
	Accounts   *Accounts
	Keys       *APIKeys
	KeyAuth    *auth.APIKeyAuthenticator
	Authorizer *auth.Authorizer
	Audit      *AuditLog
	Origins    *auth.OriginPolicy `optional:"true"`
}

func newModuleRoutes(p routesParams) dashcore.Routes {
	rt := &Routes{Accounts: p.Accounts, Keys: p.Keys, KeyAuth: p.KeyAuth, Authorizer: p.Authorizer, Audit: p.Audit,
		Origins: p.Origins}
	return rt.Contribution()
}
