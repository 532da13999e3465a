package dashcore_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/internal/testcerts"
	"github.com/taylordash/taylordash/testkit"
)

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:5432":        true,
		"127.8.9.10":            true,
		"[::1]:8883":            true,
		"::1":                   true,
		"localhost:1883":        true,
		"LOCALHOST.":            true,
		"db.localhost:5432":     true,
		"/var/run/postgresql":   true,
		"@abstract":             true,
		"10.0.0.5:5432":         false,
		"db.example.com:5432":   false,
		"localhost.example.com": false,
		":8000":                 false,
		"0.0.0.0:8000":          false,
		"[::]:8000":             false,
		"":                      false,
		"[fe80::1%eth0]:80":     false,
		"192.168.1.1":           false,
	} {
		if got := dashcore.IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// The policy warns about plaintext and unverified links leaving the
// machine, says nothing about loopback or verified ones, and, requiring
// TLS, refuses the same links with an error naming the setting and the
// address.
func TestTLSPolicy(t *testing.T) {
	endpoints := []dashcore.Endpoint{
		{Name: "database", Setting: "TAYLORDASH_DATABASE_URL", Address: "db.example.com:5432", Transport: dashcore.Plaintext, Fix: "use sslmode=verify-full"},
		{Name: "MQTT broker", Setting: "TAYLORDASH_MQTT_URL", Address: "broker.example.com:8883", Transport: dashcore.TLSUnverified},
		{Name: "local database", Setting: "TAYLORDASH_DATABASE_URL", Address: "127.0.0.1:5432", Transport: dashcore.Plaintext},
		{Name: "socket", Setting: "TAYLORDASH_DATABASE_URL", Address: "/run/postgresql", Transport: dashcore.Plaintext},
		{Name: "verified", Setting: "OTEL_EXPORTER_OTLP_ENDPOINT", Address: "collector:4318", Transport: dashcore.TLSVerified},
	}

	var logs testkit.LogCapture
	if err := dashcore.NewTLSPolicy(false, logs.Logger()).Check(endpoints...); err != nil {
		t.Fatalf("a warning policy returned %v", err)
	}
	var warned []string
	for _, r := range logs.Records(t) {
		if r["level"] != "WARN" {
			t.Errorf("record at %v: %v", r["level"], r)
		}
		warned = append(warned, r["link"].(string)+" "+r["address"].(string)+" "+r["transport"].(string)+" "+r["setting"].(string))
	}
	want := []string{
		"database db.example.com:5432 plaintext TAYLORDASH_DATABASE_URL",
		"MQTT broker broker.example.com:8883 unverified TLS TAYLORDASH_MQTT_URL",
	}
	if strings.Join(warned, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(warned, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(logs.String(), "plaintext link to a non-loopback address") || !strings.Contains(logs.String(), `"fix":"use sslmode=verify-full"`) {
		t.Errorf("the warning does not say what is wrong and how to fix it: %s", logs.String())
	}

	var quiet testkit.LogCapture
	err := dashcore.NewTLSPolicy(true, quiet.Logger()).Check(endpoints...)
	var le *dashcore.InsecureLinkError
	if !errors.As(err, &le) || len(le.Endpoints) != 2 {
		t.Fatalf("a policy requiring TLS returned %v", err)
	}
	for _, s := range []string{"TAYLORDASH_REQUIRE_TLS", "TAYLORDASH_DATABASE_URL", "db.example.com:5432", "plaintext", "use sslmode=verify-full", "TAYLORDASH_MQTT_URL", "broker.example.com:8883", "unverified TLS"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the refusal does not say %q: %v", s, err)
		}
	}
	if quiet.String() != "" {
		t.Errorf("a refusing policy logged: %s", quiet.String())
	}

	var none *dashcore.TLSPolicy
	if err := none.Check(endpoints...); err != nil || none.RequireTLS() {
		t.Errorf("a nil policy: %v", err)
	}
}

// The HTTP listener: on every interface without TLS it is warned about,
// and refused with TAYLORDASH_REQUIRE_TLS; with a certificate, or on
// loopback, it starts.
func TestHTTPListenerTLSPolicy(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "test CA")
	certFile, keyFile := ca.Issue(t).WriteFiles(t, dir, "server")

	build := func(logs *testkit.LogCapture, env map[string]string) *fx.App {
		env["TAYLORDASH_LOG_LEVEL"] = "error"
		return dashcore.New(dashcore.Module, dashcore.WithEnv(env),
			fx.Decorate(func() *slog.Logger { return logs.Logger() }))
	}
	startStop := func(t *testing.T, app *fx.App) {
		t.Helper()
		if err := app.Err(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := app.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := app.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}

	var logs testkit.LogCapture
	startStop(t, build(&logs, map[string]string{"TAYLORDASH_HTTP_ADDR": "0.0.0.0:0"}))
	if !strings.Contains(logs.String(), `"link":"HTTP listener","address":"0.0.0.0:0","transport":"plaintext","setting":"TAYLORDASH_HTTP_ADDR"`) {
		t.Errorf("no warning about the plaintext listener: %s", logs.String())
	}

	var refused testkit.LogCapture
	app := build(&refused, map[string]string{"TAYLORDASH_HTTP_ADDR": "0.0.0.0:0", "TAYLORDASH_REQUIRE_TLS": "true"})
	err := app.Err()
	var le *dashcore.InsecureLinkError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "TAYLORDASH_REQUIRE_TLS is true, but the HTTP listener (TAYLORDASH_HTTP_ADDR) at 0.0.0.0:0 uses plaintext") {
		t.Fatalf("the app with a plaintext listener requiring TLS: %v", err)
	}
	// Run returns the refusal itself, without fx's wrapping.
	runErr := dashcore.Run(context.Background(), dashcore.Module, dashcore.WithEnv(map[string]string{
		"TAYLORDASH_HTTP_ADDR": "0.0.0.0:0", "TAYLORDASH_REQUIRE_TLS": "true", "TAYLORDASH_LOG_LEVEL": "error",
	}))
	if !errors.As(runErr, &le) || !strings.HasPrefix(runErr.Error(), "TAYLORDASH_REQUIRE_TLS is true") {
		t.Errorf("Run = %v, want the refusal itself", runErr)
	}

	var ok testkit.LogCapture
	startStop(t, build(&ok, map[string]string{
		"TAYLORDASH_HTTP_ADDR": "0.0.0.0:0", "TAYLORDASH_REQUIRE_TLS": "true",
		"TAYLORDASH_HTTP_TLS_CERT_FILE": certFile, "TAYLORDASH_HTTP_TLS_KEY_FILE": keyFile,
	}))
	startStop(t, build(&ok, map[string]string{"TAYLORDASH_HTTP_ADDR": "127.0.0.1:0", "TAYLORDASH_REQUIRE_TLS": "true"}))
	if strings.Contains(ok.String(), "non-loopback") {
		t.Errorf("a warning for a TLS or loopback listener: %s", ok.String())
	}
}
