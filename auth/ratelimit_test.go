package auth_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
)

// limitClock is a clock that tests move by hand.
type limitClock struct {
	mu sync.Mutex
	t  time.Time
}

func newLimitClock() *limitClock {
	return &limitClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *limitClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *limitClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestRateLimiter(t testing.TB, cfg auth.RateLimitConfig, clock *limitClock) *auth.RateLimiter {
	t.Helper()
	l, err := auth.NewRateLimiter(cfg, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestRateLimiterBurstAndRefill(t *testing.T) {
	clock := newLimitClock()
	l := newTestRateLimiter(t, auth.RateLimitConfig{PerIP: auth.Rate{Events: 2, Period: time.Second, Burst: 4}}, clock)
	for i := range 4 {
		d := l.Allow("projects", auth.LimitIP, "192.0.2.1")
		want := auth.Decision{Allowed: true, Limit: 4, Remaining: 3 - i, Reset: time.Duration(i+1) * 500 * time.Millisecond}
		if d != want {
			t.Fatalf("request %d: %+v, want %+v", i+1, d, want)
		}
	}
	d := l.Allow("projects", auth.LimitIP, "192.0.2.1")
	want := auth.Decision{Allowed: false, Limit: 4, Remaining: 0, Reset: 2 * time.Second, RetryAfter: 500 * time.Millisecond}
	if d != want {
		t.Fatalf("5th request: %+v, want %+v", d, want)
	}
	if d := l.Allow("projects", auth.LimitIP, "192.0.2.2"); !d.Allowed {
		t.Fatal("another IP was refused")
	}
	clock.Advance(250 * time.Millisecond)
	if d := l.Allow("projects", auth.LimitIP, "192.0.2.1"); d.Allowed || d.RetryAfter != 250*time.Millisecond {
		t.Fatalf("after 250ms: %+v, want refused with RetryAfter 250ms", d)
	}
	clock.Advance(250 * time.Millisecond)
	if d := l.Allow("projects", auth.LimitIP, "192.0.2.1"); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after 500ms: %+v, want allowed with 0 remaining", d)
	}
	clock.Advance(time.Hour)
	if d := l.Allow("projects", auth.LimitIP, "192.0.2.1"); !d.Allowed || d.Remaining != 3 {
		t.Fatalf("after an hour: %+v, want a full bucket", d)
	}
}

func TestRateLimiterGroupsAndKinds(t *testing.T) {
	clock := newLimitClock()
	l := newTestRateLimiter(t, auth.RateLimitConfig{
		PerIP:        auth.Rate{Events: 1, Period: time.Second, Burst: 2},
		PerPrincipal: auth.Rate{Events: 1, Period: time.Second, Burst: 3},
		Groups:       []string{"login.ip=1/1m:1", "events=100/1s:200", "bulk.principal=1/h"},
	}, clock)
	for _, c := range []struct {
		group string
		kind  auth.LimitKind
		want  string
	}{
		{"projects", auth.LimitIP, "1/1s:2"},
		{"projects", auth.LimitPrincipal, "1/1s:3"},
		{"login", auth.LimitIP, "1/1m:1"},
		{"login", auth.LimitPrincipal, "1/1s:3"},
		{"events", auth.LimitIP, "100/1s:200"},
		{"events", auth.LimitPrincipal, "100/1s:200"},
		{"bulk", auth.LimitIP, "1/1s:2"},
		{"bulk", auth.LimitPrincipal, "1/1h:1"},
		{"bulk", auth.LimitKind("other"), "1/1s:2"},
	} {
		if got := l.Rate(c.group, c.kind).String(); got != c.want {
			t.Errorf("Rate(%s, %s) = %s, want %s", c.group, c.kind, got, c.want)
		}
	}
	// Each group and kind has its own bucket for the same key.
	if !l.Allow("login", auth.LimitIP, "k").Allowed || l.Allow("login", auth.LimitIP, "k").Allowed {
		t.Fatal("login.ip: want one request allowed, then refused")
	}
	if d := l.Allow("projects", auth.LimitIP, "k"); !d.Allowed || d.Remaining != 1 {
		t.Errorf("projects.ip after login.ip ran out: %+v, want a full bucket of its own", d)
	}
	if d := l.Allow("login", auth.LimitPrincipal, "k"); !d.Allowed || d.Remaining != 2 {
		t.Errorf("login.principal after login.ip ran out: %+v, want a full bucket of its own", d)
	}
	if d := l.Allow("login", auth.LimitIP, "k"); d.RetryAfter != time.Minute {
		t.Errorf("login.ip RetryAfter = %s, want 1m", d.RetryAfter)
	}
}

func TestRateLimiterIPv6CountsPer64(t *testing.T) {
	clock := newLimitClock()
	l := newTestRateLimiter(t, auth.RateLimitConfig{PerIP: auth.Rate{Events: 1, Period: time.Minute, Burst: 2}}, clock)
	l.Allow("g", auth.LimitIP, "2001:db8:1:2::1")
	if d := l.Allow("g", auth.LimitIP, "2001:db8:1:2:ffff::9"); d.Remaining != 0 {
		t.Errorf("second address of one /64: %+v, want the same bucket", d)
	}
	if d := l.Allow("g", auth.LimitIP, "2001:db8:1:3::1"); d.Remaining != 1 {
		t.Errorf("another /64: %+v, want its own bucket", d)
	}
	// Principals are not networks.
	l.Allow("g", auth.LimitPrincipal, "2001:db8:1:2::1")
	if d := l.Allow("g", auth.LimitPrincipal, "2001:db8:1:2::2"); d.Remaining != 99 {
		t.Errorf("principal keys shaped like IPv6: %+v, want separate buckets", d)
	}
}

func TestRateLimiterIdleExpiry(t *testing.T) {
	clock := newLimitClock()
	l := newTestRateLimiter(t, auth.RateLimitConfig{
		PerIP:      auth.Rate{Events: 10, Period: time.Second, Burst: 10},
		Groups:     []string{"login.ip=1/1h:1"},
		IdleExpiry: time.Minute,
		MaxKeys:    1000, // one shard: every Allow sweeps the whole table when due
	}, clock)
	for i := range 50 {
		l.Allow("g", auth.LimitIP, fmt.Sprintf("192.0.2.%d", i))
	}
	l.Allow("login", auth.LimitIP, "198.51.100.1")
	if n := l.Len(); n != 51 {
		t.Fatalf("Len = %d, want 51", n)
	}
	clock.Advance(2 * time.Minute)
	l.Allow("g", auth.LimitIP, "203.0.113.1") // sweeps
	// The login bucket takes an hour to refill, so it outlives the idle
	// expiry: dropping it would forgive the client.
	if n := l.Len(); n != 2 {
		t.Fatalf("Len after the idle expiry = %d, want 2 (the new bucket and the login one)", n)
	}
	if d := l.Allow("login", auth.LimitIP, "198.51.100.1"); d.Allowed {
		t.Fatalf("login bucket forgotten: %+v", d)
	}
	clock.Advance(2 * time.Hour)
	l.Allow("g", auth.LimitIP, "203.0.113.1")
	if n := l.Len(); n != 1 {
		t.Fatalf("Len after the login bucket refilled = %d, want 1", n)
	}
}

func TestRateLimiterMaxKeysEvictsLongestIdle(t *testing.T) {
	clock := newLimitClock()
	l := newTestRateLimiter(t, auth.RateLimitConfig{PerIP: auth.Rate{Events: 1, Period: time.Hour, Burst: 2}, MaxKeys: 3}, clock)
	step := func(key string) auth.Decision {
		clock.Advance(time.Second)
		return l.Allow("g", auth.LimitIP, key)
	}
	step("a")
	step("a")
	step("b")
	step("c")
	step("a") // refused, but a is now the most recently used
	step("d") // full: drops b, the longest idle
	if n := l.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3", n)
	}
	if d := step("a"); d.Allowed {
		t.Errorf("a was evicted: %+v", d)
	}
	if d := step("b"); d.Remaining != 1 {
		t.Errorf("b: %+v, want a new bucket (b was the one evicted)", d)
	}
	for i := range 1000 {
		step(fmt.Sprint("flood", i))
	}
	if n := l.Len(); n != 3 {
		t.Fatalf("Len after a flood of keys = %d, want 3", n)
	}
}

func TestRateLimiterConcurrentUse(t *testing.T) {
	l, err := auth.NewRateLimiter(auth.RateLimitConfig{
		PerIP: auth.Rate{Events: 1, Period: time.Hour, Burst: 100}, MaxKeys: 5000,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				if l.Allow("g", auth.LimitIP, "shared").Allowed {
					allowed.Add(1)
				}
				l.Allow("g", auth.LimitIP, fmt.Sprintf("10.%d.%d.%d", g, i/256, i%256))
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 100 {
		t.Errorf("shared key allowed %d requests, want exactly its burst of 100", n)
	}
	if n := l.Len(); n > 5000 {
		t.Errorf("Len = %d, over MaxKeys", n)
	}
}

func TestRateLimitDecisionSetHeaders(t *testing.T) {
	for _, c := range []struct {
		d    auth.Decision
		want map[string]string
	}{
		{auth.Decision{Allowed: true, Limit: 40, Remaining: 39, Reset: 50 * time.Millisecond},
			map[string]string{"RateLimit-Limit": "40", "RateLimit-Remaining": "39", "RateLimit-Reset": "1", "Retry-After": ""}},
		{auth.Decision{Allowed: true, Limit: 40, Remaining: 40},
			map[string]string{"RateLimit-Reset": "0", "Retry-After": ""}},
		{auth.Decision{Allowed: false, Limit: 5, Remaining: 0, Reset: 61 * time.Second, RetryAfter: 1200 * time.Millisecond},
			map[string]string{"RateLimit-Limit": "5", "RateLimit-Remaining": "0", "RateLimit-Reset": "61", "Retry-After": "2"}},
		{auth.Decision{Allowed: false, Limit: 5, RetryAfter: time.Millisecond},
			map[string]string{"Retry-After": "1"}},
		{auth.Decision{Allowed: false, Limit: 5, RetryAfter: 3 * time.Second},
			map[string]string{"Retry-After": "3"}},
	} {
		h := http.Header{}
		c.d.SetHeaders(h)
		for k, v := range c.want {
			if got := h.Get(k); got != v {
				t.Errorf("%+v: %s = %q, want %q", c.d, k, got, v)
			}
		}
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]string{
		"20/1s:40": "20/1s:40", "5/1m": "5/1m:5", "10/m:3": "10/1m:3", "1/h": "1/1h:1",
		"100/90s:200": "100/1m30s:200", " 7/500ms ": "7/500ms:7", "3/2h": "3/2h:3",
	} {
		r, err := auth.ParseRate(in)
		if err != nil || r.String() != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %s", in, r, err, want)
		}
		var back auth.Rate
		if err := back.UnmarshalText([]byte(r.String())); err != nil || back != r {
			t.Errorf("%q does not round-trip: %v, %v", r, back, err)
		}
	}
	for in, mention := range map[string]string{
		"": "no /period", "20": "no /period", "x/1s": "events", "0/1s": "events", "-1/1s": "events",
		"5/": "period", "5/soon": "period", "5/-1s": "period", "5/0s": "period",
		"5/1s:": "burst", "5/1s:0": "burst", "5/1s:lots": "burst",
	} {
		if _, err := auth.ParseRate(in); err == nil || !strings.Contains(err.Error(), mention) ||
			!strings.Contains(err.Error(), "events/period[:burst]") {
			t.Errorf("ParseRate(%q) error = %v, want one about %s that shows the form", in, err, mention)
		}
	}
}

func TestRateLimitConfigValidate(t *testing.T) {
	d := auth.RateLimitConfig{}.WithDefaults()
	if err := d.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if d.PerIP.String() != "20/1s:40" || d.PerPrincipal.String() != "50/1s:100" || d.MaxKeys != 100000 ||
		d.IdleExpiry != 10*time.Minute || strings.Join(d.Groups, ",") != "login.ip=10/1m:10" {
		t.Errorf("defaults = %+v", d)
	}
	if got := (auth.RateLimitConfig{PerIP: auth.Rate{Events: 5, Period: time.Second}}).WithDefaults().PerIP; got.Burst != 5 {
		t.Errorf("a zero burst is not set to the events: %v", got)
	}
	if g := (auth.RateLimitConfig{Groups: []string{}}).WithDefaults().Groups; g == nil || len(g) != 0 {
		t.Errorf("an empty Groups took the default: %q", g)
	}
	bad := auth.RateLimitConfig{
		PerIP:          auth.Rate{Events: 1, Period: -time.Second, Burst: 1},
		PerPrincipal:   auth.Rate{Events: 1, Period: time.Second, Burst: -1},
		Groups:         []string{"login", "login.ip=5/1m:5", "login.ip=6/1m", "a.b=1/s", "bad name=1/s", "x=fast"},
		TrustedProxies: []string{"10.0.0.0/8", "::1", "proxy.internal", "10.0.0.0/33"},
		IdleExpiry:     -time.Second,
	}
	err := bad.Validate()
	assertFieldErrors(t, err, "PerIP", "PerPrincipal", "Groups", "TrustedProxies", "MaxKeys", "IdleExpiry")
	for _, mention := range []string{
		`entry "login" has no =`, `login.ip is set twice`, `kind "b" must be ip or principal`,
		`group "bad name" must be`, `entry "x=fast": rate "fast"`, `"proxy.internal", "10.0.0.0/33": must be CIDRs`,
	} {
		if err == nil || !strings.Contains(err.Error(), mention) {
			t.Errorf("error does not mention %s: %v", mention, err)
		}
	}
	if _, err := auth.NewRateLimiter(bad, nil); err == nil {
		t.Error("NewRateLimiter accepted a bad config")
	}
}

func TestRateLimitConfigFromEnvironment(t *testing.T) {
	var cfg struct {
		Rate auth.RateLimitConfig `envPrefix:"AUTH_RATE_"`
	}
	cfg.Rate = cfg.Rate.WithDefaults()
	env := dashcore.NewEnvironment(map[string]string{
		"TAYLORDASH_AUTH_RATE_PER_IP":          "10/s:20",
		"TAYLORDASH_AUTH_RATE_GROUPS":          "login.ip=5/1m:5, events.principal=100/1s:200",
		"TAYLORDASH_AUTH_RATE_TRUSTED_PROXIES": "10.0.0.0/8,::1",
		"TAYLORDASH_AUTH_RATE_IDLE_EXPIRY":     "5m",
	})
	if err := dashcore.LoadConfig(env, &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Rate.Validate(); err != nil {
		t.Fatal(err)
	}
	r := cfg.Rate
	if r.PerIP.String() != "10/1s:20" || r.PerPrincipal.String() != "50/1s:100" || len(r.Groups) != 2 ||
		len(r.TrustedProxies) != 2 || r.IdleExpiry != 5*time.Minute {
		t.Errorf("loaded %+v", r)
	}
	vars, err := dashcore.ConfigVars(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if vars[0].Name != "TAYLORDASH_AUTH_RATE_PER_IP" || vars[0].Default != "10/1s:20" {
		t.Errorf("first variable = %+v", vars[0])
	}

	err = dashcore.LoadConfig(dashcore.NewEnvironment(map[string]string{"TAYLORDASH_AUTH_RATE_PER_IP": "fast"}), &cfg)
	var ce *dashcore.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "such as 20/1s:40") {
		t.Errorf("a bad rate gave %v, want a ConfigError showing the form", err)
	}
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, c := range []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"no proxy", "192.0.2.7:5555", nil, trusted, "192.0.2.7"},
		{"untrusted peer's header is ignored", "192.0.2.7:5555", []string{"1.1.1.1"}, trusted, "192.0.2.7"},
		{"no trusted proxies: header never read", "10.0.0.1:5555", []string{"1.1.1.1"}, nil, "10.0.0.1"},
		{"one proxy", "10.0.0.1:5555", []string{"198.51.100.4"}, trusted, "198.51.100.4"},
		{"client's own entries are ignored", "10.0.0.1:5555", []string{"6.6.6.6, 198.51.100.4"}, trusted, "198.51.100.4"},
		{"two proxies", "10.0.0.1:5555", []string{"6.6.6.6, 198.51.100.4, 10.0.0.9"}, trusted, "198.51.100.4"},
		{"several header lines", "10.0.0.1:5555", []string{"6.6.6.6", "198.51.100.4, 10.1.1.1", "10.0.0.9"}, trusted, "198.51.100.4"},
		{"all trusted: left-most", "10.0.0.1:5555", []string{"10.0.0.3, 10.0.0.2"}, trusted, "10.0.0.3"},
		{"no header from a proxy", "10.0.0.1:5555", nil, trusted, "10.0.0.1"},
		{"garbage: last trusted", "10.0.0.1:5555", []string{"198.51.100.4, unknown, 10.0.0.2"}, trusted, "10.0.0.2"},
		{"empty entry", "10.0.0.1:5555", []string{"198.51.100.4,"}, trusted, "10.0.0.1"},
		{"entries with ports", "10.0.0.1:5555", []string{"198.51.100.4:6000"}, trusted, "198.51.100.4"},
		{"IPv6 entries", "[fd00::1]:443", []string{"[2001:db8::5]:1234, fd00::2"}, trusted, "2001:db8::5"},
		{"IPv6 peer", "[2001:db8::1%eth0]:80", nil, trusted, "2001:db8::1"},
		{"IPv4-mapped peer", "[::ffff:10.0.0.1]:80", []string{"::ffff:198.51.100.4"}, trusted, "198.51.100.4"},
		{"no port", "192.0.2.7", nil, trusted, "192.0.2.7"},
		{"unix socket", "@", []string{"198.51.100.4"}, trusted, "@"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = c.remote
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := auth.ClientIP(r, c.trusted); got != c.want {
				t.Errorf("ClientIP = %q, want %q", got, c.want)
			}
		})
	}
	l, err := auth.NewRateLimiter(auth.RateLimitConfig{TrustedProxies: []string{"10.0.0.0/8"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.2.3.4:5555"
	r.Header.Set("X-Forwarded-For", "198.51.100.4")
	if got := l.ClientIP(r); got != "198.51.100.4" {
		t.Errorf("RateLimiter.ClientIP = %q, want 198.51.100.4", got)
	}
}

func ExampleRateLimiter() {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	limiter, err := auth.NewRateLimiter(auth.RateLimitConfig{
		PerIP:  auth.Rate{Events: 20, Period: time.Second, Burst: 40},
		Groups: []string{"login.ip=3/1m:3"},
	}, func() time.Time { return now })
	if err != nil {
		panic(err)
	}
	for range 4 {
		d := limiter.Allow("login", auth.LimitIP, "198.51.100.4")
		fmt.Println(d.Allowed, d.Remaining)
	}
	h := http.Header{}
	limiter.Allow("login", auth.LimitIP, "198.51.100.4").SetHeaders(h)
	for _, k := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"} {
		fmt.Printf("%s: %s\n", k, h.Get(k))
	}
	// Output:
	// true 2
	// true 1
	// true 0
	// false 0
	// RateLimit-Limit: 3
	// RateLimit-Remaining: 0
	// RateLimit-Reset: 60
	// Retry-After: 20
}

func benchmarkLimiter(b *testing.B) (*auth.RateLimiter, []string) {
	l, err := auth.NewRateLimiter(auth.RateLimitConfig{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ips := make([]string, 4096)
	for i := range ips {
		ips[i] = fmt.Sprintf("198.51.%d.%d", i/256, i%256)
	}
	return l, ips
}

func BenchmarkRateLimiterAllow(b *testing.B) {
	l, ips := benchmarkLimiter(b)
	i := 0
	for b.Loop() {
		l.Allow("projects", auth.LimitIP, ips[i%len(ips)])
		i++
	}
}

func BenchmarkRateLimiterAllowParallel(b *testing.B) {
	l, ips := benchmarkLimiter(b)
	var seq atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(1)) * 1000
		for pb.Next() {
			l.Allow("projects", auth.LimitIP, ips[i%len(ips)])
			i++
		}
	})
}

func BenchmarkRateLimiterAllowIPv6(b *testing.B) {
	l, _ := benchmarkLimiter(b)
	for b.Loop() {
		l.Allow("projects", auth.LimitIP, "2001:db8:1:2::7")
	}
}

// BenchmarkRateLimiterAllowNewKeys measures a flood of new keys at
// MaxKeys: every call creates a bucket and, now and then, evicts.
func BenchmarkRateLimiterAllowNewKeys(b *testing.B) {
	l, err := auth.NewRateLimiter(auth.RateLimitConfig{MaxKeys: 10000}, nil)
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
	}
	i := 0
	for b.Loop() {
		l.Allow("projects", auth.LimitPrincipal, keys[i%len(keys)])
		i++
	}
}
