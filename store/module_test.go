package store_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

func TestModuleValidates(t *testing.T) {
	t.Run("alone", func(t *testing.T) {
		// Without dashcore, the config comes from the process environment.
		if err := fx.ValidateApp(store.Module, fx.Invoke(func(*store.DB) {}), fx.NopLogger); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("with dashcore", func(t *testing.T) {
		err := fx.ValidateApp(dashcore.Module, store.Module,
			store.AsMigrations("widgets", widgetsFS()),
			fx.Invoke(func(*store.DB) {}), fx.NopLogger)
		if err != nil {
			t.Fatal(err)
		}
	})
}

func widgetsFS() fstest.MapFS {
	return sqlFiles("0001_widgets.sql", "CREATE TABLE widgets (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL);")
}

func TestModuleStartsMigratedAndReady(t *testing.T) {
	var db *store.DB
	app := testkit.App(t, dashcore.Module, store.Module,
		store.AsMigrations("widgets", widgetsFS()),
		// orders depends on widgets: its table references theirs.
		store.AsMigrations("orders", sqlFiles("0001_orders.sql", "CREATE TABLE orders (id int PRIMARY KEY, widget_id bigint NOT NULL REFERENCES widgets(id));"), "widgets"),
		fx.Populate(&db),
	)
	status, body := app.Readiness(t)
	if status != http.StatusOK || body["database"] != "healthy" {
		t.Fatalf("GET /health/ready = %d %v, want 200 with \"database\":\"healthy\"", status, body)
	}
	for _, table := range []string{"widgets", "orders"} {
		if !tableExists(t, app.DB.DB, table) {
			t.Errorf("table %s does not exist in the app's database", table)
		}
	}
	if got := recorded(t, app.DB.DB); !slices.Equal(got, []string{"widgets/0001_widgets.sql", "orders/0001_orders.sql"}) {
		t.Errorf("%s lists %v", store.MigrationsTable, got)
	}
	// The module's *DB is connected to the test database.
	if got := scalar[string](t, db, "SELECT current_database()"); got != app.DB.Name {
		t.Errorf("the module's pool is connected to %q, want %q", got, app.DB.Name)
	}
	ctx := testContext(t)
	if _, err := db.Exec(ctx, "INSERT INTO widgets (name) VALUES ('first')"); err != nil {
		t.Fatal(err)
	}

	// The readiness check follows the pool: closed, the service is not ready.
	db.Close()
	status, body = app.Readiness(t)
	if status != http.StatusServiceUnavailable || body["database"] != "unhealthy" {
		t.Fatalf("with the pool closed, GET /health/ready = %d %v, want 503 with \"database\":\"unhealthy\"", status, body)
	}
}

// quietApp is the fx wiring of a test app built without testkit.App:
// fx's events dropped, the application's log into the test log.
func quietApp(t *testing.T) fx.Option {
	return fx.Options(
		fx.WithLogger(func() fxevent.Logger { return fxevent.NopLogger }),
		fx.Decorate(func() *slog.Logger { return testkit.NewLogger(t) }),
	)
}

// withAppName returns dbURL with an application_name, so that the test
// can find the app's connections in pg_stat_activity.
func withAppName(t *testing.T, dbURL, name string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestModuleStartFailsOnChangedMigration(t *testing.T) {
	ctx := testContext(t)
	tdb := emptyDatabase(t)
	fsys := widgetsFS()
	if _, err := store.Migrate(ctx, tdb.DB, store.Migrations{Namespace: "widgets", FS: fsys}); err != nil {
		t.Fatal(err)
	}
	fsys["0001_widgets.sql"].Data = []byte("CREATE TABLE widgets (id bigint PRIMARY KEY, name text NOT NULL, color text);")
	fsys["0002_more.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE more_widgets (id int);")}

	const appName = "store_changed_migration_test"
	app := fx.New(dashcore.Module, store.Module,
		store.AsMigrations("widgets", fsys),
		dashcore.WithEnv(map[string]string{
			"TAYLORDASH_DATABASE_URL": withAppName(t, tdb.URL, appName),
			"TAYLORDASH_HTTP_ADDR":    "127.0.0.1:0",
		}),
		quietApp(t),
	)
	if err := app.Err(); err != nil {
		t.Fatalf("build app: %v", err)
	}
	err := app.Start(ctx)
	if err == nil {
		_ = app.Stop(ctx)
		t.Fatal("the app started with an edited applied migration")
	}
	var changed *store.ChangedMigrationError
	if !errors.As(err, &changed) {
		t.Fatalf("start error is not a *store.ChangedMigrationError: %v", err)
	}
	for _, want := range []string{"widgets/0001_widgets.sql", "add-only"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("start error does not say %q: %v", want, err)
		}
	}
	if tableExists(t, tdb.DB, "more_widgets") {
		t.Error("the new file was applied although start-up failed")
	}
	// A failed start leaves no connection of the app's pool behind.
	waitFor(t, "the failed app's connections are closed", func() bool {
		return scalar[int](t, tdb.DB, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", appName) == 0
	})
}

func TestModuleStartFailsWhenDatabaseIsUnreachable(t *testing.T) {
	app := fx.New(dashcore.Module, store.Module,
		dashcore.WithEnv(map[string]string{
			"TAYLORDASH_DATABASE_URL":             "postgres://app:pw@" + closedPort(t) + "/app?sslmode=disable",
			"TAYLORDASH_DATABASE_STARTUP_TIMEOUT": "300ms",
			"TAYLORDASH_HTTP_ADDR":                "127.0.0.1:0",
		}),
		quietApp(t),
	)
	if err := app.Err(); err != nil {
		t.Fatalf("build app: %v", err)
	}
	ctx := testContext(t)
	err := app.Start(ctx)
	if err == nil {
		_ = app.Stop(ctx)
		t.Fatal("the app started without a database")
	}
	if !strings.Contains(err.Error(), "TAYLORDASH_DATABASE_URL") {
		t.Errorf("start error does not point at TAYLORDASH_DATABASE_URL: %v", err)
	}
}

func TestModuleAloneReadsProcessEnvironment(t *testing.T) {
	tdb := emptyDatabase(t)
	t.Setenv("TAYLORDASH_DATABASE_URL", tdb.URL)
	t.Setenv("TAYLORDASH_DATABASE_MIN_CONNS", "1")
	t.Setenv("TAYLORDASH_DATABASE_MAX_CONNS", "3")
	var db *store.DB
	app := fx.New(store.Module, store.AsMigrations("widgets", widgetsFS()), fx.Populate(&db), quietApp(t))
	ctx := testContext(t)
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := db.Config().MaxConns; got != 3 {
		t.Errorf("MaxConns = %d, want 3 from TAYLORDASH_DATABASE_MAX_CONNS", got)
	}
	if !tableExists(t, db, "widgets") {
		t.Error("the module did not migrate at start")
	}
	if err := app.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Check(ctx); err == nil {
		t.Error("the pool still answers after the app stopped")
	}
}

func TestModuleSkipMigrations(t *testing.T) {
	tdb := emptyDatabase(t)
	app := fx.New(dashcore.Module, store.Module, store.AsMigrations("widgets", widgetsFS()),
		dashcore.WithEnv(map[string]string{
			"TAYLORDASH_DATABASE_URL":             tdb.URL,
			"TAYLORDASH_DATABASE_SKIP_MIGRATIONS": "true",
			"TAYLORDASH_HTTP_ADDR":                "127.0.0.1:0",
		}),
		quietApp(t),
	)
	ctx, cancel := context.WithTimeout(testContext(t), 30*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer app.Stop(ctx) //nolint:errcheck // the test is over
	if tableExists(t, tdb.DB, "widgets") || tableExists(t, tdb.DB, store.MigrationsTable) {
		t.Error("the module migrated despite TAYLORDASH_DATABASE_SKIP_MIGRATIONS")
	}
}
