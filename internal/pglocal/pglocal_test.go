package pglocal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/internal/childproc/childproctest"
	"github.com/taylordash/taylordash/internal/testcerts"
)

// newDataDir returns a fresh directory for a cluster. It is made with
// os.MkdirTemp rather than t.TempDir because, when the tests run as root,
// the server runs as the postgres user, which cannot traverse t.TempDir's
// 0700 parent directory.
func newDataDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pglocal-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func startCluster(t *testing.T, opts Options) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	began := time.Now()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("Start took %v (port %d)", time.Since(began).Round(time.Millisecond), c.Port())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c.Stop(ctx)
	})
	return c
}

func stopCluster(t *testing.T, c *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("Stop took %v", time.Since(began).Round(time.Millisecond))
}

func connect(t *testing.T, c *Cluster) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatalf("connect to %s: %v", c.URL("postgres"), err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestFindBinDir(t *testing.T) {
	const want = "/usr/lib/postgresql/15/bin"
	if !hasServerBinaries(want) {
		t.Skipf("%s has no server binaries on this machine", want)
	}
	got, err := FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("FindBinDir() = %q, want %q", got, want)
	}
}

func TestVersionLess(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"9.6", "15", true},
		{"15", "9.6", false},
		{"15", "16", true},
		{"16", "15", false},
		{"15", "15", false},
	} {
		if got := versionLess(tc.a, tc.b); got != tc.want {
			t.Errorf("versionLess(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestStartStopRestart is not parallel, so that it can check that no
// goroutines are left behind.
func TestStartStopRestart(t *testing.T) {
	goroutinesBefore := runtime.NumGoroutine()
	dir := newDataDir(t)
	opts := Options{Dir: dir, Fast: true, DieWithParent: true, Log: childproctest.Log(t, "server")}
	ctx := context.Background()

	c := startCluster(t, opts) // includes initdb
	if !strings.HasPrefix(c.URL("postgres"), fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port())) {
		t.Errorf("URL = %q", c.URL("postgres"))
	}
	conn := connect(t, c)
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('hello')"); err != nil {
		t.Fatal(err)
	}

	// A second server on the same data directory is refused.
	if _, err := Start(ctx, opts); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second Start on a running Dir: err = %v, want 'already running'", err)
	}

	// Fast shutdown does not wait for the open connection.
	stopCluster(t, c)
	if _, err := os.Stat(c.sockDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket dir %s still exists after Stop (err %v)", c.sockDir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		t.Errorf("data dir not kept: %v", err)
	}

	// A stale postmaster.pid from a crashed run must not prevent a start.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("%d\n%s\n", dead.Process.Pid, dir)
	if err := os.WriteFile(filepath.Join(dir, "postmaster.pid"), []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}

	c2 := startCluster(t, opts) // existing cluster: no initdb
	conn2 := connect(t, c2)
	var v string
	if err := conn2.QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != "hello" {
		t.Fatalf("after restart: SELECT v FROM kept = %q, %v", v, err)
	}
	stopCluster(t, c2)
	if err := c2.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}

	conn.Close(ctx)
	conn2.Close(ctx)
	childproctest.CheckGoroutines(t, goroutinesBefore)
}

func TestPortTaken(t *testing.T) {
	t.Parallel()
	port := childproctest.TakenPort(t)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := Start(ctx, Options{Dir: newDataDir(t), Port: port, Fast: true, DieWithParent: true})
	if err == nil {
		c.Stop(ctx)
		t.Fatal("Start on a taken port succeeded")
	}
	t.Logf("Start error: %v", err)
	msg := err.Error()
	if !strings.Contains(msg, "could not bind") && !strings.Contains(msg, "already in use") {
		t.Errorf("error does not include the server's log lines: %v", err)
	}
	if !strings.Contains(msg, strconv.Itoa(port)) {
		t.Errorf("error does not mention port %d: %v", port, err)
	}
}

func TestNoDir(t *testing.T) {
	if _, err := Start(context.Background(), Options{}); err == nil {
		t.Fatal("Start without Dir succeeded")
	}
}

func TestUnreachableDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only relevant when running as root")
	}
	// t.TempDir's parent is 0700 and owned by root.
	_, err := Start(context.Background(), Options{Dir: filepath.Join(t.TempDir(), "data")})
	if err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Fatalf("err = %v, want 'not reachable'", err)
	}
}

// helperEnv names the data directory for TestHelperProcess.
const helperEnv = "PGLOCAL_TEST_HELPER_DIR"

// TestHelperProcess is not a real test: TestDieWithParent runs the test
// binary with it to get a process that starts a server and then is killed.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("helper process for TestDieWithParent")
	}
	c, err := Start(context.Background(), Options{Dir: dir, Fast: true, DieWithParent: true})
	if err != nil {
		childproctest.ReportError(err)
	}
	childproctest.ReportChild(c.proc.Pid(), c.sockDir)
}

func TestDieWithParent(t *testing.T) {
	t.Parallel()
	dir := newDataDir(t)
	parent, pid, sockDir := childproctest.StartParent(t, helperEnv+"="+dir)
	// The killed helper cannot remove its socket dir.
	if strings.HasPrefix(sockDir, "/tmp/pgl") || strings.HasPrefix(sockDir, filepath.Join(os.TempDir(), "pgl")) {
		t.Cleanup(func() { os.RemoveAll(sockDir) })
	}

	// Crash the parent: the server must shut itself down.
	childproctest.KillParent(t, parent, pid, 20*time.Second)
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid still present after the server's shutdown (err %v)", err)
	}
}

// TLS: the server speaks TLS with the given certificate; with Only, a
// plaintext TCP connection is refused; with ClientCert, one without a
// client certificate is.
func TestTLS(t *testing.T) {
	files := t.TempDir() // read by this process, copied for the server
	ca := testcerts.NewCA(t, "pglocal test CA")
	caFile := ca.WriteFile(t, files)
	certFile, keyFile := ca.Issue(t, "127.0.0.1", "localhost").WriteFiles(t, files, "server")
	clientCert, clientKey := ca.IssueClient(t, "postgres").WriteFiles(t, files, "client")

	c := startCluster(t, Options{Dir: newDataDir(t), Fast: true, DieWithParent: true, TLS: &TLS{CertFile: certFile, KeyFile: keyFile, CAFile: caFile, Only: true}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.TLSURL("postgres", caFile))
	if err != nil {
		t.Fatalf("connect over TLS: %v", err)
	}
	var ssl bool
	var version string
	if err := conn.QueryRow(ctx, "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl, &version); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if !ssl || !strings.HasPrefix(version, "TLS") {
		t.Fatalf("pg_stat_ssl: ssl=%v version=%q", ssl, version)
	}
	if conn, err := pgx.Connect(ctx, c.URL("postgres")); err == nil {
		conn.Close(ctx)
		t.Fatal("a plaintext connection was accepted with Only")
	} else if !strings.Contains(err.Error(), "no encryption") {
		t.Errorf("plaintext refused with %v, want pg_hba's no encryption", err)
	}
	stopCluster(t, c)

	c = startCluster(t, Options{Dir: newDataDir(t), Fast: true, DieWithParent: true, TLS: &TLS{CertFile: certFile, KeyFile: keyFile, CAFile: caFile, ClientCert: true}})
	if conn, err := pgx.Connect(ctx, c.TLSURL("postgres", caFile)); err == nil {
		conn.Close(ctx)
		t.Fatal("a connection without a client certificate was accepted with ClientCert")
	}
	conn, err = pgx.Connect(ctx, c.TLSURL("postgres", caFile)+"&sslcert="+clientCert+"&sslkey="+clientKey)
	if err != nil {
		t.Fatalf("connect with a client certificate: %v", err)
	}
	conn.Close(ctx)

	if _, err := Start(ctx, Options{Dir: newDataDir(t), TLS: &TLS{CertFile: certFile}}); err == nil || !strings.Contains(err.Error(), "KeyFile") {
		t.Errorf("Start with a certificate and no key: %v", err)
	}
}
