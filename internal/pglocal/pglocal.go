// Package pglocal runs a PostgreSQL cluster from the local server binaries, for tests and for a zero-configuration dev server.
//
// Start creates the cluster with initdb when the data directory holds none,
// then runs the postgres server as a direct child process listening on
// 127.0.0.1 only (plus a private unix socket directory), and waits until it
// accepts connections. The data directory is kept after Stop, so the same
// directory can be used for a persistent development database.
//
// initdb and postgres refuse to run as root. When the current process runs as
// root, both run as the "postgres" OS user instead, and the data directory is
// chowned to it; every parent directory of the data directory must then be
// traversable by that user (os.MkdirTemp("", ...) under /tmp is; t.TempDir is
// not, because its parent directory has mode 0700).
//
// With Options.TLS the server speaks TLS (ssl=on) with the given
// certificate and key, and can refuse plaintext TCP connections (hostssl
// lines in a generated pg_hba.conf) or require client certificates;
// Cluster.TLSURL is the verify-full URL for it.
package pglocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/taylordash/taylordash/internal/childproc"
)

// serverUser is the OS user initdb and postgres run as when the current
// process is root.
const serverUser = "postgres"

// superuser is the database superuser created by initdb.
const superuser = "postgres"

// logTailLines is how many lines of server output are kept for error messages.
const logTailLines = 50

// pollInterval is how often Start tries to connect while the server starts.
const pollInterval = 50 * time.Millisecond

// Options configures Start.
type Options struct {
	// Dir is the data directory. If it holds no cluster (no PG_VERSION file), initdb creates one there (superuser "postgres", trust auth on 127.0.0.1 and the socket, UTF8, --no-sync). It is kept after Stop.
	Dir string
	// Port to listen on, on 127.0.0.1 only. 0 picks a free port.
	Port int
	// BinDir holds initdb and postgres; "" finds them with FindBinDir.
	BinDir string
	// Fast turns off durability (fsync=off, synchronous_commit=off, full_page_writes=off) for tests.
	Fast bool
	// DieWithParent makes the server receive SIGINT (fast shutdown) when the process that started it dies (Linux Pdeathsig), so a crashed test binary leaves no server behind.
	DieWithParent bool
	// Log receives the server's stderr/stdout; nil discards it. The last lines are also kept in memory and included in errors when start fails.
	Log io.Writer
	// TLS, when set, turns ssl on with its certificate and key.
	TLS *TLS
}

// TLS configures the server's TLS (ssl=on). Its files are copied into the
// cluster's private run directory (removed at Stop), owned by the server's
// OS user, keys with mode 0600 as PostgreSQL requires, so that the caller's
// files may live anywhere it can read.
type TLS struct {
	// CertFile and KeyFile are the server's PEM certificate (chain) and key.
	CertFile, KeyFile string
	// CAFile, if set, is ssl_ca_file: client certificates are verified
	// against it.
	CAFile string
	// Only refuses TCP connections without TLS: the generated pg_hba.conf
	// has hostssl lines for 127.0.0.1 instead of host lines (the unix
	// socket stays trusted, for Start's readiness probe).
	Only bool
	// ClientCert requires, on TCP, a client certificate signed by CAFile
	// (clientcert=verify-ca); it implies Only.
	ClientCert bool
}

// FindBinDir returns the directory of initdb/postgres: from `pg_config --bindir` if pg_config is on PATH and that dir has initdb, else the highest version under /usr/lib/postgresql/*/bin, else the dir of `initdb` on PATH. The error says to install the PostgreSQL server package (e.g. apt-get install postgresql) when none is found.
func FindBinDir() (string, error) {
	if pgConfig, err := exec.LookPath("pg_config"); err == nil {
		if out, err := exec.Command(pgConfig, "--bindir").Output(); err == nil {
			if dir := strings.TrimSpace(string(out)); dir != "" && hasServerBinaries(dir) {
				return dir, nil
			}
		}
	}

	if dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin"); len(dirs) > 0 {
		sort.Slice(dirs, func(i, j int) bool {
			return versionLess(filepath.Base(filepath.Dir(dirs[i])), filepath.Base(filepath.Dir(dirs[j])))
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if hasServerBinaries(dirs[i]) {
				return dirs[i], nil
			}
		}
	}

	if initdb, err := exec.LookPath("initdb"); err == nil {
		// initdb on PATH is often a symlink (e.g. /usr/local/bin/initdb ->
		// /usr/lib/postgresql/15/bin/initdb) to a dir without postgres.
		if real, err := filepath.EvalSymlinks(initdb); err == nil && hasServerBinaries(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		if hasServerBinaries(filepath.Dir(initdb)) {
			return filepath.Dir(initdb), nil
		}
	}

	return "", errors.New("pglocal: PostgreSQL server binaries (initdb, postgres) not found; install the PostgreSQL server package (e.g. apt-get install postgresql)")
}

// hasServerBinaries reports whether dir holds initdb and postgres executables.
func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// versionLess compares PostgreSQL major version directory names ("9.6",
// "15", "16") numerically, falling back to string order.
func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, errA := strconv.Atoi(pa[i])
		nb, errB := strconv.Atoi(pb[i])
		if errA != nil || errB != nil {
			return a < b
		}
		if na != nb {
			return na < nb
		}
	}
	return len(pa) < len(pb)
}

// Cluster is a running server started by Start.
type Cluster struct {
	dir     string
	port    int
	sockDir string
	proc    *childproc.Process
	logs    *childproc.LogTail

	stopMu  sync.Mutex
	stopped bool
}

// Start initialises Dir if needed and starts `postgres -D Dir -p Port -k <socket dir> -c listen_addresses=127.0.0.1` (plus the Fast settings) as a direct child process (not via pg_ctl, so that DieWithParent works), then waits until a connection to database "postgres" as user "postgres" succeeds (polled every 50ms over the private unix socket, so a foreign server on the same port is never mistaken for this one; ctx bounds the wait). If the child exits early, the error includes the last log lines. The unix socket directory is a fresh short temp dir (socket paths are limited to ~107 bytes), removed at Stop. A stale postmaster.pid from a crashed earlier run whose process no longer exists is removed before starting; if Dir's cluster is already running, Start returns an error saying so. When Port is 0 and the picked port is taken by the time the server binds it, Start retries with another port.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Dir == "" {
		return nil, errors.New("pglocal: Options.Dir is empty")
	}
	if opts.TLS != nil {
		if err := opts.TLS.validate(); err != nil {
			return nil, err
		}
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("pglocal: data directory %s: %w", opts.Dir, err)
	}
	binDir := opts.BinDir
	if binDir == "" {
		if binDir, err = FindBinDir(); err != nil {
			return nil, err
		}
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	logs := childproc.NewLogTail(opts.Log, logTailLines)

	if err := prepareDataDir(dir, cred); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); errors.Is(err, fs.ErrNotExist) {
		if err := initdb(ctx, binDir, dir, cred, logs); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("pglocal: data directory %s: %w", dir, err)
	}
	if err := checkPostmasterPID(dir); err != nil {
		return nil, err
	}

	const maxAttempts = 3
	for attempt := 1; ; attempt++ {
		port := opts.Port
		if port == 0 {
			if port, err = childproc.FreePort(); err != nil {
				return nil, fmt.Errorf("pglocal: finding a free port: %w", err)
			}
		}
		c, portTaken, err := start(ctx, opts, binDir, dir, port, cred, logs)
		if err == nil {
			return c, nil
		}
		if opts.Port != 0 || attempt == maxAttempts || !portTaken {
			return nil, err
		}
	}
}

// start runs one attempt of starting the server on port. portTaken reports
// whether it failed because the port was in use.
func start(ctx context.Context, opts Options, binDir, dir string, port int, cred *syscall.Credential, logs *childproc.LogTail) (c *Cluster, portTaken bool, err error) {
	sockDir, err := makeSocketDir(cred)
	if err != nil {
		return nil, false, err
	}

	args := []string{
		"-D", dir,
		"-p", strconv.Itoa(port),
		"-k", sockDir,
		"-c", "listen_addresses=127.0.0.1",
	}
	if opts.TLS != nil {
		tlsArgs, err := writeTLSFiles(sockDir, *opts.TLS, cred)
		if err != nil {
			os.RemoveAll(sockDir)
			return nil, false, err
		}
		args = append(args, tlsArgs...)
	}
	if opts.Fast {
		args = append(args,
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
		)
	}
	cmd := exec.Command(filepath.Join(binDir, "postgres"), args...)
	cmd.Dir = dir
	cmd.Env = childEnv()
	cmd.Stdout = logs
	cmd.Stderr = logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var deathSignal syscall.Signal
	if opts.DieWithParent {
		deathSignal = syscall.SIGINT // fast shutdown
	}

	logs.Mark()
	// In its own process group (see childproc.Start), so that the SIGKILL
	// fallback reaches every backend.
	proc, err := childproc.Start(cmd, deathSignal)
	if err != nil {
		os.RemoveAll(sockDir)
		return nil, false, fmt.Errorf("pglocal: starting postgres in %s: %w", dir, err)
	}
	c = &Cluster{
		dir:     dir,
		port:    port,
		sockDir: sockDir,
		proc:    proc,
		logs:    logs,
	}

	if portTaken, err := c.waitReady(ctx); err != nil {
		c.proc.Kill()
		os.RemoveAll(sockDir)
		return nil, portTaken, err
	}
	return c, false, nil
}

// waitReady polls until the server accepts a connection, the server exits or
// ctx ends. portTaken reports whether the server exited because its port was
// in use.
func (c *Cluster) waitReady(ctx context.Context) (portTaken bool, err error) {
	connString := fmt.Sprintf("host=%s port=%d user=%s dbname=postgres sslmode=disable connect_timeout=5", c.sockDir, c.port, superuser)
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var lastErr error
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		conn, err := pgconn.Connect(attemptCtx, connString)
		cancel()
		if err == nil {
			conn.Close(ctx)
			return false, nil
		}
		lastErr = err

		select {
		case <-c.proc.Done():
			tail := c.logs.TailSinceMark()
			portTaken := strings.Contains(tail, "could not bind") || strings.Contains(tail, "Address already in use")
			return portTaken, fmt.Errorf("pglocal: postgres in %s on port %d exited during startup (%v); log:\n%s", c.dir, c.port, c.proc.Err(), tail)
		case <-ctx.Done():
			return false, fmt.Errorf("pglocal: waiting for postgres in %s on port %d: %w (last connect error: %v); log:\n%s", c.dir, c.port, ctx.Err(), lastErr, c.logs.TailSinceMark())
		case <-ticker.C:
		}
	}
}

// URL returns a connection URL for database db as the superuser, e.g. postgres://postgres@127.0.0.1:PORT/db?sslmode=disable
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", superuser, c.port, url.PathEscape(db))
}

// TLSURL returns a connection URL for database db as the superuser over
// TLS, verifying the server against the PEM CA file caFile:
// postgres://postgres@127.0.0.1:PORT/db?sslmode=verify-full&sslrootcert=CAFILE.
// The server's certificate must name 127.0.0.1.
func (c *Cluster) TLSURL(db, caFile string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=verify-full&sslrootcert=%s", superuser, c.port, url.PathEscape(db), strings.ReplaceAll(url.QueryEscape(caFile), "+", "%20"))
}

// Port returns the TCP port.
func (c *Cluster) Port() int { return c.port }

// Stop shuts the server down with SIGINT (fast shutdown: it does not wait for clients), waits up to ctx for it to exit, then SIGKILLs the server and all its processes. The data directory is kept; the socket dir is removed. It returns an error if the server had to be killed or had exited unexpectedly before Stop. Stop is safe to call more than once; later calls return nil.
func (c *Cluster) Stop(ctx context.Context) error {
	c.stopMu.Lock()
	defer c.stopMu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true
	defer os.RemoveAll(c.sockDir)

	select {
	case <-c.proc.Done():
		return fmt.Errorf("pglocal: postgres in %s exited unexpectedly before Stop (%v); log:\n%s", c.dir, c.proc.Err(), c.logs.Tail())
	default:
	}

	if err := c.proc.Signal(syscall.SIGINT); err != nil {
		c.proc.Kill()
		return fmt.Errorf("pglocal: signalling postgres (pid %d): %w", c.proc.Pid(), err)
	}
	select {
	case <-c.proc.Done():
		if err := c.proc.Err(); err != nil {
			return fmt.Errorf("pglocal: postgres in %s: %w; log:\n%s", c.dir, err, c.logs.Tail())
		}
		return nil
	case <-ctx.Done():
		c.proc.Kill()
		return fmt.Errorf("pglocal: postgres in %s did not shut down in time and was killed: %w", c.dir, ctx.Err())
	}
}

// serverCredential returns the credential to run initdb and postgres with:
// nil when not root, the "postgres" user's when root.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(serverUser)
	if err != nil {
		return nil, fmt.Errorf("pglocal: running as root, but PostgreSQL refuses to run as root and there is no %q OS user to run it as (create one, e.g. with the PostgreSQL server package, or run as a non-root user): %w", serverUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pglocal: user %q: bad uid %q", serverUser, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pglocal: user %q: bad gid %q", serverUser, u.Gid)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil && uint32(g) != cred.Gid {
				cred.Groups = append(cred.Groups, uint32(g))
			}
		}
	}
	return cred, nil
}

// prepareDataDir creates dir and, when running as another user, chowns it to
// that user and checks that the user can reach it.
func prepareDataDir(dir string, cred *syscall.Credential) error {
	// Parents the server user must traverse are created searchable; the
	// data directory itself is private, as postgres requires.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("pglocal: creating the parent of data directory %s: %w", dir, err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pglocal: creating data directory %s: %w", dir, err)
	}
	if cred == nil {
		return nil
	}
	if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("pglocal: chown data directory %s to %s: %w", dir, serverUser, err)
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		if err := checkTraversable(p, cred); err != nil {
			return fmt.Errorf("pglocal: data directory %s is not reachable by OS user %q: %w; use a directory under one it can traverse (e.g. os.MkdirTemp(\"\", ...) rather than t.TempDir)", dir, serverUser, err)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// checkTraversable reports an error if the user in cred cannot search dir.
func checkTraversable(dir string, cred *syscall.Credential) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	mode := fi.Mode().Perm()
	var bit fs.FileMode = 0o001
	switch {
	case st.Uid == cred.Uid:
		bit = 0o100
	case st.Gid == cred.Gid || containsUint32(cred.Groups, st.Gid):
		bit = 0o010
	}
	if mode&bit == 0 {
		return fmt.Errorf("%s has mode %#o and owner %d:%d", dir, mode, st.Uid, st.Gid)
	}
	return nil
}

func containsUint32(s []uint32, v uint32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// initdb creates a cluster in dir.
func initdb(ctx context.Context, binDir, dir string, cred *syscall.Credential, logs *childproc.LogTail) error {
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"),
		"-D", dir,
		"-U", superuser,
		"--auth=trust",
		"--encoding=UTF8",
		"--locale=C",
		"--no-sync",
	)
	cmd.Dir = "/"
	cmd.Env = childEnv()
	var out bytes.Buffer
	w := io.MultiWriter(&out, logs)
	cmd.Stdout = w
	cmd.Stderr = w
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pglocal: initdb in %s: %w; output: %s", dir, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// checkPostmasterPID returns an error if dir's cluster is running and removes
// a stale postmaster.pid left by a server that no longer exists.
func checkPostmasterPID(dir string) error {
	pidFile := filepath.Join(dir, "postmaster.pid")
	data, err := os.ReadFile(pidFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pglocal: reading %s: %w", pidFile, err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err == nil && pid > 0 && isPostgresProcess(pid) {
		return fmt.Errorf("pglocal: the cluster in %s is already running (postmaster.pid names live pid %d)", dir, pid)
	}
	if err := os.Remove(pidFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pglocal: removing stale %s: %w", pidFile, err)
	}
	return nil
}

// isPostgresProcess reports whether pid is alive and, as far as /proc tells,
// a postgres process (a reused pid of an unrelated process does not count).
func isPostgresProcess(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return true // alive, and we cannot tell what it is
	}
	name := strings.TrimSpace(string(comm))
	return strings.HasPrefix(name, "postgres") || strings.HasPrefix(name, "postmaster")
}

// validate reports what is missing from t.
func (t TLS) validate() error {
	if t.CertFile == "" || t.KeyFile == "" {
		return errors.New("pglocal: TLS needs both CertFile and KeyFile")
	}
	if t.ClientCert && t.CAFile == "" {
		return errors.New("pglocal: TLS.ClientCert needs CAFile")
	}
	return nil
}

// writeTLSFiles copies the TLS files into runDir for the server's user and
// returns the server arguments that use them (and the generated
// pg_hba.conf, with Only or ClientCert).
func writeTLSFiles(runDir string, t TLS, cred *syscall.Credential) ([]string, error) {
	copyFile := func(src, name string) (string, error) {
		data, err := os.ReadFile(src)
		if err != nil {
			return "", fmt.Errorf("pglocal: TLS file: %w", err)
		}
		dst := filepath.Join(runDir, name)
		if err := writeOwned(dst, data, cred); err != nil {
			return "", err
		}
		return dst, nil
	}
	cert, err := copyFile(t.CertFile, "server.crt")
	if err != nil {
		return nil, err
	}
	key, err := copyFile(t.KeyFile, "server.key")
	if err != nil {
		return nil, err
	}
	args := []string{"-c", "ssl=on", "-c", "ssl_cert_file=" + cert, "-c", "ssl_key_file=" + key}
	if t.CAFile != "" {
		ca, err := copyFile(t.CAFile, "root.crt")
		if err != nil {
			return nil, err
		}
		args = append(args, "-c", "ssl_ca_file="+ca)
	}
	if t.Only || t.ClientCert {
		opt := ""
		if t.ClientCert {
			opt = " clientcert=verify-ca"
		}
		hba := "# Generated by pglocal: TLS only on TCP.\n" +
			"local all all trust\n" +
			"hostssl all all 127.0.0.1/32 trust" + opt + "\n" +
			"hostssl all all ::1/128 trust" + opt + "\n"
		path := filepath.Join(runDir, "pg_hba.conf")
		if err := writeOwned(path, []byte(hba), cred); err != nil {
			return nil, err
		}
		args = append(args, "-c", "hba_file="+path)
	}
	return args, nil
}

// writeOwned writes a file of mode 0600 owned by the server's user.
func writeOwned(path string, data []byte, cred *syscall.Credential) error {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	if cred != nil {
		if err := os.Chown(path, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("pglocal: chown %s to %s: %w", path, serverUser, err)
		}
	}
	return nil
}

// makeSocketDir creates a short, fresh directory for the server's unix
// socket (and its TLS files, see writeTLSFiles).
func makeSocketDir(cred *syscall.Credential) (string, error) {
	base := os.TempDir()
	if len(base) > 40 {
		base = "/tmp" // keep socket paths well below the ~107-byte limit
	}
	sockDir, err := os.MkdirTemp(base, "pgl")
	if err != nil {
		return "", fmt.Errorf("pglocal: creating socket directory: %w", err)
	}
	if cred != nil {
		if err := os.Chown(sockDir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(sockDir)
			return "", fmt.Errorf("pglocal: chown socket directory %s: %w", sockDir, err)
		}
	}
	return sockDir, nil
}

// childEnv is the environment for initdb and postgres: ours without PG*
// variables (PGDATA, PGPORT, ...) that could redirect them.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}
