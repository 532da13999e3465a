package sdk

import (
	"encoding/json"
	"errors"
	"time"
)

// ABIVersion is the version of the guest ABI this package implements. The
// guest exports it as td_abi_version; the host refuses modules whose
// version it does not speak.
const ABIVersion = 1

// HostModule is the name of the host module whose functions a plugin
// imports.
const HostModule = "taylordash"

// The names of the exports the host calls. Every callable export starts
// with [ExportPrefix] and has the signature (input_len i32) -> i32: the
// guest reads its input with the host function input_read and writes its
// output with output_write, and returns [ResultOK], or [ResultError] when
// the output is an error message.
const (
	// ExportPrefix starts the name of every export the host may call.
	ExportPrefix = "td_"
	// ExportABIVersion returns [ABIVersion]; signature () -> i32.
	ExportABIVersion = "td_abi_version"
	// ExportHandleEvent receives an [Event] as JSON.
	ExportHandleEvent = "td_handle_event"
	// ExportHandleHTTP receives a [Request] as JSON and outputs a
	// [Response] as JSON.
	ExportHandleHTTP = "td_handle_http"
)

// The values a callable export returns.
const (
	// ResultOK means the output (possibly empty) is the call's result.
	ResultOK = 0
	// ResultError means the output is an error message.
	ResultError = 1
)

// Status is the outcome of a host function, as the high 32 bits of its
// i64 result; the low 32 bits are the length of the pending result: the
// data on StatusOK, a message otherwise. The guest copies it with
// result_read.
type Status uint32

// The statuses of host functions.
const (
	// StatusOK means the call succeeded.
	StatusOK Status = 0
	// StatusPermissionDenied means the plugin was not granted the
	// permission (or the origin) the call needs. The host records a
	// violation and fails the plugin call.
	StatusPermissionDenied Status = 1
	// StatusInvalidArgument means the arguments were malformed.
	StatusInvalidArgument Status = 2
	// StatusNotFound means the object does not exist.
	StatusNotFound Status = 3
	// StatusUnavailable means the backend failed; the message is generic.
	StatusUnavailable Status = 4
	// StatusTooLarge means an argument or a result exceeded a limit.
	StatusTooLarge Status = 5
	// StatusCanceled means the plugin call's deadline passed or it was
	// canceled.
	StatusCanceled Status = 6
)

// The errors the SDK returns for each non-OK [Status]; errors.Is matches
// them through the message the host adds.
var (
	ErrPermissionDenied = errors.New("taylordash: permission denied")
	ErrInvalidArgument  = errors.New("taylordash: invalid argument")
	ErrNotFound         = errors.New("taylordash: not found")
	ErrUnavailable      = errors.New("taylordash: unavailable")
	ErrTooLarge         = errors.New("taylordash: too large")
	ErrCanceled         = errors.New("taylordash: canceled")
)

// Err returns the sentinel error of s, or nil for StatusOK. Unknown
// statuses give ErrUnavailable.
func (s Status) Err() error {
	switch s {
	case StatusOK:
		return nil
	case StatusPermissionDenied:
		return ErrPermissionDenied
	case StatusInvalidArgument:
		return ErrInvalidArgument
	case StatusNotFound:
		return ErrNotFound
	case StatusTooLarge:
		return ErrTooLarge
	case StatusCanceled:
		return ErrCanceled
	default:
		return ErrUnavailable
	}
}

// PackResult packs a host function's status and result length into its
// i64 result.
func PackResult(s Status, n uint32) uint64 { return uint64(s)<<32 | uint64(n) }

// UnpackResult splits a host function's i64 result.
func UnpackResult(r uint64) (Status, uint32) { return Status(r >> 32), uint32(r) }

// The log levels of the log host function; the values of log/slog's.
const (
	LevelDebug = -4
	LevelInfo  = 0
	LevelWarn  = 4
	LevelError = 8
)

// Event is an event from the bus delivered to a plugin's event handler,
// the JSON input of td_handle_event.
type Event struct {
	// Topic is the topic the event arrived on.
	Topic string `json:"topic"`
	// ID identifies the event.
	ID string `json:"id"`
	// Kind names what happened, e.g. "project_created".
	Kind string `json:"kind"`
	// TraceID correlates the event with the request that caused it.
	TraceID string `json:"trace_id"`
	// TS is when the event happened.
	TS time.Time `json:"ts"`
	// Source names the service that published it.
	Source string `json:"source,omitempty"`
	// Payload is the event's data, a JSON object.
	Payload json.RawMessage `json:"payload,omitempty"`
	// Attempt counts deliveries of this event to the handler, from 1.
	Attempt int `json:"attempt,omitempty"`
	// Duplicate is set when the event was seen before (a redelivery).
	Duplicate bool `json:"duplicate,omitempty"`
}

// Request is an HTTP request to one of the plugin's own operations, the
// JSON input of td_handle_http. Credentials (Authorization, Cookie, API
// keys) are never passed on.
type Request struct {
	// Method is the HTTP method.
	Method string `json:"method"`
	// Path is the path below the plugin's mount point
	// (/api/v1/plugins/<id>/api), starting with "/".
	Path string `json:"path"`
	// Query holds the query parameters.
	Query map[string][]string `json:"query,omitempty"`
	// Header holds the request headers that are passed on.
	Header map[string][]string `json:"header,omitempty"`
	// Body is the request body (bounded by the host).
	Body []byte `json:"body,omitempty"`
	// Principal names the authenticated caller, if the host says so.
	Principal string `json:"principal,omitempty"`
}

// Response is a plugin's answer to a [Request], the JSON output of
// td_handle_http.
type Response struct {
	// Status is the HTTP status; 0 means 200.
	Status int `json:"status"`
	// Header holds the response headers (the host drops those it owns,
	// such as Set-Cookie and security headers).
	Header map[string][]string `json:"header,omitempty"`
	// Body is the response body.
	Body []byte `json:"body,omitempty"`
}

// FetchRequest is the JSON argument of the http_fetch host function.
type FetchRequest struct {
	// Method is the HTTP method; "" means GET.
	Method string `json:"method,omitempty"`
	// URL is the absolute URL; its origin (scheme, host and port) must be
	// one of the plugin's allowed_origins.
	URL string `json:"url"`
	// Header holds the request headers.
	Header map[string][]string `json:"header,omitempty"`
	// Body is the request body.
	Body []byte `json:"body,omitempty"`
}

// FetchResponse is the JSON result of the http_fetch host function.
// Redirects are not followed: a 3xx is returned as it is.
type FetchResponse struct {
	// Status is the HTTP status.
	Status int `json:"status"`
	// Header holds the response headers.
	Header map[string][]string `json:"header,omitempty"`
	// Body is the response body, at most the host's limit.
	Body []byte `json:"body,omitempty"`
}

// Project is a project as the API returns it (GET /api/v1/projects/{id}).
type Project struct {
	// ID identifies the project (a UUID).
	ID string `json:"id"`
	// Name is the project's name.
	Name string `json:"name"`
	// Description is optional.
	Description *string `json:"description"`
	// Status is one of planning, active, inactive, on_hold, completed,
	// cancelled, archived.
	Status string `json:"status"`
	// OwnerID is the owning user's id, if any.
	OwnerID *string `json:"owner_id"`
	// Metadata is any JSON object.
	Metadata map[string]any `json:"metadata"`
	// CreatedAt is when the project was created.
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is when it last changed.
	UpdatedAt time.Time `json:"updated_at"`
}

// ProjectList is a page of projects, as GET /api/v1/projects returns it.
type ProjectList struct {
	// Projects is the page, newest first.
	Projects []Project `json:"projects"`
	// Count is the number of projects in this page.
	Count int `json:"count"`
	// Total counts the projects on every page.
	Total int `json:"total"`
}

// ProjectInput creates a project, or updates one (only the fields set
// change).
type ProjectInput struct {
	// Name is required on create.
	Name string `json:"name,omitempty"`
	// Description is optional.
	Description *string `json:"description,omitempty"`
	// Status defaults to planning on create.
	Status string `json:"status,omitempty"`
	// OwnerID is the owning user's id.
	OwnerID *string `json:"owner_id,omitempty"`
	// Metadata is any JSON object.
	Metadata map[string]any `json:"metadata,omitempty"`
}

// ListOptions pages a list of projects; the JSON argument of
// projects_list.
type ListOptions struct {
	// Limit caps the projects returned; 0 means the host's default.
	Limit int `json:"limit,omitempty"`
	// Offset skips projects.
	Offset int `json:"offset,omitempty"`
}
