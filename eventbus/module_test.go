package eventbus_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/eventbus/memory"
	"github.com/taylordash/taylordash/eventbus/mqtt"
	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

// TestModuleValidates: the module alone needs its ports, and with the
// transport and the Postgres module the graph is complete.
func TestModuleValidates(t *testing.T) {
	b := memory.New()
	err := fx.ValidateApp(eventbus.Module,
		fx.Supply(fx.Annotate(b.Subscriber("validate", 10), fx.As(new(eventbus.Subscriber)))),
		fx.Provide(fx.Annotate(func() *letters { return &letters{} }, fx.As(new(eventbus.DeadLetters)))),
		fx.Provide(fx.Annotate(func() *letters { return &letters{} }, fx.As(new(eventbus.Recorder)))),
		fx.Invoke(func(*eventbus.Ingest) {}))
	if err == nil {
		// letters implements only DeadLetters: the Recorder annotation must fail.
		t.Fatal("a graph with a bad Recorder validated")
	}
	if err := fx.ValidateApp(dashcore.Module, store.Module, mqtt.Module, eventbus.Module, eventbuspg.Module,
		fx.Invoke(func(*eventbus.Ingest) {})); err != nil {
		t.Fatal(err)
	}
}

type letters struct{}

func (*letters) Put(context.Context, []eventbus.DeadLetter) error { return nil }

// TestAsHandlerRunsWithDependencies: a handler contributed with AsHandler,
// built by a constructor with dependencies, runs once for an event written
// through the outbox and delivered by the real broker.
func TestAsHandlerRunsWithDependencies(t *testing.T) {
	var calls atomic.Int32
	seen := make(chan eventbus.Envelope, 10)
	handler := func(db *store.DB) eventbus.Handler {
		return func(ctx context.Context, ev *eventbus.Event) error {
			if db == nil {
				return errors.New("no database injected")
			}
			calls.Add(1)
			if eventbus.TraceIDFrom(ctx) != ev.Envelope.TraceID {
				return errors.New("trace id not in the handler's context")
			}
			seen <- ev.Envelope
			return nil
		}
	}
	var outbox *eventbuspg.Outbox
	app := testkit.App(t, dashcore.Module, store.Module, mqtt.Module, eventbus.Module, eventbuspg.Module,
		eventbus.AsHandler("tracker/events/widgets/+", handler),
		fx.Populate(&outbox))
	ctx := eventbus.WithTraceID(context.Background(), "4bf92f3577b34da6a3ce929d0e0e4736")
	err := pgx.BeginFunc(ctx, app.DB.DB, func(tx pgx.Tx) error {
		_, err := outbox.PublishTx(ctx, tx, "tracker/events/widgets/created", "widget_created", map[string]string{"id": "w1"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case env := <-seen:
		if env.Kind != "widget_created" || env.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Fatalf("handler got %+v", env)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the handler never ran")
	}
	time.Sleep(200 * time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want once", n)
	}
}

func TestAsHandlerRejectsNonFunctions(t *testing.T) {
	app := fx.New(fx.NopLogger, eventbus.AsHandler("a/#", 42))
	if err := app.Err(); err == nil {
		t.Fatal("AsHandler accepted a non-function")
	}
	app = fx.New(fx.NopLogger, eventbus.AsHandler("a/#", func() int { return 1 }))
	if err := app.Err(); err == nil {
		t.Fatal("AsHandler accepted a constructor that returns no Handler")
	}
}
