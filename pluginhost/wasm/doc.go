// Package wasm runs WebAssembly backend plugins in a sandbox.
package wasm
