package observability

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/taylordash/taylordash/dashcore"
)

// Exporter and protocol values of [Config].
const (
	// ExporterOTLP sends spans to an OTLP endpoint.
	ExporterOTLP = "otlp"
	// ExporterNone sends spans nowhere: they are still created and
	// sampled, so that trace ids correlate logs and events.
	ExporterNone = "none"
	// ProtocolGRPC is OTLP over gRPC (port 4317 by convention).
	ProtocolGRPC = "grpc"
	// ProtocolHTTP is OTLP over HTTP with protobuf bodies (port 4318).
	ProtocolHTTP = "http/protobuf"
)

// Samplers understood by [Config].Sampler, as in OTEL_TRACES_SAMPLER.
const (
	SamplerAlwaysOn                = "always_on"
	SamplerAlwaysOff               = "always_off"
	SamplerTraceIDRatio            = "traceidratio"
	SamplerParentBasedAlwaysOn     = "parentbased_always_on"
	SamplerParentBasedAlwaysOff    = "parentbased_always_off"
	SamplerParentBasedTraceIDRatio = "parentbased_traceidratio"
)

// Config configures the tracer and meter providers. It is read from the
// standard OTEL_* variables by [ConfigFromEnv]; build one by hand for
// [New] without the environment. Each field names the variable it comes
// from.
type Config struct {
	// Disabled turns the SDK off (OTEL_SDK_DISABLED): no-op tracer and
	// meter providers; /metrics keeps the Go, process and pool collectors.
	Disabled bool
	// ServiceName is the service.name resource attribute
	// (OTEL_SERVICE_NAME, else service.name in OTEL_RESOURCE_ATTRIBUTES,
	// else dashcore's TAYLORDASH_SERVICE_NAME).
	ServiceName string
	// ServiceVersion is service.version (dashcore.Info.Version if supplied).
	ServiceVersion string
	// InstanceID is service.instance.id; default hostname-pid, or a UUID.
	InstanceID string
	// ResourceAttributes are extra resource attributes
	// (OTEL_RESOURCE_ATTRIBUTES, key=value pairs separated by commas).
	ResourceAttributes map[string]string
	// TracesExporter is "otlp" or "none" (OTEL_TRACES_EXPORTER); default
	// "otlp" when an endpoint is set, else "none".
	TracesExporter string
	// Endpoint is the OTLP base URL (OTEL_EXPORTER_OTLP_ENDPOINT), such as
	// http://collector:4318; over HTTP, "/v1/traces" is appended.
	Endpoint string
	// TracesEndpoint is the full traces URL
	// (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), used as is; it wins over
	// Endpoint.
	TracesEndpoint string
	// Protocol is "grpc" or "http/protobuf" (OTEL_EXPORTER_OTLP_PROTOCOL
	// or OTEL_EXPORTER_OTLP_TRACES_PROTOCOL); default "http/protobuf".
	Protocol string
	// Headers are sent with every export (OTEL_EXPORTER_OTLP_HEADERS,
	// key=value pairs separated by commas, values URL-encoded).
	Headers map[string]string
	// Sampler is one of the Sampler* constants (OTEL_TRACES_SAMPLER);
	// default "parentbased_always_on".
	Sampler string
	// SamplerArg is the ratio of the traceidratio samplers, 0 to 1
	// (OTEL_TRACES_SAMPLER_ARG); default 1.
	SamplerArg float64
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.ServiceName == "" {
		c.ServiceName = c.ResourceAttributes["service.name"]
	}
	if c.ServiceName == "" {
		c.ServiceName = dashcore.DefaultConfig().ServiceName
	}
	if c.ServiceVersion == "" {
		c.ServiceVersion = c.ResourceAttributes["service.version"]
	}
	if c.InstanceID == "" {
		c.InstanceID = c.ResourceAttributes["service.instance.id"]
	}
	if c.InstanceID == "" {
		c.InstanceID = defaultInstanceID()
	}
	if c.TracesExporter == "" {
		c.TracesExporter = ExporterNone
		if c.Endpoint != "" || c.TracesEndpoint != "" {
			c.TracesExporter = ExporterOTLP
		}
	}
	if c.Protocol == "" {
		c.Protocol = ProtocolHTTP
	}
	if c.Sampler == "" {
		c.Sampler = SamplerParentBasedAlwaysOn
		c.SamplerArg = 1
	}
	return c
}

func defaultInstanceID() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h + "-" + strconv.Itoa(os.Getpid())
	}
	return uuid.NewString()
}

// Validate reports every unacceptable field, naming its variable and the
// accepted values. Call it on a Config with defaults applied.
func (c Config) Validate() error {
	var errs []error
	bad := func(variable, format string, args ...any) {
		errs = append(errs, fmt.Errorf("observability: %s: "+format, append([]any{variable}, args...)...))
	}
	switch c.TracesExporter {
	case ExporterOTLP:
		if c.Endpoint == "" && c.TracesEndpoint == "" {
			bad("OTEL_TRACES_EXPORTER", "is otlp but no endpoint is set; set OTEL_EXPORTER_OTLP_ENDPOINT (such as http://collector:4318) or OTEL_TRACES_EXPORTER=none")
		}
	case ExporterNone:
	default:
		bad("OTEL_TRACES_EXPORTER", "%q is not supported; use otlp or none", c.TracesExporter)
	}
	switch c.Protocol {
	case ProtocolGRPC, ProtocolHTTP:
	default:
		bad("OTEL_EXPORTER_OTLP_PROTOCOL", "%q is not supported; use grpc or http/protobuf", c.Protocol)
	}
	for _, e := range []struct{ variable, value string }{
		{"OTEL_EXPORTER_OTLP_ENDPOINT", c.Endpoint},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", c.TracesEndpoint},
	} {
		if e.value == "" {
			continue
		}
		u, err := url.Parse(e.value)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(e.variable, "%q is not a URL; use http(s)://host:port, such as http://collector:4318", e.value)
		}
	}
	switch c.Sampler {
	case SamplerAlwaysOn, SamplerAlwaysOff, SamplerParentBasedAlwaysOn, SamplerParentBasedAlwaysOff:
	case SamplerTraceIDRatio, SamplerParentBasedTraceIDRatio:
		if c.SamplerArg < 0 || c.SamplerArg > 1 {
			bad("OTEL_TRACES_SAMPLER_ARG", "%v is out of range; use a ratio from 0 to 1, such as 0.25", c.SamplerArg)
		}
	default:
		bad("OTEL_TRACES_SAMPLER", "%q is not supported; use always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio", c.Sampler)
	}
	if c.ServiceName == "" {
		bad("OTEL_SERVICE_NAME", "is empty; set a service name such as taylordash-backend")
	}
	return errors.Join(errs...)
}

// Endpoints returns the OTLP trace exporter's endpoint as the
// dashcore.TLSPolicy sees it, or none when no spans are exported: https://
// is verified TLS (against the system's roots), http:// plaintext.
func (c Config) Endpoints() []dashcore.Endpoint {
	if c.Disabled || c.TracesExporter != ExporterOTLP {
		return nil
	}
	raw, setting := c.TracesEndpoint, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	if raw == "" {
		raw, setting = c.Endpoint, "OTEL_EXPORTER_OTLP_ENDPOINT"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil
	}
	e := dashcore.Endpoint{
		Name:      "OTLP exporter",
		Setting:   setting,
		Address:   u.Host,
		Transport: dashcore.Plaintext,
		Fix:       "use an https:// endpoint",
	}
	if u.Scheme == "https" {
		e.Transport, e.Fix = dashcore.TLSVerified, ""
	}
	return []dashcore.Endpoint{e}
}

// ConfigFromEnv reads the OTEL_* variables from env, with defaults from
// dashcore's configuration: serviceName (TAYLORDASH_SERVICE_NAME) unless
// OTEL_SERVICE_NAME or the resource attributes name one, and version
// (dashcore.Info.Version) unless the resource attributes give one. It
// returns the config with defaults applied and validated; malformed values
// are reported together, each naming its variable.
func ConfigFromEnv(env dashcore.Environment, serviceName, version string) (Config, error) {
	var c Config
	var errs []error
	get := func(k string) string { v, _ := env.Lookup(k); return strings.TrimSpace(v) }
	if v := get("OTEL_SDK_DISABLED"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("observability: OTEL_SDK_DISABLED=%q: use true or false", v))
		}
		c.Disabled = b
	}
	attrs, err := parseKeyValues(get("OTEL_RESOURCE_ATTRIBUTES"))
	if err != nil {
		errs = append(errs, fmt.Errorf("observability: OTEL_RESOURCE_ATTRIBUTES: %w; use key=value pairs separated by commas, such as deployment.environment=prod,team=iot", err))
	}
	c.ResourceAttributes = attrs
	c.ServiceName = get("OTEL_SERVICE_NAME")
	if c.ServiceName == "" && attrs["service.name"] == "" {
		c.ServiceName = serviceName
	}
	if attrs["service.version"] == "" {
		c.ServiceVersion = version
	}
	c.TracesExporter = strings.ToLower(get("OTEL_TRACES_EXPORTER"))
	c.Endpoint = get("OTEL_EXPORTER_OTLP_ENDPOINT")
	c.TracesEndpoint = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	c.Protocol = get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if c.Protocol == "" {
		c.Protocol = get("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	headers := get("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
	headersVar := "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
	if headers == "" {
		headers, headersVar = get("OTEL_EXPORTER_OTLP_HEADERS"), "OTEL_EXPORTER_OTLP_HEADERS"
	}
	if c.Headers, err = parseKeyValues(headers); err != nil {
		errs = append(errs, fmt.Errorf("observability: %s: %w; use key=value pairs separated by commas, such as authorization=Bearer%%20xyz", headersVar, err))
	}
	c.Sampler = strings.ToLower(get("OTEL_TRACES_SAMPLER"))
	c.SamplerArg = 1
	if v := get("OTEL_TRACES_SAMPLER_ARG"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("observability: OTEL_TRACES_SAMPLER_ARG=%q: use a ratio from 0 to 1, such as 0.25", v))
		}
		c.SamplerArg = f
	}
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// parseKeyValues parses the W3C-baggage-like list of the OTEL_* variables:
// key=value pairs separated by commas, values URL-decoded.
func parseKeyValues(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", part)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("value of %q is not URL-encoded properly", k)
		}
		out[k] = dv
	}
	return out, nil
}

// MetricsConfig configures the /metrics endpoint, from the
// TAYLORDASH_METRICS_* variables.
type MetricsConfig struct {
	// Path is where the Prometheus exposition is served. Changing it from
	// /metrics means adding "GET <path>" to the auth guard's public routes.
	Path string `env:"METRICS_PATH"`
	// BasicAuthUser, with BasicAuthPassword, requires HTTP basic
	// authentication to scrape.
	BasicAuthUser string `env:"METRICS_BASIC_AUTH_USER"`
	// BasicAuthPassword is the basic authentication password.
	BasicAuthPassword string `env:"METRICS_BASIC_AUTH_PASSWORD" secret:"true"`
	// BearerToken, if set, is accepted as "Authorization: Bearer <token>".
	BearerToken string `env:"METRICS_BEARER_TOKEN" secret:"true"`
}

// WithDefaults returns c with Path defaulting to /metrics.
func (c MetricsConfig) WithDefaults() MetricsConfig {
	if c.Path == "" {
		c.Path = "/metrics"
	}
	return c
}

// Validate checks the path and that basic authentication is configured
// whole.
func (c MetricsConfig) Validate() error {
	var errs []error
	if !strings.HasPrefix(c.Path, "/") || strings.ContainsAny(c.Path, " {}") {
		errs = append(errs, &dashcore.FieldError{Field: "Path", Problem: "must be an absolute URL path such as /metrics"})
	}
	if (c.BasicAuthUser == "") != (c.BasicAuthPassword == "") {
		errs = append(errs, &dashcore.FieldError{Field: "BasicAuthPassword", Problem: "BasicAuthUser and BasicAuthPassword must be set together (or neither)"})
	}
	return errors.Join(errs...)
}
