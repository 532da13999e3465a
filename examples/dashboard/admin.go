package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/auth/authpg"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/internal/devdb"
	"github.com/taylordash/taylordash/store"
)

// createAdmin is the create-admin command: it makes -username an active
// admin with the password from TAYLORDASH_BOOTSTRAP_ADMIN_PASSWORD or the
// first line of stdin, on the database the server would use.
func createAdmin(ctx context.Context, env dashcore.Environment, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("create-admin", flag.ContinueOnError)
	fs.SetOutput(stdout)
	username := fs.String("username", "", "the admin's username (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *username == "" {
		return errors.New("create-admin: -username is required, e.g. create-admin -username alice")
	}
	password, ok := env.Lookup("TAYLORDASH_BOOTSTRAP_ADMIN_PASSWORD")
	if !ok {
		fmt.Fprintln(stdout, "Password (one line on standard input):")
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("create-admin: read the password: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	}
	if password == "" {
		return errors.New("create-admin: no password: set TAYLORDASH_BOOTSTRAP_ADMIN_PASSWORD or type it on standard input")
	}

	cfg := auth.Config{}.WithDefaults()
	if err := dashcore.LoadConfig(env.With(map[string]string{"TAYLORDASH_ALLOW_UNKNOWN_ENV": "true"}), &cfg); err != nil {
		return err
	}
	log := slog.New(slog.DiscardHandler)
	dbURL, _ := env.Lookup("TAYLORDASH_DATABASE_URL")
	dev, err := devdb.Resolve(ctx, devdb.Options{URL: dbURL, Logger: log})
	if err != nil {
		return err
	}
	defer dev.Stop(context.WithoutCancel(ctx)) //nolint:errcheck // nothing to report at exit
	db, err := store.Open(ctx, store.Config{URL: dev.URL, MinConns: -1})
	if err != nil {
		return fmt.Errorf("create-admin: %w", err)
	}
	defer db.Close()
	if _, err := store.Migrate(ctx, db, authpg.Migrations); err != nil {
		return fmt.Errorf("create-admin: %w", err)
	}
	accounts, err := authpg.NewAccounts(db, authpg.AccountsOptions{
		Hasher:  auth.NewPasswordHasher(cfg.Password),
		Auditor: authpg.NewAuditLog(db, nil, log),
	})
	if err != nil {
		return err
	}
	created, err := accounts.ResetAdmin(ctx, *username, password)
	if err != nil {
		return fmt.Errorf("create-admin: %w", err)
	}
	if created {
		fmt.Fprintf(stdout, "Created admin %q.\n", *username)
	} else {
		fmt.Fprintf(stdout, "%q is now an active admin with the new password; its sessions were ended.\n", *username)
	}
	return nil
}
