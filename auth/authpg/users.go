package authpg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
)

// User is a local user, as the API shows it (the original's UserInfo,
// plus an optional email). Email is shown only to callers allowed
// users:read (auth.PermissionTag): a viewer, who may list users
// (users:list) to pick an owner, sees no addresses.
type User struct {
	ID             string     `json:"id" doc:"The user's id (a UUID)."`
	Username       string     `json:"username"`
	Email          string     `json:"email,omitempty" permission:"users:read" doc:"The user's email address, if one was given."`
	Role           string     `json:"role"`
	DefaultView    *string    `json:"default_view"`
	SingleViewMode bool       `json:"single_view_mode"`
	CreatedAt      time.Time  `json:"created_at"`
	LastLogin      *time.Time `json:"last_login"`
	IsActive       bool       `json:"is_active"`

	passwordHash string
}

// userColumns are the columns scanUser reads.
const userColumns = `id::text, username, coalesce(email, ''), role, default_view, single_view_mode, created_at, last_login, is_active, password_hash`

func scanUser(row pgx.CollectableRow) (*User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.Role, &u.DefaultView, &u.SingleViewMode, &u.CreatedAt,
		&u.LastLogin, &u.IsActive, &u.passwordHash)
	return &u, err
}

// ErrUserNotFound is returned for an unknown user.
var ErrUserNotFound = dashcore.NewError(dashcore.ErrNotFound, "User not found", nil)

// userBy returns one user; where is a condition on $1.
func userBy(ctx context.Context, q store.Querier, where string, arg any, lock bool) (*User, error) {
	sql := `SELECT ` + userColumns + ` FROM auth_users WHERE ` + where
	if lock {
		sql += ` FOR UPDATE`
	}
	rows, err := q.Query(ctx, sql, arg)
	if err != nil {
		return nil, fmt.Errorf("authpg: find user: %w", store.MapError(err))
	}
	u, err := pgx.CollectExactlyOneRow(rows, scanUser)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrUserNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("authpg: find user: %w", store.MapError(err))
	}
	return u, nil
}

// userByID returns the user with id; a malformed id is not found.
func userByID(ctx context.Context, q store.Querier, id string, lock bool) (*User, error) {
	if !isUUID(id) {
		return nil, ErrUserNotFound
	}
	return userBy(ctx, q, `id = $1::uuid`, id, lock)
}

// userByName returns the user named name, regardless of case.
func userByName(ctx context.Context, q store.Querier, name string) (*User, error) {
	return userBy(ctx, q, `lower(username) = lower($1)`, name, false)
}

// listUsers returns every user, newest first (as the original did).
func listUsers(ctx context.Context, q store.Querier) ([]*User, error) {
	rows, err := q.Query(ctx, `SELECT `+userColumns+` FROM auth_users ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("authpg: list users: %w", store.MapError(err))
	}
	users, err := pgx.CollectRows(rows, scanUser)
	if err != nil {
		return nil, fmt.Errorf("authpg: list users: %w", store.MapError(err))
	}
	return users, nil
}

// activeAdmins locks and counts the active users of role admin, so that
// concurrent demotions cannot remove the last one.
func activeAdmins(ctx context.Context, tx pgx.Tx, adminRole string) (int, error) {
	rows, err := tx.Query(ctx, `SELECT id FROM auth_users WHERE role = $1 AND is_active ORDER BY id FOR UPDATE`, adminRole)
	if err != nil {
		return 0, fmt.Errorf("authpg: count admins: %w", store.MapError(err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[[16]byte])
	if err != nil {
		return 0, fmt.Errorf("authpg: count admins: %w", store.MapError(err))
	}
	return len(ids), nil
}

// isUUID reports whether s is a UUID in its canonical 36-character form.
func isUUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}
