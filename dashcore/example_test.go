package dashcore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
)

type helloOutput struct {
	Body struct {
		Message string `json:"message" doc:"The greeting."`
	}
}

// newHelloRoutes is what a feature module provides: its operations,
// registered on the application's API.
func newHelloRoutes() dashcore.Routes {
	return dashcore.Routes{
		Name: "hello",
		Register: func(api huma.API) {
			huma.Register(api, huma.Operation{
				OperationID: "get-hello",
				Method:      http.MethodGet,
				Path:        "/api/v1/hello/{name}",
				Summary:     "Greet someone",
			}, func(_ context.Context, in *struct {
				Name string `path:"name" maxLength:"20"`
			}) (*helloOutput, error) {
				if in.Name == "nobody" {
					return nil, dashcore.NewError(dashcore.ErrNotFound, "nobody is not here", nil)
				}
				out := &helloOutput{}
				out.Body.Message = "Hello, " + in.Name + "!"
				return out, nil
			})
		},
	}
}

// Compose an application from dashcore.Module and a contributed route,
// start it, call the route, and stop it.
func Example_composeApp() {
	var srv *dashcore.Server
	app := dashcore.New(
		dashcore.Module,
		fx.Provide(dashcore.AsRoutes(newHelloRoutes)),
		dashcore.WithEnv(map[string]string{
			"TAYLORDASH_HTTP_ADDR": "127.0.0.1:0", // a free port
			"TAYLORDASH_LOG_LEVEL": "error",
		}),
		fx.Populate(&srv),
	)
	if err := app.Err(); err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer app.Stop(ctx)

	for _, name := range []string{"world", "nobody"} {
		resp, err := http.Get(srv.URL() + "/api/v1/hello/" + name)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			// Error bodies carry a random request id; show the rest.
			fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"))
			continue
		}
		fmt.Print(resp.StatusCode, " ", string(body))
	}
	// Output:
	// 200 {"message":"Hello, world!"}
	// 404 application/problem+json
}

// LoadConfig reports every bad variable at once, each with the form it
// expects, and suggests the name an unknown variable was probably meant
// to be.
func ExampleLoadConfig() {
	env := dashcore.NewEnvironment(map[string]string{
		"TAYLORDASH_HTTP_ADDR":          "8000",
		"TAYLORDASH_HTTP_DRAIN_TIMEOUT": "soon",
		"TAYLORDASH_LOG_LEVEL":          "loud",
		"TAYLORDASH_HTTP_MAX_BODY_BYTE": "2048",
	})
	cfg := dashcore.DefaultConfig()
	err := dashcore.LoadConfig(env, &cfg)
	fmt.Println(err)

	var ce *dashcore.ConfigError
	if errors.As(err, &ce) {
		fmt.Println(len(ce.Problems), "problems, the first about", ce.Problems[0].Var)
	}
	// Output:
	// configuration: 4 problems:
	//   TAYLORDASH_LOG_LEVEL="loud": expected debug, info, warn or error
	//   TAYLORDASH_HTTP_DRAIN_TIMEOUT="soon": expected a duration such as 500ms, 10s or 1m30s
	//   TAYLORDASH_HTTP_ADDR="8000": must be host:port, such as 127.0.0.1:8000 or :8000 (address 8000: missing port in address)
	//   TAYLORDASH_HTTP_MAX_BODY_BYTE: unknown variable: no module of this application reads it; did you mean TAYLORDASH_HTTP_MAX_BODY_BYTES? (set TAYLORDASH_ALLOW_UNKNOWN_ENV=true to allow)
	// 4 problems, the first about TAYLORDASH_LOG_LEVEL
}

// A feature module contributes a readiness check; GET /health/ready runs
// it with the others.
func ExampleAsHealthCheck() {
	newCacheCheck := func() dashcore.HealthCheck {
		return dashcore.HealthCheck{
			Name:     "cache",
			Optional: true, // a cold cache slows the service but does not stop it
			Check:    func(ctx context.Context) error { return nil },
		}
	}
	opt := fx.Provide(dashcore.AsHealthCheck(newCacheCheck))
	fmt.Println(fx.ValidateApp(dashcore.Module, opt, fx.Invoke(func(*dashcore.Server) {})))
	// Output:
	// <nil>
}

// HTTPError maps domain errors to problem responses: a wrapped kind keeps
// its status; anything else is a 500 whose cause is logged, never shown.
func ExampleHTTPError() {
	for _, err := range []error{
		fmt.Errorf("project 7: %w", dashcore.ErrNotFound),
		dashcore.NewError(dashcore.ErrConflict, "a project with this name exists", errors.New("pq: duplicate key")),
		errors.New("connection refused"),
	} {
		var se huma.StatusError
		errors.As(dashcore.HTTPError(err), &se)
		fmt.Println(se.GetStatus())
	}
	// Output:
	// 404
	// 409
	// 500
}
