package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier runs statements. *DB, *pgxpool.Pool, *pgx.Conn and pgx.Tx
// implement it, so a repository method taking a Querier runs alone or
// inside the caller's transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

var (
	_ Querier = (*DB)(nil)
	_ Querier = pgx.Tx(nil)
)

// Beginner starts a transaction. *DB, *pgxpool.Pool and *pgx.Conn begin a
// real transaction; a pgx.Tx begins a savepoint inside its transaction.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// TxBeginner starts a transaction with options (isolation level, read
// only). *DB, *pgxpool.Pool and *pgx.Conn implement it.
type TxBeginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// Tx runs fn in a transaction on db: it commits when fn returns nil and
// rolls back when fn returns an error (returned unchanged) or panics (the
// panic continues after the rollback). A failed commit is returned
// wrapped, and nothing of the transaction remains.
//
// Nesting: when db is itself a pgx.Tx, Tx runs fn in a savepoint, so an
// error in fn undoes only fn's work and the outer transaction goes on;
// the outer transaction decides what is finally committed.
func Tx(ctx context.Context, db Beginner, fn func(tx pgx.Tx) error) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: begin transaction: %w", err)
	}
	return run(ctx, tx, fn)
}

// TxOptions is Tx with transaction options, e.g. pgx.TxOptions{IsoLevel:
// pgx.Serializable}. Retry a serializable transaction when IsRetryable
// says so.
func TxOptions(ctx context.Context, db TxBeginner, opts pgx.TxOptions, fn func(tx pgx.Tx) error) error {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("store: begin transaction: %w", err)
	}
	return run(ctx, tx, fn)
}

func run(ctx context.Context, tx pgx.Tx, fn func(tx pgx.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			_ = rollback(ctx, tx)
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		if rbErr := rollback(ctx, tx); rbErr != nil {
			return errors.Join(err, rbErr)
		}
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// rollback runs even when ctx is already cancelled (the usual reason fn
// failed), bounded so that a dead connection cannot hang the caller.
//
// A connection that broke while fn ran (pgx closes it when ctx is
// cancelled during a statement) took its transaction with it: the server
// rolled it back. Rollback then only gives the connection back to its
// pool, and its "conn closed" error is no news to the caller.
func rollback(ctx context.Context, tx pgx.Tx) error {
	broken := tx.Conn().IsClosed()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := tx.Rollback(rctx); err != nil && !broken && !errors.Is(err, pgx.ErrTxClosed) {
		return fmt.Errorf("store: rollback: %w", err)
	}
	return nil
}
