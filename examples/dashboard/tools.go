package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/casbin/casbin/v2/persist"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/auth/authpg"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/eventbus/mqtt"
	"github.com/taylordash/taylordash/examples/dashboard/app"
	"github.com/taylordash/taylordash/internal/devdb"
	"github.com/taylordash/taylordash/pluginhost"
	"github.com/taylordash/taylordash/store"
)

// tools are the application's services for a command other than serve:
// built from the same modules (app.Modules) and configuration as the
// server, but not started, so that nothing listens, connects to the
// broker or runs in the background. Commands call them in-process.
type tools struct {
	fx.In

	Core       dashcore.Config
	Info       dashcore.Info
	Logger     *slog.Logger
	TLSPolicy  *dashcore.TLSPolicy
	DB         *store.DB
	Store      store.Config
	Migrations []store.Migrations `group:"store.migrations"`

	Accounts   *authpg.Accounts
	Keys       *authpg.APIKeys
	Hasher     *auth.PasswordHasher
	Authorizer *auth.Authorizer
	Watcher    persist.Watcher
	Audit      *authpg.AuditLog

	Plugins    pluginhost.Config
	Registry   *pluginhost.Registry
	Principals *pluginhost.Principals
	Scanner    pluginhost.BundleScanner
	Wasm       *pluginhost.WasmHost

	DeadLetters *eventbuspg.DeadLetterStore
	MQTT        mqtt.Config

	// What the server's handler is made of (for the OpenAPI document).
	Routes       []dashcore.Routes      `group:"dashcore.routes"`
	Checks       []dashcore.HealthCheck `group:"dashcore.health"`
	Middleware   []dashcore.Middleware  `group:"dashcore.middleware"`
	Transformers []dashcore.Transformer `group:"dashcore.transformers"`
}

// toolbox is tools opened for one command, and how to let go of them.
type toolbox struct {
	tools
	closers []func(context.Context)
}

// close releases what open took, last first.
func (tb *toolbox) close(ctx context.Context) {
	for i := len(tb.closers) - 1; i >= 0; i-- {
		tb.closers[i](ctx)
	}
}

// need says what a command needs of open.
type need int

const (
	// needDatabase: resolve the database as serve does, wait until it
	// answers and apply pending migrations (unless
	// TAYLORDASH_DATABASE_SKIP_MIGRATIONS). Without it nothing connects.
	needDatabase need = 1 << iota
	// needNoMigrations: with needDatabase, leave the schema alone (the
	// migrate command applies it itself).
	needNoMigrations
	// needPolicy: with needDatabase, load the authorization policy, and
	// tell running servers about changes to it.
	needPolicy
	// needWasmCache: keep the plugins' compiled wasm code where the
	// server keeps it (plugin install); otherwise a temporary directory
	// holds it, so that a command writes nothing it does not need to.
	needWasmCache
)

// Placeholders that let the modules be built when a command does not
// use what they address: nothing connects to them.
const (
	placeholderDatabaseURL = "postgres://127.0.0.1:5432/taylordash"
	placeholderMQTTURL     = "tcp://127.0.0.1:1883"
)

// open builds the tools with the command's environment.
func (c *cli) open(ctx context.Context, n need) (_ *toolbox, err error) {
	tb := &toolbox{}
	defer func() {
		if err != nil {
			tb.close(context.WithoutCancel(ctx))
		}
	}()
	env := c.environment()
	over := map[string]string{
		// A command needs a connection or two, not an idle pool.
		"TAYLORDASH_DATABASE_MIN_CONNS": "-1",
	}
	if _, ok := env.Lookup("TAYLORDASH_LOG_LEVEL"); !ok {
		over["TAYLORDASH_LOG_LEVEL"] = "warn"
		if c.verbose {
			over["TAYLORDASH_LOG_LEVEL"] = "info"
		}
	}
	if _, ok := env.Lookup("TAYLORDASH_LOG_FORMAT"); !ok {
		over["TAYLORDASH_LOG_FORMAT"] = "text"
	}
	if n&needDatabase != 0 {
		db, err := c.resolveDatabase(ctx, env)
		if err != nil {
			return nil, err
		}
		tb.closers = append(tb.closers, func(ctx context.Context) { _ = db.Stop(ctx) })
		over["TAYLORDASH_DATABASE_URL"] = db.URL
	} else if _, ok := env.Lookup("TAYLORDASH_DATABASE_URL"); !ok {
		over["TAYLORDASH_DATABASE_URL"] = placeholderDatabaseURL
	}
	if _, ok := env.Lookup("TAYLORDASH_MQTT_URL"); !ok {
		over["TAYLORDASH_MQTT_URL"] = placeholderMQTTURL
		if st := c.readState(); st != nil && st.MQTTURL != "" {
			over["TAYLORDASH_MQTT_URL"] = st.MQTTURL
		}
	}
	if _, ok := env.Lookup("TAYLORDASH_PLUGINS_WASM_CACHE_DIR"); !ok && n&needWasmCache == 0 {
		tmp, err := os.MkdirTemp("", "dashboard-wasm-")
		if err != nil {
			return nil, fmt.Errorf("create a temporary directory: %w", err)
		}
		tb.closers = append(tb.closers, func(context.Context) { _ = os.RemoveAll(tmp) })
		over["TAYLORDASH_PLUGINS_WASM_CACHE_DIR"] = tmp
	}
	env = env.With(over)

	a := fx.New(
		app.Modules(),
		dashcore.ProvideConfig[commandConfig](), // its variables are known
		fx.NopLogger,
		fx.Decorate(func() dashcore.Environment { return env }),
		fx.Decorate(func(cfg dashcore.Config) *slog.Logger { return dashcore.NewLogger(cfg.Log, c.stderr) }),
		fx.Invoke(func(t tools) { tb.tools = t }),
	)
	if err := a.Err(); err != nil {
		var ce *dashcore.ConfigError
		if errors.As(err, &ce) {
			return nil, ce
		}
		return nil, fmt.Errorf("build the application: %w", err)
	}
	tb.closers = append(tb.closers, func(ctx context.Context) {
		_ = tb.Wasm.Close(ctx)
		tb.DB.Close()
	})
	if n&needDatabase == 0 {
		return tb, nil
	}
	if err := tb.DB.WaitReady(ctx); err != nil {
		return nil, err
	}
	if n&needNoMigrations == 0 && !tb.Store.SkipMigrations {
		if _, err := store.Migrate(ctx, tb.DB, tb.Migrations...); err != nil {
			return nil, fmt.Errorf("%w; the schema is left as it was", err)
		}
	}
	if n&needPolicy != 0 {
		if err := tb.Authorizer.Reload(ctx); err != nil {
			return nil, fmt.Errorf("load the authorization policy: %w", err)
		}
		// Changes are announced to the running servers, which reload.
		if err := tb.Authorizer.SetWatcher(tb.Watcher); err != nil {
			return nil, fmt.Errorf("watch the authorization policy: %w", err)
		}
	}
	return tb, nil
}

// environment returns the environment with the global flags applied.
func (c *cli) environment() dashcore.Environment {
	if c.databaseURL != "" {
		return c.env.With(map[string]string{"TAYLORDASH_DATABASE_URL": c.databaseURL})
	}
	return c.env
}

// resolveDatabase picks the database as serve does, except that a
// dashboard serving from this directory with a cluster of its own is
// asked first (its cluster cannot be started twice).
func (c *cli) resolveDatabase(ctx context.Context, env dashcore.Environment) (*devdb.Database, error) {
	url, set := env.Lookup("TAYLORDASH_DATABASE_URL")
	if !set {
		if st := c.readState(); st != nil && st.DatabaseURL != "" {
			return &devdb.Database{URL: st.DatabaseURL, Source: "running dashboard"}, nil
		}
	}
	log := slog.New(slog.DiscardHandler)
	if c.verbose {
		log = slog.New(slog.NewTextHandler(c.stderr, nil))
	}
	db, err := devdb.Resolve(ctx, devdb.Options{URL: url, Dir: filepath.Join(c.dir, "pg"), Logger: log})
	if err != nil {
		return nil, fmt.Errorf("%w; or pass --database-url", err)
	}
	return db, nil
}

// cliClient is the caller as the audit log records it.
var cliClient = authpg.Client{UserAgent: "dashboard command line"}

// audit records an event done from the command line; a failure is a
// warning, as in the API.
func (tb *toolbox) audit(ctx context.Context, typ, outcome string, details map[string]any) {
	e := auth.NewAuditEvent(typ, nil, "", nil)
	e.Outcome, e.UserAgent, e.Details = outcome, cliClient.UserAgent, details
	if err := tb.Audit.Audit(ctx, e); err != nil {
		tb.Logger.WarnContext(ctx, "audit event not recorded", slog.String("type", typ), slog.Any("error", err))
	}
}
