package store

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
)

// Module provides *DB from the TAYLORDASH_DATABASE_* configuration. On
// start it waits for the server, then applies every module's migrations
// (unless SkipMigrations); on stop it closes the pool. The database's
// address is checked with the application's dashcore.TLSPolicy, if any:
// a link that leaves the machine without verified TLS is warned about, or
// refused with TAYLORDASH_REQUIRE_TLS. It contributes the
// "database" readiness check, and "database_pool", an optional check that
// fails while the pool is saturated (see CheckPool).
var Module = fx.Module("store",
	dashcore.ProvideConfig[Config](),
	fx.Provide(
		newModuleDB,
		dashcore.AsHealthCheck(newHealthCheck),
		dashcore.AsHealthCheck(newPoolCheck),
	),
)

// MigrationsGroup is the value group that collects every module's
// Migrations.
const MigrationsGroup = "store.migrations"

// AsMigrations contributes a module's migration files under namespace:
//
//	//go:embed migrations/*.sql
//	var migrations embed.FS
//
//	var Module = fx.Module("projects", store.AsMigrations("projects", migrations), ...)
func AsMigrations(namespace string, fsys fs.FS, dependsOn ...string) fx.Option {
	m := Migrations{Namespace: namespace, FS: fsys, DependsOn: dependsOn}
	return fx.Provide(fx.Annotate(
		func() Migrations { return m },
		fx.ResultTags(`group:"`+MigrationsGroup+`"`),
	))
}

type moduleParams struct {
	fx.In
	Config     Config
	Logger     *slog.Logger        `optional:"true"`
	Tracer     pgx.QueryTracer     `optional:"true"`
	Migrations []Migrations        `group:"store.migrations"`
	TLSPolicy  *dashcore.TLSPolicy `optional:"true"`
	Lifecycle  fx.Lifecycle
}

func newModuleDB(p moduleParams) (*DB, error) {
	cfg := p.Config
	if cfg.Logger == nil && p.Logger != nil {
		cfg.Logger = p.Logger.With(slog.String("module", "store"))
	}
	if cfg.Tracer == nil {
		cfg.Tracer = p.Tracer
	}
	db, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := p.TLSPolicy.Check(cfg.Endpoints()...); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	p.Lifecycle.Append(fx.Hook{
		// fx runs OnStop only for hooks whose OnStart succeeded: a failed
		// start closes the pool itself, or its connections would linger.
		OnStart: func(ctx context.Context) (err error) {
			defer func() {
				if err != nil {
					db.Close()
				}
			}()
			if err := db.WaitReady(ctx); err != nil {
				return err
			}
			if cfg.SkipMigrations {
				return nil
			}
			_, err = Migrate(ctx, db, p.Migrations...)
			return err
		},
		OnStop: func(context.Context) error {
			db.Close()
			return nil
		},
	})
	return db, nil
}

func newHealthCheck(db *DB) dashcore.HealthCheck {
	return dashcore.HealthCheck{Name: "database", Check: db.Check}
}

func newPoolCheck(db *DB) dashcore.HealthCheck {
	return dashcore.HealthCheck{Name: "database_pool", Optional: true, Check: db.CheckPool}
}
