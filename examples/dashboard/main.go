// Command dashboard serves the TaylorDash dashboard API.
//
// With no configuration it starts on this machine: the database comes from
// TAYLORDASH_DATABASE_URL, else the local PostgreSQL server on
// 127.0.0.1:5432 (database "taylordash", created if missing), else a
// cluster started from the local PostgreSQL binaries in ./.taylordash/pg
// (kept between runs). It listens on TAYLORDASH_HTTP_ADDR (default
// 127.0.0.1:8000); the API documentation is at /docs.
//
//	go run ./examples/dashboard
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/examples/dashboard/app"
	"github.com/taylordash/taylordash/internal/devdb"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	env := dashcore.OSEnvironment()

	// The logger the application will use, read leniently here: a bad
	// variable is reported, with every other one, by dashcore.Run.
	cfg := dashcore.DefaultConfig()
	_ = dashcore.LoadConfig(env.With(map[string]string{"TAYLORDASH_ALLOW_UNKNOWN_ENV": "true"}), &cfg)
	log := dashcore.NewLogger(cfg.Log, os.Stderr)

	url, _ := env.Lookup("TAYLORDASH_DATABASE_URL")
	db, err := devdb.Resolve(ctx, devdb.Options{URL: url, Logger: log})
	if err != nil {
		return err
	}
	defer db.Stop(context.WithoutCancel(ctx)) //nolint:errcheck // the cluster's own shutdown log says what went wrong

	return dashcore.Run(ctx,
		app.Modules(),
		dashcore.WithEnv(map[string]string{"TAYLORDASH_DATABASE_URL": db.URL}),
	)
}
