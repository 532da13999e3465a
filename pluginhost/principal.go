package pluginhost

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/store"
)

// rbacPermissions maps each manifest permission to the RBAC permissions
// of the API it opens. Permissions that are capabilities of the sandbox
// (network:http, network:websocket, storage:local, plugin:messaging) open
// no API.
var rbacPermissions = map[string][]auth.Permission{
	"read:projects":  {{Resource: "projects", Action: "read"}, {Resource: "components", Action: "read"}, {Resource: "tasks", Action: "read"}},
	"write:projects": {{Resource: "projects", Action: "write"}, {Resource: "components", Action: "write"}, {Resource: "tasks", Action: "write"}},
	"read:events":    {{Resource: "events", Action: "read"}},
	"publish:events": {{Resource: "events", Action: "write"}},
	"read:logs":      {{Resource: "logs", Action: "read"}},
	"read:system":    {{Resource: "system", Action: "read"}},
}

// RBACPermissions returns the API permissions a plugin holds for its
// manifest permissions, sorted: read:projects gives projects:read,
// components:read and tasks:read; write:projects the same three with
// write; read:events events:read; publish:events events:write; read:logs
// logs:read; read:system system:read. The others are sandbox
// capabilities and open no API.
func RBACPermissions(manifest []string) []auth.Permission {
	var out []auth.Permission
	for _, p := range manifest {
		out = append(out, rbacPermissions[p]...)
	}
	slices.SortFunc(out, func(a, b auth.Permission) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(out)
}

// Role is the Casbin role of a plugin, "plugin:<id>": a plugin is a
// principal in the same RBAC as users and API keys, holding exactly the
// permissions of its manifest.
func Role(id string) string { return "plugin:" + id }

// Principals keeps plugins' roles in the authorizer's policy and
// authenticates their tokens.
type Principals struct {
	db    *store.DB
	authz *auth.Authorizer
	ttl   time.Duration
	now   func() time.Time
}

// NewPrincipals returns the plugin principals on db and authz; tokens
// live for ttl (default 1h).
func NewPrincipals(db *store.DB, authz *auth.Authorizer, ttl time.Duration) *Principals {
	if ttl <= 0 {
		ttl = time.Hour
	}
	return &Principals{db: db, authz: authz, ttl: ttl, now: time.Now}
}

var _ auth.Authenticator = (*Principals)(nil)

// SyncRole makes the policy hold exactly the rules of a plugin's role
// for its manifest permissions (none when perms is nil: uninstalled).
func (ps *Principals) SyncRole(ctx context.Context, id string, manifestPerms []string) error {
	role := Role(id)
	want := map[auth.Rule]bool{}
	for _, p := range RBACPermissions(manifestPerms) {
		want[auth.PermissionRule(role, "*", p.Resource, p.Action)] = true
	}
	var add, remove []auth.Rule
	have := map[auth.Rule]bool{}
	for _, r := range ps.authz.Rules() {
		if r.Type == auth.RulePermission && r.Role == role {
			have[r] = true
			if !want[r] {
				remove = append(remove, r)
			}
		}
	}
	for r := range want {
		if !have[r] {
			add = append(add, r)
		}
	}
	if len(remove) > 0 {
		if err := ps.authz.RemoveRules(ctx, remove...); err != nil {
			return fmt.Errorf("pluginhost: policy of %s: %w", id, err)
		}
	}
	if len(add) > 0 {
		if err := ps.authz.AddRules(ctx, add...); err != nil {
			return fmt.Errorf("pluginhost: policy of %s: %w", id, err)
		}
	}
	return nil
}

// SyncAll reconciles the roles of every installed plugin, and removes
// the roles of plugins that are gone (after a failure between an
// uninstall's commit and its policy change, or on another instance).
func (ps *Principals) SyncAll(ctx context.Context) error {
	rows, err := ps.db.Query(ctx, `SELECT id, permissions FROM plugins`)
	if err != nil {
		return fmt.Errorf("pluginhost: sync policy: %w", store.MapError(err))
	}
	type entry struct {
		ID    string
		Perms []string
	}
	plugins, err := pgx.CollectRows(rows, pgx.RowToStructByPos[entry])
	if err != nil {
		return fmt.Errorf("pluginhost: sync policy: %w", store.MapError(err))
	}
	live := map[string]bool{}
	var errs []error
	for _, p := range plugins {
		live[Role(p.ID)] = true
		errs = append(errs, ps.SyncRole(ctx, p.ID, p.Perms))
	}
	for _, r := range ps.authz.Rules() {
		if r.Type == auth.RulePermission && strings.HasPrefix(r.Role, "plugin:") && !live[r.Role] {
			live[r.Role] = true
			errs = append(errs, ps.SyncRole(ctx, strings.TrimPrefix(r.Role, "plugin:"), nil))
		}
	}
	return errors.Join(errs...)
}

// tokenPrefix starts every plugin token.
const tokenPrefix = "tdp_"

// Issue returns a token for plugin id, valid for the configured TTL:
// tdp_<id>~<unix expiry>~<HMAC-SHA256 with the plugin's key> (no dots,
// so that it is never taken for a JWT). The key is
// stored with the plugin, so every instance verifies it and an uninstall
// ends every token.
func (ps *Principals) Issue(ctx context.Context, id string) (string, time.Time, error) {
	key, status, err := ps.key(ctx, id)
	if err != nil {
		return "", time.Time{}, err
	}
	if status != StatusInstalled {
		return "", time.Time{}, fmt.Errorf("%w: %s is disabled", ErrNotFound, id)
	}
	exp := ps.now().Add(ps.ttl).Truncate(time.Second)
	payload := id + "~" + strconv.FormatInt(exp.Unix(), 10)
	return tokenPrefix + payload + "~" + sign(key, payload), exp, nil
}

func sign(key []byte, payload string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (ps *Principals) key(ctx context.Context, id string) ([]byte, string, error) {
	var key []byte
	var status string
	err := ps.db.QueryRow(ctx, `SELECT credential_key, status FROM plugins WHERE id = $1`, id).Scan(&key, &status)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, "", fmt.Errorf("pluginhost: plugin key of %s: %w", id, store.MapError(err))
	}
	return key, status, nil
}

// Name implements auth.Authenticator.
func (ps *Principals) Name() string { return "plugin_token" }

// Authenticate implements auth.Authenticator for "Authorization: Bearer
// tdp_...": the plugin's principal (Kind plugin, Subject and role
// plugin:<id>) while the plugin is installed and enabled, the token
// unexpired, and the request addressed to the plugin's own proxy (a
// token used anywhere else is refused, 401).
func (ps *Principals) Authenticate(ctx context.Context, r *http.Request) (*auth.Principal, error) {
	token, ok := auth.BearerToken(r)
	if !ok || !strings.HasPrefix(token, tokenPrefix) {
		return nil, auth.ErrNoCredentials
	}
	parts := strings.Split(strings.TrimPrefix(token, tokenPrefix), "~")
	if len(parts) != 3 {
		return nil, auth.Fail("malformed_token", errors.New("a plugin token has three parts"))
	}
	id, expText, sig := parts[0], parts[1], parts[2]
	expUnix, err := strconv.ParseInt(expText, 10, 64)
	if err != nil || !idPattern.MatchString(id) {
		return nil, auth.Fail("malformed_token", errors.New("bad plugin token"))
	}
	exp := time.Unix(expUnix, 0)
	if !ps.now().Before(exp) {
		return nil, auth.Fail("token_expired", fmt.Errorf("plugin token of %s expired at %s", id, exp.UTC().Format(time.RFC3339)))
	}
	key, status, err := ps.key(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, auth.Fail("unknown_plugin", err)
	}
	if err != nil {
		return nil, err
	}
	if !hmac.Equal([]byte(sign(key, id+"~"+expText)), []byte(sig)) {
		return nil, auth.Fail("bad_signature", fmt.Errorf("plugin token of %s has a bad signature", id))
	}
	if status != StatusInstalled {
		return nil, auth.Fail("plugin_disabled", fmt.Errorf("plugin %s is disabled", id))
	}
	// Good only at the plugin's own proxy, where its declarations apply
	// and every call is recorded.
	if !strings.HasPrefix(r.URL.Path, ProxyPrefix+id+"/proxy/") {
		return nil, auth.Fail("plugin_token_outside_proxy", fmt.Errorf("plugin %s used its token at %s", id, r.URL.Path))
	}
	return &auth.Principal{Subject: Role(id), Name: id, Kind: auth.KindPlugin, Roles: []string{Role(id)},
		Method: auth.MethodPluginToken, ExpiresAt: exp}, nil
}
