// Package sdk is for plugin authors: write a TaylorDash backend plugin in
// Go, build it to WebAssembly, and the host (package
// github.com/taylordash/taylordash/pluginhost/wasm) runs it in a sandbox.
//
// # A plugin
//
// A plugin is a Go main package built as a WebAssembly reactor. Register
// handlers from init functions (a reactor's main never runs):
//
//	package main
//
//	import "github.com/taylordash/taylordash/pluginhost/sdk"
//
//	func init() {
//		sdk.HandleEvent(func(ev sdk.Event) error {
//			sdk.Logf(sdk.LevelInfo, "got %s", ev.Kind)
//			return sdk.Publish("seen", map[string]string{"id": ev.ID})
//		})
//		sdk.HandleHTTP(func(r sdk.Request) sdk.Response {
//			return sdk.Response{Status: 200, Body: []byte("hello")}
//		})
//	}
//
//	func main() {}
//
// Build it with:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// -buildmode=c-shared makes a reactor: the host calls _initialize once
// per instance and then the exports, many times. A plain build (a
// command) is refused.
//
// # Your own exports
//
// Besides the event and HTTP handlers, a plugin may export functions the
// host calls by name (wasm.Plugin.Call). Their names start with "td_" and
// they take and return an int32; [Serve] does the rest:
//
//	//go:wasmexport td_summarize
//	func summarize(n int32) int32 {
//		return sdk.Serve(n, func(in []byte) ([]byte, error) { return in, nil })
//	}
//
// # Host functions and permissions
//
// [Log], [Logf], [Config] and [DecodeConfig] need no permission. The others
// need the permission the plugin's manifest declares:
//
//	Publish                                   publish:events
//	ListProjects, GetProject                  read:projects
//	CreateProject, UpdateProject              write:projects
//	Fetch                                     network:http, to allowed_origins only
//	(receiving events with HandleEvent)       read:events
//
// A call without its permission returns an error matching
// [ErrPermissionDenied], and the host records a violation and fails the
// plugin call, even if the plugin carries on: check your manifest instead.
// Other failures return errors matching [ErrInvalidArgument],
// [ErrNotFound], [ErrUnavailable], [ErrTooLarge] or [ErrCanceled].
//
// # The sandbox
//
// A plugin has no file system (a module importing path_open is refused),
// no sockets, no environment and no arguments. Its clock is fake (it
// starts in 2022 and sleeps return at once) unless it holds
// system:clock, and its randomness is a deterministic stream unless it
// holds system:random. Each call has a memory cap and a CPU deadline; a
// panic, a trap, running out of memory or time ends the call and counts as
// a violation, and too many violations disable the plugin. Keep handlers
// synchronous and quick.
//
// # The ABI
//
// The types of this package are the JSON documents that cross the
// boundary, and its constants the ABI's names and codes; they build on
// every platform, so the host uses them too. The functions that call the
// host exist only in wasip1 builds. The host's package documentation
// describes the ABI in full.
package sdk
