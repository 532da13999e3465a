package testkit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// OIDC defaults.
const (
	// DefaultOIDCRealm is the realm in the issuer's path,
	// <URL>/realms/taylordash.
	DefaultOIDCRealm = "taylordash"
	// DefaultOIDCClientID is the client tokens are issued to (azp) and
	// the key of their client roles (resource_access.<client>.roles).
	DefaultOIDCClientID = "taylordash"
	// DefaultOIDCAudience is the aud of minted tokens.
	DefaultOIDCAudience = "taylordash-api"
	// DefaultTokenSubject is the sub of a token minted without one.
	DefaultTokenSubject = "test-user"
	// DefaultTokenLifetime is how long a minted token is valid.
	DefaultTokenLifetime = 5 * time.Minute
)

// OIDCIssuer is an OpenID Connect issuer for one test, shaped like a
// Keycloak realm: its issuer is <URL>/realms/<realm>, it serves discovery
// at <issuer>/.well-known/openid-configuration and its JSON Web Key Set at
// <issuer>/protocol/openid-connect/certs, and [OIDCIssuer.Token] mints
// access tokens with Keycloak's claims. It runs on a free 127.0.0.1 port
// and is stopped when the test ends.
//
// It mints tokens directly instead of running login flows: it has no
// authorization, token or userinfo endpoint (discovery lists them, as
// Keycloak's does, and they answer 501).
//
// # Why not a library issuer
//
// It is built on go-jose (every key, JWK and signature) and
// net/http/httptest rather than on oauth2-proxy/mockoidc or zitadel/oidc,
// because neither does what these tests need. mockoidc's issuer path is a
// constant, /oidc (no /realms/<realm>); it has one RSA key pair (no ES256
// or EdDSA) and serves a key set of that one key, so it cannot keep an old
// key published during a rotation nor sign with a key not yet published;
// rotating means replacing its exported Keypair field while its handlers
// read it unlocked (a data race); and arbitrary claims are signed through
// golang-jwt, a second JWT library. zitadel/oidc's op package is a whole
// authorization server: it wants a Storage of some twenty methods
// (clients, auth requests, keys, userinfo), brings chi, securecookie and
// a newer golang.org/x/oauth2, and minting a token with arbitrary claims,
// an exp in the past or an unpublished key would still be go-jose's
// Signer, as its own crypto.Sign is. What is left here is two JSON
// documents.
//
// Its methods are safe for concurrent use. The exported fields are set at
// creation (see the OIDCOption functions) and must not change while
// tokens are minted.
type OIDCIssuer struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:41234.
	URL string
	// Realm is the realm name in the issuer's path.
	Realm string
	// ClientID is the azp of minted tokens and the key of their client
	// roles.
	ClientID string
	// Audience is the aud of minted tokens.
	Audience string
	// Algorithms are the signature algorithms the issuer has a key for,
	// the first the default of minted tokens: RS256 (RSA 2048), RS384,
	// RS512, PS256, PS384, PS512, ES256 (P-256), ES384 (P-384), ES512
	// (P-521) or EdDSA (Ed25519). Like a Keycloak realm with several key
	// providers, it signs with one active key per algorithm.
	Algorithms []string

	srv       *httptest.Server
	closeOnce sync.Once
	fetches   atomic.Int64

	mu        sync.Mutex
	signing   map[string]*issuerKey // by algorithm
	next      map[string]*issuerKey // made by TokenWithUnpublishedKey, published by the next rotation
	published []*issuerKey          // the JWKS, in order
}

type issuerKey struct {
	priv     jose.JSONWebKey
	pub      jose.JSONWebKey
	retireAt time.Time // when it leaves the JWKS; zero: at the next Rotate
}

// OIDCOption changes an [OIDCIssuer] made by [OIDC].
type OIDCOption func(*OIDCIssuer)

// OIDCRealm sets the realm name in the issuer's path (default
// "taylordash").
func OIDCRealm(realm string) OIDCOption { return func(o *OIDCIssuer) { o.Realm = realm } }

// OIDCClientID sets the client tokens are issued to (default
// "taylordash").
func OIDCClientID(id string) OIDCOption { return func(o *OIDCIssuer) { o.ClientID = id } }

// OIDCAudience sets the aud of minted tokens (default "taylordash-api").
func OIDCAudience(aud string) OIDCOption { return func(o *OIDCIssuer) { o.Audience = aud } }

// OIDCAlgorithms sets the algorithms the issuer has keys for, the first
// the default (default RS256 alone; see [OIDCIssuer.Algorithms]).
func OIDCAlgorithms(algs ...string) OIDCOption {
	return func(o *OIDCIssuer) { o.Algorithms = slices.Clone(algs) }
}

// OIDC starts an OpenID Connect issuer for the test, with one published
// signing key per algorithm (RS256 unless OIDCAlgorithms says otherwise),
// and stops it when the test ends.
//
//	iss := testkit.OIDC(t)
//	token := iss.Token(t, testkit.TokenClaims{Subject: "alice", RealmRoles: []string{"admin"}})
//	req.Header.Set("Authorization", "Bearer "+token)
//
// Rotate, RotateKeepOld and TokenWithUnpublishedKey change its keys;
// JWKSFetches tells how often its key set was read.
func OIDC(tb testing.TB, opts ...OIDCOption) *OIDCIssuer {
	tb.Helper()
	o := &OIDCIssuer{Realm: DefaultOIDCRealm, ClientID: DefaultOIDCClientID,
		Audience: DefaultOIDCAudience, Algorithms: []string{string(jose.RS256)},
		signing: map[string]*issuerKey{}, next: map[string]*issuerKey{}}
	for _, opt := range opts {
		opt(o)
	}
	if strings.ContainsAny(o.Realm, "/?#") || o.Realm == "" {
		tb.Fatalf("testkit: OIDC realm %q must be a non-empty path segment", o.Realm)
	}
	if len(o.Algorithms) == 0 {
		tb.Fatalf("testkit: OIDC needs at least one algorithm")
	}
	for _, alg := range o.Algorithms {
		k, err := newIssuerKey(jose.SignatureAlgorithm(alg))
		if err != nil {
			tb.Fatalf("testkit: OIDC: %v", err)
		}
		o.signing[alg] = k
		o.published = append(o.published, k)
	}

	mux := http.NewServeMux()
	base := "/realms/" + o.Realm
	mux.HandleFunc("GET "+base+"/.well-known/openid-configuration", o.serveDiscovery)
	mux.HandleFunc("GET "+base+"/protocol/openid-connect/certs", o.serveJWKS)
	mux.HandleFunc(base+"/protocol/openid-connect/", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "testkit.OIDC mints tokens with Token; it runs no login flow", http.StatusNotImplemented)
	})
	o.srv = httptest.NewServer(mux)
	o.URL = o.srv.URL
	tb.Cleanup(o.Close)
	return o
}

// Issuer returns the issuer identifier, the iss of its tokens:
// <URL>/realms/<Realm>.
func (o *OIDCIssuer) Issuer() string { return o.URL + "/realms/" + o.Realm }

// JWKSURL returns the URL of the issuer's JSON Web Key Set.
func (o *OIDCIssuer) JWKSURL() string { return o.Issuer() + "/protocol/openid-connect/certs" }

// Close stops the issuer before the test ends, e.g. to test a client
// whose issuer is down. It is called again when the test ends; later
// calls do nothing.
func (o *OIDCIssuer) Close() { o.closeOnce.Do(o.srv.Close) }

// JWKSFetches returns how many times the key set was served.
func (o *OIDCIssuer) JWKSFetches() int { return int(o.fetches.Load()) }

// KeyID returns the kid of the current signing key of the default
// algorithm.
func (o *OIDCIssuer) KeyID() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.signing[o.Algorithms[0]].pub.KeyID
}

// PublicKeyPEM returns the public key of the default algorithm's current
// signing key, PEM-encoded (PKIX, "PUBLIC KEY") as Keycloak's admin
// console shows it: the secret of the HS256 key-confusion attack.
func (o *OIDCIssuer) PublicKeyPEM() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	der, err := x509.MarshalPKIXPublicKey(o.signing[o.Algorithms[0]].pub.Key)
	if err != nil { // cannot happen: the key is one of ours
		panic(fmt.Sprintf("testkit: marshal public key: %v", err))
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// Rotate makes a new signing key with a new kid for every algorithm (the
// key of TokenWithUnpublishedKey, if one was made), publishes them and
// removes every other key from the key set. Tokens minted afterwards use
// the new keys; tokens signed before no longer verify once a client
// refetches the set.
func (o *OIDCIssuer) Rotate(tb testing.TB) {
	tb.Helper()
	o.rotate(tb, false, 0)
}

// RotateKeepOld is Rotate, except that the previous signing keys stay in
// the key set for grace (as Keycloak keys made passive), or until the
// next Rotate when grace is 0.
func (o *OIDCIssuer) RotateKeepOld(tb testing.TB, grace time.Duration) {
	tb.Helper()
	o.rotate(tb, true, grace)
}

func (o *OIDCIssuer) rotate(tb testing.TB, keepOld bool, grace time.Duration) {
	tb.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	var fresh []*issuerKey
	for _, alg := range o.Algorithms {
		k := o.next[alg]
		if k == nil {
			var err error
			if k, err = newIssuerKey(jose.SignatureAlgorithm(alg)); err != nil {
				tb.Fatalf("testkit: OIDC rotate: %v", err)
			}
		}
		delete(o.next, alg)
		if old := o.signing[alg]; keepOld && grace > 0 {
			old.retireAt = time.Now().Add(grace)
		}
		o.signing[alg] = k
		fresh = append(fresh, k)
	}
	if keepOld {
		// The old keys, and those kept by earlier RotateKeepOld calls.
		fresh = append(fresh, o.live(time.Now())...)
	}
	o.published = fresh
}

// live returns the published keys that are not retired. o.mu is held.
func (o *OIDCIssuer) live(now time.Time) []*issuerKey {
	var keys []*issuerKey
	for _, k := range o.published {
		if k.retireAt.IsZero() || now.Before(k.retireAt) {
			keys = append(keys, k)
		}
	}
	return keys
}

// TokenClaims describes a token for [OIDCIssuer.Token]. Every field is
// optional: the zero value mints a valid token for DefaultTokenSubject.
type TokenClaims struct {
	// Subject is sub (default DefaultTokenSubject).
	Subject string
	// Username is preferred_username (default Subject).
	Username string
	// Email is email (default Username@example.com).
	Email string
	// RealmRoles are realm_access.roles (omitted when empty).
	RealmRoles []string
	// ClientRoles are resource_access.<ClientID>.roles (omitted when
	// empty).
	ClientRoles []string
	// ResourceAccess adds other clients' roles to resource_access.
	ResourceAccess map[string][]string
	// Issuer is iss (default the issuer's).
	Issuer string
	// Audience is aud (default the issuer's Audience): a string when it
	// has one value, as Keycloak writes it. A non-nil empty slice omits
	// aud.
	Audience []string
	// AuthorizedParty is azp (default the issuer's ClientID).
	AuthorizedParty string
	// ExpiresIn sets exp to now plus ExpiresIn (default
	// DefaultTokenLifetime); negative for a token already expired.
	ExpiresIn time.Duration
	// ExpiresAt, if set, is exp, winning over ExpiresIn.
	ExpiresAt time.Time
	// IssuedAt is iat (default now).
	IssuedAt time.Time
	// NotBefore, if set, is nbf (Keycloak omits it).
	NotBefore time.Time
	// ID is jti (default random).
	ID string
	// Type is typ (default "Bearer"; Keycloak writes "ID" in ID tokens
	// and "Refresh" in refresh tokens).
	Type string
	// Scope is scope (default "openid profile email").
	Scope string
	// Extra claims are set last, replacing any above; a nil value
	// removes the claim.
	Extra map[string]any
	// Algorithm picks the signing key: one of the issuer's Algorithms
	// (default the first).
	Algorithm string
}

// Token mints an access token signed with the current signing key of
// c.Algorithm.
func (o *OIDCIssuer) Token(tb testing.TB, c TokenClaims) string {
	tb.Helper()
	alg := o.algorithm(tb, c)
	o.mu.Lock()
	k := o.signing[alg]
	o.mu.Unlock()
	return o.sign(tb, k, c)
}

func (o *OIDCIssuer) algorithm(tb testing.TB, c TokenClaims) string {
	tb.Helper()
	if c.Algorithm == "" {
		return o.Algorithms[0]
	}
	if !slices.Contains(o.Algorithms, c.Algorithm) {
		tb.Fatalf("testkit: OIDC issuer has no %s key; its algorithms are %v (see OIDCAlgorithms)", c.Algorithm, o.Algorithms)
	}
	return c.Algorithm
}

// TokenWithUnpublishedKey mints a token signed with a key the key set
// does not list yet: a new key, made on first use, which the next Rotate
// or RotateKeepOld publishes as the signing key. Until then clients
// refuse the token as signed by an unknown key.
func (o *OIDCIssuer) TokenWithUnpublishedKey(tb testing.TB, c TokenClaims) string {
	tb.Helper()
	alg := o.algorithm(tb, c)
	o.mu.Lock()
	k := o.next[alg]
	if k == nil {
		var err error
		if k, err = newIssuerKey(jose.SignatureAlgorithm(alg)); err != nil {
			o.mu.Unlock()
			tb.Fatalf("testkit: OIDC: %v", err)
		}
		o.next[alg] = k
	}
	o.mu.Unlock()
	return o.sign(tb, k, c)
}

// Claims returns the claims Token would mint for c, at now, as a map
// (numeric dates as Unix seconds).
func (o *OIDCIssuer) Claims(c TokenClaims, now time.Time) map[string]any {
	sub := oidcDefault(c.Subject, DefaultTokenSubject)
	user := oidcDefault(c.Username, sub)
	iat := c.IssuedAt
	if iat.IsZero() {
		iat = now
	}
	exp := c.ExpiresAt
	if exp.IsZero() {
		life := c.ExpiresIn
		if life == 0 {
			life = DefaultTokenLifetime
		}
		exp = now.Add(life)
	}
	jti := c.ID
	if jti == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		jti = base64.RawURLEncoding.EncodeToString(b[:])
	}
	m := map[string]any{
		"iss":                oidcDefault(c.Issuer, o.Issuer()),
		"sub":                sub,
		"azp":                oidcDefault(c.AuthorizedParty, o.ClientID),
		"exp":                exp.Unix(),
		"iat":                iat.Unix(),
		"jti":                jti,
		"typ":                oidcDefault(c.Type, "Bearer"),
		"preferred_username": user,
		"email":              oidcDefault(c.Email, user+"@example.com"),
		"email_verified":     true,
		"scope":              oidcDefault(c.Scope, "openid profile email"),
	}
	switch aud := c.Audience; {
	case aud == nil:
		m["aud"] = o.Audience
	case len(aud) == 1:
		m["aud"] = aud[0]
	case len(aud) > 1:
		m["aud"] = aud
	}
	if !c.NotBefore.IsZero() {
		m["nbf"] = c.NotBefore.Unix()
	}
	if len(c.RealmRoles) > 0 {
		m["realm_access"] = map[string]any{"roles": c.RealmRoles}
	}
	access := map[string]any{}
	for client, roles := range c.ResourceAccess {
		access[client] = map[string]any{"roles": roles}
	}
	if len(c.ClientRoles) > 0 {
		access[o.ClientID] = map[string]any{"roles": c.ClientRoles}
	}
	if len(access) > 0 {
		m["resource_access"] = access
	}
	for name, v := range c.Extra {
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
	}
	return m
}

func (o *OIDCIssuer) sign(tb testing.TB, k *issuerKey, c TokenClaims) string {
	tb.Helper()
	payload, err := json.Marshal(o.Claims(c, time.Now()))
	if err != nil {
		tb.Fatalf("testkit: OIDC token claims: %v", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.priv.Algorithm), Key: k.priv},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		tb.Fatalf("testkit: OIDC signer: %v", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		tb.Fatalf("testkit: OIDC sign: %v", err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		tb.Fatalf("testkit: OIDC serialize: %v", err)
	}
	return token
}

func (o *OIDCIssuer) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	iss := o.Issuer()
	ep := iss + "/protocol/openid-connect/"
	oidcWriteJSON(w, map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                ep + "auth",
		"token_endpoint":                        ep + "token",
		"userinfo_endpoint":                     ep + "userinfo",
		"end_session_endpoint":                  ep + "logout",
		"jwks_uri":                              o.JWKSURL(),
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token", "client_credentials"},
		"id_token_signing_alg_values_supported": o.Algorithms,
	})
}

func (o *OIDCIssuer) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	o.mu.Lock()
	live := o.live(time.Now())
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, len(live))}
	for i, k := range live {
		set.Keys[i] = k.pub
	}
	o.mu.Unlock()
	o.fetches.Add(1)
	w.Header().Set("Cache-Control", "no-cache")
	oidcWriteJSON(w, set)
}

func oidcWriteJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// newIssuerKey makes a key pair for alg, its kid the RFC 7638 thumbprint
// of the public key (Keycloak's kids are opaque strings too).
func newIssuerKey(alg jose.SignatureAlgorithm) (*issuerKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.ES384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case jose.ES512:
		priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("algorithm %q is not RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	pub := jose.JSONWebKey{Key: priv.Public(), Algorithm: string(alg), Use: "sig"}
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("thumbprint: %w", err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	return &issuerKey{
		priv: jose.JSONWebKey{Key: priv, KeyID: pub.KeyID, Algorithm: string(alg), Use: "sig"},
		pub:  pub,
	}, nil
}

func oidcDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
