package authpg_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/auth/authpg"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/testkit"
)

// benchBootstrapKey is the bootstrap API key of the benchmarks' guard.
const benchBootstrapKey = "bench-bootstrap-key-0123456789abcdef"

// benchPassword is the password of the benchmarks' users.
const benchPassword = "lantern-orchard-quartz-41"

// overheadBench is the production guard's parts on a real database and a
// real OIDC issuer: the Casbin authorizer on the seeded policy, the API
// key authenticator on authpg's store (with a bootstrap key), the session
// authenticator on authpg's sessions, the audit log, and a rate limiter
// whose limits are too high to refuse anything.
type overheadBench struct {
	db       *testkit.Database
	iss      *testkit.OIDCIssuer
	authz    *auth.Authorizer
	keys     *auth.APIKeyAuthenticator
	sessions *auth.SessionAuthenticator
	audit    *authpg.AuditLog
	limiter  *auth.RateLimiter
}

func setupOverhead(tb testing.TB) *overheadBench {
	tb.Helper()
	db := testkit.Postgres(tb, authpg.Migrations)
	authz, err := auth.NewAuthorizer(authpg.NewCasbinAdapter(db.DB), auth.AuthorizerConfig{SubjectPrefix: "sub:"})
	if err != nil {
		tb.Fatal(err)
	}
	keys := auth.NewAPIKeyAuthenticator(authpg.NewAPIKeys(db.DB), auth.APIKeyConfig{BootstrapKey: benchBootstrapKey}, nil)
	if err := keys.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := keys.Stop(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	unlimited := auth.Rate{Events: 1e9, Period: time.Second, Burst: 1e9}
	limiter, err := auth.NewRateLimiter(auth.RateLimitConfig{PerIP: unlimited, PerPrincipal: unlimited}.WithDefaults(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &overheadBench{
		db:       db,
		iss:      testkit.OIDC(tb),
		authz:    authz,
		keys:     keys,
		sessions: auth.NewSessionAuthenticator(authpg.NewSessions(db.DB)),
		audit:    authpg.NewAuditLog(db.DB, nil, nil),
		limiter:  limiter,
	}
}

// jwt returns a started JWT authenticator for the issuer, with a verified
// token cache of cacheSize (0 for the default), stopped when tb ends.
func (o *overheadBench) jwt(tb testing.TB, cacheSize int) *auth.JWTAuthenticator {
	tb.Helper()
	a, err := auth.NewJWTAuthenticator(auth.OIDCConfig{Issuer: o.iss.Issuer(), ClientID: o.iss.ClientID,
		Audience: []string{o.iss.Audience}, VerifiedCacheSize: cacheSize}, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := a.Stop(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return a
}

// guard returns the guard the auth module builds: API keys, then JWTs,
// then sessions; limiter may be nil.
func (o *overheadBench) guard(tb testing.TB, jwt *auth.JWTAuthenticator, limiter *auth.RateLimiter) *auth.Guard {
	tb.Helper()
	g, err := auth.NewGuard(auth.GuardOptions{
		Authenticators: []auth.Authenticator{o.keys, jwt, o.sessions},
		Authorizer:     o.authz,
		Limiter:        limiter,
		Auditor:        o.audit,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// benchPath is the path of the benchmarks' operation.
const benchPath = "/api/v1/projects"

// overheadHandler returns the whole dashcore handler with one operation,
// GET /api/v1/projects requiring projects:read, whose handler does
// nothing; behind g, or behind no auth middleware when g is nil.
func overheadHandler(tb testing.TB, g *auth.Guard) http.Handler {
	tb.Helper()
	var mws []dashcore.Middleware
	if g != nil {
		mws = append(mws, g.Middleware())
	}
	h, _, err := dashcore.NewHandler(dashcore.HandlerOptions{
		Routes: []dashcore.Routes{{Name: "bench", Register: func(api huma.API) {
			huma.Register(api, auth.Require(huma.Operation{
				OperationID: "list-projects", Method: http.MethodGet, Path: benchPath, DefaultStatus: http.StatusOK,
			}, "projects", "read"), func(context.Context, *struct{}) (*struct{}, error) { return nil, nil })
		}}},
		Middleware: mws,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// benchRequest returns GET /api/v1/projects with one header set.
func benchRequest(header, value string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, benchPath, nil)
	if header != "" {
		r.Header.Set(header, value)
	}
	return r
}

// serveOK serves r and fails unless the answer is 200.
func serveOK(b *testing.B, h http.Handler, r *http.Request) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		b.Fatalf("%s: status %d, want 200: %s", r.Header, rec.Code, rec.Body)
	}
}

// measure serves requests[i % len] through h once each iteration, after
// one request of each to warm the caches, and returns the time per
// request in ns. Every answer must be 200.
func measure(b *testing.B, h http.Handler, requests []*http.Request) float64 {
	for _, r := range requests {
		serveOK(b, h, r)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		serveOK(b, h, requests[i%len(requests)])
		i++
	}
	return float64(b.Elapsed().Nanoseconds()) / float64(b.N)
}

// BenchmarkAuthOverhead measures what authentication and authorization add
// to a request, through the whole dashcore handler (security headers,
// request id, access log, recovery, routing) and a huma operation that
// does nothing, driven with httptest (no network). baseline is the same
// handler without the guard; every other sub-benchmark goes through the
// guard of the production configuration (authenticators, Casbin
// authorizer on PostgreSQL, audit log, rate limiter) with one kind of
// credential, and reports overhead-ns/op, its time less baseline's in the
// same run.
//
//   - api_key: a stored key (role viewer), from the authenticator's cache
//     (5s TTL; a run longer than that reads the store once per 5s).
//   - bootstrap_key: the bootstrap key (role admin), never stored.
//   - jwt_warm: the same RS256 access token every request (verified once,
//     then from the verified-token cache).
//   - jwt_cold: a new token every request (a pool of 64 through a cache of
//     16): full verification of each.
//   - session: a local session token; read from PostgreSQL every request,
//     so that a revocation holds at once.
//   - api_key_no_ratelimit, jwt_warm_no_ratelimit: as api_key and
//     jwt_warm without the rate limiter, to show its share.
func BenchmarkAuthOverhead(b *testing.B) {
	o := setupOverhead(b)
	ctx := context.Background()

	_, apiKey, err := authpg.NewAPIKeys(o.db.DB).Create(ctx, o.db.DB, authpg.NewKey{Name: "bench", Roles: []string{"viewer"}})
	if err != nil {
		b.Fatal(err)
	}
	accounts, err := authpg.NewAccounts(o.db.DB, authpg.AccountsOptions{
		Hasher: auth.NewPasswordHasher(auth.PasswordConfig{}.WithDefaults()), Auditor: o.audit})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := accounts.CreateUser(ctx, authpg.Client{}, authpg.NewUser{Username: "bench-viewer", Password: benchPassword, Role: "viewer"}); err != nil {
		b.Fatal(err)
	}
	login, err := accounts.Login(ctx, authpg.Client{IP: "192.0.2.1"}, authpg.LoginRequest{Username: "bench-viewer", Password: benchPassword})
	if err != nil {
		b.Fatal(err)
	}

	// Keycloak-shaped access tokens: default realm roles and viewer.
	claims := func(sub string) testkit.TokenClaims {
		return testkit.TokenClaims{Subject: sub, Username: sub, ExpiresIn: time.Hour,
			RealmRoles: []string{"default-roles-taylordash", "offline_access", "uma_authorization", "viewer"}}
	}
	const pool, coldCache = 64, 16
	coldRequests := make([]*http.Request, pool)
	for i := range coldRequests {
		coldRequests[i] = benchRequest("Authorization", "Bearer "+o.iss.Token(b, claims(fmt.Sprintf("user-%d", i))))
	}
	warmRequest := benchRequest("Authorization", "Bearer "+o.iss.Token(b, claims("alice")))
	keyRequest := benchRequest(auth.APIKeyHeader, apiKey)

	jwt := o.jwt(b, 0)
	guarded := overheadHandler(b, o.guard(b, jwt, o.limiter))
	unlimited := overheadHandler(b, o.guard(b, jwt, nil))
	cold := overheadHandler(b, o.guard(b, o.jwt(b, coldCache), o.limiter))

	var baseline float64
	paths := []struct {
		name     string
		handler  http.Handler
		requests []*http.Request
	}{
		{"baseline", overheadHandler(b, nil), []*http.Request{benchRequest("", "")}},
		{"api_key", guarded, []*http.Request{keyRequest}},
		{"api_key_no_ratelimit", unlimited, []*http.Request{keyRequest}},
		{"bootstrap_key", guarded, []*http.Request{benchRequest(auth.APIKeyHeader, benchBootstrapKey)}},
		{"jwt_warm", guarded, []*http.Request{warmRequest}},
		{"jwt_warm_no_ratelimit", unlimited, []*http.Request{warmRequest}},
		{"jwt_cold", cold, coldRequests},
		{"session", guarded, []*http.Request{benchRequest("Authorization", "Bearer "+login.SessionToken)}},
	}
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) {
			ns := measure(b, p.handler, p.requests)
			switch {
			case p.name == "baseline":
				baseline = ns
			case baseline > 0:
				b.ReportMetric(ns-baseline, "overhead-ns/op")
			}
		})
	}
}

// BenchmarkLoginTiming measures authpg.Accounts.Login (real PostgreSQL,
// the default Argon2id hasher, the audit log, no lockout) for each
// outcome: every failure costs one user lookup, one password check (of a
// dummy hash for an unknown user) and one audit row, so that its timing
// does not tell whether the username exists; a success also opens a
// session. interleaved runs the four in turn and reports each one's
// median (<outcome>-p50-ms).
func BenchmarkLoginTiming(b *testing.B) {
	db := testkit.Postgres(b, authpg.Migrations)
	ctx := context.Background()
	accounts, err := authpg.NewAccounts(db.DB, authpg.AccountsOptions{
		Hasher:  auth.NewPasswordHasher(auth.PasswordConfig{}.WithDefaults()),
		Auditor: authpg.NewAuditLog(db.DB, nil, nil),
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"alice", "bob"} {
		if _, err := accounts.CreateUser(ctx, authpg.Client{}, authpg.NewUser{Username: name, Password: benchPassword, Role: "viewer"}); err != nil {
			b.Fatal(err)
		}
	}
	users, err := accounts.Users(ctx)
	if err != nil {
		b.Fatal(err)
	}
	inactive := false
	for _, u := range users {
		if u.Username == "bob" {
			if _, err := accounts.UpdateUser(ctx, authpg.Client{}, u.ID, authpg.UserUpdate{IsActive: &inactive}); err != nil {
				b.Fatal(err)
			}
		}
	}
	// The wrong password has the length of the right one.
	wrong := "lantern-orchard-quartz-42"
	cases := []loginCase{
		{"unknown_user", "nobody", benchPassword, false},
		{"wrong_password", "alice", wrong, false},
		{"inactive_user", "bob", benchPassword, false},
		{"success", "alice", benchPassword, true},
	}
	client := authpg.Client{IP: "192.0.2.1", UserAgent: "bench"}
	login := func(b *testing.B, c loginCase) {
		_, err := accounts.Login(ctx, client, authpg.LoginRequest{Username: c.username, Password: c.password})
		switch {
		case c.ok && err != nil:
			b.Fatalf("login of %s: %v", c.username, err)
		case !c.ok && !errors.Is(err, authpg.ErrInvalidCredentials):
			b.Fatalf("login of %s: %v, want ErrInvalidCredentials", c.username, err)
		}
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				login(b, c)
			}
		})
	}
	// The outcomes in turn, in a new random order every round, each login
	// timed: the machine's noise falls on all of them alike, which it does
	// not across the runs above, and none always follows the same one.
	b.Run("interleaved", func(b *testing.B) {
		times := make([][]time.Duration, len(cases))
		order := make([]int, len(cases))
		for n := range order {
			order[n] = n
		}
		i := 0
		for b.Loop() {
			if i%len(cases) == 0 {
				rand.Shuffle(len(order), func(x, y int) { order[x], order[y] = order[y], order[x] })
			}
			n := order[i%len(cases)]
			start := time.Now()
			login(b, cases[n])
			times[n] = append(times[n], time.Since(start))
			i++
		}
		for n, c := range cases {
			if len(times[n]) > 0 {
				slices.Sort(times[n])
				b.ReportMetric(float64(times[n][len(times[n])/2])/1e6, c.name+"-p50-ms")
			}
		}
	})
}

// loginCase is one outcome of BenchmarkLoginTiming.
type loginCase struct {
	name, username, password string
	ok                       bool
}
