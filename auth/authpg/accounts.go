package authpg

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
)

// SessionConfig configures local sessions.
type SessionConfig struct {
	// TTL is a session's absolute lifetime. Default 24h (the original's).
	TTL time.Duration `env:"TTL"`
	// RememberMeTTL is the lifetime with remember_me. Default 30 days.
	RememberMeTTL time.Duration `env:"REMEMBER_ME_TTL"`
	// IdleTimeout ends a session unused for that long. Default 2h.
	IdleTimeout time.Duration `env:"IDLE_TIMEOUT"`
	// RememberMeIdleTimeout is the idle timeout with remember_me.
	// Default 7 days.
	RememberMeIdleTimeout time.Duration `env:"REMEMBER_ME_IDLE_TIMEOUT"`
	// RefreshTTL is the lifetime of a login's refresh tokens, fixed at
	// the login: each refresh hands out a token that ends when the
	// login's first did, and a session that ends then at the latest, so
	// rotation never extends a login (stolen or not). Default 7 days; at
	// least TTL.
	RefreshTTL time.Duration `env:"REFRESH_TTL"`
	// RememberMeRefreshTTL is RefreshTTL with remember_me. Default 30
	// days; at least RememberMeTTL and RefreshTTL.
	RememberMeRefreshTTL time.Duration `env:"REMEMBER_ME_REFRESH_TTL"`
	// CookieSecure marks the cookies of a browser login Secure even when
	// the request did not come over TLS: set it when a proxy terminates
	// TLS in front of the API. They are Secure anyway on a request that
	// came over TLS.
	CookieSecure bool `env:"COOKIE_SECURE"`
}

// WithDefaults returns c with zero fields set to their defaults.
func (c SessionConfig) WithDefaults() SessionConfig {
	if c.TTL == 0 {
		c.TTL = 24 * time.Hour
	}
	if c.RememberMeTTL == 0 {
		c.RememberMeTTL = 30 * 24 * time.Hour
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 2 * time.Hour
	}
	if c.RememberMeIdleTimeout == 0 {
		c.RememberMeIdleTimeout = 7 * 24 * time.Hour
	}
	if c.RefreshTTL == 0 {
		c.RefreshTTL = 7 * 24 * time.Hour
	}
	if c.RememberMeRefreshTTL == 0 {
		c.RememberMeRefreshTTL = 30 * 24 * time.Hour
	}
	return c
}

// Validate reports a configuration that cannot work.
func (c SessionConfig) Validate() error {
	switch {
	case c.TTL < time.Minute:
		return errors.New("TTL must be at least 1m")
	case c.RememberMeTTL < c.TTL:
		return errors.New("RememberMeTTL must be at least TTL")
	case c.IdleTimeout < time.Minute || c.RememberMeIdleTimeout < time.Minute:
		return errors.New("IdleTimeout and RememberMeIdleTimeout must be at least 1m")
	case c.RefreshTTL < c.TTL:
		return errors.New("RefreshTTL must be at least TTL (a refresh token that ends before its session is of no use)")
	case c.RememberMeRefreshTTL < c.RememberMeTTL || c.RememberMeRefreshTTL < c.RefreshTTL:
		return errors.New("RememberMeRefreshTTL must be at least RememberMeTTL and RefreshTTL")
	}
	return nil
}

// lifetimes returns a login's session lifetime, idle timeout and refresh
// lifetime.
func (c SessionConfig) lifetimes(rememberMe bool) (ttl, idle, refresh time.Duration) {
	if rememberMe {
		return c.RememberMeTTL, c.RememberMeIdleTimeout, c.RememberMeRefreshTTL
	}
	return c.TTL, c.IdleTimeout, c.RefreshTTL
}

// AdminRole is the role that manages users; the last active user holding
// it can be neither deleted, demoted nor deactivated.
const AdminRole = "admin"

// ViewerRole is the role whose login may persist single_view_mode and
// default_view, as in the original.
const ViewerRole = "viewer"

// ErrInvalidCredentials is the answer to every failed login, whatever the
// cause: the same status and body for an unknown user, a wrong password
// and a deactivated account.
var ErrInvalidCredentials = dashcore.NewError(dashcore.ErrUnauthorized, "Invalid username or password", nil)

// LockedError is a login refused because the username or the client is
// locked out after repeated failures.
type LockedError struct {
	// RetryAfter is when a login may be tried again.
	RetryAfter time.Duration
}

// Error implements error.
func (e *LockedError) Error() string {
	return fmt.Sprintf("too many failed logins; retry in %s", e.RetryAfter.Round(time.Second))
}

// AccountsOptions is what [Accounts] is made of.
type AccountsOptions struct {
	// Sessions configures session lifetimes.
	Sessions SessionConfig
	// Hasher hashes and checks passwords. Required.
	Hasher *auth.PasswordHasher
	// Guard throttles failed logins; nil for none.
	Guard *auth.LoginGuard
	// Auditor records security events; nil for none.
	Auditor auth.Auditor
	// Roles returns the roles a user may be given (the authorizer's);
	// nil accepts admin, operator and viewer.
	Roles func() []string
	// Logger receives audit write failures.
	Logger *slog.Logger
}

// Accounts is local users and their sessions: login and logout, and user
// management with the rules the original lacked (sessions revoked on
// password, role or activation change; the last admin kept; deletion that
// works).
type Accounts struct {
	db       *store.DB
	opts     AccountsOptions
	sessions *Sessions
	log      *slog.Logger
}

// NewAccounts returns the accounts service on db.
func NewAccounts(db *store.DB, opts AccountsOptions) (*Accounts, error) {
	opts.Sessions = opts.Sessions.WithDefaults()
	if err := opts.Sessions.Validate(); err != nil {
		return nil, fmt.Errorf("authpg: sessions: %w", err)
	}
	if opts.Hasher == nil {
		return nil, errors.New("authpg: accounts need a password Hasher")
	}
	if opts.Roles == nil {
		opts.Roles = func() []string { return []string{"admin", "operator", "viewer"} }
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Accounts{db: db, opts: opts, sessions: NewSessions(db), log: log}, nil
}

// Sessions returns the session store (for the session authenticator).
func (a *Accounts) Sessions() *Sessions { return a.sessions }

// Client describes the caller of an operation, for sessions and audit.
type Client struct {
	// IP is the client's address.
	IP string
	// UserAgent is its User-Agent.
	UserAgent string
	// RequestID is the request's id.
	RequestID string
	// Actor is the authenticated principal, if any.
	Actor *auth.Principal
}

func (a *Accounts) audit(ctx context.Context, c Client, typ, outcome string, u *User, details map[string]any) {
	if a.opts.Auditor == nil {
		return
	}
	e := auth.AuditEvent{Type: typ, Outcome: outcome, IP: c.IP, UserAgent: c.UserAgent, RequestID: c.RequestID, Details: details}
	if c.Actor != nil {
		e.Subject, e.Method = c.Actor.Subject, string(c.Actor.Method)
	}
	if u != nil {
		e.UserID, e.Username = u.ID, u.Username
	}
	if err := a.opts.Auditor.Audit(ctx, e); err != nil {
		a.log.WarnContext(ctx, "authpg: write audit event", "type", typ, "err", err)
	}
}

// LoginRequest is a login attempt (the original's LoginRequest, and
// Cookie).
type LoginRequest struct {
	Username       string
	Password       string
	RememberMe     bool
	SingleViewMode bool
	DefaultView    *string
	// Cookie makes a browser login: the login gets a CSRF token
	// (LoginResult.CSRFToken), and its session is accepted in the session
	// cookie ([auth.CookieAuthenticator]) and its refresh token only from
	// the refresh cookie.
	Cookie bool
}

// LoginResult is a successful login or refresh: the original's
// LoginResponse, and the refresh token.
type LoginResult struct {
	UserID   string `json:"user_id"`
	Username string `json:"username"`
	Role     string `json:"role"`
	// SessionToken is sent as "Authorization: Bearer <token>". A cookie
	// login's is in the session cookie instead, not in the body.
	SessionToken   string    `json:"session_token,omitempty" example:"tds_q9Yz3v0bW6xK2mR8tP1cN5sH7jL4dF0aE3gU6iO9kA2"`
	ExpiresAt      time.Time `json:"expires_at" doc:"When the session ends, at the latest."`
	SingleViewMode bool      `json:"single_view_mode"`
	DefaultView    *string   `json:"default_view"`
	// RefreshToken is exchanged once, at POST /api/v1/auth/refresh, for a
	// new session and a new refresh token. A cookie login's is in the
	// refresh cookie instead, not in the body.
	RefreshToken string `json:"refresh_token,omitempty" example:"tdr_Xw3kP9mQ2vL7tR1nB5cH8sJ4dF6gA0eU3iO9kY2zW1q"`
	// RefreshExpiresAt is when the login's refresh tokens end: fixed at
	// the login, refreshes do not move it.
	RefreshExpiresAt time.Time `json:"refresh_expires_at" doc:"When the login's refresh tokens end; fixed at the login, refreshes do not move it."`
	// CSRFToken is a cookie login's CSRF token, to send back in
	// X-CSRF-Token on every request that changes state (also in the
	// taylordash_csrf cookie, for the page's script).
	CSRFToken string `json:"csrf_token,omitempty" doc:"A cookie login's CSRF token: send it in X-CSRF-Token on every request that changes state."`
}

// Login checks a username and password and opens a session. Every failure
// is ErrInvalidCredentials and costs the same password check, so neither
// the answer nor its timing tells whether the username exists. Failures
// are counted per username and per client; past the limit the login is
// refused with *LockedError until the lockout ends.
func (a *Accounts) Login(ctx context.Context, c Client, req LoginRequest) (*LoginResult, error) {
	if a.opts.Guard != nil {
		if retry, locked := a.opts.Guard.Check(req.Username, c.IP); locked {
			a.audit(ctx, c, auth.AuditLoginFailed, "failure", &User{Username: req.Username}, map[string]any{"reason": "locked_out"})
			return nil, &LockedError{RetryAfter: retry}
		}
	}
	u, err := userByName(ctx, a.db, req.Username)
	if err != nil && !errors.Is(err, ErrUserNotFound) {
		return nil, err
	}
	reason := ""
	rehash := false
	switch {
	case u == nil:
		a.opts.Hasher.VerifyDummy(req.Password)
		reason = "unknown_user"
	default:
		ok, needs, verr := a.opts.Hasher.Verify(req.Password, u.passwordHash)
		switch {
		case verr != nil:
			a.log.ErrorContext(ctx, "authpg: stored password hash is unreadable", "user", u.ID, "err", verr)
			reason = "bad_hash"
		case !ok:
			reason = "bad_password"
		case !u.IsActive:
			reason = "inactive"
		}
		rehash = needs
	}
	if reason != "" {
		audited := u
		if audited == nil {
			audited = &User{Username: req.Username}
		}
		a.audit(ctx, c, auth.AuditLoginFailed, "failure", audited, map[string]any{"reason": reason})
		if a.opts.Guard != nil {
			if lockedNow, retry := a.opts.Guard.Failure(req.Username, c.IP); lockedNow {
				a.audit(ctx, c, auth.AuditLockout, "failure", audited, map[string]any{"retry_after_seconds": int(retry.Seconds())})
			}
		}
		return nil, ErrInvalidCredentials
	}
	if a.opts.Guard != nil {
		a.opts.Guard.Success(req.Username, c.IP)
	}

	res := &LoginResult{UserID: u.ID, Username: u.Username, Role: u.Role}
	var csrfHash []byte
	if req.Cookie {
		if res.CSRFToken, csrfHash, err = auth.NewCSRFToken(); err != nil {
			return nil, err
		}
	}
	err = store.Tx(ctx, a.db, func(tx pgx.Tx) error {
		ttl, idle, refreshTTL := a.opts.Sessions.lifetimes(req.RememberMe)
		family, familyEnd, err := createFamily(ctx, tx, newFamily{userID: u.ID, ttl: refreshTTL,
			rememberMe: req.RememberMe, csrfHash: csrfHash})
		if err != nil {
			return err
		}
		sessionID, token, expires, err := createSession(ctx, tx, newSession{userID: u.ID, ttl: ttl, idle: idle,
			rememberMe: req.RememberMe, ip: c.IP, agent: c.UserAgent, familyID: family, notAfter: familyEnd})
		if err != nil {
			return err
		}
		res.SessionToken, res.ExpiresAt, res.RefreshExpiresAt = token, expires, familyEnd
		if res.RefreshToken, err = createRefreshToken(ctx, tx, family, sessionID); err != nil {
			return err
		}
		// A viewer's login may set its view preferences, as in the
		// original; other roles keep theirs.
		if u.Role == ViewerRole {
			err = tx.QueryRow(ctx, `UPDATE auth_users SET last_login = now(),
				single_view_mode = $2, default_view = coalesce($3, default_view)
				WHERE id = $1 RETURNING single_view_mode, default_view`, u.ID, req.SingleViewMode, req.DefaultView).
				Scan(&res.SingleViewMode, &res.DefaultView)
		} else {
			err = tx.QueryRow(ctx, `UPDATE auth_users SET last_login = now() WHERE id = $1
				RETURNING single_view_mode, default_view`, u.ID).Scan(&res.SingleViewMode, &res.DefaultView)
		}
		if err != nil {
			return fmt.Errorf("authpg: record login: %w", store.MapError(err))
		}
		if rehash {
			hash, err := a.opts.Hasher.Hash(req.Password)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE auth_users SET password_hash = $2 WHERE id = $1`, u.ID, hash); err != nil {
				return fmt.Errorf("authpg: rehash password: %w", store.MapError(err))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	a.audit(ctx, c, auth.AuditLoginSuccess, "success", u, map[string]any{"remember_me": req.RememberMe, "cookie": req.Cookie})
	return res, nil
}

// Logout revokes the caller's session and its refresh family (the
// login's refresh token stops working too). It reports whether a session
// was live; a principal that is not a local session is a no-op.
func (a *Accounts) Logout(ctx context.Context, c Client) (bool, error) {
	p := c.Actor
	if !p.IsLocalSession() {
		return false, nil
	}
	live, err := a.sessions.Revoke(ctx, p.SessionID, "logout")
	if err != nil {
		return false, err
	}
	if live {
		a.audit(ctx, c, auth.AuditLogout, "success", &User{ID: p.Subject, Username: p.Name}, nil)
	}
	return live, nil
}

// User returns a user.
func (a *Accounts) User(ctx context.Context, id string) (*User, error) {
	return userByID(ctx, a.db, id, false)
}

// Users returns every user, newest first.
func (a *Accounts) Users(ctx context.Context) ([]*User, error) { return listUsers(ctx, a.db) }

// NewUser is a user to create (the original's CreateUserRequest).
type NewUser struct {
	Username       string
	Password       string
	Role           string
	DefaultView    *string
	SingleViewMode bool
	// Email is optional ("" for none).
	Email string
}

// checkEmail refuses an email that is not a bare address
// (name@example.com) of at most 254 bytes; "" is none.
func checkEmail(email string) error {
	if email == "" {
		return nil
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || len(email) > 254 {
		return dashcore.NewError(dashcore.ErrInvalid, "email must be an address such as name@example.com, at most 254 bytes", nil)
	}
	return nil
}

// checkUsername refuses usernames that are empty, too long or odd.
func checkUsername(name string) error {
	switch {
	case name == "" || utf8.RuneCountInString(name) > 64:
		return dashcore.NewError(dashcore.ErrInvalid, "username must be 1 to 64 characters", nil)
	case strings.TrimSpace(name) != name || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return dashcore.NewError(dashcore.ErrInvalid, "username must not start or end with spaces or hold control characters", nil)
	}
	return nil
}

func (a *Accounts) checkRole(role string) error {
	roles := a.opts.Roles()
	if !slices.Contains(roles, role) {
		return dashcore.NewError(dashcore.ErrInvalid, fmt.Sprintf("role %q is not known; known roles: %s", role, strings.Join(roles, ", ")), nil)
	}
	return nil
}

func (a *Accounts) checkPassword(username, password string) error {
	if err := a.opts.Hasher.Check(username, password); err != nil {
		return dashcore.NewError(dashcore.ErrInvalid, err.Error(), err)
	}
	return nil
}

// CreateUser creates a user. A taken username (in any case) is a
// conflict; view preferences are kept for viewers only, as in the
// original.
func (a *Accounts) CreateUser(ctx context.Context, c Client, nu NewUser) (*User, error) {
	if err := checkUsername(nu.Username); err != nil {
		return nil, err
	}
	if err := a.checkRole(nu.Role); err != nil {
		return nil, err
	}
	if err := checkEmail(nu.Email); err != nil {
		return nil, err
	}
	if err := a.checkPassword(nu.Username, nu.Password); err != nil {
		return nil, err
	}
	hash, err := a.opts.Hasher.Hash(nu.Password)
	if err != nil {
		return nil, err
	}
	if nu.Role != ViewerRole {
		nu.DefaultView, nu.SingleViewMode = nil, false
	}
	var createdBy *string
	if c.Actor.IsLocalSession() {
		createdBy = &c.Actor.Subject
	}
	rows, err := a.db.Query(ctx, `
		INSERT INTO auth_users (username, password_hash, role, default_view, single_view_mode, created_by, email)
		VALUES ($1, $2, $3, $4, $5, $6::uuid, nullif($7, '')) RETURNING `+userColumns,
		nu.Username, hash, nu.Role, nu.DefaultView, nu.SingleViewMode, createdBy, nu.Email)
	if err != nil {
		return nil, fmt.Errorf("authpg: create user: %w", store.MapError(err))
	}
	u, err := pgx.CollectExactlyOneRow(rows, scanUser)
	if store.IsUniqueViolation(err) {
		return nil, dashcore.NewError(dashcore.ErrConflict, "Username already exists", err)
	}
	if err != nil {
		return nil, fmt.Errorf("authpg: create user: %w", store.MapError(err))
	}
	a.audit(ctx, c, auth.AuditUserCreated, "success", u, map[string]any{"role": u.Role})
	return u, nil
}

// UserUpdate changes a user; nil fields stay (the original's
// UpdateUserRequest).
type UserUpdate struct {
	Role           *string
	DefaultView    *string
	SingleViewMode *bool
	IsActive       *bool
	Password       *string
	// Email, if set, replaces the email; "" removes it.
	Email *string
}

func (u UserUpdate) empty() bool {
	return u.Role == nil && u.DefaultView == nil && u.SingleViewMode == nil && u.IsActive == nil && u.Password == nil && u.Email == nil
}

// ErrLastAdmin refuses removing, demoting or deactivating the last active
// admin.
var ErrLastAdmin = dashcore.NewError(dashcore.ErrConflict,
	"the last active admin cannot be deleted, demoted or deactivated; make another admin first", nil)

// UpdateUser changes a user. A password, role or activation change
// revokes every session and refresh token of the user, in the same
// transaction.
func (a *Accounts) UpdateUser(ctx context.Context, c Client, id string, up UserUpdate) (*User, error) {
	if up.empty() {
		return nil, dashcore.NewError(dashcore.ErrBadRequest, "No updates provided", nil)
	}
	if up.Role != nil {
		if err := a.checkRole(*up.Role); err != nil {
			return nil, err
		}
	}
	if up.Email != nil {
		if err := checkEmail(*up.Email); err != nil {
			return nil, err
		}
	}
	var out *User
	var revoked int64
	var changes []string
	err := store.Tx(ctx, a.db, func(tx pgx.Tx) error {
		if _, err := activeAdmins(ctx, tx, AdminRole); err != nil { // lock admins first, always in this order
			return err
		}
		u, err := userByID(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if up.Password != nil {
			if err := a.checkPassword(u.Username, *up.Password); err != nil {
				return err
			}
		}
		losesAdmin := u.Role == AdminRole && u.IsActive &&
			((up.Role != nil && *up.Role != AdminRole) || (up.IsActive != nil && !*up.IsActive))
		if losesAdmin {
			n, err := activeAdmins(ctx, tx, AdminRole)
			if err != nil {
				return err
			}
			if n <= 1 {
				return ErrLastAdmin
			}
		}
		var hash *string
		if up.Password != nil {
			h, err := a.opts.Hasher.Hash(*up.Password)
			if err != nil {
				return err
			}
			hash = &h
		}
		rows, err := tx.Query(ctx, `
			UPDATE auth_users SET
				role = coalesce($2, role),
				default_view = coalesce($3, default_view),
				single_view_mode = coalesce($4, single_view_mode),
				is_active = coalesce($5, is_active),
				password_hash = coalesce($6, password_hash),
				password_changed_at = CASE WHEN $6::text IS NULL THEN password_changed_at ELSE now() END,
				email = CASE WHEN $7::text IS NULL THEN email ELSE nullif($7, '') END,
				updated_at = now()
			WHERE id = $1::uuid RETURNING `+userColumns, id, up.Role, up.DefaultView, up.SingleViewMode, up.IsActive, hash, up.Email)
		if err != nil {
			return fmt.Errorf("authpg: update user: %w", store.MapError(err))
		}
		out, err = pgx.CollectExactlyOneRow(rows, scanUser)
		if err != nil {
			return fmt.Errorf("authpg: update user: %w", store.MapError(err))
		}
		if up.Password != nil {
			changes = append(changes, "password")
		}
		if up.Role != nil && *up.Role != u.Role {
			changes = append(changes, "role")
		}
		if up.IsActive != nil && *up.IsActive != u.IsActive {
			changes = append(changes, "is_active")
		}
		if len(changes) > 0 {
			revoked, err = revokeUserSessions(ctx, tx, id, strings.Join(changes, ",")+" changed")
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	details := map[string]any{"changed": changes, "role": out.Role, "is_active": out.IsActive}
	a.audit(ctx, c, auth.AuditUserUpdated, "success", out, details)
	if slices.Contains(changes, "password") {
		a.audit(ctx, c, auth.AuditPasswordChanged, "success", out, nil)
	}
	if revoked > 0 {
		a.audit(ctx, c, auth.AuditSessionsRevoked, "success", out, map[string]any{"sessions": revoked, "reason": strings.Join(changes, ",")})
	}
	return out, nil
}

// ErrDeleteSelf refuses deleting one's own account.
var ErrDeleteSelf = dashcore.NewError(dashcore.ErrBadRequest, "Cannot delete your own account", nil)

// DeleteUser deletes a user and its sessions. Its audit history stays
// (the audit log has no foreign key); users it created keep existing.
func (a *Accounts) DeleteUser(ctx context.Context, c Client, id string) (*User, error) {
	if c.Actor.IsLocalSession() && c.Actor.Subject == id {
		return nil, ErrDeleteSelf
	}
	var u *User
	err := store.Tx(ctx, a.db, func(tx pgx.Tx) error {
		if _, err := activeAdmins(ctx, tx, AdminRole); err != nil {
			return err
		}
		var err error
		u, err = userByID(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if u.Role == AdminRole && u.IsActive {
			n, err := activeAdmins(ctx, tx, AdminRole)
			if err != nil {
				return err
			}
			if n <= 1 {
				return ErrLastAdmin
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM auth_users WHERE id = $1::uuid`, id); err != nil {
			return fmt.Errorf("authpg: delete user: %w", store.MapError(err))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	a.audit(ctx, c, auth.AuditUserDeleted, "success", u, nil)
	return u, nil
}

// EnsureAdmin creates the first admin when no active admin exists (from
// TAYLORDASH_BOOTSTRAP_ADMIN_USER and _PASSWORD). It reports whether it
// created the user; an active admin leaves everything as is. When no
// admin is active but a user of that name exists, that user is made an
// active admin with the password, and its sessions end. The password
// must pass the policy: there is no default password.
func (a *Accounts) EnsureAdmin(ctx context.Context, username, password string) (bool, error) {
	created, err := a.makeAdmin(ctx, username, password, "bootstrap", adminIfNone)
	if err != nil {
		return false, fmt.Errorf("authpg: bootstrap admin %q: %w", username, err)
	}
	return created, nil
}

// GeneratedAdmin is an admin that [Accounts.GenerateAdmin] created. Its
// password exists only here: show it once; only its hash is stored.
type GeneratedAdmin struct {
	// Username is "admin", or "admin-" and six random characters when a
	// user named admin existed already.
	Username string
	// Password is random: at least 27 characters (four groups of six
	// letters and digits joined by "-", about 143 bits from crypto/rand),
	// longer when the password policy asks for more.
	Password string
}

// WriteNotice writes the framed message that shows the admin's username
// and password, for a person to read once.
func (g *GeneratedAdmin) WriteNotice(w io.Writer) error {
	line := strings.Repeat("=", 72)
	_, err := fmt.Fprintf(w, "\n%s\n"+
		"  No admin existed, so one was generated. Its password is shown only this once:\n\n"+
		"    username: %s\n"+
		"    password: %s\n\n"+
		"  Log in (POST /api/v1/auth/login) and change it (PUT /api/v1/auth/users/{user_id}).\n"+
		"  Only its hash is stored.\n"+
		"%s\n\n", line, g.Username, g.Password, line)
	return err
}

// GenerateAdmin creates an admin with a random password when no active
// admin exists, and returns it; it returns nil when an active admin
// exists. It never takes an existing user over: when a user named admin
// exists (but is not an active admin), the new admin is named
// "admin-xxxxxx". The check and the insert are one transaction under the
// advisory lock that EnsureAdmin takes, so of instances starting together
// exactly one creates an admin, and the others find it.
func (a *Accounts) GenerateAdmin(ctx context.Context) (*GeneratedAdmin, error) {
	const attempts = 4
	for i := range attempts {
		username := "admin"
		if i > 0 {
			username = "admin-" + randomString(6, lowerAlnum)
		}
		password, err := a.generatePassword(username)
		if err != nil {
			return nil, fmt.Errorf("authpg: generate admin: %w", err)
		}
		created, err := a.makeAdmin(ctx, username, password, "generated", adminNewIfNone)
		switch {
		case errors.Is(err, errUsernameTaken):
			continue
		case err != nil:
			return nil, fmt.Errorf("authpg: generate admin: %w", err)
		case !created:
			return nil, nil
		}
		return &GeneratedAdmin{Username: username, Password: password}, nil
	}
	return nil, fmt.Errorf("authpg: generate admin: %d usernames tried were all taken", attempts)
}

// The alphabets of generated usernames and passwords.
const (
	lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	alnum      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// generatePassword returns a random password that the policy accepts for
// username: groups of six letters and digits joined by "-", four at
// first, more when the policy wants a longer one.
func (a *Accounts) generatePassword(username string) (string, error) {
	var err error
	for groups := 4; groups < 64; groups++ {
		parts := make([]string, groups)
		for i := range parts {
			parts[i] = randomString(6, alnum)
		}
		password := strings.Join(parts, "-")
		if err = a.opts.Hasher.Check(username, password); err == nil {
			return password, nil
		}
	}
	return "", fmt.Errorf("no random password meets the policy: %w", err)
}

// randomString returns n characters of alphabet (at most 256 long), each
// drawn uniformly with crypto/rand.
func randomString(n int, alphabet string) string {
	limit := 256 - 256%len(alphabet) // bytes at or above would bias the draw
	out := make([]byte, 0, n)
	var buf [32]byte
	for len(out) < n {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand)
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// CleanupSessions deletes sessions that ended more than a day ago and
// returns how many.
func (a *Accounts) CleanupSessions(ctx context.Context) (int64, error) {
	return a.sessions.Cleanup(ctx, 24*time.Hour)
}

// ResetAdmin makes username an active admin with password: it creates the
// user, or, when it exists, sets its role, activates it, replaces its
// password and ends its sessions. It is the command line's break-glass
// path (a forgotten admin password); it reports whether it created the
// user.
func (a *Accounts) ResetAdmin(ctx context.Context, username, password string) (bool, error) {
	return a.makeAdmin(ctx, username, password, "command line", adminAnyway)
}

// adminMode says when makeAdmin acts, and on which user.
type adminMode int

const (
	// adminAnyway creates the user or takes it over (ResetAdmin).
	adminAnyway adminMode = iota
	// adminIfNone does the same, only when no active admin exists
	// (EnsureAdmin).
	adminIfNone
	// adminNewIfNone only creates a new user, only when no active admin
	// exists; an existing username is errUsernameTaken (GenerateAdmin).
	adminNewIfNone
)

// errUsernameTaken is makeAdmin's answer, in mode adminNewIfNone, for a
// username that exists.
var errUsernameTaken = errors.New("username taken")

// makeAdmin makes username an active admin with password, creating the
// user or promoting it (its sessions, opened with its old password, end),
// as mode says; with adminIfNone and adminNewIfNone only when no active
// admin exists (one caller at a time across instances). via names the
// path in the audit event.
func (a *Accounts) makeAdmin(ctx context.Context, username, password, via string, mode adminMode) (created bool, err error) {
	if err := checkUsername(username); err != nil {
		return false, err
	}
	if err := a.opts.Hasher.Check(username, password); err != nil {
		return false, fmt.Errorf("the password does not meet the policy: %w", err)
	}
	hash, err := a.opts.Hasher.Hash(password)
	if err != nil {
		return false, err
	}
	changed := false
	var userID string
	err = store.Tx(ctx, a.db, func(tx pgx.Tx) error {
		if mode != adminAnyway {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('taylordash.auth.bootstrap'))`); err != nil {
				return fmt.Errorf("authpg: lock: %w", store.MapError(err))
			}
			if n, err := activeAdmins(ctx, tx, AdminRole); err != nil || n > 0 {
				return err
			}
		}
		onConflict := `DO UPDATE SET role = excluded.role, is_active = true,
				password_hash = excluded.password_hash, password_changed_at = now(), updated_at = now()`
		if mode == adminNewIfNone {
			onConflict = `DO NOTHING`
		}
		err := tx.QueryRow(ctx, `
			INSERT INTO auth_users (username, password_hash, role) VALUES ($1, $2, $3)
			ON CONFLICT (lower(username)) `+onConflict+`
			RETURNING id::text, (xmax = 0)`,
			username, hash, AdminRole).Scan(&userID, &created)
		switch {
		case errors.Is(err, pgx.ErrNoRows): // DO NOTHING
			return errUsernameTaken
		case err != nil:
			return fmt.Errorf("authpg: make admin: %w", store.MapError(err))
		}
		changed = true
		if !created {
			_, err := revokeUserSessions(ctx, tx, userID, "made admin ("+via+")")
			return err
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	u := &User{ID: userID, Username: username}
	switch {
	case created:
		a.audit(ctx, Client{}, auth.AuditUserCreated, "success", u, map[string]any{"role": AdminRole, "via": via})
	case changed:
		a.audit(ctx, Client{}, auth.AuditUserUpdated, "success", u,
			map[string]any{"role": AdminRole, "via": via, "changed": []string{"role", "is_active", "password"}})
	}
	return created, nil
}
