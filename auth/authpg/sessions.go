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

// Sessions stores local sessions in auth_sessions, each token as its
// SHA-256 only. It implements auth.SessionStore.
type Sessions struct {
	db *store.DB
}

var _ auth.SessionStore = (*Sessions)(nil)

// NewSessions returns the session store on db.
func NewSessions(db *store.DB) *Sessions { return &Sessions{db: db} }

// LookupSession implements auth.SessionStore: the session and its user,
// in one query.
func (s *Sessions) LookupSession(ctx context.Context, tokenHash []byte) (*auth.SessionRecord, error) {
	var r auth.SessionRecord
	var idle time.Duration
	err := s.db.QueryRow(ctx, `
		SELECT s.id::text, u.id::text, u.username, u.role, u.is_active, s.expires_at, s.last_seen_at,
		       s.idle_timeout, s.revoked_at, coalesce(s.revoke_reason, '')
		FROM auth_sessions s JOIN auth_users u ON u.id = s.user_id
		WHERE s.token_hash = $1`, tokenHash).Scan(&r.ID, &r.UserID, &r.Username, &r.Role, &r.UserActive,
		&r.ExpiresAt, &r.LastSeenAt, &idle, &r.RevokedAt, &r.RevokeReason)
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
}

// create stores a session and returns its token and expiry.
func createSession(ctx context.Context, q store.Querier, ns newSession) (token string, expires time.Time, err error) {
	token, hash, err := auth.NewSessionToken()
	if err != nil {
		return "", time.Time{}, err
	}
	err = q.QueryRow(ctx, `
		INSERT INTO auth_sessions (user_id, token_hash, expires_at, idle_timeout, remember_me, ip_address, user_agent)
		VALUES ($1, $2, now() + $3::interval, $4::interval, $5, NULLIF($6, ''), NULLIF($7, ''))
		RETURNING expires_at`, ns.userID, hash, ns.ttl, ns.idle, ns.rememberMe, ns.ip, truncate(ns.agent, 512)).Scan(&expires)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("authpg: create session: %w", store.MapError(err))
	}
	return token, expires, nil
}

// revokeUserSessions revokes every live session of a user.
func revokeUserSessions(ctx context.Context, q store.Querier, userID, reason string) (int64, error) {
	tag, err := q.Exec(ctx, `UPDATE auth_sessions SET revoked_at = now(), revoke_reason = $2
		WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()`, userID, reason)
	if err != nil {
		return 0, fmt.Errorf("authpg: revoke sessions: %w", store.MapError(err))
	}
	return tag.RowsAffected(), nil
}

// Revoke revokes one session (logout); it reports whether it was live.
func (s *Sessions) Revoke(ctx context.Context, id, reason string) (bool, error) {
	tag, err := s.db.Exec(ctx, `UPDATE auth_sessions SET revoked_at = now(), revoke_reason = $2
		WHERE id = $1 AND revoked_at IS NULL`, id, reason)
	if err != nil {
		return false, fmt.Errorf("authpg: revoke session: %w", store.MapError(err))
	}
	return tag.RowsAffected() == 1, nil
}

// Cleanup deletes sessions that ended (expired or revoked) more than
// keep ago, and returns how many.
func (s *Sessions) Cleanup(ctx context.Context, keep time.Duration) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM auth_sessions
		WHERE least(expires_at, coalesce(revoked_at, 'infinity'), last_seen_at + idle_timeout) < now() - $1::interval`, keep)
	if err != nil {
		return 0, fmt.Errorf("authpg: clean up sessions: %w", store.MapError(err))
	}
	return tag.RowsAffected(), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
