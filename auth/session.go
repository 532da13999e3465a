package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The prefixes of the opaque tokens, so that none is taken for a JWT or
// for another kind, and each is easy to find in leaked text.
const (
	sessionTokenPrefix = "tds_"
	refreshTokenPrefix = "tdr_"
	csrfTokenPrefix    = "tdc_"
)

// ErrSessionNotFound is returned by a [SessionStore] for an unknown token.
var ErrSessionNotFound = errors.New("auth: session not found")

// The audit events of sessions renewed with refresh tokens (see
// authpg.Accounts.Refresh).
const (
	// AuditSessionRefreshed: a refresh token was exchanged for a new
	// session and a new refresh token.
	AuditSessionRefreshed = "session_refreshed"
	// AuditRefreshTokenReused: a refresh token that had already been
	// exchanged was presented again, taken as theft: every session and
	// refresh token of its family was revoked.
	AuditRefreshTokenReused = "refresh_token_reused"
	// AuditRefreshFailed: a refresh token was refused (unknown, expired,
	// revoked, its user deactivated).
	AuditRefreshFailed = "refresh_failed"
)

// NewSessionToken returns a new opaque session token ("tds_" and 256
// random bits) and the hash that is stored.
func NewSessionToken() (token string, hash []byte, err error) {
	return newOpaqueToken(sessionTokenPrefix, "session")
}

// NewRefreshToken returns a new opaque refresh token ("tdr_" and 256
// random bits) and the hash that is stored.
func NewRefreshToken() (token string, hash []byte, err error) {
	return newOpaqueToken(refreshTokenPrefix, "refresh")
}

// NewCSRFToken returns a new CSRF token ("tdc_" and 256 random bits) for a
// cookie login, and the hash that is stored (see [CookieAuthenticator]).
func NewCSRFToken() (token string, hash []byte, err error) {
	return newOpaqueToken(csrfTokenPrefix, "csrf")
}

func newOpaqueToken(prefix, kind string) (token string, hash []byte, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("auth: generate %s token: %w", kind, err)
	}
	token = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashSecret(token), nil
}

// IsRefreshToken reports whether s has the form of a refresh token.
func IsRefreshToken(s string) bool { return strings.HasPrefix(s, refreshTokenPrefix) }

// SessionRecord is a stored session with its user.
type SessionRecord struct {
	// ID is the session's id.
	ID string
	// UserID, Username and Role describe its user.
	UserID, Username, Role string
	// UserActive is false once the user is deactivated.
	UserActive bool
	// ExpiresAt is the absolute expiry.
	ExpiresAt time.Time
	// LastSeenAt is when the session was last used (to the minute).
	LastSeenAt time.Time
	// IdleTimeout ends a session unused for that long.
	IdleTimeout time.Duration
	// RevokedAt is when the session was revoked (logout, password change).
	RevokedAt *time.Time
	// RevokeReason says why.
	RevokeReason string
	// CSRFHash is the SHA-256 of the CSRF token of a session opened by a
	// cookie login; nil for a session whose token is sent as a bearer
	// token, which the [CookieAuthenticator] refuses.
	CSRFHash []byte
}

// SessionStore finds sessions for the [SessionAuthenticator].
// LookupSession returns ErrSessionNotFound for an unknown hash;
// TouchSession records use. Both must be safe for concurrent use.
type SessionStore interface {
	LookupSession(ctx context.Context, tokenHash []byte) (*SessionRecord, error)
	TouchSession(ctx context.Context, id string, at time.Time) error
}

// SessionAuthenticator authenticates local session tokens sent as
// "Authorization: Bearer tds_...". Every request reads the store, so a
// logout, a password change or a deactivation takes effect at once;
// last_seen_at is written at most once a minute per session.
type SessionAuthenticator struct {
	store SessionStore
	now   func() time.Time
}

// NewSessionAuthenticator returns an authenticator on store.
func NewSessionAuthenticator(store SessionStore) *SessionAuthenticator {
	return &SessionAuthenticator{store: store, now: time.Now}
}

// Name implements Authenticator.
func (a *SessionAuthenticator) Name() string { return "session" }

// touchEvery is how stale last_seen_at may get.
const touchEvery = time.Minute

// Authenticate implements Authenticator.
func (a *SessionAuthenticator) Authenticate(ctx context.Context, r *http.Request) (*Principal, error) {
	token, ok := BearerToken(r)
	if !ok || !strings.HasPrefix(token, sessionTokenPrefix) {
		return nil, ErrNoCredentials
	}
	rec, err := a.session(ctx, token)
	if err != nil {
		return nil, err
	}
	return rec.principal(MethodSession), nil
}

// principal returns the principal of a live session.
func (rec *SessionRecord) principal(m Method) *Principal {
	return &Principal{Subject: rec.UserID, Name: rec.Username, Kind: KindUser, Roles: []string{rec.Role},
		Method: m, SessionID: rec.ID, ExpiresAt: rec.ExpiresAt}
}

// session returns the live session of token, or the failure that refuses
// it; it records the session's use.
func (a *SessionAuthenticator) session(ctx context.Context, token string) (*SessionRecord, error) {
	rec, err := a.store.LookupSession(ctx, HashSecret(token))
	if errors.Is(err, ErrSessionNotFound) {
		return nil, Fail("unknown_session", errors.New("no such session"))
	}
	if err != nil {
		return nil, fmt.Errorf("auth: look up session: %w", err)
	}
	now := a.now()
	switch {
	case rec.RevokedAt != nil:
		reason := rec.RevokeReason
		if reason == "" {
			reason = "revoked"
		}
		return nil, Fail("session_revoked", fmt.Errorf("session %s of %s: %s", rec.ID, rec.Username, reason))
	case !rec.UserActive:
		return nil, Fail("user_inactive", fmt.Errorf("session %s: user %s is deactivated", rec.ID, rec.Username))
	case !now.Before(rec.ExpiresAt):
		return nil, Fail("session_expired", fmt.Errorf("session %s expired at %s", rec.ID, rec.ExpiresAt.Format(time.RFC3339)))
	case rec.IdleTimeout > 0 && now.Sub(rec.LastSeenAt) > rec.IdleTimeout:
		return nil, Fail("session_idle", fmt.Errorf("session %s unused since %s", rec.ID, rec.LastSeenAt.Format(time.RFC3339)))
	}
	if now.Sub(rec.LastSeenAt) >= touchEvery {
		if err := a.store.TouchSession(ctx, rec.ID, now); err != nil {
			return nil, fmt.Errorf("auth: touch session: %w", err)
		}
	}
	return rec, nil
}

// IsLocalSession reports whether p is a local user's session, whether its
// token came as a bearer token ([MethodSession]) or in the session cookie
// ([MethodCookie]).
func (p *Principal) IsLocalSession() bool {
	return p != nil && (p.Method == MethodSession || p.Method == MethodCookie)
}

// BearerToken returns the token of an "Authorization: Bearer" header.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	t := strings.TrimSpace(h[7:])
	return t, t != ""
}
