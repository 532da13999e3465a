package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
)

// Path is where the MCP endpoint is served (streamable HTTP, POST only:
// the server is stateless).
const Path = "/mcp"

// AuditToolCall is the audit event of a tool call, allowed or not.
const AuditToolCall = "mcp_tool_call"

// DefaultMaxResultBytes is the default of Options.MaxResultBytes.
const DefaultMaxResultBytes = 1 << 20

// Permissioner decides permissions; *auth.Authorizer is one. Allowed must
// be safe for concurrent use.
type Permissioner interface {
	Allowed(p *auth.Principal, perm auth.Permission) bool
}

// Options configures a [Server]. Authorizer is required; the rest may be
// left zero.
type Options struct {
	// Authorizer decides which tools a caller sees and may call. Required.
	Authorizer Permissioner
	// Auditor records every tool call ([AuditToolCall]); nil records
	// nothing.
	Auditor auth.Auditor
	// Logger receives audit failures and panics of operations; nil
	// discards them.
	Logger *slog.Logger
	// TracerProvider makes the span of each tool call, a child of the
	// /mcp request's span; nil makes none (the call still carries the
	// request's trace).
	TracerProvider trace.TracerProvider
	// Name and Version identify the server to clients; default
	// "taylordash" and "dev".
	Name, Version string
	// Instructions are sent to clients at initialization; a default
	// explains what the tools are.
	Instructions string
	// MaxResultBytes caps a tool's result; a larger answer is an error
	// that asks for less. Default DefaultMaxResultBytes.
	MaxResultBytes int64
}

// defaultInstructions is Options.Instructions' default.
const defaultInstructions = "The tools of this server are operations of the TaylorDash REST API: the same " +
	"permissions, validation and answers. You see only the tools your credential allows. A tool's input has " +
	"the operation's path and query parameters as arguments and its JSON request body under \"body\"; its " +
	"result is the operation's JSON answer, and a failure is the operation's problem (RFC 9457)."

// Server is the MCP server of an application's API: every operation
// declared with dashcore.MCPTool becomes a tool ([Tools]) served at
// [Path] over streamable HTTP. The endpoint is a raw route documented as
// needing an authenticated caller, so the application's guard and
// authenticators apply to it as to the REST API. The server is stateless:
// each HTTP request is answered on its own, with the principal the guard
// found for it, so a revoked credential stops working at once and
// instances need no sticky sessions.
//
// tools/list shows a caller only the tools whose requirement it meets
// (Authorizer.Allowed). tools/call checks again, with the requirement of
// the operation the call is routed to, then serves the operation through
// the application's ServeMux with the caller's context (principal,
// request id, trace), so the operation's own validation, field filtering
// and events apply. Each call is audited ([AuditToolCall]).
//
// A Server is safe for concurrent use once registered.
type Server struct {
	opts   Options
	log    *slog.Logger
	tracer trace.Tracer

	mux  *http.ServeMux
	oapi *huma.OpenAPI

	once    sync.Once
	tools   []*Tool
	err     error
	handler http.Handler
}

// New returns a server; register it with [Server.Contribution].
func New(opts Options) (*Server, error) {
	if opts.Authorizer == nil {
		return nil, errors.New("mcpserver: Options.Authorizer is required: it decides which tools a caller sees")
	}
	if opts.Name == "" {
		opts.Name = "taylordash"
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.Instructions == "" {
		opts.Instructions = defaultInstructions
	}
	if opts.MaxResultBytes <= 0 {
		opts.MaxResultBytes = DefaultMaxResultBytes
	}
	s := &Server{opts: opts, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	tp := opts.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	s.tracer = tp.Tracer("github.com/taylordash/taylordash/pluginhost/mcp/mcpserver")
	return s, nil
}

// Contribution returns the server as a dashcore contribution named
// "mcp-server".
func (s *Server) Contribution() dashcore.Routes {
	return dashcore.Routes{Name: "mcp-server", Register: s.Register, Handle: s.Handle}
}

// Register documents POST /mcp as needing an authenticated caller, and
// keeps api's document, where the tools are read from on first use.
func (s *Server) Register(api huma.API) {
	s.oapi = api.OpenAPI()
	op := auth.RequireAuthenticated(huma.Operation{
		OperationID: "mcp", Method: http.MethodPost, Path: Path, Tags: []string{"mcp"},
		Summary: "MCP endpoint (streamable HTTP)",
		Description: "The Model Context Protocol endpoint, stateless streamable HTTP: a JSON-RPC message per POST, " +
			"answered as application/json. Its tools are the operations marked `x-mcp-tool`; tools/list shows only " +
			"those the caller's permissions allow, and tools/call checks again and audits the call. See docs/mcp.md.",
		RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{"application/json": {
			Schema:  &huma.Schema{Type: "object", Description: "A JSON-RPC 2.0 message."},
			Example: map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
		}}},
		Responses: map[string]*huma.Response{
			"200": {Description: "The JSON-RPC answer.", Content: map[string]*huma.MediaType{"application/json": {
				Schema: &huma.Schema{Type: "object", Description: "A JSON-RPC 2.0 response."},
				Example: map[string]any{"jsonrpc": "2.0", "id": 1, "result": map[string]any{"tools": []any{
					map[string]any{"name": "list_projects", "title": "List projects", "inputSchema": map[string]any{"type": "object"}}}}},
			}}},
			"202": {Description: "A notification or response was accepted."},
			"400": {Description: "Not a JSON-RPC message, or a protocol version the server does not speak."},
			"401": {Description: "No valid credential."},
			"415": {Description: "The body is not application/json."},
		},
	})
	api.OpenAPI().AddOperation(&op)
}

// Handle adds the raw handler of POST /mcp to mux, through which tool
// calls are served.
func (s *Server) Handle(mux *http.ServeMux) {
	s.mux = mux
	mux.Handle(http.MethodPost+" "+Path, s)
}

// Tools returns the server's tools by name, read from the document on
// first use (once every contribution has registered its operations). The
// error is the one [Tools] gave.
func (s *Server) Tools() ([]*Tool, error) {
	s.once.Do(s.build)
	return s.tools, s.err
}

func (s *Server) build() {
	if s.oapi == nil || s.mux == nil {
		s.err = errors.New("mcpserver: the server is not registered: pass Contribution() to the application")
		return
	}
	s.tools, s.err = Tools(s.oapi)
	if s.err != nil {
		return
	}
	// The SDK logs every session at info level: one per request here.
	sdkLog := slog.New(warnOnly{s.log.Handler()})
	srv := mcp.NewServer(&mcp.Implementation{Name: s.opts.Name, Version: s.opts.Version}, &mcp.ServerOptions{
		Instructions: s.opts.Instructions,
		Logger:       sdkLog,
		// Tools, no logging; the list never changes for a session (there
		// are none), it is computed per request.
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}},
		// The list depends on the caller and on the policy of the moment.
		SetCacheable: func(_ context.Context, _ mcp.Request, c *mcp.Cacheable) { c.TTLMs, c.CacheScope = 0, "private" },
	})
	for _, t := range s.tools {
		srv.AddTool(t.definition(), s.toolHandler(t))
	}
	srv.AddReceivingMiddleware(s.filterList)
	s.handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{
		Stateless:    true,
		JSONResponse: true,
		Logger:       sdkLog,
		// Every request is authenticated by the guard with a credential
		// a rebinding page cannot send (see docs/mcp.md); behind a proxy
		// on the same host the Host header is the public name.
		DisableLocalhostProtection: true,
	})
}

// ServeHTTP serves the MCP endpoint. The request has passed the guard:
// its context holds the principal.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Tools(); err != nil {
		s.log.ErrorContext(r.Context(), "MCP tools unavailable", slog.Any("error", err))
		dashcore.WriteProblem(w, r, http.StatusServiceUnavailable, "the MCP server has no tools: see the server log")
		return
	}
	ctx := context.WithValue(r.Context(), outerKey{}, outer{host: r.Host, remoteAddr: r.RemoteAddr, proto: r.Proto,
		protoMajor: r.ProtoMajor, protoMinor: r.ProtoMinor, userAgent: r.UserAgent()})
	s.handler.ServeHTTP(w, r.WithContext(ctx))
}

// filterList keeps in a tools/list answer the tools the caller may call.
func (s *Server) filterList(next mcp.MethodHandler) mcp.MethodHandler {
	byName := make(map[string]*Tool, len(s.tools))
	for _, t := range s.tools {
		byName[t.Name] = t
	}
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		res, err := next(ctx, method, req)
		list, ok := res.(*mcp.ListToolsResult)
		if err != nil || method != "tools/list" || !ok {
			return res, err
		}
		p := auth.PrincipalFrom(ctx)
		cp := *list
		cp.Tools = slices.DeleteFunc(slices.Clone(list.Tools), func(mt *mcp.Tool) bool {
			t := byName[mt.Name]
			return t == nil || !s.allowed(p, t.Requirement)
		})
		return &cp, nil
	}
}

func (s *Server) toolHandler(t *Tool) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var args json.RawMessage
		if req != nil && req.Params != nil {
			args = req.Params.Arguments
		}
		return s.Call(ctx, t, args), nil
	}
}

// Call runs t with args (a JSON object) for the principal in ctx, as
// tools/call does: it checks the requirement of the operation the call is
// routed to, serves it through the ServeMux with ctx, audits the call,
// and returns the operation's JSON answer, or its problem as an error
// result (IsError).
func (s *Server) Call(ctx context.Context, t *Tool, args json.RawMessage) *mcp.CallToolResult {
	started := time.Now()
	ctx, span := s.tracer.Start(ctx, "mcp.tool "+t.Name, trace.WithAttributes(
		attribute.String("mcp.tool.name", t.Name),
		attribute.String("mcp.operation_id", t.Operation.OperationID),
	))
	defer span.End()
	p := auth.PrincipalFrom(ctx)
	c := &callRecord{tool: t, permission: t.Permission()}
	res := s.call(ctx, t, p, args, c)
	c.duration = time.Since(started)
	span.SetAttributes(attribute.Int("http.response.status_code", c.status))
	if c.status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(c.status))
	}
	s.audit(ctx, p, c)
	return res
}

// callRecord is what the audit records of a call.
type callRecord struct {
	tool       *Tool
	permission string
	path       string
	status     int
	denied     bool
	duration   time.Duration
}

func (s *Server) call(ctx context.Context, t *Tool, p *auth.Principal, args json.RawMessage, c *callRecord) (res *mcp.CallToolResult) {
	if !s.allowed(p, t.Requirement) {
		c.status, c.denied = http.StatusForbidden, true
		return problemResult(http.StatusForbidden, "the caller may not use tool "+t.Name+": it needs "+t.Permission())
	}
	inner, err := t.request(ctx, args)
	if err != nil {
		c.status = http.StatusBadRequest
		var ae *ArgumentError
		if errors.As(err, &ae) {
			return problemResult(http.StatusBadRequest, strings.TrimPrefix(ae.Error(), "mcpserver: "))
		}
		return problemResult(http.StatusBadRequest, "the arguments do not make a request")
	}
	c.path = inner.URL.Path
	_, pattern := s.mux.Handler(inner)
	op := dashcore.DocumentedOperation(s.oapi, strings.TrimSuffix(pattern, "{$}"))
	req, declared := auth.RequirementOf(op)
	switch {
	case pattern != t.Pattern || op == nil:
		// A path argument that changes the route ("..", an encoded
		// slash that the mux reads otherwise): never run another one.
		c.status = http.StatusBadRequest
		return problemResult(http.StatusBadRequest, "the path arguments do not lead to the operation of tool "+t.Name)
	case !declared || !s.allowed(p, req):
		c.status, c.denied = http.StatusForbidden, true
		return problemResult(http.StatusForbidden, "the caller may not use tool "+t.Name+": it needs "+t.Permission())
	}
	rec := newRecorder(s.opts.MaxResultBytes)
	defer func() {
		if v := recover(); v != nil {
			s.log.ErrorContext(ctx, "MCP tool call panicked", slog.String("tool", t.Name),
				slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			c.status = http.StatusInternalServerError
			res = problemResult(http.StatusInternalServerError, "")
		}
	}()
	s.mux.ServeHTTP(rec, inner)
	c.status = rec.status
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if rec.overflow {
		c.status = http.StatusInsufficientStorage
		return problemResult(http.StatusInsufficientStorage, fmt.Sprintf(
			"the answer exceeds %d bytes: ask for less (a smaller limit, a filter)", s.opts.MaxResultBytes))
	}
	body := bytes.TrimSpace(rec.body.Bytes())
	if c.status >= 400 {
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: string(body)}},
			StructuredContent: object(body)}
	}
	if len(body) == 0 {
		body = []byte(fmt.Sprintf(`{"status":%d}`, c.status))
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(body)}}, StructuredContent: object(body)}
}

// object returns body as structured content when it is a JSON object.
func object(body []byte) any {
	if len(body) > 0 && body[0] == '{' && json.Valid(body) {
		return json.RawMessage(body)
	}
	return nil
}

// problemResult returns an error result holding the problem (RFC 9457,
// as dashcore writes them) of status with detail ("" for the status's
// text).
func problemResult(status int, detail string) *mcp.CallToolResult {
	if detail == "" {
		detail = http.StatusText(status)
	}
	b, _ := json.Marshal(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}{"about:blank", http.StatusText(status), status, detail})
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: string(b)}},
		StructuredContent: json.RawMessage(b)}
}

// audit records a call; a failure is logged.
func (s *Server) audit(ctx context.Context, p *auth.Principal, c *callRecord) {
	if s.opts.Auditor == nil {
		return
	}
	e := auth.NewAuditEvent(AuditToolCall, nil, auth.ClientInfoFrom(ctx).IP, p)
	e.UserAgent = auth.ClientInfoFrom(ctx).UserAgent
	e.RequestID = dashcore.RequestID(ctx)
	if c.status >= 400 {
		e.Outcome = "failure"
	}
	e.Details = map[string]any{
		"tool":        c.tool.Name,
		"operation":   c.tool.Operation.OperationID,
		"method":      strings.ToUpper(c.tool.Operation.Method),
		"permission":  c.permission,
		"status":      c.status,
		"duration_ms": float64(c.duration.Microseconds()) / 1000,
	}
	if c.path != "" {
		e.Details["path"] = c.path
	}
	if c.denied {
		e.Details["denied"] = true
	}
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		e.Details["trace_id"] = sc.TraceID().String()
	}
	if err := s.opts.Auditor.Audit(ctx, e); err != nil {
		s.log.ErrorContext(ctx, "MCP tool call not audited", slog.String("tool", c.tool.Name), slog.Any("error", err))
	}
}

// warnOnly passes on the records of warning level and above.
type warnOnly struct{ slog.Handler }

func (h warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h warnOnly) WithAttrs(as []slog.Attr) slog.Handler { return warnOnly{h.Handler.WithAttrs(as)} }

func (h warnOnly) WithGroup(name string) slog.Handler { return warnOnly{h.Handler.WithGroup(name)} }
