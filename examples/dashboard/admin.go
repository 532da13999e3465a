package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"
)

func (c *cli) createAdminCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "create-admin -username NAME",
		Short: "Make a user an active admin with a new password (a forgotten admin password)",
		Long: `create-admin makes -username an active admin: it creates the user, or, when it
exists, makes it an admin, activates it, replaces its password and ends its
sessions. It is the way back in when the admin password is lost.

The password comes from TAYLORDASH_BOOTSTRAP_ADMIN_PASSWORD, or, when that is
unset, from the first line of standard input; it must meet the password
policy. To create other users, use user create.`,
		Example: `  dashboard create-admin -username alice
  TAYLORDASH_BOOTSTRAP_ADMIN_PASSWORD=... dashboard create-admin -username root
  dashboard create-admin -username root < password.txt`,
		GroupID: "admin",
		// Its flag keeps the single dash it always had (-username).
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "-help" || a == "--help" }) {
				return cmd.Help()
			}
			return c.createAdmin(cmd.Context(), args)
		},
	}
}

// createAdmin is the create-admin command: it makes -username an active
// admin with the password from TAYLORDASH_BOOTSTRAP_ADMIN_PASSWORD or the
// first line of stdin, on the database the server would use.
func (c *cli) createAdmin(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("create-admin", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the error says it all
	username := fs.String("username", "", "the admin's username (required)")
	if err := fs.Parse(args); err != nil {
		return &usageError{fmt.Errorf("create-admin: %w", err)}
	}
	if fs.NArg() > 0 {
		return usagef("create-admin: unexpected argument %q", fs.Arg(0))
	}
	if *username == "" {
		return usagef("create-admin: -username is required, e.g. create-admin -username alice")
	}
	password, ok := c.env.Lookup("TAYLORDASH_BOOTSTRAP_ADMIN_PASSWORD")
	if !ok {
		fmt.Fprintln(c.stdout, "Password (one line on standard input):")
		var err error
		if password, err = readLine(c.stdin); err != nil {
			return fmt.Errorf("create-admin: read the password: %w", err)
		}
	}
	if password == "" {
		return errors.New("create-admin: no password: set TAYLORDASH_BOOTSTRAP_ADMIN_PASSWORD or type it on standard input")
	}

	if ok {
		// The module wants the user with the password; it is not started,
		// so it bootstraps nothing.
		c.env = c.env.With(map[string]string{"TAYLORDASH_BOOTSTRAP_ADMIN_USER": *username})
	}
	tb, err := c.open(ctx, needDatabase|needPolicy)
	if err != nil {
		return err
	}
	defer tb.close(context.WithoutCancel(ctx))
	created, err := tb.Accounts.ResetAdmin(ctx, *username, password)
	if err != nil {
		return refusal("create-admin", err)
	}
	if created {
		fmt.Fprintf(c.stdout, "Created admin %q.\n", *username)
	} else {
		fmt.Fprintf(c.stdout, "%q is now an active admin with the new password; its sessions were ended.\n", *username)
	}
	return nil
}
