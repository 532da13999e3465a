package mcp

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
)

// Module provides the MCP client from the TAYLORDASH_MCP_* configuration:
// the *Registry (configured servers and those stored in PostgreSQL), the
// *Manager (started and stopped with the application: it connects the
// servers marked autoconnect, and kills every server process on stop),
// the routes under /api/v1/mcp, an optional readiness check named "mcp",
// and contributes Migrations. It uses, when the graph has them: an
// Outbox (calls, status changes and registry changes are published), an
// auth.Auditor (calls and changes are audited), a *slog.Logger,
// trace.TracerProvider and metric.MeterProvider, and dashcore.Info (its
// Version is the client version sent to servers). Its routes need
// auth.Module's guard (they declare mcp:read and mcp:admin).
var Module = fx.Module("mcp",
	dashcore.ProvideConfig[Config](),
	store.AsMigrations(Migrations.Namespace, Migrations.FS, Migrations.DependsOn...),
	fx.Provide(
		newModuleRegistry,
		newModuleManager,
		dashcore.AsRoutes(newModuleRoutes),
		dashcore.AsHealthCheck(newModuleHealthCheck),
	),
	fx.Invoke(runManager),
)

type registryParams struct {
	fx.In
	DB     *store.DB
	Config Config
	Outbox Outbox `optional:"true"`
}

func newModuleRegistry(p registryParams) (*Registry, error) {
	return NewRegistry(p.DB, p.Config.Servers, p.Outbox)
}

type managerParams struct {
	fx.In
	Registry       *Registry
	Config         Config
	DB             *store.DB
	Outbox         Outbox               `optional:"true"`
	Info           dashcore.Info        `optional:"true"`
	Logger         *slog.Logger         `optional:"true"`
	TracerProvider trace.TracerProvider `optional:"true"`
	MeterProvider  metric.MeterProvider `optional:"true"`
}

func newModuleManager(p managerParams) (*Manager, error) {
	log := p.Logger
	if log != nil {
		log = log.With(slog.String("module", "mcp"))
	}
	opts := ManagerOptions{Config: p.Config, Logger: log, TracerProvider: p.TracerProvider,
		MeterProvider: p.MeterProvider, ClientVersion: p.Info.Version}
	if p.Outbox != nil {
		opts.OnStatus = func(c StatusChange) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := store.Tx(ctx, p.DB, func(tx pgx.Tx) error {
				_, err := p.Outbox.PublishTx(ctx, tx, TopicServerStatus, KindServerStatus, c)
				return err
			})
			if err != nil && log != nil {
				log.Error("mcp status event not published", slog.String("mcp_server", c.ServerID), slog.Any("error", err))
			}
		}
	}
	return NewManager(p.Registry, opts)
}

// runManager starts the manager with the application (connecting the
// autoconnect servers in the background) and stops it, with every
// server process, when the application stops.
type runParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Manager   *Manager
	Registry  *Registry
	Logger    *slog.Logger `optional:"true"`
}

func runManager(p runParams) {
	m := p.Manager
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			servers, err := p.Registry.List(ctx)
			if err != nil && p.Logger != nil {
				p.Logger.Error("mcp servers not listed at start; none is connected automatically", slog.Any("error", err))
			}
			return m.Start(AutoConnectIDs(servers))
		},
		OnStop: m.Stop,
	})
}

type routesParams struct {
	fx.In
	Manager  *Manager
	Registry *Registry
	DB       *store.DB
	Outbox   Outbox       `optional:"true"`
	Auditor  auth.Auditor `optional:"true"`
	Logger   *slog.Logger `optional:"true"`
}

func newModuleRoutes(p routesParams) dashcore.Routes {
	rt := &Routes{Manager: p.Manager, Registry: p.Registry, Auditor: p.Auditor, DB: p.DB, Outbox: p.Outbox, Logger: p.Logger}
	return rt.Contribution()
}

func newModuleHealthCheck(m *Manager) dashcore.HealthCheck {
	return dashcore.HealthCheck{Name: "mcp", Check: m.Check, Optional: true}
}
