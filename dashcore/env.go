package dashcore

import (
	"encoding"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix starts the name of every configuration variable.
const EnvPrefix = "TAYLORDASH_"

// TestEnvPrefix starts variables read by test helpers (testkit); the loader
// never reports them as unknown.
const TestEnvPrefix = EnvPrefix + "TEST_"

// Environment is the source that configuration is read from: a snapshot of
// variables, plus overrides that win over them. Overrides come from code
// (tests, a CLI flag) rather than from an operator, so they are not checked
// for unknown names. The zero value is an empty environment.
type Environment struct {
	vars      map[string]string
	overrides map[string]string
}

// OSEnvironment returns a snapshot of the process environment.
func OSEnvironment() Environment {
	vars := make(map[string]string)
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	return Environment{vars: vars}
}

// NewEnvironment returns an environment holding exactly vars.
func NewEnvironment(vars map[string]string) Environment {
	return Environment{vars: copyMap(vars)}
}

// With returns a copy of e in which overrides win over the variables of e.
// Keys are full variable names, e.g. "TAYLORDASH_HTTP_ADDR".
func (e Environment) With(overrides map[string]string) Environment {
	merged := copyMap(e.overrides)
	for k, v := range overrides {
		merged[k] = v
	}
	return Environment{vars: e.vars, overrides: merged}
}

// Lookup returns the value of the variable key and whether it is set.
// An empty value counts as unset.
func (e Environment) Lookup(key string) (string, bool) {
	if v, ok := e.overrides[key]; ok && v != "" {
		return v, true
	}
	v, ok := e.vars[key]
	return v, ok && v != ""
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// FieldError reports a configuration field whose value is not acceptable.
// Validate methods of config structs return it (several may be joined with
// errors.Join); the loader turns Field into the variable's name so that the
// operator sees what to change.
type FieldError struct {
	// Field is the Go path of the field, e.g. "HTTP.Addr".
	Field string
	// Problem says what is wrong and what would be right, e.g.
	// "must be host:port, such as 127.0.0.1:8000".
	Problem string
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// ConfigProblem is one bad variable found by [LoadConfig].
type ConfigProblem struct {
	// Var is the variable's full name, e.g. "TAYLORDASH_HTTP_ADDR".
	Var string
	// Value is the value as given, redacted for secrets, empty if unset.
	Value string
	// Problem says what is wrong and the form expected.
	Problem string
}

// String returns the problem as ConfigError lists it:
// VAR="value": problem.
func (p ConfigProblem) String() string {
	switch {
	case p.Var == "":
		return p.Problem
	case p.Value == "":
		return p.Var + ": " + p.Problem
	default:
		return fmt.Sprintf("%s=%q: %s", p.Var, p.Value, p.Problem)
	}
}

// ConfigError lists every bad configuration variable found in one pass.
type ConfigError struct {
	// Problems lists the bad variables: malformed values in declaration
	// order, then failed validations, then unknown variables by name.
	Problems []ConfigProblem
}

// Error implements error with one line per problem.
func (e *ConfigError) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		b.WriteString("configuration: 1 problem:")
	} else {
		fmt.Fprintf(&b, "configuration: %d problems:", len(e.Problems))
	}
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// ConfigVar describes one variable read into a config struct.
type ConfigVar struct {
	// Name is the full variable name, e.g. "TAYLORDASH_HTTP_ADDR".
	Name string
	// Field is the Go path of the field, e.g. "HTTP.Addr".
	Field string
	// Default is the value the field holds when the variable is unset.
	Default string
	// Expected describes the accepted form.
	Expected string
	// Secret marks values that are never printed.
	Secret bool
}

type envField struct {
	ConfigVar
	value reflect.Value // settable field in the target
}

// ConfigVars lists the variables read into cfg, a pointer to a config
// struct, in declaration order. Defaults are cfg's current field values.
func ConfigVars(cfg any) ([]ConfigVar, error) {
	fields, err := walkConfig(cfg)
	if err != nil {
		return nil, err
	}
	vars := make([]ConfigVar, len(fields))
	for i, f := range fields {
		vars[i] = f.ConfigVar
	}
	return vars, nil
}

// Validator is implemented by config structs that check their own values.
// Validate returns nil, a *FieldError, or several joined with errors.Join.
type Validator interface {
	Validate() error
}

// LoadConfig fills every target (a pointer to a config struct whose fields
// carry `env:"NAME"` tags, already holding defaults) from env, then runs
// each target's Validate method. It reports every problem at once as a
// *ConfigError: malformed values, failed validations, and variables that
// start with [EnvPrefix] but that no target declares (unless
// TAYLORDASH_ALLOW_UNKNOWN_ENV is true; variables starting with
// [TestEnvPrefix] are never reported).
//
// Tags understood: `env:"NAME"` (the variable is EnvPrefix+NAME);
// `envPrefix:"P_"` on a nested struct field; `expect:"..."` to describe the
// form in errors; `secret:"true"` to keep the value out of errors and docs.
// Field types: string, bool, integers, floats, time.Duration, []string
// (comma-separated), and any encoding.TextUnmarshaler.
func LoadConfig(env Environment, targets ...any) error {
	var problems []ConfigProblem
	known := make(map[string]bool)
	for _, target := range targets {
		fields, err := walkConfig(target)
		if err != nil {
			return err
		}
		byField := make(map[string]*envField, len(fields))
		for i := range fields {
			f := &fields[i]
			known[f.Name] = true
			byField[f.Field] = f
			raw, ok := env.Lookup(f.Name)
			if !ok {
				continue
			}
			if err := setField(f.value, raw); err != nil {
				problems = append(problems, ConfigProblem{Var: f.Name, Value: shown(f, raw), Problem: "expected " + f.Expected})
			}
		}
		if v, ok := target.(Validator); ok {
			for _, err := range flattenErrors(v.Validate()) {
				problems = append(problems, fieldProblem(env, byField, err))
			}
		}
	}
	if allow, _ := strconv.ParseBool(lookupOr(env, EnvPrefix+"ALLOW_UNKNOWN_ENV", "false")); !allow {
		problems = append(problems, unknownVars(env, known)...)
	}
	if len(problems) > 0 {
		return &ConfigError{Problems: problems}
	}
	return nil
}

func lookupOr(env Environment, key, def string) string {
	if v, ok := env.Lookup(key); ok {
		return v
	}
	return def
}

func fieldProblem(env Environment, byField map[string]*envField, err error) ConfigProblem {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return ConfigProblem{Problem: err.Error()}
	}
	f, ok := byField[fe.Field]
	if !ok {
		return ConfigProblem{Var: fe.Field, Problem: fe.Problem}
	}
	raw, _ := env.Lookup(f.Name)
	return ConfigProblem{Var: f.Name, Value: shown(f, raw), Problem: withVarNames(fe.Problem, byField)}
}

// withVarNames rewrites the Go field names a validation message mentions
// ("must be at least MinConns") into the variables the operator sets. A
// field is recognised by its full path or, when no other field shares it,
// by its last component.
func withVarNames(msg string, byField map[string]*envField) string {
	last := make(map[string][]*envField)
	for path, f := range byField {
		name := path[strings.LastIndexByte(path, '.')+1:]
		last[name] = append(last[name], f)
	}
	return goIdent.ReplaceAllStringFunc(msg, func(word string) string {
		if f, ok := byField[word]; ok {
			return f.Name
		}
		if fs := last[word]; len(fs) == 1 {
			return fs[0].Name
		}
		return word
	})
}

var goIdent = regexp.MustCompile(`\b[A-Z][A-Za-z0-9]*(\.[A-Z][A-Za-z0-9]*)*\b`)

func flattenErrors(err error) []error {
	if err == nil {
		return nil
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range joined.Unwrap() {
			out = append(out, flattenErrors(e)...)
		}
		return out
	}
	return []error{err}
}

func unknownVars(env Environment, known map[string]bool) []ConfigProblem {
	var names []string
	for k := range env.vars {
		if strings.HasPrefix(k, EnvPrefix) && !strings.HasPrefix(k, TestEnvPrefix) && !known[k] && k != EnvPrefix+"ALLOW_UNKNOWN_ENV" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	problems := make([]ConfigProblem, 0, len(names))
	for _, k := range names {
		msg := "unknown variable: no module of this application reads it"
		if s := closest(k, known); s != "" {
			msg += "; did you mean " + s + "?"
		}
		problems = append(problems, ConfigProblem{Var: k, Problem: msg + " (set TAYLORDASH_ALLOW_UNKNOWN_ENV=true to allow)"})
	}
	return problems
}

// closest returns the known name nearest to name, if it is near enough to
// be a typo.
func closest(name string, known map[string]bool) string {
	best, bestD := "", 4
	for k := range known {
		if d := levenshtein(name, k); d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func shown(f *envField, raw string) string {
	if !f.Secret || raw == "" {
		return raw
	}
	return redactSecret(raw)
}

// redactSecret returns what may be shown of a secret value: a URL keeps
// its scheme, host and path, and loses its password and the values of its
// query (pgx, for one, accepts ?password=); anything else is "(secret)".
func redactSecret(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Fragment != "" ||
		(u.User == nil && strings.Contains(raw, "@")) { // a password holding '/' or '#' hides the user info
		return "(secret)"
	}
	if q := u.Query(); len(q) > 0 {
		for k, vs := range q {
			for i := range vs {
				vs[i] = "xxxxx"
			}
			q[k] = vs
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
)

func walkConfig(cfg any) ([]envField, error) {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("dashcore: config target must be a pointer to a struct, got %T", cfg)
	}
	var fields []envField
	err := walkStruct(v.Elem(), EnvPrefix, "", &fields)
	return fields, err
}

func walkStruct(v reflect.Value, prefix, path string, out *[]envField) error {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		fv := v.Field(i)
		fpath := sf.Name
		if path != "" {
			fpath = path + "." + sf.Name
		}
		if p, ok := sf.Tag.Lookup("envPrefix"); ok && sf.Type.Kind() == reflect.Struct {
			if err := walkStruct(fv, prefix+p, fpath, out); err != nil {
				return err
			}
			continue
		}
		name, ok := sf.Tag.Lookup("env")
		if !ok || name == "-" {
			continue
		}
		expected := sf.Tag.Get("expect")
		if expected == "" {
			var err error
			if expected, err = expectedForm(sf.Type); err != nil {
				return fmt.Errorf("dashcore: config field %s: %w", fpath, err)
			}
		}
		secret, _ := strconv.ParseBool(sf.Tag.Get("secret"))
		cv := ConfigVar{Name: prefix + name, Field: fpath, Expected: expected, Secret: secret}
		if !fv.IsZero() || isEnum(fv.Type()) {
			cv.Default = formatValue(fv)
			if secret {
				cv.Default = redactSecret(cv.Default)
			}
		}
		*out = append(*out, envField{ConfigVar: cv, value: fv})
	}
	return nil
}

// isEnum reports whether t is an integer with a text form, such as
// slog.Level, whose zero value is a meaningful default ("INFO") rather
// than "unset".
func isEnum(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return t.Implements(textMarshalerType)
	}
	return false
}

func expectedForm(t reflect.Type) (string, error) {
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return "a valid " + t.String(), nil
	}
	if t == durationType {
		return "a duration such as 500ms, 10s or 1m30s", nil
	}
	switch t.Kind() {
	case reflect.String:
		return "a string", nil
	case reflect.Bool:
		return "true or false", nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer", nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer", nil
	case reflect.Float32, reflect.Float64:
		return "a number", nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "a comma-separated list", nil
		}
	}
	return "", fmt.Errorf("unsupported type %s", t)
}

func setField(v reflect.Value, raw string) error {
	if tu, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return tu.UnmarshalText([]byte(raw))
	}
	if v.Type() == durationType {
		d, err := time.ParseDuration(raw)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, v.Type().Bits())
		if err != nil {
			return err
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(raw, 10, v.Type().Bits())
		if err != nil {
			return err
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(raw, v.Type().Bits())
		if err != nil {
			return err
		}
		v.SetFloat(n)
	case reflect.Slice:
		var items []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		v.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}

func formatValue(v reflect.Value) string {
	if tm, ok := v.Interface().(encoding.TextMarshaler); ok {
		b, err := tm.MarshalText()
		if err == nil {
			return string(b)
		}
	}
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	if v.Kind() == reflect.Slice {
		parts := make([]string, v.Len())
		for i := range v.Len() {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v.Interface())
}
