package authpg_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/auth/authpg"
	"github.com/taylordash/taylordash/dashcore"
)

// The auth API and what each operation requires, as its OpenAPI document
// says (the x-permission extension). Register only declares operations,
// so a Routes with no stores is enough to list them; serving them needs
// the stores of a migrated database (see Module and HTTPModule).
func Example_routes() {
	rt := &authpg.Routes{}
	_, api, err := dashcore.NewHandler(dashcore.HandlerOptions{Routes: []dashcore.Routes{rt.Contribution()}})
	if err != nil {
		fmt.Println(err)
		return
	}
	paths := api.OpenAPI().Paths
	for _, path := range slices.Sorted(maps.Keys(paths)) {
		if !strings.HasPrefix(path, "/api/") {
			continue // the health endpoints
		}
		item := paths[path]
		for _, m := range []struct {
			method string
			op     *huma.Operation
		}{{"GET", item.Get}, {"POST", item.Post}, {"PUT", item.Put}, {"DELETE", item.Delete}} {
			if m.op == nil {
				continue
			}
			need := "public"
			if req, _ := auth.RequirementOf(m.op); !req.Public {
				need = fmt.Sprint(m.op.Extensions["x-permission"])
			}
			fmt.Printf("%-6s %-30s %s\n", m.method, path, need)
		}
	}
	schemes := api.OpenAPI().Components.SecuritySchemes
	fmt.Println("security schemes:", schemes[auth.SchemeBearer].Scheme, schemes[auth.SchemeAPIKey].Name)
	// Output:
	// GET    /api/v1/auth/audit             audit:read
	// GET    /api/v1/auth/keys              keys:read
	// POST   /api/v1/auth/keys              keys:write
	// DELETE /api/v1/auth/keys/{key_id}     keys:write
	// POST   /api/v1/auth/login             public
	// POST   /api/v1/auth/logout            authenticated
	// GET    /api/v1/auth/me                authenticated
	// GET    /api/v1/auth/policies          policies:read
	// POST   /api/v1/auth/policies          policies:write
	// POST   /api/v1/auth/policies/remove   policies:write
	// POST   /api/v1/auth/refresh           public
	// DELETE /api/v1/auth/sessions/cleanup  users:write
	// GET    /api/v1/auth/users             users:list
	// POST   /api/v1/auth/users             users:write
	// GET    /api/v1/auth/users/{user_id}   users:list
	// PUT    /api/v1/auth/users/{user_id}   users:write
	// DELETE /api/v1/auth/users/{user_id}   users:write
	// security schemes: bearer X-API-Key
}

// Sessions last 24 hours, and end after 2 hours unused; remember_me
// stretches them to 30 days, and 7 days unused. A login's refresh tokens
// renew its session for 7 days (30 with remember_me), counted from the
// login: refreshing does not extend them.
func ExampleSessionConfig_WithDefaults() {
	c := authpg.SessionConfig{}.WithDefaults()
	fmt.Println("ttl:", c.TTL, "idle:", c.IdleTimeout, "refresh:", c.RefreshTTL)
	fmt.Println("remember_me ttl:", c.RememberMeTTL, "idle:", c.RememberMeIdleTimeout, "refresh:", c.RememberMeRefreshTTL)
	// Output:
	// ttl: 24h0m0s idle: 2h0m0s refresh: 168h0m0s
	// remember_me ttl: 720h0m0s idle: 168h0m0s refresh: 720h0m0s
}

// The first admin comes from the configuration only when both variables
// are set; there is no default admin and no default password.
func ExampleConfig_Validate() {
	err := authpg.Config{BootstrapAdminUser: "root"}.WithDefaults().Validate()
	fmt.Println(err)
	// Output:
	// BootstrapAdminPassword: must be set together with TAYLORDASH_BOOTSTRAP_ADMIN_USER (both or neither)
}
