package dashcore

import (
	"errors"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// everyType has a field of every type the loader supports.
type everyType struct {
	S     string         `env:"T_S"`
	B     bool           `env:"T_B"`
	I     int            `env:"T_I"`
	I8    int8           `env:"T_I8"`
	I16   int16          `env:"T_I16"`
	I32   int32          `env:"T_I32"`
	I64   int64          `env:"T_I64"`
	U     uint           `env:"T_U"`
	U8    uint8          `env:"T_U8"`
	U16   uint16         `env:"T_U16"`
	U32   uint32         `env:"T_U32"`
	U64   uint64         `env:"T_U64"`
	F32   float32        `env:"T_F32"`
	F64   float64        `env:"T_F64"`
	D     time.Duration  `env:"T_D"`
	L     []string       `env:"T_L"`
	Level slog.Level     `env:"T_LEVEL"`
	IP    netip.Addr     `env:"T_IP"`
	Inner everyTypeInner `envPrefix:"T_INNER_"`
	Skip  string         `env:"-"`
	NoTag string
}

type everyTypeInner struct {
	Name string `env:"NAME"`
}

func TestLoadConfigParsesEveryType(t *testing.T) {
	env := NewEnvironment(map[string]string{
		"TAYLORDASH_T_S":          "hello world",
		"TAYLORDASH_T_B":          "true",
		"TAYLORDASH_T_I":          "-42",
		"TAYLORDASH_T_I8":         "-8",
		"TAYLORDASH_T_I16":        "16",
		"TAYLORDASH_T_I32":        "32",
		"TAYLORDASH_T_I64":        "9000000000",
		"TAYLORDASH_T_U":          "7",
		"TAYLORDASH_T_U8":         "255",
		"TAYLORDASH_T_U16":        "65535",
		"TAYLORDASH_T_U32":        "4000000000",
		"TAYLORDASH_T_U64":        "18000000000000000000",
		"TAYLORDASH_T_F32":        "1.5",
		"TAYLORDASH_T_F64":        "-2.25e3",
		"TAYLORDASH_T_D":          "1m30s",
		"TAYLORDASH_T_L":          " a, b ,,c ",
		"TAYLORDASH_T_LEVEL":      "warn",
		"TAYLORDASH_T_IP":         "10.0.0.1",
		"TAYLORDASH_T_INNER_NAME": "inner",
	})
	var got everyType
	if err := LoadConfig(env, &got); err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	want := everyType{
		S: "hello world", B: true, I: -42, I8: -8, I16: 16, I32: 32, I64: 9000000000,
		U: 7, U8: 255, U16: 65535, U32: 4000000000, U64: 18000000000000000000,
		F32: 1.5, F64: -2250, D: 90 * time.Second, L: []string{"a", "b", "c"},
		Level: slog.LevelWarn, IP: netip.MustParseAddr("10.0.0.1"),
		Inner: everyTypeInner{Name: "inner"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadConfig filled\n%+v\nwant\n%+v", got, want)
	}
}

func TestLoadConfigKeepsDefaultsOfUnsetAndEmptyVariables(t *testing.T) {
	env := NewEnvironment(map[string]string{"TAYLORDASH_HTTP_ADDR": ""})
	cfg := DefaultConfig()
	if err := LoadConfig(env, &cfg); err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if !reflect.DeepEqual(cfg, DefaultConfig()) {
		t.Errorf("config changed by an empty environment:\n%+v", cfg)
	}
}

func TestLoadConfigReportsEveryBadVariableInOneError(t *testing.T) {
	env := NewEnvironment(map[string]string{
		"TAYLORDASH_HTTP_DRAIN_TIMEOUT":          "soon",
		"TAYLORDASH_HTTP_MAX_BODY_BYTES":         "1MB",
		"TAYLORDASH_HTTP_CORS_ORIGINS":           "https://ok.example.com, ftp://bad.example.com",
		"TAYLORDASH_CORS_ALLOW_CREDS":            "yes",
		"TAYLORDASH_LOG_LEVEL":                   "loud",
		"TAYLORDASH_LOG_FORMAT":                  "xml",
		"TAYLORDASH_ALLOW_UNKNOWN_ENV":           "false",
		"TAYLORDASH_HTTP_ADDR":                   "nonsense",
		"TAYLORDASH_HTTP_ADRR":                   "127.0.0.1:1",
		"TAYLORDASH_HTTP_CORS_ALLOW_CREDENTIALS": "maybe",
		"TAYLORDASH_TEST_ANYTHING":               "x",
		"OTHER_VARIABLE":                         "ignored",
	})
	cfg := DefaultConfig()
	err := LoadConfig(env, &cfg)
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("LoadConfig error = %v (%T), want *ConfigError", err, err)
	}
	byVar := map[string]ConfigProblem{}
	for _, p := range ce.Problems {
		if _, dup := byVar[p.Var]; dup && p.Var != "TAYLORDASH_HTTP_CORS_ORIGINS" {
			t.Errorf("variable %s reported twice", p.Var)
		}
		byVar[p.Var] = p
	}
	want := map[string]string{
		"TAYLORDASH_HTTP_DRAIN_TIMEOUT":          "a duration such as 500ms",
		"TAYLORDASH_HTTP_MAX_BODY_BYTES":         "an integer",
		"TAYLORDASH_HTTP_CORS_ALLOW_CREDENTIALS": "true or false",
		"TAYLORDASH_LOG_LEVEL":                   "debug, info, warn or error",
		"TAYLORDASH_LOG_FORMAT":                  "must be json or text",
		"TAYLORDASH_HTTP_ADDR":                   "must be host:port",
		"TAYLORDASH_HTTP_CORS_ORIGINS":           `"ftp://bad.example.com" is not an origin`,
		"TAYLORDASH_HTTP_ADRR":                   "did you mean TAYLORDASH_HTTP_ADDR?",
		"TAYLORDASH_CORS_ALLOW_CREDS":            "unknown variable",
	}
	for v, fragment := range want {
		p, ok := byVar[v]
		if !ok {
			t.Errorf("no problem reported for %s", v)
			continue
		}
		if !strings.Contains(p.Problem, fragment) {
			t.Errorf("%s: problem %q does not contain %q", v, p.Problem, fragment)
		}
	}
	if len(byVar) != len(want) {
		t.Errorf("reported variables %v, want exactly %v", keys(byVar), keys(want))
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "configuration: 9 problems:\n") {
		t.Errorf("message does not start with the count:\n%s", msg)
	}
	if !strings.Contains(msg, `TAYLORDASH_HTTP_DRAIN_TIMEOUT="soon": expected a duration`) {
		t.Errorf("message does not quote the bad value:\n%s", msg)
	}
	if strings.Contains(msg, "TAYLORDASH_TEST_ANYTHING") || strings.Contains(msg, "OTHER_VARIABLE") {
		t.Errorf("message reports a test or foreign variable:\n%s", msg)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestLoadConfigUnknownVariables(t *testing.T) {
	tests := []struct {
		name        string
		vars        map[string]string
		overrides   map[string]string
		wantUnknown []string
	}{
		{
			name:        "typo is reported with a suggestion",
			vars:        map[string]string{"TAYLORDASH_HTTP_ADRR": ":1"},
			wantUnknown: []string{"TAYLORDASH_HTTP_ADRR"},
		},
		{
			name: "test variables are never unknown",
			vars: map[string]string{"TAYLORDASH_TEST_DATABASE_URL": "x", "TAYLORDASH_TEST_": "y"},
		},
		{
			name: "ALLOW_UNKNOWN_ENV allows them",
			vars: map[string]string{"TAYLORDASH_NOPE": "1", "TAYLORDASH_ALLOW_UNKNOWN_ENV": "true"},
		},
		{
			name:      "ALLOW_UNKNOWN_ENV as an override allows them",
			vars:      map[string]string{"TAYLORDASH_NOPE": "1"},
			overrides: map[string]string{"TAYLORDASH_ALLOW_UNKNOWN_ENV": "1"},
		},
		{
			name:      "overrides are not checked",
			overrides: map[string]string{"TAYLORDASH_FROM_CODE": "1"},
		},
		{
			name:        "several, sorted",
			vars:        map[string]string{"TAYLORDASH_ZZZ": "1", "TAYLORDASH_AAA": "1"},
			wantUnknown: []string{"TAYLORDASH_AAA", "TAYLORDASH_ZZZ"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := NewEnvironment(tt.vars).With(tt.overrides)
			cfg := DefaultConfig()
			err := LoadConfig(env, &cfg)
			if len(tt.wantUnknown) == 0 {
				if err != nil {
					t.Fatalf("LoadConfig: %v", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("LoadConfig error = %v, want *ConfigError", err)
			}
			var got []string
			for _, p := range ce.Problems {
				if !strings.Contains(p.Problem, "unknown variable") || !strings.Contains(p.Problem, "TAYLORDASH_ALLOW_UNKNOWN_ENV=true") {
					t.Errorf("problem %q does not explain the unknown variable and the way out", p.Problem)
				}
				got = append(got, p.Var)
			}
			if !slices.Equal(got, tt.wantUnknown) {
				t.Errorf("unknown variables %v, want %v", got, tt.wantUnknown)
			}
		})
	}
}

func TestLoadConfigNoSuggestionForDistantNames(t *testing.T) {
	cfg := DefaultConfig()
	err := LoadConfig(NewEnvironment(map[string]string{"TAYLORDASH_COMPLETELY_DIFFERENT": "1"}), &cfg)
	if err == nil || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("LoadConfig error = %v, want an unknown variable without suggestion", err)
	}
}

type secretConfig struct {
	URL   string `env:"S_URL" secret:"true"`
	Token string `env:"S_TOKEN" secret:"true"`
	Port  int    `env:"S_PORT"`
}

func (c secretConfig) Validate() error {
	var errs []error
	if !strings.HasPrefix(c.URL, "postgres://") {
		errs = append(errs, &FieldError{Field: "URL", Problem: "must be a postgres:// URL"})
	}
	if len(c.Token) < 64 {
		errs = append(errs, &FieldError{Field: "Token", Problem: "must be at least 64 characters"})
	}
	errs = append(errs, errors.New("a problem without a field"))
	return errors.Join(errs...)
}

func TestLoadConfigRedactsSecrets(t *testing.T) {
	tests := []struct {
		name, url string
		want      string // the value shown for S_URL
	}{
		{"url password", "mysql://alice:hunter2@db.example.com:3306/app", "mysql://alice:xxxxx@db.example.com:3306/app"},
		{"url password in query", "mysql://db.example.com/app?user=alice&password=hunter2&sslmode=require", "mysql://db.example.com/app?password=xxxxx&sslmode=xxxxx&user=xxxxx"},
		{"dsn", "host=db.example.com password=hunter2", "(secret)"},
		{"unparsable url", "mysql://alice:hunter2@db.example.com:port/app", "(secret)"},
		{"password with a slash", "mysql://alice:12/hunter2@db.example.com/app", "(secret)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := NewEnvironment(map[string]string{
				"TAYLORDASH_S_URL":   tt.url,
				"TAYLORDASH_S_TOKEN": "hunter2-token",
				"TAYLORDASH_S_PORT":  "hunter2-port",
			})
			var cfg secretConfig
			err := LoadConfig(env, &cfg)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("LoadConfig error = %v, want *ConfigError", err)
			}
			msg := err.Error()
			if strings.Contains(strings.ReplaceAll(msg, "hunter2-port", ""), "hunter2") {
				t.Errorf("a secret leaked:\n%s", msg)
			}
			if !strings.Contains(msg, `TAYLORDASH_S_PORT="hunter2-port": expected an integer`) {
				t.Errorf("a non-secret value is not shown:\n%s", msg)
			}
			if !strings.Contains(msg, `TAYLORDASH_S_TOKEN="(secret)": must be at least 64 characters`) {
				t.Errorf("the secret token is not reported as (secret):\n%s", msg)
			}
			if !strings.Contains(msg, "\n  a problem without a field") {
				t.Errorf("an error without a field is not listed:\n%s", msg)
			}
			for _, p := range ce.Problems {
				if p.Var == "TAYLORDASH_S_URL" && p.Value != tt.want {
					t.Errorf("URL shown as %q, want %q", p.Value, tt.want)
				}
			}
		})
	}
}

func TestLoadConfigSeveralTargets(t *testing.T) {
	env := NewEnvironment(map[string]string{
		"TAYLORDASH_S_URL":     "postgres://h/db",
		"TAYLORDASH_S_TOKEN":   strings.Repeat("t", 64),
		"TAYLORDASH_T_S":       "s",
		"TAYLORDASH_HTTP_ADDR": ":9",
	})
	cfg := DefaultConfig()
	var sc secretConfig
	var et everyType
	err := LoadConfig(env, &cfg, &sc, &et)
	// secretConfig.Validate always adds a field-less problem, nothing else.
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].Var != "" {
		t.Fatalf("LoadConfig error = %v, want only the field-less problem", err)
	}
	if !strings.HasPrefix(err.Error(), "configuration: 1 problem:\n") {
		t.Errorf("message = %q", err.Error())
	}
	if cfg.HTTP.Addr != ":9" || et.S != "s" {
		t.Errorf("targets not filled: %q %q", cfg.HTTP.Addr, et.S)
	}
}

func TestLoadConfigRejectsBadTargets(t *testing.T) {
	type unsupported struct {
		M map[string]string `env:"M"`
	}
	for _, target := range []any{DefaultConfig(), new(int), &unsupported{}} {
		if err := LoadConfig(NewEnvironment(nil), target); err == nil {
			t.Errorf("LoadConfig(%T) = nil, want an error", target)
		}
	}
}

func TestEnvironment(t *testing.T) {
	base := map[string]string{"A": "1", "B": "2", "E": ""}
	env := NewEnvironment(base)
	base["A"] = "changed"
	if v, _ := env.Lookup("A"); v != "1" {
		t.Errorf("NewEnvironment does not copy its map: A=%q", v)
	}
	if _, ok := env.Lookup("E"); ok {
		t.Error("an empty variable counts as set")
	}
	over := env.With(map[string]string{"B": "over", "C": "3"}).With(map[string]string{"C": "4", "A": ""})
	for k, want := range map[string]string{"A": "1", "B": "over", "C": "4"} {
		if v, _ := over.Lookup(k); v != want {
			t.Errorf("Lookup(%s) = %q, want %q", k, v, want)
		}
	}
	if v, _ := env.Lookup("B"); v != "2" {
		t.Errorf("With changed the original environment: B=%q", v)
	}
	var zero Environment
	if _, ok := zero.Lookup("A"); ok {
		t.Error("the zero Environment is not empty")
	}
	t.Setenv("TAYLORDASH_ENV_TEST_PROBE", "probe")
	if v, _ := OSEnvironment().Lookup("TAYLORDASH_ENV_TEST_PROBE"); v != "probe" {
		t.Errorf("OSEnvironment misses a process variable: %q", v)
	}
}

func TestConfigVars(t *testing.T) {
	cfg := DefaultConfig()
	vars, err := ConfigVars(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]ConfigVar{}
	var names []string
	for _, v := range vars {
		byName[v.Name] = v
		names = append(names, v.Name)
	}
	if names[0] != "TAYLORDASH_SERVICE_NAME" || names[len(names)-1] != "TAYLORDASH_HTTP_HEALTH_TIMEOUT" {
		t.Errorf("variables are not in declaration order: %v", names)
	}
	want := []ConfigVar{
		{Name: "TAYLORDASH_SERVICE_NAME", Field: "ServiceName", Default: "taylordash-backend", Expected: "a string"},
		{Name: "TAYLORDASH_ALLOW_UNKNOWN_ENV", Field: "AllowUnknownEnv", Expected: "true or false"},
		{Name: "TAYLORDASH_LOG_LEVEL", Field: "Log.Level", Default: "INFO", Expected: "debug, info, warn or error"},
		{Name: "TAYLORDASH_HTTP_ADDR", Field: "HTTP.Addr", Default: "127.0.0.1:8000", Expected: "host:port, such as 127.0.0.1:8000 or :8000"},
		{Name: "TAYLORDASH_HTTP_DRAIN_TIMEOUT", Field: "HTTP.DrainTimeout", Default: "10s", Expected: "a duration such as 500ms, 10s or 1m30s"},
		{Name: "TAYLORDASH_HTTP_MAX_BODY_BYTES", Field: "HTTP.MaxBodyBytes", Default: "1048576", Expected: "an integer"},
		{Name: "TAYLORDASH_HTTP_CORS_ORIGINS", Field: "HTTP.CORSOrigins", Expected: "a comma-separated list"},
		{Name: "TAYLORDASH_HTTP_CORS_METHODS", Field: "HTTP.CORSMethods", Default: "GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS", Expected: "a comma-separated list"},
	}
	for _, w := range want {
		if got := byName[w.Name]; got != w {
			t.Errorf("ConfigVar %s = %+v, want %+v", w.Name, got, w)
		}
	}

	sc := secretConfig{URL: "postgres://u:pw@db/x", Token: "tok"}
	vars, err = ConfigVars(&sc)
	if err != nil {
		t.Fatal(err)
	}
	if vars[0].Default != "postgres://u:xxxxx@db/x" || !vars[0].Secret || vars[1].Default != "(secret)" {
		t.Errorf("secret defaults are not redacted: %+v", vars)
	}
	if _, err := ConfigVars(sc); err == nil {
		t.Error("ConfigVars of a non-pointer succeeded")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string // fields reported
	}{
		{"defaults", func(*Config) {}, nil},
		{"negative timeouts", func(c *Config) { c.StartTimeout, c.StopTimeout, c.HTTP.DrainTimeout = -1, -1, -1 }, []string{"StartTimeout", "StopTimeout", "HTTP.DrainTimeout"}},
		{"zero start and stop timeouts", func(c *Config) { c.StartTimeout, c.StopTimeout = 0, 0 }, []string{"StartTimeout", "StopTimeout"}},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, []string{"Log.Format"}},
		{"addr without port", func(c *Config) { c.HTTP.Addr = "localhost" }, []string{"HTTP.Addr"}},
		{"addr port out of range", func(c *Config) { c.HTTP.Addr = ":70000" }, []string{"HTTP.Addr"}},
		{"addr named port", func(c *Config) { c.HTTP.Addr = ":http" }, []string{"HTTP.Addr"}},
		{"addr any host", func(c *Config) { c.HTTP.Addr = ":0" }, nil},
		{"cert without key", func(c *Config) { c.HTTP.TLSCertFile = "c.pem" }, []string{"HTTP.TLSKeyFile"}},
		{"key without cert", func(c *Config) { c.HTTP.TLSKeyFile = "k.pem" }, []string{"HTTP.TLSCertFile"}},
		{"negative body limit", func(c *Config) { c.HTTP.MaxBodyBytes = -1 }, []string{"HTTP.MaxBodyBytes"}},
		{"wildcard origin", func(c *Config) { c.HTTP.CORSOrigins = []string{"*"} }, nil},
		{"wildcard origin with credentials", func(c *Config) {
			c.HTTP.CORSOrigins = []string{"*"}
			c.HTTP.CORSAllowCredentials = true
		}, []string{"HTTP.CORSOrigins"}},
		{"bad origins", func(c *Config) {
			c.HTTP.CORSOrigins = []string{"https://ok.example.com:8443", "https://x.example.com/", "https://x.example.com/app", "example.com", "https://u@x.example.com"}
		}, []string{"HTTP.CORSOrigins", "HTTP.CORSOrigins", "HTTP.CORSOrigins", "HTTP.CORSOrigins"}},
		{"health timeout", func(c *Config) { c.HTTP.HealthTimeout = 0 }, []string{"HTTP.HealthTimeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.modify(&cfg)
			var got []string
			for _, err := range flattenErrors(cfg.Validate()) {
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("Validate returned %T, want *FieldError", err)
				}
				if !strings.HasPrefix(fe.Error(), fe.Field+": ") {
					t.Errorf("FieldError.Error() = %q", fe.Error())
				}
				got = append(got, fe.Field)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Validate reported %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWithDefaultsKeepsSetFields(t *testing.T) {
	c := Config{ServiceName: "svc", HTTP: HTTPConfig{Addr: ":1", MaxBodyBytes: 5, CORSMethods: []string{"GET"}}}.WithDefaults()
	if c.ServiceName != "svc" || c.HTTP.Addr != ":1" || c.HTTP.MaxBodyBytes != 5 || !slices.Equal(c.HTTP.CORSMethods, []string{"GET"}) {
		t.Errorf("WithDefaults overwrote set fields: %+v", c)
	}
	if c.StartTimeout != time.Minute || c.HTTP.DrainTimeout != 10*time.Second || c.Log.Format != "json" {
		t.Errorf("WithDefaults left zero fields: %+v", c)
	}
}

func TestLevenshtein(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"", "abc", 3},
		{"ADDR", "ADDR", 0},
		{"ADRR", "ADDR", 1},
		{"ADR", "ADDR", 1},
		{"kitten", "sitting", 3},
		{"flaw", "lawn", 2},
	}
	for _, tt := range tests {
		if got := levenshtein(tt.a, tt.b); got != tt.want {
			t.Errorf("levenshtein(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := levenshtein(tt.b, tt.a); got != tt.want {
			t.Errorf("levenshtein(%q, %q) = %d, want %d", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestClosest(t *testing.T) {
	known := map[string]bool{"TAYLORDASH_HTTP_ADDR": true, "TAYLORDASH_HTTP_ADDX": true, "TAYLORDASH_LOG_LEVEL": true}
	tests := map[string]string{
		"TAYLORDASH_HTTP_ADRR":   "TAYLORDASH_HTTP_ADDR",
		"TAYLORDASH_HTTP_ADDY":   "TAYLORDASH_HTTP_ADDR", // tie: the smaller name wins
		"TAYLORDASH_LOG_LEVL":    "TAYLORDASH_LOG_LEVEL",
		"TAYLORDASH_LOG_FORMAT":  "",
		"TAYLORDASH_DATABASE_UR": "",
	}
	for name, want := range tests {
		if got := closest(name, known); got != want {
			t.Errorf("closest(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestValidRequestID(t *testing.T) {
	valid := []string{"a", "0f8fad5bd9cb469fa16570867728950e", "abc-DEF_123.x:y", strings.Repeat("x", 128)}
	invalid := []string{"", strings.Repeat("x", 129), "has space", "semi;colon", "slash/", "é", "new\nline", "<script>", "quote\""}
	for _, id := range valid {
		if !validRequestID(id) {
			t.Errorf("validRequestID(%q) = false", id)
		}
	}
	for _, id := range invalid {
		if validRequestID(id) {
			t.Errorf("validRequestID(%q) = true", id)
		}
	}
	a, b := newRequestID(), newRequestID()
	if len(a) != 32 || a == b || !validRequestID(a) {
		t.Errorf("newRequestID() = %q, %q", a, b)
	}
}

func TestValidationMessagesNameVariables(t *testing.T) {
	byField := map[string]*envField{
		"Low":  {ConfigVar: ConfigVar{Name: "TAYLORDASH_LOW", Field: "Low"}},
		"High": {ConfigVar: ConfigVar{Name: "TAYLORDASH_HIGH", Field: "High"}},
	}
	got := withVarNames("must be at least Low (5); HTTP is unrelated, and so is Lowish", byField)
	want := "must be at least TAYLORDASH_LOW (5); HTTP is unrelated, and so is Lowish"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}
