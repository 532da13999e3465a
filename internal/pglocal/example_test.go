package pglocal_test

import (
	"context"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/internal/pglocal"
)

// A throwaway cluster for a test binary: initialised in a temporary
// directory, fast (no fsync), and stopped if the process dies.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "pglocal-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	cl, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, Fast: true, DieWithParent: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Stop(ctx)

	conn, err := pgx.Connect(ctx, cl.URL("postgres"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close(ctx)
	var fsync string
	err = conn.QueryRow(ctx, "SHOW fsync").Scan(&fsync)
	fmt.Println(fsync, err)
	// Output: off <nil>
}
