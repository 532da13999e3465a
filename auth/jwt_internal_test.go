package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/taylordash/taylordash/testkit"
)

// A cached token stops being accepted at its exp: the entry is dropped
// and the full verification refuses it with the clock skew applied.
func TestJWTCacheEntryEndsAtExp(t *testing.T) {
	iss := testkit.OIDC(t)
	a, err := NewJWTAuthenticator(OIDCConfig{Issuer: iss.Issuer(), Audience: []string{iss.Audience}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Now()
	a.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop(context.Background()) })

	token := iss.Token(t, testkit.TokenClaims{ExpiresIn: time.Minute})
	authn := func() (*Principal, error) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		return a.Authenticate(context.Background(), r)
	}
	if _, err := authn(); err != nil {
		t.Fatal(err)
	}
	if n := a.cache.order.Len(); n != 1 {
		t.Fatalf("cache holds %d tokens, want 1", n)
	}
	advance(time.Minute + 10*time.Second) // past exp, within the skew
	if _, err := authn(); err != nil {
		t.Fatalf("within the skew: %v", err)
	}
	advance(30 * time.Second) // past exp + skew
	if _, err := authn(); ReasonOf(err) != "expired" {
		t.Fatalf("past exp + skew: %v, want expired", err)
	}
	if _, ok := a.cache.items[sha256.Sum256([]byte(token))]; ok {
		t.Fatal("the expired token is still cached")
	}
}

func TestTokenCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newTokenCache(2)
	key := &publicKey{kid: "k"}
	keys := &keyMap{byKID: map[string][]*publicKey{"k": {key}}, all: []*publicKey{key}}
	now := time.Now()
	p := func(name string) *Principal { return &Principal{Name: name, ExpiresAt: now.Add(time.Hour)} }
	sum := func(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }

	c.put(sum("a"), p("a"), key)
	c.put(sum("b"), p("b"), key)
	if c.get(sum("a"), now, keys) == nil { // a is now the most recent
		t.Fatal("a missing")
	}
	c.put(sum("c"), p("c"), key) // evicts b
	if c.get(sum("b"), now, keys) != nil {
		t.Fatal("b not evicted")
	}
	if c.get(sum("a"), now, keys) == nil || c.get(sum("c"), now, keys) == nil {
		t.Fatal("a or c evicted")
	}
	// A key that left the set takes its tokens with it.
	if c.get(sum("a"), now, &keyMap{byKID: map[string][]*publicKey{"k": {{kid: "k"}}}}) != nil {
		t.Fatal("a token of a removed key is still served")
	}
	if c.order.Len() != 1 || len(c.items) != 1 {
		t.Fatalf("cache holds %d/%d entries, want 1", c.order.Len(), len(c.items))
	}
}

// A key that stays in the issuer's set keeps its identity across
// refetches, so the tokens it signed stay cached; a new key joins it.
func TestKeySetKeepsUnchangedKeys(t *testing.T) {
	iss := testkit.OIDC(t)
	ks := newKeySet(iss.JWKSURL(), &http.Client{}, []string{"RS256"}, time.Second, time.Second, testkit.NewLogger(t), time.Now)
	ctx := context.Background()
	if err := ks.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	first := ks.keys.Load()
	if len(first.all) != 1 || first.all[0].kid != iss.KeyID() {
		t.Fatalf("keys = %v, want [%s]", first.kids(), iss.KeyID())
	}
	iss.RotateKeepOld(t, 0)
	if err := ks.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	second := ks.keys.Load()
	if len(second.all) != 2 || !second.contains(first.all[0]) {
		t.Fatalf("after the rotation, keys = %v; the old key's identity kept: %v", second.kids(), second.contains(first.all[0]))
	}
}

// The key set keeps only public signature keys that can verify an allowed
// algorithm.
func TestKeySetLeavesOutUnusableKeys(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	smallRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := func(key any, kid, alg, use string) json.RawMessage {
		b, err := jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: alg, Use: use}.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	doc, err := json.Marshal(map[string]any{"keys": []json.RawMessage{
		jwk(&rsaKey.PublicKey, "rsa-sig", "RS256", "sig"),
		jwk(&rsaKey.PublicKey, "rsa-enc", "RSA-OAEP", "enc"), // Keycloak publishes one
		jwk(&p256.PublicKey, "ec-no-alg", "", ""),
		jwk(&p384.PublicKey, "ec-384", "ES384", "sig"),
		jwk(&smallRSA.PublicKey, "rsa-1024", "RS256", "sig"),
		jwk(rsaKey, "rsa-private", "RS256", "sig"),
		jwk([]byte("0123456789abcdef0123456789abcdef"), "hmac", "HS256", "sig"),
		json.RawMessage(`{"kty":"OKP","crv":"Ed448","kid":"ed448","x":"AAAA"}`),
		json.RawMessage(`{"kty":"PQC","kid":"future"}`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	ks := newKeySet("", nil, []string{"RS256", "ES256", "EdDSA"}, time.Second, time.Second, slog.New(slog.DiscardHandler), time.Now)
	m, err := ks.parse(doc, ks.keys.Load())
	if err != nil {
		t.Fatal(err)
	}
	if got := m.kids(); !slices.Equal(got, []string{"rsa-sig", "ec-no-alg"}) {
		t.Fatalf("kept %v, want [rsa-sig ec-no-alg]; left out: %q", got, m.skipped)
	}
	for _, why := range m.skipped {
		t.Log("left out:", why)
	}
	if len(m.skipped) != 7 {
		t.Fatalf("left out %d keys, want 7: %q", len(m.skipped), m.skipped)
	}
	if c, _ := m.candidates("ec-no-alg", "ES384"); len(c) != 0 {
		t.Fatal("a P-256 key offered for ES384")
	}
	if c, _ := m.candidates("rsa-sig", "PS256"); len(c) != 0 {
		t.Fatal("an RS256 key offered for PS256")
	}
	if c, _ := m.candidates("", "ES256"); len(c) != 1 || c[0].kid != "ec-no-alg" {
		t.Fatalf("no kid, ES256: %v", c)
	}
}
