package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// apiKey is the bootstrap key, an admin by default.
const apiKey = "authapi-test-key-0123456789"

func TestWiring(t *testing.T) {
	if err := fx.ValidateApp(modules(), fx.Invoke(func(*dashcore.Server, *auth.Authorizer) {})); err != nil {
		t.Fatal(err)
	}
}

// TestRolesDecide: no credential is 401, a viewer reads and may not
// write (403), an editor writes and may not delete, the admin key
// deletes; the document shows each operation's permission.
func TestRolesDecide(t *testing.T) {
	iss := testkit.OIDC(t)
	app := testkit.App(t, modules(), testkit.Env(map[string]string{
		"TAYLORDASH_AUTH_OIDC_ISSUER":    iss.Issuer(),
		"TAYLORDASH_AUTH_OIDC_CLIENT_ID": iss.ClientID,
		"TAYLORDASH_AUTH_OIDC_AUDIENCE":  iss.Audience,
		"TAYLORDASH_API_KEY":             apiKey,
	}))
	viewer := "Bearer " + iss.Token(t, testkit.TokenClaims{Subject: "u-grace", Username: "grace", RealmRoles: []string{"viewer"}})
	editor := "Bearer " + iss.Token(t, testkit.TokenClaims{Subject: "u-ada", Username: "ada", RealmRoles: []string{"editor"}})

	call := func(method, path, credential, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, app.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(credential, "Bearer "):
			req.Header.Set("Authorization", credential)
		case credential != "":
			req.Header.Set("X-API-Key", credential)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := app.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		name, method, path, credential, body string
		want                                 int
	}{
		{"no credential", "GET", "/api/v1/notes", "", "", http.StatusUnauthorized},
		{"a forged token", "GET", "/api/v1/notes", "Bearer " + iss.TokenWithUnpublishedKey(t, testkit.TokenClaims{RealmRoles: []string{"admin"}}), "", http.StatusUnauthorized},
		{"a wrong key", "GET", "/api/v1/notes", "not-the-key-0123456789", "", http.StatusUnauthorized},
		{"viewer writes", "POST", "/api/v1/notes", viewer, `{"text":"hi"}`, http.StatusForbidden},
		{"editor writes", "POST", "/api/v1/notes", editor, `{"text":"Ship it on Friday"}`, http.StatusCreated},
		{"viewer reads", "GET", "/api/v1/notes", viewer, "", http.StatusOK},
		{"editor deletes", "DELETE", "/api/v1/notes/1", editor, "", http.StatusForbidden},
		{"the admin key deletes", "DELETE", "/api/v1/notes/1", apiKey, "", http.StatusNoContent},
		{"deleted", "DELETE", "/api/v1/notes/1", apiKey, "", http.StatusNotFound},
		{"bad input from an editor", "POST", "/api/v1/notes", editor, `{"text":""}`, http.StatusUnprocessableEntity},
		{"bad input from a viewer: the guard first", "POST", "/api/v1/notes", viewer, `{"text":""}`, http.StatusForbidden},
		{"anyone authenticated: whoami", "GET", "/api/v1/whoami", viewer, "", http.StatusOK},
		{"health needs nothing", "GET", "/health/live", "", "", http.StatusOK},
	} {
		status, body := call(c.method, c.path, c.credential, c.body)
		if status != c.want {
			t.Errorf("%s: %s %s: %d, want %d: %s", c.name, c.method, c.path, status, c.want, body)
		}
		if status >= 400 && !strings.Contains(body, `"status":`) {
			t.Errorf("%s: not a problem document: %s", c.name, body)
		}
	}

	// The author is the caller, from the token.
	_, body := call("POST", "/api/v1/notes", editor, `{"text":"second"}`)
	if !strings.Contains(body, `"author":"ada"`) {
		t.Errorf("created note: %s", body)
	}
	_, body = call("GET", "/api/v1/whoami", viewer, "")
	var me auth.Principal
	if err := json.Unmarshal([]byte(body), &me); err != nil || me.Name != "grace" || len(me.Roles) != 1 || me.Roles[0] != "viewer" {
		t.Errorf("whoami: %s (%v)", body, err)
	}

	// The OpenAPI document carries each operation's permission.
	_, doc := call("GET", "/openapi.json", "", "")
	for _, p := range []string{`"x-permission":"notes:read"`, `"x-permission":"notes:write"`, `"x-permission":"notes:delete"`} {
		if !strings.Contains(doc, p) {
			t.Errorf("the OpenAPI document lacks %s", p)
		}
	}
}
