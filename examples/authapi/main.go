// Command authapi puts the auth module in front of a team's own huma API:
// every operation declares the permission it needs, callers present an
// OIDC bearer token (Keycloak) or an API key, and a role-based policy
// decides. It needs no database: the policy is in memory and the notes
// too.
//
//	TAYLORDASH_API_KEY=$(openssl rand -hex 24) TAYLORDASH_AUTH_API_KEY_BOOTSTRAP_ROLES=editor go run ./examples/authapi
//	curl -i localhost:8000/api/v1/notes                          # 401
//	curl -H "X-API-Key: $TAYLORDASH_API_KEY" localhost:8000/api/v1/notes
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"

	"github.com/casbin/casbin/v2/persist"
	"github.com/danielgtaylor/huma/v2"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
)

func main() {
	if err := dashcore.Run(context.Background(), modules()); err != nil {
		fmt.Fprintln(os.Stderr, "authapi:", err)
		os.Exit(1)
	}
}

func modules() fx.Option {
	return fx.Options(
		dashcore.Module,
		// The guard: authenticates (API key; OIDC bearer tokens when
		// TAYLORDASH_AUTH_OIDC_ISSUER is set), rate-limits, and checks each
		// operation's permission against the policy.
		auth.Module,
		// The team's policy. Without one, auth.Module uses
		// auth.DefaultRules (the dashboard's); with authpg.Module it lives
		// in PostgreSQL and every instance follows its changes.
		fx.Provide(newPolicy),
		fx.Provide(dashcore.AsRoutes(newNoteRoutes)),
	)
}

// newPolicy is the team's roles: viewers read notes, editors also write
// them, admins may do anything (deleting included, which no other role
// is granted).
func newPolicy() persist.Adapter {
	return auth.NewMemoryAdapter(
		auth.PermissionRule("viewer", "*", "notes", "read"),
		auth.PermissionRule("editor", "*", "notes", "write"),
		auth.InheritRule("editor", "viewer"),
		auth.PermissionRule("admin", "*", "*", "*"),
	)
}

// Note is a note of the team's API.
type Note struct {
	ID     int    `json:"id" example:"1"`
	Text   string `json:"text" example:"Ship it on Friday"`
	Author string `json:"author" example:"ada" doc:"Who wrote it: the caller's name."`
}

type notesOutput struct {
	Body []Note
}

type createInput struct {
	Body struct {
		Text string `json:"text" minLength:"1" maxLength:"500" example:"Ship it on Friday"`
	}
}

type noteOutput struct {
	Body Note
}

type deleteInput struct {
	ID int `path:"id" minimum:"1"`
}

type whoamiOutput struct {
	Body *auth.Principal
}

// notes is the team's store, in memory.
type notes struct {
	mu    sync.Mutex
	items []Note
}

func newNoteRoutes() dashcore.Routes {
	n := &notes{}
	return dashcore.Routes{
		Name: "notes",
		Register: func(api huma.API) {
			// The permission is part of the operation: the guard checks it
			// before the handler runs, and the OpenAPI document shows it
			// (x-permission). An operation that declares nothing is refused
			// to everyone.
			huma.Register(api, auth.Require(huma.Operation{
				OperationID: "list-notes", Method: http.MethodGet, Path: "/api/v1/notes", Summary: "List the notes",
			}, "notes", "read"), func(context.Context, *struct{}) (*notesOutput, error) {
				n.mu.Lock()
				defer n.mu.Unlock()
				return &notesOutput{Body: slices.Clone(n.items)}, nil
			})
			huma.Register(api, auth.Require(huma.Operation{
				OperationID: "create-note", Method: http.MethodPost, Path: "/api/v1/notes", Summary: "Write a note",
				DefaultStatus: http.StatusCreated,
			}, "notes", "write"), func(ctx context.Context, in *createInput) (*noteOutput, error) {
				n.mu.Lock()
				defer n.mu.Unlock()
				note := Note{ID: len(n.items) + 1, Text: in.Body.Text, Author: auth.PrincipalFrom(ctx).Name}
				n.items = append(n.items, note)
				return &noteOutput{Body: note}, nil
			})
			huma.Register(api, auth.Require(huma.Operation{
				OperationID: "delete-note", Method: http.MethodDelete, Path: "/api/v1/notes/{id}", Summary: "Delete a note",
				DefaultStatus: http.StatusNoContent,
			}, "notes", "delete"), func(_ context.Context, in *deleteInput) (*struct{}, error) {
				n.mu.Lock()
				defer n.mu.Unlock()
				i := slices.IndexFunc(n.items, func(x Note) bool { return x.ID == in.ID })
				if i < 0 {
					return nil, dashcore.NewError(dashcore.ErrNotFound, "no note "+strconv.Itoa(in.ID), nil)
				}
				n.items = slices.Delete(n.items, i, i+1)
				return nil, nil
			})
			// Any authenticated caller: who am I, with which roles.
			huma.Register(api, auth.RequireAuthenticated(huma.Operation{
				OperationID: "whoami", Method: http.MethodGet, Path: "/api/v1/whoami", Summary: "The caller",
			}), func(ctx context.Context, _ *struct{}) (*whoamiOutput, error) {
				return &whoamiOutput{Body: auth.PrincipalFrom(ctx)}, nil
			})
		},
	}
}
