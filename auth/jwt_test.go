package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/testkit"
)

// jwtConfig returns the configuration of an authenticator for iss.
func jwtConfig(iss *testkit.OIDCIssuer) auth.OIDCConfig {
	return auth.OIDCConfig{Issuer: iss.Issuer(), ClientID: iss.ClientID, Audience: []string{iss.Audience}}
}

// jwtStart returns a started authenticator for iss, stopped when the test
// ends; edit, if not nil, changes its configuration first.
func jwtStart(tb testing.TB, iss *testkit.OIDCIssuer, edit func(*auth.OIDCConfig)) *auth.JWTAuthenticator {
	tb.Helper()
	cfg := jwtConfig(iss)
	if edit != nil {
		edit(&cfg)
	}
	var log *slog.Logger // nil: none, in benchmarks
	if _, ok := tb.(*testing.T); ok {
		log = testkit.NewLogger(tb)
	}
	a, err := auth.NewJWTAuthenticator(cfg, nil, log)
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

func jwtRequest(header string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api/v1/projects", nil)
	if header != "" {
		r.Header.Set("Authorization", header)
	}
	return r
}

func jwtAuthenticate(a *auth.JWTAuthenticator, token string) (*auth.Principal, error) {
	return a.Authenticate(context.Background(), jwtRequest("Bearer "+token))
}

// jwtMustAccept authenticates token and fails the test if it is refused.
func jwtMustAccept(t *testing.T, a *auth.JWTAuthenticator, token string) *auth.Principal {
	t.Helper()
	p, err := jwtAuthenticate(a, token)
	if err != nil {
		t.Fatalf("refused (%s): %v", auth.ReasonOf(err), err)
	}
	return p
}

// jwtMustRefuse authenticates token and fails the test unless it is
// refused with reason.
func jwtMustRefuse(t *testing.T, a *auth.JWTAuthenticator, token, reason string) error {
	t.Helper()
	p, err := jwtAuthenticate(a, token)
	switch {
	case err == nil:
		t.Fatalf("accepted as %+v, want refused with %s", p, reason)
	case errors.Is(err, auth.ErrNoCredentials):
		t.Fatalf("ErrNoCredentials, want refused with %s", reason)
	case auth.ReasonOf(err) != reason:
		t.Fatalf("refused with %s (%v), want %s", auth.ReasonOf(err), err, reason)
	}
	return err
}

func jwtSegment(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// jwtSignWith signs claims with key, its header naming kid.
func jwtSignWith(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func TestJWTAcceptsKeycloakToken(t *testing.T) {
	iss := testkit.OIDC(t)
	a := jwtStart(t, iss, nil)
	if a.Name() != "jwt" {
		t.Fatalf("Name = %q", a.Name())
	}
	exp := time.Now().Add(3 * time.Minute).Truncate(time.Second)
	p := jwtMustAccept(t, a, iss.Token(t, testkit.TokenClaims{
		Subject: "8d3f0a4e-1b2c-4d5e-9f60-7a8b9c0d1e2f", Username: "alice",
		RealmRoles: []string{"viewer", "admin"}, ClientRoles: []string{"editor", "admin"},
		ResourceAccess: map[string][]string{"account": {"manage-account"}},
		ExpiresAt:      exp,
	}))
	want := auth.Principal{Subject: "8d3f0a4e-1b2c-4d5e-9f60-7a8b9c0d1e2f", Name: "alice", Kind: auth.KindUser,
		Roles: []string{"admin", "editor", "viewer"}, Method: auth.MethodJWT, ExpiresAt: exp}
	if p.Subject != want.Subject || p.Name != want.Name || p.Kind != want.Kind || p.Method != want.Method ||
		!slices.Equal(p.Roles, want.Roles) || p.Domain != "" || !p.ExpiresAt.Equal(exp) {
		t.Fatalf("principal = %+v, want %+v", p, want)
	}
}

func TestJWTNoCredentials(t *testing.T) {
	iss := testkit.OIDC(t)
	a := jwtStart(t, iss, nil)
	for _, h := range []string{
		"",
		"Basic YWxpY2U6c2VjcmV0",
		"Bearer ",
		"Bearer tds_3q2+7w8abcdefghijklmnop", // a local session token
		"Bearer one.two",
		"Bearer one.two.three.four",
		"Bearer .two.three",
		"Bearer one..three",
	} {
		if _, err := a.Authenticate(context.Background(), jwtRequest(h)); !errors.Is(err, auth.ErrNoCredentials) {
			t.Errorf("%q: err = %v, want ErrNoCredentials", h, err)
		}
	}
	// The scheme is case-insensitive.
	token := iss.Token(t, testkit.TokenClaims{})
	if _, err := a.Authenticate(context.Background(), jwtRequest("bearer "+token)); err != nil {
		t.Fatal(err)
	}
}

func TestJWTRefusesAttacks(t *testing.T) {
	iss := testkit.OIDC(t)
	other := testkit.OIDC(t, testkit.OIDCRealm("other"))
	a := jwtStart(t, iss, nil)
	now := time.Now()
	valid := func() map[string]any { return iss.Claims(testkit.TokenClaims{}, now) }

	tests := []struct {
		name   string
		token  func(t *testing.T) string
		reason string
	}{
		{"alg none", func(*testing.T) string {
			return jwtSegment(map[string]any{"alg": "none", "typ": "JWT", "kid": iss.KeyID()}) + "." + jwtSegment(valid()) + "."
		}, "alg_not_allowed"},
		{"alg NONE", func(*testing.T) string {
			return jwtSegment(map[string]any{"alg": "NONE", "typ": "JWT"}) + "." + jwtSegment(valid()) + "."
		}, "alg_not_allowed"},
		{"HS256 signed with the issuer's public key", func(*testing.T) string {
			signing := jwtSegment(map[string]any{"alg": "HS256", "typ": "JWT", "kid": iss.KeyID()}) + "." + jwtSegment(valid())
			mac := hmac.New(sha256.New, iss.PublicKeyPEM())
			mac.Write([]byte(signing))
			return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		}, "alg_not_allowed"},
		{"no alg", func(*testing.T) string {
			return jwtSegment(map[string]any{"typ": "JWT"}) + "." + jwtSegment(valid()) + ".c2ln"
		}, "alg_not_allowed"},
		{"expired", func(t *testing.T) string {
			return iss.Token(t, testkit.TokenClaims{ExpiresIn: -2 * time.Minute})
		}, "expired"},
		{"not yet valid", func(t *testing.T) string {
			return iss.Token(t, testkit.TokenClaims{NotBefore: time.Now().Add(2 * time.Minute)})
		}, "not_yet_valid"},
		{"issued in the future", func(t *testing.T) string {
			return iss.Token(t, testkit.TokenClaims{IssuedAt: time.Now().Add(2 * time.Minute)})
		}, "issued_in_future"},
		{"wrong issuer", func(t *testing.T) string {
			return iss.Token(t, testkit.TokenClaims{Issuer: "https://keycloak.evil.example/realms/taylordash"})
		}, "wrong_issuer"},
		{"no issuer", func(t *testing.T) string {
			return iss.Token(t, testkit.TokenClaims{Extra: map[string]any{"iss": nil}})
		}, "wrong_issuer"},
		{"wrong audience", func(t *testing.T) string {
			return iss.Token(t, testkit.TokenClaims{Audience: []string{"account", "billing-api"}})
		}, "wrong_audience"},
		{"no audience", func(t *testing.T) string {
			return iss.Token(t, testkit.TokenClaims{Audience: []string{}})
		}, "wrong_audience"},
		{"tampered payload", func(t *testing.T) string {
			parts := strings.Split(iss.Token(t, testkit.TokenClaims{RealmRoles: []string{"viewer"}}), ".")
			claims := valid()
			claims["realm_access"] = map[string]any{"roles": []string{"admin"}}
			return parts[0] + "." + jwtSegment(claims) + "." + parts[2]
		}, "bad_signature"},
		{"tampered header", func(t *testing.T) string {
			parts := strings.Split(iss.Token(t, testkit.TokenClaims{}), ".")
			return jwtSegment(map[string]any{"alg": "RS256", "kid": iss.KeyID(), "typ": "at+jwt"}) + "." + parts[1] + "." + parts[2]
		}, "bad_signature"},
		{"signed by another key under the issuer's kid", func(t *testing.T) string {
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			return jwtSignWith(t, jose.ES256, key, iss.KeyID(), valid())
		}, "bad_signature"},
		{"signed by another issuer's key", func(t *testing.T) string {
			return other.Token(t, testkit.TokenClaims{Issuer: iss.Issuer()})
		}, "unknown_key"},
		{"ID token", func(t *testing.T) string {
			return iss.Token(t, testkit.TokenClaims{Type: "ID"})
		}, "wrong_token_type"},
		{"refresh token", func(t *testing.T) string {
			return iss.Token(t, testkit.TokenClaims{Type: "Refresh"})
		}, "wrong_token_type"},
		{"no exp", func(t *testing.T) string {
			return iss.Token(t, testkit.TokenClaims{Extra: map[string]any{"exp": nil}})
		}, "malformed"},
		{"exp not a number", func(t *testing.T) string {
			return iss.Token(t, testkit.TokenClaims{Extra: map[string]any{"exp": "tomorrow"}})
		}, "malformed"},
		{"no sub", func(t *testing.T) string {
			return iss.Token(t, testkit.TokenClaims{Extra: map[string]any{"sub": nil}})
		}, "malformed"},
		{"roles not strings", func(t *testing.T) string {
			return iss.Token(t, testkit.TokenClaims{Extra: map[string]any{"realm_access": map[string]any{"roles": []any{1, 2}}}})
		}, "malformed"},
		{"header not base64", func(*testing.T) string { return "!!!." + jwtSegment(valid()) + ".c2ln" }, "malformed"},
		{"header not JSON", func(*testing.T) string {
			return base64.RawURLEncoding.EncodeToString([]byte("alg")) + "." + jwtSegment(valid()) + ".c2ln"
		}, "malformed"},
		{"signature not base64", func(t *testing.T) string {
			parts := strings.Split(iss.Token(t, testkit.TokenClaims{}), ".")
			return parts[0] + "." + parts[1] + ".!!!"
		}, "malformed"},
		{"too large", func(t *testing.T) string {
			return iss.Token(t, testkit.TokenClaims{Extra: map[string]any{"pad": strings.Repeat("x", 70<<10)}})
		}, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Log(jwtMustRefuse(t, a, tt.token(t), tt.reason))
		})
	}
	// None of these polluted the cache: a valid token still works.
	jwtMustAccept(t, a, iss.Token(t, testkit.TokenClaims{}))
}

func TestJWTClockSkew(t *testing.T) {
	iss := testkit.OIDC(t)
	a := jwtStart(t, iss, nil) // ClockSkew 30s
	now := time.Now()
	jwtMustAccept(t, a, iss.Token(t, testkit.TokenClaims{ExpiresAt: now.Add(-10 * time.Second)}))
	jwtMustRefuse(t, a, iss.Token(t, testkit.TokenClaims{ExpiresAt: now.Add(-60 * time.Second)}), "expired")
	jwtMustAccept(t, a, iss.Token(t, testkit.TokenClaims{NotBefore: now.Add(10 * time.Second)}))
	jwtMustRefuse(t, a, iss.Token(t, testkit.TokenClaims{NotBefore: now.Add(60 * time.Second)}), "not_yet_valid")
	jwtMustAccept(t, a, iss.Token(t, testkit.TokenClaims{IssuedAt: now.Add(10 * time.Second)}))
	jwtMustRefuse(t, a, iss.Token(t, testkit.TokenClaims{IssuedAt: now.Add(60 * time.Second)}), "issued_in_future")

	strict := jwtStart(t, iss, func(c *auth.OIDCConfig) { c.ClockSkew = time.Second })
	jwtMustRefuse(t, strict, iss.Token(t, testkit.TokenClaims{ExpiresAt: now.Add(-10 * time.Second)}), "expired")
	jwtMustRefuse(t, strict, iss.Token(t, testkit.TokenClaims{NotBefore: now.Add(10 * time.Second)}), "not_yet_valid")
}

// A token signed with a key the authenticator has not seen makes it
// refetch the key set once; another unknown kid within
// JWKSMinRefreshInterval does not.
func TestJWTUnknownKidRefetchesOnce(t *testing.T) {
	iss := testkit.OIDC(t)
	a := jwtStart(t, iss, func(c *auth.OIDCConfig) { c.JWKSMinRefreshInterval = time.Hour })
	if n := iss.JWKSFetches(); n != 1 {
		t.Fatalf("Start fetched the key set %d times, want 1", n)
	}
	iss.RotateKeepOld(t, 0) // the issuer signs with a new key
	jwtMustAccept(t, a, iss.Token(t, testkit.TokenClaims{}))
	if n := iss.JWKSFetches(); n != 2 {
		t.Fatalf("JWKSFetches = %d after the new kid, want 2", n)
	}
	jwtMustAccept(t, a, iss.Token(t, testkit.TokenClaims{Subject: "bob"}))
	err := jwtMustRefuse(t, a, iss.TokenWithUnpublishedKey(t, testkit.TokenClaims{}), "unknown_key")
	if n := iss.JWKSFetches(); n != 2 {
		t.Fatalf("JWKSFetches = %d after a second unknown kid within the floor, want 2", n)
	}
	if !strings.Contains(err.Error(), "JWKSMinRefreshInterval") {
		t.Fatalf("error does not say why the set was not refetched: %v", err)
	}
}

// A token of a key the issuer publishes later is accepted once the floor
// has passed.
func TestJWTUnknownKidAcceptedOncePublished(t *testing.T) {
	iss := testkit.OIDC(t)
	floor := 300 * time.Millisecond
	a := jwtStart(t, iss, func(c *auth.OIDCConfig) { c.JWKSMinRefreshInterval = floor })
	token := iss.TokenWithUnpublishedKey(t, testkit.TokenClaims{})
	jwtMustRefuse(t, a, token, "unknown_key")
	if n := iss.JWKSFetches(); n != 2 {
		t.Fatalf("JWKSFetches = %d, want 2 (Start, then the unknown kid)", n)
	}
	iss.RotateKeepOld(t, 0) // publishes the key
	jwtMustRefuse(t, a, token, "unknown_key")
	if n := iss.JWKSFetches(); n != 2 {
		t.Fatalf("JWKSFetches = %d within the floor, want 2", n)
	}
	time.Sleep(floor + 50*time.Millisecond)
	jwtMustAccept(t, a, token)
	if n := iss.JWKSFetches(); n != 3 {
		t.Fatalf("JWKSFetches = %d, want 3", n)
	}
}

// Concurrent requests with a new kid share one fetch.
func TestJWTConcurrentUnknownKidsShareOneFetch(t *testing.T) {
	iss := testkit.OIDC(t)
	a := jwtStart(t, iss, func(c *auth.OIDCConfig) { c.JWKSMinRefreshInterval = time.Hour })
	iss.RotateKeepOld(t, 0)
	tokens := make([]string, 32)
	for i := range tokens {
		tokens[i] = iss.Token(t, testkit.TokenClaims{Subject: fmt.Sprintf("user-%d", i)})
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(tokens))
	for _, token := range tokens {
		wg.Go(func() {
			if _, err := jwtAuthenticate(a, token); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("refused: %v", err)
	}
	if n := iss.JWKSFetches(); n != 2 {
		t.Fatalf("JWKSFetches = %d, want 2 (Start and one shared refetch)", n)
	}
}

// A token signed by a key the issuer removed is refused once the key set
// is refetched, even though it was cached.
func TestJWTRotatedOutKeyRefused(t *testing.T) {
	iss := testkit.OIDC(t)
	a := jwtStart(t, iss, nil)
	old := iss.Token(t, testkit.TokenClaims{})
	jwtMustAccept(t, a, old)
	jwtMustAccept(t, a, old) // cached

	iss.Rotate(t)
	// The new kid triggers a refetch, which drops the old key.
	jwtMustAccept(t, a, iss.Token(t, testkit.TokenClaims{}))
	jwtMustRefuse(t, a, old, "unknown_key")
}

// The background refresh drops a removed key without any request asking.
func TestJWTBackgroundRefreshDropsRemovedKey(t *testing.T) {
	iss := testkit.OIDC(t)
	a := jwtStart(t, iss, func(c *auth.OIDCConfig) { c.JWKSRefreshInterval = time.Second })
	old := iss.Token(t, testkit.TokenClaims{})
	jwtMustAccept(t, a, old) // cached
	iss.Rotate(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := jwtAuthenticate(a, old)
		if err != nil {
			if auth.ReasonOf(err) != "unknown_key" {
				t.Fatalf("refused with %s, want unknown_key: %v", auth.ReasonOf(err), err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the removed key still verifies after 5s (JWKSFetches = %d)", iss.JWKSFetches())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := iss.JWKSFetches(); n < 2 {
		t.Fatalf("JWKSFetches = %d, want a background refresh", n)
	}
}

// When the issuer is down, the keys fetched before keep verifying tokens;
// an unknown kid is refused, saying the refetch failed.
func TestJWTIssuerDownKeepsKeys(t *testing.T) {
	iss := testkit.OIDC(t)
	a := jwtStart(t, iss, func(c *auth.OIDCConfig) { c.JWKSRefreshInterval = time.Second })
	token := iss.Token(t, testkit.TokenClaims{}) // not yet seen: not cached
	unknown := iss.TokenWithUnpublishedKey(t, testkit.TokenClaims{})
	iss.Close()
	time.Sleep(1500 * time.Millisecond) // a background refresh fails
	jwtMustAccept(t, a, token)
	err := jwtMustRefuse(t, a, unknown, "unknown_key")
	if !strings.Contains(err.Error(), "not refetched: fetch jwks") {
		t.Fatalf("error does not say the refetch failed: %v", err)
	}
}

// During a rotation grace both keys verify.
func TestJWTRotationGrace(t *testing.T) {
	iss := testkit.OIDC(t)
	a := jwtStart(t, iss, nil)
	old := iss.Token(t, testkit.TokenClaims{})
	iss.RotateKeepOld(t, 0)
	jwtMustAccept(t, a, iss.Token(t, testkit.TokenClaims{}))
	jwtMustAccept(t, a, old)
}

func TestJWTAlgorithms(t *testing.T) {
	iss := testkit.OIDC(t, testkit.OIDCAlgorithms("RS256", "ES256", "EdDSA"))
	all := jwtStart(t, iss, nil) // default: RS256, ES256, EdDSA
	rsaOnly := jwtStart(t, iss, func(c *auth.OIDCConfig) { c.Algorithms = []string{"RS256"} })
	ecOnly := jwtStart(t, iss, func(c *auth.OIDCConfig) { c.Algorithms = []string{"ES256"} })
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		token := iss.Token(t, testkit.TokenClaims{Algorithm: alg})
		t.Run(alg, func(t *testing.T) {
			jwtMustAccept(t, all, token)
			if alg == "RS256" {
				jwtMustAccept(t, rsaOnly, token)
			} else {
				jwtMustRefuse(t, rsaOnly, token, "alg_not_allowed")
			}
			if alg == "ES256" {
				jwtMustAccept(t, ecOnly, token)
			} else {
				jwtMustRefuse(t, ecOnly, token, "alg_not_allowed")
			}
		})
	}
}

func TestJWTRoles(t *testing.T) {
	iss := testkit.OIDC(t)
	claims := testkit.TokenClaims{
		RealmRoles:     []string{"viewer", "admin", "viewer"},
		ClientRoles:    []string{"editor"},
		ResourceAccess: map[string][]string{"account": {"manage-account"}},
		Extra: map[string]any{
			"groups": []string{"/ops", "/dev", "/ops"},
			"tenant": "acme",
			"org":    map[string]any{"id": "org-7", "ids": []string{"org-8"}},
		},
		Scope: "openid projects:read",
	}
	token := iss.Token(t, claims)
	tests := []struct {
		name   string
		edit   func(*auth.OIDCConfig)
		roles  []string
		domain string
	}{
		{"realm and client roles", nil, []string{"admin", "editor", "viewer"}, ""},
		{"realm roles without a ClientID", func(c *auth.OIDCConfig) { c.ClientID = "" }, []string{"admin", "viewer"}, ""},
		{"another client's roles", func(c *auth.OIDCConfig) { c.ClientID = "account" }, []string{"admin", "manage-account", "viewer"}, ""},
		{"groups", func(c *auth.OIDCConfig) { c.RolesClaim = "groups" }, []string{"/dev", "/ops"}, ""},
		{"path", func(c *auth.OIDCConfig) { c.RolesClaim = "resource_access.account.roles" }, []string{"manage-account"}, ""},
		{"space-separated", func(c *auth.OIDCConfig) { c.RolesClaim = "scope" }, []string{"openid", "projects:read"}, ""},
		{"missing claim", func(c *auth.OIDCConfig) { c.RolesClaim = "no.such.claim" }, []string{}, ""},
		{"domain", func(c *auth.OIDCConfig) { c.DomainClaim = "tenant" }, []string{"admin", "editor", "viewer"}, "acme"},
		{"nested domain", func(c *auth.OIDCConfig) { c.DomainClaim = "org.id" }, []string{"admin", "editor", "viewer"}, "org-7"},
		{"domain in an array", func(c *auth.OIDCConfig) { c.DomainClaim = "org.ids" }, []string{"admin", "editor", "viewer"}, "org-8"},
		{"no domain claim", func(c *auth.OIDCConfig) { c.DomainClaim = "realm" }, []string{"admin", "editor", "viewer"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := jwtStart(t, iss, func(c *auth.OIDCConfig) {
				c.Audience = []string{iss.Audience}
				if tt.edit != nil {
					tt.edit(c)
				}
			})
			p := jwtMustAccept(t, a, token)
			if !slices.Equal(p.Roles, tt.roles) || p.Domain != tt.domain {
				t.Fatalf("roles %q, domain %q; want %q, %q", p.Roles, p.Domain, tt.roles, tt.domain)
			}
		})
	}

	a := jwtStart(t, iss, func(c *auth.OIDCConfig) { c.DomainClaim = "realm_access" })
	jwtMustRefuse(t, a, token, "malformed") // an object is no tenant
	b := jwtStart(t, iss, func(c *auth.OIDCConfig) { c.RolesClaim = "org" })
	jwtMustRefuse(t, b, token, "malformed") // nor a list of roles
}

func TestJWTNameFallsBackToSubject(t *testing.T) {
	iss := testkit.OIDC(t)
	a := jwtStart(t, iss, nil)
	p := jwtMustAccept(t, a, iss.Token(t, testkit.TokenClaims{Subject: "svc-1", Extra: map[string]any{"preferred_username": nil}}))
	if p.Name != "svc-1" {
		t.Fatalf("Name = %q, want the subject", p.Name)
	}
}

func TestJWTAuthorizedParties(t *testing.T) {
	iss := testkit.OIDC(t)
	a := jwtStart(t, iss, func(c *auth.OIDCConfig) { c.AuthorizedParties = []string{"taylordash-web"} })
	jwtMustAccept(t, a, iss.Token(t, testkit.TokenClaims{AuthorizedParty: "taylordash-web"}))
	jwtMustRefuse(t, a, iss.Token(t, testkit.TokenClaims{AuthorizedParty: "other-app"}), "wrong_authorized_party")
}

func TestJWTAudienceList(t *testing.T) {
	iss := testkit.OIDC(t)
	a := jwtStart(t, iss, func(c *auth.OIDCConfig) { c.Audience = []string{"taylordash-api", "legacy-api"} })
	jwtMustAccept(t, a, iss.Token(t, testkit.TokenClaims{Audience: []string{"account", "legacy-api"}}))
	jwtMustAccept(t, a, iss.Token(t, testkit.TokenClaims{Audience: []string{"taylordash-api"}}))
}

// The cached path hands out copies: a caller changing its principal does
// not change the next one.
func TestJWTCachedPrincipalIsACopy(t *testing.T) {
	iss := testkit.OIDC(t)
	a := jwtStart(t, iss, nil)
	token := iss.Token(t, testkit.TokenClaims{Username: "alice"})
	p := jwtMustAccept(t, a, token)
	p.Name, p.Subject = "mallory", "mallory"
	if q := jwtMustAccept(t, a, token); q.Name != "alice" || q == p {
		t.Fatalf("second principal = %+v", q)
	}
}

func TestJWTWithoutCache(t *testing.T) {
	iss := testkit.OIDC(t)
	a := jwtStart(t, iss, func(c *auth.OIDCConfig) { c.VerifiedCacheSize = -1 })
	token := iss.Token(t, testkit.TokenClaims{})
	jwtMustAccept(t, a, token)
	jwtMustAccept(t, a, token)
}

func TestJWTStartFails(t *testing.T) {
	t.Run("issuer unreachable", func(t *testing.T) {
		iss := testkit.OIDC(t)
		iss.Close()
		a, err := auth.NewJWTAuthenticator(jwtConfig(iss), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = a.Start(context.Background())
		if err == nil || !strings.Contains(err.Error(), iss.Issuer()+"/.well-known/openid-configuration") {
			t.Fatalf("Start = %v, want an error naming the discovery URL", err)
		}
		t.Log(err)
		if _, err := jwtAuthenticate(a, "a.b.c"); err == nil || errors.Is(err, auth.ErrNoCredentials) {
			t.Fatalf("Authenticate after a failed Start = %v, want an error", err)
		}
		if err := a.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("issuer mismatch", func(t *testing.T) {
		iss := testkit.OIDC(t)
		cfg := jwtConfig(iss)
		cfg.Issuer += "/"
		a, err := auth.NewJWTAuthenticator(cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = a.Start(context.Background())
		if err == nil || !strings.Contains(err.Error(), "did not match") {
			t.Fatalf("Start = %v, want an issuer mismatch", err)
		}
		t.Log(err)
	})
	t.Run("no key for the allowed algorithms", func(t *testing.T) {
		iss := testkit.OIDC(t, testkit.OIDCAlgorithms("ES256"))
		cfg := jwtConfig(iss)
		cfg.Algorithms = []string{"RS256"}
		a, err := auth.NewJWTAuthenticator(cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = a.Start(context.Background())
		if err == nil || !strings.Contains(err.Error(), "no key for the allowed algorithms RS256") {
			t.Fatalf("Start = %v, want no usable key", err)
		}
		t.Log(err)
	})
	t.Run("context ended", func(t *testing.T) {
		iss := testkit.OIDC(t)
		a, err := auth.NewJWTAuthenticator(jwtConfig(iss), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := a.Start(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Start = %v, want context.Canceled", err)
		}
	})
}

func TestJWTLifecycle(t *testing.T) {
	iss := testkit.OIDC(t)
	a, err := auth.NewJWTAuthenticator(jwtConfig(iss), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	token := iss.Token(t, testkit.TokenClaims{})
	if _, err := jwtAuthenticate(a, token); err == nil || errors.Is(err, auth.ErrNoCredentials) {
		t.Fatalf("Authenticate before Start = %v, want an error", err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("Stop before Start: %v", err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err == nil {
		t.Fatal("a second Start succeeded")
	}
	jwtMustAccept(t, a, token)
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	jwtMustAccept(t, a, token) // the keys fetched stay
	if err := a.Start(ctx); err != nil {
		t.Fatalf("Start after Stop: %v", err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestNewJWTAuthenticatorRefusesDisabledConfig(t *testing.T) {
	if _, err := auth.NewJWTAuthenticator(auth.OIDCConfig{}, nil, nil); err == nil || !strings.Contains(err.Error(), "Issuer is empty") {
		t.Fatalf("err = %v", err)
	}
	_, err := auth.NewJWTAuthenticator(auth.OIDCConfig{Issuer: "https://id.example.com/realms/x", Audience: []string{"api"},
		Algorithms: []string{"HS256"}}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "Algorithms") {
		t.Fatalf("err = %v", err)
	}
}

func TestOIDCConfigValidate(t *testing.T) {
	base := auth.OIDCConfig{Issuer: "https://keycloak.example.com/realms/taylordash", ClientID: "taylordash"}
	if err := (auth.OIDCConfig{}).WithDefaults().Validate(); err != nil {
		t.Fatalf("disabled config: %v", err)
	}
	if err := base.WithDefaults().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	d := base.WithDefaults()
	if !slices.Equal(d.Audience, []string{"taylordash"}) || !slices.Equal(d.Algorithms, []string{"RS256", "ES256", "EdDSA"}) ||
		d.ClockSkew != 30*time.Second || d.JWKSRefreshInterval != 5*time.Minute || d.JWKSMinRefreshInterval != 10*time.Second ||
		d.VerifiedCacheSize != 10000 || d.DiscoveryTimeout != 10*time.Second {
		t.Fatalf("defaults = %+v", d)
	}
	tests := []struct {
		name    string
		edit    func(*auth.OIDCConfig)
		field   string
		message string
	}{
		{"issuer not a URL", func(c *auth.OIDCConfig) { c.Issuer = "keycloak/realms/x" }, "Issuer", "http(s) URL"},
		{"issuer with query", func(c *auth.OIDCConfig) { c.Issuer += "?x=1" }, "Issuer", "without query"},
		{"no audience", func(c *auth.OIDCConfig) { c.ClientID = "" }, "Audience", "audience mapper"},
		{"alg none", func(c *auth.OIDCConfig) { c.Algorithms = []string{"RS256", "none"} }, "Algorithms", "unsigned"},
		{"HS256", func(c *auth.OIDCConfig) { c.Algorithms = []string{"HS256"} }, "Algorithms", "symmetric"},
		{"unknown alg", func(c *auth.OIDCConfig) { c.Algorithms = []string{"RS257"} }, "Algorithms", "not one of"},
		{"negative skew", func(c *auth.OIDCConfig) { c.ClockSkew = -time.Second }, "ClockSkew", "between 0 and 5m"},
		{"huge skew", func(c *auth.OIDCConfig) { c.ClockSkew = time.Hour }, "ClockSkew", "between 0 and 5m"},
		{"refresh too often", func(c *auth.OIDCConfig) { c.JWKSRefreshInterval = time.Millisecond }, "JWKSRefreshInterval", "at least 1s"},
		{"negative floor", func(c *auth.OIDCConfig) { c.JWKSMinRefreshInterval = -time.Second }, "JWKSMinRefreshInterval", "positive"},
		{"cache size", func(c *auth.OIDCConfig) { c.VerifiedCacheSize = -5 }, "VerifiedCacheSize", "-1 to disable"},
		{"timeout", func(c *auth.OIDCConfig) { c.DiscoveryTimeout = -1 }, "DiscoveryTimeout", "positive"},
		{"roles path", func(c *auth.OIDCConfig) { c.RolesClaim = "realm_access..roles" }, "RolesClaim", "dot path"},
		{"domain path", func(c *auth.OIDCConfig) { c.DomainClaim = ".tenant" }, "DomainClaim", "dot path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.edit(&c)
			err := c.WithDefaults().Validate()
			var fe *dashcore.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(fe.Problem, tt.message) {
				t.Fatalf("Validate = %v, want %s: ...%s...", err, tt.field, tt.message)
			}
		})
	}
}
