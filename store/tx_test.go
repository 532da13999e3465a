package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

// itemsSchema is the table the transaction tests write to.
var itemsSchema = store.Migrations{Namespace: "storetest-items", FS: fstest.MapFS{
	"0001_items.sql": {Data: []byte(`CREATE TABLE items (id int PRIMARY KEY, kind text NOT NULL DEFAULT 'plain');`)},
}}

type txBundle struct {
	ctx context.Context
	db  *store.DB
}

func setupTx(t *testing.T) txBundle {
	t.Helper()
	return txBundle{ctx: testContext(t), db: testkit.Postgres(t, itemsSchema).DB}
}

func insert(ctx context.Context, tx pgx.Tx, ids ...int) error {
	for _, id := range ids {
		if _, err := tx.Exec(ctx, "INSERT INTO items (id) VALUES ($1)", id); err != nil {
			return err
		}
	}
	return nil
}

// ids returns the ids in items, in order.
func (b txBundle) ids(t *testing.T) []int {
	t.Helper()
	rows, err := b.db.Query(b.ctx, "SELECT id FROM items ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func (b txBundle) wantIDs(t *testing.T, want ...int) {
	t.Helper()
	if got := b.ids(t); !slices.Equal(got, want) {
		t.Fatalf("items holds %v, want %v", got, want)
	}
	// Whatever happened, Tx gave its connection back (a broken one is
	// destroyed in the background, hence the wait).
	for deadline := time.Now().Add(5 * time.Second); b.db.Stat().AcquiredConns() != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still acquired after Tx returned", b.db.Stat().AcquiredConns())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTxCommitsWhenFnReturnsNil(t *testing.T) {
	b := setupTx(t)
	err := store.Tx(b.ctx, b.db, func(tx pgx.Tx) error { return insert(b.ctx, tx, 1, 2) })
	if err != nil {
		t.Fatal(err)
	}
	b.wantIDs(t, 1, 2)
}

func TestTxRollsBackWhenFnFails(t *testing.T) {
	b := setupTx(t)
	errBoom := errors.New("boom")
	err := store.Tx(b.ctx, b.db, func(tx pgx.Tx) error {
		if err := insert(b.ctx, tx, 1, 2); err != nil {
			return err
		}
		return errBoom
	})
	if err != errBoom { //nolint:errorlint // the error must come back unchanged, not wrapped
		t.Fatalf("Tx returned %v, want fn's error unchanged", err)
	}
	b.wantIDs(t)

	// A failed statement (the transaction is then aborted) also rolls back,
	// and its error keeps its type.
	err = store.Tx(b.ctx, b.db, func(tx pgx.Tx) error { return insert(b.ctx, tx, 3, 3) })
	if !store.IsUniqueViolation(err) {
		t.Fatalf("Tx returned %v, want the unique violation", err)
	}
	b.wantIDs(t)
}

func TestTxRollsBackOnPanic(t *testing.T) {
	b := setupTx(t)
	type panicValue struct{ msg string }
	want := &panicValue{"fn panicked"}
	got := func() (p any) {
		defer func() { p = recover() }()
		_ = store.Tx(b.ctx, b.db, func(tx pgx.Tx) error {
			if err := insert(b.ctx, tx, 1, 2); err != nil {
				t.Error(err)
			}
			panic(want)
		})
		return nil
	}()
	if got != want {
		t.Fatalf("recovered %#v, want the panic value unchanged (%#v)", got, want)
	}
	b.wantIDs(t)
}

func TestTxNestedRunsInSavepoint(t *testing.T) {
	b := setupTx(t)
	errInner := errors.New("inner failed")
	err := store.Tx(b.ctx, b.db, func(tx pgx.Tx) error {
		if err := insert(b.ctx, tx, 1); err != nil {
			return err
		}
		// An inner error undoes only the inner work.
		err := store.Tx(b.ctx, tx, func(inner pgx.Tx) error {
			if err := insert(b.ctx, inner, 2); err != nil {
				return err
			}
			return errInner
		})
		if err != errInner { //nolint:errorlint // unchanged
			return fmt.Errorf("inner Tx returned %v, want its error unchanged", err)
		}
		// A failed statement inside (which aborts the transaction) too:
		// the outer transaction goes on after it.
		err = store.Tx(b.ctx, tx, func(inner pgx.Tx) error { return insert(b.ctx, inner, 3, 1) })
		if !store.IsUniqueViolation(err) {
			return fmt.Errorf("inner Tx returned %v, want the unique violation", err)
		}
		// A successful inner Tx keeps its rows in the outer one.
		if err := store.Tx(b.ctx, tx, func(inner pgx.Tx) error { return insert(b.ctx, inner, 4) }); err != nil {
			return err
		}
		return insert(b.ctx, tx, 5)
	})
	if err != nil {
		t.Fatal(err)
	}
	b.wantIDs(t, 1, 4, 5)

	// The outer transaction decides: its rollback undoes committed inner
	// savepoints too.
	errOuter := errors.New("outer failed")
	err = store.Tx(b.ctx, b.db, func(tx pgx.Tx) error {
		if err := store.Tx(b.ctx, tx, func(inner pgx.Tx) error { return insert(b.ctx, inner, 6) }); err != nil {
			return err
		}
		return errOuter
	})
	if !errors.Is(err, errOuter) {
		t.Fatalf("Tx returned %v, want %v", err, errOuter)
	}
	b.wantIDs(t, 1, 4, 5)
}

func TestTxNestedPanicRollsBackSavepointOnly(t *testing.T) {
	b := setupTx(t)
	err := store.Tx(b.ctx, b.db, func(tx pgx.Tx) error {
		if err := insert(b.ctx, tx, 1); err != nil {
			return err
		}
		p := func() (p any) {
			defer func() { p = recover() }()
			_ = store.Tx(b.ctx, tx, func(inner pgx.Tx) error {
				_ = insert(b.ctx, inner, 2)
				panic("inner")
			})
			return nil
		}()
		if p != "inner" {
			return fmt.Errorf("recovered %v, want the inner panic", p)
		}
		return insert(b.ctx, tx, 3)
	})
	if err != nil {
		t.Fatal(err)
	}
	b.wantIDs(t, 1, 3)
}

func TestTxOptions(t *testing.T) {
	b := setupTx(t)
	err := store.TxOptions(b.ctx, b.db, pgx.TxOptions{IsoLevel: pgx.Serializable}, func(tx pgx.Tx) error {
		var level string
		if err := tx.QueryRow(b.ctx, "SHOW transaction_isolation").Scan(&level); err != nil {
			return err
		}
		if level != "serializable" {
			return fmt.Errorf("transaction_isolation is %q, want serializable", level)
		}
		return insert(b.ctx, tx, 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	b.wantIDs(t, 1)

	err = store.TxOptions(b.ctx, b.db, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error { return insert(b.ctx, tx, 2) })
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "25006" { // read_only_sql_transaction
		t.Fatalf("a write in a read-only transaction returned %v, want SQLSTATE 25006", err)
	}
	b.wantIDs(t, 1)
}

// TestTxOptionsSerializableConflictIsRetryable makes two serializable
// transactions each read what the other writes (write skew): PostgreSQL
// fails one of them, IsRetryable says to run it again, and the retry
// succeeds.
func TestTxOptionsSerializableConflictIsRetryable(t *testing.T) {
	b := setupTx(t)
	serializable := pgx.TxOptions{IsoLevel: pgx.Serializable}
	var bothRead sync.WaitGroup
	bothRead.Add(2)
	attempt := func(id int, first bool) error {
		return store.TxOptions(b.ctx, b.db, serializable, func(tx pgx.Tx) error {
			var n int
			if err := tx.QueryRow(b.ctx, "SELECT count(*) FROM items WHERE kind = 'oncall'").Scan(&n); err != nil {
				return err
			}
			if first {
				bothRead.Done()
				bothRead.Wait()
			}
			if n > 0 {
				return nil // someone is on call already
			}
			_, err := tx.Exec(b.ctx, "INSERT INTO items (id, kind) VALUES ($1, 'oncall')", id)
			return err
		})
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() { errs[i] = attempt(i+1, true) })
	}
	wg.Wait()

	failed := 0
	for i, err := range errs {
		if err == nil {
			continue
		}
		failed++
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "40001" {
			t.Fatalf("transaction %d failed with %v, want a serialization failure", i+1, err)
		}
		if !store.IsRetryable(err) {
			t.Fatalf("a serialization failure is not retryable: %v", err)
		}
		if !errors.Is(store.MapError(err), dashcore.ErrUnavailable) {
			t.Fatalf("MapError(serialization failure) = %v, want ErrUnavailable", store.MapError(err))
		}
		if err := attempt(i+1, false); err != nil {
			t.Fatalf("retry of transaction %d: %v", i+1, err)
		}
	}
	if failed != 1 {
		t.Fatalf("%d of the 2 transactions failed, want exactly 1 (write skew under serializable)", failed)
	}
	if n := scalar[int](t, b.db, "SELECT count(*) FROM items WHERE kind = 'oncall'"); n != 1 {
		t.Fatalf("%d rows on call, want 1", n)
	}
}

func TestTxRollsBackWhenContextIsCancelled(t *testing.T) {
	t.Run("between statements", func(t *testing.T) {
		b := setupTx(t)
		ctx, cancel := context.WithCancel(b.ctx)
		defer cancel()
		err := store.Tx(ctx, b.db, func(tx pgx.Tx) error {
			if err := insert(ctx, tx, 1); err != nil {
				return err
			}
			cancel()
			return insert(ctx, tx, 2)
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Tx returned %v, want context.Canceled", err)
		}
		b.wantIDs(t)
	})
	t.Run("during a statement", func(t *testing.T) {
		b := setupTx(t)
		ctx, cancel := context.WithCancel(b.ctx)
		defer cancel()
		start := time.Now()
		var fnErr error
		err := store.Tx(ctx, b.db, func(tx pgx.Tx) error {
			if err := insert(ctx, tx, 1); err != nil {
				return err
			}
			time.AfterFunc(100*time.Millisecond, cancel)
			_, fnErr = tx.Exec(ctx, "SELECT pg_sleep(30)")
			return fnErr
		})
		if took := time.Since(start); took > 10*time.Second {
			t.Fatalf("Tx took %s after its context was cancelled", took)
		}
		// The connection died with the statement, and its transaction
		// with it: Tx returns fn's error alone, not a rollback failure.
		if !errors.Is(err, context.Canceled) || err != fnErr { //nolint:errorlint // unchanged
			t.Fatalf("Tx returned %q, want fn's error (%q) unchanged", err, fnErr)
		}
		b.wantIDs(t)
	})
	t.Run("before commit", func(t *testing.T) {
		b := setupTx(t)
		ctx, cancel := context.WithCancel(b.ctx)
		defer cancel()
		err := store.Tx(ctx, b.db, func(tx pgx.Tx) error {
			err := insert(ctx, tx, 1)
			cancel()
			return err
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Tx returned %v, want the commit to fail with context.Canceled", err)
		}
		b.wantIDs(t)
	})
	t.Run("before begin", func(t *testing.T) {
		b := setupTx(t)
		ctx, cancel := context.WithCancel(b.ctx)
		cancel()
		called := false
		err := store.Tx(ctx, b.db, func(tx pgx.Tx) error { called = true; return nil })
		if !errors.Is(err, context.Canceled) || called {
			t.Fatalf("Tx returned %v (fn called: %t), want context.Canceled without calling fn", err, called)
		}
		b.wantIDs(t)
	})
}
