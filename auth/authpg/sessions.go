package authpg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/store"
)

// Sessions stores local sessions in auth_sessions, and their refresh
// tokens in auth_refresh_tokens (by family, auth_refresh_families), each
// token as its SHA-256 only. It implements auth.SessionStore.
type Sessions struct {
	db *store.DB
}

var _ auth.SessionStore = (*Sessions)(nil)

// NewSessions returns the session store on db.
func NewSessions(db *store.DB) *Sessions { return &Sessions{db: db} }

// LookupSession implements auth.SessionStore: the session, its user and,
// for a cookie login, its family's CSRF token hash, in one query.
func (s *Sessions) LookupSession(ctx context.Context, tokenHash []byte) (*auth.SessionRecord, error) {
	var r auth.SessionRecord
	var idle time.Duration
	err := s.db.QueryRow(ctx, `
		SELECT s.id::text, u.id::text, u.username, u.role, u.is_active, s.expires_at, s.last_seen_at,
		       s.idle_timeout, s.revoked_at, coalesce(s.revoke_reason, ''), f.csrf_hash
		FROM auth_sessions s JOIN auth_users u ON u.id = s.user_id
		LEFT JOIN auth_refresh_families f ON f.id = s.family_id
		WHERE s.token_hash = $1`, tokenHash).Scan(&r.ID, &r.UserID, &r.Username, &r.Role, &r.UserActive,
		&r.ExpiresAt, &r.LastSeenAt, &idle, &r.RevokedAt, &r.RevokeReason, &r.CSRFHash)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, auth.ErrSessionNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("authpg: look up session: %w", store.MapError(err))
	}
	r.IdleTimeout = idle
	return &r, nil
}

// TouchSession implements auth.SessionStore.
func (s *Sessions) TouchSession(ctx context.Context, id string, at time.Time) error {
	if _, err := s.db.Exec(ctx, `UPDATE auth_sessions SET last_seen_at = greatest(last_seen_at, $2) WHERE id = $1`, id, at); err != nil {
		return fmt.Errorf("authpg: touch session: %w", store.MapError(err))
	}
	return nil
}

// newSession is a session to create.
type newSession struct {
	userID     string
	ttl, idle  time.Duration
	rememberMe bool
	ip, agent  string
	// familyID is the login's refresh family; the session ends with it
	// at the latest (notAfter).
	familyID string
	notAfter time.Time
}

// createSession stores a session and returns its id, token and expiry:
// now plus its lifetime, but never after its family's end.
func createSession(ctx context.Context, q store.Querier, ns newSession) (id, token string, expires time.Time, err error) {
	token, hash, err := auth.NewSessionToken()
	if err != nil {
		return "", "", time.Time{}, err
	}
	err = q.QueryRow(ctx, `
		INSERT INTO auth_sessions (user_id, token_hash, expires_at, idle_timeout, remember_me, ip_address, user_agent, family_id)
		VALUES ($1, $2, least(now() + $3::interval, $8::timestamptz), $4::interval, $5, NULLIF($6, ''), NULLIF($7, ''), $9::uuid)
		RETURNING id::text, expires_at`, ns.userID, hash, ns.ttl, ns.idle, ns.rememberMe, ns.ip, truncate(ns.agent, 512),
		ns.notAfter, ns.familyID).Scan(&id, &expires)
	if err != nil {
		return "", "", time.Time{}, fmt.Errorf("authpg: create session: %w", store.MapError(err))
	}
	return id, token, expires, nil
}

// newFamily is a refresh family to create, at a login.
type newFamily struct {
	userID     string
	ttl        time.Duration
	rememberMe bool
	// csrfHash is the CSRF token's hash of a cookie login; nil otherwise.
	csrfHash []byte
}

// createFamily stores a refresh family and returns its id and end.
func createFamily(ctx context.Context, q store.Querier, nf newFamily) (id string, expires time.Time, err error) {
	err = q.QueryRow(ctx, `
		INSERT INTO auth_refresh_families (user_id, remember_me, csrf_hash, expires_at)
		VALUES ($1, $2, $3, now() + $4::interval) RETURNING id::text, expires_at`,
		nf.userID, nf.rememberMe, nf.csrfHash, nf.ttl).Scan(&id, &expires)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("authpg: create refresh family: %w", store.MapError(err))
	}
	return id, expires, nil
}

// createRefreshToken stores a new refresh token of a family, issued with
// a session, and returns it.
func createRefreshToken(ctx context.Context, q store.Querier, familyID, sessionID string) (string, error) {
	token, hash, err := auth.NewRefreshToken()
	if err != nil {
		return "", err
	}
	if _, err := q.Exec(ctx, `INSERT INTO auth_refresh_tokens (family_id, session_id, token_hash) VALUES ($1, $2, $3)`,
		familyID, sessionID, hash); err != nil {
		return "", fmt.Errorf("authpg: create refresh token: %w", store.MapError(err))
	}
	return token, nil
}

// revokeUserSessions revokes every live session and refresh family of a
// user. The families first: their rows are what a refresh locks, so the
// update waits for a refresh under way, and the next statement sees the
// session it created.
func revokeUserSessions(ctx context.Context, q store.Querier, userID, reason string) (int64, error) {
	if _, err := q.Exec(ctx, `UPDATE auth_refresh_families SET revoked_at = now(), revoke_reason = $2
		WHERE user_id = $1 AND revoked_at IS NULL`, userID, reason); err != nil {
		return 0, fmt.Errorf("authpg: revoke refresh tokens: %w", store.MapError(err))
	}
	tag, err := q.Exec(ctx, `UPDATE auth_sessions SET revoked_at = now(), revoke_reason = $2
		WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()`, userID, reason)
	if err != nil {
		return 0, fmt.Errorf("authpg: revoke sessions: %w", store.MapError(err))
	}
	return tag.RowsAffected(), nil
}

// revokeFamily revokes a refresh family and every session of it, and
// returns how many sessions were live. The caller holds the family's row
// lock, or this update takes it first.
func revokeFamily(ctx context.Context, q store.Querier, familyID, reason string) (int64, error) {
	if _, err := q.Exec(ctx, `UPDATE auth_refresh_families SET revoked_at = now(), revoke_reason = $2
		WHERE id = $1 AND revoked_at IS NULL`, familyID, reason); err != nil {
		return 0, fmt.Errorf("authpg: revoke refresh family: %w", store.MapError(err))
	}
	tag, err := q.Exec(ctx, `UPDATE auth_sessions SET revoked_at = now(), revoke_reason = $2
		WHERE family_id = $1 AND revoked_at IS NULL AND expires_at > now()`, familyID, reason)
	if err != nil {
		return 0, fmt.Errorf("authpg: revoke sessions of a refresh family: %w", store.MapError(err))
	}
	return tag.RowsAffected(), nil
}

// Revoke revokes one session (logout) and its refresh family: the
// session's refresh token (and any session refreshed from it) stops
// working too. It reports whether the session was live.
func (s *Sessions) Revoke(ctx context.Context, id, reason string) (bool, error) {
	live := false
	err := store.Tx(ctx, s.db, func(tx pgx.Tx) error {
		var family *string
		err := tx.QueryRow(ctx, `SELECT family_id::text FROM auth_sessions WHERE id = $1`, id).Scan(&family)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("authpg: revoke session: %w", store.MapError(err))
		}
		// The family first, as a refresh does: this waits for a refresh
		// under way, and what follows sees the session it created.
		if family != nil {
			if _, err := tx.Exec(ctx, `UPDATE auth_refresh_families SET revoked_at = now(), revoke_reason = $2
				WHERE id = $1 AND revoked_at IS NULL`, *family, reason); err != nil {
				return fmt.Errorf("authpg: revoke refresh family: %w", store.MapError(err))
			}
		}
		tag, err := tx.Exec(ctx, `UPDATE auth_sessions SET revoked_at = now(), revoke_reason = $2
			WHERE id = $1 AND revoked_at IS NULL`, id, reason)
		if err != nil {
			return fmt.Errorf("authpg: revoke session: %w", store.MapError(err))
		}
		live = tag.RowsAffected() == 1
		if family != nil {
			if _, err := tx.Exec(ctx, `UPDATE auth_sessions SET revoked_at = now(), revoke_reason = $2
				WHERE family_id = $1 AND revoked_at IS NULL AND expires_at > now()`, *family, reason); err != nil {
				return fmt.Errorf("authpg: revoke sessions of a refresh family: %w", store.MapError(err))
			}
		}
		return nil
	})
	return live, err
}

// Cleanup deletes sessions that ended (expired or revoked) more than
// keep ago, and refresh families (with their tokens, rotated ones
// included) that ended more than keep ago; it returns how many sessions
// went.
func (s *Sessions) Cleanup(ctx context.Context, keep time.Duration) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM auth_sessions
		WHERE least(expires_at, coalesce(revoked_at, 'infinity'), last_seen_at + idle_timeout) < now() - $1::interval`, keep)
	if err != nil {
		return 0, fmt.Errorf("authpg: clean up sessions: %w", store.MapError(err))
	}
	if _, err := s.db.Exec(ctx, `DELETE FROM auth_refresh_families
		WHERE least(expires_at, coalesce(revoked_at, 'infinity')) < now() - $1::interval`, keep); err != nil {
		return tag.RowsAffected(), fmt.Errorf("authpg: clean up refresh tokens: %w", store.MapError(err))
	}
	return tag.RowsAffected(), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
