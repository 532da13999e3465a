package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jackc/pgx/v5"
	mcpsdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
)

// MaxRequestBytes caps the body of the request and tool call routes (the
// original answered 413 over 1 MiB).
const MaxRequestBytes = 1 << 20

// Routes is the MCP client API under /api/v1/mcp: the original's routes
// (servers, connect, request, health, metrics, disconnect) with their
// paths and keys, typed routes to list and call tools, and the admin
// API of stored servers. Reading needs mcp:read, everything else
// mcp:admin (by default only admins hold either). Every call to a
// server and every change is audited; every call is published on
// [TopicToolCalled].
type Routes struct {
	// Manager connects and calls servers.
	Manager *Manager
	// Registry knows the servers.
	Registry *Registry
	// Auditor records calls and changes; nil records nothing.
	Auditor auth.Auditor
	// DB and Outbox publish the call events; either nil publishes none.
	DB     *store.DB
	Outbox Outbox
	// Logger receives audit and publication failures; nil discards them.
	Logger *slog.Logger
}

// Contribution returns the routes as a dashcore contribution.
func (rt *Routes) Contribution() dashcore.Routes {
	return dashcore.Routes{Name: "mcp", Register: rt.Register}
}

// Register adds the operations to api.
func (rt *Routes) Register(api huma.API) {
	tags := []string{"mcp"}
	const p = "/api/v1/mcp"
	callErrors := auth.Guarded(http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusTooManyRequests,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "list-mcp-servers", Method: http.MethodGet, Path: p + "/servers", Tags: tags,
		Summary:     "List MCP servers",
		Description: "Every known external MCP server, from configuration (TAYLORDASH_MCP_SERVERS) and from this API, with its status and counters.",
		Errors:      auth.Guarded(),
	}, "mcp", "read"), rt.list)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "create-mcp-server", Method: http.MethodPost, Path: p + "/servers", Tags: tags,
		Summary:       "Add an MCP server",
		Description:   "Stores a server in PostgreSQL. An id that configuration uses, or that is stored, is a conflict.",
		DefaultStatus: http.StatusCreated,
		Errors:        auth.Guarded(http.StatusConflict, http.StatusUnprocessableEntity),
	}, "mcp", "admin"), rt.create)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "get-mcp-server", Method: http.MethodGet, Path: p + "/servers/{server_id}", Tags: tags,
		Summary:     "Get an MCP server",
		Description: "Its specification (env and header values masked) and its state.",
		Errors:      auth.Guarded(http.StatusNotFound),
	}, "mcp", "read"), rt.get)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "update-mcp-server", Method: http.MethodPut, Path: p + "/servers/{server_id}", Tags: tags,
		Summary:     "Replace an MCP server",
		Description: "Replaces a stored server's specification; a connected server is connected again with it.",
		Errors:      auth.Guarded(http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusBadGateway, http.StatusGatewayTimeout),
	}, "mcp", "admin"), rt.update)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "delete-mcp-server", Method: http.MethodDelete, Path: p + "/servers/{server_id}", Tags: tags,
		Summary:       "Remove an MCP server",
		Description:   "Disconnects a stored server and removes it.",
		DefaultStatus: http.StatusNoContent,
		Errors:        auth.Guarded(http.StatusNotFound, http.StatusConflict),
	}, "mcp", "admin"), rt.delete)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "connect-mcp-server", Method: http.MethodPost, Path: p + "/connect", Tags: tags,
		Summary: "Connect an MCP server",
		Description: "Starts a stdio server's process (or opens the HTTP session), performs the initialize handshake, and " +
			"supervises the server until it is disconnected. Connecting a connected server answers its state. A server " +
			"that cannot be started is answered 502 with the reason (a command not found names the server and the command).",
		Errors: auth.Guarded(http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout),
	}, "mcp", "admin"), rt.connect)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "mcp-request", Method: http.MethodPost, Path: p + "/request", Tags: tags,
		Summary: "Send a JSON-RPC request to an MCP server",
		Description: "The request is validated and sent through the server's session, which numbers it and matches the answer; " +
			"the response carries the request's id. Only ping, tools/list, tools/call, resources/list, resources/templates/list, " +
			"resources/read, prompts/list and prompts/get are forwarded (others: 422); tools/call only for the server's " +
			"allowed_tools (others: 403), and tools/list answers only those. A JSON-RPC error of the server is answered 200 " +
			"as the response it is. A call that outlives the server's call_timeout is cancelled and answered 504.",
		MaxBodyBytes: MaxRequestBytes,
		Errors:       append(callErrors, http.StatusRequestEntityTooLarge),
	}, "mcp", "admin"), rt.request)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "mcp-server-health", Method: http.MethodGet, Path: p + "/health/{server_id}", Tags: tags,
		Summary:     "An MCP server's health",
		Description: "Its status; an online server is pinged first (a server that does not answer is restarted as its policy says).",
		Errors:      auth.Guarded(http.StatusNotFound),
	}, "mcp", "read"), rt.health)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "mcp-server-metrics", Method: http.MethodGet, Path: p + "/metrics/{server_id}", Tags: tags,
		Summary: "An MCP server's metrics", Description: "Counters since the application started, and the current run's uptime.",
		Errors: auth.Guarded(http.StatusNotFound),
	}, "mcp", "read"), rt.metrics)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "disconnect-mcp-server", Method: http.MethodPost, Path: p + "/disconnect/{server_id}", Tags: tags,
		Summary:     "Disconnect an MCP server",
		Description: "Closes the session; a stdio server gets its stdin closed, then SIGTERM, then its process group is killed. Also answered for a server that was not connected.",
		Errors:      auth.Guarded(http.StatusNotFound),
	}, "mcp", "admin"), rt.disconnect)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "list-mcp-tools", Method: http.MethodGet, Path: p + "/servers/{server_id}/tools", Tags: tags,
		Summary: "List an MCP server's tools", Description: "Every tool, with whether the server's allowed_tools let it be called.",
		Errors: callErrors,
	}, "mcp", "admin"), rt.tools)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "list-mcp-resources", Method: http.MethodGet, Path: p + "/servers/{server_id}/resources", Tags: tags,
		Summary: "List an MCP server's resources", Errors: callErrors,
	}, "mcp", "admin"), rt.resources)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "call-mcp-tool", Method: http.MethodPost, Path: p + "/servers/{server_id}/tools/{tool}/call", Tags: tags,
		Summary: "Call an MCP server's tool",
		Description: "The tool must be in the server's allowed_tools (403 otherwise). A tool that fails is answered 200 with " +
			"is_error true; a call that outlives the server's call_timeout is cancelled and answered 504; one beyond its " +
			"max_concurrent calls in flight is answered 429.",
		MaxBodyBytes: MaxRequestBytes,
		Errors:       callErrors,
	}, "mcp", "admin"), rt.callTool)
}

// httpError maps the client's errors to problems: the public detail of
// a ServerError, the status of its kind; 502 and 504 keep their detail.
func httpError(err error) error {
	if err == nil {
		return nil
	}
	var de *dashcore.Error
	if errors.As(err, &de) {
		return de
	}
	detail := publicDetail(err)
	var rpc *RPCError
	if errors.As(err, &rpc) {
		detail = rpc.detail()
	}
	status := Status(err)
	switch status {
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		return huma.NewError(status, detail, err)
	case http.StatusInternalServerError:
		return dashcore.HTTPError(err)
	}
	for _, k := range []*dashcore.Kind{dashcore.ErrNotFound, dashcore.ErrBadRequest, dashcore.ErrForbidden,
		dashcore.ErrInvalid, dashcore.ErrRateLimited, dashcore.ErrConflict, dashcore.ErrUnavailable} {
		if k.Status() == status {
			return &dashcore.Error{Kind: k, Detail: detail, Err: err}
		}
	}
	return dashcore.HTTPError(err)
}

type mcpServerIDInput struct {
	ServerID string `path:"server_id" maxLength:"64" pattern:"^[a-z0-9][a-z0-9._-]{0,63}$" example:"homelab-mcp" doc:"The server's id."`
}

// ServerCounters are a server's counters in the server list (the original's
// keys).
type ServerCounters struct {
	Requests  int64      `json:"requests" example:"42"`
	Errors    int64      `json:"errors" example:"1"`
	StartTime *time.Time `json:"start_time" doc:"When the server was first started since the application started; null if never."`
}

// ServerSummary is a server in the list: the original's keys, then the
// new ones.
type ServerSummary struct {
	ID              string         `json:"id" example:"homelab-mcp"`
	Name            string         `json:"name" example:"Homelab MCP"`
	Description     string         `json:"description" example:"Tools to inspect the home lab."`
	Status          string         `json:"status" enum:"online,offline,error,restarting" example:"online"`
	LastHealthCheck *time.Time     `json:"lastHealthCheck" doc:"When the server last answered a ping or was initialized; null if never."`
	Metrics         ServerCounters `json:"metrics"`
	Transport       string         `json:"transport" enum:"stdio,http" example:"stdio"`
	Source          string         `json:"source" enum:"config,api" example:"config" doc:"config: from TAYLORDASH_MCP_SERVERS, read-only here; api: stored through this API."`
	AllowedTools    []string       `json:"allowed_tools" example:"[\"echo\"]"`
	Restarts        int            `json:"restarts" example:"0"`
	LastError       string         `json:"last_error,omitempty" example:"exited: exit status 3"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (rt *Routes) summary(s *Server) ServerSummary {
	st := rt.Manager.State(s.Spec.ID)
	name := s.Spec.Name
	if name == "" {
		name = s.Spec.ID
	}
	return ServerSummary{ID: s.Spec.ID, Name: name, Description: s.Spec.Description, Status: st.Status,
		LastHealthCheck: timePtr(st.LastHealthCheck),
		Metrics:         ServerCounters{Requests: st.Requests, Errors: st.Errors, StartTime: timePtr(st.FirstStartedAt)},
		Transport:       s.Spec.Transport, Source: s.Source, AllowedTools: orEmpty(s.Spec.AllowedTools),
		Restarts: st.Restarts, LastError: st.LastError}
}

type mcpListOutput struct {
	Body struct {
		Servers []ServerSummary `json:"servers"`
	}
}

func (rt *Routes) list(ctx context.Context, _ *struct{}) (*mcpListOutput, error) {
	servers, err := rt.Registry.List(ctx)
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	out := &mcpListOutput{}
	out.Body.Servers = make([]ServerSummary, len(servers))
	for i, s := range servers {
		out.Body.Servers[i] = rt.summary(s)
	}
	return out, nil
}

// ServerDetail is a server's specification (env and header values
// masked) and state.
type ServerDetail struct {
	ServerSpec
	Source    string     `json:"source" enum:"config,api" example:"api"`
	Status    string     `json:"status" enum:"online,offline,error,restarting" example:"offline"`
	LastError string     `json:"last_error,omitempty" example:"exited: exit status 3"`
	Restarts  int        `json:"restarts" example:"0"`
	PID       int        `json:"pid,omitempty" doc:"A running stdio server's process id." example:"4242"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
	CreatedBy string     `json:"created_by,omitempty"`
	UpdatedBy string     `json:"updated_by,omitempty"`
}

type mcpDetailOutput struct {
	Body ServerDetail
}

func (rt *Routes) detail(s *Server) *mcpDetailOutput {
	st := rt.Manager.State(s.Spec.ID)
	return &mcpDetailOutput{Body: ServerDetail{ServerSpec: s.Spec.masked(), Source: s.Source, Status: st.Status,
		LastError: st.LastError, Restarts: st.Restarts, PID: st.PID, CreatedAt: timePtr(s.CreatedAt),
		UpdatedAt: timePtr(s.UpdatedAt), CreatedBy: s.CreatedBy, UpdatedBy: s.UpdatedBy}}
}

func (rt *Routes) get(ctx context.Context, in *mcpServerIDInput) (*mcpDetailOutput, error) {
	s, err := rt.Registry.Get(ctx, in.ServerID)
	if err != nil {
		return nil, httpError(err)
	}
	return rt.detail(s), nil
}

type mcpSpecInput struct {
	Body ServerSpec
}

// invalidSpec is the 422 of a specification that does not validate.
func invalidSpec(err error) error {
	return &dashcore.Error{Kind: dashcore.ErrInvalid, Detail: "the server specification is invalid: " + err.Error(),
		Fields: []*huma.ErrorDetail{{Location: "body", Message: err.Error()}}}
}

func actor(ctx context.Context) string {
	if p := auth.PrincipalFrom(ctx); p != nil {
		return p.Subject
	}
	return ""
}

func (rt *Routes) create(ctx context.Context, in *mcpSpecInput) (*mcpDetailOutput, error) {
	if err := in.Body.Validate(); err != nil {
		return nil, invalidSpec(err)
	}
	s, err := rt.Registry.Create(ctx, in.Body, actor(ctx))
	if err != nil {
		return nil, httpError(err)
	}
	rt.audit(ctx, AuditServerCreated, true, map[string]any{"server_id": s.Spec.ID, "transport": s.Spec.Transport})
	return rt.detail(s), nil
}

type mcpUpdateInput struct {
	ServerID string `path:"server_id" maxLength:"64" pattern:"^[a-z0-9][a-z0-9._-]{0,63}$" example:"homelab-mcp" doc:"The server's id."`
	Body     ServerSpec
}

func (rt *Routes) update(ctx context.Context, in *mcpUpdateInput) (*mcpDetailOutput, error) {
	if in.Body.ID != in.ServerID {
		return nil, &dashcore.Error{Kind: dashcore.ErrInvalid, Detail: "the body's id must be the path's",
			Fields: []*huma.ErrorDetail{{Location: "body.id", Message: "must be " + in.ServerID, Value: in.Body.ID}}}
	}
	if err := in.Body.Validate(); err != nil {
		return nil, invalidSpec(err)
	}
	s, err := rt.Registry.Update(ctx, in.Body, actor(ctx))
	if err != nil {
		return nil, httpError(err)
	}
	rt.audit(ctx, AuditServerUpdated, true, map[string]any{"server_id": s.Spec.ID, "transport": s.Spec.Transport})
	if _, err := rt.Manager.Reconnect(ctx, s.Spec.ID); err != nil {
		return nil, httpError(err)
	}
	return rt.detail(s), nil
}

func (rt *Routes) delete(ctx context.Context, in *mcpServerIDInput) (*struct{}, error) {
	if err := rt.Registry.Delete(ctx, in.ServerID, actor(ctx)); err != nil {
		return nil, httpError(err)
	}
	if err := rt.Manager.Forget(ctx, in.ServerID); err != nil {
		return nil, httpError(err)
	}
	rt.audit(ctx, AuditServerDeleted, true, map[string]any{"server_id": in.ServerID})
	return nil, nil
}

type mcpConnectInput struct {
	Body struct {
		ServerID string `json:"serverId" maxLength:"64" example:"homelab-mcp" doc:"The server's id."`
		Endpoint string `json:"endpoint,omitempty" maxLength:"4096" doc:"Ignored; kept for the original's clients (the registry says where the server is)."`
	}
}

// ConnectResult is the answer of connect: the original's keys, then
// what the server reported.
type ConnectResult struct {
	Status          string `json:"status" enum:"connected" example:"connected"`
	ServerID        string `json:"serverId" example:"homelab-mcp"`
	Version         string `json:"version" example:"1.0.0" doc:"The version the server reported in its initialize answer."`
	ServerName      string `json:"server_name" example:"homelab-mcp-server"`
	ProtocolVersion string `json:"protocol_version" example:"2025-11-25"`
	PID             int    `json:"pid,omitempty" example:"4242" doc:"A stdio server's process id."`
}

type mcpConnectOutput struct {
	Body ConnectResult
}

func (rt *Routes) connect(ctx context.Context, in *mcpConnectInput) (*mcpConnectOutput, error) {
	id := in.Body.ServerID
	st, err := rt.Manager.Connect(ctx, id)
	rt.audit(ctx, AuditConnected, err == nil, map[string]any{"server_id": id, "error": errorText(err)})
	if err != nil {
		return nil, httpError(err)
	}
	return &mcpConnectOutput{Body: ConnectResult{Status: "connected", ServerID: id, Version: st.ServerVersion,
		ServerName: st.ServerName, ProtocolVersion: st.ProtocolVersion, PID: st.PID}}, nil
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	if d := publicDetail(err); d != "" {
		return d
	}
	return err.Error()
}

type mcpStatusOutput struct {
	Body struct {
		Status string `json:"status" enum:"disconnected" example:"disconnected"`
	}
}

func (rt *Routes) disconnect(ctx context.Context, in *mcpServerIDInput) (*mcpStatusOutput, error) {
	if _, err := rt.Registry.Get(ctx, in.ServerID); err != nil {
		return nil, httpError(err)
	}
	if err := rt.Manager.Disconnect(ctx, in.ServerID); err != nil {
		return nil, httpError(err)
	}
	rt.audit(ctx, AuditDisconnected, true, map[string]any{"server_id": in.ServerID})
	out := &mcpStatusOutput{}
	out.Body.Status = "disconnected"
	return out, nil
}

// ServerHealth is a server's health: the original's status, then the
// rest.
type ServerHealth struct {
	Status          string     `json:"status" enum:"online,offline,error,restarting" example:"online"`
	LastHealthCheck *time.Time `json:"lastHealthCheck"`
	LastError       string     `json:"last_error,omitempty" example:"exited: exit status 3"`
	LastErrorAt     *time.Time `json:"last_error_at,omitempty"`
	Restarts        int        `json:"restarts" example:"0"`
	PID             int        `json:"pid,omitempty" example:"4242"`
	Uptime          string     `json:"uptime" example:"1h 5m"`
}

type mcpHealthOutput struct {
	Body ServerHealth
}

func (rt *Routes) health(ctx context.Context, in *mcpServerIDInput) (*mcpHealthOutput, error) {
	if _, err := rt.Registry.Get(ctx, in.ServerID); err != nil {
		return nil, httpError(err)
	}
	if rt.Manager.State(in.ServerID).Status == StatusOnline {
		if err := rt.Manager.Ping(ctx, in.ServerID); err != nil && rt.Logger != nil {
			rt.Logger.WarnContext(ctx, "mcp server did not answer a ping", slog.String("mcp_server", in.ServerID), slog.Any("error", err))
		}
	}
	st := rt.Manager.State(in.ServerID)
	return &mcpHealthOutput{Body: ServerHealth{Status: st.Status, LastHealthCheck: timePtr(st.LastHealthCheck),
		LastError: st.LastError, LastErrorAt: timePtr(st.LastErrorAt), Restarts: st.Restarts, PID: st.PID,
		Uptime: FormatUptime(st.Uptime(time.Now()))}}, nil
}

// CallLatency are call latencies in milliseconds.
type CallLatency struct {
	Mean float64 `json:"mean" example:"3.2"`
	P50  float64 `json:"p50" example:"2.9"`
	P95  float64 `json:"p95" example:"8.1"`
}

// ServerMetrics is a server's metrics: the original's requests,
// errors and uptime, then the rest.
type ServerMetrics struct {
	Requests    int64       `json:"requests" example:"42"`
	Errors      int64       `json:"errors" example:"1" doc:"Calls that failed: tool errors, JSON-RPC errors, timeouts, refusals, broken connections."`
	Uptime      string      `json:"uptime" example:"2d 3h 5m" doc:"Of the current run: \"Xd Yh Zm\", \"Yh Zm\" or \"Zm\"."`
	Timeouts    int64       `json:"timeouts" example:"1"`
	Rejected    int64       `json:"rejected" example:"0" doc:"Calls refused with 429: max_concurrent calls were in flight."`
	Denied      int64       `json:"denied" example:"0" doc:"Calls of tools outside allowed_tools."`
	InFlight    int         `json:"in_flight" example:"0"`
	Restarts    int         `json:"restarts" example:"0"`
	CallLatency CallLatency `json:"latency_ms" doc:"p50 and p95 over the last 256 calls, mean over all."`
}

type mcpMetricsOutput struct {
	Body ServerMetrics
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (rt *Routes) metrics(ctx context.Context, in *mcpServerIDInput) (*mcpMetricsOutput, error) {
	if _, err := rt.Registry.Get(ctx, in.ServerID); err != nil {
		return nil, httpError(err)
	}
	st := rt.Manager.State(in.ServerID)
	return &mcpMetricsOutput{Body: ServerMetrics{Requests: st.Requests, Errors: st.Errors,
		Uptime: FormatUptime(st.Uptime(time.Now())), Timeouts: st.Timeouts, Rejected: st.Rejected, Denied: st.Denied,
		InFlight: st.InFlight, Restarts: st.Restarts,
		CallLatency: CallLatency{Mean: ms(st.LatencyMean), P50: ms(st.LatencyP50), P95: ms(st.LatencyP95)}}}, nil
}

type mcpRequestInput struct {
	Body struct {
		ServerID string         `json:"serverId" maxLength:"64" example:"homelab-mcp"`
		Request  JSONRPCRequest `json:"request"`
	}
}

type mcpRequestOutput struct {
	Body JSONRPCResponse
}

func (rt *Routes) request(ctx context.Context, in *mcpRequestInput) (*mcpRequestOutput, error) {
	id, r := in.Body.ServerID, in.Body.Request
	tool := ""
	if r.Method == "tools/call" {
		tool, _ = r.Params["name"].(string)
	}
	started := time.Now()
	resp, err := rt.Manager.Forward(ctx, id, r)
	result := resultOf(err)
	if err == nil && resp.Error != nil {
		result = ResultRPCError
	} else if err == nil {
		if c, ok := resp.Result.(*mcpsdk.CallToolResult); ok && c.IsError {
			result = ResultToolError
		}
	}
	// A malformed request never reached a server; a refused method is
	// recorded as a denied call.
	if !errors.Is(err, dashcore.ErrInvalid) || errors.Is(err, ErrMethodNotAllowed) {
		rt.recordCall(ctx, id, r.Method, tool, started, result)
	}
	if err != nil {
		return nil, httpError(err)
	}
	return &mcpRequestOutput{Body: *resp}, nil
}

// resultOf classifies a call's error for the audit log and events.
func resultOf(err error) string {
	var rpc *RPCError
	switch {
	case err == nil:
		return ResultOK
	case errors.As(err, &rpc):
		return ResultRPCError
	case errors.Is(err, ErrTimeout):
		return ResultTimeout
	case errors.Is(err, ErrBusy):
		return ResultBusy
	case errors.Is(err, ErrToolNotAllowed), errors.Is(err, ErrMethodNotAllowed):
		return ResultDenied
	case errors.Is(err, ErrNotConnected), errors.Is(err, ErrRestarting), errors.Is(err, ErrNotFound), errors.Is(err, ErrStopped):
		return ResultUnavailable
	case errors.Is(err, context.Canceled):
		return ResultCanceled
	}
	return ResultFailed
}

type mcpToolsOutput struct {
	Body struct {
		ServerID string       `json:"server_id" example:"homelab-mcp"`
		Tools    []ServerTool `json:"tools"`
	}
}

func (rt *Routes) tools(ctx context.Context, in *mcpServerIDInput) (*mcpToolsOutput, error) {
	started := time.Now()
	tools, err := rt.Manager.ListTools(ctx, in.ServerID)
	rt.recordCall(ctx, in.ServerID, "tools/list", "", started, resultOf(err))
	if err != nil {
		return nil, httpError(err)
	}
	out := &mcpToolsOutput{}
	out.Body.ServerID, out.Body.Tools = in.ServerID, tools
	if out.Body.Tools == nil {
		out.Body.Tools = []ServerTool{}
	}
	return out, nil
}

// ServerResource is a resource of a server.
type ServerResource struct {
	URI         string `json:"uri" example:"file:///srv/notes.md"`
	Name        string `json:"name" example:"notes"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	MIMEType    string `json:"mime_type,omitempty" example:"text/markdown"`
	Size        int64  `json:"size,omitempty"`
}

type mcpResourcesOutput struct {
	Body struct {
		ServerID  string           `json:"server_id" example:"homelab-mcp"`
		Resources []ServerResource `json:"resources"`
	}
}

func (rt *Routes) resources(ctx context.Context, in *mcpServerIDInput) (*mcpResourcesOutput, error) {
	started := time.Now()
	res, err := rt.Manager.ListResources(ctx, in.ServerID)
	rt.recordCall(ctx, in.ServerID, "resources/list", "", started, resultOf(err))
	if err != nil {
		return nil, httpError(err)
	}
	out := &mcpResourcesOutput{}
	out.Body.ServerID = in.ServerID
	out.Body.Resources = make([]ServerResource, len(res))
	for i, r := range res {
		out.Body.Resources[i] = ServerResource{URI: r.URI, Name: r.Name, Title: r.Title, Description: r.Description, MIMEType: r.MIMEType, Size: r.Size}
	}
	return out, nil
}

type mcpCallInput struct {
	ServerID string `path:"server_id" maxLength:"64" pattern:"^[a-z0-9][a-z0-9._-]{0,63}$" example:"homelab-mcp" doc:"The server's id."`
	Tool     string `path:"tool" maxLength:"128" example:"echo" doc:"The tool's name."`
	Body     struct {
		Arguments map[string]any `json:"arguments,omitempty" doc:"The tool's arguments, a JSON object." example:"{\"text\":\"hello\"}"`
	}
}

// ToolCallResult is a tool's answer.
type ToolCallResult struct {
	ServerID          string           `json:"server_id" example:"homelab-mcp"`
	Tool              string           `json:"tool" example:"echo"`
	IsError           bool             `json:"is_error" example:"false" doc:"The tool reported a failure (in content)."`
	Content           []map[string]any `json:"content" doc:"The MCP content blocks." example:"[{\"type\":\"text\",\"text\":\"hello\"}]"`
	StructuredContent any              `json:"structured_content,omitempty" doc:"The tool's structured result, if it has one."`
	DurationMS        float64          `json:"duration_ms" example:"2.4"`
}

type mcpCallOutput struct {
	Body ToolCallResult
}

func (rt *Routes) callTool(ctx context.Context, in *mcpCallInput) (*mcpCallOutput, error) {
	started := time.Now()
	res, err := rt.Manager.CallTool(ctx, in.ServerID, in.Tool, in.Body.Arguments)
	result := resultOf(err)
	if err == nil && res.IsError {
		result = ResultToolError
	}
	rt.recordCall(ctx, in.ServerID, "tools/call", in.Tool, started, result)
	if err != nil {
		return nil, httpError(err)
	}
	out := &mcpCallOutput{Body: ToolCallResult{ServerID: in.ServerID, Tool: in.Tool, IsError: res.IsError,
		StructuredContent: res.StructuredContent, DurationMS: ms(time.Since(started))}}
	out.Body.Content = []map[string]any{}
	if b, err := json.Marshal(res.Content); err == nil {
		_ = json.Unmarshal(b, &out.Body.Content)
	}
	return out, nil
}

// recordCall audits a call and publishes it on TopicToolCalled; a
// failure is logged, never returned.
func (rt *Routes) recordCall(ctx context.Context, id, method, tool string, started time.Time, result string) {
	d := time.Since(started)
	ok := result == ResultOK
	typ := AuditRequest
	if method == "tools/call" {
		typ = AuditToolCalled
	}
	details := map[string]any{"server_id": id, "method": method, "duration_ms": ms(d), "result": result}
	if tool != "" {
		details["tool"] = tool
	}
	rt.audit(ctx, typ, ok, details)
	if rt.DB == nil || rt.Outbox == nil {
		return
	}
	ev := ToolCalled{ServerID: id, Method: method, Tool: tool, Actor: actor(ctx), DurationMS: ms(d),
		Outcome: outcome(ok), Result: result, RequestID: dashcore.RequestID(ctx), Timestamp: time.Now().UTC()}
	ctx = context.WithoutCancel(ctx)
	err := store.Tx(ctx, rt.DB, func(tx pgx.Tx) error {
		_, err := rt.Outbox.PublishTx(ctx, tx, TopicToolCalled, KindToolCalled, ev)
		return err
	})
	if err != nil && rt.Logger != nil {
		rt.Logger.ErrorContext(ctx, "mcp call event not published", slog.String("mcp_server", id), slog.Any("error", err))
	}
}

func outcome(ok bool) string {
	if ok {
		return "success"
	}
	return "failure"
}

// audit records an event; a failure is logged, never returned.
func (rt *Routes) audit(ctx context.Context, typ string, ok bool, details map[string]any) {
	if rt.Auditor == nil {
		return
	}
	ci := auth.ClientInfoFrom(ctx)
	e := auth.NewAuditEvent(typ, nil, ci.IP, auth.PrincipalFrom(ctx))
	e.UserAgent, e.RequestID, e.Outcome, e.Details = ci.UserAgent, dashcore.RequestID(ctx), outcome(ok), details
	if err := rt.Auditor.Audit(ctx, e); err != nil && rt.Logger != nil {
		rt.Logger.ErrorContext(ctx, "mcp audit event not recorded", slog.String("type", typ), slog.Any("error", err))
	}
}
