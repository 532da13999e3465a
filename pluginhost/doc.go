// Package pluginhost installs, checks and governs plugins: UI bundles
// served to sandboxed iframes, and WebAssembly modules run in the host's
// sandbox (package [github.com/taylordash/taylordash/pluginhost/wasm]).
//
// # Manifest
//
// [ParseManifest] reads a plugin.json with the original's fields (id,
// name, version, description, author, repository, homepage, type, kind,
// entry_point, permissions, api_endpoints, allowed_origins,
// taylordash_version, dependencies, install_hooks, config_schema) and the
// new ones (runtime, wasm, subscriptions, limits, sha256). Every broken
// rule is reported at once, as a [ManifestError] naming the field and
// the rule ("permissions[1]: must be one of ..."). Fixed from the
// original: entry_point and wasm may not contain ".." or be absolute;
// allowed_origins are origins (scheme://host[:port], https or wss), and
// [Manifest.AllowsOrigin] compares scheme, host and port exactly, never
// by prefix (the original let https://cdn.example.com.evil.net through);
// taylordash_version is a semantic version range checked against the
// running version; config_schema is compiled (JSON Schema 2020-12, no
// references outside the schema, so a manifest can read no host file)
// and enforced on every configuration update ([ValidateConfig]).
// Unknown keys are reported ([ParsedManifest.Unknown]), not silently
// dropped; install_hooks are accepted and reported as never executed.
//
// # Sources and archive guards
//
// A plugin comes from an upload ([FromArchive], .zip or .tar.gz told
// apart by their first bytes), an https URL pinned by the archive's
// sha256 ([FromURL]; the download is spooled and hashed before anything
// is unpacked), or a host directory ([FromPath], only when
// Config.AllowPath is set). [Unpack] and [CopyBundle] enforce
// [ArchiveLimits]: archive size (20 MiB), unpacked size (50 MiB), file
// size (10 MiB), entry count (2000), nesting (16), compression ratio
// (100:1 for the archive and for each zip entry, counted on the bytes
// actually produced, not the headers), and refuse path traversal,
// absolute paths, backslashes, symbolic and hard links, devices and
// duplicate names ([ArchiveError] with a bounded Rule code). A refused
// archive leaves nothing on disk.
//
// # Installing
//
// [Installer.Install] stages the bundle in Dir/.staging, reads and
// validates the manifest, then checks the bundle: a UI bundle with the
// [BundleScanner], a wasm module with the [ModuleChecker] (and its
// sha256 when the manifest pins it). Findings of high or critical
// severity block (status rejected, with every finding; nothing is kept,
// neither files nor rows). Otherwise the bundle is moved to
// Dir/<id>/<version>-<sha>/ and the plugin row and its non-blocking
// findings (as violations with origin scan) are written in one
// transaction, under an advisory lock per plugin id; if the transaction
// fails the moved files are removed. Updates keep the configuration and
// remove the previous version's files after the commit.
//
// # Routes
//
// [Routes] keeps the original's paths and keys under /api/v1/plugins:
// install (JSON: url+sha256, repository_url+version+sha256, or path; or
// multipart with the file field archive), list, {id} (get, delete: 404
// for an unknown id), {id}/update, {id}/enable, {id}/disable,
// {id}/config (validated against config_schema; old and new values kept
// in plugin_config_history), {id}/health, {id}/security/violations,
// {id}/security/scan (really rescans the installed files and disables
// the plugin when a finding now blocks), stats/overview, registry and
// registry/refresh (the registry as JSON; the original rewrote a
// frontend source file). Reading needs plugins:read, changing
// plugins:admin; every change is an audit event. A rejected bundle is
// answered 200 with status "rejected" and its findings: a verdict on the
// bundle, not a failed request. Configuration values whose schema has
// "writeOnly": true (or "x-secret": true) are shown as "********" to
// callers without plugins:admin ([MaskSecrets]).
package pluginhost
