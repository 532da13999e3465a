package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/taylordash/taylordash/dashcore"
)

// refreshResult is the body of a login or a refresh.
type refreshResult struct {
	SessionToken string `json:"session_token"`
	RefreshToken string `json:"refresh_token"`
	CSRFToken    string `json:"csrf_token"`
}

// TestRefreshTokenReuse: two refreshes with the same refresh token: the
// first answers new tokens, the second 401; the session the first made is
// then revoked (401 on /me), as is the login's own; the audit log has a
// session_refreshed and a refresh_token_reused event.
func TestRefreshTokenReuse(t *testing.T) {
	a := startAuth(t)
	resp, body := a.do(t, http.MethodPost, "/api/v1/auth/login", "", "", map[string]any{"username": adminUser, "password": adminPassword})
	must(t, http.StatusOK, resp, body, "login")
	var login refreshResult
	if err := json.Unmarshal(body, &login); err != nil || login.RefreshToken == "" {
		t.Fatalf("login body %s: %v", body, err)
	}
	for _, field := range []string{"user_id", "username", "role", "session_token", "expires_at", "single_view_mode", "default_view"} {
		if !strings.Contains(string(body), `"`+field+`":`) {
			t.Fatalf("the login response lost the original's %s: %s", field, body)
		}
	}

	resp, body = a.do(t, http.MethodPost, "/api/v1/auth/refresh", "", "", map[string]string{"refresh_token": login.RefreshToken})
	must(t, http.StatusOK, resp, body, "first refresh")
	var first refreshResult
	if err := json.Unmarshal(body, &first); err != nil || first.SessionToken == "" || first.RefreshToken == "" ||
		first.SessionToken == login.SessionToken || first.RefreshToken == login.RefreshToken {
		t.Fatalf("first refresh body %s: %v", body, err)
	}
	resp, body = a.do(t, http.MethodGet, "/api/v1/auth/me", first.SessionToken, "", nil)
	must(t, http.StatusOK, resp, body, "the first refresh's session")

	resp, body = a.do(t, http.MethodPost, "/api/v1/auth/refresh", "", "", map[string]string{"refresh_token": login.RefreshToken})
	must(t, http.StatusUnauthorized, resp, body, "second refresh with the same token")
	var p dashcore.Problem
	if err := json.Unmarshal(body, &p); err != nil || p.Detail != "the refresh token is not valid; log in again" {
		t.Fatalf("refusal %s: %v", body, err)
	}
	resp, body = a.do(t, http.MethodGet, "/api/v1/auth/me", first.SessionToken, "", nil)
	must(t, http.StatusUnauthorized, resp, body, "the first refresh's session after the reuse")
	resp, body = a.do(t, http.MethodGet, "/api/v1/auth/me", login.SessionToken, "", nil)
	must(t, http.StatusUnauthorized, resp, body, "the login's session after the refresh")

	for _, typ := range []string{"session_refreshed", "refresh_token_reused"} {
		resp, body := a.do(t, http.MethodGet, "/api/v1/auth/audit?type="+typ, "", apiKey, nil)
		must(t, http.StatusOK, resp, body, "audit "+typ)
		var rows []struct {
			Type, Outcome, Username string
			Details                 map[string]any
		}
		if err := json.Unmarshal(body, &rows); err != nil || len(rows) != 1 {
			t.Fatalf("audit %s: %s (%v)", typ, body, err)
		}
		if rows[0].Username != adminUser || rows[0].Details["family_id"] == nil ||
			(typ == "refresh_token_reused") != (rows[0].Outcome == "failure") {
			t.Fatalf("audit %s: %+v", typ, rows[0])
		}
	}
}

// TestCrossSiteFormPost: a browser logged in with a cookie; a form on
// another site posts to POST /api/v1/projects, the browser attaching the
// session cookie: 403 problem+json with nothing internal, no project
// created. The same request with a bearer token works; so does the page's
// own request (its Origin and the CSRF token).
func TestCrossSiteFormPost(t *testing.T) {
	a := startAuth(t)
	send := func(method, path, contentType, payload string, headers map[string]string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, a.URL+path, strings.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := a.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	projects := func() int {
		var n int
		if err := a.DB.DB.QueryRow(context.Background(), `SELECT count(*) FROM projects`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	resp, body := send(http.MethodPost, "/api/v1/auth/login", "application/json",
		`{"username": "`+adminUser+`", "password": "`+adminPassword+`", "cookie": true}`, map[string]string{"Origin": a.URL})
	must(t, http.StatusOK, resp, body, "cookie login")
	var login refreshResult
	if err := json.Unmarshal(body, &login); err != nil || login.CSRFToken == "" || login.SessionToken != "" {
		t.Fatalf("cookie login body %s: %v", body, err)
	}
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == "taylordash_session" {
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
				t.Fatalf("session cookie %s", c)
			}
			cookie = c.Name + "=" + c.Value
		}
	}
	if cookie == "" {
		t.Fatalf("no session cookie: %v", resp.Header.Values("Set-Cookie"))
	}

	before := projects()
	resp, body = send(http.MethodPost, "/api/v1/projects", "application/x-www-form-urlencoded", "name=pwned&status=active",
		map[string]string{"Origin": "https://evil.example", "Cookie": cookie})
	must(t, http.StatusForbidden, resp, body, "cross-site form post with the session cookie")
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	var p dashcore.Problem
	if err := json.Unmarshal(body, &p); err != nil || p.Status != http.StatusForbidden || !strings.HasPrefix(p.Detail, "cross-site request refused") {
		t.Fatalf("problem %s: %v", body, err)
	}
	for _, internal := range []string{"origin_not_allowed", "evil.example", "SQL", "goroutine", login.CSRFToken, "taylordash_session="} {
		if strings.Contains(string(body), internal) {
			t.Fatalf("the problem holds %q: %s", internal, body)
		}
	}
	if n := projects(); n != before {
		t.Fatalf("%d projects after the refused post, want %d", n, before)
	}
	// The same with the cookie and a JSON body but no CSRF token, from the
	// API's own origin: refused too.
	resp, body = send(http.MethodPost, "/api/v1/projects", "application/json", `{"name": "no token"}`,
		map[string]string{"Origin": a.URL, "Cookie": cookie})
	must(t, http.StatusForbidden, resp, body, "same origin without the CSRF token")

	// The same request with a bearer token, no cookie, no CSRF token:
	// works, whatever its Origin (a bearer token is never ambient).
	bearer := a.login(t, adminUser, adminPassword)
	resp, body = send(http.MethodPost, "/api/v1/projects", "application/json", `{"name": "with a bearer token"}`,
		map[string]string{"Authorization": "Bearer " + bearer, "Origin": "https://evil.example"})
	must(t, http.StatusCreated, resp, body, "the same request with a bearer token")
	// The page's own request: its origin, the cookie, the CSRF token.
	resp, body = send(http.MethodPost, "/api/v1/projects", "application/json", `{"name": "from the page"}`,
		map[string]string{"Origin": a.URL, "Cookie": cookie, "X-CSRF-Token": login.CSRFToken})
	must(t, http.StatusCreated, resp, body, "the page's request")
	// A read needs no CSRF token.
	resp, body = send(http.MethodGet, "/api/v1/projects", "", "", map[string]string{"Cookie": cookie})
	must(t, http.StatusOK, resp, body, "GET with the cookie")
	if n := projects(); n != before+2 {
		t.Fatalf("%d projects, want %d", n, before+2)
	}
	if n := a.auditCount(t, "csrf_refused", `{"reason":"origin_not_allowed"}`); n != 1 {
		t.Fatalf("%d csrf_refused audit rows of origin_not_allowed, want 1", n)
	}
}
