// Package devdb finds a PostgreSQL database for running the example
// application with no configuration: the URL from TAYLORDASH_DATABASE_URL,
// else the local server on the standard port, else a cluster started from
// the local PostgreSQL binaries in a directory kept between runs.
package devdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/taylordash/taylordash/internal/pglocal"
)

// Options configures Resolve.
type Options struct {
	// URL is an explicit database URL (TAYLORDASH_DATABASE_URL); when set
	// it is used as is.
	URL string
	// Database is the database created and used on a local server.
	Database string
	// LocalAddr is the standard local server; "" means 127.0.0.1:5432.
	LocalAddr string
	// SkipLocal does not try the local server (to test the fallback).
	SkipLocal bool
	// Dir is the data directory of the throwaway cluster, kept between runs.
	Dir string
	// Logger says which database was picked.
	Logger *slog.Logger
}

// Database is the database picked, and how to let go of it.
type Database struct {
	// URL connects to the database.
	URL string
	// Source says where it came from: "environment", "local server" or
	// "local binaries".
	Source string
	stop   func(context.Context) error
}

// Stop stops the cluster Resolve started, if it started one.
func (d *Database) Stop(ctx context.Context) error {
	if d.stop == nil {
		return nil
	}
	return d.stop(ctx)
}

// Resolve picks the database as the package documentation says, creating
// the database on a local server or cluster when missing, and logs the
// choice.
func Resolve(ctx context.Context, opts Options) (*Database, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Database == "" {
		opts.Database = "taylordash"
	}
	if opts.URL != "" {
		log.Info("database: using TAYLORDASH_DATABASE_URL")
		return &Database{URL: opts.URL, Source: "environment"}, nil
	}
	addr := opts.LocalAddr
	if addr == "" {
		addr = "127.0.0.1:5432"
	}
	var localErr error
	if !opts.SkipLocal {
		host, port, _ := net.SplitHostPort(addr)
		admin := fmt.Sprintf("postgres://postgres@%s:%s/postgres?sslmode=disable&connect_timeout=2", host, port)
		if localErr = ensureDatabase(ctx, admin, opts.Database); localErr == nil {
			u := fmt.Sprintf("postgres://postgres@%s:%s/%s?sslmode=disable", host, port, opts.Database)
			log.Info("database: using the local server (set TAYLORDASH_DATABASE_URL to choose another)",
				slog.String("addr", addr), slog.String("database", opts.Database))
			return &Database{URL: u, Source: "local server"}, nil
		}
	}
	dir := opts.Dir
	if dir == "" {
		dir = filepath.Join(".taylordash", "pg")
	}
	if _, err := pglocal.FindBinDir(); err != nil {
		return nil, fmt.Errorf("no PostgreSQL for the dashboard: TAYLORDASH_DATABASE_URL is unset, the local server at %s did not answer (%v), and %w; set TAYLORDASH_DATABASE_URL=postgres://user:pass@host:5432/db or start a server", addr, localErr, err)
	}
	log.Info("database: starting a cluster from the local PostgreSQL binaries (kept between runs)", slog.String("dir", dir))
	start := time.Now()
	cl, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, DieWithParent: true})
	if err != nil {
		return nil, fmt.Errorf("start a local cluster in %s: %w", dir, err)
	}
	if err := ensureDatabase(ctx, cl.URL("postgres"), opts.Database); err != nil {
		_ = cl.Stop(context.WithoutCancel(ctx))
		return nil, err
	}
	log.Info("database: local cluster ready", slog.String("dir", dir), slog.Int("port", cl.Port()), slog.Duration("took", time.Since(start).Round(time.Millisecond)))
	return &Database{URL: cl.URL(opts.Database), Source: "local binaries", stop: cl.Stop}, nil
}

// ensureDatabase creates database name through adminURL when missing.
func ensureDatabase(ctx context.Context, adminURL, name string) error {
	c, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P04" { // created meanwhile
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}
