package auth

import (
	"errors"
	"strings"
	"time"

	"github.com/taylordash/taylordash/dashcore"
)

// LockoutConfig configures a [LoginGuard]. Fields with an env tag are read
// by dashcore relative to the prefix the application assigns (e.g.
// TAYLORDASH_AUTH_LOCKOUT_MAX_FAILURES), over the defaults of
// WithDefaults.
type LockoutConfig struct {
	// MaxFailures is how many failed logins of one username within Window
	// start a lockout of that username: the failure that reaches it starts
	// it, so the next attempt is refused. Default 5; at least 1.
	MaxFailures int `env:"MAX_FAILURES"`
	// MaxFailuresPerIP is the same for one client IP (IPv6: one /64),
	// whatever the usernames: higher, since one address may be a NAT or a
	// proxy serving many people, but it stops one client trying a few
	// passwords on each of many usernames. Default 20; at least 1.
	MaxFailuresPerIP int `env:"MAX_FAILURES_PER_IP"`
	// Window is how far back failures are counted (a sliding window).
	// Default 1m.
	Window time.Duration `env:"WINDOW"`
	// LockoutDuration is how long a first lockout lasts. Each further
	// lockout of the same username or IP doubles it, up to
	// MaxLockoutDuration, which slows a patient attacker from about 1400
	// guesses a day to about 120; a successful login, or a quiet time of
	// MaxLockoutDuration after the last lockout ends, starts again from
	// LockoutDuration. Default 5m.
	LockoutDuration time.Duration `env:"DURATION"`
	// MaxLockoutDuration caps the doubling; set it to LockoutDuration for
	// lockouts that never grow. Default 1h; a value below LockoutDuration
	// is raised to it.
	MaxLockoutDuration time.Duration `env:"MAX_DURATION"`
	// MaxKeys bounds the usernames tracked, and separately the IPs, so
	// that failures with made-up usernames cannot exhaust memory; when
	// full, the entries with the oldest activity (last failure, or the end
	// of a lockout) are dropped first, so locked entries go last. Default
	// 100000.
	MaxKeys int `env:"MAX_KEYS"`
}

// WithDefaults returns a copy of c with zero or negative fields set to
// their defaults.
func (c LockoutConfig) WithDefaults() LockoutConfig {
	if c.MaxFailures <= 0 {
		c.MaxFailures = 5
	}
	if c.MaxFailuresPerIP <= 0 {
		c.MaxFailuresPerIP = 20
	}
	if c.Window <= 0 {
		c.Window = time.Minute
	}
	if c.LockoutDuration <= 0 {
		c.LockoutDuration = 5 * time.Minute
	}
	if c.MaxLockoutDuration <= 0 {
		c.MaxLockoutDuration = max(time.Hour, c.LockoutDuration)
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = 100_000
	}
	return c
}

// Validate reports every field that cannot work, naming the field and the
// fix. It checks c as given; call it on c.WithDefaults().
func (c LockoutConfig) Validate() error {
	var errs []error
	bad := func(field, problem string) {
		errs = append(errs, &dashcore.FieldError{Field: field, Problem: problem})
	}
	if c.MaxFailures < 1 || c.MaxFailures > 1000 {
		bad("MaxFailures", "must be from 1 to 1000, such as 5")
	}
	if c.MaxFailuresPerIP < 1 || c.MaxFailuresPerIP > 10000 {
		bad("MaxFailuresPerIP", "must be from 1 to 10000, such as 20")
	}
	if c.Window <= 0 {
		bad("Window", "must be positive, such as 1m")
	}
	if c.LockoutDuration <= 0 {
		bad("LockoutDuration", "must be positive, such as 5m")
	}
	if c.MaxKeys < 1 {
		bad("MaxKeys", "must be at least 1, such as 100000")
	}
	return errors.Join(errs...)
}

// LoginGuard counts failed logins per username (ignoring case) and per
// client IP, and locks out those that fail too often. It is safe for
// concurrent use, keeps bounded memory (see LockoutConfig.MaxKeys) and
// has no goroutine.
//
// A login calls Check before looking at the password, and refuses the
// attempt (429 with Retry-After) when locked; after checking the password
// it calls Failure or Success. A lockout starts on the failure that
// reaches the threshold: with the defaults, the 5th failure of a username
// within a minute is still answered as a wrong password (401), but its
// Failure returns lockedNow (write one lockout audit event), and the 6th
// attempt within the lockout is refused by Check. Attempts refused by
// Check are not counted, and never extend the lockout.
type LoginGuard struct {
	now   func() time.Time
	cfg   LockoutConfig
	users *table[string, lockRecord]
	ips   *table[string, lockRecord]
}

// lockRecord is the failures of one username or IP.
type lockRecord struct {
	failures    []int64 // UnixNano of the failures within the window, oldest first
	lockedUntil int64   // UnixNano; locked while now is before it
	lockouts    int     // lockouts in a row, for the doubling
}

// NewLoginGuard returns a guard for cfg, after cfg.WithDefaults() (a
// MaxLockoutDuration below LockoutDuration is raised to it); cfg should
// have passed Validate. now is the clock (nil for time.Now), which tests
// replace.
func NewLoginGuard(cfg LockoutConfig, now func() time.Time) *LoginGuard {
	cfg = cfg.WithDefaults()
	cfg.MaxLockoutDuration = max(cfg.MaxLockoutDuration, cfg.LockoutDuration)
	if now == nil {
		now = time.Now
	}
	return &LoginGuard{
		now: now, cfg: cfg,
		users: newTable[string, lockRecord](cfg.MaxKeys, cfg.Window),
		ips:   newTable[string, lockRecord](cfg.MaxKeys, cfg.Window),
	}
}

// Check reports whether a login of username from ip is locked out, and
// for how long. An empty username or ip is not checked.
func (g *LoginGuard) Check(username, ip string) (retryAfter time.Duration, locked bool) {
	now := g.now().UnixNano()
	cs, n := g.counters(username, ip)
	for _, c := range cs[:n] {
		sh := c.t.shard(c.key)
		sh.mu.Lock()
		if s := c.t.get(sh, c.key, now, false); s != nil && now < s.v.lockedUntil {
			retryAfter, locked = max(retryAfter, time.Duration(s.v.lockedUntil-now)), true
		}
		sh.mu.Unlock()
	}
	return retryAfter, locked
}

// Failure records a failed login of username from ip. lockedNow is true
// exactly when this failure starts a lockout, of the username or of the
// IP (the caller writes one lockout audit event); retryAfter is how long
// the lockout in force lasts, 0 if none. A failure that arrives while a
// lockout is already in force (an attempt that passed Check just before
// it began) is not counted.
func (g *LoginGuard) Failure(username, ip string) (lockedNow bool, retryAfter time.Duration) {
	now := g.now().UnixNano()
	cs, n := g.counters(username, ip)
	for _, c := range cs[:n] {
		started, d := g.fail(c, now)
		lockedNow = lockedNow || started
		retryAfter = max(retryAfter, d)
	}
	return lockedNow, retryAfter
}

// Success forgets the failures of username, with its lockout and its
// doubling. The IP's failures stay: a client with one valid account could
// otherwise clear its count between guesses at others.
func (g *LoginGuard) Success(username, _ string) {
	if username == "" {
		return
	}
	key := userKey(username)
	sh := g.users.shard(key)
	sh.mu.Lock()
	delete(sh.m, key)
	sh.mu.Unlock()
}

// Len returns how many usernames and IPs are tracked, for metrics and
// tests.
func (g *LoginGuard) Len() (users, ips int) { return g.users.len(), g.ips.len() }

type counter struct {
	t   *table[string, lockRecord]
	key string
	max int
}

// counters returns the counters a login of username from ip touches:
// cs[:n].
func (g *LoginGuard) counters(username, ip string) (cs [2]counter, n int) {
	if username != "" {
		cs[n] = counter{g.users, userKey(username), g.cfg.MaxFailures}
		n++
	}
	if ip != "" {
		cs[n] = counter{g.ips, boundKey(ipKey(ip)), g.cfg.MaxFailuresPerIP}
		n++
	}
	return cs, n
}

func userKey(username string) string { return boundKey(strings.ToLower(username)) }

// fail records a failure in c at now.
func (g *LoginGuard) fail(c counter, now int64) (started bool, retryAfter time.Duration) {
	sh := c.t.shard(c.key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := c.t.get(sh, c.key, now, true)
	rec := &s.v
	if now < rec.lockedUntil {
		return false, time.Duration(rec.lockedUntil - now)
	}
	if rec.lockouts > 0 && now >= rec.lockedUntil+int64(g.cfg.MaxLockoutDuration) {
		rec.lockouts = 0 // quiet long enough: the doubling starts again
	}
	cut := now - int64(g.cfg.Window)
	i := 0
	for i < len(rec.failures) && rec.failures[i] <= cut {
		i++
	}
	// Reslicing drops the old failures without copying; append moves the
	// rest to a new array when the old one is used up.
	rec.failures = append(rec.failures[i:], now)
	if len(rec.failures) >= c.max {
		d := g.lockoutFor(rec.lockouts)
		rec.lockedUntil, rec.lockouts, rec.failures = now+int64(d), rec.lockouts+1, nil
		started, retryAfter = true, d
	}
	// Kept while failures count, while locked, and while the doubling is
	// remembered; evicted by the latest of its last failure and the end of
	// its lockout.
	s.expires = now + int64(g.cfg.Window)
	if rec.lockouts > 0 {
		s.expires = max(s.expires, rec.lockedUntil+int64(g.cfg.MaxLockoutDuration))
	}
	s.rank = max(now, rec.lockedUntil)
	return started, retryAfter
}

// lockoutFor returns the duration of a lockout after n others in a row.
func (g *LoginGuard) lockoutFor(n int) time.Duration {
	d := g.cfg.LockoutDuration
	for range n {
		if d >= g.cfg.MaxLockoutDuration {
			break
		}
		d *= 2
	}
	return min(d, g.cfg.MaxLockoutDuration)
}
