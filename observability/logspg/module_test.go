package logspg_test

import (
	"log/slog"
	"testing"

	"go.uber.org/fx"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/observability/logspg"
	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

func TestModuleValidates(t *testing.T) {
	useAll := fx.Invoke(func(*logspg.Queue, *logspg.Writer, *logspg.Retention, *logspg.Repository) {})
	t.Run("with store and dashcore", func(t *testing.T) {
		if err := fx.ValidateApp(dashcore.Module, store.Module, logspg.Module, logspg.HTTPModule, useAll, fx.NopLogger); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("with auth", func(t *testing.T) {
		if err := fx.ValidateApp(dashcore.Module, store.Module, auth.Module, logspg.Module, logspg.HTTPModule, useAll, fx.NopLogger); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("needs a database", func(t *testing.T) {
		if err := fx.ValidateApp(dashcore.Module, logspg.Module, useAll, fx.NopLogger); err == nil {
			t.Error("ValidateApp without store.Module succeeded")
		}
	})
}

// TestModuleContributesSink checks the contract with the observability
// module: the queue is in the "observability.log_sinks" group, and a
// process logger made from that group fits the graph.
func TestModuleContributesSink(t *testing.T) {
	var sinks []slog.Handler
	var q *logspg.Queue
	testkit.App(t, dashcore.Module, store.Module, logspg.Module,
		fx.Invoke(fx.Annotate(func(hs []slog.Handler, queue *logspg.Queue) {
			sinks, q = hs, queue
		}, fx.ParamTags(`group:"`+logspg.LogSinksGroup+`"`))),
	)
	if len(sinks) != 1 || sinks[0] != slog.Handler(q) {
		t.Fatalf("log sinks = %v, want the module's queue", sinks)
	}
	// As observability.Module will: the logger every module (store's
	// included) takes is made from the sinks.
	loggerFromSinks := fx.Decorate(fx.Annotate(func(l *slog.Logger, hs []slog.Handler) *slog.Logger {
		return slog.New(slog.NewMultiHandler(append([]slog.Handler{l.Handler()}, hs...)...))
	}, fx.ParamTags(``, `group:"`+logspg.LogSinksGroup+`"`)))
	err := fx.ValidateApp(dashcore.Module, store.Module, logspg.Module, logspg.HTTPModule, loggerFromSinks,
		fx.Invoke(func(*store.DB, *logspg.Writer) {}), fx.NopLogger)
	if err != nil {
		t.Errorf("a logger made from the sinks does not fit the graph: %v", err)
	}
}
