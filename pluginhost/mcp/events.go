package mcp

import "time"

// The topics and kinds of the events the client publishes through the
// outbox, next to the tracker's (tracker/events/...).
const (
	// TopicToolCalled carries a [ToolCalled] for every call made through
	// the API (tools/call and the other forwarded methods).
	TopicToolCalled = "tracker/events/mcp/tool_called"
	KindToolCalled  = "mcp_tool_called"
	// TopicServerStatus carries a [StatusChange] whenever a connected
	// server's status changes (online, offline, error, restarting).
	TopicServerStatus = "tracker/events/mcp/server_status"
	KindServerStatus  = "mcp_server_status"
	// TopicServerChanged carries a [ServerChanged] when a stored server
	// is created, updated or deleted.
	TopicServerChanged = "tracker/events/mcp/server_changed"
	KindServerChanged  = "mcp_server_changed"
)

// The audit event types of the MCP routes (auth.AuditEvent.Type).
const (
	AuditToolCalled    = "mcp_tool_called"
	AuditRequest       = "mcp_request"
	AuditConnected     = "mcp_connected"
	AuditDisconnected  = "mcp_disconnected"
	AuditServerCreated = "mcp_server_created"
	AuditServerUpdated = "mcp_server_updated"
	AuditServerDeleted = "mcp_server_deleted"
)

// The results of a call, in metrics, audit details and events.
const (
	ResultOK          = "ok"
	ResultToolError   = "tool_error"  // the tool answered isError: true
	ResultRPCError    = "rpc_error"   // the server answered a JSON-RPC error
	ResultTimeout     = "timeout"     // the call outlived its timeout
	ResultBusy        = "busy"        // max_concurrent calls were in flight
	ResultDenied      = "denied"      // the tool is not allowed
	ResultUnavailable = "unavailable" // not connected, or restarting
	ResultFailed      = "failed"      // the connection broke
	ResultCanceled    = "canceled"    // the caller went away
)

// ToolCalled is the payload of a [TopicToolCalled] event.
type ToolCalled struct {
	// ServerID names the server.
	ServerID string `json:"server_id"`
	// Method is the JSON-RPC method, such as tools/call.
	Method string `json:"method"`
	// Tool is the tool called, for tools/call.
	Tool string `json:"tool,omitempty"`
	// Actor is the caller's subject.
	Actor string `json:"actor,omitempty"`
	// DurationMS is how long the call took.
	DurationMS float64 `json:"duration_ms"`
	// Outcome is success or failure.
	Outcome string `json:"outcome"`
	// Result is one of the Result* values.
	Result string `json:"result"`
	// RequestID is the HTTP request's X-Request-ID.
	RequestID string `json:"request_id,omitempty"`
	// Timestamp is when the call ended.
	Timestamp time.Time `json:"timestamp"`
}

// StatusChange is a change of a server's status, reported to
// ManagerOptions.OnStatus and published on [TopicServerStatus].
type StatusChange struct {
	// ServerID names the server.
	ServerID string `json:"server_id"`
	// Status is the new status; Previous the old one.
	Status   string `json:"status"`
	Previous string `json:"previous"`
	// Error says why a server stopped or could not start.
	Error string `json:"error,omitempty"`
	// Restarts counts the restarts since the server was connected.
	Restarts int `json:"restarts"`
	// PID is a running stdio server's process id.
	PID int `json:"pid,omitempty"`
	// Timestamp is when it happened.
	Timestamp time.Time `json:"timestamp"`
}
