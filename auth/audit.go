package auth

import (
	"context"
	"net/http"
	"time"

	"github.com/taylordash/taylordash/dashcore"
)

// The security events written to the audit log.
const (
	AuditLoginSuccess     = "login_success"
	AuditLoginFailed      = "login_failed"
	AuditLogout           = "logout"
	AuditLockout          = "lockout"
	AuditAuthFailed       = "auth_failed"
	AuditPermissionDenied = "permission_denied"
	AuditRateLimited      = "rate_limited"
	AuditUserCreated      = "user_created"
	AuditUserUpdated      = "user_updated"
	AuditUserDeleted      = "user_deleted"
	AuditPasswordChanged  = "password_changed"
	AuditSessionsRevoked  = "sessions_revoked"
	AuditKeyCreated       = "key_created"
	AuditKeyRevoked       = "key_revoked"
	AuditPolicyChanged    = "policy_changed"
)

// AuditEvent is one security event.
type AuditEvent struct {
	// Type is one of the Audit* constants.
	Type string `json:"type"`
	// Outcome is "success" or "failure".
	Outcome string `json:"outcome"`
	// At is when it happened; zero means now.
	At time.Time `json:"at"`
	// UserID is the local user concerned, if any.
	UserID string `json:"user_id,omitempty"`
	// Username is the user or principal name concerned, if any.
	Username string `json:"username,omitempty"`
	// Subject is the acting principal's subject, if any.
	Subject string `json:"subject,omitempty"`
	// Method is how the actor authenticated.
	Method string `json:"method,omitempty"`
	// IP is the client's address. Responses show it only to callers
	// allowed users:read ([PermissionTag]), as UserAgent and Details.
	IP string `json:"ip,omitempty" permission:"users:read"`
	// UserAgent is the client's User-Agent.
	UserAgent string `json:"user_agent,omitempty" permission:"users:read"`
	// RequestID is the request's X-Request-ID.
	RequestID string `json:"request_id,omitempty"`
	// Details holds event-specific facts (never secrets).
	Details map[string]any `json:"details,omitempty" permission:"users:read"`
}

// Auditor records security events. Audit must be safe for concurrent
// use; an error is logged by the caller, and the request goes on (a
// refusal stays a refusal).
type Auditor interface {
	Audit(ctx context.Context, e AuditEvent) error
}

// NewAuditEvent returns an event of type typ about the request r, acted
// by p (nil when nobody authenticated): the client's address (ip, see
// [ClientIP]), User-Agent, request id and the actor.
func NewAuditEvent(typ string, r *http.Request, ip string, p *Principal) AuditEvent {
	e := AuditEvent{Type: typ, Outcome: "success", At: time.Now()}
	if r != nil {
		e.UserAgent = r.UserAgent()
		e.RequestID = dashcore.RequestID(r.Context())
	}
	e.IP = ip
	if p != nil {
		e.Subject = p.Subject
		e.Username = p.Name
		e.Method = string(p.Method)
		if p.Kind == KindUser && p.IsLocalSession() {
			e.UserID = p.Subject
		}
	}
	return e
}
