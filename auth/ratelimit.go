package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/taylordash/taylordash/dashcore"
)

// LimitKind says what a rate limit counts: requests of one client IP or
// of one principal.
type LimitKind string

// The kinds of rate limit.
const (
	// LimitIP counts the requests of one client IP (see [ClientIP]). IPv6
	// clients are counted by their /64 network, which one subscriber
	// usually holds whole.
	LimitIP LimitKind = "ip"
	// LimitPrincipal counts the requests of one principal, by its
	// Subject.
	LimitPrincipal LimitKind = "principal"
)

// Rate is a token bucket: Events per Period on average, in bursts of up
// to Burst. Its text form is "events/period[:burst]", such as "20/1s:40"
// or "5/1m"; the period is a Go duration, or a bare unit (s, m, h)
// meaning one of it; the burst defaults to the events.
type Rate struct {
	// Events is how many requests a Period allows on average.
	Events int
	// Period is the time over which Events are allowed.
	Period time.Duration
	// Burst is the most requests allowed at once, after a quiet time.
	Burst int
}

// ParseRate parses "events/period[:burst]", such as "100/1s:200",
// "5/1m" or "10/m:10".
func ParseRate(s string) (Rate, error) {
	const form = "use events/period[:burst], such as 20/1s:40 or 5/1m"
	spec, burst, hasBurst := strings.Cut(strings.TrimSpace(s), ":")
	events, period, ok := strings.Cut(spec, "/")
	if !ok {
		return Rate{}, fmt.Errorf("rate %q has no /period: %s", s, form)
	}
	var r Rate
	var err error
	if r.Events, err = strconv.Atoi(events); err != nil || r.Events < 1 {
		return Rate{}, fmt.Errorf("rate %q: events %q must be a positive integer: %s", s, events, form)
	}
	switch period {
	case "s":
		r.Period = time.Second
	case "m":
		r.Period = time.Minute
	case "h":
		r.Period = time.Hour
	default:
		if r.Period, err = time.ParseDuration(period); err != nil || r.Period <= 0 {
			return Rate{}, fmt.Errorf("rate %q: period %q must be a positive duration such as 1s, 1m or 90s: %s", s, period, form)
		}
	}
	r.Burst = r.Events
	if hasBurst {
		if r.Burst, err = strconv.Atoi(burst); err != nil || r.Burst < 1 {
			return Rate{}, fmt.Errorf("rate %q: burst %q must be a positive integer: %s", s, burst, form)
		}
	}
	return r, nil
}

// String returns the text form, such as "20/1s:40" or "5/1m:5".
func (r Rate) String() string {
	p := r.Period.String()
	if strings.HasSuffix(p, "m0s") {
		p = p[:len(p)-2]
	}
	if strings.HasSuffix(p, "h0m") {
		p = p[:len(p)-2]
	}
	return fmt.Sprintf("%d/%s:%d", r.Events, p, r.Burst)
}

// MarshalText returns the text form (see [Rate.String]).
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText parses the text form (see [ParseRate]).
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// withBurst returns r with a zero Burst set to Events.
func (r Rate) withBurst() Rate {
	if r.Burst == 0 {
		r.Burst = r.Events
	}
	return r
}

// check returns what is wrong with r, or "".
func (r Rate) check() string {
	if r.Events < 1 || r.Period <= 0 || r.Burst < 1 {
		return "must have positive events, period and burst, such as 20/1s:40"
	}
	return ""
}

// perSecond returns r's average in events per second.
func (r Rate) perSecond() rate.Limit {
	return rate.Limit(float64(r.Events) / r.Period.Seconds())
}

// RateLimitConfig configures a [RateLimiter]. Fields with an env tag are
// read by dashcore relative to the prefix the application assigns (e.g.
// TAYLORDASH_AUTH_RATE_LIMIT_PER_IP), over the defaults of WithDefaults.
//
// Every route group has its own buckets: a client that spends its budget
// on one group still has the others'. A group takes PerIP and
// PerPrincipal unless Groups overrides them.
type RateLimitConfig struct {
	// PerIP is the rate allowed to one client IP in a group. Default
	// 20/1s:40: more than a person's browser needs, little for a script.
	PerIP Rate `env:"PER_IP" expect:"a rate events/period[:burst], such as 20/1s:40"`
	// PerPrincipal is the rate allowed to one principal in a group.
	// Default 50/1s:100: services and plugins call more than browsers.
	PerPrincipal Rate `env:"PER_PRINCIPAL" expect:"a rate events/period[:burst], such as 50/1s:100"`
	// Groups overrides the rate of some groups, each entry
	// "group=rate" (both kinds), "group.ip=rate" or
	// "group.principal=rate", with a rate as in [ParseRate]; from the
	// environment, a comma-separated list such as
	// "login.ip=10/1m:10,events.principal=100/1s:200". Default
	// ["login.ip=10/1m:10"]: each login costs a password hash (about 35
	// ms of a core), so one IP may not keep the hasher busy. A nil Groups
	// takes the default; setting it replaces the whole list, so keep the
	// login entry.
	Groups []string `env:"GROUPS" expect:"a comma-separated list of group[.ip|.principal]=events/period[:burst], such as login.ip=10/1m:10"`
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed, as CIDRs or single addresses ("10.0.0.0/8", "::1"); see
	// [ClientIP]. Default none: the peer address is the client.
	TrustedProxies []string `env:"TRUSTED_PROXIES"`
	// MaxKeys bounds the buckets kept (one per group, kind and key), so
	// that a flood of spoofed keys cannot exhaust memory: when full, the
	// longest idle buckets are dropped first. About 250 bytes each.
	// Default 100000; at least 1.
	MaxKeys int `env:"MAX_KEYS"`
	// IdleExpiry is how long a bucket is kept unused (longer if it has
	// not refilled by then, so that dropping it forgives nothing).
	// Default 10m.
	IdleExpiry time.Duration `env:"IDLE_EXPIRY"`
}

// WithDefaults returns a copy of c with zero fields set to their
// defaults, and a zero Burst of a rate set to its Events.
func (c RateLimitConfig) WithDefaults() RateLimitConfig {
	if c.PerIP == (Rate{}) {
		c.PerIP = Rate{Events: 20, Period: time.Second, Burst: 40}
	}
	if c.PerPrincipal == (Rate{}) {
		c.PerPrincipal = Rate{Events: 50, Period: time.Second, Burst: 100}
	}
	c.PerIP, c.PerPrincipal = c.PerIP.withBurst(), c.PerPrincipal.withBurst()
	if c.Groups == nil {
		c.Groups = []string{"login.ip=10/1m:10"}
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = 100_000
	}
	if c.IdleExpiry <= 0 {
		c.IdleExpiry = 10 * time.Minute
	}
	return c
}

// Validate reports every field that cannot work, naming the field and the
// fix. It checks c as given; call it on c.WithDefaults().
func (c RateLimitConfig) Validate() error {
	var errs []error
	bad := func(field, problem string) {
		errs = append(errs, &dashcore.FieldError{Field: field, Problem: problem})
	}
	if p := c.PerIP.check(); p != "" {
		bad("PerIP", p)
	}
	if p := c.PerPrincipal.check(); p != "" {
		bad("PerPrincipal", p)
	}
	if _, err := parseGroups(c.Groups); err != nil {
		bad("Groups", err.Error())
	}
	if _, err := parsePrefixes(c.TrustedProxies); err != nil {
		bad("TrustedProxies", err.Error())
	}
	if c.MaxKeys < 1 {
		bad("MaxKeys", "must be at least 1, such as 100000")
	}
	if c.IdleExpiry <= 0 {
		bad("IdleExpiry", "must be positive, such as 10m")
	}
	return errors.Join(errs...)
}

// TrustedPrefixes returns TrustedProxies parsed, for [ClientIP].
func (c RateLimitConfig) TrustedPrefixes() ([]netip.Prefix, error) {
	return parsePrefixes(c.TrustedProxies)
}

type groupKind struct {
	group string
	kind  LimitKind
}

// parseGroups parses the Groups entries, reporting every bad one.
func parseGroups(entries []string) (map[groupKind]Rate, error) {
	const form = "use group[.ip|.principal]=events/period[:burst], such as login.ip=10/1m:10"
	out := make(map[groupKind]Rate, len(entries))
	var errs []string
	for _, e := range entries {
		name, spec, ok := strings.Cut(strings.TrimSpace(e), "=")
		if !ok {
			errs = append(errs, fmt.Sprintf("entry %q has no =: %s", e, form))
			continue
		}
		group, kind, hasKind := strings.Cut(name, ".")
		kinds := []LimitKind{LimitIP, LimitPrincipal}
		if hasKind {
			switch k := LimitKind(kind); k {
			case LimitIP, LimitPrincipal:
				kinds = []LimitKind{k}
			default:
				errs = append(errs, fmt.Sprintf("entry %q: kind %q must be ip or principal: %s", e, kind, form))
				continue
			}
		}
		if group == "" || strings.ContainsFunc(group, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
		}) {
			errs = append(errs, fmt.Sprintf("entry %q: group %q must be letters, digits, _ and -: %s", e, group, form))
			continue
		}
		r, err := ParseRate(spec)
		if err != nil {
			errs = append(errs, fmt.Sprintf("entry %q: %v", e, err))
			continue
		}
		for _, k := range kinds {
			gk := groupKind{group, k}
			if _, dup := out[gk]; dup {
				errs = append(errs, fmt.Sprintf("entry %q: group %s.%s is set twice", e, group, k))
			}
			out[gk] = r
		}
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "; "))
	}
	return out, nil
}

// parsePrefixes parses CIDRs and single addresses.
func parsePrefixes(ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	var bad []string
	for _, s := range ss {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		} else if a, err := netip.ParseAddr(s); err == nil {
			a = a.Unmap().WithZone("")
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		} else {
			bad = append(bad, strconv.Quote(s))
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s: must be CIDRs or addresses, such as 10.0.0.0/8 or ::1", strings.Join(bad, ", "))
	}
	return out, nil
}

// Decision is the outcome of [RateLimiter.Allow], with what the rate-limit
// headers need.
type Decision struct {
	// Allowed reports whether the request may proceed.
	Allowed bool
	// Limit is the bucket's size: the most requests allowed at once.
	Limit int
	// Remaining is how many more requests are allowed right now.
	Remaining int
	// Reset is the time until the bucket is full again.
	Reset time.Duration
	// RetryAfter is, when refused, the time until one request is allowed;
	// 0 when allowed.
	RetryAfter time.Duration
}

// SetHeaders writes the IETF draft rate-limit headers RateLimit-Limit,
// RateLimit-Remaining and RateLimit-Reset (seconds, rounded up), and, when
// the request is refused, Retry-After (whole seconds, rounded up, at least
// 1). (Header names are case-insensitive; http.Header stores them as
// Ratelimit-Limit and so on.)
func (d Decision) SetHeaders(h http.Header) {
	// Canonical keys assigned directly: Header.Set would canonicalize
	// (and allocate) each key on every request.
	h["Ratelimit-Limit"] = []string{strconv.Itoa(d.Limit)}
	h["Ratelimit-Remaining"] = []string{strconv.Itoa(d.Remaining)}
	h["Ratelimit-Reset"] = []string{strconv.FormatInt(ceilSeconds(d.Reset), 10)}
	if !d.Allowed {
		h["Retry-After"] = []string{strconv.FormatInt(max(1, ceilSeconds(d.RetryAfter)), 10)}
	}
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// RateLimiter applies token-bucket rate limits per route group, per client
// IP and per principal. It is safe for concurrent use and has no
// goroutine: buckets idle past the expiry are swept during Allow, a shard
// at a time, and when MaxKeys buckets exist the longest idle are dropped
// to make room.
type RateLimiter struct {
	now      func() time.Time
	perIP    Rate
	perPrinc Rate
	groups   map[groupKind]Rate
	trusted  []netip.Prefix
	expiry   int64 // nanoseconds
	buckets  *table[bucketKey, *rate.Limiter]
}

type bucketKey struct {
	group string
	kind  LimitKind
	key   string
}

// NewRateLimiter returns a limiter for cfg, after cfg.WithDefaults(); it
// returns cfg's Validate error, if any. now is the clock (nil for
// time.Now), which tests replace.
func NewRateLimiter(cfg RateLimitConfig, now func() time.Time) (*RateLimiter, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("auth: rate limits: %w", err)
	}
	groups, _ := parseGroups(cfg.Groups)
	trusted, _ := parsePrefixes(cfg.TrustedProxies)
	if now == nil {
		now = time.Now
	}
	return &RateLimiter{
		now: now, perIP: cfg.PerIP, perPrinc: cfg.PerPrincipal, groups: groups, trusted: trusted,
		expiry:  int64(cfg.IdleExpiry),
		buckets: newTable[bucketKey, *rate.Limiter](cfg.MaxKeys, cfg.IdleExpiry/2),
	}, nil
}

// Rate returns the rate that applies to kind in group.
func (l *RateLimiter) Rate(group string, kind LimitKind) Rate {
	if r, ok := l.groups[groupKind{group, kind}]; ok {
		return r
	}
	if kind == LimitPrincipal {
		return l.perPrinc
	}
	return l.perIP
}

// Allow takes one request from the bucket of key (a client IP for LimitIP,
// a principal's Subject for LimitPrincipal; any other kind gets the IP
// rate) in group, and reports the decision. A refused request takes
// nothing.
func (l *RateLimiter) Allow(group string, kind LimitKind, key string) Decision {
	r := l.Rate(group, kind)
	if kind == LimitIP {
		key = ipKey(key)
	}
	key = boundKey(key)
	now := l.now()
	nanos := now.UnixNano()
	k := bucketKey{group: group, kind: kind, key: key}
	sh := l.buckets.shard(key)
	sh.mu.Lock()
	s := l.buckets.get(sh, k, nanos, true)
	if s.v == nil {
		s.v = rate.NewLimiter(r.perSecond(), r.Burst)
		// A bucket idle for as long as it takes to fill is as good as a
		// new one: only then may it be dropped without forgiving debt.
		fill := int64(float64(r.Burst) * float64(r.Period) / float64(r.Events))
		s.ttl = max(l.expiry, fill)
	}
	s.rank, s.expires = nanos, nanos+s.ttl
	lim := s.v
	allowed := lim.AllowN(now, 1)
	tokens := lim.TokensAt(now)
	sh.mu.Unlock()

	perToken := float64(r.Period) / float64(r.Events) // nanoseconds per token
	d := Decision{Allowed: allowed, Limit: r.Burst}
	d.Remaining = max(0, int(math.Floor(tokens)))
	d.Reset = time.Duration(math.Ceil((float64(r.Burst) - tokens) * perToken))
	if !allowed {
		d.RetryAfter = max(time.Nanosecond, time.Duration(math.Ceil((1-tokens)*perToken)))
	}
	return d
}

// ClientIP returns the client address of r with the limiter's trusted
// proxies (see [ClientIP]).
func (l *RateLimiter) ClientIP(r *http.Request) string { return ClientIP(r, l.trusted) }

// Len returns how many buckets are kept, for metrics and tests.
func (l *RateLimiter) Len() int { return l.buckets.len() }

// ClientIP returns the address of the client that sent r: the peer
// address (r.RemoteAddr) or, when the peer is one of trustedProxies, the
// right-most address of X-Forwarded-For that is not a trusted proxy.
//
// Only the right end of X-Forwarded-For can be believed: each proxy
// appends the address it received the request from, so the entries a
// trusted proxy added are true, and anything to their left may have been
// written by the client itself. So the header is read from the right,
// skipping trusted proxies, and the first other address is the client;
// entries further left are ignored. If every entry is a trusted proxy the
// left-most is returned; if an entry is not an address, the last trusted
// one read is. With no trusted proxies the header is never read. The
// result is canonical (IPv4-mapped IPv6 addresses unmapped, zones
// dropped), or RemoteAddr as is when it is not an address (a Unix
// socket).
func ClientIP(r *http.Request, trustedProxies []netip.Prefix) string {
	peer, ok := parseHostAddr(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	trusted := func(a netip.Addr) bool {
		for _, p := range trustedProxies {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if !trusted(peer) {
		return peer.String()
	}
	client := peer
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		parts := strings.Split(values[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, ok := parseHostAddr(strings.TrimSpace(parts[j]))
			if !ok {
				return client.String()
			}
			client = a
			if !trusted(a) {
				return a.String()
			}
		}
	}
	return client.String()
}

// parseHostAddr parses "addr", "addr:port", "[addr]" or "[addr]:port".
func parseHostAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		host, _, splitErr := net.SplitHostPort(s)
		if splitErr != nil {
			host = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
		}
		if a, err = netip.ParseAddr(host); err != nil {
			return netip.Addr{}, false
		}
	}
	return a.Unmap().WithZone(""), true
}

// ipKey returns the key counting ip: its /64 network for IPv6 (in a
// compact binary form), ip itself otherwise.
func ipKey(ip string) string {
	if !strings.Contains(ip, ":") {
		return ip
	}
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() {
		return ip
	}
	if a.Is4In6() {
		return a.Unmap().String()
	}
	b := a.As16()
	var key [11]byte
	copy(key[:], "v6/")
	copy(key[3:], b[:8])
	return string(key[:])
}

// boundKey keeps a key's memory bounded: a key longer than 128 bytes is
// replaced by its SHA-256.
func boundKey(k string) string {
	if len(k) <= 128 {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// table is a map split in shards, each with its own lock, holding at
// most about maxKeys entries. Each entry carries its own expiry and
// eviction rank, which the caller keeps up to date under the shard's lock.
type table[K comparable, V any] struct {
	seed       maphash.Seed
	shards     []tableShard[K, V]
	perShard   int
	sweepEvery int64
}

type tableShard[K comparable, V any] struct {
	mu        sync.Mutex
	m         map[K]*slot[V]
	nextSweep int64
	_         [40]byte // keeps neighbouring shards' locks off one cache line
}

// slot is an entry of a table.
type slot[V any] struct {
	v       V
	expires int64 // UnixNano after which the entry may be dropped
	rank    int64 // eviction order when the shard is full: lowest first
	ttl     int64 // for the caller's use
}

// newTable returns a table of at most maxKeys entries, whose shards are
// swept of expired entries at most every sweepEvery.
func newTable[K comparable, V any](maxKeys int, sweepEvery time.Duration) *table[K, V] {
	n := 32
	if maxKeys < 64*n {
		n = 1 // small tables: one shard, so that the bound is exact
	}
	t := &table[K, V]{
		seed:       maphash.MakeSeed(),
		shards:     make([]tableShard[K, V], n),
		perShard:   max(1, maxKeys/n),
		sweepEvery: max(int64(sweepEvery), int64(time.Second)),
	}
	for i := range t.shards {
		t.shards[i].m = make(map[K]*slot[V])
	}
	return t
}

// shard returns the shard of the entries hashed by h.
func (t *table[K, V]) shard(h string) *tableShard[K, V] {
	if len(t.shards) == 1 {
		return &t.shards[0]
	}
	return &t.shards[maphash.String(t.seed, h)%uint64(len(t.shards))]
}

// get returns k's entry in sh, whose lock the caller holds. When k is
// absent it returns nil, or, if create, a new zero entry, after sweeping
// or evicting to make room. It sweeps sh when a sweep is due.
func (t *table[K, V]) get(sh *tableShard[K, V], k K, now int64, create bool) *slot[V] {
	if now >= sh.nextSweep {
		sweep(sh.m, now)
		sh.nextSweep = now + t.sweepEvery
	}
	if s := sh.m[k]; s != nil || !create {
		return s
	}
	if len(sh.m) >= t.perShard {
		sweep(sh.m, now)
		if len(sh.m) >= t.perShard {
			evict(sh.m, max(1, t.perShard/8, len(sh.m)-t.perShard+1))
		}
	}
	s := &slot[V]{}
	sh.m[k] = s
	return s
}

// len returns the number of entries.
func (t *table[K, V]) len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

func sweep[K comparable, V any](m map[K]*slot[V], now int64) {
	for k, s := range m {
		if now >= s.expires {
			delete(m, k)
		}
	}
}

// evict drops n entries of m with the lowest ranks (about n when ranks
// tie).
func evict[K comparable, V any](m map[K]*slot[V], n int) {
	ranks := make([]int64, 0, len(m))
	for _, s := range m {
		ranks = append(ranks, s.rank)
	}
	if n <= 0 || len(ranks) == 0 {
		return
	}
	slices.Sort(ranks)
	cut := ranks[min(n, len(ranks))-1]
	for k, s := range m {
		if n == 0 {
			return
		}
		if s.rank <= cut {
			delete(m, k)
			n--
		}
	}
}
