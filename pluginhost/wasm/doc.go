// Package wasm runs backend plugins compiled to WebAssembly in a sandbox,
// with wazero: no file system, no network, no real clock or randomness
// unless granted, a memory cap and a CPU deadline per call, and a small set
// of host functions, each gated by a permission. A plugin that traps,
// panics, runs past its deadline, exhausts its memory or calls what it was
// not granted ends that call only; the violation is recorded, and a plugin
// with too many is disabled.
//
// # Runtime and plugins
//
// [NewRuntime] starts a [Runtime] from a [Config] (limits, the disk cache
// directory, pool sizes; env tags for dashcore) and [Options] (logger,
// tracer and meter providers, and the backends of the host functions:
// [EventPublisher], [ProjectStore], [HTTPDoer], [ViolationRecorder], the
// [Options.OnDisabled] hook). [Runtime.Load] takes a [PluginSpec] (the
// manifest's id, version, permissions, allowed origins, limits and config,
// and the module), compiles the module once (kept in memory by SHA-256, and
// on disk when Config.CacheDir is set: a restart then loads a Go guest in
// tens of milliseconds instead of a second), checks it, starts its warm
// instances and returns the [Plugin]. Before compiling, it merges the
// module's data segments when they do not overlap (a Go guest has tens of
// thousands, which wazero would evaluate at every instantiation); the
// initial memory is the same.
//
// Load refuses (with [ErrInvalidModule]) a module that imports anything but
// the taylordash host functions and the WASI subset below, that is a
// command rather than a reactor (it exports _start: build with
// -buildmode=c-shared), that lacks "memory", "_initialize" or
// td_abi_version, whose callable exports have the wrong signature, or whose
// initial memory exceeds its cap.
//
// # The guest ABI (version 1)
//
// A plugin is a reactor module. The host calls _initialize once per
// instance (a Go guest's runtime start and init functions), checks that
// td_abi_version() returns 1, and then calls exports whose name starts
// with "td_", each of signature (input_len i32) -> i32:
//
//   - the guest reads its input (input_len bytes) with
//     taylordash.input_read(ptr, len) -> copied;
//   - it writes its output with taylordash.output_write(ptr, len) ->
//     status (at most Config.MaxOutputBytes);
//   - it returns 0 (the output is the result) or 1 (the output is an
//     error message: [Plugin.Call] returns a *[GuestError]).
//
// Two exports have a fixed meaning: td_handle_event receives a JSON
// sdk.Event ([Plugin.HandleEvent]) and td_handle_http receives a JSON
// sdk.Request and outputs a JSON sdk.Response ([Plugin.HandleHTTP]). Other
// td_* exports are the plugin's own, called with [Plugin.Call]. Data
// crosses the boundary as JSON; the host never writes into guest memory
// except where the guest asked (input_read, result_read), and it checks
// every pointer (a pointer outside the memory traps the call).
//
// # Host functions (module "taylordash")
//
// Functions that return data return an i64: the high 32 bits are a status
// (0 ok, 1 permission denied, 2 invalid argument, 3 not found, 4
// unavailable, 5 too large, 6 canceled), the low 32 bits the length of the
// pending result (the data, or an error message), which the guest copies
// with result_read(ptr, len) -> copied.
//
//	function                                 permission       result
//	input_read(ptr, len) -> i32              none             bytes copied
//	output_write(ptr, len) -> i32            none             status
//	result_read(ptr, len) -> i32             none             bytes copied
//	log(level, ptr, len)                     none             (bounded: Config.MaxLogLines per call, 4 KiB per line)
//	config_get() -> i64                      none             the plugin's config (JSON)
//	publish_event(kind, len, payload, len)   publish:events   via EventPublisher
//	projects_list(options, len) -> i64       read:projects    via ProjectStore
//	projects_get(id, len) -> i64             read:projects    via ProjectStore
//	projects_create(project, len) -> i64     write:projects   via ProjectStore
//	projects_update(id, len, changes, len)   write:projects   via ProjectStore
//	http_fetch(request, len) -> i64          network:http     to allowed_origins only
//
// Every host function runs with the call's context: its backend must
// return when the context is done, because a deadline cannot interrupt a
// host function. Backend errors reach the guest as "unavailable" (and are
// logged), unless they wrap [ErrNotFound] or [ErrInvalidArgument].
//
// http_fetch accepts an absolute URL whose origin (scheme, host and port,
// compared exactly after normalization; no user info) is one of the
// plugin's allowed origins, which must be https unless
// Config.FetchAllowHTTP. The default client refuses to connect to
// loopback, private, link-local and other non-public addresses (checked
// after DNS resolution) unless Config.FetchAllowPrivate, follows no
// redirects, drops Cookie and hop-by-hop headers, and reads at most
// Config.FetchMaxBytes of the response within Config.FetchTimeout and the
// call's deadline.
//
// # Permissions
//
// The manifest's permissions are the original TaylorDash's ten plus two;
// unknown ones are refused at Load. For a WebAssembly plugin they grant:
//
//	read:projects      projects_list, projects_get
//	write:projects     projects_create, projects_update
//	publish:events     publish_event
//	read:events        delivery of its subscribed events (HandleEvent)
//	network:http       http_fetch, to allowed_origins only
//	read:logs          nothing (no host function)
//	read:system        nothing (no host function yet)
//	network:websocket  nothing (a plugin cannot open sockets)
//	storage:local      nothing (a plugin has no file system)
//	plugin:messaging   nothing (no host function yet)
//	system:clock       the host's wall and monotonic clocks (else a fake clock)
//	system:random      crypto/rand for random_get (else a deterministic stream)
//
// # The WASI subset
//
// Go guests import wasi_snapshot_preview1; a plugin may import args_*,
// environ_*, clock_res_get, clock_time_get, random_get, poll_oneoff,
// sched_yield, proc_exit, fd_write, fd_read, fd_close, fd_fdstat_get,
// fd_fdstat_set_flags, fd_prestat_get and fd_prestat_dir_name. There are no
// arguments, no environment and no preopened directories; stdin is empty,
// stdout is logged, stderr is kept to explain traps. Without system:clock
// the clock starts in 2022 and advances a millisecond per reading; sleeps
// return at once. Without system:random, random_get is a deterministic
// stream, the same in every instance of a plugin. Anything else (path_open,
// sockets) is refused at Load.
//
// # Limits
//
// Memory: each instance's linear memory is capped at min(plugin's
// Limits.MemoryPages, Config.MaxMemoryPages) pages of 64 KiB (Go guests
// need at least [MinMemoryPages]); the cap is reserved up front (an
// anonymous mapping on Linux: no physical memory until touched), so growth
// never copies. A guest that needs more gets a failed memory.grow; a Go
// guest then dies with "out of memory", which is reported as
// [ErrMemoryLimit]. An instance whose memory has grown past seven eighths
// of its cap is replaced after its call (not a violation), so that slow
// growth does not end in a trap.
//
// CPU: each call has a deadline, min(Limits.Timeout, Config.MaxTimeout)
// or Config.DefaultTimeout; wazero's close-on-context-done stops a guest
// that runs past it (measured: within a few milliseconds; [ErrTimeout]).
// A call also ends when the caller's context does (its error, not a
// violation).
//
// Concurrency: each plugin has a pool of at most Config.MaxInstances
// instances, one call per instance at a time; a healthy instance is
// reused, one that failed is discarded and replaced in the background, so
// that calls rarely wait for a Go runtime to start (about 5 ms). Across
// all plugins at most Config.MaxConcurrentCalls guests run at once
// (default GOMAXPROCS/2): guest code is CPU-bound and the Go scheduler
// preempts it only every 10 ms, so leaving processors free is what keeps
// the API's latency flat while plugins spin (see docs/benchmarks.md).
//
// # Violations and disabling
//
// A violation is a call that trapped ([ViolationTrap]: unreachable,
// out-of-bounds access, a Go fatal error, an exit), panicked
// ([ViolationPanic]), ran past its deadline ([ViolationTimeout]),
// exhausted its memory ([ViolationMemory]), or called a host function it
// was not granted, or fetched an origin it was not allowed or one that
// resolves to a non-public address ([ViolationPermissionDenied]: the
// guest gets status 1, and the call
// fails with a *[PermissionError] even if the guest carried on). Each is
// logged, counted and passed to the [ViolationRecorder]. After
// Config.MaxViolations within Config.ViolationWindow the plugin is
// disabled: calls return [ErrDisabled], and Options.OnDisabled is called
// once (publish an event from it). [Plugin.Enable] re-enables it.
// Guest errors (*[GuestError]) and the caller's cancellations are not
// violations.
//
// # Wiring
//
// [Plugin.EventHandler] is an eventbus.Handler for a route on the plugin's
// subscriptions; [Plugin.HandleEvent] continues the event's trace (its
// traceparent) when the context has no span. [NewRequest],
// [Plugin.HandleHTTP] and [WriteResponse] serve the plugin's operations
// under /api/v1/plugins/<id>/api/: credentials never reach the plugin, and it
// cannot set cookies or security headers.
//
// # Observability
//
// With a span in the context, a call runs in a child span "plugin.call
// <id> <function>" ([AttrPluginID], [AttrFunction], [AttrResult]); the
// guest's log lines, published events and backend calls carry the call's
// context. Metrics: [MetricCalls], [MetricCallDuration],
// [MetricViolations], [MetricHostCalls] and [MetricInstantiateDuration],
// labelled by plugin id and closed sets only.
//
// Write plugins with the SDK, github.com/taylordash/taylordash/pluginhost/sdk;
// examples/wasmplugin takes an author from source to a built module.
package wasm
