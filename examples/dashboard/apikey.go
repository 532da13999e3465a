package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/auth/authpg"
)

func (c *cli) apiKeyCommand() *cobra.Command {
	return group("apikey", "Manage API keys", `  dashboard apikey create --name ci --role viewer`, c.apiKeyCreateCommand())
}

func (c *cli) apiKeyCreateCommand() *cobra.Command {
	var name string
	var roles, permissions []string
	var expiresIn time.Duration
	cmd := &cobra.Command{
		Use:   "create --name NAME (--role ROLE | --permission RESOURCE:ACTION)...",
		Short: "Create an API key and print it once",
		Long: `apikey create creates an API key, as POST /api/v1/auth/keys does, and prints
the whole key once: only its hash is stored. Clients send it in the
X-API-Key header.

The key gets roles of the policy (--role), permissions (--permission
resource:action, which limit it to them within what its roles allow), or
both; at least one of them. The command line may grant any role: it acts
with the database's rights, not a user's.`,
		Example: `  dashboard apikey create --name "ci deploy" --role operator
  dashboard apikey create --name grafana --role viewer --permission events:read --expires-in 720h
  KEY=$(dashboard apikey create --name ci --role viewer --output json | jq -r .key)`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case name == "":
				return usagef(`--name is required, e.g. --name "ci deploy"`)
			case len(name) > 100:
				return usagef("--name must be at most 100 characters")
			case len(roles) == 0 && len(permissions) == 0:
				return usagef("give the key --role, --permission or both, e.g. --role viewer")
			case expiresIn < 0:
				return usagef("--expires-in must be positive, such as 720h")
			}
			perms, err := auth.ParsePermissions(permissions)
			if err != nil {
				return &usageError{fmt.Errorf("--permission: %w", err)}
			}
			ctx := cmd.Context()
			tb, err := c.open(ctx, needDatabase|needPolicy)
			if err != nil {
				return err
			}
			defer tb.close(context.WithoutCancel(ctx))
			known := tb.Authorizer.GrantableRoles()
			for _, r := range roles {
				if !slices.Contains(known, r) {
					return fmt.Errorf("apikey create: role %q is not in the policy; its roles are: %s", r, strings.Join(known, ", "))
				}
			}
			nk := authpg.NewKey{Name: name, Roles: roles, Permissions: perms, CreatedBy: cliClient.UserAgent}
			if expiresIn > 0 {
				at := time.Now().Add(expiresIn).UTC().Truncate(time.Second)
				nk.ExpiresAt = &at
			}
			rec, secret, err := tb.Keys.Create(ctx, tb.DB, nk)
			if err != nil {
				return refusal("apikey create", err)
			}
			tb.audit(ctx, auth.AuditKeyCreated, "success", map[string]any{
				"key_id": rec.ID, "name": rec.Name, "roles": rec.Roles, "permissions": permissions})
			if c.jsonOutput() {
				return c.printJSON(authpg.CreatedKey{APIKeyRecord: rec, Key: secret})
			}
			expires := "never expires"
			if rec.ExpiresAt != nil {
				expires = "expires " + rec.ExpiresAt.Format(time.RFC3339)
			}
			c.printf("Created API key %s %q (roles: %s; permissions: %s; %s).\n", rec.ID, rec.Name,
				orNone(rec.Roles), orNone(permissions), expires)
			c.printf("Key (shown once; send it as %s): %s\n", auth.APIKeyHeader, secret)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&name, "name", "", "what the key is for, 1 to 100 characters (required)")
	fs.StringSliceVar(&roles, "role", nil, "a role of the policy; repeat or separate with commas")
	fs.StringSliceVar(&permissions, "permission", nil, "resource:action the key is limited to, e.g. projects:read; repeat or separate with commas")
	fs.DurationVar(&expiresIn, "expires-in", 0, "how long the key works, e.g. 720h (default: until revoked)")
	return cmd
}

// orNone joins ss, or says "none".
func orNone(ss []string) string {
	if len(ss) == 0 {
		return "none"
	}
	return strings.Join(ss, ", ")
}
