//go:build !linux

package wasm

// reserve allocates the memory on the Go heap.
func reserve(size uint64) ([]byte, func()) { return reserveGo(size) }
