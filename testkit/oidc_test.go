package testkit_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/taylordash/taylordash/testkit"
)

// A test gets an issuer shaped like a Keycloak realm, mints access tokens
// for its users, and rotates the signing key.
func ExampleOIDC() {
	t := newExampleT() // in a test: the test's *testing.T
	defer t.cleanup()

	iss := testkit.OIDC(t, testkit.OIDCRealm("shop"))
	token := iss.Token(t, testkit.TokenClaims{
		Subject:     "alice",
		RealmRoles:  []string{"admin"},
		ClientRoles: []string{"orders:write"},
	})
	// The application under test is configured with iss.Issuer() and
	// receives "Authorization: Bearer "+token.
	fmt.Println(strings.TrimPrefix(iss.Issuer(), iss.URL))

	claims := payloadOf(token)
	fmt.Println(claims["sub"], claims["aud"], claims["azp"], claims["typ"])
	fmt.Println(claims["realm_access"], claims["resource_access"])

	before := iss.KeyID()
	iss.Rotate(t)
	fmt.Println("new kid:", iss.KeyID() != before, "fetches:", iss.JWKSFetches())
	// Output:
	// /realms/shop
	// alice taylordash-api taylordash Bearer
	// map[roles:[admin]] map[taylordash:map[roles:[orders:write]]]
	// new kid: true fetches: 0
}

// exampleT is the testing.TB of the Example, which has no *testing.T.
type exampleT struct {
	testing.TB
	cleanups []func()
}

func newExampleT() *exampleT                  { return &exampleT{} }
func (t *exampleT) Helper()                   {}
func (t *exampleT) Name() string              { return "ExampleOIDC" }
func (t *exampleT) Cleanup(f func())          { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
func (t *exampleT) cleanup() {
	for _, f := range slices.Backward(t.cleanups) {
		f()
	}
}

func payloadOf(token string) map[string]any {
	parts := strings.Split(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	return m
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func jwks(t *testing.T, iss *testkit.OIDCIssuer) jose.JSONWebKeySet {
	t.Helper()
	var set jose.JSONWebKeySet
	getJSON(t, iss.JWKSURL(), &set)
	return set
}

func kids(set jose.JSONWebKeySet) []string {
	var ids []string
	for _, k := range set.Keys {
		ids = append(ids, k.KeyID)
	}
	slices.Sort(ids)
	return ids
}

// verify checks token's signature against the issuer's published keys and
// returns its claims.
func verify(t *testing.T, iss *testkit.OIDCIssuer, token string) (map[string]any, error) {
	t.Helper()
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := jws.Verify(jwks(t, iss))
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	return m, nil
}

func TestOIDCDiscovery(t *testing.T) {
	iss := testkit.OIDC(t)
	var meta struct {
		Issuer  string   `json:"issuer"`
		JWKSURI string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	getJSON(t, iss.Issuer()+"/.well-known/openid-configuration", &meta)
	if meta.Issuer != iss.URL+"/realms/taylordash" || meta.JWKSURI != iss.JWKSURL() || !slices.Equal(meta.Algs, []string{"RS256"}) {
		t.Fatalf("discovery = %+v", meta)
	}
	if !strings.HasPrefix(iss.URL, "http://127.0.0.1:") {
		t.Fatalf("URL = %s, want 127.0.0.1", iss.URL)
	}
	if got := kids(jwks(t, iss)); !slices.Equal(got, []string{iss.KeyID()}) {
		t.Fatalf("JWKS kids = %v, want [%s]", got, iss.KeyID())
	}
	if n := iss.JWKSFetches(); n != 1 {
		t.Fatalf("JWKSFetches = %d, want 1", n)
	}
	resp, err := http.Post(iss.Issuer()+"/protocol/openid-connect/token", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented {
		t.Fatalf("token endpoint: %s, want 501", resp.Status)
	}
}

func TestOIDCTokenClaims(t *testing.T) {
	iss := testkit.OIDC(t, testkit.OIDCClientID("web"), testkit.OIDCAudience("api"))
	before := time.Now().Truncate(time.Second)
	c, err := verify(t, iss, iss.Token(t, testkit.TokenClaims{
		Subject:        "u1",
		RealmRoles:     []string{"admin"},
		ClientRoles:    []string{"editor"},
		ResourceAccess: map[string][]string{"other": {"x"}},
		Extra:          map[string]any{"tenant": "acme", "email": nil},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c["iss"] != iss.Issuer() || c["sub"] != "u1" || c["preferred_username"] != "u1" || c["aud"] != "api" ||
		c["azp"] != "web" || c["typ"] != "Bearer" || c["tenant"] != "acme" || c["jti"] == "" {
		t.Fatalf("claims = %v", c)
	}
	if _, ok := c["email"]; ok {
		t.Fatalf("email not removed: %v", c)
	}
	if _, ok := c["nbf"]; ok {
		t.Fatalf("nbf set without NotBefore: %v", c)
	}
	exp := time.Unix(int64(c["exp"].(float64)), 0)
	if d := exp.Sub(before); d < testkit.DefaultTokenLifetime || d > testkit.DefaultTokenLifetime+2*time.Second {
		t.Fatalf("exp - now = %s, want %s", d, testkit.DefaultTokenLifetime)
	}
	access := fmt.Sprint(c["resource_access"])
	if access != "map[other:map[roles:[x]] web:map[roles:[editor]]]" {
		t.Fatalf("resource_access = %s", access)
	}

	c, _ = verify(t, iss, iss.Token(t, testkit.TokenClaims{Audience: []string{}, ExpiresIn: -time.Minute,
		NotBefore: before.Add(time.Hour)}))
	if _, ok := c["aud"]; ok {
		t.Fatalf("aud not omitted: %v", c)
	}
	if exp := int64(c["exp"].(float64)); exp > time.Now().Unix() {
		t.Fatalf("exp %d not in the past", exp)
	}
	if nbf := int64(c["nbf"].(float64)); nbf != before.Add(time.Hour).Unix() {
		t.Fatalf("nbf = %d", nbf)
	}
	c, _ = verify(t, iss, iss.Token(t, testkit.TokenClaims{Audience: []string{"a", "b"}}))
	if fmt.Sprint(c["aud"]) != "[a b]" {
		t.Fatalf("aud = %v", c["aud"])
	}
}

func TestOIDCAlgorithms(t *testing.T) {
	iss := testkit.OIDC(t, testkit.OIDCAlgorithms("ES256", "EdDSA", "RS256"))
	if n := len(jwks(t, iss).Keys); n != 3 {
		t.Fatalf("JWKS has %d keys, want 3", n)
	}
	for _, alg := range []string{"", "ES256", "EdDSA", "RS256"} {
		token := iss.Token(t, testkit.TokenClaims{Algorithm: alg})
		jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
		if err != nil {
			t.Fatal(err)
		}
		want := alg
		if want == "" {
			want = "ES256"
		}
		if got := jws.Signatures[0].Header.Algorithm; got != want {
			t.Fatalf("alg = %s, want %s", got, want)
		}
		if _, err := verify(t, iss, token); err != nil {
			t.Fatalf("%s: %v", want, err)
		}
	}
}

func TestOIDCRotate(t *testing.T) {
	iss := testkit.OIDC(t)
	old := iss.KeyID()
	oldToken := iss.Token(t, testkit.TokenClaims{})

	iss.Rotate(t)
	if iss.KeyID() == old {
		t.Fatal("Rotate kept the kid")
	}
	if got := kids(jwks(t, iss)); !slices.Equal(got, []string{iss.KeyID()}) {
		t.Fatalf("after Rotate, JWKS kids = %v, want only %s", got, iss.KeyID())
	}
	if _, err := verify(t, iss, oldToken); err == nil {
		t.Fatal("a token of the removed key still verifies")
	}
	if _, err := verify(t, iss, iss.Token(t, testkit.TokenClaims{})); err != nil {
		t.Fatal(err)
	}

	second := iss.KeyID()
	iss.RotateKeepOld(t, 0)
	want := []string{second, iss.KeyID()}
	slices.Sort(want)
	if got := kids(jwks(t, iss)); !slices.Equal(got, want) {
		t.Fatalf("after RotateKeepOld, JWKS kids = %v, want %v", got, want)
	}

	third := iss.KeyID()
	iss.RotateKeepOld(t, 100*time.Millisecond)
	if n := len(jwks(t, iss).Keys); n != 3 {
		t.Fatalf("within the grace, JWKS has %d keys, want 3", n)
	}
	time.Sleep(150 * time.Millisecond)
	want = []string{second, iss.KeyID()}
	slices.Sort(want)
	if got := kids(jwks(t, iss)); !slices.Equal(got, want) || slices.Contains(got, third) {
		t.Fatalf("after the grace, JWKS kids = %v, want %v", got, want)
	}
}

func TestOIDCTokenWithUnpublishedKey(t *testing.T) {
	iss := testkit.OIDC(t)
	token := iss.TokenWithUnpublishedKey(t, testkit.TokenClaims{})
	if _, err := verify(t, iss, token); err == nil {
		t.Fatal("a token of an unpublished key verifies")
	}
	if again := iss.TokenWithUnpublishedKey(t, testkit.TokenClaims{}); strings.Split(again, ".")[0] != strings.Split(token, ".")[0] {
		t.Fatal("the unpublished key changed between two tokens")
	}
	iss.RotateKeepOld(t, 0)
	if _, err := verify(t, iss, token); err != nil {
		t.Fatalf("after the rotation published it: %v", err)
	}
	if n := len(jwks(t, iss).Keys); n != 2 {
		t.Fatalf("JWKS has %d keys, want 2", n)
	}
}

func TestOIDCClose(t *testing.T) {
	iss := testkit.OIDC(t)
	iss.Close()
	if _, err := http.Get(iss.JWKSURL()); err == nil {
		t.Fatal("closed issuer still answers")
	}
	iss.Close() // and again at cleanup
}

func TestOIDCPublicKeyPEM(t *testing.T) {
	iss := testkit.OIDC(t)
	pem := string(iss.PublicKeyPEM())
	if !strings.HasPrefix(pem, "-----BEGIN PUBLIC KEY-----\n") {
		t.Fatalf("PublicKeyPEM = %q", pem)
	}
}
