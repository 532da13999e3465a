package acceptance_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/taylordash/taylordash/examples/dashboard/app"
	"github.com/taylordash/taylordash/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// What the operator configures: the bootstrap API key (the original's
// single API_KEY) and the first admin (the original seeded admin/admin123;
// the dashboard has no default credentials).
const (
	bootstrapKey  = "acceptance-key-0123456789abcdef"
	adminUser     = "admin"
	adminPassword = "an acceptance admin passphrase"
	userPassword  = "a long enough passphrase 42"
)

// dash is the dashboard started for one scenario.
type dash struct {
	*testkit.TestApp
}

// env is the configuration every scenario starts with, plus more.
func env(more map[string]string) map[string]string {
	e := map[string]string{
		"TAYLORDASH_API_KEY":                  bootstrapKey,
		"TAYLORDASH_BOOTSTRAP_ADMIN_USER":     adminUser,
		"TAYLORDASH_BOOTSTRAP_ADMIN_PASSWORD": adminPassword,
		// Cheap password hashes: the scenarios log in often.
		"TAYLORDASH_AUTH_PASSWORD_ARGON2_MEMORY_KIB": "7168",
		"TAYLORDASH_AUTH_PASSWORD_ARGON2_TIME":       "1",
		// One test client sends everything from one address, faster than
		// any person: the request rate limits (a feature the original
		// lacked, tested in the app's own tests) are raised out of the way.
		"TAYLORDASH_AUTH_RATE_LIMIT_PER_IP":        "1000/1s:1000",
		"TAYLORDASH_AUTH_RATE_LIMIT_PER_PRINCIPAL": "1000/1s:1000",
		"TAYLORDASH_AUTH_RATE_LIMIT_GROUPS":        "login.ip=1000/1m:1000",
	}
	maps.Copy(e, more)
	return e
}

// start starts the whole dashboard (app.Modules) for the test, on a fresh
// database, the test broker and a plugin directory of its own,
// configured by env(more).
func start(t *testing.T, more map[string]string) *dash {
	t.Helper()
	e := env(map[string]string{"TAYLORDASH_PLUGINS_DIR": t.TempDir()})
	maps.Copy(e, more)
	return &dash{TestApp: testkit.App(t, app.Modules(), testkit.Env(e))}
}

// cred puts a credential on a request, as a client of the original did.
type cred func(*http.Request)

// anonymous sends no credential.
func anonymous(*http.Request) {}

// key sends k in X-API-Key.
func key(k string) cred {
	return func(r *http.Request) { r.Header.Set("X-API-Key", k) }
}

// bearer sends token as Authorization: Bearer.
func bearer(token string) cred {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

// withHeaders adds headers to a credential.
func withHeaders(c cred, kv ...string) cred {
	return func(r *http.Request) {
		c(r)
		for i := 0; i+1 < len(kv); i += 2 {
			r.Header.Set(kv[i], kv[i+1])
		}
	}
}

// reply is an HTTP answer, read whole.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
	what   string
}

// do sends a request. body is nil (none), a []byte (sent as is, as JSON),
// or a value sent as JSON.
func (d *dash) do(t *testing.T, method, path string, c cred, body any) *reply {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, d.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c(req)
	return send(t, d.Client, req)
}

func send(t *testing.T, client *http.Client, req *http.Request) *reply {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the body: %v", req.Method, req.URL.Path, err)
	}
	return &reply{Status: resp.StatusCode, Header: resp.Header, Body: b, what: req.Method + " " + req.URL.RequestURI()}
}

// must fails the test unless the status is want.
func (r *reply) must(t *testing.T, want int) *reply {
	t.Helper()
	if r.Status != want {
		t.Fatalf("%s: status %d, want %d: %s", r.what, r.Status, want, r.Body)
	}
	return r
}

// decode decodes the JSON body into v.
func (r *reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("%s: body %s: %v", r.what, r.Body, err)
	}
}

// object decodes the body as a JSON object.
func (r *reply) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	r.decode(t, &m)
	return m
}

// detail returns the detail of a problem answer, checking that it is an
// RFC 9457 problem: the dashboard's one error shape, where the original
// had three. Its {"detail": ...} key is the original's.
func (r *reply) detail(t *testing.T) string {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%s: error content type %q, want application/problem+json: %s", r.what, ct, r.Body)
	}
	var p struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	r.decode(t, &p)
	if p.Status != r.Status {
		t.Fatalf("%s: problem status %d in a %d answer", r.what, p.Status, r.Status)
	}
	return p.Detail
}

// mustDetail fails the test unless the answer is a problem with status
// and detail.
func (r *reply) mustDetail(t *testing.T, status int, detail string) {
	t.Helper()
	r.must(t, status)
	if got := r.detail(t); got != detail {
		t.Fatalf("%s: detail %q, want %q", r.what, got, detail)
	}
}

// hasKeys fails the test unless the object has every key.
func hasKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s lacks %q: %v", what, k, m)
		}
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// traceIDRE is what the dashboard accepts as a trace id: a UUID (the
// original's) or a W3C trace id (32 hex digits).
var traceIDRE = regexp.MustCompile(`^([0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`)

// eventually polls cond every 50 ms until it holds, failing the test
// after timeout with the last explanation cond gave.
func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// session is the answer to a login.
type session struct {
	UserID       string    `json:"user_id"`
	Username     string    `json:"username"`
	Role         string    `json:"role"`
	SessionToken string    `json:"session_token"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// login logs in and returns the session.
func (d *dash) login(t *testing.T, user, password string, more map[string]any) session {
	t.Helper()
	body := map[string]any{"username": user, "password": password}
	maps.Copy(body, more)
	var s session
	d.do(t, http.MethodPost, "/api/v1/auth/login", anonymous, body).must(t, http.StatusOK).decode(t, &s)
	if s.SessionToken == "" {
		t.Fatalf("login of %s without a session_token", user)
	}
	return s
}

// createUser makes a user as admin and returns its id.
func (d *dash) createUser(t *testing.T, admin cred, name, role string) string {
	t.Helper()
	// Deliberate difference: 201 Created (the original answered 200).
	r := d.do(t, http.MethodPost, "/api/v1/auth/users", admin,
		map[string]any{"username": name, "password": userPassword, "role": role}).must(t, http.StatusCreated)
	var u struct {
		ID string `json:"id"`
	}
	r.decode(t, &u)
	if !uuidRE.MatchString(u.ID) {
		t.Fatalf("user id %q is not a UUID", u.ID)
	}
	return u.ID
}

// createProject makes a project with the bootstrap key and returns it.
func (d *dash) createProject(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	return d.do(t, http.MethodPost, "/api/v1/projects", key(bootstrapKey), body).must(t, http.StatusCreated).object(t)
}

// metricSum sums the samples of a metric whose labels contain every
// label given ("result=\"stored\""), from GET /metrics.
func (d *dash) metricSum(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	r := d.do(t, http.MethodGet, "/metrics", anonymous, nil).must(t, http.StatusOK)
	var sum float64
	for _, line := range strings.Split(string(r.Body), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		all := true
		for _, l := range labels {
			all = all && strings.Contains(rest, l)
		}
		if !all {
			continue
		}
		f := strings.Fields(rest)
		var v float64
		if _, err := fmt.Sscan(f[len(f)-1], &v); err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}
