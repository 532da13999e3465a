package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/taylordash/taylordash/testkit"
)

// build builds the command once for the test.
func build(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the command")
	}
	bin := filepath.Join(t.TempDir(), "dashboard")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// command is the built command running as a user would run it, in a
// directory of its own, with no TAYLORDASH_ variable but those of env.
type command struct {
	t    *testing.T
	cmd  *exec.Cmd
	dir  string
	addr string // where its HTTP server listens

	mu      sync.Mutex
	records []map[string]any // its JSON log records
	text    []string         // its other lines (the generated admin's notice)
	done    chan struct{}    // closed when its standard error ends
}

func start(t *testing.T, bin, dir string, env map[string]string) *command {
	t.Helper()
	c := &command{t: t, cmd: exec.Command(bin), dir: dir, done: make(chan struct{})}
	c.cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TAYLORDASH_") {
			c.cmd.Env = append(c.cmd.Env, kv)
		}
	}
	// A free port, and a broker session of its own (a developer's
	// dashboard may be running with the default client id).
	c.cmd.Env = append(c.cmd.Env, "TAYLORDASH_HTTP_ADDR=127.0.0.1:0",
		"TAYLORDASH_MQTT_CLIENT_ID=dashboard-main-test-"+strconv.Itoa(os.Getpid()), "TAYLORDASH_MQTT_CLEAN_SESSION=true")
	for k, v := range env {
		c.cmd.Env = append(c.cmd.Env, k+"="+v)
	}
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.cmd.Process.Kill(); <-c.done; _ = c.cmd.Wait() })

	listening := make(chan string, 1)
	go func() {
		defer close(c.done)
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			var rec map[string]any
			c.mu.Lock()
			if json.Unmarshal(lines.Bytes(), &rec) == nil {
				c.records = append(c.records, rec)
				if rec["msg"] == "HTTP server listening" {
					addr, _ := rec["addr"].(string)
					listening <- addr
				}
			} else {
				c.text = append(c.text, lines.Text())
			}
			c.mu.Unlock()
		}
	}()
	select {
	case c.addr = <-listening:
	case <-c.done:
		t.Fatalf("the command ended before listening:\n%s", c.output())
	case <-time.After(30 * time.Second):
		t.Fatalf("the command did not listen within 30s:\n%s", c.output())
	}
	return c
}

// output returns what the command wrote to standard error so far.
func (c *command) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, r := range c.records {
		line, _ := json.Marshal(r)
		b.Write(line)
		b.WriteByte('\n')
	}
	b.WriteString(strings.Join(c.text, "\n"))
	return b.String()
}

// record returns the first log record whose message starts with prefix.
func (c *command) record(prefix string) map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.records {
		if msg, _ := r["msg"].(string); strings.HasPrefix(msg, prefix) {
			return r
		}
	}
	return nil
}

// waitReady waits until the application is ready (the broker connection
// comes up in the background).
func (c *command) waitReady() {
	c.t.Helper()
	var status int
	var body []byte
	for deadline := time.Now().Add(15 * time.Second); status != http.StatusOK && time.Now().Before(deadline); {
		resp, err := http.Get("http://" + c.addr + "/health/ready")
		if err != nil {
			c.t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if status = resp.StatusCode; status != http.StatusOK {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if status != http.StatusOK || !strings.Contains(string(body), `"database":"healthy"`) || !strings.Contains(string(body), `"mqtt":"healthy"`) {
		c.t.Fatalf("ready: %d %s", status, body)
	}
}

// stop sends SIGINT, expects a clean exit within 20s, and returns the
// whole standard error. A signal during the start stops the application
// once started, so everything the start prints is there.
func (c *command) stop() string {
	c.t.Helper()
	if err := c.cmd.Process.Signal(os.Interrupt); err != nil {
		c.t.Fatal(err)
	}
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		c.t.Fatalf("the command did not stop within 20s of SIGINT:\n%s", c.output())
	}
	if err := c.cmd.Wait(); err != nil {
		c.t.Fatalf("exit after SIGINT: %v\n%s", err, c.output())
	}
	return c.output()
}

// notice matches the generated admin's notice.
var notice = regexp.MustCompile(`(?m)^\s+username: (\S+)\n\s+password: (\S+)$`)

// TestRunWithNoConfiguration runs the command as a user would, with no
// TAYLORDASH_ variable but a free port: it must pick a database and a
// broker by itself and say which, serve /health/ready, let a browser's
// websocket client see its events, and stop cleanly on SIGINT.
func TestRunWithNoConfiguration(t *testing.T) {
	bin := build(t)
	c := start(t, bin, t.TempDir(), nil)

	db := c.record("database: using")
	if msg, _ := db["msg"].(string); !strings.Contains(msg, "local server") {
		t.Fatalf("picked %q, want the local server that runs on this machine", msg)
	}
	chosen := c.record("dashboard: chosen")
	broker, _ := chosen["broker"].(map[string]any)
	tcpURL, _ := broker["url"].(string)
	wsURL, _ := broker["websocket_url"].(string)
	if broker["source"] != "embedded" || !strings.HasPrefix(tcpURL, "tcp://127.0.0.1:") || !strings.HasPrefix(wsURL, "ws://127.0.0.1:") {
		t.Fatalf("chosen: %v", chosen)
	}
	// Mosquitto usually holds 1883 on a developer's machine: the embedded
	// broker then takes another port, and says so.
	if tcpURL != "tcp://127.0.0.1:1883" && c.record("broker: 127.0.0.1:1883 is taken") == nil {
		t.Fatalf("the broker is on %s, and the log does not say why:\n%s", tcpURL, c.output())
	}
	for _, key := range []string{"api_key", "admin"} {
		if s, _ := chosen[key].(string); s == "" {
			t.Errorf("the chosen line lacks %s: %v", key, chosen)
		}
	}
	if db, _ := chosen["database"].(map[string]any); db["source"] != "local server" || !strings.HasPrefix(db["url"].(string), "postgres://") {
		t.Errorf("the chosen database: %v", chosen["database"])
	}
	c.waitReady()

	// The API documentation, with no configuration.
	resp, err := http.Get("http://" + c.addr + "/docs")
	if err != nil {
		t.Fatal(err)
	}
	docs, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(docs), "/openapi") {
		t.Fatalf("GET /docs: %d %.200s", resp.StatusCode, docs)
	}

	// The commands run in its directory find its embedded broker.
	st := readStateFile(filepath.Join(c.dir, ".taylordash", "running.json"))
	if st == nil || st.PID != c.cmd.Process.Pid || st.MQTTURL != tcpURL || st.DatabaseURL != "" {
		t.Fatalf("running.json: %+v, want pid %d and broker %s", st, c.cmd.Process.Pid, tcpURL)
	}

	// A browser's client, on the embedded broker's websocket listener,
	// sees the events the application publishes.
	events := make(chan string, 10)
	ws := paho.NewClient(paho.NewClientOptions().AddBroker(wsURL).SetClientID("dashboard-main-test-ws-" + strconv.Itoa(os.Getpid())).
		SetConnectTimeout(5 * time.Second).SetAutoReconnect(false))
	if tok := ws.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("websocket client: %v", tok.Error())
	}
	if tok := ws.Subscribe("tracker/events/#", 1, func(_ paho.Client, m paho.Message) { events <- m.Topic() }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe over websocket: %v", tok.Error())
	}

	// The API key it generated guards /api/.
	key, err := os.ReadFile(filepath.Join(c.dir, ".taylordash", "api-key"))
	if err != nil {
		t.Fatalf("no generated API key: %v", err)
	}
	for _, op := range []struct{ method, path string }{{http.MethodGet, "/api/v1/events"}, {http.MethodPost, "/api/v1/events/test"}} {
		req, _ := http.NewRequest(op.method, "http://"+c.addr+op.path, nil)
		req.Header.Set("X-API-Key", strings.TrimSpace(string(key)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s with the generated key: %d", op.method, op.path, resp.StatusCode)
		}
	}
	// Other events may come first: the outbox publishes what commands run
	// without a server wrote (their audit events) once a server runs.
	for got := false; !got; {
		select {
		case topic := <-events:
			got = topic == "tracker/events/test/api"
			if !got {
				t.Logf("the websocket client got %s first", topic)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the websocket client did not get the test event")
		}
	}
	ws.Disconnect(250)

	// The local database may hold an admin from an earlier run: whether
	// this run generated one is left to TestRunGeneratesTheFirstAdminOnce.
	out := c.stop()
	if m := notice.FindStringSubmatch(out); m != nil {
		t.Logf("generated admin %q on the local database", m[1])
	}
	if _, err := os.Stat(filepath.Join(c.dir, ".taylordash", "running.json")); !os.IsNotExist(err) {
		t.Fatalf("running.json is left after the stop: %v", err)
	}
}

// TestExitCodes runs the built command as a script would, and checks its
// exit codes: 0 done, 1 failed, 2 wrong command line.
func TestExitCodes(t *testing.T) {
	bin := build(t)
	for _, c := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"openapi", "--format", "json"}, 0, `"title":"TaylorDash API"`, ""},
		{[]string{"--help"}, 0, "Examples:", ""},
		{[]string{"servee"}, 2, "", `unknown command "servee"; did you mean serve?`},
		{[]string{"plugin", "list", "--bogus"}, 2, "", "unknown flag: --bogus"},
		{[]string{"plugin", "list", "--database-url", "postgres://postgres@127.0.0.1:1/none?connect_timeout=1"}, 1, "",
			"check that the server is running and that TAYLORDASH_DATABASE_URL is right"},
	} {
		cmd := exec.Command(bin, c.args...)
		cmd.Dir = t.TempDir()
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "TAYLORDASH_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "TAYLORDASH_DATABASE_STARTUP_TIMEOUT=1s")
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code || !strings.Contains(stdout.String(), c.stdout) || !strings.Contains(stderr.String(), c.stderr) {
			t.Errorf("%v: exit %d, stdout %.300q, stderr %q; want exit %d", c.args, code, stdout.String(), stderr.String(), c.code)
		}
	}
}

// TestRunGeneratesTheFirstAdminOnce: on a database with no admin, the
// first run generates one and prints its password once; it logs in; the
// next run prints nothing.
func TestRunGeneratesTheFirstAdminOnce(t *testing.T) {
	bin := build(t)
	db := testkit.Postgres(t)
	dir := t.TempDir()
	env := map[string]string{"TAYLORDASH_DATABASE_URL": db.URL}

	c := start(t, bin, dir, env)
	var m []string
	for deadline := time.Now().Add(15 * time.Second); m == nil && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		m = notice.FindStringSubmatch(c.output())
	}
	if m == nil {
		t.Fatalf("no admin printed:\n%s", c.output())
	}
	if w := c.record("auth: no admin existed"); w == nil || w["level"] != "WARN" {
		t.Fatalf("want a warning; log:\n%s", c.output())
	}
	c.mu.Lock()
	for _, r := range c.records {
		if line, _ := json.Marshal(r); strings.Contains(string(line), m[2]) {
			t.Errorf("the password is in a log record: %s", line)
		}
	}
	c.mu.Unlock()
	body := `{"username":` + strconv.Quote(m[1]) + `,"password":` + strconv.Quote(m[2]) + `}`
	resp, err := http.Post("http://"+c.addr+"/api/v1/auth/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login as the printed admin: %d", resp.StatusCode)
	}
	c.stop()

	c = start(t, bin, dir, env)
	c.waitReady()
	if out := c.stop(); strings.Contains(out, "password:") || strings.Contains(out, m[2]) {
		t.Fatalf("the second run printed a password:\n%s", out)
	}
}
