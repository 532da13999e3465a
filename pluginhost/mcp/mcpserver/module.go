package mcpserver

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
)

// Module serves the application's API as an MCP server at /mcp: it
// provides the *Server and contributes its route. It needs the
// *auth.Authorizer (auth.Module, whose guard also authenticates /mcp), and
// uses, when the graph has them, an auth.Auditor (tool calls are audited),
// a *slog.Logger, a trace.TracerProvider and dashcore.Info (the name and
// version reported to clients). The tools are checked at start: a marked
// operation without a requirement, one a tool cannot call, or two
// operations with one tool name stop the application.
var Module = fx.Module("mcpserver",
	fx.Provide(
		newModuleServer,
		dashcore.AsRoutes(func(s *Server) dashcore.Routes { return s.Contribution() }),
	),
)

type serverParams struct {
	fx.In
	Lifecycle      fx.Lifecycle
	Authorizer     *auth.Authorizer
	Auditor        auth.Auditor         `optional:"true"`
	Logger         *slog.Logger         `optional:"true"`
	TracerProvider trace.TracerProvider `optional:"true"`
	Info           dashcore.Info        `optional:"true"`
}

func newModuleServer(p serverParams) (*Server, error) {
	opts := Options{Authorizer: p.Authorizer, Auditor: p.Auditor, Logger: p.Logger, TracerProvider: p.TracerProvider}
	if p.Logger != nil {
		opts.Logger = p.Logger.With(slog.String("module", "mcpserver"))
	}
	opts.Name, opts.Version = p.Info.Title, p.Info.Version
	s, err := New(opts)
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.Hook{OnStart: func(context.Context) error {
		_, err := s.Tools()
		return err
	}})
	return s, nil
}
