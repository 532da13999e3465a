package auth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
)

type projectsOutput struct {
	Body []string
}

// newProjectRoutes is what a feature module contributes: one operation
// that declares its permission with auth.Require, and one that declares
// nothing, which the guard refuses to everyone.
func newProjectRoutes() dashcore.Routes {
	return dashcore.Routes{
		Name: "projects",
		Register: func(api huma.API) {
			huma.Register(api, auth.Require(huma.Operation{
				OperationID: "list-projects", Method: http.MethodGet, Path: "/api/v1/projects",
			}, "projects", "read"), func(context.Context, *struct{}) (*projectsOutput, error) {
				return &projectsOutput{Body: []string{"alpha"}}, nil
			})
			huma.Register(api, auth.Require(huma.Operation{
				OperationID: "create-project", Method: http.MethodPost, Path: "/api/v1/projects",
			}, "projects", "write"), func(context.Context, *struct{}) (*struct{}, error) {
				return nil, nil
			})
			// No auth.Require, auth.RequireAuthenticated or auth.Public:
			// denied by default.
			huma.Register(api, huma.Operation{
				OperationID: "forgotten", Method: http.MethodGet, Path: "/api/v1/forgotten",
			}, func(context.Context, *struct{}) (*struct{}, error) {
				return nil, nil
			})
		},
	}
}

// Guard an API without fx: the default policy in memory, and an API-key
// authenticator that knows only a bootstrap key with the viewer role. A
// viewer may read projects but not write them; nobody may call an
// operation that declares no requirement.
func Example() {
	authz, err := auth.NewAuthorizer(auth.NewMemoryAdapter(auth.DefaultRules()...), auth.AuthorizerConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	keys := auth.NewAPIKeyAuthenticator(nil, auth.APIKeyConfig{
		BootstrapKey:   "viewer-key-0123456789",
		BootstrapRoles: []string{"viewer"},
	}, nil)
	guard, err := auth.NewGuard(auth.GuardOptions{
		Authenticators: []auth.Authenticator{keys},
		Authorizer:     authz,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	handler, _, err := dashcore.NewHandler(dashcore.HandlerOptions{
		Routes:     []dashcore.Routes{newProjectRoutes()},
		Middleware: []dashcore.Middleware{guard.Middleware()},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(handler)
	defer srv.Close()

	call := func(what, method, path, key string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if key != "" {
			req.Header.Set(auth.APIKeyHeader, key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Printf("%-16s %d\n", what, resp.StatusCode)
	}
	call("no key", http.MethodGet, "/api/v1/projects", "")
	call("viewer reads", http.MethodGet, "/api/v1/projects", "viewer-key-0123456789")
	call("viewer writes", http.MethodPost, "/api/v1/projects", "viewer-key-0123456789")
	call("wrong key", http.MethodGet, "/api/v1/projects", "td_abcdefghijkl_guessed")
	call("undeclared", http.MethodGet, "/api/v1/forgotten", "viewer-key-0123456789")
	call("health (public)", http.MethodGet, "/health/live", "")
	// Output:
	// no key           401
	// viewer reads     200
	// viewer writes    403
	// wrong key        401
	// undeclared       403
	// health (public)  200
}

// Require records the operation's requirement for the guard and documents
// it: the security schemes, an x-permission extension and a line in the
// description.
func ExampleRequire() {
	op := auth.Require(huma.Operation{
		OperationID: "create-task", Method: http.MethodPost, Path: "/api/v1/tasks",
		Description: "Creates a task.",
	}, "tasks", "write")
	fmt.Println("x-permission:", op.Extensions["x-permission"])
	fmt.Println("security:", op.Security)
	fmt.Printf("description: %q\n", op.Description)

	req, _ := auth.RequirementOf(&op)
	fmt.Println("requirement:", req.Permission, "rate group:", req.RateGroup == "")

	me := auth.RequireAuthenticated(huma.Operation{OperationID: "me", Method: http.MethodGet, Path: "/api/v1/auth/me"})
	fmt.Println("me:", me.Extensions["x-permission"])

	login := auth.Public(huma.Operation{OperationID: "login", Method: http.MethodPost, Path: "/api/v1/auth/login"}, "login")
	lr, _ := auth.RequirementOf(&login)
	fmt.Println("login: public", lr.Public, "security", login.Security, "group", lr.RateGroup)
	// Output:
	// x-permission: tasks:write
	// security: [map[bearer:[]] map[apiKey:[]]]
	// description: "Creates a task.\n\nRequires permission `tasks:write`."
	// requirement: tasks:write rate group: true
	// me: authenticated
	// login: public true security [] group login
}

// A permission grants an action on a resource, "*" standing for any. An
// API key's Permissions are checked this way before the policy is asked.
func ExamplePermission_Allows() {
	want := auth.Permission{Resource: "projects", Action: "write"}
	for _, p := range []auth.Permission{
		{Resource: "projects", Action: "write"},
		{Resource: "projects", Action: "*"},
		{Resource: "*", Action: "write"},
		{Resource: "projects", Action: "read"},
		{Resource: "tasks", Action: "*"},
	} {
		fmt.Printf("%-16s allows %s: %v\n", p, want, p.Allows(want))
	}
	// Output:
	// projects:write   allows projects:write: true
	// projects:*       allows projects:write: true
	// *:write          allows projects:write: true
	// projects:read    allows projects:write: false
	// tasks:*          allows projects:write: false
}

// An API key is td_<id>_<secret>: a 12-character public id and 256 random
// bits. Only the SHA-256 of the whole key is stored; the key is shown to
// its owner once.
func ExampleNewAPIKey() {
	k, err := auth.NewAPIKey()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("prefix:", k.Secret[:3])
	fmt.Println("id:", len(k.ID), "characters")
	fmt.Println("key:", len(k.Secret), "characters")
	fmt.Println("stored hash:", len(k.SecretHash), "bytes")
	fmt.Println("id in key:", strings.HasPrefix(k.Secret, "td_"+k.ID+"_"))
	fmt.Println("hash matches:", string(auth.HashSecret(k.Secret)) == string(k.SecretHash))
	// Output:
	// prefix: td_
	// id: 12 characters
	// key: 59 characters
	// stored hash: 32 bytes
	// id in key: true
	// hash matches: true
}

// ParseAPIKey returns the public id the store looks the key up by; a
// string not in the td_<id>_<secret> form has none.
func ExampleParseAPIKey() {
	for _, key := range []string{
		"td_0123456789ab_c2VjcmV0",
		"td_0123456789AB_c2VjcmV0", // ids are lower case
		"td_short_c2VjcmV0",
		"taylordash-dev-key", // the original's static key
	} {
		id, ok := auth.ParseAPIKey(key)
		fmt.Printf("%-26s %q %v\n", key, id, ok)
	}
	// Output:
	// td_0123456789ab_c2VjcmV0   "0123456789ab" true
	// td_0123456789AB_c2VjcmV0   "" false
	// td_short_c2VjcmV0          "" false
	// taylordash-dev-key         "" false
}

// The authorizer asks the policy about the principal's roles and, with
// the module's SubjectPrefix, about the principal itself. A scoped API key
// needs both its Permissions and its roles to allow a request; a rule in
// a domain holds only for principals of that domain.
func ExampleAuthorizer_Allowed() {
	authz, err := auth.NewAuthorizer(auth.NewMemoryAdapter(auth.DefaultRules()...),
		auth.AuthorizerConfig{SubjectPrefix: "sub:"})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = authz.AddRules(context.Background(),
		auth.PermissionRule("sub:alice", "*", "audit", "read"),  // one principal, directly
		auth.PermissionRule("auditor", "acme", "audit", "read"), // one role, in one domain
		auth.InheritRule("auditor", "viewer"),                   // auditors read what viewers read
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	auditRead := auth.Permission{Resource: "audit", Action: "read"}
	projectsWrite := auth.Permission{Resource: "projects", Action: "write"}
	tasksWrite := auth.Permission{Resource: "tasks", Action: "write"}
	for _, c := range []struct {
		who  string
		p    *auth.Principal
		want auth.Permission
	}{
		{"operator", &auth.Principal{Subject: "u1", Roles: []string{"operator"}}, projectsWrite},
		{"viewer", &auth.Principal{Subject: "u2", Roles: []string{"viewer"}}, projectsWrite},
		{"alice (viewer)", &auth.Principal{Subject: "alice", Roles: []string{"viewer"}}, auditRead},
		{"auditor of acme", &auth.Principal{Subject: "u3", Roles: []string{"auditor"}, Domain: "acme"}, auditRead},
		{"auditor, no domain", &auth.Principal{Subject: "u4", Roles: []string{"auditor"}}, auditRead},
		{"key scoped to projects:*", &auth.Principal{Subject: "key:k1", Roles: []string{"operator"},
			Permissions: []auth.Permission{{Resource: "projects", Action: "*"}}}, tasksWrite},
		{"nobody", nil, auditRead},
	} {
		fmt.Printf("%-26s %-15s %v\n", c.who, c.want, authz.Allowed(c.p, c.want))
	}
	// Output:
	// operator                   projects:write  true
	// viewer                     projects:write  false
	// alice (viewer)             audit:read      true
	// auditor of acme            audit:read      true
	// auditor, no domain         audit:read      false
	// key scoped to projects:*   tasks:write     false
	// nobody                     audit:read      false
}

// Behind a reverse proxy, the client is the right-most address of
// X-Forwarded-For that is not a trusted proxy; entries further left may
// have been written by the client and are ignored.
func ExampleClientIP() {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-Forwarded-For", "1.2.3.4, 203.0.113.7, 10.0.0.2")

	r.RemoteAddr = "10.0.0.1:41000" // a trusted proxy
	fmt.Println(auth.ClientIP(r, trusted))
	r.RemoteAddr = "198.51.100.9:41000" // not a proxy: the header is not read
	fmt.Println(auth.ClientIP(r, trusted))
	// Output:
	// 203.0.113.7
	// 198.51.100.9
}

// Rates are written events/period[:burst]; RateLimitConfig.Groups
// overrides them per route group and kind.
func ExampleParseRate() {
	for _, s := range []string{"20/1s:40", "5/1m", "10/m:10", "5 per minute"} {
		r, err := auth.ParseRate(s)
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Printf("%s: %d events per %s, bursts of %d\n", r, r.Events, r.Period, r.Burst)
	}
	// Output:
	// 20/1s:40: 20 events per 1s, bursts of 40
	// 5/1m:5: 5 events per 1m0s, bursts of 5
	// 10/1m:10: 10 events per 1m0s, bursts of 10
	// error: rate "5 per minute" has no /period: use events/period[:burst], such as 20/1s:40 or 5/1m
}
