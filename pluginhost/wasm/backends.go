package wasm

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// The backends of the host functions. They are called from a plugin call,
// with its context: they must return promptly when ctx is done, because a
// deadline cannot interrupt a host function. They are called concurrently
// (one call per instance at a time). pluginID is the calling plugin's id,
// for attribution; errors wrapping [ErrNotFound] or [ErrInvalidArgument]
// reach the guest with their message, any other only as "unavailable".

// EventPublisher publishes the events a plugin emits (publish_event).
type EventPublisher interface {
	// PublishEvent publishes an event of kind with a JSON object payload on
	// behalf of pluginID. ctx carries the call's span, so the event
	// continues its trace.
	PublishEvent(ctx context.Context, pluginID, kind string, payload json.RawMessage) error
}

// ProjectStore reads and writes projects for plugins through the same
// repository the API uses. Values are JSON in the API's shapes
// (sdk.Project, sdk.ProjectList, sdk.ProjectInput).
type ProjectStore interface {
	// ListProjects returns a page as {"projects":[...],"count":n,"total":n}.
	ListProjects(ctx context.Context, pluginID string, limit, offset int) (json.RawMessage, error)
	// GetProject returns one project.
	GetProject(ctx context.Context, pluginID, id string) (json.RawMessage, error)
	// CreateProject creates a project from a JSON ProjectInput.
	CreateProject(ctx context.Context, pluginID string, input json.RawMessage) (json.RawMessage, error)
	// UpdateProject changes the fields of project id that input sets.
	UpdateProject(ctx context.Context, pluginID, id string, input json.RawMessage) (json.RawMessage, error)
}

// HTTPDoer sends http_fetch requests; *http.Client implements it. The
// request carries the call's context.
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// ViolationRecorder records violations, e.g. in the security log. It is
// called synchronously after the call that violated, with a context that
// is not the call's (which may be done); it must not block for long.
type ViolationRecorder interface {
	RecordViolation(ctx context.Context, v Violation) error
}

// ViolationKind says what a plugin did wrong.
type ViolationKind string

// The kinds of violation.
const (
	// ViolationTrap: the guest trapped (unreachable, out-of-bounds access,
	// a Go fatal error, an exit during a call).
	ViolationTrap ViolationKind = "trap"
	// ViolationPanic: the guest panicked (a Go panic that was not
	// recovered).
	ViolationPanic ViolationKind = "panic"
	// ViolationTimeout: the call ran past its CPU deadline.
	ViolationTimeout ViolationKind = "timeout"
	// ViolationMemory: the guest exceeded its memory cap.
	ViolationMemory ViolationKind = "memory"
	// ViolationPermissionDenied: the guest called a host function it was
	// not granted, or fetched an origin it was not allowed.
	ViolationPermissionDenied ViolationKind = "permission_denied"
)

// ViolationKinds lists every kind, for metrics and documentation.
var ViolationKinds = []ViolationKind{ViolationTrap, ViolationPanic, ViolationTimeout, ViolationMemory, ViolationPermissionDenied}

// Violation is one thing a plugin did wrong during a call.
type Violation struct {
	// PluginID is the plugin's id.
	PluginID string
	// Version is the plugin's version.
	Version string
	// Kind says what happened.
	Kind ViolationKind
	// Function is the export that was called (or "_initialize").
	Function string
	// Detail explains it: the trap message, the host function denied.
	Detail string
	// TraceID is the call's trace id, if it was traced.
	TraceID string
	// At is when it happened.
	At time.Time
}

// Disabled is what [Options.OnDisabled] receives when a plugin is disabled.
type Disabled struct {
	// PluginID is the plugin's id.
	PluginID string
	// Version is the plugin's version.
	Version string
	// Violations are those within the window that tripped the circuit,
	// oldest first.
	Violations []Violation
	// At is when it was disabled.
	At time.Time
}
