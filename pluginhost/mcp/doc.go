// Package mcp connects TaylorDash to external MCP (Model Context Protocol)
// servers: tool providers governed like plugins. It is a client built on
// the official Go SDK (github.com/modelcontextprotocol/go-sdk), with a
// registry of servers, supervision of their processes, an allow-list of
// tools, and the original API's routes under /api/v1/mcp. The dashboard
// itself served as an MCP server is package [mcpserver].
//
// # Registry
//
// A server is a [ServerSpec]: an id, a transport, the tools it may be
// asked to run (AllowedTools), a call timeout, a cap on calls in flight,
// a restart policy and, for processes, resource limits. Servers come
// from configuration (TAYLORDASH_MCP_SERVERS, a JSON array: read-only
// through the API) and from the admin API (stored in PostgreSQL, table
// mcp_servers, see [Migrations]); the [Registry] merges both, and a
// configured id wins. Nothing is hard-coded: a command is looked up in
// PATH (or taken relative to the server's dir), and one that does not
// exist is a [CommandNotFoundError] naming the server and the command.
//
// # Transports
//
// A stdio server ([TransportStdio]) is a child process speaking
// newline-delimited JSON-RPC on its stdin and stdout. It runs as the
// leader of its own process group, with a parent death signal (a host
// that crashes leaves no server behind), in the environment PATH plus
// the host variables its EnvAllow names plus its Env, never the host's
// whole environment; its [ProcessLimits] (address space, CPU time, open
// files) are applied with prlimit(2) right after it starts (Linux). Its
// stderr is read line by line into the log, with the server's id, so a
// chatty server never blocks on a full pipe; lines are cut at
// [MaxStderrLine], and the last ones explain an exit in its state.
//
// An HTTP server ([TransportHTTP]) is reached with the streamable HTTP
// transport at its URL; its Headers (an Authorization, say) go with
// every request. Env and header values are write-only: responses mask
// them ([Masked]).
//
// # Sessions and calls
//
// [Manager.Connect] starts the server and performs the initialize /
// initialized handshake (asking for [DefaultProtocolVersion]). The SDK's
// session numbers requests and matches answers, so calls run
// concurrently. Every call ([Manager.CallTool], [Manager.ListTools],
// [Manager.ListResources], [Manager.Forward]):
//
//   - names an allowed tool, for tools/call: AllowedTools lists them,
//     "*" allows all, and an empty list allows none (deny by default);
//     others fail with [ErrToolNotAllowed] (403);
//   - takes one of the server's MaxConcurrent slots, or fails at once
//     with [ErrBusy] (429; calls do not queue);
//   - is bounded by the server's CallTimeout: past it the SDK sends
//     notifications/cancelled, the call fails with [ErrTimeout] (504), and
//     the server stays connected;
//   - is counted in the server's [State] and metrics.
//
// [Manager.Forward] is the original's request route done properly: the
// JSON-RPC request is validated and sent through the session (never as
// raw bytes), only [ForwardedMethods] pass ([ErrMethodNotAllowed], 422,
// for initialize, notifications and the rest), and tools/list answers
// only the allowed tools. A JSON-RPC error of the server is a response,
// not an error.
//
// # Supervision
//
// Each connected server has one supervisor goroutine, owned by the
// [Manager], that waits for the session to end: the process exited, the
// connection closed, or a health ping went unanswered (every
// Config.HealthInterval, to servers with no call in flight). It then stops what is left (the stdin is
// closed; after StopGrace, SIGTERM to the process group; after StopGrace
// again, SIGKILL to the group), and restarts the server as its
// [RestartPolicy] says: never, on-failure (the default: not after exit
// status 0) or always, after a jittered exponential backoff, at most
// MaxRestarts times in a row (a run of a minute resets the count). The
// server's status goes through [StatusOnline], [StatusRestarting],
// [StatusOffline] and [StatusError]; each change is logged, given to
// ManagerOptions.OnStatus and, in the module, published on
// [TopicServerStatus]. [Manager.Disconnect] and [Manager.Stop] end the
// process groups and wait for them: no server process outlives the
// application.
//
// # Routes
//
// [Routes] keeps the original's paths and keys (serverId, status online /
// offline / error, metrics {requests, errors, uptime "Xd Yh Zm"}, "MCP
// server X not found" and "MCP server X not connected"), with
// permissions from RBAC: reading needs mcp:read, everything else
// mcp:admin, which by default only admins hold.
//
//	GET    /api/v1/mcp/servers                              list, with status and counters
//	POST   /api/v1/mcp/servers                              add a stored server
//	GET    /api/v1/mcp/servers/{server_id}                  a server's spec (masked) and state
//	PUT    /api/v1/mcp/servers/{server_id}                  replace a stored server (reconnects it)
//	DELETE /api/v1/mcp/servers/{server_id}                  remove a stored server
//	POST   /api/v1/mcp/connect                              {serverId, endpoint (ignored)}
//	POST   /api/v1/mcp/request                              {serverId, request: a JSON-RPC request}
//	GET    /api/v1/mcp/health/{server_id}                   status (an online server is pinged)
//	GET    /api/v1/mcp/metrics/{server_id}                  requests, errors, uptime, latency
//	POST   /api/v1/mcp/disconnect/{server_id}               {"status":"disconnected"}
//	GET    /api/v1/mcp/servers/{server_id}/tools            tools, with allowed
//	GET    /api/v1/mcp/servers/{server_id}/resources        resources
//	POST   /api/v1/mcp/servers/{server_id}/tools/{tool}/call {arguments}
//
// Every call is audited through auth.Auditor (who, server, method, tool,
// duration, result: [AuditToolCalled], [AuditRequest]) and published on
// [TopicToolCalled] with the caller's trace; changes are audited too.
//
// # Observability
//
// Metrics (labels bounded by the known servers' ids): [MetricCalls] by
// server, method and result, [MetricCallDuration], [MetricRestarts] and
// [MetricUptime]. A span per call, "mcp <method>". The module's
// readiness check "mcp" lists servers in error or restarting; it is
// optional: an external server never makes the dashboard unready.
//
// # Wiring
//
// [Module] provides all of it; an application adds an [Outbox] adapter
// for the events (the event bus's *eventbuspg.Outbox):
//
//	fx.Options(mcp.Module, fx.Provide(func(o *eventbuspg.Outbox) mcp.Outbox { return o }))
//
// Without fx: [NewRegistry], [NewManager], then [Routes.Contribution].
//
// [mcpserver]: https://pkg.go.dev/github.com/taylordash/taylordash/pluginhost/mcp/mcpserver
package mcp
