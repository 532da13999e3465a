package authpg

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/taylordash/taylordash/internal/periodic"
	"github.com/taylordash/taylordash/store"
)

// CleanupConfig configures Cleanup.
type CleanupConfig struct {
	// Interval is how often ended sessions and old audit rows are deleted.
	// Default 1h.
	Interval time.Duration
	// SessionGrace is how long an ended (expired, idle or revoked) session
	// is kept, for inspection. Default 24h.
	SessionGrace time.Duration
	// AuditRetention is how long audit rows are kept; 0 keeps them for
	// ever. Default 365 days.
	AuditRetention time.Duration
}

// Cleanup deletes ended sessions and old audit rows in the background,
// from Start to Stop; each run deletes in batches, so it never holds long
// locks.
type Cleanup struct {
	db   *store.DB
	cfg  CleanupConfig
	log  *slog.Logger
	loop *periodic.Loop
}

// NewCleanup returns the cleanup loop on db.
func NewCleanup(db *store.DB, cfg CleanupConfig, log *slog.Logger) *Cleanup {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Hour
	}
	if cfg.SessionGrace <= 0 {
		cfg.SessionGrace = 24 * time.Hour
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cleanup{db: db, cfg: cfg, log: log}
	c.loop = periodic.New(cfg.Interval, false, c.run)
	return c
}

// Start starts the loop; its first run is one Interval after the start.
func (c *Cleanup) Start(context.Context) error {
	c.loop.Start()
	return nil
}

// Stop stops the loop and waits for it; it tolerates a second call.
func (c *Cleanup) Stop(ctx context.Context) error {
	if err := c.loop.Stop(ctx); err != nil {
		return fmt.Errorf("authpg: stop cleanup: %w", err)
	}
	return nil
}

// run is one run of the loop, bounded by Interval, logged.
func (c *Cleanup) run(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Interval)
	defer cancel()
	sessions, audit, err := c.Run(ctx)
	switch {
	case err != nil:
		c.log.Warn("authpg: cleanup", "err", err)
	case sessions+audit > 0:
		c.log.Info("authpg: cleanup", "sessions", sessions, "audit_rows", audit)
	}
}

// Run deletes once, and returns how many sessions and audit rows went.
func (c *Cleanup) Run(ctx context.Context) (sessions, audit int64, err error) {
	sessions, err = NewSessions(c.db).Cleanup(ctx, c.cfg.SessionGrace)
	if err != nil {
		return 0, 0, err
	}
	if c.cfg.AuditRetention <= 0 {
		return sessions, 0, nil
	}
	for {
		tag, err := c.db.Exec(ctx, `DELETE FROM auth_audit_log WHERE id IN (
			SELECT id FROM auth_audit_log WHERE at < now() - $1::interval ORDER BY id LIMIT 5000)`, c.cfg.AuditRetention)
		if err != nil {
			return sessions, audit, fmt.Errorf("authpg: delete old audit rows: %w", store.MapError(err))
		}
		audit += tag.RowsAffected()
		if tag.RowsAffected() < 5000 {
			return sessions, audit, nil
		}
	}
}
