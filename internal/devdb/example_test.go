package devdb_test

import (
	"context"
	"fmt"

	"github.com/taylordash/taylordash/internal/devdb"
)

// An explicit URL (TAYLORDASH_DATABASE_URL) wins and is used as given.
func ExampleResolve() {
	db, err := devdb.Resolve(context.Background(), devdb.Options{URL: "postgres://app@db.internal:5432/taylordash"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(db.Source, db.URL)
	// Output: environment postgres://app@db.internal:5432/taylordash
}
