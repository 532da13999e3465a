package testkit

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
)

// TestApp is an application started for one test.
type TestApp struct {
	// URL is the base URL of its HTTP server ("" without dashcore).
	URL string
	// Client is an HTTP client for it, with a timeout.
	Client *http.Client
	// DB is the test database the app uses, if it reads
	// TAYLORDASH_DATABASE_URL (it includes store.Module).
	DB *Database
	// Broker is the test broker the app uses, if it reads
	// TAYLORDASH_MQTT_URL.
	Broker *Broker
	// App is the running fx application.
	App *fx.App
}

type testEnv struct{ vars map[string]string }

// Env sets configuration variables for an App, as an operator would with
// the environment (full names: "TAYLORDASH_HTTP_MAX_BODY_BYTES"). Use it
// instead of dashcore.WithEnv in App, and instead of t.Setenv, which
// forbids parallel tests.
func Env(vars map[string]string) fx.Option {
	return fx.Supply(testEnv{vars: vars})
}

type appEnvParams struct {
	fx.In
	Env        dashcore.Environment
	Targets    []dashcore.ConfigTarget `group:"dashcore.config"`
	Migrations []store.Migrations      `group:"store.migrations"`
	TestEnv    testEnv                 `optional:"true"`
}

// App builds and starts an application of opts for the test, wired to
// test services: the HTTP server on a free loopback port; if the
// application reads TAYLORDASH_DATABASE_URL, a fresh database (see
// Postgres) migrated with exactly the migrations its modules contribute;
// if it reads TAYLORDASH_MQTT_URL, the test broker (see MQTT) with the
// test's topic prefix, a client id of its own and a clean session. The app
// logs into the test log. Bad wiring or configuration fails the test with
// fx's error; the app is stopped when the test ends.
//
//	app := testkit.App(t, dashcore.Module, store.Module, projects.Module)
//	resp, err := app.Client.Get(app.URL + "/health/ready")
func App(tb testing.TB, opts ...fx.Option) *TestApp {
	tb.Helper()
	ta := &TestApp{Client: &http.Client{Timeout: 30 * time.Second}}
	log := testLogger(tb)
	var srv *dashcore.Server

	wiring := []fx.Option{
		fx.WithLogger(func() fxevent.Logger {
			l := &fxevent.SlogLogger{Logger: log.With(slog.String("component", "fx"))}
			l.UseLogLevel(slog.LevelDebug)
			return l
		}),
		// The test log, with the handler wrappers modules contribute
		// (observability's correlation and redaction, log sinks).
		fx.Decorate(func(p struct {
			fx.In
			Wrappers []dashcore.LogHandlerWrapper `group:"dashcore.log_wrappers"`
		}) *slog.Logger {
			return dashcore.WrapLogger(log, p.Wrappers)
		}),
		fx.Decorate(func(p appEnvParams) (dashcore.Environment, error) {
			declared := map[string]bool{}
			for _, t := range p.Targets {
				for _, v := range t.Vars() {
					declared[v.Name] = true
				}
			}
			over := map[string]string{"TAYLORDASH_HTTP_ADDR": "127.0.0.1:0"}
			if declared["TAYLORDASH_DATABASE_URL"] {
				db, err := postgres(tb, p.Migrations)
				if err != nil {
					return p.Env, err
				}
				ta.DB = db
				over["TAYLORDASH_DATABASE_URL"] = db.URL
			}
			if declared["TAYLORDASH_MQTT_URL"] {
				b, err := broker(tb)
				if err != nil {
					return p.Env, err
				}
				ta.Broker = b
				over["TAYLORDASH_MQTT_URL"] = b.URL
				if declared["TAYLORDASH_MQTT_TOPIC_PREFIX"] {
					over["TAYLORDASH_MQTT_TOPIC_PREFIX"] = b.Prefix
				}
				// A client id of the test's own (two apps with one id take
				// each other's session over), and a clean session, so that
				// the shared broker keeps no session once the test ends.
				if declared["TAYLORDASH_MQTT_CLIENT_ID"] {
					over["TAYLORDASH_MQTT_CLIENT_ID"] = "tdtest-" + strings.Trim(strings.ReplaceAll(b.Prefix, "/", "-"), "-")
				}
				if declared["TAYLORDASH_MQTT_CLEAN_SESSION"] {
					over["TAYLORDASH_MQTT_CLEAN_SESSION"] = "true"
				}
			}
			for k, v := range p.TestEnv.vars {
				over[k] = v
			}
			return p.Env.With(over), nil
		}),
		fx.Invoke(func(p struct {
			fx.In
			Server *dashcore.Server `optional:"true"`
		}) {
			srv = p.Server
		}),
	}
	app := fx.New(append(wiring, opts...)...)
	if err := app.Err(); err != nil {
		tb.Fatalf("testkit: build app: %v", unwrapConfig(err))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = app.Stop(stopCtx)
		tb.Fatalf("testkit: start app: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := app.Stop(ctx); err != nil {
			tb.Errorf("testkit: stop app: %v", err)
		}
	})
	ta.App = app
	if srv != nil {
		ta.URL = srv.URL()
	}
	return ta
}

func unwrapConfig(err error) error {
	var ce *dashcore.ConfigError
	if errors.As(err, &ce) {
		return ce
	}
	return err
}

// Readiness returns the status and the decoded body of GET /health/ready,
// failing the test if the request or the JSON fails.
func (a *TestApp) Readiness(tb testing.TB) (int, map[string]any) {
	tb.Helper()
	resp, err := a.Client.Get(a.URL + "/health/ready")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		tb.Fatalf("readiness body: %v", err)
	}
	return resp.StatusCode, body
}
