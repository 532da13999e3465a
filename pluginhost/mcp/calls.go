package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	mcpsdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/taylordash/taylordash/dashcore"
)

// ForwardedMethods are the JSON-RPC methods that [Manager.Forward] (the
// request route) sends to a server; others are refused with
// [ErrMethodNotAllowed]. tools/call is further restricted to the
// server's allowed_tools, and tools/list answers only those tools.
var ForwardedMethods = []string{
	"ping",
	"tools/list", "tools/call",
	"resources/list", "resources/templates/list", "resources/read",
	"prompts/list", "prompts/get",
}

// maxListPages bounds the pages of a typed listing.
const maxListPages = 20

// RPCError is a JSON-RPC error a server answered. It wraps [ErrUpstream]
// (502 on the typed routes; the request route answers it as the
// JSON-RPC response it is).
type RPCError struct {
	// ServerID names the server; Method is the method called.
	ServerID, Method string
	// Code, Message and Data are the JSON-RPC error object's.
	Code    int64
	Message string
	Data    json.RawMessage
}

// Error implements error.
func (e *RPCError) Error() string {
	return fmt.Sprintf("mcp: server %s answered %s with error %d: %s", e.ServerID, e.Method, e.Code, e.Message)
}

// Unwrap returns ErrUpstream.
func (e *RPCError) Unwrap() error { return ErrUpstream }

// detail is the public message of e.
func (e *RPCError) detail() string {
	msg := e.Message
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return fmt.Sprintf("MCP server %s answered %s with error %d: %s", e.ServerID, e.Method, e.Code, msg)
}

// call runs fn on the server's live session within the server's call
// timeout and concurrency cap, and records the outcome (metrics, span,
// counters). fn returns the result of a call that reached the server
// and got an answer (ok or tool_error); call maps errors to the client's
// errors. tool, when not empty, must be allowed.
func (m *Manager) call(ctx context.Context, id, method, tool string, fn func(ctx context.Context, c *conn, s *session) (string, error)) (err error) {
	start := time.Now()
	ctx, span := m.tel.tracer.Start(ctx, "mcp "+method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(AttrServer.String(id), AttrMethod.String(method)))
	result := ResultOK
	defer func() {
		span.SetAttributes(AttrResult.String(result))
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, result)
		}
		span.End()
	}()
	if tool != "" {
		span.SetAttributes(AttrTool.String(tool))
	}
	c, err := m.conn(ctx, id)
	if err != nil {
		result = ResultUnavailable
		return err
	}
	defer func() {
		d := time.Since(start)
		c.rec.observe(result, d)
		m.tel.call(ctx, id, method, result, d)
	}()
	if tool != "" && !c.spec.allows(tool) {
		result = ResultDenied
		return serverErr(id, ErrToolNotAllowed, "tool %s is not allowed on MCP server %s", tool, id)
	}
	s := c.current()
	if s == nil {
		result = ResultUnavailable
		return c.unavailable()
	}
	select {
	case c.sem <- struct{}{}:
	default:
		result = ResultBusy
		return serverErr(id, ErrBusy, "MCP server %s has %d calls in flight, its max_concurrent; retry later", id, cap(c.sem))
	}
	defer func() { <-c.sem }()
	c.rec.inFlight(1)
	defer c.rec.inFlight(-1)
	timeout := time.Duration(c.spec.CallTimeout)
	callCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	result, err = fn(callCtx, c, s)
	if err != nil {
		result, err = c.callError(ctx, callCtx, method, timeout, err)
	}
	return err
}

// callError maps the error of a call.
func (c *conn) callError(parent, callCtx context.Context, method string, timeout time.Duration, err error) (string, error) {
	id := c.spec.ID
	var wire *jsonrpc.Error
	switch {
	case parent.Err() != nil:
		return ResultCanceled, parent.Err()
	case errors.Is(callCtx.Err(), context.DeadlineExceeded):
		return ResultTimeout, serverErr(id, fmt.Errorf("%w: %w", ErrTimeout, err),
			"MCP server %s did not answer %s within %s; the call was cancelled", id, method, timeout)
	case errors.As(err, &wire):
		return ResultRPCError, &RPCError{ServerID: id, Method: method, Code: wire.Code, Message: wire.Message, Data: wire.Data}
	case errors.Is(err, mcpsdk.ErrConnectionClosed):
		return ResultFailed, serverErr(id, fmt.Errorf("%w: %w", ErrUpstream, err), "MCP server %s closed the connection", id)
	}
	return ResultFailed, serverErr(id, fmt.Errorf("%w: %w", ErrUpstream, err), "MCP server %s failed to answer %s", id, method)
}

// ServerTool is a tool of a server, with whether its allow-list lets it
// be called.
type ServerTool struct {
	// Name is the tool's name.
	Name string `json:"name" example:"echo"`
	// Title is its display name, if the server gives one.
	Title string `json:"title,omitempty"`
	// Description says what it does.
	Description string `json:"description,omitempty" example:"Echoes its text."`
	// InputSchema is the JSON Schema of its arguments.
	InputSchema any `json:"input_schema,omitempty"`
	// Allowed tells whether the server's allowed_tools let it be called.
	Allowed bool `json:"allowed" example:"true"`
}

// ListTools lists the server's tools (every page, up to 20), marking
// those its allow-list lets be called.
func (m *Manager) ListTools(ctx context.Context, id string) ([]ServerTool, error) {
	var tools []ServerTool
	err := m.call(ctx, id, "tools/list", "", func(ctx context.Context, c *conn, s *session) (string, error) {
		params := &mcpsdk.ListToolsParams{}
		for range maxListPages {
			res, err := s.cs.ListTools(ctx, params)
			if err != nil {
				return "", err
			}
			for _, t := range res.Tools {
				tools = append(tools, ServerTool{Name: t.Name, Title: t.Title, Description: t.Description,
					InputSchema: t.InputSchema, Allowed: c.spec.allows(t.Name)})
			}
			if res.NextCursor == "" {
				break
			}
			params = &mcpsdk.ListToolsParams{Cursor: res.NextCursor}
		}
		return ResultOK, nil
	})
	return tools, err
}

// ListResources lists the server's resources (every page, up to 20).
func (m *Manager) ListResources(ctx context.Context, id string) ([]*mcpsdk.Resource, error) {
	var out []*mcpsdk.Resource
	err := m.call(ctx, id, "resources/list", "", func(ctx context.Context, c *conn, s *session) (string, error) {
		params := &mcpsdk.ListResourcesParams{}
		for range maxListPages {
			res, err := s.cs.ListResources(ctx, params)
			if err != nil {
				return "", err
			}
			out = append(out, res.Resources...)
			if res.NextCursor == "" {
				break
			}
			params = &mcpsdk.ListResourcesParams{Cursor: res.NextCursor}
		}
		return ResultOK, nil
	})
	return out, err
}

// CallTool calls a tool with arguments (a JSON object, or nil). The tool
// must be in the server's allowed_tools ([ErrToolNotAllowed]); the call
// is bounded by the server's call_timeout ([ErrTimeout]; the server is
// sent notifications/cancelled) and its max_concurrent ([ErrBusy]). A
// tool that fails answers a result with IsError set, and no error.
func (m *Manager) CallTool(ctx context.Context, id, tool string, args map[string]any) (*mcpsdk.CallToolResult, error) {
	var out *mcpsdk.CallToolResult
	err := m.call(ctx, id, "tools/call", tool, func(ctx context.Context, c *conn, s *session) (string, error) {
		res, err := s.cs.CallTool(ctx, &mcpsdk.CallToolParams{Name: tool, Arguments: args})
		if err != nil {
			return "", err
		}
		out = res
		if res.IsError {
			return ResultToolError, nil
		}
		return ResultOK, nil
	})
	return out, err
}

// JSONRPCRequest is a JSON-RPC 2.0 request to forward to a server (the
// request route's "request").
type JSONRPCRequest struct {
	// JSONRPC must be "2.0".
	JSONRPC string `json:"jsonrpc" enum:"2.0" example:"2.0"`
	// ID is a string or a number; absent or null is answered with a null
	// id.
	ID any `json:"id,omitempty" doc:"A string or a number; the response carries it." example:"1"`
	// Method is one of [ForwardedMethods].
	Method string `json:"method" example:"tools/list" doc:"One of ping, tools/list, tools/call, resources/list, resources/templates/list, resources/read, prompts/list, prompts/get."`
	// Params are the method's parameters, an object.
	Params map[string]any `json:"params,omitempty" doc:"The method's parameters." example:"{\"name\":\"echo\",\"arguments\":{\"text\":\"hello\"}}"`
}

// JSONRPCResponse is a JSON-RPC 2.0 response: the server's result, or the
// JSON-RPC error it answered.
type JSONRPCResponse struct {
	// JSONRPC is "2.0".
	JSONRPC string `json:"jsonrpc" example:"2.0"`
	// ID is the request's id.
	ID any `json:"id" doc:"The request's id (null when it had none)."`
	// Result is the method's result.
	Result any `json:"result,omitempty"`
	// Error is the JSON-RPC error the server answered.
	Error *JSONRPCError `json:"error,omitempty"`
}

// JSONRPCError is a JSON-RPC error object.
type JSONRPCError struct {
	Code    int64  `json:"code" example:"-32602"`
	Message string `json:"message" example:"unknown tool"`
	Data    any    `json:"data,omitempty"`
}

// validate checks the request's shape: a 422 naming the field.
func (r JSONRPCRequest) validate() error {
	bad := func(loc, msg string) error {
		return &dashcore.Error{Kind: dashcore.ErrInvalid, Detail: msg, Fields: []*huma.ErrorDetail{{Location: "body.request." + loc, Message: msg}}}
	}
	if r.JSONRPC != "2.0" {
		return bad("jsonrpc", `jsonrpc must be "2.0"`)
	}
	switch r.ID.(type) {
	case nil, string, float64, json.Number, int, int64:
	default:
		return bad("id", "id must be a string or a number")
	}
	if !slices.Contains(ForwardedMethods, r.Method) {
		return &dashcore.Error{Kind: dashcore.ErrInvalid, Err: ErrMethodNotAllowed,
			Detail: fmt.Sprintf("method %q is not forwarded; use one of %v", r.Method, ForwardedMethods),
			Fields: []*huma.ErrorDetail{{Location: "body.request.method", Message: "not a forwarded method", Value: r.Method}}}
	}
	return nil
}

// decodeParams decodes r's params into the SDK's params type.
func decodeParams(r JSONRPCRequest, into any) error {
	if r.Params == nil {
		return nil
	}
	b, err := json.Marshal(r.Params)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(into); err != nil {
		return &dashcore.Error{Kind: dashcore.ErrInvalid, Detail: "params do not fit " + r.Method + ": " + err.Error(),
			Fields: []*huma.ErrorDetail{{Location: "body.request.params", Message: err.Error()}}}
	}
	return nil
}

// Forward sends a JSON-RPC request to the server through its session
// (never as raw bytes: the session numbers requests and matches the
// answers) and returns the JSON-RPC response, whose id is the request's.
// Only [ForwardedMethods] are sent; tools/call only for allowed tools,
// and tools/list answers only the allowed tools. A JSON-RPC error the
// server answers is a response, not an error; the errors are those of
// [Manager.CallTool], and a dashcore.ErrInvalid one for a malformed
// request.
func (m *Manager) Forward(ctx context.Context, id string, req JSONRPCRequest) (*JSONRPCResponse, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	resp := &JSONRPCResponse{JSONRPC: "2.0", ID: req.ID}
	var tool string
	var run func(ctx context.Context, c *conn, s *session) (any, error)
	switch req.Method {
	case "ping":
		run = func(ctx context.Context, c *conn, s *session) (any, error) { return struct{}{}, s.cs.Ping(ctx, nil) }
	case "tools/list":
		var p mcpsdk.ListToolsParams
		if err := decodeParams(req, &p); err != nil {
			return nil, err
		}
		run = func(ctx context.Context, c *conn, s *session) (any, error) {
			res, err := s.cs.ListTools(ctx, &p)
			if err != nil {
				return nil, err
			}
			res.Tools = slices.DeleteFunc(res.Tools, func(t *mcpsdk.Tool) bool { return !c.spec.allows(t.Name) })
			return res, nil
		}
	case "tools/call":
		var p mcpsdk.CallToolParams
		if err := decodeParams(req, &p); err != nil {
			return nil, err
		}
		if p.Name == "" {
			return nil, &dashcore.Error{Kind: dashcore.ErrInvalid, Detail: "tools/call needs params.name",
				Fields: []*huma.ErrorDetail{{Location: "body.request.params.name", Message: "required"}}}
		}
		tool = p.Name
		run = func(ctx context.Context, c *conn, s *session) (any, error) { return s.cs.CallTool(ctx, &p) }
	case "resources/list":
		var p mcpsdk.ListResourcesParams
		if err := decodeParams(req, &p); err != nil {
			return nil, err
		}
		run = func(ctx context.Context, c *conn, s *session) (any, error) { return s.cs.ListResources(ctx, &p) }
	case "resources/templates/list":
		var p mcpsdk.ListResourceTemplatesParams
		if err := decodeParams(req, &p); err != nil {
			return nil, err
		}
		run = func(ctx context.Context, c *conn, s *session) (any, error) {
			return s.cs.ListResourceTemplates(ctx, &p)
		}
	case "resources/read":
		var p mcpsdk.ReadResourceParams
		if err := decodeParams(req, &p); err != nil {
			return nil, err
		}
		run = func(ctx context.Context, c *conn, s *session) (any, error) { return s.cs.ReadResource(ctx, &p) }
	case "prompts/list":
		var p mcpsdk.ListPromptsParams
		if err := decodeParams(req, &p); err != nil {
			return nil, err
		}
		run = func(ctx context.Context, c *conn, s *session) (any, error) { return s.cs.ListPrompts(ctx, &p) }
	case "prompts/get":
		var p mcpsdk.GetPromptParams
		if err := decodeParams(req, &p); err != nil {
			return nil, err
		}
		run = func(ctx context.Context, c *conn, s *session) (any, error) { return s.cs.GetPrompt(ctx, &p) }
	}
	err := m.call(ctx, id, req.Method, tool, func(ctx context.Context, c *conn, s *session) (string, error) {
		res, err := run(ctx, c, s)
		if err != nil {
			return "", err
		}
		resp.Result = res
		if r, ok := res.(*mcpsdk.CallToolResult); ok && r.IsError {
			return ResultToolError, nil
		}
		return ResultOK, nil
	})
	var rpc *RPCError
	if errors.As(err, &rpc) {
		resp.Error = &JSONRPCError{Code: rpc.Code, Message: rpc.Message}
		if len(rpc.Data) > 0 {
			resp.Error.Data = rpc.Data
		}
		return resp, nil
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}
