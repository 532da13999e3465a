package testkit

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
)

func TestAppWithoutStore(t *testing.T) {
	app := App(t, dashcore.Module)
	if app.DB != nil || app.Broker != nil {
		t.Fatalf("provisioned services the app does not read: db=%v broker=%v", app.DB, app.Broker)
	}
	resp, err := app.Client.Get(app.URL + "/health/live")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("live: %d", resp.StatusCode)
	}
}

// TestAppWithStore: the app's own migrations (from the group) are in the
// test database, and its pool reaches the same database as app.DB.
func TestAppWithStore(t *testing.T) {
	app := App(t, dashcore.Module, store.Module,
		store.AsMigrations(widgets.Namespace, widgets.FS),
		fx.Provide(dashcore.AsRoutes(func(db *store.DB) dashcore.Routes {
			return dashcore.Routes{Name: "widgets", Register: func(api huma.API) {
				huma.Register(api, huma.Operation{OperationID: "count", Method: http.MethodGet, Path: "/widgets/count"},
					func(ctx context.Context, _ *struct{}) (*struct{ Body int }, error) {
						var n int
						err := db.QueryRow(ctx, "SELECT count(*) FROM widgets").Scan(&n)
						return &struct{ Body int }{n}, err
					})
			}}
		})),
	)
	if app.DB == nil {
		t.Fatal("no database provisioned for an app with store.Module")
	}
	if _, err := app.DB.DB.Exec(t.Context(), "INSERT INTO widgets (kind_id, name) VALUES (1, 'a'), (1, 'b')"); err != nil {
		t.Fatal(err)
	}
	resp, err := app.Client.Get(app.URL + "/widgets/count")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(body)) != "2" {
		t.Fatalf("count through the app: %d %s", resp.StatusCode, body)
	}
}

type brokerConfig struct {
	URL    string `env:"MQTT_URL"`
	Prefix string `env:"MQTT_TOPIC_PREFIX"`
}

// TestAppProvidesBrokerAndEnv: a module that reads TAYLORDASH_MQTT_URL
// gets the test broker and prefix; Env sets other variables.
func TestAppProvidesBrokerAndEnv(t *testing.T) {
	var got brokerConfig
	var core dashcore.Config
	app := App(t, dashcore.Module, dashcore.ProvideConfig[brokerConfig](),
		Env(map[string]string{"TAYLORDASH_SERVICE_NAME": "probe"}),
		fx.Populate(&got, &core))
	if app.Broker == nil || got.URL != app.Broker.URL || got.Prefix != app.Broker.Prefix {
		t.Fatalf("broker %+v, config %+v", app.Broker, got)
	}
	if core.ServiceName != "probe" {
		t.Fatalf("service name %q", core.ServiceName)
	}
}

// TestAppFailsWithFxError: bad wiring fails the test with fx's error.
func TestAppFailsWithFxError(t *testing.T) {
	ft := &fatalTB{fakeTB: fakeTB{TB: t, name: "wiring"}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		App(ft, dashcore.Module, fx.Invoke(func(*store.DB) {}))
	}()
	<-done
	ft.runCleanups()
	if !strings.Contains(ft.fatal, "missing type: *store.DB") {
		t.Fatalf("fatal message %q", ft.fatal)
	}
}

// TestAppFailsWithConfigError: a bad variable fails with the readable list.
func TestAppFailsWithConfigError(t *testing.T) {
	ft := &fatalTB{fakeTB: fakeTB{TB: t, name: "config"}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		App(ft, dashcore.Module, Env(map[string]string{"TAYLORDASH_HTTP_DRAIN_TIMEOUT": "soon"}))
	}()
	<-done
	ft.runCleanups()
	if !strings.Contains(ft.fatal, `TAYLORDASH_HTTP_DRAIN_TIMEOUT="soon": expected a duration`) || strings.Contains(ft.fatal, "could not build") {
		t.Fatalf("fatal message %q", ft.fatal)
	}
}

type fatalTB struct {
	fakeTB
	fatal string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fatalTB) Fatal(args ...any) {
	f.fatal = fmt.Sprint(args...)
	runtime.Goexit()
}
