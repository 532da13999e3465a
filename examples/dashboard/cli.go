package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/taylordash/taylordash/dashcore"
)

// Exit codes scripts can trust.
const (
	exitOK      = 0 // the command did what it was asked
	exitFailure = 1 // it ran and failed (or refused: a rejected plugin, a failed replay)
	exitUsage   = 2 // the command line is wrong: unknown command or flag, missing or malformed argument
)

// cli is one run of the command: where it reads and writes, the
// environment, and the global flags.
type cli struct {
	env    dashcore.Environment
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// dir holds what the command keeps between runs (the API key, the
	// local cluster, the running server's state): ./.taylordash.
	dir string
	// transport, if set, is what plugin downloads go through (tests).
	transport http.RoundTripper

	output      string // text or json
	progress    string // auto, always or never
	quiet       bool
	verbose     bool
	databaseURL string
}

// usageError is a wrong command line: exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usage error.
func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// usageArgs makes an argument validator's errors usage errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

// run executes the command line args and returns the exit code. Errors
// go to stderr, prefixed with "dashboard:"; a usage error also says where
// the help is.
func run(ctx context.Context, env dashcore.Environment, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{env: env, stdin: stdin, stdout: stdout, stderr: stderr, dir: ".taylordash"}
	return c.execute(ctx, args)
}

func (c *cli) execute(ctx context.Context, args []string) int {
	root := c.rootCommand()
	root.SetArgs(args)
	root.SetIn(c.stdin)
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	if cmd == nil {
		cmd = root
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(c.stderr, "dashboard: %v\nRun '%s --help' for usage.\n", err, cmd.CommandPath())
		return exitUsage
	}
	fmt.Fprintln(c.stderr, "dashboard:", err)
	return exitFailure
}

// rootCommand builds the command tree. With no subcommand it serves.
func (c *cli) rootCommand() *cobra.Command {
	serve := &serveFlags{}
	root := &cobra.Command{
		Use:   "dashboard",
		Short: "The TaylorDash dashboard API, and the tools to run it",
		Long: `dashboard serves the TaylorDash dashboard API (with no command, or "serve"), and
runs the operator's tasks on the same database without a running server:
migrate the schema, create users and API keys, install and list plugins,
list and replay dead letters, print the OpenAPI document.

Every command reads the server's configuration: the TAYLORDASH_* variables
(see the README's configuration table), and picks the database as serve
does: TAYLORDASH_DATABASE_URL; else the database of a dashboard serving from
this directory; else the local server on 127.0.0.1:5432; else a cluster from
the local PostgreSQL binaries in ./.taylordash/pg. Commands apply pending
migrations first, as serve does (unless TAYLORDASH_DATABASE_SKIP_MIGRATIONS).

Exit codes: 0 done, 1 failed (or refused), 2 wrong command line.`,
		Example: `  dashboard                                   # serve on 127.0.0.1:8000, docs at /docs
  dashboard user create --username alice --role operator
  dashboard apikey create --name ci --role viewer --output json
  dashboard plugin install ./my-widget.zip
  dashboard dlq replay --all`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				return usagef("unknown command %q; did you mean %s?", args[0], strings.Join(s, " or "))
			}
			return usagef("unknown command %q", args[0])
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return c.checkGlobalFlags()
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return c.serve(cmd.Context(), serve) },
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.CompletionOptions.HiddenDefaultCmd = true
	root.SuggestionsMinimumDistance = 2
	pf := root.PersistentFlags()
	pf.StringVarP(&c.output, "output", "o", "text", `output format: "text" for people, "json" for scripts`)
	pf.StringVar(&c.progress, "progress", "auto", `progress bars on standard error: "auto" (when it is a terminal), "always" or "never"`)
	pf.BoolVarP(&c.quiet, "quiet", "q", false, "no progress bars (the same as --progress never)")
	pf.BoolVarP(&c.verbose, "verbose", "v", false, "log at info level on standard error (TAYLORDASH_LOG_LEVEL wins when set)")
	pf.StringVar(&c.databaseURL, "database-url", "", "the PostgreSQL URL; wins over TAYLORDASH_DATABASE_URL")
	serve.register(root.Flags())

	root.AddGroup(&cobra.Group{ID: "run", Title: "Running:"}, &cobra.Group{ID: "admin", Title: "Administration:"})
	root.AddCommand(
		c.serveCommand(),
		c.migrateCommand(),
		c.openAPICommand(),
		c.userCommand(),
		c.apiKeyCommand(),
		c.pluginCommand(),
		c.dlqCommand(),
		c.createAdminCommand(),
	)
	return root
}

// group returns a command that only holds subcommands: run alone, or with
// an unknown subcommand, it is a usage error.
func group(use, short, example string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use:     use,
		Short:   short,
		Example: example,
		GroupID: "admin",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			names := make([]string, 0, len(cmd.Commands()))
			for _, s := range cmd.Commands() {
				names = append(names, s.Name())
			}
			return usagef("%s needs a command: %s", cmd.CommandPath(), strings.Join(names, ", "))
		},
	}
	g.AddCommand(subs...)
	return g
}

func (c *cli) checkGlobalFlags() error {
	switch c.output {
	case "text", "json":
	default:
		return usagef(`--output must be "text" or "json", not %q`, c.output)
	}
	switch c.progress {
	case "auto", "always", "never":
	default:
		return usagef(`--progress must be "auto", "always" or "never", not %q`, c.progress)
	}
	return nil
}

// refusal wraps err with prefix; a refusal of the domain (a
// *dashcore.Error of a client kind, such as a conflict) keeps only its
// public message: its cause, such as the SQL error behind a conflict, is
// for logs.
func refusal(prefix string, err error) error {
	var de *dashcore.Error
	if errors.As(err, &de) && de.Detail != "" && de.Kind != nil && de.Kind != dashcore.ErrInternal && de.Kind != dashcore.ErrUnavailable {
		return fmt.Errorf("%s: %s", prefix, de.Detail)
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// jsonOutput reports whether the output is for scripts.
func (c *cli) jsonOutput() bool { return c.output == "json" }

// printJSON writes v as indented JSON to stdout.
func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printf writes text output.
func (c *cli) printf(format string, args ...any) {
	fmt.Fprintf(c.stdout, format, args...)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
