package eventbuspg_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/eventbus/memory"
	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

func supplyPublisher(pub eventbus.Publisher) fx.Option {
	return fx.Supply(fx.Annotate(pub, fx.As(new(eventbus.Publisher))))
}

func TestModuleValidates(t *testing.T) {
	useAll := fx.Invoke(func(eventbus.Recorder, eventbus.DeadLetters, *eventbuspg.Mirror, *eventbuspg.DeadLetterStore,
		*eventbuspg.Outbox, *eventbuspg.Relay, *eventbuspg.Retention) {
	})
	t.Run("with store and dashcore", func(t *testing.T) {
		err := fx.ValidateApp(dashcore.Module, store.Module, eventbuspg.Module,
			supplyPublisher(memory.New().Publisher()), useAll, fx.NopLogger)
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("serves the ingest pipeline's ports", func(t *testing.T) {
		broker := memory.New()
		err := fx.ValidateApp(dashcore.Module, store.Module, eventbus.Module, eventbuspg.Module,
			supplyPublisher(broker.Publisher()),
			fx.Supply(fx.Annotate(broker.Subscriber("backend", 100), fx.As(new(eventbus.Subscriber)))),
			useAll, fx.NopLogger)
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("needs a publisher", func(t *testing.T) {
		err := fx.ValidateApp(dashcore.Module, store.Module, eventbuspg.Module, useAll, fx.NopLogger)
		if err == nil || !strings.Contains(err.Error(), "eventbus.Publisher") {
			t.Errorf("ValidateApp without a Publisher = %v, want a missing eventbus.Publisher", err)
		}
	})
}

func TestModuleRelaysAndMirrors(t *testing.T) {
	broker := memory.New()
	sub := broker.Subscriber("observer", 10)
	t.Cleanup(func() { _ = sub.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := sub.Subscribe(ctx, "tracker/events/#")
	if err != nil {
		t.Fatal(err)
	}
	var outbox *eventbuspg.Outbox
	var mirror *eventbuspg.Mirror
	var rec eventbus.Recorder
	testkit.App(t, dashcore.Module, store.Module, eventbuspg.Module,
		supplyPublisher(broker.Publisher()),
		testkit.Env(map[string]string{"TAYLORDASH_SERVICE_NAME": "projects-api", "TAYLORDASH_EVENTS_RELAY_POLL_INTERVAL": "10s"}),
		fx.Populate(&outbox, &mirror, &rec))
	if rec != eventbus.Recorder(mirror) {
		t.Error("the eventbus.Recorder is not the *Mirror")
	}
	env, err := outbox.Publish(ctx, "tracker/events/projects/created", "project_created", map[string]string{"name": "Roadmap"})
	if err != nil {
		t.Fatal(err)
	}
	if env.Source != "projects-api" {
		t.Errorf("source = %q, want the service name", env.Source)
	}
	select {
	case m := <-msgs:
		if got := parse(t, m.Payload); got.ID != env.ID {
			t.Errorf("received %s, want %s", got.ID, env.ID)
		}
		m.Ack()
	case <-ctx.Done():
		t.Fatal("the relay of the app never published the event")
	}
	events, err := mirror.List(ctx, eventbuspg.EventFilter{Kind: "project_created"})
	if err != nil || len(events) != 1 {
		t.Errorf("mirror = %v, %v; want the event", events, err)
	}
}

func TestConfig(t *testing.T) {
	def := eventbuspg.Config{}.WithDefaults()
	if err := def.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if r := def.Retention(); r.Mirror != 30*24*time.Hour || r.Outbox != 24*time.Hour || r.DLQ != 30*24*time.Hour || r.Interval != time.Hour {
		t.Errorf("default retention = %+v", r)
	}
	if r := def.Relay(); r.BatchSize != 500 || r.PollInterval != time.Second {
		t.Errorf("default relay = %+v", r)
	}

	// From the environment: 0 keeps rows for ever.
	cfg := eventbuspg.Config{}.WithDefaults()
	env := dashcore.NewEnvironment(map[string]string{
		"TAYLORDASH_EVENTS_MIRROR_RETENTION":    "0",
		"TAYLORDASH_EVENTS_DLQ_RETENTION":       "2160h",
		"TAYLORDASH_EVENTS_RELAY_BATCH_SIZE":    "100",
		"TAYLORDASH_EVENTS_RELAY_POLL_INTERVAL": "250ms",
	})
	if err := dashcore.LoadConfig(env, &cfg); err != nil {
		t.Fatal(err)
	}
	if r := cfg.Retention(); r.Mirror != 0 || r.DLQ != 90*24*time.Hour || r.Outbox != 24*time.Hour {
		t.Errorf("retention from env = %+v, want mirror kept for ever, DLQ 90 days", r)
	}
	if r := cfg.Relay(); r.BatchSize != 100 || r.PollInterval != 250*time.Millisecond {
		t.Errorf("relay from env = %+v", r)
	}

	bad := eventbuspg.Config{MirrorRetention: -time.Hour, RetentionInterval: 0, RelayBatchSize: 20000, RelayPollInterval: -1}
	err := bad.Validate()
	var fe *dashcore.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("Validate = %v, want *dashcore.FieldError", err)
	}
	for _, field := range []string{"MirrorRetention", "RetentionInterval", "RelayBatchSize", "RelayPollInterval"} {
		if !strings.Contains(err.Error(), field+":") {
			t.Errorf("Validate = %v, does not name %s", err, field)
		}
	}
}
