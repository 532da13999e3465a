package observability_test

import (
	"context"
	"strings"
	"testing"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/observability"
)

func TestConfigFromEnvDefaults(t *testing.T) {
	cfg, err := observability.ConfigFromEnv(dashcore.NewEnvironment(nil), "svc", "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ServiceName != "svc" || cfg.ServiceVersion != "1.2.3" || cfg.TracesExporter != "none" ||
		cfg.Protocol != "http/protobuf" || cfg.Sampler != "parentbased_always_on" || cfg.SamplerArg != 1 || cfg.InstanceID == "" || cfg.Disabled {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestConfigFromEnv(t *testing.T) {
	cfg, err := observability.ConfigFromEnv(dashcore.NewEnvironment(map[string]string{
		"OTEL_SERVICE_NAME":           "api",
		"OTEL_RESOURCE_ATTRIBUTES":    "deployment.environment=prod, team=i%20o%20t,service.instance.id=node-1",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
		"OTEL_EXPORTER_OTLP_HEADERS":  "authorization=Bearer%20xyz,x-tenant=a",
		"OTEL_TRACES_SAMPLER":         "parentbased_traceidratio",
		"OTEL_TRACES_SAMPLER_ARG":     "0.25",
	}), "svc", "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ServiceName != "api" || cfg.TracesExporter != "otlp" || cfg.Protocol != "grpc" || cfg.Sampler != "parentbased_traceidratio" ||
		cfg.SamplerArg != 0.25 || cfg.InstanceID != "node-1" || cfg.ResourceAttributes["team"] != "i o t" ||
		cfg.Headers["authorization"] != "Bearer xyz" || cfg.Headers["x-tenant"] != "a" {
		t.Errorf("config: %+v", cfg)
	}
	// The OTLP exporter is built without contacting the collector.
	p, err := observability.New(context.Background(), cfg, observability.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Logf("shutdown with no collector: %v", err) // the flush may fail; it must not hang
	}
}

func TestConfigServiceNameFromResource(t *testing.T) {
	cfg, err := observability.ConfigFromEnv(dashcore.NewEnvironment(map[string]string{
		"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs,service.version=9",
	}), "svc", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ServiceName != "from-attrs" || cfg.ServiceVersion != "9" {
		t.Errorf("name %q version %q, want from-attrs 9", cfg.ServiceName, cfg.ServiceVersion)
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	tests := map[string]struct {
		vars map[string]string
		want []string
	}{
		"disabled":        {map[string]string{"OTEL_SDK_DISABLED": "maybe"}, []string{"OTEL_SDK_DISABLED", "true or false"}},
		"attrs":           {map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "novalue"}, []string{"OTEL_RESOURCE_ATTRIBUTES", "key=value"}},
		"exporter":        {map[string]string{"OTEL_TRACES_EXPORTER": "jaeger"}, []string{"OTEL_TRACES_EXPORTER", "otlp or none"}},
		"otlp only":       {map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"}},
		"protocol":        {map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc or http/protobuf"}},
		"endpoint":        {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http(s)://"}},
		"traces endpoint": {map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "::"}, []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"}},
		"headers":         {map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "a=%zz"}, []string{"OTEL_EXPORTER_OTLP_HEADERS"}},
		"sampler":         {map[string]string{"OTEL_TRACES_SAMPLER": "sometimes"}, []string{"OTEL_TRACES_SAMPLER", "parentbased_always_on"}},
		"arg":             {map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"}, []string{"OTEL_TRACES_SAMPLER_ARG", "0 to 1"}},
		"arg range":       {map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, []string{"OTEL_TRACES_SAMPLER_ARG", "0 to 1"}},
		"several": {map[string]string{"OTEL_TRACES_SAMPLER": "x", "OTEL_EXPORTER_OTLP_PROTOCOL": "y"},
			[]string{"OTEL_TRACES_SAMPLER", "OTEL_EXPORTER_OTLP_PROTOCOL"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := observability.ConfigFromEnv(dashcore.NewEnvironment(tt.vars), "svc", "")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestMetricsConfig(t *testing.T) {
	if err := (observability.MetricsConfig{}).WithDefaults().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	err := dashcore.LoadConfig(dashcore.NewEnvironment(map[string]string{
		"TAYLORDASH_METRICS_PATH":            "metrics",
		"TAYLORDASH_METRICS_BASIC_AUTH_USER": "prom",
	}), ptr(observability.MetricsConfig{}.WithDefaults()))
	if err == nil || !strings.Contains(err.Error(), "TAYLORDASH_METRICS_PATH") || !strings.Contains(err.Error(), "TAYLORDASH_METRICS_BASIC_AUTH_PASSWORD") {
		t.Errorf("LoadConfig error = %v, want both variables named", err)
	}
}

func ptr[T any](v T) *T { return &v }
