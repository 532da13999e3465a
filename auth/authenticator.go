package auth

import (
	"context"
	"errors"
	"net/http"
)

// ErrNoCredentials is returned by an [Authenticator] when the request
// carries no credential of its kind: the next authenticator is tried.
var ErrNoCredentials = errors.New("auth: no credentials")

// Authenticator turns a request's credential into a principal.
//
// Authenticate returns ErrNoCredentials when the request carries no
// credential it handles; the middleware then tries the next one. Any other
// error means the credential is present but not valid (expired, revoked,
// forged): the request is refused with 401 and the failure audited, and no
// later authenticator is tried. The error's text is logged and audited,
// never sent to the client; wrap a [*Failure] to give the audit a reason
// code. Authenticate must be safe for concurrent use and must not read the
// request body.
type Authenticator interface {
	// Name identifies the authenticator in logs and audit events.
	Name() string
	// Authenticate returns the request's principal.
	Authenticate(ctx context.Context, r *http.Request) (*Principal, error)
}

// Failure is an authentication failure with a reason code for the audit
// log ("expired", "bad_signature", "revoked", ...).
type Failure struct {
	// Reason is a short, stable code.
	Reason string
	// Err is the underlying cause.
	Err error
}

// Error returns the reason and the cause.
func (f *Failure) Error() string {
	if f.Err == nil {
		return "auth: " + f.Reason
	}
	return "auth: " + f.Reason + ": " + f.Err.Error()
}

// Unwrap returns the cause.
func (f *Failure) Unwrap() error { return f.Err }

// Fail returns a *Failure with reason and cause err.
func Fail(reason string, err error) error { return &Failure{Reason: reason, Err: err} }

// ReasonOf returns the reason code of err's *Failure, or "invalid".
func ReasonOf(err error) string {
	var f *Failure
	if errors.As(err, &f) {
		return f.Reason
	}
	return "invalid"
}
