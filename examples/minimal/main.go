// Command minimal is the smallest TaylorDash service a team would write:
// the core and the store, one migration, one route.
//
//	TAYLORDASH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres go run ./examples/minimal
//	curl localhost:8000/hello/ada
package main

import (
	"context"
	"embed"
	"fmt"
	"net/http"
	"os"

	"github.com/danielgtaylor/huma/v2"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

func main() {
	if err := dashcore.Run(context.Background(), modules()); err != nil {
		fmt.Fprintln(os.Stderr, "minimal:", err)
		os.Exit(1)
	}
}

func modules() fx.Option {
	return fx.Options(
		dashcore.Module,
		store.Module,
		store.AsMigrations("greetings", migrations),
		fx.Provide(dashcore.AsRoutes(newHelloRoutes)),
	)
}

type helloInput struct {
	Name string `path:"name" minLength:"1" maxLength:"64" pattern:"^[a-z]+$" doc:"Who to greet, in lower-case letters."`
}

type helloOutput struct {
	Body struct {
		Message string `json:"message" example:"Hello, ada!"`
		Visits  int64  `json:"visits" example:"1" doc:"How many times this name was greeted."`
	}
}

func newHelloRoutes(db *store.DB) dashcore.Routes {
	return dashcore.Routes{
		Name: "hello",
		Register: func(api huma.API) {
			huma.Register(api, huma.Operation{
				OperationID: "hello",
				Method:      http.MethodGet,
				Path:        "/hello/{name}",
				Summary:     "Greet someone and count the visits",
			}, func(ctx context.Context, in *helloInput) (*helloOutput, error) {
				out := &helloOutput{}
				err := db.QueryRow(ctx, `
					INSERT INTO greetings (name, visits) VALUES ($1, 1)
					ON CONFLICT (name) DO UPDATE SET visits = greetings.visits + 1
					RETURNING visits`, in.Name).Scan(&out.Body.Visits)
				if err != nil {
					return nil, store.MapError(err)
				}
				out.Body.Message = "Hello, " + in.Name + "!"
				return out, nil
			})
		},
	}
}
