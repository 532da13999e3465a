package authpg_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/auth/authpg"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/testkit"
)

// The admin of the session tests.
const (
	rootUser     = "root"
	rootPassword = "correct horse battery staple"
)

// sessionSetup configures setupSessions.
type sessionSetup struct {
	// tls serves over TLS (httptest.NewTLSServer).
	tls bool
	// sessions configures the sessions (defaults otherwise).
	sessions authpg.SessionConfig
	// origins are allowed besides the API's own.
	origins []string
}

// sessionBundle is the auth API on a real database, behind the guard the
// auth module builds (API keys, session tokens, then the session cookie),
// served over HTTP.
type sessionBundle struct {
	db       *testkit.Database
	accounts *authpg.Accounts
	srv      *httptest.Server
	client   *http.Client
	reader   *sdkmetric.ManualReader
}

func setupSessions(t *testing.T, s sessionSetup) *sessionBundle {
	t.Helper()
	ctx := context.Background()
	db := testkit.Postgres(t, authpg.Migrations)
	authz, err := auth.NewAuthorizer(authpg.NewCasbinAdapter(db.DB), auth.AuthorizerConfig{SubjectPrefix: "sub:"})
	if err != nil {
		t.Fatal(err)
	}
	audit := authpg.NewAuditLog(db.DB, nil, nil)
	accounts, err := authpg.NewAccounts(db.DB, authpg.AccountsOptions{Sessions: s.sessions,
		Hasher: auth.NewPasswordHasher(cheapHashes), Auditor: audit, Roles: authz.GrantableRoles})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.EnsureAdmin(ctx, rootUser, rootPassword); err != nil {
		t.Fatal(err)
	}
	keys := authpg.NewAPIKeys(db.DB)
	keyAuth := auth.NewAPIKeyAuthenticator(keys, auth.APIKeyConfig{}, nil)
	if err := keyAuth.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = keyAuth.Stop(context.Background()) })
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	origins := auth.NewOriginPolicy(s.origins)
	guard, err := auth.NewGuard(auth.GuardOptions{
		Authenticators: []auth.Authenticator{keyAuth, auth.NewSessionAuthenticator(accounts.Sessions()),
			auth.NewCookieAuthenticator(accounts.Sessions(), origins)},
		Authorizer: authz, Auditor: audit, MeterProvider: mp,
	})
	if err != nil {
		t.Fatal(err)
	}
	rt := &authpg.Routes{Accounts: accounts, Keys: keys, KeyAuth: keyAuth, Authorizer: authz, Audit: audit, Origins: origins}
	h, _, err := dashcore.NewHandler(dashcore.HandlerOptions{Routes: []dashcore.Routes{rt.Contribution()},
		Middleware: []dashcore.Middleware{guard.Middleware()}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	if s.tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	client := srv.Client()
	client.Timeout = 30 * time.Second
	return &sessionBundle{db: db, accounts: accounts, srv: srv, client: client, reader: reader}
}

// call is one request: a JSON body (or a raw one with its content type),
// and credentials.
type call struct {
	method, path string
	json         any
	raw          string
	contentType  string
	bearer       string
	cookies      []*http.Cookie
	csrf         string
	origin       string
}

// do sends c and returns the response with its body read.
func (b *sessionBundle) do(t *testing.T, c call) (*http.Response, []byte) {
	t.Helper()
	var body io.Reader
	ct := c.contentType
	switch {
	case c.json != nil:
		j, err := json.Marshal(c.json)
		if err != nil {
			t.Fatal(err)
		}
		body, ct = bytes.NewReader(j), "application/json"
	case c.raw != "":
		body = strings.NewReader(c.raw)
	}
	req, err := http.NewRequest(c.method, b.srv.URL+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	for _, ck := range c.cookies {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	if c.csrf != "" {
		req.Header.Set(auth.CSRFHeader, c.csrf)
	}
	if c.origin != "" {
		req.Header.Set("Origin", c.origin)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, out
}

// expect fails the test unless status is want.
func expect(t *testing.T, want, status int, body []byte, what string) {
	t.Helper()
	if status != want {
		t.Fatalf("%s: status %d, want %d: %s", what, status, want, body)
	}
}

// tokens is a login or refresh response.
type tokens struct {
	UserID           string    `json:"user_id"`
	SessionToken     string    `json:"session_token"`
	ExpiresAt        time.Time `json:"expires_at"`
	RefreshToken     string    `json:"refresh_token"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
	CSRFToken        string    `json:"csrf_token"`
}

func decode(t *testing.T, body []byte) tokens {
	t.Helper()
	var tk tokens
	if err := json.Unmarshal(body, &tk); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	return tk
}

// login logs in with the JSON body (bearer tokens).
func (b *sessionBundle) login(t *testing.T, user, password string, rememberMe bool) tokens {
	t.Helper()
	resp, body := b.do(t, call{method: http.MethodPost, path: "/api/v1/auth/login",
		json: map[string]any{"username": user, "password": password, "remember_me": rememberMe}})
	expect(t, http.StatusOK, resp.StatusCode, body, "login "+user)
	tk := decode(t, body)
	if !strings.HasPrefix(tk.SessionToken, "tds_") || !strings.HasPrefix(tk.RefreshToken, "tdr_") || tk.CSRFToken != "" {
		t.Fatalf("login body %s", body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || len(resp.Cookies()) != 0 {
		t.Fatalf("login headers %v", resp.Header)
	}
	return tk
}

// refresh exchanges a refresh token (in the body) and returns the status
// and the new tokens.
func (b *sessionBundle) refresh(t *testing.T, token string) (int, tokens, []byte) {
	t.Helper()
	resp, body := b.do(t, call{method: http.MethodPost, path: "/api/v1/auth/refresh", json: map[string]string{"refresh_token": token}})
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, tokens{}, body
	}
	return resp.StatusCode, decode(t, body), body
}

// me returns the status of GET /api/v1/auth/me with a bearer token.
func (b *sessionBundle) me(t *testing.T, bearer string) int {
	t.Helper()
	resp, _ := b.do(t, call{method: http.MethodGet, path: "/api/v1/auth/me", bearer: bearer})
	return resp.StatusCode
}

// audits counts the audit rows of a type whose details contain filter.
func (b *sessionBundle) audits(t *testing.T, typ, filter string) int {
	t.Helper()
	var n int
	if err := b.db.DB.QueryRow(context.Background(),
		`SELECT count(*) FROM auth_audit_log WHERE event_type = $1 AND details @> $2::jsonb`, typ, filter).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// genericRefusal checks a refused refresh's problem: the one message for
// every cause.
func genericRefusal(t *testing.T, body []byte) {
	t.Helper()
	var p dashcore.Problem
	if err := json.Unmarshal(body, &p); err != nil || p.Detail != "the refresh token is not valid; log in again" {
		t.Fatalf("refusal body %s: %v", body, err)
	}
}

// TestRefreshRotationAndReuse: a refresh token is exchanged once; the
// second exchange of the same token is taken as theft: 401, and every
// session of the login (the one the first exchange made included) is
// revoked, both events audited.
func TestRefreshRotationAndReuse(t *testing.T) {
	b := setupSessions(t, sessionSetup{})
	login := b.login(t, rootUser, rootPassword, false)

	status, first, body := b.refresh(t, login.RefreshToken)
	expect(t, http.StatusOK, status, body, "first refresh")
	if first.SessionToken == login.SessionToken || first.RefreshToken == login.RefreshToken || first.UserID != login.UserID {
		t.Fatalf("first refresh %s did not hand out new tokens", body)
	}
	if !first.RefreshExpiresAt.Equal(login.RefreshExpiresAt) {
		t.Fatalf("refresh moved the login's end from %s to %s", login.RefreshExpiresAt, first.RefreshExpiresAt)
	}
	if s := b.me(t, first.SessionToken); s != http.StatusOK {
		t.Fatalf("the refreshed session: %d", s)
	}
	// The login's own session ended with the exchange.
	if s := b.me(t, login.SessionToken); s != http.StatusUnauthorized {
		t.Fatalf("the login's session after the refresh: %d", s)
	}

	status, _, body = b.refresh(t, login.RefreshToken)
	expect(t, http.StatusUnauthorized, status, body, "second refresh with the same token")
	genericRefusal(t, body)
	if s := b.me(t, first.SessionToken); s != http.StatusUnauthorized {
		t.Fatalf("the session of the first refresh after the reuse: %d, want 401", s)
	}
	// The family is gone: the newest refresh token too.
	status, _, body = b.refresh(t, first.RefreshToken)
	expect(t, http.StatusUnauthorized, status, body, "the newest refresh token after the reuse")

	var family string
	if err := b.db.DB.QueryRow(context.Background(), `SELECT family_id::text FROM auth_sessions WHERE id = (
		SELECT session_id FROM auth_refresh_tokens ORDER BY created_at DESC LIMIT 1)`).Scan(&family); err != nil {
		t.Fatal(err)
	}
	if n := b.audits(t, auth.AuditSessionRefreshed, fmt.Sprintf(`{"family_id":%q}`, family)); n != 1 {
		t.Fatalf("%d session_refreshed rows, want 1", n)
	}
	if n := b.audits(t, auth.AuditRefreshTokenReused, fmt.Sprintf(`{"family_id":%q,"sessions_revoked":1}`, family)); n != 1 {
		t.Fatalf("%d refresh_token_reused rows for the family with one session revoked, want 1", n)
	}
	if n := b.audits(t, auth.AuditRefreshFailed, `{"reason":"revoked"}`); n != 1 {
		t.Fatalf("%d refresh_failed rows of reason revoked, want 1", n)
	}
	var outcome, user string
	if err := b.db.DB.QueryRow(context.Background(), `SELECT outcome, username FROM auth_audit_log WHERE event_type = $1`,
		auth.AuditRefreshTokenReused).Scan(&outcome, &user); err != nil || outcome != "failure" || user != rootUser {
		t.Fatalf("reuse audit row: %s %s %v", outcome, user, err)
	}
	var reasons []string
	rows, err := b.db.DB.Query(context.Background(), `SELECT DISTINCT revoke_reason FROM auth_sessions ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			t.Fatal(err)
		}
		reasons = append(reasons, r)
	}
	rows.Close()
	if strings.Join(reasons, ",") != "refresh_token_reused,refreshed" {
		t.Fatalf("sessions revoked for %v", reasons)
	}

	// Another login is another family, untouched.
	other := b.login(t, rootUser, rootPassword, false)
	if s := b.me(t, other.SessionToken); s != http.StatusOK {
		t.Fatalf("a new login after the reuse: %d", s)
	}
}

// TestRefreshConcurrent: of several refreshes with one token at the same
// time, exactly one succeeds; the others are a reuse, which ends the
// winner's session too.
func TestRefreshConcurrent(t *testing.T) {
	b := setupSessions(t, sessionSetup{})
	login := b.login(t, rootUser, rootPassword, false)
	const n = 8
	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		statuses = make([]int, n)
		won      = make([]tokens, n)
	)
	errs := make([]error, n)
	payload, _ := json.Marshal(map[string]string{"refresh_token": login.RefreshToken})
	for i := range n {
		wg.Go(func() {
			<-start
			resp, err := b.client.Post(b.srv.URL+"/api/v1/auth/refresh", "application/json", bytes.NewReader(payload))
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			statuses[i] = resp.StatusCode
			errs[i] = json.NewDecoder(resp.Body).Decode(&won[i])
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
	}
	ok := 0
	var winner tokens
	for i, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
			winner = won[i]
		case http.StatusUnauthorized:
		default:
			t.Fatalf("refresh %d: status %d", i, s)
		}
	}
	if ok != 1 {
		t.Fatalf("%d refreshes succeeded, want exactly 1 (%v)", ok, statuses)
	}
	if got := b.audits(t, auth.AuditRefreshTokenReused, `{}`); got != n-1 {
		t.Fatalf("%d reuse rows, want %d", got, n-1)
	}
	if s := b.me(t, winner.SessionToken); s != http.StatusUnauthorized {
		t.Fatalf("the winner's session after the reuses: %d, want 401", s)
	}
	var live int
	if err := b.db.DB.QueryRow(context.Background(), `SELECT count(*) FROM auth_sessions WHERE revoked_at IS NULL`).Scan(&live); err != nil || live != 0 {
		t.Fatalf("%d sessions live, want 0 (%v)", live, err)
	}
}

// TestRefreshEnds: a refresh token stops working at logout, at a password
// change and at a deactivation; past its end; it is stored as its hash
// only; ended families are cleaned up.
func TestRefreshEnds(t *testing.T) {
	b := setupSessions(t, sessionSetup{})
	ctx := context.Background()
	const pw = "a long enough passphrase 42"
	u, err := b.accounts.CreateUser(ctx, authpg.Client{}, authpg.NewUser{Username: "pat", Password: pw, Role: "viewer"})
	if err != nil {
		t.Fatal(err)
	}
	refused := func(token, what, reason string) {
		t.Helper()
		before := b.audits(t, auth.AuditRefreshFailed, fmt.Sprintf(`{"reason":%q}`, reason))
		status, _, body := b.refresh(t, token)
		expect(t, http.StatusUnauthorized, status, body, what)
		genericRefusal(t, body)
		if got := b.audits(t, auth.AuditRefreshFailed, fmt.Sprintf(`{"reason":%q}`, reason)); got != before+1 {
			t.Fatalf("%s: %d refresh_failed rows of reason %s, want %d", what, got, reason, before+1)
		}
	}

	// Logout.
	tk := b.login(t, "pat", pw, false)
	resp, body := b.do(t, call{method: http.MethodPost, path: "/api/v1/auth/logout", bearer: tk.SessionToken})
	expect(t, http.StatusOK, resp.StatusCode, body, "logout")
	refused(tk.RefreshToken, "refresh after logout", "revoked")

	// Logout of a refreshed session ends the family too.
	tk = b.login(t, "pat", pw, false)
	_, tk2, _ := b.refresh(t, tk.RefreshToken)
	resp, body = b.do(t, call{method: http.MethodPost, path: "/api/v1/auth/logout", bearer: tk2.SessionToken})
	expect(t, http.StatusOK, resp.StatusCode, body, "logout of a refreshed session")
	refused(tk2.RefreshToken, "refresh after the refreshed session's logout", "revoked")

	// Password change.
	tk = b.login(t, "pat", pw, false)
	if _, err := b.accounts.UpdateUser(ctx, authpg.Client{}, u.ID, authpg.UserUpdate{Password: ptr("another long passphrase 7")}); err != nil {
		t.Fatal(err)
	}
	refused(tk.RefreshToken, "refresh after a password change", "revoked")

	// Deactivation (through the API, which revokes), and behind the
	// API's back (the user's state is read at each refresh).
	tk = b.login(t, "pat", "another long passphrase 7", false)
	if _, err := b.db.DB.Exec(ctx, `UPDATE auth_users SET is_active = false WHERE id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	refused(tk.RefreshToken, "refresh of a user deactivated in the database", "user_inactive")
	if _, err := b.db.DB.Exec(ctx, `UPDATE auth_users SET is_active = true WHERE id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	tk = b.login(t, "pat", "another long passphrase 7", false)
	if _, err := b.accounts.UpdateUser(ctx, authpg.Client{}, u.ID, authpg.UserUpdate{IsActive: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	refused(tk.RefreshToken, "refresh after deactivation", "revoked")
	if _, err := b.accounts.UpdateUser(ctx, authpg.Client{}, u.ID, authpg.UserUpdate{IsActive: ptr(true)}); err != nil {
		t.Fatal(err)
	}

	// Past the login's end.
	tk = b.login(t, "pat", "another long passphrase 7", false)
	if _, err := b.db.DB.Exec(ctx, `UPDATE auth_refresh_families SET expires_at = now() - interval '1 second'
		WHERE id = (SELECT family_id FROM auth_sessions WHERE token_hash = $1)`, sum(tk.SessionToken)); err != nil {
		t.Fatal(err)
	}
	refused(tk.RefreshToken, "expired refresh token", "expired")

	// Unknown and malformed tokens.
	refused("tdr_"+strings.Repeat("A", 43), "unknown refresh token", "unknown_token")
	refused(tk.SessionToken, "a session token as a refresh token", "unknown_token")
	resp, body = b.do(t, call{method: http.MethodPost, path: "/api/v1/auth/refresh"})
	expect(t, http.StatusUnprocessableEntity, resp.StatusCode, body, "refresh without a token")

	// A refreshed session never outlives its login's refresh tokens.
	tk = b.login(t, "pat", "another long passphrase 7", true)
	if d := time.Until(tk.RefreshExpiresAt); d < 29*24*time.Hour || d > 30*24*time.Hour+time.Minute {
		t.Fatalf("remember_me refresh tokens end in %s, want 30 days", d)
	}
	var end time.Time
	if err := b.db.DB.QueryRow(ctx, `UPDATE auth_refresh_families SET expires_at = now() + interval '90 seconds'
		WHERE id = (SELECT family_id FROM auth_sessions WHERE token_hash = $1) RETURNING expires_at`, sum(tk.SessionToken)).Scan(&end); err != nil {
		t.Fatal(err)
	}
	status, capped, body := b.refresh(t, tk.RefreshToken)
	expect(t, http.StatusOK, status, body, "refresh near the login's end")
	if capped.ExpiresAt.After(end) || !capped.RefreshExpiresAt.Equal(end) {
		t.Fatalf("session until %s, refresh until %s; the login ends at %s", capped.ExpiresAt, capped.RefreshExpiresAt, end)
	}

	// Stored as hashes only: no token appears in any table, each hash is
	// its token's SHA-256.
	var n int
	if err := b.db.DB.QueryRow(ctx, `SELECT count(*) FROM auth_refresh_tokens WHERE token_hash = $1`, sum(capped.RefreshToken)).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the refresh token's SHA-256 is stored %d times (%v)", n, err)
	}
	for _, table := range []string{"auth_refresh_tokens", "auth_refresh_families", "auth_sessions", "auth_audit_log"} {
		var dump string
		if err := b.db.DB.QueryRow(ctx, `SELECT coalesce(string_agg(t::text, ' '), '') FROM `+table+` t`).Scan(&dump); err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{capped.RefreshToken, capped.SessionToken, tk.RefreshToken, tk.SessionToken} {
			if strings.Contains(dump, secret[4:]) || strings.Contains(dump, fmt.Sprintf("%x", secret[4:])) {
				t.Fatalf("%s holds a token in plain text", table)
			}
		}
	}

	// Cleanup deletes families that ended more than a day ago, with
	// their tokens; live ones stay.
	if _, err := b.db.DB.Exec(ctx, `UPDATE auth_refresh_families SET revoked_at = now() - interval '2 days'
		WHERE revoked_at IS NOT NULL OR expires_at <= now()`); err != nil {
		t.Fatal(err)
	}
	var before, live int
	if err := b.db.DB.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE revoked_at IS NULL AND expires_at > now()) FROM auth_refresh_families`).
		Scan(&before, &live); err != nil {
		t.Fatal(err)
	}
	if _, err := b.accounts.CleanupSessions(ctx); err != nil {
		t.Fatal(err)
	}
	var after, orphans int
	if err := b.db.DB.QueryRow(ctx, `SELECT (SELECT count(*) FROM auth_refresh_families),
		(SELECT count(*) FROM auth_refresh_tokens t WHERE NOT EXISTS (SELECT 1 FROM auth_refresh_families f WHERE f.id = t.family_id))`).
		Scan(&after, &orphans); err != nil {
		t.Fatal(err)
	}
	if after != live || after >= before || orphans != 0 {
		t.Fatalf("families: %d before cleanup, %d live, %d after, %d orphan tokens", before, live, after, orphans)
	}
}

func ptr[T any](v T) *T { return &v }

// sum is the SHA-256 of a token, as stored.
func sum(token string) []byte {
	s := sha256.Sum256([]byte(token))
	return s[:]
}

// cookieLogin logs in as a browser from origin and returns the cookies
// and the CSRF token.
func (b *sessionBundle) cookieLogin(t *testing.T, origin string) (map[string]*http.Cookie, string) {
	t.Helper()
	resp, body := b.do(t, call{method: http.MethodPost, path: "/api/v1/auth/login", origin: origin,
		json: map[string]any{"username": rootUser, "password": rootPassword, "cookie": true}})
	expect(t, http.StatusOK, resp.StatusCode, body, "cookie login")
	tk := decode(t, body)
	if tk.SessionToken != "" || tk.RefreshToken != "" || !strings.HasPrefix(tk.CSRFToken, "tdc_") {
		t.Fatalf("a cookie login's body holds tokens or no CSRF token: %s", body)
	}
	cookies := map[string]*http.Cookie{}
	for _, c := range resp.Cookies() {
		cookies[c.Name] = c
	}
	if cookies[auth.CSRFCookie] == nil || cookies[auth.CSRFCookie].Value != tk.CSRFToken {
		t.Fatalf("the CSRF cookie %v is not the body's token", cookies[auth.CSRFCookie])
	}
	return cookies, tk.CSRFToken
}

// checkCookies checks the attributes of a browser login's cookies.
func checkCookies(t *testing.T, cookies map[string]*http.Cookie, secure bool) {
	t.Helper()
	for _, want := range []struct {
		name, path string
		httpOnly   bool
		maxAge     time.Duration
	}{
		{auth.SessionCookie, "/", true, 24 * time.Hour},
		{auth.RefreshCookie, auth.RefreshCookiePath, true, 7 * 24 * time.Hour},
		{auth.CSRFCookie, "/", false, 7 * 24 * time.Hour},
	} {
		c := cookies[want.name]
		switch {
		case c == nil:
			t.Fatalf("no %s cookie", want.name)
		case c.HttpOnly != want.httpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure != secure || c.Path != want.path:
			t.Fatalf("%s: HttpOnly %v SameSite %v Secure %v Path %q; want HttpOnly %v, Strict, Secure %v, Path %q",
				want.name, c.HttpOnly, c.SameSite, c.Secure, c.Path, want.httpOnly, secure, want.path)
		case c.MaxAge < int((want.maxAge-time.Minute).Seconds()) || c.MaxAge > int(want.maxAge.Seconds()):
			t.Fatalf("%s: Max-Age %d, want about %s", want.name, c.MaxAge, want.maxAge)
		}
	}
}

// TestCookieSessionsAndCSRF: over TLS, a browser login sets HttpOnly,
// SameSite=Strict, Secure cookies. A cross-site form POST with the session
// cookie is refused (403, nothing changed); the same request from the
// page (allowed Origin, CSRF token) works, and so does one with a bearer
// token and no CSRF token; GETs need no CSRF token; a bearer token wins
// over the cookie. The refresh and logout work with cookies.
func TestCookieSessionsAndCSRF(t *testing.T) {
	const trusted = "https://app.example.com"
	b := setupSessions(t, sessionSetup{tls: true, origins: []string{trusted}})
	ctx := context.Background()
	self := b.srv.URL
	cookies, csrf := b.cookieLogin(t, self)
	checkCookies(t, cookies, true)
	session := []*http.Cookie{cookies[auth.SessionCookie]}
	keys := func() int {
		var n int
		if err := b.db.DB.QueryRow(ctx, `SELECT count(*) FROM auth_api_keys`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// A GET with the cookie alone works.
	resp, body := b.do(t, call{method: http.MethodGet, path: "/api/v1/auth/me", cookies: session})
	expect(t, http.StatusOK, resp.StatusCode, body, "GET with the cookie")
	if !strings.Contains(string(body), `"auth_method":"cookie"`) || !strings.Contains(string(body), `"username":"root"`) {
		t.Fatalf("me with the cookie: %s", body)
	}

	// Cross-site requests with the cookie: refused before the handler,
	// with nothing of why in the body, and nothing created.
	form := "name=evil&roles=admin"
	for _, c := range []struct {
		name, origin, csrf, reason string
	}{
		{"cross-site form post", "https://evil.example", "", "origin_not_allowed"},
		{"cross-site with a CSRF token", "https://evil.example", csrf, "origin_not_allowed"},
		{"no Origin", "", csrf, "origin_missing"},
		{"plain http origin to a TLS API", "http" + strings.TrimPrefix(self, "https"), csrf, "origin_not_allowed"},
		{"same origin, no CSRF token", self, "", "csrf_token_missing"},
		{"same origin, wrong CSRF token", self, "tdc_" + strings.Repeat("x", 43), "csrf_token_invalid"},
	} {
		resp, body := b.do(t, call{method: http.MethodPost, path: "/api/v1/auth/keys", raw: form,
			contentType: "application/x-www-form-urlencoded", cookies: session, origin: c.origin, csrf: c.csrf})
		expect(t, http.StatusForbidden, resp.StatusCode, body, c.name)
		var p dashcore.Problem
		if err := json.Unmarshal(body, &p); err != nil || p.Detail != auth.CSRFProblem || p.Status != http.StatusForbidden ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
			t.Fatalf("%s: body %s (%v)", c.name, body, err)
		}
		for _, leak := range []string{c.reason, "evil.example", csrf, "127.0.0.1"} {
			if leak != "" && strings.Contains(string(body), leak) {
				t.Fatalf("%s: the problem tells %q: %s", c.name, leak, body)
			}
		}
		if n := b.audits(t, auth.AuditCSRFRefused, fmt.Sprintf(`{"reason":%q}`, c.reason)); n < 1 {
			t.Fatalf("%s: no csrf_refused audit row of reason %s", c.name, c.reason)
		}
	}
	if n := keys(); n != 0 {
		t.Fatalf("%d keys exist after the refused requests", n)
	}

	// From the page: same origin or a trusted one, with the CSRF token.
	for i, origin := range []string{self, trusted} {
		resp, body = b.do(t, call{method: http.MethodPost, path: "/api/v1/auth/keys", cookies: session, origin: origin, csrf: csrf,
			json: map[string]any{"name": fmt.Sprint("from the page ", i), "roles": []string{"viewer"}}})
		expect(t, http.StatusCreated, resp.StatusCode, body, "POST from "+origin+" with the CSRF token")
	}
	// With a bearer token, no CSRF token, no Origin: works.
	bearer := b.login(t, rootUser, rootPassword, false)
	resp, body = b.do(t, call{method: http.MethodPost, path: "/api/v1/auth/keys", bearer: bearer.SessionToken,
		json: map[string]any{"name": "with a bearer token", "roles": []string{"viewer"}}})
	expect(t, http.StatusCreated, resp.StatusCode, body, "POST with a bearer token")
	if n := keys(); n != 3 {
		t.Fatalf("%d keys, want 3", n)
	}

	// A bearer token wins over the cookie: a viewer's token with the
	// admin's cookie is the viewer, refused the admin's write without a
	// CSRF check; a bad bearer token is not rescued by the cookie.
	if _, err := b.accounts.CreateUser(ctx, authpg.Client{}, authpg.NewUser{Username: "vera", Password: "a long enough passphrase 42", Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	vera := b.login(t, "vera", "a long enough passphrase 42", false)
	resp, body = b.do(t, call{method: http.MethodGet, path: "/api/v1/auth/me", cookies: session, bearer: vera.SessionToken})
	expect(t, http.StatusOK, resp.StatusCode, body, "me with a cookie and a bearer token")
	if !strings.Contains(string(body), `"username":"vera"`) || !strings.Contains(string(body), `"auth_method":"session"`) {
		t.Fatalf("the cookie won over the bearer token: %s", body)
	}
	resp, body = b.do(t, call{method: http.MethodPost, path: "/api/v1/auth/keys", cookies: session, bearer: vera.SessionToken,
		origin: "https://evil.example", json: map[string]any{"name": "x", "roles": []string{"viewer"}}})
	expect(t, http.StatusForbidden, resp.StatusCode, body, "viewer's bearer token with the admin's cookie")
	if strings.Contains(string(body), auth.CSRFProblem) {
		t.Fatalf("a bearer request was CSRF-checked: %s", body)
	}
	resp, body = b.do(t, call{method: http.MethodGet, path: "/api/v1/auth/me", cookies: session, bearer: "tds_" + strings.Repeat("A", 43)})
	expect(t, http.StatusUnauthorized, resp.StatusCode, body, "bad bearer token with a good cookie")

	// A bearer session token in the cookie is refused: only cookie
	// logins' sessions are cookie sessions.
	resp, body = b.do(t, call{method: http.MethodGet, path: "/api/v1/auth/me",
		cookies: []*http.Cookie{{Name: auth.SessionCookie, Value: bearer.SessionToken}}})
	expect(t, http.StatusUnauthorized, resp.StatusCode, body, "a bearer login's session in the cookie")

	// The refresh with the cookie: needs the CSRF token and an allowed
	// Origin; sets new cookies; the old session ends.
	refreshCookie := []*http.Cookie{cookies[auth.RefreshCookie]}
	resp, body = b.do(t, call{method: http.MethodPost, path: "/api/v1/auth/refresh", cookies: refreshCookie, origin: self})
	expect(t, http.StatusForbidden, resp.StatusCode, body, "cookie refresh without the CSRF token")
	resp, body = b.do(t, call{method: http.MethodPost, path: "/api/v1/auth/refresh", cookies: refreshCookie,
		origin: "https://evil.example", csrf: csrf})
	expect(t, http.StatusForbidden, resp.StatusCode, body, "cookie refresh from another site")
	resp, body = b.do(t, call{method: http.MethodPost, path: "/api/v1/auth/refresh",
		json: map[string]string{"refresh_token": cookies[auth.RefreshCookie].Value}})
	expect(t, http.StatusUnauthorized, resp.StatusCode, body, "a cookie login's refresh token in the body")
	resp, body = b.do(t, call{method: http.MethodPost, path: "/api/v1/auth/refresh", cookies: refreshCookie, origin: self, csrf: csrf})
	expect(t, http.StatusOK, resp.StatusCode, body, "cookie refresh")
	if tk := decode(t, body); tk.SessionToken != "" || tk.RefreshToken != "" || tk.CSRFToken != csrf {
		t.Fatalf("cookie refresh body %s", body)
	}
	renewed := map[string]*http.Cookie{}
	for _, c := range resp.Cookies() {
		renewed[c.Name] = c
	}
	checkCookies(t, renewed, true)
	if renewed[auth.SessionCookie].Value == cookies[auth.SessionCookie].Value {
		t.Fatal("the cookie refresh kept the session token")
	}
	resp, body = b.do(t, call{method: http.MethodGet, path: "/api/v1/auth/me", cookies: session})
	expect(t, http.StatusUnauthorized, resp.StatusCode, body, "the old cookie session after the refresh")
	session = []*http.Cookie{renewed[auth.SessionCookie]}

	// Logout with the cookie: CSRF-checked like any write; deletes the
	// cookies and ends the login.
	resp, body = b.do(t, call{method: http.MethodPost, path: "/api/v1/auth/logout", cookies: session, origin: "https://evil.example"})
	expect(t, http.StatusForbidden, resp.StatusCode, body, "cross-site logout")
	resp, body = b.do(t, call{method: http.MethodPost, path: "/api/v1/auth/logout", cookies: session, origin: self, csrf: csrf})
	expect(t, http.StatusOK, resp.StatusCode, body, "logout with the cookie")
	cleared := 0
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 && c.Value == "" {
			cleared++
		}
	}
	if cleared != 3 {
		t.Fatalf("logout deleted %d cookies, want 3: %v", cleared, resp.Header.Values("Set-Cookie"))
	}
	resp, body = b.do(t, call{method: http.MethodGet, path: "/api/v1/auth/me", cookies: session})
	expect(t, http.StatusUnauthorized, resp.StatusCode, body, "the cookie after logout")
	resp, body = b.do(t, call{method: http.MethodPost, path: "/api/v1/auth/refresh", cookies: []*http.Cookie{renewed[auth.RefreshCookie]},
		origin: self, csrf: csrf})
	expect(t, http.StatusUnauthorized, resp.StatusCode, body, "the refresh cookie after logout")
	if n := len(resp.Cookies()); n != 3 {
		t.Fatalf("a refused cookie refresh deleted %d cookies, want 3", n)
	}

	// A cookie login needs an allowed Origin.
	for _, origin := range []string{"", "https://evil.example"} {
		resp, body := b.do(t, call{method: http.MethodPost, path: "/api/v1/auth/login", origin: origin,
			json: map[string]any{"username": rootUser, "password": rootPassword, "cookie": true}})
		expect(t, http.StatusForbidden, resp.StatusCode, body, "cookie login from "+origin)
		if len(resp.Cookies()) != 0 {
			t.Fatalf("a refused cookie login set cookies")
		}
	}
	// An expired session cookie does not block a login (public
	// operations ignore the cookie).
	resp, body = b.do(t, call{method: http.MethodPost, path: "/api/v1/auth/login", cookies: session,
		json: map[string]any{"username": rootUser, "password": rootPassword}})
	expect(t, http.StatusOK, resp.StatusCode, body, "login with a dead session cookie")

	// The guard counted the refusals, by reason.
	var rm metricdata.ResourceMetrics
	if err := b.reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range s.DataPoints {
					for _, kv := range dp.Attributes.ToSlice() {
						got[m.Name+" "+string(kv.Key)+"="+kv.Value.AsString()] += dp.Value
					}
				}
			}
		}
	}
	for key, want := range map[string]int64{
		auth.MetricDecisions + " decision=csrf_refused":    7, // six refusals and the cross-site logout
		auth.MetricFailures + " reason=origin_not_allowed": 4,
		auth.MetricFailures + " reason=origin_missing":     1,
		auth.MetricFailures + " reason=csrf_token_missing": 1,
		auth.MetricFailures + " reason=csrf_token_invalid": 1,
	} {
		if got[key] != want {
			t.Errorf("%s = %d, want %d", key, got[key], want)
		}
	}
}

// TestCookiesOverPlainHTTP: without TLS the cookies are not Secure,
// unless the configuration says a proxy terminates TLS in front.
func TestCookiesOverPlainHTTP(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(fmt.Sprint("CookieSecure=", secure), func(t *testing.T) {
			b := setupSessions(t, sessionSetup{sessions: authpg.SessionConfig{CookieSecure: secure}})
			cookies, csrf := b.cookieLogin(t, b.srv.URL)
			checkCookies(t, cookies, secure)
			resp, body := b.do(t, call{method: http.MethodPost, path: "/api/v1/auth/logout",
				cookies: []*http.Cookie{cookies[auth.SessionCookie]}, origin: b.srv.URL, csrf: csrf})
			expect(t, http.StatusOK, resp.StatusCode, body, "logout")
			for _, c := range resp.Cookies() {
				if c.Secure != secure {
					t.Fatalf("logout's %s: Secure %v", c.Name, c.Secure)
				}
			}
		})
	}
}
