// Command dashboard serves the TaylorDash dashboard API, and runs the
// operator's tasks on the same database.
//
// With no arguments (or "serve") it serves. With no configuration it
// starts on this machine, and logs what it chose: the database comes from
// TAYLORDASH_DATABASE_URL, else the local PostgreSQL server on
// 127.0.0.1:5432 (database "taylordash", created if missing), else a
// cluster started from the local PostgreSQL binaries in ./.taylordash/pg
// (kept between runs); the broker from TAYLORDASH_MQTT_URL, else one
// embedded in the process, serving MQTT on TAYLORDASH_MQTT_EMBEDDED_ADDR
// (default 127.0.0.1:1883) and MQTT over websockets for browsers on
// TAYLORDASH_MQTT_EMBEDDED_WS_ADDR (default 127.0.0.1:9001), each on a free
// port instead when taken; the API key (X-API-Key, for /api/) from
// TAYLORDASH_API_KEY, else a random one written to ./.taylordash/api-key.
// It listens on TAYLORDASH_HTTP_ADDR (default 127.0.0.1:8000); the API
// documentation is at /docs.
//
//	go run ./examples/dashboard
//
// The first admin comes from TAYLORDASH_BOOTSTRAP_ADMIN_USER and
// TAYLORDASH_BOOTSTRAP_ADMIN_PASSWORD; when they are unset and no active
// admin exists, the first start generates one and prints its password
// once on standard error (TAYLORDASH_BOOTSTRAP_ADMIN_GENERATE=false turns
// that off).
//
// The other commands build the same modules with the same configuration,
// without starting them, and work in-process on the database the server
// would use (a server running in the same directory with a cluster or a
// broker of its own tells them where, in ./.taylordash/running.json):
//
//	dashboard migrate                                  apply pending migrations
//	dashboard user create --username alice --role operator
//	dashboard apikey create --name ci --role viewer    print a new key once
//	dashboard plugin install ./widget.zip              or a directory, or an https URL with --sha256
//	dashboard plugin list
//	dashboard dlq list --reason not_json
//	dashboard dlq replay --all                         publish dead letters again, through the broker
//	dashboard openapi --format json                    the API's OpenAPI document
//	dashboard create-admin -username alice             make alice an active admin (a forgotten password)
//
// Each has --help with examples; --output json prints what scripts parse.
// Progress bars for long work go to standard error when it is a terminal.
// Exit codes: 0 done, 1 failed or refused, 2 wrong command line.
package main

import (
	"context"
	"os"

	"github.com/taylordash/taylordash/dashcore"
)

func main() {
	os.Exit(run(context.Background(), dashcore.OSEnvironment(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
