package auth

import (
	"context"
	"slices"
	"time"
)

// Kind says what a principal is.
type Kind string

// The kinds of principal.
const (
	// KindUser is a person: a local user with a session, or the subject of
	// an OIDC token.
	KindUser Kind = "user"
	// KindService is a service holding an API key.
	KindService Kind = "service"
	// KindPlugin is a plugin acting through the host API.
	KindPlugin Kind = "plugin"
)

// Method says how a principal authenticated.
type Method string

// The authentication methods.
const (
	// MethodJWT is a bearer JWT from the configured OIDC issuer.
	MethodJWT Method = "jwt"
	// MethodAPIKey is an API key in X-API-Key.
	MethodAPIKey Method = "api_key"
	// MethodSession is a local session token (Authorization: Bearer).
	MethodSession Method = "session"
	// MethodBootstrapKey is the bootstrap API key from the configuration.
	MethodBootstrapKey Method = "bootstrap_key"
	// MethodInternal is a principal made by code, not by a request.
	MethodInternal Method = "internal"
	// MethodPluginToken is a plugin's short-lived token (Authorization:
	// Bearer tdp_...), issued by the plugin host.
	MethodPluginToken Method = "plugin_token"
)

// Principal is who a request acts as. It is immutable once authenticated;
// handlers read it with [PrincipalFrom].
type Principal struct {
	// Subject identifies the principal: a user id (local users), the
	// token's sub (OIDC), "key:<id>" (API keys) or "bootstrap" (the
	// bootstrap key).
	Subject string `json:"subject"`
	// Name is a display name: the username, preferred_username, or the
	// key's name.
	Name string `json:"name"`
	// Kind is what the principal is.
	Kind Kind `json:"kind"`
	// Roles are the principal's roles, which the authorizer maps to
	// permissions.
	Roles []string `json:"roles"`
	// Permissions, when not empty, limit the principal to these
	// permissions (an API key scoped to "projects:read"), in addition to
	// what its roles allow: a request needs both.
	Permissions []Permission `json:"permissions,omitempty"`
	// Domain is the tenant the principal belongs to, "" when domains are
	// not in use.
	Domain string `json:"domain,omitempty"`
	// Method is how the principal authenticated.
	Method Method `json:"method"`
	// SessionID is the local session's id (MethodSession), or the API
	// key's id (MethodAPIKey); empty otherwise.
	SessionID string `json:"session_id,omitempty"`
	// ExpiresAt is when the credential stops being valid; zero if never.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// HasRole reports whether p has role.
func (p *Principal) HasRole(role string) bool {
	return p != nil && slices.Contains(p.Roles, role)
}

// Permission is an action on a resource, written "resource:action". Either
// part may be "*".
type Permission struct {
	// Resource is what is acted on, e.g. "projects".
	Resource string `json:"resource"`
	// Action is what is done, e.g. "read" or "write".
	Action string `json:"action"`
}

// String returns "resource:action".
func (p Permission) String() string { return p.Resource + ":" + p.Action }

// Allows reports whether p grants want, "*" matching anything.
func (p Permission) Allows(want Permission) bool {
	return (p.Resource == "*" || p.Resource == want.Resource) && (p.Action == "*" || p.Action == want.Action)
}

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal ctx carries, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// ClientInfo is what the guard learnt about the caller's connection.
type ClientInfo struct {
	// IP is the client's address (see ClientIP).
	IP string
	// UserAgent is the request's User-Agent.
	UserAgent string
}

type clientKey struct{}

// WithClientInfo returns a context carrying c.
func WithClientInfo(ctx context.Context, c ClientInfo) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientInfoFrom returns the client info ctx carries (set by the guard).
func ClientInfoFrom(ctx context.Context) ClientInfo {
	c, _ := ctx.Value(clientKey{}).(ClientInfo)
	return c
}
