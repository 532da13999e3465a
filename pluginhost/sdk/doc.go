// Package sdk is for plugin authors: write a TaylorDash backend plugin in
// Go, build it to WebAssembly, and the host runs it in a sandbox.
package sdk
