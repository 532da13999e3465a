package dashcore_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
)

// tagHandler records, in a shared trace, the name of every wrapper a
// record passes through, then passes it on.
type tagHandler struct {
	name  string
	next  slog.Handler
	mu    *sync.Mutex
	trace *[]string
}

func (h tagHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }
func (h tagHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	*h.trace = append(*h.trace, h.name)
	h.mu.Unlock()
	return h.next.Handle(ctx, r)
}
func (h tagHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.next = h.next.WithAttrs(as)
	return h
}
func (h tagHandler) WithGroup(g string) slog.Handler {
	h.next = h.next.WithGroup(g)
	return h
}

func TestLogHandlerWrappersAreAppliedInOrder(t *testing.T) {
	var (
		mu    sync.Mutex
		trace []string
	)
	wrapper := func(name string, order int) fx.Option {
		return fx.Provide(dashcore.AsLogHandlerWrapper(func() dashcore.LogHandlerWrapper {
			return dashcore.LogHandlerWrapper{Name: name, Order: order, Wrap: func(h slog.Handler) slog.Handler {
				return tagHandler{name: name, next: h, mu: &mu, trace: &trace}
			}}
		}))
	}
	var log *slog.Logger
	app := fx.New(
		fx.NopLogger,
		dashcore.Module,
		dashcore.WithEnv(map[string]string{"TAYLORDASH_LOG_LEVEL": "error"}),
		// Provided in scrambled order: the logger sorts by Order, then Name.
		wrapper("b-inner", -5),
		wrapper("outer", 10),
		wrapper("a-inner", -5),
		fx.Provide(dashcore.AsLogHandlerWrapper(func() dashcore.LogHandlerWrapper {
			return dashcore.LogHandlerWrapper{Name: "nil-wrap"} // skipped
		})),
		fx.Populate(&log),
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	// Below the base handler's level: the wrappers still see the record
	// only if they are asked, and tagHandler defers Enabled to the base.
	log.Info("dropped")
	if len(trace) != 0 {
		t.Fatalf("a record below the level went through %v", trace)
	}
	log.Handler().Handle(context.Background(), slog.NewRecord(time.Time{}, slog.LevelError, "kept", 0)) //nolint:errcheck
	// The highest Order sees the record first; among equal orders the
	// last by name is outermost.
	want := []string{"outer", "b-inner", "a-inner"}
	if !slices.Equal(trace, want) {
		t.Errorf("record went through %v, want %v", trace, want)
	}
}
