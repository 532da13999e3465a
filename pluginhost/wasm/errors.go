package wasm

import (
	"errors"
	"strings"
)

// The errors of a plugin call. A call that fails with ErrTimeout,
// ErrMemoryLimit, ErrTrap or ErrPermissionDenied was a violation: it was
// recorded, and its instance (except for a denial, which leaves the
// instance intact) was discarded.
var (
	// ErrTimeout: the call ran past its CPU deadline and was stopped.
	ErrTimeout = errors.New("wasm: plugin call timed out")
	// ErrMemoryLimit: the guest ran out of its memory cap.
	ErrMemoryLimit = errors.New("wasm: plugin exceeded its memory limit")
	// ErrTrap: the guest trapped (unreachable, out-of-bounds access, a Go
	// panic or fatal error, an exit). A *TrapError says more.
	ErrTrap = errors.New("wasm: plugin trapped")
	// ErrPermissionDenied: the guest called a host function (or fetched an
	// origin) it was not granted. A *PermissionError says which.
	ErrPermissionDenied = errors.New("wasm: permission denied")
	// ErrDisabled: the plugin was disabled after too many violations; see
	// [Plugin.Enable].
	ErrDisabled = errors.New("wasm: plugin disabled")
	// ErrClosed: the plugin or the runtime was closed.
	ErrClosed = errors.New("wasm: plugin closed")
	// ErrNoSuchFunction: the module does not export the function called,
	// or the name does not start with "td_".
	ErrNoSuchFunction = errors.New("wasm: no such plugin function")
	// ErrInputTooLarge: the call's input exceeds Config.MaxInputBytes.
	ErrInputTooLarge = errors.New("wasm: plugin call input too large")
	// ErrInvalidModule: Load refused the module (imports, exports, memory,
	// ABI version). The wrapping error says why.
	ErrInvalidModule = errors.New("wasm: invalid plugin module")
)

// Errors a [ProjectStore] (or another backend) returns, wrapped, to give
// the guest a precise status instead of "unavailable". Any other error is
// logged and the guest sees a generic message.
var (
	// ErrNotFound: the object does not exist.
	ErrNotFound = errors.New("wasm: not found")
	// ErrInvalidArgument: the request is malformed; its message is shown
	// to the guest.
	ErrInvalidArgument = errors.New("wasm: invalid argument")
)

// TrapError is a call that ended abnormally in the guest. It matches
// [ErrTrap] with errors.Is, and also [ErrMemoryLimit] when Kind is
// ViolationMemory.
type TrapError struct {
	// Kind is ViolationTrap, ViolationPanic or ViolationMemory.
	Kind ViolationKind
	// Message is the trap's message: the wasm runtime error, or the first
	// lines the guest wrote to stderr (a Go panic's message).
	Message string
}

// Error implements error.
func (e *TrapError) Error() string {
	prefix := "wasm: plugin trapped"
	switch e.Kind {
	case ViolationPanic:
		prefix = "wasm: plugin panicked"
	case ViolationMemory:
		prefix = "wasm: plugin exceeded its memory limit"
	}
	if e.Message == "" {
		return prefix
	}
	return prefix + ": " + e.Message
}

// Is matches ErrTrap, and ErrMemoryLimit for memory traps.
func (e *TrapError) Is(target error) bool {
	return target == ErrTrap || (target == ErrMemoryLimit && e.Kind == ViolationMemory)
}

// PermissionError is a host call the plugin was not granted. It matches
// [ErrPermissionDenied].
type PermissionError struct {
	// Function is the host function, e.g. "http_fetch".
	Function string
	// Permission is what it needed, e.g. "network:http".
	Permission Permission
	// Detail says more, e.g. the origin that is not allowed.
	Detail string
}

// Error implements error.
func (e *PermissionError) Error() string {
	var b strings.Builder
	b.WriteString("wasm: permission denied: ")
	b.WriteString(e.Function)
	if e.Permission != "" {
		b.WriteString(" needs ")
		b.WriteString(string(e.Permission))
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Is matches ErrPermissionDenied.
func (e *PermissionError) Is(target error) bool { return target == ErrPermissionDenied }

// GuestError is an error the plugin itself returned (ResultError): an
// ordinary failure, not a violation.
type GuestError struct {
	// Function is the export called.
	Function string
	// Message is the plugin's error message, bounded in length.
	Message string
}

// Error implements error.
func (e *GuestError) Error() string {
	return "wasm: plugin " + e.Function + ": " + e.Message
}
