package auth_test

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/taylordash/taylordash/auth"
)

// Member is an answer whose email only callers allowed users:read see.
type Member struct {
	Username string `json:"username"`
	Email    string `json:"email,omitempty" permission:"users:read"`
}

// ExampleFieldFilter filters one answer for a viewer and for an admin,
// with the default policy. In an application the module does it for every
// response (FieldFilter.Transformer); Filter is the same outside huma.
func ExampleFieldFilter() {
	authz, err := auth.NewAuthorizer(auth.NewMemoryAdapter(auth.DefaultRules()...), auth.AuthorizerConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	f := auth.NewFieldFilter(authz, nil)
	team := []Member{{Username: "ann", Email: "ann@example.com"}, {Username: "bob"}}
	for _, role := range []string{"viewer", "admin"} {
		out, err := f.Filter(&auth.Principal{Subject: "u-1", Roles: []string{role}}, team)
		if err != nil {
			fmt.Println(err)
			return
		}
		b, _ := json.Marshal(out)
		fmt.Printf("%s: %s\n", role, b)
	}
	fmt.Println("the original keeps its email:", team[0].Email)
	// A field JSON would not omit is refused: removed, it would show as "".
	type leaky struct {
		Email string `json:"email" permission:"users:read"`
	}
	fmt.Println(f.Check(reflect.TypeFor[leaky]()) != nil)
	// Output:
	// viewer: [{"username":"ann"},{"username":"bob"}]
	// admin: [{"username":"ann","email":"ann@example.com"},{"username":"bob"}]
	// the original keeps its email: ann@example.com
	// true
}
