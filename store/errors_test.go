package store_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

// shopSchema has one table per constraint kind.
var shopSchema = store.Migrations{Namespace: "storetest-shop", FS: fstest.MapFS{
	"0001_shop.sql": {Data: []byte(`
CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL UNIQUE);
CREATE TABLE orders (
	id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	customer_id int  NOT NULL REFERENCES customers(id),
	quantity    int  NOT NULL CHECK (quantity > 0),
	code        varchar(4)
);
INSERT INTO customers VALUES (1, 'ada@example.com');
`)},
}}

func TestMapErrorOnRealErrors(t *testing.T) {
	ctx := testContext(t)
	db := testkit.Postgres(t, shopSchema).DB
	exec := func(sql string, args ...any) error {
		_, err := db.Exec(ctx, sql, args...)
		return err
	}
	tests := []struct {
		name   string
		err    func() error
		code   string // SQLSTATE, "" for a client-side error
		kind   *dashcore.Kind
		status int
		unique bool
		fk     bool
	}{
		{name: "no rows", err: func() error {
			var id int
			return db.QueryRow(ctx, "SELECT id FROM customers WHERE id = 42").Scan(&id)
		}, kind: dashcore.ErrNotFound, status: http.StatusNotFound},
		{name: "unique violation", err: func() error {
			return exec("INSERT INTO customers VALUES (2, 'ada@example.com')")
		}, code: "23505", kind: dashcore.ErrConflict, status: http.StatusConflict, unique: true},
		{name: "foreign key violation", err: func() error {
			return exec("INSERT INTO orders (customer_id, quantity) VALUES (99, 1)")
		}, code: "23503", kind: dashcore.ErrConflict, status: http.StatusConflict, fk: true},
		{name: "check violation", err: func() error {
			return exec("INSERT INTO orders (customer_id, quantity) VALUES (1, 0)")
		}, code: "23514", kind: dashcore.ErrInvalid, status: http.StatusUnprocessableEntity},
		{name: "not-null violation", err: func() error {
			return exec("INSERT INTO orders (customer_id, quantity) VALUES (1, NULL)")
		}, code: "23502", kind: dashcore.ErrInvalid, status: http.StatusUnprocessableEntity},
		{name: "value too long", err: func() error {
			return exec("INSERT INTO orders (customer_id, quantity, code) VALUES (1, 1, 'too long')")
		}, code: "22001", kind: dashcore.ErrInvalid, status: http.StatusUnprocessableEntity},
		{name: "invalid UUID text", err: func() error {
			var id string
			return db.QueryRow(ctx, "SELECT $1::uuid", "nope").Scan(&id)
		}, code: "22P02", kind: dashcore.ErrBadRequest, status: http.StatusBadRequest},
		{name: "syntax error stays internal", err: func() error {
			return exec("SELEC 1")
		}, code: "42601", status: http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := tt.err()
			if orig == nil {
				t.Fatal("the statement did not fail")
			}
			mapped := store.MapError(orig)
			if !errors.Is(mapped, orig) {
				t.Errorf("MapError dropped the original error: %v", mapped)
			}
			var pe *pgconn.PgError
			if tt.code != "" && (!errors.As(mapped, &pe) || pe.Code != tt.code) {
				t.Errorf("mapped error does not hold SQLSTATE %s: %v", tt.code, mapped)
			}
			if tt.kind != nil && !errors.Is(mapped, tt.kind) {
				t.Errorf("MapError(%v) is not %v", orig, tt.kind)
			}
			if tt.kind == nil && mapped != orig { //nolint:errorlint // unchanged
				t.Errorf("MapError changed an error it does not classify: %v", mapped)
			}
			if got := store.IsUniqueViolation(orig); got != tt.unique {
				t.Errorf("IsUniqueViolation = %t", got)
			}
			if got := store.IsForeignKeyViolation(orig); got != tt.fk {
				t.Errorf("IsForeignKeyViolation = %t", got)
			}
			if store.IsRetryable(orig) {
				t.Errorf("IsRetryable(%v) = true for a permanent error", orig)
			}
			var se huma.StatusError
			if !errors.As(dashcore.HTTPError(mapped), &se) || se.GetStatus() != tt.status {
				t.Errorf("HTTPError(MapError(err)) = %v, want status %d", dashcore.HTTPError(mapped), tt.status)
			}
		})
	}
}

func TestErrNotFound(t *testing.T) {
	err := store.MapError(pgx.ErrNoRows)
	for _, target := range []error{store.ErrNotFound, dashcore.ErrNotFound, pgx.ErrNoRows} {
		if !errors.Is(err, target) {
			t.Errorf("MapError(pgx.ErrNoRows) is not %v", target)
		}
	}
	if !errors.Is(store.ErrNotFound, dashcore.ErrNotFound) {
		t.Error("store.ErrNotFound is not a dashcore.ErrNotFound")
	}
	if store.MapError(nil) != nil {
		t.Error("MapError(nil) is not nil")
	}
	other := errors.New("other")
	if store.MapError(other) != other { //nolint:errorlint // unchanged
		t.Error("MapError changed an unrelated error")
	}
}

// TestIsRetryableStopsWhenCallerGaveUp checks that errors caused by the
// caller's own context are not retryable: a retry loop under that context
// would fail the same way at once, forever.
func TestIsRetryableStopsWhenCallerGaveUp(t *testing.T) {
	ctx := testContext(t)
	db := testkit.Postgres(t, itemsSchema).DB
	noop := func(pgx.Tx) error { return nil }

	expired, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, timedOut := db.Exec(short, "SELECT pg_sleep(10)")

	var alreadyDone error
	_ = store.Tx(ctx, db, func(tx pgx.Tx) error {
		c, cancel := context.WithCancel(ctx)
		cancel()
		_, alreadyDone = tx.Exec(c, "SELECT 1")
		return alreadyDone
	})

	for name, err := range map[string]error{
		"Tx under an expired deadline":     store.Tx(expired, db, noop),
		"Tx under a cancelled context":     store.Tx(cancelled, db, noop),
		"query that ran past its deadline": timedOut,
		"query on a cancelled context":     alreadyDone,
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if store.IsRetryable(err) {
			t.Errorf("%s: IsRetryable(%v) = true, so a retry loop would spin", name, err)
		}
		if errors.Is(err, context.DeadlineExceeded) && !errors.Is(store.MapError(err), dashcore.ErrUnavailable) {
			t.Errorf("%s: MapError(%v) is not ErrUnavailable", name, err)
		}
	}
}

// TestIsRetryableOnLockConflicts produces a deadlock and a lock timeout
// for real: both are worth retrying, and the API answers 503.
func TestIsRetryableOnLockConflicts(t *testing.T) {
	ctx := testContext(t)
	db := testkit.Postgres(t, itemsSchema).DB
	if _, err := db.Exec(ctx, "INSERT INTO items (id) VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
	update := func(tx pgx.Tx, id int) error {
		_, err := tx.Exec(ctx, "UPDATE items SET kind = 'touched' WHERE id = $1", id)
		return err
	}
	check := func(t *testing.T, err error, code string) {
		t.Helper()
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != code {
			t.Fatalf("got %v, want SQLSTATE %s", err, code)
		}
		if !store.IsRetryable(err) {
			t.Errorf("IsRetryable(%v) = false", err)
		}
		if !errors.Is(store.MapError(err), dashcore.ErrUnavailable) {
			t.Errorf("MapError(%v) is not ErrUnavailable", err)
		}
	}

	t.Run("deadlock", func(t *testing.T) {
		var locked sync.WaitGroup
		locked.Add(2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				first, second := 1+i, 2-i // opposite orders
				errs[i] = store.Tx(ctx, db, func(tx pgx.Tx) error {
					if err := update(tx, first); err != nil {
						return err
					}
					locked.Done()
					locked.Wait()
					return update(tx, second)
				})
			})
		}
		wg.Wait()
		switch {
		case errs[0] == nil && errs[1] != nil:
			check(t, errs[1], "40P01")
		case errs[1] == nil && errs[0] != nil:
			check(t, errs[0], "40P01")
		default:
			t.Fatalf("want exactly one transaction to fail, got %v and %v", errs[0], errs[1])
		}
	})

	t.Run("lock timeout", func(t *testing.T) {
		holding := make(chan struct{})
		release := make(chan struct{})
		holder := make(chan error, 1)
		go func() {
			holder <- store.Tx(ctx, db, func(tx pgx.Tx) error {
				if err := update(tx, 1); err != nil {
					close(holding)
					return err
				}
				close(holding)
				<-release
				return nil
			})
		}()
		<-holding
		err := store.Tx(ctx, db, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '50ms'"); err != nil {
				return err
			}
			return update(tx, 1)
		})
		close(release)
		if herr := <-holder; herr != nil {
			t.Fatal(herr)
		}
		check(t, err, "55P03")
	})
}

func TestIsRetryableNonErrors(t *testing.T) {
	for _, err := range []error{nil, errors.New("other"), pgx.ErrNoRows} {
		if store.IsRetryable(err) {
			t.Errorf("IsRetryable(%v) = true", err)
		}
	}
}
