// Command dashboard serves the TaylorDash dashboard API.
//
// With no configuration it starts on this machine: the database comes from
// TAYLORDASH_DATABASE_URL, else the local PostgreSQL server on
// 127.0.0.1:5432 (database "taylordash", created if missing), else a
// cluster started from the local PostgreSQL binaries in ./.taylordash/pg
// (kept between runs); the broker from TAYLORDASH_MQTT_URL, else the local
// broker on 127.0.0.1:1883, else one embedded in the process; the API key
// (X-API-Key, for /api/) from TAYLORDASH_API_KEY, else a random one
// written to ./.taylordash/api-key. It listens on TAYLORDASH_HTTP_ADDR
// (default 127.0.0.1:8000); the API documentation is at /docs.
//
//	go run ./examples/dashboard
//
// The first admin comes from TAYLORDASH_BOOTSTRAP_ADMIN_USER and
// TAYLORDASH_BOOTSTRAP_ADMIN_PASSWORD, or from this command, which creates
// an admin, or, if the user exists, makes it an active admin with a new
// password and ends its sessions (a forgotten password). It reads the
// password from TAYLORDASH_BOOTSTRAP_ADMIN_PASSWORD or, if unset, from
// the first line of standard input:
//
//	go run ./examples/dashboard create-admin -username alice
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/examples/dashboard/app"
	"github.com/taylordash/taylordash/internal/devbroker"
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
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "create-admin":
			return createAdmin(ctx, env, os.Args[2:], os.Stdin, os.Stdout)
		default:
			return fmt.Errorf("unknown command %q; run with no arguments to serve, or: create-admin -username NAME", os.Args[1])
		}
	}

	// The logger the application will use, read leniently here: a bad
	// variable is reported, with every other one, by dashcore.Run.
	cfg := dashcore.DefaultConfig()
	_ = dashcore.LoadConfig(env.With(map[string]string{"TAYLORDASH_ALLOW_UNKNOWN_ENV": "true"}), &cfg)
	log := dashcore.NewLogger(cfg.Log, os.Stderr)

	dbURL, _ := env.Lookup("TAYLORDASH_DATABASE_URL")
	db, err := devdb.Resolve(ctx, devdb.Options{URL: dbURL, Logger: log})
	if err != nil {
		return err
	}
	defer db.Stop(context.WithoutCancel(ctx)) //nolint:errcheck // the cluster's own shutdown log says what went wrong

	brokerURL, _ := env.Lookup("TAYLORDASH_MQTT_URL")
	broker, err := devbroker.Resolve(ctx, devbroker.Options{URL: brokerURL, Logger: log})
	if err != nil {
		return err
	}
	defer broker.Stop(context.WithoutCancel(ctx)) //nolint:errcheck // nothing to report at exit

	key, ok := env.Lookup("TAYLORDASH_API_KEY")
	if !ok {
		if key, err = devAPIKey(filepath.Join(".taylordash", "api-key")); err != nil {
			return err
		}
		log.Info("API key: TAYLORDASH_API_KEY is unset; clients send the key in .taylordash/api-key as X-API-Key")
	}

	return dashcore.Run(ctx,
		app.Modules(),
		dashcore.WithEnv(map[string]string{
			"TAYLORDASH_DATABASE_URL": db.URL,
			"TAYLORDASH_MQTT_URL":     broker.URL,
			"TAYLORDASH_API_KEY":      key,
		}),
	)
}

// devAPIKey returns the key kept in path, creating a random one (readable
// by the owner only) the first time.
func devAPIKey(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return strings.TrimSpace(string(b)), nil
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	key := hex.EncodeToString(raw[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("keep the API key in %s: %w; or set TAYLORDASH_API_KEY", path, err)
	}
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keep the API key in %s: %w; or set TAYLORDASH_API_KEY", path, err)
	}
	return key, nil
}
