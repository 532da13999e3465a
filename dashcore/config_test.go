package dashcore_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
)

// checkConfigError asserts that err holds a *dashcore.ConfigError whose
// message contains every fragment and none of fx's or dig's graph noise.
func checkConfigError(t *testing.T, err error, fragments ...string) *dashcore.ConfigError {
	t.Helper()
	var ce *dashcore.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v (%T), want a *dashcore.ConfigError", err, err)
	}
	msg := ce.Error()
	for _, f := range fragments {
		if !strings.Contains(msg, f) {
			t.Errorf("message does not contain %q:\n%s", f, msg)
		}
	}
	for _, noise := range []string{"could not build", "missing type", "failed to build", "dig", "fx.", "received non-nil error"} {
		if strings.Contains(msg, noise) {
			t.Errorf("message contains fx/dig noise %q:\n%s", noise, msg)
		}
	}
	return ce
}

func TestRunReturnsOneReadableConfigError(t *testing.T) {
	err := dashcore.Run(context.Background(), dashcore.Module, dashcore.WithEnv(map[string]string{
		"TAYLORDASH_HTTP_ADDR":          "nonsense",
		"TAYLORDASH_HTTP_DRAIN_TIMEOUT": "soon",
	}))
	if _, ok := err.(*dashcore.ConfigError); !ok {
		t.Fatalf("Run error is %T, want the *dashcore.ConfigError itself: %v", err, err)
	}
	ce := checkConfigError(t, err,
		`TAYLORDASH_HTTP_ADDR="nonsense": must be host:port`,
		`TAYLORDASH_HTTP_DRAIN_TIMEOUT="soon": expected a duration`,
	)
	if len(ce.Problems) != 2 {
		t.Errorf("%d problems, want 2:\n%v", len(ce.Problems), err)
	}
	if !strings.HasPrefix(err.Error(), "configuration: 2 problems:\n") {
		t.Errorf("message:\n%v", err)
	}
}

func TestUnknownVariableFailsTheApp(t *testing.T) {
	env := dashcore.NewEnvironment(map[string]string{
		"TAYLORDASH_HTTP_ADRR": "127.0.0.1:0",
		"TAYLORDASH_LOG_LEVEL": "loud",
	})
	app := fx.New(fx.NopLogger, dashcore.Module, fx.Decorate(func() dashcore.Environment { return env }))
	checkConfigError(t, app.Err(),
		"TAYLORDASH_HTTP_ADRR: unknown variable",
		"did you mean TAYLORDASH_HTTP_ADDR?",
		`TAYLORDASH_LOG_LEVEL="loud": expected debug, info, warn or error`,
	)

	allowed := dashcore.NewEnvironment(map[string]string{"TAYLORDASH_HTTP_ADRR": "x", "TAYLORDASH_ALLOW_UNKNOWN_ENV": "true", "TAYLORDASH_HTTP_ADDR": "127.0.0.1:0"})
	app = fx.New(fx.NopLogger, dashcore.Module, fx.Decorate(func() dashcore.Environment { return allowed }))
	if err := app.Err(); err != nil {
		t.Errorf("with TAYLORDASH_ALLOW_UNKNOWN_ENV=true: %v", err)
	}
}

func TestOneErrorAcrossModules(t *testing.T) {
	err := dashcore.Run(context.Background(), dashcore.Module, store.Module, dashcore.WithEnv(map[string]string{
		"TAYLORDASH_DATABASE_URL":       "postgres://app:hunter2@127.0.0.1:5432/app",
		"TAYLORDASH_DATABASE_MIN_CONNS": "30",
		"TAYLORDASH_DATABASE_MAX_CONNS": "10",
		"TAYLORDASH_HTTP_ADDR":          "nonsense",
	}))
	if _, ok := err.(*dashcore.ConfigError); !ok {
		t.Fatalf("Run error is %T, want the *dashcore.ConfigError itself: %v", err, err)
	}
	ce := checkConfigError(t, err, "TAYLORDASH_HTTP_ADDR", "TAYLORDASH_DATABASE_MAX_CONNS", "must be at least TAYLORDASH_DATABASE_MIN_CONNS (30)")
	if len(ce.Problems) != 2 || ce.Problems[0].Var != "TAYLORDASH_HTTP_ADDR" {
		t.Errorf("problems %v, want HTTP_ADDR then DATABASE_MAX_CONNS", ce.Problems)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the database password leaked:\n%v", err)
	}
}

func TestSecretURLIsRedacted(t *testing.T) {
	err := dashcore.Run(context.Background(), dashcore.Module, store.Module, dashcore.WithEnv(map[string]string{
		"TAYLORDASH_DATABASE_URL":  "postgres://app:hunter2@db.example.com:5432/app?connect_timeout=nope",
		"TAYLORDASH_HTTP_ADDR":     "127.0.0.1:0",
		"TAYLORDASH_LOG_LEVEL":     "error",
		"TAYLORDASH_START_TIMEOUT": "1s",
	}))
	ce := checkConfigError(t, err, "TAYLORDASH_DATABASE_URL", "db.example.com")
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the password leaked: %v", ce)
	}
}

func TestRunServesUntilContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- dashcore.Run(ctx, dashcore.Module,
			dashcore.WithEnv(map[string]string{"TAYLORDASH_HTTP_ADDR": "127.0.0.1:0", "TAYLORDASH_LOG_LEVEL": "error"}),
			fx.Invoke(func(lc fx.Lifecycle, srv *dashcore.Server) {
				lc.Append(fx.StartHook(func() { urls <- srv.URL() }))
			}),
		)
	}()
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatalf("Run returned before serving: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not start")
	}
	resp, err := http.Get(url + "/health/live")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /health/live: %v %v", resp, err)
	}
	resp.Body.Close()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v after ctx ended", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after ctx ended")
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "http://"), time.Second); err == nil {
		t.Error("the server still listens after Run returned")
	}
}

func TestRunReportsShutdownExitCode(t *testing.T) {
	err := dashcore.Run(context.Background(), dashcore.Module,
		dashcore.WithEnv(map[string]string{"TAYLORDASH_HTTP_ADDR": "127.0.0.1:0", "TAYLORDASH_LOG_LEVEL": "error"}),
		fx.Invoke(func(lc fx.Lifecycle, sd fx.Shutdowner) {
			lc.Append(fx.StartHook(func() error { return sd.Shutdown(fx.ExitCode(3)) }))
		}),
	)
	if err == nil || !strings.Contains(err.Error(), "exit code 3") {
		t.Errorf("Run = %v, want the exit code", err)
	}
}

func TestRunReportsStartFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = dashcore.Run(context.Background(), dashcore.Module,
		dashcore.WithEnv(map[string]string{"TAYLORDASH_HTTP_ADDR": ln.Addr().String(), "TAYLORDASH_LOG_LEVEL": "error"}))
	if err == nil || !strings.HasPrefix(err.Error(), "start: ") || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("Run = %v, want the start error naming the address", err)
	}
}

type widgetConfig struct {
	Size    int           `env:"WIDGET_SIZE"`
	Timeout time.Duration `env:"WIDGET_TIMEOUT"`
}

func (c widgetConfig) WithDefaults() widgetConfig {
	if c.Size == 0 {
		c.Size = 3
	}
	return c
}

func (c widgetConfig) Validate() error {
	if c.Size > 10 {
		return &dashcore.FieldError{Field: "Size", Problem: "must be at most 10"}
	}
	return nil
}

func TestProvideConfig(t *testing.T) {
	var got widgetConfig
	app := fx.New(fx.NopLogger, dashcore.Module, dashcore.ProvideConfig[widgetConfig](),
		dashcore.WithEnv(map[string]string{"TAYLORDASH_WIDGET_TIMEOUT": "2s", "TAYLORDASH_HTTP_ADDR": "127.0.0.1:0"}),
		fx.Populate(&got))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	if got.Size != 3 || got.Timeout != 2*time.Second {
		t.Errorf("widgetConfig = %+v, want defaults plus the variable", got)
	}

	// Its problems join dashcore's in one error.
	app = fx.New(fx.NopLogger, dashcore.Module, dashcore.ProvideConfig[widgetConfig](),
		dashcore.WithEnv(map[string]string{"TAYLORDASH_WIDGET_SIZE": "11", "TAYLORDASH_HTTP_ADDR": "bad"}),
		fx.Populate(&got))
	checkConfigError(t, app.Err(), `TAYLORDASH_WIDGET_SIZE="11": must be at most 10`, `TAYLORDASH_HTTP_ADDR="bad"`)

	// Its variables are known: no unknown-variable error for them.
	env := dashcore.NewEnvironment(map[string]string{"TAYLORDASH_WIDGET_SIZE": "5", "TAYLORDASH_HTTP_ADDR": "127.0.0.1:0"})
	app = fx.New(fx.NopLogger, dashcore.Module, dashcore.ProvideConfig[widgetConfig](),
		fx.Decorate(func() dashcore.Environment { return env }), fx.Populate(&got))
	if err := app.Err(); err != nil || got.Size != 5 {
		t.Errorf("app.Err() = %v, size %d", err, got.Size)
	}
}

func TestProvideConfigWithoutModule(t *testing.T) {
	var got widgetConfig
	app := fx.New(fx.NopLogger, dashcore.ProvideConfig[widgetConfig](),
		fx.Supply(dashcore.Environment{}.With(map[string]string{"TAYLORDASH_WIDGET_SIZE": "7"})),
		fx.Populate(&got))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	if got.Size != 7 {
		t.Errorf("Size = %d, want 7 from the supplied environment", got.Size)
	}

	t.Setenv("TAYLORDASH_WIDGET_SIZE", "8")
	app = fx.New(fx.NopLogger, dashcore.ProvideConfig[widgetConfig](), fx.Populate(&got))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	if got.Size != 8 {
		t.Errorf("Size = %d, want 8 from the process environment", got.Size)
	}
}

func TestConfigTargetVars(t *testing.T) {
	var targets []dashcore.ConfigTarget
	app := fx.New(fx.NopLogger, dashcore.Module, dashcore.ProvideConfig[widgetConfig](),
		dashcore.WithEnv(map[string]string{"TAYLORDASH_HTTP_ADDR": "127.0.0.1:0"}),
		fx.Invoke(fx.Annotate(func(ts []dashcore.ConfigTarget) { targets = ts }, fx.ParamTags(`group:"`+dashcore.ConfigGroup+`"`))))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, tg := range targets {
		for _, v := range tg.Vars() {
			names[v.Name] = true
		}
	}
	for _, want := range []string{"TAYLORDASH_HTTP_ADDR", "TAYLORDASH_WIDGET_SIZE", "TAYLORDASH_LOG_LEVEL"} {
		if !names[want] {
			t.Errorf("ConfigTarget.Vars misses %s", want)
		}
	}
}

func TestZeroStartTimeoutIsAConfigError(t *testing.T) {
	err := dashcore.Run(context.Background(), dashcore.Module, dashcore.WithEnv(map[string]string{
		"TAYLORDASH_HTTP_ADDR":     "127.0.0.1:0",
		"TAYLORDASH_START_TIMEOUT": "0s",
	}))
	checkConfigError(t, err, `TAYLORDASH_START_TIMEOUT="0s": must be positive`)
}
