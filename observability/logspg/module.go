package logspg

import (
	"log/slog"

	"go.opentelemetry.io/otel/metric"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
)

// LogSinksGroup is the value group of slog.Handlers the observability
// module fans every log record out to. Module contributes the *Queue to
// it; this package does not import observability.
const LogSinksGroup = "observability.log_sinks"

// Module stores the application's logs in PostgreSQL from the
// TAYLORDASH_LOGS_* configuration. It provides the *Queue (also
// contributed as a slog.Handler to LogSinksGroup, so that the process
// logger feeds it; the Queue needs nothing, so the logger can be built
// before the database), the *Writer, which drains the queue from start
// to stop, the *Retention job, and the *Repository. It contributes
// Migrations to store.Module. A metric.MeterProvider and a *slog.Logger in
// the graph are used when present.
var Module = fx.Module("logs.pg",
	dashcore.ProvideConfig[Config](),
	store.AsMigrations(Migrations.Namespace, Migrations.FS, Migrations.DependsOn...),
	fx.Provide(
		newModuleQueue,
		fx.Annotate(sinkOf, fx.As(new(slog.Handler)), fx.ResultTags(`group:"`+LogSinksGroup+`"`)),
		newModuleWriter,
		newModuleRetention,
		func(db *store.DB) *Repository { return NewRepository(db) },
	),
	fx.Invoke(func(*Writer, *Retention) {}),
)

// HTTPModule adds the logs API to a dashcore application: GET
// /api/v1/logs, GET /api/v1/logs/stats, GET /api/v1/logs/{id}, POST
// /api/v1/logs/test and POST /api/v1/logs/frontend, with their
// requirements declared for auth.Module's guard. It needs Module.
var HTTPModule = fx.Module("logs.http",
	fx.Provide(dashcore.AsRoutes(newModuleRoutes)),
)

type queueParams struct {
	fx.In
	Config Config
	Core   dashcore.Config `optional:"true"`
}

func newModuleQueue(p queueParams) *Queue {
	return NewQueue(p.Config.Queue(p.Core.ServiceName))
}

func sinkOf(q *Queue) *Queue { return q }

type writerParams struct {
	fx.In
	DB            *store.DB
	Queue         *Queue
	Config        Config
	Logger        *slog.Logger         `optional:"true"`
	MeterProvider metric.MeterProvider `optional:"true"`
	Lifecycle     fx.Lifecycle
}

func moduleLogger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return nil
	}
	return l.With(slog.String("module", "logs.pg"))
}

func newModuleWriter(p writerParams) *Writer {
	var opts []Option
	if p.MeterProvider != nil {
		opts = append(opts, WithMeterProvider(p.MeterProvider))
	}
	w := NewWriter(p.DB, p.Queue, p.Config.Writer(), moduleLogger(p.Logger), opts...)
	p.Lifecycle.Append(fx.Hook{OnStart: w.Start, OnStop: w.Stop})
	return w
}

type retentionParams struct {
	fx.In
	DB        *store.DB
	Config    Config
	Logger    *slog.Logger `optional:"true"`
	Lifecycle fx.Lifecycle
}

func newModuleRetention(p retentionParams) *Retention {
	r := NewRetention(p.DB, p.Config.RetentionJob(), moduleLogger(p.Logger))
	p.Lifecycle.Append(fx.Hook{OnStart: r.Start, OnStop: r.Stop})
	return r
}

type routesParams struct {
	fx.In
	Repository *Repository
	Queue      *Queue
	Logger     *slog.Logger `optional:"true"`
}

func newModuleRoutes(p routesParams) dashcore.Routes {
	return NewRoutes(p.Repository, p.Queue, p.Logger)
}
