package authpg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
)

// ErrInvalidRefreshToken is the answer to every refused refresh, whatever
// the cause (unknown, expired, revoked, already used, its user
// deactivated): the same 401 and body.
var ErrInvalidRefreshToken = dashcore.NewError(dashcore.ErrUnauthorized, "the refresh token is not valid; log in again", nil)

// ErrCrossSite refuses a browser login or refresh (cookie mode) whose
// Origin is missing or not allowed, or whose CSRF token is wrong: 403,
// the same detail as the guard's refusal of a cross-site request.
var ErrCrossSite = dashcore.NewError(dashcore.ErrForbidden, auth.CSRFProblem, nil)

// RefreshRequest is an exchange of a refresh token for a new session.
type RefreshRequest struct {
	// RefreshToken is the token to exchange.
	RefreshToken string
	// Cookie says the token came from the refresh cookie: its login must
	// be a cookie login, and CSRFToken that login's CSRF token. A token
	// of a cookie login is refused from anywhere else, and the other
	// way round.
	Cookie bool
	// CSRFToken is the X-CSRF-Token of a cookie refresh.
	CSRFToken string
}

// refreshOutcome is what a refresh's transaction decided.
type refreshOutcome struct {
	res        *LoginResult
	user       *User
	family     string
	oldSession string
	newSession string
	// fail is the reason of a refusal ("" when it succeeded).
	fail string
	// csrf is true for a cookie refresh with a wrong CSRF token.
	csrf bool
	// reused is true when a token already exchanged came again; revoked
	// counts the family's sessions it ended.
	reused  bool
	revoked int64
}

// Refresh exchanges a refresh token for a new session and a new refresh
// token of the same login (its family), in one transaction: the family's
// row is locked, so refreshes of one login happen one at a time; the
// token must be live (not exchanged before, its family neither revoked
// nor past its end, its user active); it is marked exchanged, the session
// issued with it is revoked (reason "refreshed"), and the new session ends
// at the family's end at the latest. The new tokens' lifetimes follow the
// login's remember_me.
//
// A token that was exchanged before is taken as stolen: every session and
// refresh token of its family is revoked ("refresh_token_reused"), the
// event is audited ([auth.AuditRefreshTokenReused]), and the answer is
// [ErrInvalidRefreshToken], as for any other refusal (audited as
// [auth.AuditRefreshFailed] with its reason). Of two refreshes with one
// token at the same time, exactly one succeeds, and the other is a reuse.
// A cookie refresh with a wrong CSRF token is [ErrCrossSite], and changes
// nothing.
func (a *Accounts) Refresh(ctx context.Context, c Client, req RefreshRequest) (*LoginResult, error) {
	var out refreshOutcome
	err := store.Tx(ctx, a.db, func(tx pgx.Tx) error {
		out = refreshOutcome{}
		return a.refresh(ctx, tx, c, req, &out)
	})
	if err != nil {
		return nil, err
	}
	details := map[string]any{"family_id": out.family}
	switch {
	case out.reused:
		details["sessions_revoked"] = out.revoked
		a.audit(ctx, c, auth.AuditRefreshTokenReused, "failure", out.user, details)
		return nil, ErrInvalidRefreshToken
	case out.csrf:
		details["reason"] = "csrf_token_invalid"
		a.audit(ctx, c, auth.AuditCSRFRefused, "failure", out.user, details)
		return nil, ErrCrossSite
	case out.fail != "":
		if out.family == "" {
			delete(details, "family_id")
		}
		details["reason"] = out.fail
		a.audit(ctx, c, auth.AuditRefreshFailed, "failure", out.user, details)
		return nil, ErrInvalidRefreshToken
	}
	details["old_session_id"], details["session_id"], details["cookie"] = out.oldSession, out.newSession, req.Cookie
	a.audit(ctx, c, auth.AuditSessionRefreshed, "success", out.user, details)
	return out.res, nil
}

// refresh is Refresh's transaction. It returns an error only for a
// failure of ours; a refusal is out.fail, out.csrf or out.reused, and
// commits (a reuse's revocation must).
func (a *Accounts) refresh(ctx context.Context, tx pgx.Tx, c Client, req RefreshRequest, out *refreshOutcome) error {
	if !auth.IsRefreshToken(req.RefreshToken) {
		out.fail = "unknown_token"
		return nil
	}
	var tokenID, userID string
	err := tx.QueryRow(ctx, `
		SELECT t.id::text, t.family_id::text, f.user_id::text
		FROM auth_refresh_tokens t JOIN auth_refresh_families f ON f.id = t.family_id
		WHERE t.token_hash = $1`, auth.HashSecret(req.RefreshToken)).Scan(&tokenID, &out.family, &userID)
	if errors.Is(err, pgx.ErrNoRows) {
		out.fail = "unknown_token"
		return nil
	}
	if err != nil {
		return fmt.Errorf("authpg: refresh: find token: %w", store.MapError(err))
	}
	// Locks in the order every writer takes them: the user (a password,
	// role or activation change holds it, then revokes the families),
	// then the family (what a refresh, a logout and a revocation of the
	// family serialise on). Each statement reads what committed before
	// its lock was granted.
	u := &User{ID: userID}
	err = tx.QueryRow(ctx, `SELECT username, role, is_active, single_view_mode, default_view
		FROM auth_users WHERE id = $1 FOR KEY SHARE`, userID).Scan(&u.Username, &u.Role, &u.IsActive, &u.SingleViewMode, &u.DefaultView)
	if errors.Is(err, pgx.ErrNoRows) { // deleted meanwhile, with its families
		out.fail = "unknown_token"
		return nil
	}
	if err != nil {
		return fmt.Errorf("authpg: refresh: lock user: %w", store.MapError(err))
	}
	out.user = u
	var (
		rememberMe, expired bool
		familyEnd           time.Time
		revokedAt           *time.Time
		csrfHash            []byte
	)
	err = tx.QueryRow(ctx, `SELECT remember_me, expires_at, expires_at <= now(), revoked_at, csrf_hash
		FROM auth_refresh_families WHERE id = $1 FOR UPDATE`, out.family).Scan(&rememberMe, &familyEnd, &expired, &revokedAt, &csrfHash)
	if errors.Is(err, pgx.ErrNoRows) {
		out.fail = "unknown_token"
		return nil
	}
	if err != nil {
		return fmt.Errorf("authpg: refresh: lock family: %w", store.MapError(err))
	}
	var rotatedAt *time.Time
	var oldSession *string
	err = tx.QueryRow(ctx, `SELECT rotated_at, session_id::text FROM auth_refresh_tokens WHERE id = $1`, tokenID).
		Scan(&rotatedAt, &oldSession)
	if errors.Is(err, pgx.ErrNoRows) {
		out.fail = "unknown_token"
		return nil
	}
	if err != nil {
		return fmt.Errorf("authpg: refresh: read token: %w", store.MapError(err))
	}
	switch {
	case (len(csrfHash) > 0) != req.Cookie:
		out.fail = "wrong_carrier"
		return nil
	case req.Cookie && !auth.CheckCSRFToken(req.CSRFToken, csrfHash):
		out.csrf = true
		return nil
	case rotatedAt != nil:
		out.reused = true
		out.revoked, err = revokeFamily(ctx, tx, out.family, "refresh_token_reused")
		return err
	case revokedAt != nil:
		out.fail = "revoked"
		return nil
	case expired:
		out.fail = "expired"
		return nil
	case !u.IsActive:
		out.fail = "user_inactive"
		return nil
	}

	if _, err := tx.Exec(ctx, `UPDATE auth_refresh_tokens SET rotated_at = now() WHERE id = $1`, tokenID); err != nil {
		return fmt.Errorf("authpg: refresh: rotate token: %w", store.MapError(err))
	}
	if oldSession != nil {
		out.oldSession = *oldSession
		if _, err := tx.Exec(ctx, `UPDATE auth_sessions SET revoked_at = now(), revoke_reason = 'refreshed'
			WHERE id = $1 AND revoked_at IS NULL`, *oldSession); err != nil {
			return fmt.Errorf("authpg: refresh: revoke the old session: %w", store.MapError(err))
		}
	}
	ttl, idle, _ := a.opts.Sessions.lifetimes(rememberMe)
	sessionID, token, expires, err := createSession(ctx, tx, newSession{userID: u.ID, ttl: ttl, idle: idle,
		rememberMe: rememberMe, ip: c.IP, agent: c.UserAgent, familyID: out.family, notAfter: familyEnd})
	if err != nil {
		return err
	}
	refresh, err := createRefreshToken(ctx, tx, out.family, sessionID)
	if err != nil {
		return err
	}
	out.newSession = sessionID
	out.res = &LoginResult{UserID: u.ID, Username: u.Username, Role: u.Role, SessionToken: token, ExpiresAt: expires,
		SingleViewMode: u.SingleViewMode, DefaultView: u.DefaultView, RefreshToken: refresh, RefreshExpiresAt: familyEnd}
	return nil
}
