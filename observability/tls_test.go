package observability_test

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/observability"
	"github.com/taylordash/taylordash/testkit"
)

func TestConfigEndpoints(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT collector:4318 plaintext"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT collector:4318 TLS"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4318/v1/traces"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT traces:4318 plaintext"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_ENDPOINT collector:4317 plaintext"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, ""},
	} {
		cfg, err := observability.ConfigFromEnv(dashcore.NewEnvironment(tt.env), "svc", "")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range cfg.Endpoints() {
			got = append(got, e.Setting+" "+e.Address+" "+e.Transport.String())
		}
		if strings.Join(got, ", ") != tt.want {
			t.Errorf("%v: endpoints %q, want %q", tt.env, got, tt.want)
		}
	}
}

// The module checks the exporter's endpoint with the TLS policy: http://
// to another machine is warned about, and refused with
// TAYLORDASH_REQUIRE_TLS; https:// or loopback pass.
func TestModuleTLSPolicy(t *testing.T) {
	build := func(logs *testkit.LogCapture, env map[string]string) *fx.App {
		env["TAYLORDASH_HTTP_ADDR"] = "127.0.0.1:0"
		return fx.New(dashcore.Module, observability.Module, dashcore.WithEnv(env), fx.NopLogger,
			fx.Decorate(func() *slog.Logger { return logs.Logger() }))
	}
	const plaintext = "http://collector.example.com:4318"

	var logs testkit.LogCapture
	if err := build(&logs, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": plaintext}).Err(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"link":"OTLP exporter","address":"collector.example.com:4318","transport":"plaintext","setting":"OTEL_EXPORTER_OTLP_ENDPOINT"`) {
		t.Errorf("no warning about the plaintext exporter:\n%s", logs.String())
	}

	err := build(&testkit.LogCapture{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": plaintext, "TAYLORDASH_REQUIRE_TLS": "true"}).Err()
	var le *dashcore.InsecureLinkError
	if !errors.As(err, &le) {
		t.Fatalf("the app requiring TLS with a plaintext exporter: %v", err)
	}
	for _, want := range []string{"TAYLORDASH_REQUIRE_TLS", "OTEL_EXPORTER_OTLP_ENDPOINT", "collector.example.com:4318", "https://"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q: %v", want, err)
		}
	}

	for _, endpoint := range []string{"https://collector.example.com:4318", "http://127.0.0.1:4318", "http://localhost:4318"} {
		var quiet testkit.LogCapture
		if err := build(&quiet, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "TAYLORDASH_REQUIRE_TLS": "true"}).Err(); err != nil {
			t.Errorf("%s: %v", endpoint, err)
		}
		if strings.Contains(quiet.String(), "non-loopback") {
			t.Errorf("%s: a warning:\n%s", endpoint, quiet.String())
		}
	}
}
