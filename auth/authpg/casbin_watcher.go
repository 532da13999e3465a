package authpg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"sync"
	"time"

	"github.com/casbin/casbin/v2/persist"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
)

// DefaultPolicyChannel is the NOTIFY channel of policy changes.
const DefaultPolicyChannel = "auth_policy"

// WatcherApplicationName is the application_name of the watcher's LISTEN
// connection (followed by a space and the instance id, cut to 63 bytes),
// so that it can be told apart in pg_stat_activity.
const WatcherApplicationName = "taylordash policy watcher"

// policyChannelPattern is what a channel name must look like: an unquoted
// PostgreSQL identifier.
var policyChannelPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// WatcherConfig configures a [PolicyWatcher]. The zero value is ready to
// use.
type WatcherConfig struct {
	// Channel is the NOTIFY channel; every instance must use the same.
	// Default DefaultPolicyChannel ("auth_policy").
	Channel string
	// InstanceID identifies this instance in its notifications, so that it
	// ignores its own. Default a random UUID.
	InstanceID string
	// MinBackoff is the first wait before connecting again after the
	// LISTEN connection dropped or could not be made. Default 100ms.
	MinBackoff time.Duration
	// MaxBackoff caps the wait between connection attempts, which doubles
	// from MinBackoff (with jitter). Default 5s.
	MaxBackoff time.Duration
	// CheckInterval is how long the watcher waits without a notification
	// before it pings its connection (a dead peer may send no error).
	// Default 30s.
	CheckInterval time.Duration
	// NotifyTimeout bounds the NOTIFY of Update. Default 5s.
	NotifyTimeout time.Duration
	// ResyncInterval is how often the callback runs with no notification
	// (checked every CheckInterval): a safety net for a notification
	// lost between another instance's commit and its NOTIFY (a crash).
	// Default 5m.
	ResyncInterval time.Duration
}

// WithDefaults returns a copy of c with zero fields set to their defaults.
func (c WatcherConfig) WithDefaults() WatcherConfig {
	if c.Channel == "" {
		c.Channel = DefaultPolicyChannel
	}
	if c.InstanceID == "" {
		c.InstanceID = uuid.NewString()
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 5 * time.Second
	}
	if c.CheckInterval == 0 {
		c.CheckInterval = 30 * time.Second
	}
	if c.NotifyTimeout == 0 {
		c.NotifyTimeout = 5 * time.Second
	}
	if c.ResyncInterval == 0 {
		c.ResyncInterval = 5 * time.Minute
	}
	return c
}

// Validate reports every field that cannot work, naming the field and the
// fix. Call it on c.WithDefaults().
func (c WatcherConfig) Validate() error {
	var errs []error
	bad := func(field, problem string) {
		errs = append(errs, &dashcore.FieldError{Field: field, Problem: problem})
	}
	if !policyChannelPattern.MatchString(c.Channel) {
		bad("Channel", "must be a lower-case identifier of at most 63 bytes, such as auth_policy")
	}
	if c.InstanceID == "" || len(c.InstanceID) > 200 {
		bad("InstanceID", "must be 1 to 200 bytes; leave it empty for a random UUID")
	}
	if c.MinBackoff <= 0 {
		bad("MinBackoff", "must be positive, such as 100ms")
	}
	if c.MaxBackoff < c.MinBackoff {
		bad("MaxBackoff", "must be at least MinBackoff, such as 5s")
	}
	if c.CheckInterval <= 0 {
		bad("CheckInterval", "must be positive, such as 30s")
	}
	if c.ResyncInterval <= 0 {
		bad("ResyncInterval", "must be positive, such as 5m")
	}
	if c.NotifyTimeout <= 0 {
		bad("NotifyTimeout", "must be positive, such as 5s")
	}
	return errors.Join(errs...)
}

// PolicyWatcher is a persist.Watcher on PostgreSQL LISTEN/NOTIFY: it keeps
// the policy of every instance sharing a database in step. Update sends a
// notification carrying this instance's id; a loop, between Start and
// Stop, listens on a connection of its own and calls the update callback
// for each notification of another instance.
//
// When the connection drops (a PostgreSQL restart), the loop logs a
// warning, connects again with capped, jittered backoff (warning while it
// cannot), and then calls the callback once, since notifications sent
// meanwhile are lost. It does the same after its first connection, so
// that a change made between loading the policy and Start is not missed.
// The callback runs on the loop: one at a time, in order.
//
// Give it to auth.Authorizer.SetWatcher. Start, Stop and Update may be
// called more than once and concurrently.
type PolicyWatcher struct {
	db   *store.DB
	cfg  WatcherConfig
	log  *slog.Logger
	init error // the config's problem, reported by Start

	mu       sync.Mutex
	callback func(string)
	running  bool
	cancel   context.CancelFunc
	done     chan struct{} // closed when the loop ended
}

var _ persist.Watcher = (*PolicyWatcher)(nil)

// NewPolicyWatcher returns a watcher on db for cfg (defaults applied); log
// may be nil. It does not listen until Start; an invalid cfg makes Start
// and Update fail.
func NewPolicyWatcher(db *store.DB, cfg WatcherConfig, log *slog.Logger) *PolicyWatcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.WithDefaults()
	w := &PolicyWatcher{db: db, cfg: cfg, log: log}
	if err := cfg.Validate(); err != nil {
		w.init = fmt.Errorf("authpg: invalid watcher config: %w", err)
	}
	return w
}

// InstanceID returns the id this instance's notifications carry.
func (w *PolicyWatcher) InstanceID() string { return w.cfg.InstanceID }

// SetUpdateCallback sets the function called, on the watcher's loop, when
// another instance changed the policy (with its instance id) or when
// changes may have been missed (with ""). It implements persist.Watcher.
func (w *PolicyWatcher) SetUpdateCallback(fn func(string)) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.callback = fn
	return nil
}

// Update tells the other instances that the policy changed, within
// WatcherConfig.NotifyTimeout. It implements persist.Watcher.
func (w *PolicyWatcher) Update() error {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.NotifyTimeout)
	defer cancel()
	return w.Notify(ctx)
}

// Notify is Update within ctx.
func (w *PolicyWatcher) Notify(ctx context.Context) error {
	if w.init != nil {
		return w.init
	}
	if _, err := w.db.Exec(ctx, `SELECT pg_notify($1, $2)`, w.cfg.Channel, w.cfg.InstanceID); err != nil {
		return fmt.Errorf("authpg: notify policy change: %w", store.MapError(err))
	}
	return nil
}

// Close stops the watcher (waiting up to 10 seconds) and forgets the
// callback. It implements persist.Watcher.
func (w *PolicyWatcher) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Stop(ctx); err != nil {
		w.log.Warn("authpg: close the policy watcher", slog.Any("error", err))
	}
	_ = w.SetUpdateCallback(nil)
}

// Start starts listening: it connects and LISTENs within ctx (if that
// fails it logs a warning and keeps trying in the background), then
// serves notifications until Stop. It fails only when the config is
// invalid. A running watcher's Start does nothing.
func (w *PolicyWatcher) Start(ctx context.Context) error {
	if w.init != nil {
		return w.init
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running {
		return nil
	}
	conn, err := w.connect(ctx)
	if err != nil {
		w.log.Warn("authpg: policy watcher cannot LISTEN yet; retrying in the background", slog.Any("error", err))
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	w.running, w.cancel, w.done = true, cancel, done
	go func() {
		defer close(done)
		w.run(runCtx, conn)
	}()
	return nil
}

// Stop stops listening: it ends the loop and waits for it, and closes the
// connection. A callback in progress runs to its end first; if ctx ends
// before that, Stop returns ctx's error and the loop ends right after the
// callback. A stopped watcher's Stop does nothing.
func (w *PolicyWatcher) Stop(ctx context.Context) error {
	w.mu.Lock()
	if !w.running {
		w.mu.Unlock()
		return nil
	}
	w.running = false
	cancel, done := w.cancel, w.done
	w.mu.Unlock()
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("authpg: stop the policy watcher: %w", ctx.Err())
	}
}

// connect opens the LISTEN connection.
func (w *PolicyWatcher) connect(ctx context.Context) (*pgx.Conn, error) {
	cc := w.db.Pool.Config().ConnConfig.Copy()
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	name := WatcherApplicationName + " " + w.cfg.InstanceID
	if len(name) > 63 {
		name = name[:63]
	}
	cc.RuntimeParams["application_name"] = name
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("authpg: policy watcher: connect: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{w.cfg.Channel}.Sanitize()); err != nil {
		closeListenConn(conn)
		return nil, fmt.Errorf("authpg: policy watcher: LISTEN %s: %w", w.cfg.Channel, err)
	}
	return conn, nil
}

// closeListenConn closes conn, waiting a second at most.
func closeListenConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}

// run is the loop: it waits for notifications on conn, and connects again
// (conn nil) until ctx ends.
func (w *PolicyWatcher) run(ctx context.Context, conn *pgx.Conn) {
	defer func() {
		if conn != nil {
			closeListenConn(conn)
		}
	}()
	failures := 0
	synced := false // the callback ran since the connection was made
	var lastSync time.Time
	for ctx.Err() == nil {
		if conn == nil {
			var err error
			if conn, err = w.connect(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				failures++
				d := watcherBackoff(w.cfg.MinBackoff, w.cfg.MaxBackoff, failures)
				if failures == 1 || failures%10 == 0 {
					w.log.Warn("authpg: policy watcher cannot LISTEN; policy changes of other instances are not seen meanwhile",
						slog.Int("failures", failures), slog.Duration("retry_in", d), slog.Any("error", err))
				}
				if !watcherSleep(ctx, d) {
					return
				}
				continue
			}
			if failures > 0 {
				w.log.Info("authpg: policy watcher listening again", slog.Int("after_failures", failures))
			}
			failures = 0
		}
		if !synced {
			synced = true
			lastSync = time.Now()
			w.changed("") // notifications may have been missed
			continue      // check ctx again
		}
		wctx, cancel := context.WithTimeout(ctx, w.cfg.CheckInterval)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			if n.Payload != w.cfg.InstanceID {
				w.changed(n.Payload)
			}
			continue
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			pctx, cancel := context.WithTimeout(ctx, w.cfg.CheckInterval)
			err = conn.Ping(pctx)
			cancel()
			if err == nil {
				if time.Since(lastSync) >= w.cfg.ResyncInterval {
					lastSync = time.Now()
					w.changed("") // the safety net (see ResyncInterval)
				}
				continue
			}
			if ctx.Err() != nil {
				return
			}
		}
		w.log.Warn("authpg: policy watcher lost its LISTEN connection; reconnecting", slog.Any("error", err))
		closeListenConn(conn)
		conn, synced = nil, false
		if !watcherSleep(ctx, w.cfg.MinBackoff) {
			return
		}
	}
}

// changed calls the callback, if any.
func (w *PolicyWatcher) changed(from string) {
	w.mu.Lock()
	fn := w.callback
	w.mu.Unlock()
	if fn != nil {
		fn(from)
	}
}

// watcherBackoff returns the wait before attempt failures+1: lo doubled
// per failure up to hi, of which it waits a random half to whole.
func watcherBackoff(lo, hi time.Duration, failures int) time.Duration {
	d := lo
	for i := 1; i < failures && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + rand.N(d/2+1)
}

// watcherSleep waits d, or until ctx ends (then it returns false).
func watcherSleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
