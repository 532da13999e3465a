package eventbus

import (
	"context"
	"fmt"
	"runtime/debug"
)

// PanicError is a handler panic turned into an error by Recover.
type PanicError struct {
	// Value is what the handler panicked with.
	Value any
	// Stack is the goroutine's stack at the panic.
	Stack []byte
}

// Error implements error.
func (e *PanicError) Error() string { return fmt.Sprintf("handler panicked: %v", e.Value) }

// Recover turns a panicking handler into an error (*PanicError), so that
// one bad event cannot take the consumer down; retries and the
// dead-letter queue then treat it as any failure.
func Recover() Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, ev *Event) (err error) {
			defer func() {
				if v := recover(); v != nil {
					err = &PanicError{Value: v, Stack: debug.Stack()}
				}
			}()
			return next(ctx, ev)
		}
	}
}
