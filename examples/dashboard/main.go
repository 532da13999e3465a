// Command dashboard serves the TaylorDash dashboard API.
//
// With no configuration it starts on this machine, and logs what it chose:
// the database comes from TAYLORDASH_DATABASE_URL, else the local
// PostgreSQL server on 127.0.0.1:5432 (database "taylordash", created if
// missing), else a cluster started from the local PostgreSQL binaries in
// ./.taylordash/pg (kept between runs); the broker from
// TAYLORDASH_MQTT_URL, else one embedded in the process, serving MQTT on
// TAYLORDASH_MQTT_EMBEDDED_ADDR (default 127.0.0.1:1883) and MQTT over
// websockets for browsers on TAYLORDASH_MQTT_EMBEDDED_WS_ADDR (default
// 127.0.0.1:9001), each on a free port instead when taken; the API key
// (X-API-Key, for /api/) from TAYLORDASH_API_KEY, else a random one
// written to ./.taylordash/api-key. It listens on TAYLORDASH_HTTP_ADDR
// (default 127.0.0.1:8000); the API documentation is at /docs.
//
//	go run ./examples/dashboard
//
// The first admin comes from TAYLORDASH_BOOTSTRAP_ADMIN_USER and
// TAYLORDASH_BOOTSTRAP_ADMIN_PASSWORD; when they are unset and no active
// admin exists, the first start generates one and prints its password
// once on standard error (TAYLORDASH_BOOTSTRAP_ADMIN_GENERATE=false turns
// that off). The create-admin command creates an admin, or, if the user
// exists, makes it an active admin with a new password and ends its
// sessions (a forgotten password). It reads the password from
// TAYLORDASH_BOOTSTRAP_ADMIN_PASSWORD or, if unset, from the first line
// of standard input:
//
//	go run ./examples/dashboard create-admin -username alice
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/examples/dashboard/app"
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
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "create-admin":
			return createAdmin(ctx, env, os.Args[2:], os.Stdin, os.Stdout)
		default:
			return fmt.Errorf("unknown command %q; run with no arguments to serve, or: create-admin -username NAME", os.Args[1])
		}
	}

	picked, err := choose(ctx, env)
	if err != nil {
		return err
	}
	defer picked.stop(context.WithoutCancel(ctx))
	return dashcore.Run(ctx,
		app.Modules(),
		dashcore.ProvideConfig[commandConfig](), // its variables are known
		dashcore.WithEnv(picked.env),
	)
}
