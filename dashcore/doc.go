// Package dashcore is the core every TaylorDash application is composed
// on: typed configuration from the environment, the process logger, an
// HTTP server with a huma API, its middleware chain, health endpoints, and
// the one mapping from domain errors to HTTP problems.
//
// dashcore imports no other package of this module. Feature modules
// import dashcore to contribute to it; applications compose the modules
// they want.
//
// # Composing an application
//
// [Module] provides the [Environment], [Config], the *slog.Logger and the
// [*Server], and starts the server with the application. Other modules
// contribute through value groups (see Extension points). A main function
// calls [Run], which builds the fx application, starts it within
// Config.StartTimeout, serves until its context ends or SIGINT/SIGTERM
// arrives, and stops it within Config.StopTimeout:
//
//	func run() error {
//		return dashcore.Run(context.Background(), dashcore.Module, store.Module, projects.Module)
//	}
//
// [New] builds the same application without running it, with fx's own
// event log routed to the application's logger; tests use it, or
// testkit.App. Everything also works without fx: [LoadConfig],
// [NewLogger], [NewHandler] and [NewServer] are plain constructors.
//
// # Configuration
//
// Every variable starts with [EnvPrefix] ("TAYLORDASH_"). A config struct
// names its variables in `env` tags and is declared with [ProvideConfig];
// [LoadConfig] documents the tags and the field types understood. Every
// module's config is loaded and validated in one pass, so that a bad
// configuration stops start-up with one [*ConfigError] listing every bad
// variable, each with its value (secrets redacted: a URL keeps its host
// and loses its password) and the form expected:
//
//	configuration: 2 problems:
//	  TAYLORDASH_HTTP_DRAIN_TIMEOUT="soon": expected a duration such as 500ms, 10s or 1m30s
//	  TAYLORDASH_HTTP_ADRR: unknown variable: no module of this application reads it; did you mean TAYLORDASH_HTTP_ADDR? (set TAYLORDASH_ALLOW_UNKNOWN_ENV=true to allow)
//
// A TAYLORDASH_ variable that no module reads is reported as unknown, with
// the nearest known name when it looks like a typo, unless
// TAYLORDASH_ALLOW_UNKNOWN_ENV is true. Variables starting with
// [TestEnvPrefix] belong to test helpers and are never unknown. [Run]
// returns the *ConfigError itself, without fx's wrapping.
//
// The source is an [Environment]: [OSEnvironment] by default. Overrides
// from code win over it and are not checked for unknown names:
// [Environment.With], or [WithEnv] in an fx application. [ConfigVars]
// lists the variables of a config struct with their defaults and forms,
// for documentation.
//
// # HTTP server and middleware chain
//
// [NewHandler] serves the huma API (OpenAPI 3.1 at /openapi.json and
// /openapi.yaml, docs at /docs), the health endpoints and every
// contribution, behind this chain, outermost first:
//
//  1. security headers: X-Content-Type-Options, X-Frame-Options,
//     Referrer-Policy, Permissions-Policy, Cross-Origin-Opener-Policy, a
//     Content-Security-Policy for data (the docs page sets its own), and
//     Strict-Transport-Security over TLS; set before anything runs, so
//     errors, 404s and panics carry them too;
//  2. request id: the client's X-Request-ID when well-formed (1 to 128
//     letters, digits and ._:-), else a new 32-hex one, returned on every
//     response and available as [RequestID] and [RequestInfoFrom];
//  3. access log: one record per request, health probes at debug level;
//  4. recover: a panic becomes a 500 problem (logged with its stack);
//  5. CORS, when TAYLORDASH_HTTP_CORS_ORIGINS is set;
//  6. router: an unmatched path gets a 404 problem, a wrong method a 405
//     problem with Allow; the route pattern is recorded in [RequestInfo];
//     the body limit of the route is enforced (413 problem);
//  7. contributed [Middleware], by Order then Name, for matched requests
//     (and, for those that set Middleware.Unmatched, around the 404/405
//     answer of unmatched ones);
//  8. the ServeMux: huma operations and raw handlers.
//
// The body limit is TAYLORDASH_HTTP_MAX_BODY_BYTES; a huma operation may
// set its own with huma.Operation.MaxBodyBytes (-1 for none). Operations
// registered through a huma.Group cannot be given the configured limit by
// dashcore: huma keeps its own 1 MiB limit for them when that is smaller,
// so set MaxBodyBytes on them to go beyond 1 MiB.
//
// [Server] listens synchronously in Start (a taken port fails start-up at
// once) and, in Stop, stops accepting, lets requests in flight finish
// within TAYLORDASH_HTTP_DRAIN_TIMEOUT, then cuts the rest.
//
// # TLS
//
// With TAYLORDASH_HTTP_TLS_CERT_FILE and TAYLORDASH_HTTP_TLS_KEY_FILE the
// [Server] speaks HTTPS (TLS 1.2 or later). A renewed pair written over the
// files is served from the next handshake on, without a restart: the files
// are looked at (stat) once a second at most; a pair that does not load is
// logged once per change and the previous one kept.
//
// [TLSPolicy] is the one rule for links: each module that opens a
// connection describes it as an [Endpoint] (address, setting, [Transport])
// and calls [TLSPolicy.Check]. A link that leaves the machine (see
// [IsLoopback]) without verified TLS is logged as a warning, or, with
// TAYLORDASH_REQUIRE_TLS (Config.RequireTLS), refused with an
// [*InsecureLinkError] that stops the application before it starts.
// [Module] provides the policy and checks the HTTP listener with it.
//
// # Errors
//
// Domain code returns errors that wrap a [Kind], such as [ErrNotFound] or
// [ErrConflict] (with %w), or an [*Error] carrying a kind, a public Detail,
// optional per-field problems, and an internal cause. [HTTPError] is the
// one mapping from errors to HTTP statuses; huma handlers may also return
// such errors as they are. Every error response is an RFC 9457
// application/problem+json [Problem] carrying the request_id of the
// request. 5xx responses never leak internals: a 500 always says only "an
// unexpected error occurred", whatever the error, and its cause is logged
// with the request id; panics and raw errors included.
//
// # Health
//
// GET /health/live answers 200 {"status":"alive","service":...} while the
// process serves. GET /health/ready runs every [HealthCheck] concurrently,
// each within its Timeout (TAYLORDASH_HTTP_HEALTH_TIMEOUT by default), and
// answers 503 with status "not_ready" when a required check fails. Each
// check appears under "checks" and as a top-level key holding its status
// ("database": "unhealthy"); a failed check shows only the Detail of an
// [*Error], "timed out", or "check failed", never its cause.
//
// # Extension points
//
// Modules contribute through value groups, with helper annotators:
//
//   - [AsRoutes]: a constructor returning [Routes], group [RoutesGroup];
//   - [AsHealthCheck]: a constructor returning [HealthCheck], group
//     [HealthGroup];
//   - [AsMiddleware]: a constructor returning [Middleware], group
//     [MiddlewareGroup];
//   - [AsTransformer]: a constructor returning [Transformer], a huma
//     response transformer, group [TransformersGroup]. Contributed
//     transformers run in Name order, before dashcore's own (which makes
//     error bodies problems), on every response of a huma operation, not
//     on raw handlers; Transformer.Setup runs before any operation is
//     registered, to hook into the OpenAPI document (auth's field filter
//     documents and checks the schemas there);
//   - [ProvideConfig]: a config struct, loaded with every other one, group
//     [ConfigGroup] (of [ConfigTarget]).
//
// Group order is random; dashcore sorts contributions by name, so the
// OpenAPI document is the same on every start. Two Routes with the same
// Name, or a Register that panics (a duplicate route), fail start-up with
// an error naming the contribution. [Info] (supplied with fx.Supply) names
// the API in its OpenAPI document.
//
// [MCPTool] marks an operation, where it is registered, as an MCP tool
// (documented as [ToolExtension]); dashcore only records the mark, and an
// MCP server (pluginhost/mcp/mcpserver) reads it from the OpenAPI
// document, with the operation's requirement and schemas.
package dashcore
