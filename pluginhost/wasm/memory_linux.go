package wasm

import "syscall"

// reserve maps size bytes of anonymous memory without reserving swap; the
// kernel supplies zeroed pages as the guest touches them. It falls back to
// the Go heap if the mapping fails.
func reserve(size uint64) ([]byte, func()) {
	if size == 0 {
		return reserveGo(size)
	}
	b, err := syscall.Mmap(-1, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return reserveGo(size)
	}
	return b, func() { _ = syscall.Munmap(b) }
}
