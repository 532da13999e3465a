package dashcore

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// Kind is a class of failure with a fixed HTTP status. The Err* values are
// the kinds; domain errors wrap one of them (with %w or [NewError]) and the
// API maps them to problem responses in one place, [HTTPError].
type Kind struct {
	status int
	msg    string
}

// Error returns the public message of the kind.
func (k *Kind) Error() string { return k.msg }

// Status returns the HTTP status of the kind.
func (k *Kind) Status() int { return k.status }

// GetStatus implements huma.StatusError, so that a handler returning an
// error that wraps a kind gets the kind's status even without [HTTPError].
func (k *Kind) GetStatus() int { return k.status }

// ContentType implements huma.ContentTypeFilter.
func (k *Kind) ContentType(string) string { return problemContentType }

// The kinds of failure and their HTTP status.
var (
	ErrBadRequest   = &Kind{http.StatusBadRequest, "the request is malformed"}
	ErrUnauthorized = &Kind{http.StatusUnauthorized, "authentication is required"}
	ErrForbidden    = &Kind{http.StatusForbidden, "permission denied"}
	ErrNotFound     = &Kind{http.StatusNotFound, "resource not found"}
	ErrConflict     = &Kind{http.StatusConflict, "the request conflicts with the current state"}
	ErrTooLarge     = &Kind{http.StatusRequestEntityTooLarge, "the request body is too large"}
	ErrInvalid      = &Kind{http.StatusUnprocessableEntity, "validation failed"}
	ErrRateLimited  = &Kind{http.StatusTooManyRequests, "too many requests"}
	ErrUnavailable  = &Kind{http.StatusServiceUnavailable, "the service is temporarily unavailable"}
	ErrInternal     = &Kind{http.StatusInternalServerError, "an unexpected error occurred"}
)

var kinds = []*Kind{ErrBadRequest, ErrUnauthorized, ErrForbidden, ErrNotFound, ErrConflict,
	ErrTooLarge, ErrInvalid, ErrRateLimited, ErrUnavailable, ErrInternal}

// Error is a failure with a message that is safe to show to the client.
// Kind picks the status; Detail is the public message; Fields lists
// per-field problems for validation failures; Err is the internal cause,
// logged but never sent.
type Error struct {
	// Kind picks the status; nil means [ErrInternal].
	Kind *Kind
	// Detail is the public message; empty means the kind's message. A 500
	// always shows the generic message instead (see [Problem]).
	Detail string
	// Fields lists per-field problems, for validation failures.
	Fields []*huma.ErrorDetail
	// Err is the internal cause: logged (for 5xx), matched by errors.Is
	// and errors.As, never sent to the client.
	Err error
}

// kind returns e.Kind, or ErrInternal when it is unset.
func (e *Error) kind() *Kind {
	if e.Kind == nil {
		return ErrInternal
	}
	return e.Kind
}

// NewError returns an error of kind with a public detail message and an
// optional internal cause.
func NewError(kind *Kind, detail string, cause error) *Error {
	return &Error{Kind: kind, Detail: detail, Err: cause}
}

// Error implements error.
func (e *Error) Error() string {
	msg := e.Detail
	if msg == "" {
		msg = e.kind().msg
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the kind and the cause, so errors.Is matches both.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.kind()}
	}
	return []error{e.kind(), e.Err}
}

// GetStatus implements huma.StatusError.
func (e *Error) GetStatus() int { return e.kind().status }

// ContentType implements huma.ContentTypeFilter.
func (e *Error) ContentType(string) string { return problemContentType }

// HTTPError maps any error to the status error a huma handler returns: the
// outermost *Error in the chain if there is one, else the first [Kind],
// else ErrInternal (500) keeping err as the cause, which is logged and never
// shown. An error that already is a huma.StatusError is returned unchanged.
func HTTPError(err error) error {
	if err == nil {
		return nil
	}
	var de *Error
	if errors.As(err, &de) {
		return de
	}
	for _, k := range kinds {
		if errors.Is(err, k) {
			return &Error{Kind: k, Err: err}
		}
	}
	var se huma.StatusError
	if errors.As(err, &se) {
		return se
	}
	return &Error{Kind: ErrInternal, Err: err}
}

const problemContentType = "application/problem+json"

// Problem is the RFC 9457 problem document every error response carries.
// It has the fields of huma.ErrorModel plus the request id.
type Problem struct {
	// Type is a URI reference identifying the problem type.
	Type string `json:"type,omitempty"`
	// Title is the short, human-readable summary of the status.
	Title string `json:"title,omitempty"`
	// Status is the HTTP status code.
	Status int `json:"status,omitempty"`
	// Detail explains this occurrence, safe to show to users.
	Detail string `json:"detail,omitempty"`
	// Instance identifies this occurrence.
	Instance string `json:"instance,omitempty"`
	// RequestID is the X-Request-ID of the request, for support and logs.
	RequestID string `json:"request_id,omitempty"`
	// Errors lists per-field problems.
	Errors []*huma.ErrorDetail `json:"errors,omitempty"`
}

// problemFor builds the public problem for a status, detail and fields.
// A 500 carries only the generic detail, whatever the error said; other
// 5xx keep a detail written for clients (such as "maintenance until
// 10:00") but never field errors.
func problemFor(status int, detail string, fields []*huma.ErrorDetail, requestID string) *Problem {
	if status >= 500 {
		fields = nil
		if detail == "" || status == http.StatusInternalServerError {
			detail = genericDetail(status)
		}
	}
	if detail == "" {
		detail = genericDetail(status)
	}
	return &Problem{
		Type:      "about:blank",
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    detail,
		RequestID: requestID,
		Errors:    fields,
	}
}

func genericDetail(status int) string {
	for _, k := range kinds {
		if k.status == status {
			return k.msg
		}
	}
	return http.StatusText(status)
}

// WriteProblem writes the problem response of status with a public detail
// from a plain net/http handler (a stream, a raw route), in the shape
// every other error of the API has. 5xx responses keep only a generic
// detail unless it is 502-504's public one.
func WriteProblem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	writeProblem(w, r, status, detail)
}

// writeProblem writes a problem response outside huma (middleware, router).
func writeProblem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	p := problemFor(status, detail, nil, RequestID(r.Context()))
	w.Header().Set("Content-Type", problemContentType)
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}
