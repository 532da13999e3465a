package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/taylordash/taylordash/dashcore"
)

// APIKeyHeader is the header that carries an API key.
const APIKeyHeader = "X-API-Key"

// apiKeyIDLen is the length of a key's public id.
const apiKeyIDLen = 12

// ErrKeyNotFound is returned by an [APIKeyStore] for an unknown key id.
var ErrKeyNotFound = errors.New("auth: api key not found")

// APIKey is a generated API key: the whole secret is shown to its owner
// once and stored only as its SHA-256 ([HashSecret]).
type APIKey struct {
	// ID is the public part, 12 lowercase letters and digits; it appears
	// in the key and in logs.
	ID string
	// Secret is the whole key, td_<id>_<secret>.
	Secret string
	// SecretHash is the SHA-256 of Secret, the only part stored.
	SecretHash []byte
}

// NewAPIKey generates a key: a 12-character id and 256 random bits.
// SHA-256 suffices to store it (unlike a password, it cannot be guessed).
func NewAPIKey() (APIKey, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var idb [apiKeyIDLen]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return APIKey{}, fmt.Errorf("auth: generate key id: %w", err)
	}
	for i, b := range idb {
		idb[i] = alphabet[int(b)%len(alphabet)]
	}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return APIKey{}, fmt.Errorf("auth: generate key secret: %w", err)
	}
	k := APIKey{ID: string(idb[:])}
	k.Secret = "td_" + k.ID + "_" + base64.RawURLEncoding.EncodeToString(secret[:])
	k.SecretHash = HashSecret(k.Secret)
	return k, nil
}

// ParseAPIKey returns the id of a key in the td_<id>_<secret> form.
func ParseAPIKey(key string) (id string, ok bool) {
	rest, found := strings.CutPrefix(key, "td_")
	if !found || len(rest) < apiKeyIDLen+2 || rest[apiKeyIDLen] != '_' {
		return "", false
	}
	id = rest[:apiKeyIDLen]
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return "", false
		}
	}
	return id, true
}

// HashSecret returns the SHA-256 of a credential, as stored.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// APIKeyRecord is a stored API key.
type APIKeyRecord struct {
	// ID is the key's public id.
	ID string `json:"id"`
	// Name describes the key ("ci deploy").
	Name string `json:"name"`
	// SecretHash is the SHA-256 of the whole key.
	SecretHash []byte `json:"-"`
	// Roles are the key's roles.
	Roles []string `json:"roles"`
	// Permissions, if any, limit the key to them.
	Permissions []Permission `json:"permissions"`
	// CreatedAt is when the key was made.
	CreatedAt time.Time `json:"created_at"`
	// CreatedBy names who made it.
	CreatedBy string `json:"created_by,omitempty"`
	// ExpiresAt is when it stops working; nil for never.
	ExpiresAt *time.Time `json:"expires_at"`
	// RevokedAt is when it was revoked; nil if it was not.
	RevokedAt *time.Time `json:"revoked_at"`
	// LastUsedAt is when it was last used (recorded in batches).
	LastUsedAt *time.Time `json:"last_used_at"`
}

// APIKeyStore finds stored keys for the [APIKeyAuthenticator].
// LookupAPIKey returns ErrKeyNotFound for an unknown id. TouchAPIKeys
// records when keys were last used; it is called in batches. Both must be
// safe for concurrent use.
type APIKeyStore interface {
	LookupAPIKey(ctx context.Context, id string) (*APIKeyRecord, error)
	TouchAPIKeys(ctx context.Context, used map[string]time.Time) error
}

// APIKeyConfig configures API-key authentication.
type APIKeyConfig struct {
	// CacheTTL is how long a looked-up key is trusted without reading the
	// store again. A key revoked on this instance stops at once; on
	// another instance, within CacheTTL. Default 5s; a negative duration
	// (-1s) disables the cache.
	CacheTTL time.Duration `env:"CACHE_TTL"`
	// TouchInterval is how often last_used_at is written, for every key
	// used since. Default 30s.
	TouchInterval time.Duration `env:"TOUCH_INTERVAL"`
	// BootstrapKey, if set, is accepted as a key of BootstrapRoles: for
	// compatibility with the original's single X-API-Key and to make the
	// first keys. At least 16 characters. Compared in constant time. (The
	// module sets it from Config.BootstrapAPIKey, TAYLORDASH_API_KEY.)
	BootstrapKey string
	// BootstrapRoles are the bootstrap key's roles. Default admin.
	BootstrapRoles []string `env:"BOOTSTRAP_ROLES"`
}

// WithDefaults returns c with zero fields set to their defaults.
func (c APIKeyConfig) WithDefaults() APIKeyConfig {
	if c.CacheTTL == 0 {
		c.CacheTTL = 5 * time.Second
	}
	if c.TouchInterval == 0 {
		c.TouchInterval = 30 * time.Second
	}
	if len(c.BootstrapRoles) == 0 {
		c.BootstrapRoles = []string{"admin"}
	}
	return c
}

// Validate reports a configuration that cannot work.
func (c APIKeyConfig) Validate() error {
	var errs []error
	if c.BootstrapKey != "" && len(c.BootstrapKey) < 16 {
		errs = append(errs, &dashcore.FieldError{Field: "BootstrapKey", Problem: "must be at least 16 characters; generate one with `openssl rand -hex 24`"})
	}
	if c.TouchInterval <= 0 {
		errs = append(errs, &dashcore.FieldError{Field: "TouchInterval", Problem: "must be positive, such as 30s"})
	}
	return errors.Join(errs...)
}

// APIKeyAuthenticator authenticates X-API-Key. Keys are looked up by
// their public id, the secret compared by hash in constant time; a
// revoked or expired key is refused with its reason. Start and Stop run
// the loop that records last_used_at.
type APIKeyAuthenticator struct {
	store     APIKeyStore
	cfg       APIKeyConfig
	log       *slog.Logger
	bootstrap []byte // SHA-256 of the bootstrap key, nil if none
	now       func() time.Time

	mu    sync.Mutex
	cache map[string]cachedKey
	used  map[string]time.Time

	stop chan struct{}
	done chan struct{}
}

type cachedKey struct {
	rec *APIKeyRecord
	at  time.Time
}

// NewAPIKeyAuthenticator returns an authenticator on store (which may be
// nil when only the bootstrap key is in use).
func NewAPIKeyAuthenticator(store APIKeyStore, cfg APIKeyConfig, log *slog.Logger) *APIKeyAuthenticator {
	cfg = cfg.WithDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &APIKeyAuthenticator{store: store, cfg: cfg, log: log, now: time.Now,
		cache: map[string]cachedKey{}, used: map[string]time.Time{}}
	if cfg.BootstrapKey != "" {
		a.bootstrap = HashSecret(cfg.BootstrapKey)
	}
	return a
}

// Name implements Authenticator.
func (a *APIKeyAuthenticator) Name() string { return "api_key" }

// Authenticate implements Authenticator.
func (a *APIKeyAuthenticator) Authenticate(ctx context.Context, r *http.Request) (*Principal, error) {
	key := r.Header.Get(APIKeyHeader)
	if key == "" {
		return nil, ErrNoCredentials
	}
	sum := HashSecret(key)
	if a.bootstrap != nil && subtle.ConstantTimeCompare(sum, a.bootstrap) == 1 {
		return &Principal{Subject: "bootstrap", Name: "bootstrap key", Kind: KindService,
			Roles: a.cfg.BootstrapRoles, Method: MethodBootstrapKey}, nil
	}
	id, ok := ParseAPIKey(key)
	if !ok || a.store == nil {
		return nil, Fail("unknown_key", errors.New("the API key is not in the td_<id>_<secret> form"))
	}
	rec, err := a.lookup(ctx, id)
	if errors.Is(err, ErrKeyNotFound) {
		return nil, Fail("unknown_key", fmt.Errorf("key %s", id))
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(sum, rec.SecretHash) != 1 {
		return nil, Fail("bad_secret", fmt.Errorf("key %s", id))
	}
	now := a.now()
	if rec.RevokedAt != nil {
		return nil, Fail("revoked", fmt.Errorf("key %s revoked at %s", id, rec.RevokedAt.Format(time.RFC3339)))
	}
	if rec.ExpiresAt != nil && !now.Before(*rec.ExpiresAt) {
		return nil, Fail("expired", fmt.Errorf("key %s expired at %s", id, rec.ExpiresAt.Format(time.RFC3339)))
	}
	a.mu.Lock()
	a.used[id] = now
	a.mu.Unlock()
	p := &Principal{Subject: "key:" + rec.ID, Name: rec.Name, Kind: KindService, Roles: rec.Roles,
		Permissions: rec.Permissions, Method: MethodAPIKey, SessionID: rec.ID}
	if rec.ExpiresAt != nil {
		p.ExpiresAt = *rec.ExpiresAt
	}
	return p, nil
}

// lookup returns the key, from the cache while it is fresh.
func (a *APIKeyAuthenticator) lookup(ctx context.Context, id string) (*APIKeyRecord, error) {
	if a.cfg.CacheTTL > 0 {
		a.mu.Lock()
		c, ok := a.cache[id]
		a.mu.Unlock()
		if ok && a.now().Sub(c.at) < a.cfg.CacheTTL {
			return c.rec, nil
		}
	}
	rec, err := a.store.LookupAPIKey(ctx, id)
	if err != nil {
		if errors.Is(err, ErrKeyNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("auth: look up api key %s: %w", id, err)
	}
	if a.cfg.CacheTTL > 0 {
		a.mu.Lock()
		if len(a.cache) >= 10000 {
			clear(a.cache)
		}
		a.cache[id] = cachedKey{rec: rec, at: a.now()}
		a.mu.Unlock()
	}
	return rec, nil
}

// Invalidate drops a key from the cache (after it was revoked or changed).
func (a *APIKeyAuthenticator) Invalidate(id string) {
	a.mu.Lock()
	delete(a.cache, id)
	a.mu.Unlock()
}

// Start starts recording last_used_at every TouchInterval.
func (a *APIKeyAuthenticator) Start(context.Context) error {
	if a.store == nil || a.stop != nil {
		return nil
	}
	a.stop, a.done = make(chan struct{}), make(chan struct{})
	go a.touchLoop()
	return nil
}

// Stop stops the loop, writing what it has not written yet. It tolerates
// a second call.
func (a *APIKeyAuthenticator) Stop(ctx context.Context) error {
	if a.stop == nil {
		return nil
	}
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	select {
	case <-a.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return a.flush(ctx)
}

func (a *APIKeyAuthenticator) touchLoop() {
	defer close(a.done)
	t := time.NewTicker(a.cfg.TouchInterval)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := a.flush(ctx); err != nil {
				a.log.Warn("auth: record api key use", "err", err)
			}
			cancel()
		}
	}
}

// flush writes the keys used since the last flush.
func (a *APIKeyAuthenticator) flush(ctx context.Context) error {
	a.mu.Lock()
	used := a.used
	a.used = map[string]time.Time{}
	a.mu.Unlock()
	if len(used) == 0 {
		return nil
	}
	if err := a.store.TouchAPIKeys(ctx, used); err != nil {
		a.mu.Lock()
		for id, at := range used {
			if prev, ok := a.used[id]; !ok || prev.Before(at) {
				a.used[id] = at
			}
		}
		a.mu.Unlock()
		return fmt.Errorf("auth: touch api keys: %w", err)
	}
	return nil
}

// ParsePermissions reads "resource:action" strings.
func ParsePermissions(ss []string) ([]Permission, error) {
	out := make([]Permission, 0, len(ss))
	for _, s := range ss {
		res, act, ok := strings.Cut(s, ":")
		if !ok || res == "" || act == "" || strings.ContainsAny(s, " ,\t\n") || strings.Count(s, ":") != 1 {
			return nil, fmt.Errorf("permission %q is not in the resource:action form (e.g. projects:read)", s)
		}
		out = append(out, Permission{Resource: res, Action: act})
	}
	return out, nil
}
