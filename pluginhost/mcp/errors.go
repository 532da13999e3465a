package mcp

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/taylordash/taylordash/dashcore"
)

// The static failures of the client. Each wraps the dashcore kind that
// picks its HTTP status; the messages naming a server come from
// [ServerError].
var (
	// ErrNotFound: no server has the id (404).
	ErrNotFound = fmt.Errorf("mcp: server not found: %w", dashcore.ErrNotFound)
	// ErrNotConnected: the server is known but not connected (400, the
	// original's answer).
	ErrNotConnected = fmt.Errorf("mcp: server not connected: %w", dashcore.ErrBadRequest)
	// ErrRestarting: the server stopped and is being started again (503).
	ErrRestarting = fmt.Errorf("mcp: server restarting: %w", dashcore.ErrUnavailable)
	// ErrToolNotAllowed: the tool is not in the server's allow-list (403).
	ErrToolNotAllowed = fmt.Errorf("mcp: tool not allowed: %w", dashcore.ErrForbidden)
	// ErrMethodNotAllowed: the JSON-RPC method is not one the request
	// route forwards (422).
	ErrMethodNotAllowed = fmt.Errorf("mcp: method not allowed: %w", dashcore.ErrInvalid)
	// ErrBusy: the server's max_concurrent calls are in flight (429).
	ErrBusy = fmt.Errorf("mcp: too many calls in flight: %w", dashcore.ErrRateLimited)
	// ErrConfigured: a server from configuration cannot be changed
	// through the API (409).
	ErrConfigured = fmt.Errorf("mcp: server from configuration: %w", dashcore.ErrConflict)
	// ErrExists: a server with the id exists (409).
	ErrExists = fmt.Errorf("mcp: server exists: %w", dashcore.ErrConflict)
	// ErrTimeout: the call outlived its timeout; the server was told to
	// cancel it (504).
	ErrTimeout = errors.New("mcp: call timed out")
	// ErrUpstream: the server failed: it could not be started, closed the
	// connection, or broke the protocol (502).
	ErrUpstream = errors.New("mcp: server failed")
	// ErrStopped: the manager is stopped (503).
	ErrStopped = fmt.Errorf("mcp: client stopped: %w", dashcore.ErrUnavailable)
)

// ServerError is a failure concerning one server, with a message safe to
// show to the API's callers (administrators): it names the server and
// what failed, never the host's internals. Err is one of the Err*
// values above, or wraps one, and is matched by errors.Is.
type ServerError struct {
	// ServerID names the server.
	ServerID string
	// Detail is the public message.
	Detail string
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *ServerError) Error() string {
	if e.Err != nil {
		return e.Detail + ": " + e.Err.Error()
	}
	return e.Detail
}

// Unwrap returns the cause.
func (e *ServerError) Unwrap() error { return e.Err }

func serverErr(id string, cause error, format string, args ...any) *ServerError {
	return &ServerError{ServerID: id, Detail: fmt.Sprintf(format, args...), Err: cause}
}

// CommandNotFoundError reports a stdio server whose command does not
// exist or is not executable. It wraps [ErrUpstream].
type CommandNotFoundError struct {
	// ServerID names the server.
	ServerID string
	// Command is the command as configured.
	Command string
	// Err is exec.LookPath's error.
	Err error
}

// Error implements error.
func (e *CommandNotFoundError) Error() string {
	return fmt.Sprintf("mcp: server %s: command %q not found: %v", e.ServerID, e.Command, e.Err)
}

// Unwrap returns the cause and ErrUpstream.
func (e *CommandNotFoundError) Unwrap() []error { return []error{ErrUpstream, e.Err} }

// Status returns the HTTP status of err: the dashcore kind it wraps, 504
// for [ErrTimeout], 502 for [ErrUpstream], else 500.
func Status(err error) int {
	switch {
	case errors.Is(err, ErrTimeout):
		return http.StatusGatewayTimeout
	case errors.Is(err, ErrUpstream):
		return http.StatusBadGateway
	}
	var k interface{ Status() int }
	for _, kind := range []*dashcore.Kind{dashcore.ErrNotFound, dashcore.ErrBadRequest, dashcore.ErrForbidden,
		dashcore.ErrInvalid, dashcore.ErrRateLimited, dashcore.ErrConflict, dashcore.ErrUnavailable} {
		if errors.Is(err, kind) {
			k = kind
			return k.Status()
		}
	}
	return http.StatusInternalServerError
}

// publicDetail returns the message of err that callers may see.
func publicDetail(err error) string {
	var ce *CommandNotFoundError
	if errors.As(err, &ce) {
		return fmt.Sprintf("MCP server %s: command %q not found", ce.ServerID, ce.Command)
	}
	var se *ServerError
	if errors.As(err, &se) {
		return se.Detail
	}
	return ""
}
