package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/taylordash/taylordash/dashcore"
)

// ErrNotFound means the row asked for does not exist. It is a
// dashcore.ErrNotFound, so the API answers 404.
var ErrNotFound = fmt.Errorf("store: %w", dashcore.ErrNotFound)

// MapError classifies a database error for callers and for the API:
// pgx.ErrNoRows becomes ErrNotFound; unique and foreign-key violations
// become dashcore.ErrConflict; check, not-null and value-too-long
// violations become dashcore.ErrInvalid; malformed input text (a bad UUID)
// becomes dashcore.ErrBadRequest; transient failures (serialization,
// deadlock, connection loss) and timeouts (context.DeadlineExceeded)
// become dashcore.ErrUnavailable. The original error stays in the chain
// (errors.As finds the *pgconn.PgError); public messages never include
// it. Other errors, context.Canceled included, are returned unchanged.
func MapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505", "23503", "23P01":
			return fmt.Errorf("%w: %w", dashcore.ErrConflict, err)
		case "23514", "23502", "22001", "22003", "22007", "22008", "22023":
			return fmt.Errorf("%w: %w", dashcore.ErrInvalid, err)
		case "22P02":
			return fmt.Errorf("%w: %w", dashcore.ErrBadRequest, err)
		}
	}
	if IsRetryable(err) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", dashcore.ErrUnavailable, err)
	}
	return err
}

// IsUniqueViolation reports whether err is a unique_violation (23505).
func IsUniqueViolation(err error) bool { return hasCode(err, "23505") }

// IsForeignKeyViolation reports whether err is a foreign_key_violation
// (23503).
func IsForeignKeyViolation(err error) bool { return hasCode(err, "23503") }

// IsRetryable reports whether err is transient, so that running the same
// work again may succeed: a serialization failure or deadlock, a lock
// timeout, the server shutting down or refusing connections for now, or a
// lost connection. Retry whole transactions (see Tx), not single
// statements of one: a write outside a transaction whose connection broke
// may or may not have been applied.
//
// An error caused by the caller's context (cancelled, or past its
// deadline) is not retryable: under that context the work fails again at
// once, and a retry loop would spin.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300", "53400",
			"08000", "08001", "08003", "08004", "08006":
			return true
		}
		return false
	}
	if pgconn.SafeToRetry(err) {
		return true
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

func hasCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}
