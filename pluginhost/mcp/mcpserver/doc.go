// Package mcpserver serves an application's REST API as a Model Context
// Protocol server at /mcp, so that an AI agent works with the dashboard
// through exactly the operations, permissions and validation a REST
// client has.
//
// # One declaration per operation
//
// An operation becomes a tool where it is registered, next to the
// requirement that guards it:
//
//	huma.Register(api, dashcore.MCPTool(auth.Require(huma.Operation{
//		OperationID: "create-project", Method: http.MethodPost, Path: "/api/v1/projects",
//		Summary: "Create a project",
//	}, "projects", "write"), "create_project"), rt.createProject)
//
// From that one declaration come the permission the guard enforces on
// POST /api/v1/projects, the security and x-permission the OpenAPI
// document shows, the x-mcp-tool extension, and the tool: its title
// (Summary), description (which names the permission), hints (from the
// method), _meta ([MetaOperation], [MetaPermission]), and input schema
// ([InputSchema]), derived from the schemas huma made of the operation's
// Go input type. dashcore.MCPTool lives in dashcore, which imports no MCP
// code, so that any module (eventbuspg, a domain module) may mark its
// operations without depending on this package.
//
// # Arguments and results
//
// A tool's input is an object: each path and query parameter of the
// operation is an argument of its name, and the JSON request body, as
// the REST operation takes it, is the argument "body":
//
//	{"name": "update_project", "arguments": {"project_id": "0b6f…", "body": {"status": "active"}}}
//
// Component references are resolved, so each schema stands alone. The
// values are not checked here: the call is the REST operation's, whose
// validation answers. The result is the operation's JSON answer as text,
// and as structured content when it is an object; a failure (any status
// from 400) is an error result (IsError) holding the operation's problem
// (RFC 9457), such as the 422 of a missing field, so an agent reads the
// same detail a REST client does. Answers above Options.MaxResultBytes
// are refused with a problem asking for less.
//
// # Who sees and calls what
//
// The endpoint is a raw route documented with auth.RequireAuthenticated,
// so the application's guard authenticates every request (API key,
// bearer token, session) and audits its failures, as for the REST API.
// The server is stateless (streamable HTTP, one JSON-RPC message per
// POST, JSON answers): nothing from an earlier request is trusted, each
// one carries its credential, a revoked key stops working at once, and
// several instances need no sticky sessions.
//
// tools/list shows a caller only the tools whose requirement its
// principal meets (Options.Authorizer), computed per request and marked
// uncacheable and private. tools/call checks again: the call is routed
// through the application's ServeMux, the requirement of the operation
// the route leads to is checked, and only then is the operation served,
// with the /mcp request's context: the principal (so response fields
// filtered by permission stay filtered), the request id, and the trace,
// so that events written by the operation carry the trace id of the tool
// call's HTTP request. A call that is refused never runs the operation.
//
// # Audit and tracing
//
// Every call, allowed or refused, writes an [AuditToolCall] audit event
// (Options.Auditor): the principal, the client's address, the request
// id, and details holding the tool, the operation, the method, the path,
// the permission, the status, the duration, the trace id, and denied for
// a refusal. Each call is a span "mcp.tool <name>" under the /mcp
// request's span (Options.TracerProvider).
//
// # Composing
//
// [Module] provides the [*Server] and contributes its route; it needs
// auth.Module. Without fx, [New] returns the server and
// [Server.Contribution] the routes to give dashcore.NewHandler. The tools
// are read from the OpenAPI document once every contribution is
// registered ([Server.Tools]; the module checks them at start).
//
// docs/mcp.md shows how to connect a desktop MCP client and what each
// default role sees.
package mcpserver
