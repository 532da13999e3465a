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

// APIKeys stores API keys in auth_api_keys: only the SHA-256 of each
// secret. It implements auth.APIKeyStore.
type APIKeys struct {
	db *store.DB
}

var _ auth.APIKeyStore = (*APIKeys)(nil)

// NewAPIKeys returns the key store on db.
func NewAPIKeys(db *store.DB) *APIKeys { return &APIKeys{db: db} }

// NewKey is what a key is made of.
type NewKey struct {
	// Name describes the key; 1 to 100 characters.
	Name string
	// Roles are the key's roles.
	Roles []string
	// Permissions, if any, limit the key to them.
	Permissions []auth.Permission
	// ExpiresAt, if set, ends the key.
	ExpiresAt *time.Time
	// CreatedBy names the creator.
	CreatedBy string
}

// Create generates and stores a key, returning its record and the whole
// secret, which is never shown again.
func (k *APIKeys) Create(ctx context.Context, q store.Querier, nk NewKey) (*auth.APIKeyRecord, string, error) {
	key, err := auth.NewAPIKey()
	if err != nil {
		return nil, "", err
	}
	if nk.Roles == nil {
		nk.Roles = []string{}
	}
	perms := permStrings(nk.Permissions)
	rows, err := q.Query(ctx, `
		INSERT INTO auth_api_keys (id, name, secret_hash, roles, permissions, expires_at, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''))
		RETURNING `+keyColumns,
		key.ID, nk.Name, key.SecretHash, nk.Roles, perms, nk.ExpiresAt, nk.CreatedBy)
	if err != nil {
		return nil, "", fmt.Errorf("authpg: create api key: %w", store.MapError(err))
	}
	rec, err := pgx.CollectExactlyOneRow(rows, scanKey)
	if err != nil {
		return nil, "", fmt.Errorf("authpg: create api key: %w", store.MapError(err))
	}
	return rec, key.Secret, nil
}

// keyColumns are the columns scanKey reads.
const keyColumns = `id, name, secret_hash, roles, permissions, created_at, coalesce(created_by, ''), expires_at, revoked_at, last_used_at`

func scanKey(row pgx.CollectableRow) (*auth.APIKeyRecord, error) {
	var r auth.APIKeyRecord
	var perms []string
	if err := row.Scan(&r.ID, &r.Name, &r.SecretHash, &r.Roles, &perms, &r.CreatedAt, &r.CreatedBy,
		&r.ExpiresAt, &r.RevokedAt, &r.LastUsedAt); err != nil {
		return nil, err
	}
	p, err := auth.ParsePermissions(perms)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", r.ID, err)
	}
	r.Permissions = p
	return &r, nil
}

func permStrings(ps []auth.Permission) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// LookupAPIKey implements auth.APIKeyStore.
func (k *APIKeys) LookupAPIKey(ctx context.Context, id string) (*auth.APIKeyRecord, error) {
	rows, err := k.db.Query(ctx, `SELECT `+keyColumns+` FROM auth_api_keys WHERE id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("authpg: look up api key: %w", store.MapError(err))
	}
	rec, err := pgx.CollectExactlyOneRow(rows, scanKey)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, auth.ErrKeyNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("authpg: look up api key: %w", store.MapError(err))
	}
	return rec, nil
}

// TouchAPIKeys implements auth.APIKeyStore: one statement for the batch.
func (k *APIKeys) TouchAPIKeys(ctx context.Context, used map[string]time.Time) error {
	ids := make([]string, 0, len(used))
	ats := make([]time.Time, 0, len(used))
	for id, at := range used {
		ids = append(ids, id)
		ats = append(ats, at)
	}
	_, err := k.db.Exec(ctx, `
		UPDATE auth_api_keys k SET last_used_at = greatest(k.last_used_at, u.at)
		FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at) WHERE k.id = u.id`, ids, ats)
	if err != nil {
		return fmt.Errorf("authpg: touch api keys: %w", store.MapError(err))
	}
	return nil
}

// List returns every key, newest first (secrets never leave the store).
func (k *APIKeys) List(ctx context.Context) ([]*auth.APIKeyRecord, error) {
	rows, err := k.db.Query(ctx, `SELECT `+keyColumns+` FROM auth_api_keys ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("authpg: list api keys: %w", store.MapError(err))
	}
	recs, err := pgx.CollectRows(rows, scanKey)
	if err != nil {
		return nil, fmt.Errorf("authpg: list api keys: %w", store.MapError(err))
	}
	return recs, nil
}

// Revoke revokes a key; revoking a revoked key is a conflict, an unknown
// one not found.
func (k *APIKeys) Revoke(ctx context.Context, q store.Querier, id string) (*auth.APIKeyRecord, error) {
	rows, err := q.Query(ctx, `UPDATE auth_api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL
		RETURNING `+keyColumns, id)
	if err != nil {
		return nil, fmt.Errorf("authpg: revoke api key: %w", store.MapError(err))
	}
	rec, err := pgx.CollectExactlyOneRow(rows, scanKey)
	if errors.Is(err, pgx.ErrNoRows) {
		var exists bool
		if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth_api_keys WHERE id = $1)`, id).Scan(&exists); err != nil {
			return nil, fmt.Errorf("authpg: revoke api key: %w", store.MapError(err))
		}
		if exists {
			return nil, dashcore.NewError(dashcore.ErrConflict, "the key is already revoked", nil)
		}
		return nil, dashcore.NewError(dashcore.ErrNotFound, "no API key has this id", nil)
	}
	if err != nil {
		return nil, fmt.Errorf("authpg: revoke api key: %w", store.MapError(err))
	}
	return rec, nil
}
