package eventbuspg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/taylordash/taylordash/internal/periodic"
	"github.com/taylordash/taylordash/store"
)

// Retention deletes old rows: mirror events, published outbox rows and
// dead letters older than their RetentionConfig durations (a zero
// duration keeps that table's rows). It runs at Start and then every
// Interval, deleting BatchSize rows per statement so that it never holds
// many locks for long. Several instances may run it at once: they delete
// the same rows, harmlessly. Unpublished outbox rows are never deleted.
type Retention struct {
	db  *store.DB
	cfg RetentionConfig
	log *slog.Logger

	loop *periodic.Loop
}

// NewRetention returns a retention job for db. log may be nil.
func NewRetention(db *store.DB, cfg RetentionConfig, log *slog.Logger) *Retention {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Retention{db: db, cfg: cfg.WithDefaults(), log: log}
	r.loop = periodic.New(r.cfg.Interval, true, r.run)
	return r
}

// RetentionResult counts the rows a run deleted.
type RetentionResult struct {
	// Mirror is the events deleted from the mirror.
	Mirror int64
	// Outbox is the published outbox rows deleted.
	Outbox int64
	// DLQ is the dead letters deleted.
	DLQ int64
	// InFlight is the in-flight marks deleted that dead instances left more
	// than a day ago (their events never came back to be handled again).
	InFlight int64
}

// RunOnce deletes the rows that are too old now and returns how many it
// deleted. It goes on with the other tables when one fails and returns
// every error.
func (r *Retention) RunOnce(ctx context.Context) (RetentionResult, error) {
	var res RetentionResult
	var errs []error
	now := time.Now()
	for _, t := range []struct {
		table, cond string
		keep        time.Duration
		n           *int64
	}{
		{"events_mirror", "created_at < ?", r.cfg.Mirror, &res.Mirror},
		{"outbox", "sent_at < ?", r.cfg.Outbox, &res.Outbox}, // NULL (unsent) never matches
		{"dlq_events", "last_failure_at < ?", r.cfg.DLQ, &res.DLQ},
	} {
		if t.keep <= 0 {
			continue
		}
		var w where
		w.add(t.cond, now.Add(-t.keep))
		n, err := deleteBatched(ctx, r.db, t.table, w, r.cfg.BatchSize)
		*t.n = n
		if err != nil {
			errs = append(errs, fmt.Errorf("eventbuspg: retention: %w", err))
		}
	}
	var w where
	w.add("created_at < ? AND NOT eventbus_owner_alive(owner)", now.Add(-inFlightRetention))
	n, err := deleteBatched(ctx, r.db, "events_inflight", w, r.cfg.BatchSize)
	res.InFlight = n
	if err != nil {
		errs = append(errs, fmt.Errorf("eventbuspg: retention: %w", err))
	}
	return res, errors.Join(errs...)
}

// inFlightRetention is how long a dead instance's in-flight marks are
// kept: long enough for any redelivery of their events to come back.
const inFlightRetention = 24 * time.Hour

// Start starts the job in a goroutine of its own: a run now, then one
// every Interval. A running job's Start does nothing.
func (r *Retention) Start(context.Context) error {
	r.loop.Start()
	return nil
}

// Stop stops the job, cutting a run in progress short (each batch is its
// own statement, so nothing is left half done), and waits for it, at most
// until ctx ends. A stopped job's Stop does nothing.
func (r *Retention) Stop(ctx context.Context) error {
	if err := r.loop.Stop(ctx); err != nil {
		return fmt.Errorf("eventbuspg: stop retention: %w", err)
	}
	return nil
}

// run is one run of the loop, logged.
func (r *Retention) run(ctx context.Context) {
	start := time.Now()
	res, err := r.RunOnce(ctx)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		r.log.Warn("retention failed; will run again", slog.Duration("interval", r.cfg.Interval), slog.Any("error", err))
	}
	if res != (RetentionResult{}) {
		r.log.Info("retention deleted old rows", slog.Int64("mirror", res.Mirror), slog.Int64("outbox", res.Outbox),
			slog.Int64("dlq", res.DLQ), slog.Duration("duration", time.Since(start)))
	}
}
