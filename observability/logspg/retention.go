package logspg

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/taylordash/taylordash/internal/periodic"
	"github.com/taylordash/taylordash/store"
)

// Retention deletes log rows older than RetentionConfig.MaxAge (by ts; a
// zero MaxAge keeps them). It runs at Start and then every Interval,
// deleting BatchSize rows per statement so that it never holds many locks
// for long. Several instances may run it at once, harmlessly.
type Retention struct {
	db  store.Querier
	cfg RetentionConfig
	log *slog.Logger

	loop *periodic.Loop
}

// NewRetention returns a retention job for db. log may be nil.
func NewRetention(db store.Querier, cfg RetentionConfig, log *slog.Logger) *Retention {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Retention{db: db, cfg: cfg.WithDefaults(), log: log}
	r.loop = periodic.New(r.cfg.Interval, true, r.run)
	return r
}

// RunOnce deletes the rows that are too old now and returns how many it
// deleted (also when it fails part way).
func (r *Retention) RunOnce(ctx context.Context) (int64, error) {
	if r.cfg.MaxAge <= 0 {
		return 0, nil
	}
	cutoff := time.Now().Add(-r.cfg.MaxAge)
	var total int64
	for {
		tag, err := r.db.Exec(ctx, `DELETE FROM application_logs WHERE id IN (
			SELECT id FROM application_logs WHERE ts < $1 LIMIT $2)`, cutoff, r.cfg.BatchSize)
		if err != nil {
			return total, fmt.Errorf("logspg: retention: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < int64(r.cfg.BatchSize) {
			return total, nil
		}
	}
}

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
		return fmt.Errorf("logspg: stop retention: %w", err)
	}
	return nil
}

// run is one run of the loop, logged.
func (r *Retention) run(ctx context.Context) {
	start := time.Now()
	n, err := r.RunOnce(ctx)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		r.log.Warn("log retention failed; will run again", slog.Duration("interval", r.cfg.Interval), slog.Any("error", err))
	}
	if n > 0 {
		r.log.Info("log retention deleted old rows", slog.Int64("rows", n), slog.Duration("duration", time.Since(start)))
	}
}
