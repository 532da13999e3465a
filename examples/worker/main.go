// Command worker is the event bus alone, in a service with no HTTP
// server: it takes sensor readings from MQTT, keeps statistics per sensor
// in PostgreSQL, and raises an alert through the transactional outbox
// when a reading crosses a threshold, in the transaction that records the
// reading.
//
//	TAYLORDASH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres go run ./examples/worker
//	mosquitto_pub -q 1 -t tracker/events/sensors/boiler -m '{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",
//	  "ts":"2026-01-02T15:04:05Z","kind":"reading","idempotency_key":"boiler-1","payload":{"value":97.5}}'
//	mosquitto_sub -v -t 'tracker/events/alerts/#'
package main

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/eventbus/mqtt"
	"github.com/taylordash/taylordash/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// threshold is the reading above which the worker raises an alert.
const threshold = 90.0

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

// run starts the worker and stops it on SIGINT or SIGTERM: the pipeline
// drains (batches stored are handled and acknowledged) before it exits.
func run() error {
	app := fx.New(modules(), dashcore.FxLogger())
	if err := app.Err(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-app.Wait(): // a module asked to stop
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return app.Stop(stopCtx)
}

// modules is the worker: no dashcore.Module (it would start an HTTP
// server), only what the event bus needs.
func modules() fx.Option {
	return fx.Options(
		// What dashcore.Module gives every module, minus the server: the
		// environment (TAYLORDASH_* variables) and a logger
		// (TAYLORDASH_LOG_LEVEL, TAYLORDASH_LOG_FORMAT).
		fx.Provide(dashcore.OSEnvironment, newLogger),
		dashcore.ProvideConfig[logConfig](),
		store.Module,      // the pool (TAYLORDASH_DATABASE_*); migrations at start
		mqtt.Module,       // the broker (TAYLORDASH_MQTT_*): Publisher and Subscriber
		eventbus.Module,   // ingest: store each event once, run the handlers, then acknowledge
		eventbuspg.Module, // the mirror, dead letters, the outbox and its relay
		store.AsMigrations("sensors", migrations, "eventbus"),
		eventbus.AsHandler("tracker/events/sensors/+", newReadingHandler),
	)
}

// logConfig is the logger's part of dashcore's configuration.
type logConfig struct {
	Log dashcore.LogConfig `envPrefix:"LOG_"`
}

func newLogger(c logConfig) *slog.Logger { return dashcore.NewLogger(c.Log, os.Stderr) }

// newReadingHandler handles a reading: {"value": 97.5} on
// tracker/events/sensors/<sensor>. The pipeline calls it once per event
// (duplicates are skipped by the mirror), retries it on error, and
// dead-letters the event when the retries run out or the error is
// eventbus.Permanent.
func newReadingHandler(db *store.DB, outbox *eventbuspg.Outbox) eventbus.Handler {
	return func(ctx context.Context, ev *eventbus.Event) error {
		var r struct {
			Value *float64 `json:"value"`
		}
		if err := json.Unmarshal(ev.Envelope.Payload, &r); err != nil || r.Value == nil {
			// Retrying cannot fix it: to the dead-letter queue at once.
			return eventbus.Permanent(fmt.Errorf("reading %s: the payload needs a numeric value", ev.Envelope.IdempotencyKey))
		}
		sensor, value := path.Base(ev.Topic), *r.Value
		return store.Tx(ctx, db, func(tx pgx.Tx) error {
			// Handlers run at least once (after a crash, an event may come
			// again): the reading's key makes the second run a no-op.
			tag, err := tx.Exec(ctx, `INSERT INTO readings (idempotency_key, sensor, value, ts) VALUES ($1, $2, $3, $4)
				ON CONFLICT DO NOTHING`, ev.Envelope.IdempotencyKey, sensor, value, ev.Envelope.TS)
			if err != nil || tag.RowsAffected() == 0 {
				return err
			}
			alerts := 0
			if value > threshold {
				alerts = 1
			}
			_, err = tx.Exec(ctx, `
				INSERT INTO sensor_stats AS s (sensor, readings, max_value, alerts) VALUES ($1, 1, $2, $3)
				ON CONFLICT (sensor) DO UPDATE SET readings = s.readings + 1, max_value = greatest(s.max_value, $2),
					alerts = s.alerts + $3, updated_at = now()`, sensor, value, alerts)
			if err != nil || alerts == 0 {
				return err
			}
			// Published if and only if this transaction commits.
			_, err = outbox.PublishTx(ctx, tx, "tracker/events/alerts/"+sensor, "threshold_exceeded",
				map[string]any{"sensor": sensor, "value": value, "threshold": threshold, "reading": ev.Envelope.IdempotencyKey})
			return err
		})
	}
}
