package auth_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/taylordash/taylordash/auth"
)

// TestOriginPolicy: the API's own origin and the listed ones pass, in any
// case and with or without the default port; anything else, a missing
// Origin, "null", "*" and an http page calling a TLS API are refused.
func TestOriginPolicy(t *testing.T) {
	p := auth.NewOriginPolicy([]string{"https://App.example.com", "http://localhost:5173", "*"})
	cases := []struct {
		origin, host string
		tls          bool
		reason       string // "" when allowed
	}{
		{"https://api.example.com", "api.example.com", true, ""},
		{"https://API.example.com:443", "api.example.com", true, ""},
		{"https://api.example.com", "api.example.com:443", true, ""},
		{"http://127.0.0.1:8000", "127.0.0.1:8000", false, ""},
		{"https://127.0.0.1:8000", "127.0.0.1:8000", false, ""}, // TLS ended at a proxy
		{"https://app.example.com", "api.example.com", true, ""},
		{"https://app.example.com/", "api.example.com", true, ""},
		{"http://localhost:5173", "127.0.0.1:8000", false, ""},
		{"", "api.example.com", true, "origin_missing"},
		{"null", "api.example.com", true, "origin_not_allowed"},
		{"https://evil.example", "api.example.com", true, "origin_not_allowed"},
		{"https://api.example.com.evil.example", "api.example.com", true, "origin_not_allowed"},
		{"http://api.example.com", "api.example.com", true, "origin_not_allowed"},
		{"https://api.example.com:8443", "api.example.com", true, "origin_not_allowed"},
		{"http://app.example.com", "api.example.com", true, "origin_not_allowed"},
		{"https://user@api.example.com", "api.example.com", true, "origin_not_allowed"},
		{"ftp://api.example.com", "api.example.com", false, "origin_not_allowed"},
	}
	for _, c := range cases {
		err := p.Check(c.origin, c.host, c.tls)
		var ce *auth.CSRFError
		switch {
		case c.reason == "" && err != nil:
			t.Errorf("%q to %s (tls %v): refused: %v", c.origin, c.host, c.tls, err)
		case c.reason != "" && (!errors.As(err, &ce) || ce.Reason != c.reason):
			t.Errorf("%q to %s (tls %v): %v, want %s", c.origin, c.host, c.tls, err, c.reason)
		}
	}
	var none *auth.OriginPolicy
	if err := none.Check("https://api.example.com", "api.example.com", true); err != nil {
		t.Errorf("the nil policy refuses the API's own origin: %v", err)
	}
	if err := none.Check("https://app.example.com", "api.example.com", true); err == nil {
		t.Error("the nil policy allows another origin")
	}
}

// A browser login's cookies: the session and refresh tokens where the
// page's script cannot read them, the CSRF token where it can; all
// SameSite=Strict, and Secure under TLS.
func ExampleBrowserSession_Cookies() {
	now := time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC)
	b := auth.BrowserSession{
		SessionToken: "tds_session", SessionExpiresAt: now.Add(24 * time.Hour),
		RefreshToken: "tdr_refresh", RefreshExpiresAt: now.Add(7 * 24 * time.Hour),
		CSRFToken: "tdc_csrf",
	}
	for _, c := range b.Cookies(now, true) {
		fmt.Println(c.String())
	}
	// Output:
	// taylordash_session=tds_session; Path=/; Max-Age=86400; HttpOnly; Secure; SameSite=Strict
	// taylordash_refresh=tdr_refresh; Path=/api/v1/auth/refresh; Max-Age=604800; HttpOnly; Secure; SameSite=Strict
	// taylordash_csrf=tdc_csrf; Path=/; Max-Age=604800; Secure; SameSite=Strict
}

// A request that changes state with the session cookie must come from an
// allowed page: the API's own origin, or one of the CORS origins.
func ExampleOriginPolicy_Check() {
	p := auth.NewOriginPolicy([]string{"https://app.example.com"})
	for _, origin := range []string{"https://api.example.com", "https://app.example.com", "https://evil.example", ""} {
		err := p.Check(origin, "api.example.com", true)
		var ce *auth.CSRFError
		if errors.As(err, &ce) {
			fmt.Printf("%-25q refused: %s (%d)\n", origin, ce.Reason, http.StatusForbidden)
			continue
		}
		fmt.Printf("%-25q allowed\n", origin)
	}
	// Output:
	// "https://api.example.com" allowed
	// "https://app.example.com" allowed
	// "https://evil.example"    refused: origin_not_allowed (403)
	// ""                        refused: origin_missing (403)
}
