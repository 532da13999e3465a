package app_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/examples/dashboard/app"
	"github.com/taylordash/taylordash/testkit"
)

// The first admin, created from the environment.
const (
	adminUser     = "root"
	adminPassword = "correct horse battery staple"
)

// authApp is a dashboard with an OIDC issuer and a bootstrap admin.
type authApp struct {
	*testkit.TestApp
	iss *testkit.OIDCIssuer
}

func authEnv(iss *testkit.OIDCIssuer, more map[string]string) map[string]string {
	env := map[string]string{
		"TAYLORDASH_API_KEY":                             apiKey,
		"TAYLORDASH_BOOTSTRAP_ADMIN_USER":                adminUser,
		"TAYLORDASH_BOOTSTRAP_ADMIN_PASSWORD":            adminPassword,
		"TAYLORDASH_AUTH_OIDC_ISSUER":                    iss.Issuer(),
		"TAYLORDASH_AUTH_OIDC_CLIENT_ID":                 iss.ClientID,
		"TAYLORDASH_AUTH_OIDC_AUDIENCE":                  iss.Audience,
		"TAYLORDASH_AUTH_OIDC_JWKS_MIN_REFRESH_INTERVAL": "200ms",
		// Cheap hashes: these tests log in often.
		"TAYLORDASH_AUTH_PASSWORD_ARGON2_MEMORY_KIB": "7168",
		"TAYLORDASH_AUTH_PASSWORD_ARGON2_TIME":       "1",
	}
	for k, v := range more {
		env[k] = v
	}
	return env
}

func startAuth(t *testing.T, opts ...fx.Option) *authApp {
	t.Helper()
	iss := testkit.OIDC(t)
	a := testkit.App(t, append([]fx.Option{app.Modules(), testkit.Env(authEnv(iss, nil))}, opts...)...)
	return &authApp{TestApp: a, iss: iss}
}

// do sends a request with optional credentials: a bearer token and/or an
// API key, and a JSON body.
func (a *authApp) do(t *testing.T, method, path, bearer, key string, body any) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
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

// must fails the test unless the response has status want.
func must(t *testing.T, want int, resp *http.Response, body []byte, what string) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s: status %d, want %d: %s", what, resp.StatusCode, want, body)
	}
}

// login logs in and returns the session token.
func (a *authApp) login(t *testing.T, user, password string) string {
	t.Helper()
	resp, body := a.do(t, http.MethodPost, "/api/v1/auth/login", "", "", map[string]any{"username": user, "password": password})
	must(t, http.StatusOK, resp, body, "login "+user)
	var out struct {
		SessionToken string `json:"session_token"`
		UserID       string `json:"user_id"`
		Role         string `json:"role"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.SessionToken == "" {
		t.Fatalf("login body %s: %v", body, err)
	}
	return out.SessionToken
}

// createUser makes a user as the admin and returns its id.
func (a *authApp) createUser(t *testing.T, admin, name, role, password string) string {
	t.Helper()
	resp, body := a.do(t, http.MethodPost, "/api/v1/auth/users", admin, "", map[string]any{"username": name, "password": password, "role": role})
	must(t, http.StatusCreated, resp, body, "create user "+name)
	var u struct{ ID string }
	if err := json.Unmarshal(body, &u); err != nil || u.ID == "" {
		t.Fatalf("user body %s: %v", body, err)
	}
	return u.ID
}

// auditCount counts audit rows of a type whose details match the filter
// (a JSON containment, such as {"reason":"expired"}).
func (a *authApp) auditCount(t *testing.T, typ, details string) int {
	t.Helper()
	var n int
	if err := a.DB.DB.QueryRow(context.Background(),
		`SELECT count(*) FROM auth_audit_log WHERE event_type = $1 AND details @> $2::jsonb`, typ, details).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestAuthAttackTable: each forged, stale or revoked credential is
// answered 401 and audited with its reason.
func TestAuthAttackTable(t *testing.T) {
	a := startAuth(t)
	iss := a.iss
	viewer := testkit.TokenClaims{RealmRoles: []string{"viewer"}}
	const probe = "/api/v1/events"

	// A valid token passes, so that each refusal below is the attack's.
	resp, body := a.do(t, http.MethodGet, probe, iss.Token(t, viewer), "", nil)
	must(t, http.StatusOK, resp, body, "valid token")

	admin := a.login(t, adminUser, adminPassword)

	valid := iss.Token(t, viewer)
	parts := strings.Split(valid, ".")
	claims := iss.Claims(viewer, time.Now())

	// alg=none: the same claims, unsigned.
	algNone := b64(map[string]any{"alg": "none", "typ": "JWT"}) + "." + b64(claims) + "."
	// HS256 signed with the issuer's public key as the HMAC secret.
	hsInput := b64(map[string]any{"alg": "HS256", "typ": "JWT", "kid": iss.KeyID()}) + "." + b64(claims)
	mac := hmac.New(sha256.New, iss.PublicKeyPEM())
	mac.Write([]byte(hsInput))
	hsConfused := hsInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	// Tampered: admin roles pasted over a viewer's signed payload.
	tamperedClaims := iss.Claims(testkit.TokenClaims{RealmRoles: []string{"admin"}}, time.Now())
	tampered := parts[0] + "." + b64(tamperedClaims) + "." + parts[2]

	// A revoked key and an expired key.
	resp, body = a.do(t, http.MethodPost, "/api/v1/auth/keys", admin, "", map[string]any{"name": "to revoke", "roles": []string{"viewer"}})
	must(t, http.StatusCreated, resp, body, "create key")
	var revoked struct{ ID, Key string }
	_ = json.Unmarshal(body, &revoked)
	resp, body = a.do(t, http.MethodGet, probe, "", revoked.Key, nil)
	must(t, http.StatusOK, resp, body, "fresh key")
	resp, body = a.do(t, http.MethodDelete, "/api/v1/auth/keys/"+revoked.ID, admin, "", nil)
	must(t, http.StatusOK, resp, body, "revoke key")
	resp, body = a.do(t, http.MethodPost, "/api/v1/auth/keys", admin, "", map[string]any{
		"name": "short-lived", "roles": []string{"viewer"}, "expires_at": time.Now().Add(1500 * time.Millisecond).Format(time.RFC3339Nano)})
	must(t, http.StatusCreated, resp, body, "create expiring key")
	var expiring struct{ Key string }
	_ = json.Unmarshal(body, &expiring)
	resp, body = a.do(t, http.MethodGet, probe, "", expiring.Key, nil)
	must(t, http.StatusOK, resp, body, "key before expiry")

	// Sessions: a deactivated user's, a logged-out one, a deleted user's.
	const pw = "a long enough passphrase 42"
	inactiveID := a.createUser(t, admin, "dora", "viewer", pw)
	inactive := a.login(t, "dora", pw)
	loggedOut := a.login(t, a.createUserName(t, admin, "lou", pw), pw)
	deletedID := a.createUser(t, admin, "del", "viewer", pw)
	deleted := a.login(t, "del", pw)
	// A user deactivated behind the API's back (its sessions not revoked):
	// the session check still reads the user's state.
	a.createUser(t, admin, "ivy", "viewer", pw)
	ivy := a.login(t, "ivy", pw)
	for _, tok := range []string{inactive, loggedOut, deleted, ivy} {
		resp, body := a.do(t, http.MethodGet, "/api/v1/auth/me", tok, "", nil)
		must(t, http.StatusOK, resp, body, "session before")
	}
	resp, body = a.do(t, http.MethodPut, "/api/v1/auth/users/"+inactiveID, admin, "", map[string]any{"is_active": false})
	must(t, http.StatusOK, resp, body, "deactivate")
	resp, body = a.do(t, http.MethodPost, "/api/v1/auth/logout", loggedOut, "", nil)
	must(t, http.StatusOK, resp, body, "logout")
	resp, body = a.do(t, http.MethodDelete, "/api/v1/auth/users/"+deletedID, admin, "", nil)
	must(t, http.StatusOK, resp, body, "delete user")
	if _, err := a.DB.DB.Exec(context.Background(), `UPDATE auth_users SET is_active = false WHERE username = 'ivy'`); err != nil {
		t.Fatal(err)
	}

	time.Sleep(time.Until(time.Now().Add(1600 * time.Millisecond))) // the short-lived key expires

	cases := []struct {
		name, bearer, key, reason string
	}{
		{"alg none", algNone, "", "alg_not_allowed"},
		{"HS256 with the public key", hsConfused, "", "alg_not_allowed"},
		{"expired", iss.Token(t, testkit.TokenClaims{RealmRoles: []string{"viewer"}, ExpiresAt: time.Now().Add(-time.Minute)}), "", "expired"},
		{"not yet valid", iss.Token(t, testkit.TokenClaims{RealmRoles: []string{"viewer"}, NotBefore: time.Now().Add(5 * time.Minute)}), "", "not_yet_valid"},
		{"wrong issuer", iss.Token(t, testkit.TokenClaims{RealmRoles: []string{"viewer"}, Issuer: "https://evil.example/realms/taylordash"}), "", "wrong_issuer"},
		{"wrong audience", iss.Token(t, testkit.TokenClaims{RealmRoles: []string{"viewer"}, Audience: []string{"someone-else"}}), "", "wrong_audience"},
		{"tampered payload", tampered, "", "bad_signature"},
		{"revoked key", "", revoked.Key, "revoked"},
		{"expired key", "", expiring.Key, "expired"},
		{"unknown key", "", "td_aaaaaaaaaaaa_nope", "unknown_key"},
		{"deactivated user's session", inactive, "", "session_revoked"},
		{"session of a user deactivated in the database", ivy, "", "user_inactive"},
		{"logged-out session", loggedOut, "", "session_revoked"},
		{"deleted user's session", deleted, "", "unknown_session"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := a.auditCount(t, "auth_failed", fmt.Sprintf(`{"reason":%q}`, c.reason))
			resp, body := a.do(t, http.MethodGet, probe, c.bearer, c.key, nil)
			must(t, http.StatusUnauthorized, resp, body, c.name)
			var p dashcore.Problem
			if err := json.Unmarshal(body, &p); err != nil || p.Detail != "the credentials are not valid" {
				t.Fatalf("body %s: %v", body, err)
			}
			if got := a.auditCount(t, "auth_failed", fmt.Sprintf(`{"reason":%q}`, c.reason)); got != before+1 {
				var all []string
				rows, _ := a.DB.DB.Query(context.Background(), `SELECT details::text FROM auth_audit_log WHERE event_type = 'auth_failed' ORDER BY id DESC LIMIT 3`)
				for rows.Next() {
					var s string
					_ = rows.Scan(&s)
					all = append(all, s)
				}
				rows.Close()
				t.Fatalf("audit rows with reason %s: %d, want %d; latest: %v", c.reason, got, before+1, all)
			}
		})
	}

	// Unknown kid after rotation: refused while the issuer does not list
	// the key; once it does, the key set is fetched again and the token
	// accepted.
	fresh := iss.TokenWithUnpublishedKey(t, viewer)
	resp, body = a.do(t, http.MethodGet, probe, fresh, "", nil)
	must(t, http.StatusUnauthorized, resp, body, "unpublished key")
	iss.Rotate(t)
	fetches := iss.JWKSFetches()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, body = a.do(t, http.MethodGet, probe, fresh, "", nil)
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("token of the rotated-in key still refused: %d %s", resp.StatusCode, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if iss.JWKSFetches() <= fetches {
		t.Fatalf("the key set was not fetched again (%d fetches)", iss.JWKSFetches())
	}
}

// createUserName makes a viewer and returns its name.
func (a *authApp) createUserName(t *testing.T, admin, name, pw string) string {
	t.Helper()
	a.createUser(t, admin, name, "viewer", pw)
	return name
}

// openAPIOperations returns every operation of the app's document.
func openAPIOperations(t *testing.T, a *authApp) map[string]map[string]any {
	t.Helper()
	resp, body := a.do(t, http.MethodGet, "/openapi.json", "", "", nil)
	must(t, http.StatusOK, resp, body, "openapi")
	var doc struct {
		Paths map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	ops := map[string]map[string]any{}
	for path, item := range doc.Paths {
		for method, op := range item {
			ops[strings.ToUpper(method)+" "+path] = op
		}
	}
	return ops
}

// TestRolesAndPermissions: a viewer can write nothing, an operator cannot
// manage users, an admin can; an operation that declares nothing is
// refused; the OpenAPI document lists each operation's permission.
func TestRolesAndPermissions(t *testing.T) {
	undeclared := fx.Provide(dashcore.AsRoutes(func() dashcore.Routes {
		return dashcore.Routes{Name: "zz-undeclared", Register: func(api huma.API) {
			huma.Register(api, huma.Operation{OperationID: "undeclared", Method: http.MethodGet, Path: "/api/v1/undeclared"},
				func(context.Context, *struct{}) (*struct{}, error) { return nil, nil })
		}}
	}))
	a := startAuth(t, undeclared)
	viewer := a.iss.Token(t, testkit.TokenClaims{Subject: "vera", RealmRoles: []string{"viewer"}})
	operator := a.iss.Token(t, testkit.TokenClaims{Subject: "otto", RealmRoles: []string{"operator"}})
	admin := a.login(t, adminUser, adminPassword)

	ops := openAPIOperations(t, a)
	var writes []string
	for key, op := range ops {
		perm, _ := op["x-permission"].(string)
		sec, hasSec := op["security"].([]any)
		switch {
		case perm != "":
			if !hasSec || len(sec) != 2 {
				t.Errorf("%s: x-permission %s but security %v", key, perm, op["security"])
			}
			if !strings.Contains(fmt.Sprint(op["description"]), perm) {
				t.Errorf("%s: the description does not name %s", key, perm)
			}
			if strings.HasSuffix(perm, ":write") {
				writes = append(writes, key)
			}
		case hasSec && len(sec) == 0:
			// public
		case key == "GET /api/v1/undeclared":
		default:
			t.Errorf("%s declares neither a permission nor public access: %v", key, op)
		}
	}
	slices.Sort(writes)
	if len(writes) < 10 {
		t.Fatalf("only %d write operations: %v", len(writes), writes)
	}

	// The viewer is refused every write, before any validation.
	for _, key := range writes {
		method, path, _ := strings.Cut(key, " ")
		path = strings.NewReplacer("{user_id}", "00000000-0000-0000-0000-000000000000", "{key_id}", "aaaaaaaaaaaa", "{id}", "1").Replace(path)
		resp, body := a.do(t, method, path, viewer, "", map[string]any{})
		must(t, http.StatusForbidden, resp, body, "viewer "+key)
	}
	if n := a.auditCount(t, "permission_denied", `{}`); n < len(writes) {
		t.Fatalf("%d permission_denied audit rows for %d refusals", n, len(writes))
	}
	resp, body := a.do(t, http.MethodGet, "/api/v1/events", viewer, "", nil)
	must(t, http.StatusOK, resp, body, "viewer reads events")

	// The operator writes events, reads dead letters and the audit log,
	// lists users (the directory, without emails), manages no users.
	resp, body = a.do(t, http.MethodPost, "/api/v1/events/test", operator, "", nil)
	must(t, http.StatusOK, resp, body, "operator writes events")
	resp, body = a.do(t, http.MethodGet, "/api/v1/dlq", operator, "", nil)
	must(t, http.StatusOK, resp, body, "operator reads the DLQ")
	resp, body = a.do(t, http.MethodGet, "/api/v1/auth/audit", operator, "", nil)
	must(t, http.StatusOK, resp, body, "operator reads the audit log")
	resp, body = a.do(t, http.MethodGet, "/api/v1/auth/users", operator, "", nil)
	must(t, http.StatusOK, resp, body, "operator lists users")
	for _, c := range []struct{ method, path string }{
		{http.MethodPost, "/api/v1/auth/users"}, {http.MethodGet, "/api/v1/auth/keys"},
		{http.MethodPost, "/api/v1/auth/keys"}, {http.MethodPost, "/api/v1/auth/policies"},
	} {
		resp, body := a.do(t, c.method, c.path, operator, "", map[string]any{"username": "x", "password": "y", "role": "viewer"})
		must(t, http.StatusForbidden, resp, body, "operator "+c.method+" "+c.path)
	}

	// The admin can.
	resp, body = a.do(t, http.MethodGet, "/api/v1/auth/users", admin, "", nil)
	must(t, http.StatusOK, resp, body, "admin lists users")
	a.createUser(t, admin, "newbie", "viewer", "a long enough passphrase 42")
	resp, body = a.do(t, http.MethodGet, "/api/v1/auth/audit?type=user_created", admin, "", nil)
	must(t, http.StatusOK, resp, body, "admin reads the audit log")
	if !strings.Contains(string(body), `"username":"newbie"`) {
		t.Fatalf("audit log lacks the new user: %s", body)
	}

	// Undeclared: refused to everyone, the admin included.
	for _, cred := range []string{"", admin} {
		resp, body := a.do(t, http.MethodGet, "/api/v1/undeclared", cred, "", nil)
		must(t, http.StatusForbidden, resp, body, "undeclared operation")
	}
	resp, body = a.do(t, http.MethodGet, "/api/v1/undeclared", "", apiKey, nil)
	must(t, http.StatusForbidden, resp, body, "undeclared operation, bootstrap key")

	// Rate-limit headers on a normal answer.
	resp, _ = a.do(t, http.MethodGet, "/api/v1/events", viewer, "", nil)
	if resp.Header.Get("RateLimit-Limit") == "" || resp.Header.Get("RateLimit-Remaining") == "" {
		t.Fatalf("no RateLimit headers: %v", resp.Header)
	}
}

// TestLoginFailures: a wrong password is answered exactly as an unknown
// user; the 6th failure in a minute is refused with 429 and one lockout
// audit event.
func TestLoginFailures(t *testing.T) {
	a := startAuth(t)
	admin := a.login(t, adminUser, adminPassword)
	a.createUser(t, admin, "carol", "viewer", "a long enough passphrase 42")

	bodyOf := func(user, pw string) (int, dashcore.Problem) {
		resp, body := a.do(t, http.MethodPost, "/api/v1/auth/login", "", "", map[string]any{"username": user, "password": pw})
		var p dashcore.Problem
		_ = json.Unmarshal(body, &p)
		p.RequestID = ""
		return resp.StatusCode, p
	}
	s1, wrong := bodyOf("carol", "not the password at all")
	s2, unknown := bodyOf("nobody-here", "not the password at all")
	if s1 != http.StatusUnauthorized || s2 != http.StatusUnauthorized || !reflect.DeepEqual(wrong, unknown) || wrong.Detail != "Invalid username or password" {
		t.Fatalf("wrong password %d %+v; unknown user %d %+v", s1, wrong, s2, unknown)
	}

	// Three more failures for carol make five in the minute; the sixth
	// attempt is refused before the password is checked, even with the
	// right password.
	for i := 0; i < 3; i++ {
		if s, _ := bodyOf("carol", "still not the password"); s != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+2, s)
		}
	}
	if s, _ := bodyOf("carol", "the fifth wrong password"); s != http.StatusUnauthorized {
		t.Fatalf("fifth failure: %d", s)
	}
	resp, body := a.do(t, http.MethodPost, "/api/v1/auth/login", "", "", map[string]any{"username": "carol", "password": "a long enough passphrase 42"})
	must(t, http.StatusTooManyRequests, resp, body, "sixth attempt")
	if resp.Header.Get("Retry-After") == "" {
		t.Fatalf("429 without Retry-After: %v", resp.Header)
	}
	if n := a.auditCount(t, "lockout", `{}`); n != 1 {
		t.Fatalf("%d lockout audit events, want 1", n)
	}
	if n := a.auditCount(t, "login_failed", `{"reason":"bad_password"}`); n != 5 {
		t.Fatalf("%d bad_password audit events, want 5", n)
	}
	// Another user is not locked.
	a.login(t, adminUser, adminPassword)
}

// TestAccountsRules: sessions end when the password or role changes; the
// last admin stays; a user who logged in can be deleted.
func TestAccountsRules(t *testing.T) {
	a := startAuth(t)
	admin := a.login(t, adminUser, adminPassword)
	const pw = "a long enough passphrase 42"
	id := a.createUser(t, admin, "pat", "viewer", pw)
	s1 := a.login(t, "pat", pw)
	resp, body := a.do(t, http.MethodPut, "/api/v1/auth/users/"+id, admin, "", map[string]any{"password": "another long passphrase 7"})
	must(t, http.StatusOK, resp, body, "change password")
	resp, body = a.do(t, http.MethodGet, "/api/v1/auth/me", s1, "", nil)
	must(t, http.StatusUnauthorized, resp, body, "session after password change")
	s2 := a.login(t, "pat", "another long passphrase 7")
	resp, body = a.do(t, http.MethodPut, "/api/v1/auth/users/"+id, admin, "", map[string]any{"role": "operator"})
	must(t, http.StatusOK, resp, body, "change role")
	resp, body = a.do(t, http.MethodGet, "/api/v1/auth/me", s2, "", nil)
	must(t, http.StatusUnauthorized, resp, body, "session after role change")

	// Weak passwords and unknown roles are refused, changing nothing.
	resp, body = a.do(t, http.MethodPost, "/api/v1/auth/users", admin, "", map[string]any{"username": "weak", "password": "admin123", "role": "viewer"})
	must(t, http.StatusUnprocessableEntity, resp, body, "weak password")
	resp, body = a.do(t, http.MethodPost, "/api/v1/auth/users", admin, "", map[string]any{"username": "odd", "password": pw, "role": "superuser"})
	must(t, http.StatusUnprocessableEntity, resp, body, "unknown role")
	resp, body = a.do(t, http.MethodPost, "/api/v1/auth/users", admin, "", map[string]any{"username": "PAT", "password": pw, "role": "viewer"})
	must(t, http.StatusConflict, resp, body, "username taken in another case")

	// The last admin can be neither demoted, deactivated nor deleted.
	var rootID string
	if err := a.DB.DB.QueryRow(context.Background(), `SELECT id::text FROM auth_users WHERE username = $1`, adminUser).Scan(&rootID); err != nil {
		t.Fatal(err)
	}
	for _, change := range []map[string]any{{"role": "viewer"}, {"is_active": false}} {
		resp, body := a.do(t, http.MethodPut, "/api/v1/auth/users/"+rootID, "", apiKey, change)
		must(t, http.StatusConflict, resp, body, fmt.Sprint("last admin ", change))
	}
	resp, body = a.do(t, http.MethodDelete, "/api/v1/auth/users/"+rootID, "", apiKey, nil)
	must(t, http.StatusConflict, resp, body, "delete last admin")
	resp, body = a.do(t, http.MethodDelete, "/api/v1/auth/users/"+rootID, admin, "", nil)
	must(t, http.StatusBadRequest, resp, body, "delete yourself")

	// A user with history (logins, audit rows, users it created) is
	// deleted; its history stays.
	resp, body = a.do(t, http.MethodPut, "/api/v1/auth/users/"+id, admin, "", map[string]any{"role": "admin"})
	must(t, http.StatusOK, resp, body, "promote")
	pat := a.login(t, "pat", "another long passphrase 7")
	a.createUser(t, pat, "pats-friend", "viewer", pw)
	resp, body = a.do(t, http.MethodDelete, "/api/v1/auth/users/"+id, admin, "", nil)
	must(t, http.StatusOK, resp, body, "delete a user with history")
	if !strings.Contains(string(body), "User pat deleted successfully") {
		t.Fatalf("delete body %s", body)
	}
	var history int
	if err := a.DB.DB.QueryRow(context.Background(), `SELECT count(*) FROM auth_audit_log WHERE user_id = $1::uuid`, id).Scan(&history); err != nil || history < 3 {
		t.Fatalf("history of the deleted user: %d rows, %v", history, err)
	}
	resp, body = a.do(t, http.MethodGet, "/api/v1/auth/users", admin, "", nil)
	if !strings.Contains(string(body), "pats-friend") {
		t.Fatalf("the deleted user's creations are gone: %s", body)
	}
	must(t, http.StatusOK, resp, body, "list")
}

// TestPolicyChangeReachesOtherInstance: a rule added through instance A's
// API is enforced by instance B, on the same database, within a second.
func TestPolicyChangeReachesOtherInstance(t *testing.T) {
	a := startAuth(t)
	env := authEnv(a.iss, map[string]string{
		"TAYLORDASH_DATABASE_URL":   a.DB.URL,
		"TAYLORDASH_MQTT_CLIENT_ID": "policy-instance-b-" + strings.ReplaceAll(a.Broker.Prefix, "/", "-"),
	})
	b := testkit.App(t, app.Modules(), testkit.Env(env))
	admin := a.login(t, adminUser, adminPassword)
	viewer := a.iss.Token(t, testkit.TokenClaims{RealmRoles: []string{"viewer"}})
	onB := func() int {
		req, _ := http.NewRequest(http.MethodPost, b.URL+"/api/v1/events/test", nil)
		req.Header.Set("Authorization", "Bearer "+viewer)
		resp, err := b.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := onB(); s != http.StatusForbidden {
		t.Fatalf("viewer writes events on B before the change: %d", s)
	}
	rule := map[string]any{"rules": []map[string]string{{"type": "p", "role": "viewer", "domain": "*", "resource": "events", "action": "write"}}}
	resp, body := a.do(t, http.MethodPost, "/api/v1/auth/policies", admin, "", rule)
	must(t, http.StatusCreated, resp, body, "add rule on A")
	changed := time.Now()
	for onB() != http.StatusOK {
		if time.Since(changed) > time.Second {
			t.Fatalf("B does not enforce the rule %v after A added it", time.Since(changed))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("B enforced the new rule %v after A's answer", time.Since(changed))
	resp, body = a.do(t, http.MethodPost, "/api/v1/auth/policies/remove", admin, "", rule)
	must(t, http.StatusOK, resp, body, "remove rule on A")
	changed = time.Now()
	for onB() != http.StatusForbidden {
		if time.Since(changed) > time.Second {
			t.Fatalf("B still allows %v after A removed the rule", time.Since(changed))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Adding it twice is a conflict; a bad rule changes nothing.
	resp, body = a.do(t, http.MethodPost, "/api/v1/auth/policies", admin, "", map[string]any{"rules": []map[string]string{{"type": "p", "role": "admin", "domain": "*", "resource": "*", "action": "*"}}})
	must(t, http.StatusConflict, resp, body, "duplicate rule")
	resp, body = a.do(t, http.MethodPost, "/api/v1/auth/policies", admin, "", map[string]any{"rules": []map[string]string{{"type": "p", "role": "viewer", "resource": "events"}}})
	must(t, http.StatusUnprocessableEntity, resp, body, "incomplete rule")
}

// TestRateLimitsAndScopedKeys: past its rate a principal gets 429 with
// Retry-After and RateLimit headers, audited; a key scoped to a
// permission can do only that, and its use is recorded.
func TestRateLimitsAndScopedKeys(t *testing.T) {
	iss := testkit.OIDC(t)
	a := &authApp{iss: iss, TestApp: testkit.App(t, app.Modules(), testkit.Env(authEnv(iss, map[string]string{
		"TAYLORDASH_AUTH_RATE_LIMIT_PER_PRINCIPAL":   "5/1m:5",
		"TAYLORDASH_AUTH_API_KEY_TOUCH_INTERVAL":     "100ms",
		"TAYLORDASH_AUTH_RATE_LIMIT_GROUPS":          "login.ip=10/1m:10,keys.principal=100/1s:100",
		"TAYLORDASH_AUTH_PASSWORD_ARGON2_MEMORY_KIB": "7168",
	})))}
	viewer := iss.Token(t, testkit.TokenClaims{Subject: "busy", RealmRoles: []string{"viewer"}})
	for i := 0; i < 5; i++ {
		resp, body := a.do(t, http.MethodGet, "/api/v1/events", viewer, "", nil)
		must(t, http.StatusOK, resp, body, fmt.Sprintf("request %d", i+1))
		if got := resp.Header.Get("RateLimit-Remaining"); got != fmt.Sprint(4-i) {
			t.Fatalf("request %d: RateLimit-Remaining %q", i+1, got)
		}
	}
	resp, body := a.do(t, http.MethodGet, "/api/v1/events", viewer, "", nil)
	must(t, http.StatusTooManyRequests, resp, body, "sixth request")
	if resp.Header.Get("Retry-After") == "" || resp.Header.Get("RateLimit-Limit") != "5" {
		t.Fatalf("429 headers: %v", resp.Header)
	}
	if n := a.auditCount(t, "rate_limited", `{}`); n != 1 {
		t.Fatalf("%d rate_limited audit events, want 1", n)
	}
	// Another principal has its own bucket.
	other := iss.Token(t, testkit.TokenClaims{Subject: "calm", RealmRoles: []string{"viewer"}})
	resp, body = a.do(t, http.MethodGet, "/api/v1/events", other, "", nil)
	must(t, http.StatusOK, resp, body, "another principal")

	// A key with the admin role but scoped to events:read.
	resp, body = a.do(t, http.MethodPost, "/api/v1/auth/keys", "", apiKey, map[string]any{
		"name": "reader", "roles": []string{"admin"}, "permissions": []string{"events:read"}})
	must(t, http.StatusCreated, resp, body, "create scoped key")
	var key struct {
		ID, Key     string
		Permissions []map[string]string
	}
	if err := json.Unmarshal(body, &key); err != nil || !strings.HasPrefix(key.Key, "td_"+key.ID+"_") {
		t.Fatalf("key body %s: %v", body, err)
	}
	resp, body = a.do(t, http.MethodGet, "/api/v1/events", "", key.Key, nil)
	must(t, http.StatusOK, resp, body, "scoped key reads events")
	for _, c := range []struct{ method, path string }{{http.MethodPost, "/api/v1/events/test"}, {http.MethodGet, "/api/v1/auth/users"}} {
		resp, body := a.do(t, c.method, c.path, "", key.Key, nil)
		must(t, http.StatusForbidden, resp, body, "scoped key "+c.path)
	}
	// The secret is stored as a hash only, and its use is recorded.
	var stored []byte
	if err := a.DB.DB.QueryRow(context.Background(), `SELECT secret_hash FROM auth_api_keys WHERE id = $1`, key.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(key.Key)); !bytes.Equal(stored, sum[:]) || bytes.Contains(stored, []byte(key.Key)) {
		t.Fatalf("stored hash %x is not the key's SHA-256", stored)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var used *time.Time
		if err := a.DB.DB.QueryRow(context.Background(), `SELECT last_used_at FROM auth_api_keys WHERE id = $1`, key.ID).Scan(&used); err != nil {
			t.Fatal(err)
		}
		if used != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("last_used_at was never recorded")
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, body = a.do(t, http.MethodGet, "/api/v1/auth/keys", "", apiKey, nil)
	must(t, http.StatusOK, resp, body, "list keys")
	if strings.Contains(string(body), key.Key) || !strings.Contains(string(body), key.ID) {
		t.Fatalf("the key list shows the secret or lacks the key: %s", body)
	}
}

// TestAuditEventsArePublished: a login's audit row is published on
// tracker/events/auth/login_success through the outbox, and comes back
// through the broker into the event mirror.
func TestAuditEventsArePublished(t *testing.T) {
	a := startAuth(t)
	a.login(t, adminUser, adminPassword)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := a.DB.DB.QueryRow(context.Background(),
			`SELECT count(*) FROM events_mirror WHERE topic = 'tracker/events/auth/login_success' AND kind = 'auth.login_success'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d login_success events in the mirror, want 1", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGrantsAreLimitedToWhatTheGranterHas: an operator given users:write
// and keys:write may create viewers and operators and keys with its own
// permissions, but not an admin, nor a key with more than it has.
func TestGrantsAreLimitedToWhatTheGranterHas(t *testing.T) {
	a := startAuth(t)
	admin := a.login(t, adminUser, adminPassword)
	resp, body := a.do(t, http.MethodPost, "/api/v1/auth/policies", admin, "", map[string]any{"rules": []map[string]string{
		{"type": "p", "role": "operator", "domain": "*", "resource": "users", "action": "write"},
		{"type": "p", "role": "operator", "domain": "*", "resource": "keys", "action": "write"}}})
	must(t, http.StatusCreated, resp, body, "let operators manage users and keys")
	operator := a.iss.Token(t, testkit.TokenClaims{Subject: "opal", RealmRoles: []string{"operator"}})
	const pw = "a long enough passphrase 42"

	for _, role := range []string{"viewer", "operator"} {
		resp, body := a.do(t, http.MethodPost, "/api/v1/auth/users", operator, "", map[string]any{"username": "u-" + role, "password": pw, "role": role})
		must(t, http.StatusCreated, resp, body, "operator creates a "+role)
	}
	resp, body = a.do(t, http.MethodPost, "/api/v1/auth/users", operator, "", map[string]any{"username": "boss", "password": pw, "role": "admin"})
	must(t, http.StatusForbidden, resp, body, "operator creates an admin")
	resp, body = a.do(t, http.MethodPost, "/api/v1/auth/keys", operator, "", map[string]any{"name": "mine", "roles": []string{"operator"}, "permissions": []string{"events:write"}})
	must(t, http.StatusCreated, resp, body, "operator makes a key with its own rights")
	for _, k := range []map[string]any{
		{"name": "admin key", "roles": []string{"admin"}},
		{"name": "policy key", "permissions": []string{"policies:write"}},
		{"name": "everything", "permissions": []string{"*:*"}},
	} {
		resp, body := a.do(t, http.MethodPost, "/api/v1/auth/keys", operator, "", k)
		must(t, http.StatusForbidden, resp, body, fmt.Sprint("operator makes ", k["name"]))
	}
	var n int
	if err := a.DB.DB.QueryRow(context.Background(), `SELECT count(*) FROM auth_users WHERE username = 'boss'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the refused admin exists: %d %v", n, err)
	}
}
