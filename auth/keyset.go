package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
)

// maxJWKSBytes bounds a JWKS response; Keycloak's are a few kilobytes.
const maxJWKSBytes = 1 << 20

// minRSABits is the smallest RSA key the key set uses.
const minRSABits = 2048

// keySet is the issuer's JSON Web Key Set, cached. It implements
// [oidc.KeySet] for the verifier, replacing go-oidc's RemoteKeySet, which
// refetches on every unknown kid with no floor and keeps keys the issuer
// has removed.
//
// The set is replaced whole by every fetch: a key the issuer removes stops
// verifying at the next fetch (the background refresh, or a fetch for an
// unknown kid). A token with a kid the set lacks triggers a fetch, at most
// once per minRefresh: concurrent misses wait for the same fetch, later
// ones within the floor are refused without one, so random kids cannot
// make us hammer the issuer. Keys that cannot verify an allowed algorithm,
// encryption keys, symmetric or private keys, and RSA keys under 2048 bits
// are left out of the set.
type keySet struct {
	url        string
	client     *http.Client
	algs       []jose.SignatureAlgorithm // the allow-list, for go-jose
	allowed    map[string]bool
	timeout    time.Duration
	minRefresh time.Duration
	log        *slog.Logger
	now        func() time.Time

	keys atomic.Pointer[keyMap]

	// fetchMu serializes fetches, so that a slow one cannot replace the
	// set a later one stored.
	fetchMu sync.Mutex
	// sem serializes the unknown-kid path (a channel, so that a waiting
	// request can give up when its context ends) and guards lastMiss.
	sem      chan struct{}
	lastMiss time.Time // when an unknown kid last caused a fetch
}

var _ oidc.KeySet = (*keySet)(nil)

// keyMap is one fetched key set; it is never modified.
type keyMap struct {
	byKID   map[string][]*publicKey
	all     []*publicKey
	skipped []string // the keys of the document left out, and why
}

// publicKey is one verification key. A key that stays in the issuer's
// set keeps its *publicKey across fetches, so the verified-token cache can
// tell whether the key that signed a token is still published.
type publicKey struct {
	kid   string
	alg   string // the JWK's alg, "" when it has none
	key   any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	thumb string // RFC 7638 thumbprint
}

func newKeySet(url string, client *http.Client, algs []string, timeout, minRefresh time.Duration,
	log *slog.Logger, now func() time.Time) *keySet {
	k := &keySet{url: url, client: client, allowed: make(map[string]bool, len(algs)),
		timeout: timeout, minRefresh: minRefresh, log: log, now: now, sem: make(chan struct{}, 1)}
	for _, a := range algs {
		k.algs = append(k.algs, jose.SignatureAlgorithm(a))
		k.allowed[a] = true
	}
	k.keys.Store(&keyMap{byKID: map[string][]*publicKey{}})
	return k
}

// contains reports whether p is in the set.
func (m *keyMap) contains(p *publicKey) bool {
	return slices.Contains(m.byKID[p.kid], p)
}

// kids returns the set's key ids, for messages.
func (m *keyMap) kids() []string {
	ids := make([]string, 0, len(m.all))
	for _, p := range m.all {
		ids = append(ids, p.kid)
	}
	return ids
}

// verifyProbe carries what VerifySignature learnt back to the
// authenticator through go-oidc, whose errors are flattened to text.
type verifyProbe struct {
	key     *publicKey // the key that verified the signature
	payload []byte     // the verified payload
	err     error      // a *Failure, when the signature was refused
}

type probeKey struct{}

// VerifySignature implements oidc.KeySet: it verifies the compact JWS
// jwt with the key its header names and returns the payload. It refuses
// an algorithm outside the allow-list before looking at any key.
func (k *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	probe, _ := ctx.Value(probeKey{}).(*verifyProbe)
	if probe == nil {
		probe = &verifyProbe{}
	}
	payload, key, err := k.verify(ctx, jwt)
	if err != nil {
		probe.err = err
		return nil, err
	}
	probe.key, probe.payload = key, payload
	return payload, nil
}

func (k *keySet) verify(ctx context.Context, jwt string) ([]byte, *publicKey, error) {
	jws, err := jose.ParseSignedCompact(jwt, k.algs)
	if err != nil {
		var unexpected *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &unexpected) {
			return nil, nil, Fail("alg_not_allowed", err)
		}
		return nil, nil, Fail("malformed", fmt.Errorf("parse jws: %w", err))
	}
	h := jws.Signatures[0].Header
	cands, err := k.lookup(ctx, h.KeyID, h.Algorithm)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range cands {
		payload, verr := jws.Verify(p.key)
		if verr == nil {
			return payload, p, nil
		}
		err = verr
	}
	return nil, nil, Fail("bad_signature", fmt.Errorf("kid %q, %s: %w", h.KeyID, h.Algorithm, err))
}

// lookup returns the keys that may have signed a token with kid and alg,
// fetching the set again (at most once per minRefresh) when it has none.
func (k *keySet) lookup(ctx context.Context, kid, alg string) ([]*publicKey, error) {
	cands, known := k.keys.Load().candidates(kid, alg)
	if len(cands) > 0 {
		return cands, nil
	}
	if known {
		return nil, Fail("bad_signature", fmt.Errorf("key %q cannot verify %s", kid, alg))
	}
	ferr := k.refreshForMiss(ctx)
	m := k.keys.Load()
	if cands, known = m.candidates(kid, alg); len(cands) > 0 {
		return cands, nil
	}
	if known {
		return nil, Fail("bad_signature", fmt.Errorf("key %q cannot verify %s", kid, alg))
	}
	err := fmt.Errorf("no %s key %q in the issuer's key set (it has %s)", alg, kid, strings.Join(m.kids(), ", "))
	if ferr != nil {
		err = fmt.Errorf("%w; not refetched: %w", err, ferr)
	}
	return nil, Fail("unknown_key", err)
}

// candidates returns the keys of kid (every key when kid is "") that can
// verify alg, and whether kid names a key at all.
func (m *keyMap) candidates(kid, alg string) (cands []*publicKey, known bool) {
	keys := m.all
	if kid != "" {
		keys = m.byKID[kid]
		known = len(keys) > 0
	}
	for _, p := range keys {
		if p.canVerify(alg) {
			cands = append(cands, p)
		}
	}
	return cands, known
}

// rateLimitedError says an unknown kid did not cause a fetch.
type rateLimitedError struct{ since, floor time.Duration }

func (e *rateLimitedError) Error() string {
	return fmt.Sprintf("an unknown kid caused a fetch %s ago, less than JWKSMinRefreshInterval (%s)",
		e.since.Round(time.Millisecond), e.floor)
}

// refreshForMiss fetches the set for an unknown kid, unless one was
// fetched for that reason less than minRefresh ago. Concurrent callers
// share one fetch: the first fetches, the others wait for it and then
// find the floor not yet passed.
func (k *keySet) refreshForMiss(ctx context.Context) error {
	select {
	case k.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-k.sem }()
	now := k.now()
	if since := now.Sub(k.lastMiss); !k.lastMiss.IsZero() && since < k.minRefresh {
		return &rateLimitedError{since: since, floor: k.minRefresh}
	}
	k.lastMiss = now
	// Other requests wait for this fetch: the client that triggered it
	// going away must not cancel it.
	err := k.refresh(context.WithoutCancel(ctx))
	if err != nil {
		k.log.WarnContext(ctx, "auth: refetch jwks for an unknown kid", "url", k.url, "err", err)
	}
	return err
}

// refresh fetches the set and replaces the cached one. On error the
// cached set stays.
func (k *keySet) refresh(ctx context.Context) error {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return fmt.Errorf("fetch jwks %s: %w", k.url, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch jwks: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return fmt.Errorf("fetch jwks %s: %w", k.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch jwks %s: %s", k.url, resp.Status)
	}
	if len(body) > maxJWKSBytes {
		return fmt.Errorf("fetch jwks %s: larger than %d bytes", k.url, maxJWKSBytes)
	}
	old := k.keys.Load()
	next, err := k.parse(body, old)
	if err != nil {
		return fmt.Errorf("parse jwks %s: %w", k.url, err)
	}
	k.keys.Store(next)
	if added, removed := diffKIDs(old, next); len(old.all) > 0 && len(added)+len(removed) > 0 {
		k.log.InfoContext(ctx, "auth: jwks keys changed", "url", k.url, "added", added, "removed", removed,
			"left_out", next.skipped)
	}
	if len(next.all) == 0 {
		k.log.WarnContext(ctx, "auth: the issuer's key set has no key for the allowed algorithms; every token is refused",
			"url", k.url, "algorithms", k.algs, "left_out", next.skipped)
	}
	return nil
}

// parse reads a JWKS document, keeping the keys that can verify an
// allowed algorithm (reusing old's *publicKey for a key that did not
// change) and describing the others in skipped.
func (k *keySet) parse(body []byte, old *keyMap) (*keyMap, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	if doc.Keys == nil {
		return nil, errors.New(`no "keys" member`)
	}
	m := &keyMap{byKID: make(map[string][]*publicKey, len(doc.Keys))}
	for _, raw := range doc.Keys {
		p, why := k.parseKey(raw)
		if p == nil {
			m.skipped = append(m.skipped, why)
			continue
		}
		for _, q := range old.byKID[p.kid] {
			if q.thumb == p.thumb && q.alg == p.alg {
				p = q
				break
			}
		}
		m.byKID[p.kid] = append(m.byKID[p.kid], p)
		m.all = append(m.all, p)
	}
	return m, nil
}

// parseKey returns the verification key of one JWK, or nil and why it
// was left out.
func (k *keySet) parseKey(raw json.RawMessage) (*publicKey, string) {
	var meta struct {
		Kid string   `json:"kid"`
		Kty string   `json:"kty"`
		Use string   `json:"use"`
		Alg string   `json:"alg"`
		Ops []string `json:"key_ops"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Sprintf("unreadable key: %v", err)
	}
	name := fmt.Sprintf("kid %q (%s %s)", meta.Kid, meta.Kty, meta.Alg)
	switch {
	case meta.Use != "" && meta.Use != "sig":
		return nil, name + ": use " + meta.Use
	case len(meta.Ops) > 0 && !slices.Contains(meta.Ops, "verify"):
		return nil, name + ": key_ops without verify"
	case meta.Alg != "" && !k.allowed[meta.Alg]:
		return nil, name + ": algorithm not allowed"
	case meta.Kty != "RSA" && meta.Kty != "EC" && meta.Kty != "OKP":
		return nil, name + ": not an asymmetric key type"
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Sprintf("%s: %v", name, err)
	}
	if !jwk.IsPublic() {
		return nil, name + ": holds private key material"
	}
	p := &publicKey{kid: meta.Kid, alg: meta.Alg}
	switch key := jwk.Key.(type) {
	case *rsa.PublicKey:
		if key.N.BitLen() < minRSABits {
			return nil, fmt.Sprintf("%s: RSA key of %d bits, under %d", name, key.N.BitLen(), minRSABits)
		}
		p.key = key
	case *ecdsa.PublicKey:
		p.key = key
	case ed25519.PublicKey:
		p.key = key
	default:
		return nil, fmt.Sprintf("%s: unsupported key %T", name, jwk.Key)
	}
	if !slices.ContainsFunc(k.algs, func(a jose.SignatureAlgorithm) bool { return p.canVerify(string(a)) }) {
		return nil, name + ": no allowed algorithm for this key"
	}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Sprintf("%s: thumbprint: %v", name, err)
	}
	p.thumb = base64.RawURLEncoding.EncodeToString(thumb)
	return p, ""
}

// canVerify reports whether p can verify a signature made with alg.
func (p *publicKey) canVerify(alg string) bool {
	if p.alg != "" && p.alg != alg {
		return false
	}
	switch key := p.key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return key.Curve == elliptic.P256()
		case "ES384":
			return key.Curve == elliptic.P384()
		case "ES512":
			return key.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

func diffKIDs(old, next *keyMap) (added, removed []string) {
	for _, p := range next.all {
		if !old.contains(p) {
			added = append(added, p.kid)
		}
	}
	for _, p := range old.all {
		if !next.contains(p) {
			removed = append(removed, p.kid)
		}
	}
	return added, removed
}
