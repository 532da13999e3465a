package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/auth/authpg"
	"github.com/taylordash/taylordash/dashcore"
)

func (c *cli) userCommand() *cobra.Command {
	return group("user", "Manage local users", `  dashboard user create --username alice --role operator`, c.userCreateCommand())
}

// createdUser is user create's --output json.
type createdUser struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Role     string `json:"role"`
	Email    string `json:"email,omitempty"`
	// Password is the generated password, shown once; absent when it was
	// read from standard input.
	Password string `json:"password,omitempty"`
}

func (c *cli) userCreateCommand() *cobra.Command {
	var username, role, email string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "create --username NAME [--role ROLE] [--password-stdin]",
		Short: "Create a local user",
		Long: `user create creates a local user who logs in with a username and password
(POST /api/v1/auth/login). The role must be one of the policy's roles
(admin, operator and viewer unless the policy has more). The password is
read from the first line of standard input with --password-stdin, and must
meet the password policy (TAYLORDASH_AUTH_PASSWORD_*); without it, a random
password is generated and printed once.

To give an existing user a new admin password (a forgotten one), use
create-admin.`,
		Example: `  dashboard user create --username alice --role operator
  printf '%s\n' "$PASSWORD" | dashboard user create --username bob --password-stdin
  dashboard user create --username carol --role admin --output json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if username == "" {
				return usagef("--username is required, e.g. --username alice")
			}
			password := ""
			if passwordStdin {
				var err error
				if password, err = readLine(c.stdin); err != nil {
					return fmt.Errorf("user create: read the password from standard input: %w", err)
				}
				if password == "" {
					return errors.New("user create: --password-stdin: standard input held no password; pipe one line into it, " +
						`as in: printf '%s\n' "$PASSWORD" | dashboard user create --username NAME --password-stdin`)
				}
			}
			ctx := cmd.Context()
			tb, err := c.open(ctx, needDatabase|needPolicy)
			if err != nil {
				return err
			}
			defer tb.close(context.WithoutCancel(ctx))
			generated := password == ""
			if generated {
				if password, err = generatePassword(tb.Hasher, username); err != nil {
					return fmt.Errorf("user create: %w", err)
				}
			}
			u, err := tb.Accounts.CreateUser(ctx, cliClient, authpg.NewUser{Username: username, Password: password, Role: role, Email: email})
			if errors.Is(err, dashcore.ErrConflict) {
				return fmt.Errorf("%w; choose another --username (create-admin gives an existing user a new admin password)", refusal("user create", err))
			}
			if err != nil {
				return refusal("user create", err)
			}
			out := createdUser{ID: u.ID, Username: u.Username, Role: u.Role, Email: u.Email}
			if generated {
				out.Password = password
			}
			if c.jsonOutput() {
				return c.printJSON(out)
			}
			c.printf("Created user %q (role %s, id %s).\n", u.Username, u.Role, u.ID)
			if generated {
				c.printf("Password (shown once; log in and change it): %s\n", password)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&username, "username", "", "the user's name (required)")
	fs.StringVar(&role, "role", authpg.ViewerRole, "the user's role: admin, operator, viewer, or another role of the policy")
	fs.StringVar(&email, "email", "", "the user's email address (optional)")
	fs.BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input instead of generating one")
	return cmd
}

// readLine returns the first line of r without its line ending.
func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// generatePassword returns a random password that the policy accepts for
// username, as the server generates the first admin's: groups of six
// letters and digits joined by "-", four at first, more when the policy
// wants a longer one.
func generatePassword(h *auth.PasswordHasher, username string) (string, error) {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	var err error
	for groups := 4; groups < 64; groups++ {
		parts := make([]string, groups)
		for i := range parts {
			b := make([]byte, 6)
			for j := range b {
				b[j] = alnum[randN(len(alnum))]
			}
			parts[i] = string(b)
		}
		password := strings.Join(parts, "-")
		if err = h.Check(username, password); err == nil {
			return password, nil
		}
	}
	return "", fmt.Errorf("no random password meets the policy: %w; pass one with --password-stdin", err)
}

// randN returns a uniform random number in [0, n), n <= 256, from
// crypto/rand.
func randN(n int) int {
	limit := 256 - 256%n // bytes at or above would bias the draw
	var b [1]byte
	for {
		_, _ = rand.Read(b[:]) // never fails (crypto/rand)
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}
