package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/testkit"
)

// result is what one run of the command printed, and its exit code.
type result struct {
	code           int
	stdout, stderr string
}

// execute runs the command line args in-process, with exactly vars as
// its environment (no TAYLORDASH_ variable of the test process), stdin
// as its standard input, and a directory of its own for ./.taylordash.
// edit, if given, adjusts the command before it runs.
func execute(t *testing.T, vars map[string]string, stdin string, args ...string) result {
	t.Helper()
	return executeWith(t, nil, vars, stdin, args...)
}

func executeWith(t *testing.T, edit func(*cli), vars map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	c := &cli{env: dashcore.NewEnvironment(vars), stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		dir: filepath.Join(t.TempDir(), ".taylordash")}
	if edit != nil {
		edit(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code := c.execute(ctx, args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// decode parses a command's JSON output.
func decode[T any](t *testing.T, res result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(res.stdout), &v); err != nil {
		t.Fatalf("the output is not JSON: %v\nstdout: %s\nstderr: %s", err, res.stdout, res.stderr)
	}
	return v
}

// TestUsageErrors: a wrong command line exits 2, says what is wrong and
// where the help is, and touches nothing (no database is given: none is
// needed to refuse).
func TestUsageErrors(t *testing.T) {
	vars := map[string]string{"TAYLORDASH_DATABASE_URL": "postgres://nobody@127.0.0.1:1/none"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"servee"}, `unknown command "servee"; did you mean serve?`},
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"--bogus"}, "unknown flag: --bogus"},
		{[]string{"migrate", "now"}, `unknown command "now" for "dashboard migrate"`},
		{[]string{"user"}, "dashboard user needs a command: create"},
		{[]string{"user", "delete"}, `unknown command "delete" for "dashboard user"`},
		{[]string{"user", "create"}, "--username is required"},
		{[]string{"user", "create", "--username"}, "flag needs an argument"},
		{[]string{"apikey", "create", "--name", "ci"}, "give the key --role, --permission or both"},
		{[]string{"apikey", "create", "--name", "ci", "--permission", "projects"}, "--permission"},
		{[]string{"apikey", "create", "--name", "ci", "--role", "viewer", "--expires-in", "soon"}, "invalid argument"},
		{[]string{"plugin", "install"}, "accepts 1 arg(s), received 0"},
		{[]string{"plugin", "install", "https://example.com/p.zip"}, "--sha256 is required with a URL"},
		{[]string{"plugin", "list", "--status", "on"}, `--status must be "installed" or "disabled"`},
		{[]string{"dlq", "replay"}, "give either --all (with an optional filter) or --id N"},
		{[]string{"dlq", "replay", "--all", "--id", "3"}, "give either --all"},
		{[]string{"dlq", "replay", "--id", "x"}, "invalid argument"},
		{[]string{"dlq", "list", "--reason", "boom"}, `--reason "boom" is not a reason`},
		{[]string{"dlq", "list", "--since", "yesterday"}, "--since must be an RFC 3339 time"},
		{[]string{"dlq", "list", "--limit", "0"}, "--limit must be from 1 to 1000"},
		{[]string{"openapi", "--format", "xml"}, `--format must be "yaml" or "json"`},
		{[]string{"openapi", "--output", "yaml"}, `--output must be "text" or "json"`},
		{[]string{"create-admin"}, "-username is required"},
	} {
		res := execute(t, vars, "", c.args...)
		if res.code != exitUsage || !strings.Contains(res.stderr, c.want) || !strings.Contains(res.stderr, "--help' for usage") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", c.args, res.code, res.stderr, c.want)
		}
		if res.stdout != "" {
			t.Errorf("%v: wrote to standard output: %q", c.args, res.stdout)
		}
	}
}

// TestHelp: every command has a help with examples, which exits 0.
func TestHelp(t *testing.T) {
	var paths [][]string
	var walk func(cmd *cobra.Command, path []string)
	walk = func(cmd *cobra.Command, path []string) {
		if cmd.Hidden || cmd.Name() == "help" {
			return
		}
		paths = append(paths, path)
		for _, sub := range cmd.Commands() {
			walk(sub, append(append([]string{}, path...), sub.Name()))
		}
	}
	walk((&cli{}).rootCommand(), nil)
	if len(paths) < 13 {
		t.Fatalf("only %d commands: %v", len(paths), paths)
	}
	for _, p := range paths {
		res := execute(t, nil, "", append(p, "--help")...)
		if res.code != exitOK || !strings.Contains(res.stdout, "Examples:") || !strings.Contains(res.stdout, "Usage:") {
			t.Errorf("%v --help: exit %d, stdout:\n%s\nstderr: %s", p, res.code, res.stdout, res.stderr)
		}
	}
	// The root's help lists the commands by group.
	res := execute(t, nil, "", "--help")
	for _, want := range []string{"Running:", "Administration:", "serve", "migrate", "openapi", "user", "apikey", "plugin", "dlq", "Exit codes"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("dashboard --help lacks %q:\n%s", want, res.stdout)
		}
	}
}

// TestMigrate: migrate applies every module's migrations to an empty
// database and says which; the second run applies nothing.
func TestMigrate(t *testing.T) {
	db := testkit.Postgres(t)
	vars := map[string]string{"TAYLORDASH_DATABASE_URL": db.URL}
	type applied struct {
		Applied []appliedMigration `json:"applied"`
		Count   int                `json:"count"`
	}
	res := execute(t, vars, "", "migrate", "--output", "json")
	if res.code != exitOK {
		t.Fatalf("migrate: %+v", res)
	}
	first := decode[applied](t, res)
	namespaces := map[string]bool{}
	for _, a := range first.Applied {
		namespaces[a.Namespace] = true
	}
	for _, ns := range []string{"auth", "eventbus", "pluginhost", "tracker", "logs"} {
		if !namespaces[ns] {
			t.Errorf("nothing applied for %s: %+v", ns, first.Applied)
		}
	}
	var rows int
	if err := db.DB.QueryRow(context.Background(), `SELECT count(*) FROM taylordash_migrations`).Scan(&rows); err != nil || rows != first.Count || rows == 0 {
		t.Fatalf("recorded %d migrations (%v), the command said %d", rows, err, first.Count)
	}

	res = execute(t, vars, "", "migrate")
	if res.code != exitOK || !strings.Contains(res.stdout, "Nothing to apply: the schema is up to date") {
		t.Fatalf("second migrate: %+v", res)
	}
	res = execute(t, vars, "", "migrate", "-o", "json")
	if again := decode[applied](t, res); again.Count != 0 || len(again.Applied) != 0 {
		t.Fatalf("second migrate applied %+v", again)
	}
}

// TestDatabaseUnreachable: a command that cannot reach the database exits
// 1 and says what to do.
func TestDatabaseUnreachable(t *testing.T) {
	res := execute(t, map[string]string{"TAYLORDASH_DATABASE_STARTUP_TIMEOUT": "1s"}, "",
		"--database-url", "postgres://postgres@127.0.0.1:1/none?connect_timeout=1", "plugin", "list")
	if res.code != exitFailure || !strings.Contains(res.stderr, "127.0.0.1:1") || !strings.Contains(res.stderr, "TAYLORDASH_DATABASE_URL") {
		t.Fatalf("%+v", res)
	}
}

// TestConfigurationErrors: the commands check the configuration as the
// server does, every bad variable at once.
func TestConfigurationErrors(t *testing.T) {
	res := execute(t, map[string]string{"TAYLORDASH_HTTP_ADDR": "nowhere", "TAYLORDASH_DATABSE_URL": "x"}, "", "openapi")
	if res.code != exitFailure || !strings.Contains(res.stderr, "TAYLORDASH_HTTP_ADDR") || !strings.Contains(res.stderr, "TAYLORDASH_DATABSE_URL") {
		t.Fatalf("%+v", res)
	}
}

// TestRunningState: a server's state is found while its process lives,
// and only then; its removal leaves another server's state alone.
func TestRunningState(t *testing.T) {
	c := &cli{dir: filepath.Join(t.TempDir(), ".taylordash")}
	if c.readState() != nil {
		t.Fatal("a state with no file")
	}
	remove, err := c.writeState(runningState{PID: os.Getpid(), MQTTURL: "tcp://127.0.0.1:41883"})
	if err != nil {
		t.Fatal(err)
	}
	if st := c.readState(); st == nil || st.MQTTURL != "tcp://127.0.0.1:41883" {
		t.Fatalf("state: %+v", st)
	}
	if fi, err := os.Stat(c.statePath()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the file: %v, %v", fi, err)
	}
	remove()
	if c.readState() != nil {
		t.Fatal("the state is left after its removal")
	}

	// A server killed without removing its state: its pid is gone.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.writeState(runningState{PID: gone.Process.Pid, DatabaseURL: "postgres://127.0.0.1:1/x"}); err != nil {
		t.Fatal(err)
	}
	if st := c.readState(); st != nil {
		t.Fatalf("the state of a process that is gone: %+v", st)
	}
	// Another server's state is not removed by this one's.
	if _, err := c.writeState(runningState{PID: os.Getppid(), MQTTURL: "tcp://127.0.0.1:1883"}); err != nil {
		t.Fatal(err)
	}
	remove()
	if st := c.readState(); st == nil || st.PID != os.Getppid() {
		t.Fatalf("another server's state was removed: %+v", st)
	}
}
