package main

import (
	"context"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/taylordash/taylordash/store"
)

// appliedMigration is one applied file, in --output json.
type appliedMigration struct {
	Namespace  string `json:"namespace"`
	Version    int64  `json:"version"`
	Name       string `json:"name"`
	DurationMS int64  `json:"duration_ms"`
}

func (c *cli) migrateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the pending database migrations of every module, and exit",
		Long: `migrate applies the pending migrations of every module of the dashboard (the
same files serve applies on start), each file in its own transaction, under
an advisory lock (instances starting meanwhile wait, then find nothing to
do), and prints what it applied. Running it again applies nothing.

A migration file that was edited after it was applied stops it: nothing is
applied, and the error names the file. Deploy jobs run it before starting
servers with TAYLORDASH_DATABASE_SKIP_MIGRATIONS=true.`,
		Example: `  dashboard migrate
  TAYLORDASH_DATABASE_URL=postgres://app:secret@db:5432/app dashboard migrate --output json`,
		GroupID: "run",
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			tb, err := c.open(ctx, needDatabase|needNoMigrations)
			if err != nil {
				return err
			}
			defer tb.close(context.WithoutCancel(ctx))
			applied, err := store.Migrate(ctx, tb.DB, tb.Migrations...)
			if err != nil {
				return err
			}
			return c.printMigrations(tb.Migrations, applied)
		},
	}
}

func (c *cli) printMigrations(sets []store.Migrations, applied []store.Applied) error {
	if c.jsonOutput() {
		out := struct {
			Applied []appliedMigration `json:"applied"`
			Count   int                `json:"count"`
		}{Applied: []appliedMigration{}, Count: len(applied)}
		for _, a := range applied {
			out.Applied = append(out.Applied, appliedMigration{Namespace: a.Namespace, Version: a.Version, Name: a.Name,
				DurationMS: a.Duration.Milliseconds()})
		}
		return c.printJSON(out)
	}
	for _, a := range applied {
		c.printf("applied %s/%s (%s)\n", a.Namespace, a.Name, a.Duration.Round(100*time.Microsecond))
	}
	namespaces := make([]string, 0, len(sets))
	for _, s := range sets {
		namespaces = append(namespaces, s.Namespace)
	}
	slices.Sort(namespaces)
	switch len(applied) {
	case 0:
		c.printf("Nothing to apply: the schema is up to date (%d modules: %v).\n", len(namespaces), namespaces)
	case 1:
		c.printf("Applied 1 migration; the schema is up to date.\n")
	default:
		c.printf("Applied %d migrations; the schema is up to date.\n", len(applied))
	}
	return nil
}
