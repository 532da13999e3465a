package authpg_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/auth/authpg"
	"github.com/taylordash/taylordash/testkit"
)

// BenchmarkRefresh measures Accounts.Refresh on a real database: each
// iteration exchanges the refresh token the previous one returned (one
// transaction: find the token, lock the user and the family, rotate,
// revoke the old session, create a session and a token), and writes its
// audit row.
func BenchmarkRefresh(b *testing.B) {
	ctx := context.Background()
	db := testkit.Postgres(b, authpg.Migrations)
	accounts, err := authpg.NewAccounts(db.DB, authpg.AccountsOptions{Hasher: auth.NewPasswordHasher(cheapHashes),
		Auditor: authpg.NewAuditLog(db.DB, nil, nil)})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := accounts.EnsureAdmin(ctx, rootUser, rootPassword); err != nil {
		b.Fatal(err)
	}
	res, err := accounts.Login(ctx, authpg.Client{IP: "192.0.2.1"}, authpg.LoginRequest{Username: rootUser, Password: rootPassword})
	if err != nil {
		b.Fatal(err)
	}
	token := res.RefreshToken
	b.ReportAllocs()
	for b.Loop() {
		res, err := accounts.Refresh(ctx, authpg.Client{IP: "192.0.2.1"}, authpg.RefreshRequest{RefreshToken: token})
		if err != nil {
			b.Fatal(err)
		}
		token = res.RefreshToken
	}
}

// BenchmarkCookieAuthentication compares, through the whole dashcore
// handler and the guard (API keys, session tokens, the session cookie; no
// rate limiter), GET /api/v1/projects authenticated by a session token as
// a bearer token and by the session cookie of a browser login: each is
// one session lookup in PostgreSQL (the cookie's joins the login's
// family, for its CSRF hash).
func BenchmarkCookieAuthentication(b *testing.B) {
	ctx := context.Background()
	o := setupOverhead(b)
	accounts, err := authpg.NewAccounts(o.db.DB, authpg.AccountsOptions{Hasher: auth.NewPasswordHasher(cheapHashes)})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := accounts.EnsureAdmin(ctx, rootUser, rootPassword); err != nil {
		b.Fatal(err)
	}
	login := func(cookie bool) *authpg.LoginResult {
		res, err := accounts.Login(ctx, authpg.Client{}, authpg.LoginRequest{Username: rootUser, Password: rootPassword, Cookie: cookie})
		if err != nil {
			b.Fatal(err)
		}
		return res
	}
	bearer, browser := login(false), login(true)
	g, err := auth.NewGuard(auth.GuardOptions{
		Authenticators: []auth.Authenticator{o.keys, auth.NewSessionAuthenticator(accounts.Sessions()),
			auth.NewCookieAuthenticator(accounts.Sessions(), nil)},
		Authorizer: o.authz,
	})
	if err != nil {
		b.Fatal(err)
	}
	h := overheadHandler(b, g)
	withCookie := httptest.NewRequest(http.MethodGet, benchPath, nil)
	withCookie.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: browser.SessionToken})
	b.Run("bearer", func(b *testing.B) {
		measure(b, h, []*http.Request{benchRequest("Authorization", "Bearer "+bearer.SessionToken)})
	})
	b.Run("cookie", func(b *testing.B) { measure(b, h, []*http.Request{withCookie}) })
}
