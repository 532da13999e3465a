// Package mosquittolocal runs a Mosquitto broker from the local binary on a free port, for tests.
//
// Start writes a mosquitto.conf into a fresh temp directory and runs
// `mosquitto -c FILE` as a direct child process listening on 127.0.0.1 only,
// with anonymous access allowed. With Options.TLS it also listens with TLS
// on a second port (Broker.TLSURL), optionally requiring client
// certificates.
//
// When started as root, Mosquitto 2 normally drops privileges to the
// "mosquitto" user, which then could not write a persistence directory
// created by the test (t.TempDir's parents are 0700 and owned by root). To
// avoid that, the generated config says "user root" when the current process
// runs as root, so the broker keeps running as root and can use any directory
// the caller can. (Mosquitto logs a warning about running as root; it is
// harmless for tests.) Non-root processes run the broker as themselves.
package mosquittolocal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/taylordash/taylordash/internal/childproc"
)

// defaultBinary is where Debian's mosquitto package installs the broker.
const defaultBinary = "/usr/sbin/mosquitto"

// logTailLines is how many lines of broker output are kept for error messages.
const logTailLines = 50

// pollInterval is how often Start tries to connect while the broker starts.
const pollInterval = 20 * time.Millisecond

// Options configures Start.
type Options struct {
	// Binary is the mosquitto executable; "" looks up "mosquitto" on PATH, then /usr/sbin/mosquitto.
	Binary string
	// Port on 127.0.0.1; 0 picks a free one.
	Port int
	// Config is extra mosquitto.conf lines appended after the generated ones ("listener PORT 127.0.0.1", "allow_anonymous true", "persistence false" unless PersistenceDir is set, and "user root" when running as root).
	Config string
	// PersistenceDir, when set, turns persistence on with this location (created if missing). It is kept after Stop, and survives Restart. When running as root the broker runs as root too (see the package doc), so no chown is needed.
	PersistenceDir string
	// DieWithParent makes the broker receive SIGTERM when the process that started it dies (Linux Pdeathsig), so a crashed test binary leaves no broker behind.
	DieWithParent bool
	// Log receives the broker's stderr/stdout; nil discards it. The last lines are also kept in memory and included in errors when start fails.
	Log io.Writer
	// TLS, when set, adds a second listener, on 127.0.0.1 with TLS (see Broker.TLSURL). Its lines come after Config's.
	TLS *TLS
}

// TLS configures the broker's TLS listener.
type TLS struct {
	// Port on 127.0.0.1; 0 picks a free one.
	Port int
	// CertFile and KeyFile are the broker's PEM certificate and key (certfile, keyfile).
	CertFile, KeyFile string
	// CAFile, if set, verifies client certificates (cafile).
	CAFile string
	// RequireCertificate refuses clients without a certificate signed by CAFile (require_certificate true).
	RequireCertificate bool
}

// FindBinary returns the path of the mosquitto executable: "mosquitto" on PATH, else /usr/sbin/mosquitto (often not on a non-root PATH). The error says to install the mosquitto package when neither exists.
func FindBinary() (string, error) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	if fi, err := os.Stat(defaultBinary); err == nil && !fi.IsDir() && fi.Mode().Perm()&0o111 != 0 {
		return defaultBinary, nil
	}
	return "", errors.New("mosquittolocal: mosquitto binary not found on PATH or at " + defaultBinary + "; install the mosquitto package (e.g. apt-get install mosquitto)")
}

// Broker is a running broker started by Start.
type Broker struct {
	binary        string
	port          int
	tlsPort       int // 0 without a TLS listener
	confDir       string
	confPath      string
	dieWithParent bool
	logs          *childproc.LogTail

	mu      sync.Mutex
	proc    *childproc.Process // the current run of mosquitto; nil after a failed Restart
	stopped bool
}

// Start writes a config file in a temp dir, starts mosquitto -c FILE as a child, and waits until a TCP connection to the port succeeds (poll 20ms, respect ctx; on early exit return an error with the last log lines). A non-zero Port that is already in use is reported before starting the broker, so that another listener on it is never mistaken for the broker. When Port is 0 and the picked port is taken by the time the broker binds it, Start retries with another port.
func Start(ctx context.Context, opts Options) (*Broker, error) {
	binary := opts.Binary
	if binary == "" {
		var err error
		if binary, err = FindBinary(); err != nil {
			return nil, err
		}
	}
	persistDir := ""
	if t := opts.TLS; t != nil && (t.CertFile == "" || t.KeyFile == "" || (t.RequireCertificate && t.CAFile == "")) {
		return nil, errors.New("mosquittolocal: TLS needs CertFile and KeyFile, and CAFile with RequireCertificate")
	}
	if opts.PersistenceDir != "" {
		var err error
		if persistDir, err = filepath.Abs(opts.PersistenceDir); err != nil {
			return nil, fmt.Errorf("mosquittolocal: persistence directory %s: %w", opts.PersistenceDir, err)
		}
		if err := os.MkdirAll(persistDir, 0o700); err != nil {
			return nil, fmt.Errorf("mosquittolocal: creating persistence directory %s: %w", persistDir, err)
		}
	}
	confDir, err := os.MkdirTemp("", "mosquittolocal-")
	if err != nil {
		return nil, fmt.Errorf("mosquittolocal: creating config directory: %w", err)
	}
	b := &Broker{
		binary:        binary,
		confDir:       confDir,
		confPath:      filepath.Join(confDir, "mosquitto.conf"),
		dieWithParent: opts.DieWithParent,
		logs:          childproc.NewLogTail(opts.Log, logTailLines),
	}

	const maxAttempts = 3
	for attempt := 1; ; attempt++ {
		port := opts.Port
		if port == 0 {
			if port, err = childproc.FreePort(); err != nil {
				os.RemoveAll(confDir)
				return nil, fmt.Errorf("mosquittolocal: finding a free port: %w", err)
			}
		}
		tlsPort := 0
		if opts.TLS != nil {
			if tlsPort = opts.TLS.Port; tlsPort == 0 {
				if tlsPort, err = childproc.FreePort(); err != nil {
					os.RemoveAll(confDir)
					return nil, fmt.Errorf("mosquittolocal: finding a free port: %w", err)
				}
			}
		}
		conf := generateConfig(port, persistDir, opts.Config) + tlsConfig(tlsPort, opts.TLS)
		if err := os.WriteFile(b.confPath, []byte(conf), 0o600); err != nil {
			os.RemoveAll(confDir)
			return nil, fmt.Errorf("mosquittolocal: writing %s: %w", b.confPath, err)
		}
		b.port, b.tlsPort = port, tlsPort
		fixedPorts := opts.Port != 0 || (opts.TLS != nil && opts.TLS.Port != 0)
		portTaken, err := b.startProcess(ctx, fixedPorts)
		if err == nil {
			return b, nil
		}
		if fixedPorts || attempt == maxAttempts || !portTaken {
			os.RemoveAll(confDir)
			return nil, err
		}
	}
}

// generateConfig returns the mosquitto.conf contents.
func generateConfig(port int, persistDir, extra string) string {
	var sb strings.Builder
	sb.WriteString("# Generated by mosquittolocal.\n")
	if os.Geteuid() == 0 {
		sb.WriteString("user root\n")
	}
	fmt.Fprintf(&sb, "listener %d 127.0.0.1\n", port)
	sb.WriteString("allow_anonymous true\n")
	if persistDir == "" {
		sb.WriteString("persistence false\n")
	} else {
		sb.WriteString("persistence true\n")
		fmt.Fprintf(&sb, "persistence_location %s/\n", strings.TrimSuffix(persistDir, "/"))
	}
	if extra != "" {
		sb.WriteString(extra)
		if !strings.HasSuffix(extra, "\n") {
			sb.WriteString("\n")
		}
	}
	return sb.String()
}

// tlsConfig returns the lines of the TLS listener, or "" without one.
func tlsConfig(port int, t *TLS) string {
	if t == nil {
		return ""
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "listener %d 127.0.0.1\ncertfile %s\nkeyfile %s\n", port, t.CertFile, t.KeyFile)
	if t.CAFile != "" {
		fmt.Fprintf(&sb, "cafile %s\n", t.CAFile)
	}
	if t.RequireCertificate {
		sb.WriteString("require_certificate true\n")
	}
	return sb.String()
}

// startProcess runs mosquitto with b's config and waits until its port
// accepts connections. If checkPort, it first fails when the port is in use.
// portTaken reports whether the broker exited because the port was in use.
// The caller holds b.mu or has not shared b yet.
func (b *Broker) startProcess(ctx context.Context, checkPort bool) (portTaken bool, err error) {
	ports := []int{b.port}
	if b.tlsPort != 0 {
		ports = append(ports, b.tlsPort)
	}
	if checkPort {
		for _, port := range ports {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				return true, fmt.Errorf("mosquittolocal: port %d is not available: %w", port, err)
			}
			l.Close()
		}
	}

	cmd := exec.Command(b.binary, "-c", b.confPath)
	cmd.Dir = b.confDir
	cmd.Stdout = b.logs
	cmd.Stderr = b.logs
	var deathSignal syscall.Signal
	if b.dieWithParent {
		deathSignal = syscall.SIGTERM
	}
	b.logs.Mark()
	p, err := childproc.Start(cmd, deathSignal)
	if err != nil {
		return false, fmt.Errorf("mosquittolocal: starting %s: %w", b.binary, err)
	}
	b.proc = p

	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var lastErr error
	for {
		// Every listener accepts: the broker is up.
		for len(ports) > 0 {
			d := net.Dialer{Timeout: time.Second}
			conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])))
			if err != nil {
				lastErr = err
				break
			}
			conn.Close()
			ports = ports[1:]
		}
		if len(ports) == 0 {
			return false, nil
		}

		select {
		case <-p.Done():
			b.proc = nil
			tail := b.logs.TailSinceMark()
			portTaken := strings.Contains(tail, "Address already in use")
			return portTaken, fmt.Errorf("mosquittolocal: mosquitto on port %d exited during startup (%v); log:\n%s", b.port, p.Err(), tail)
		case <-ctx.Done():
			p.Kill()
			b.proc = nil
			return false, fmt.Errorf("mosquittolocal: waiting for mosquitto on port %d: %w (last dial error: %v); log:\n%s", b.port, ctx.Err(), lastErr, b.logs.TailSinceMark())
		case <-ticker.C:
		}
	}
}

// URL returns the broker's address, tcp://127.0.0.1:PORT.
func (b *Broker) URL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", b.port) }

// Port returns the TCP port.
func (b *Broker) Port() int { return b.port }

// TLSURL returns the address of the TLS listener, ssl://127.0.0.1:PORT, or "" without one.
func (b *Broker) TLSURL() string {
	if b.tlsPort == 0 {
		return ""
	}
	return fmt.Sprintf("ssl://127.0.0.1:%d", b.tlsPort)
}

// TLSPort returns the port of the TLS listener, or 0 without one.
func (b *Broker) TLSPort() int { return b.tlsPort }

// Stop sends SIGTERM (mosquitto saves persistence on clean shutdown), waits up to ctx, then SIGKILL; removes the temp config dir (PersistenceDir is kept). It returns an error if the broker had to be killed or had exited unexpectedly before Stop. Stop is safe to call more than once; later calls return nil.
func (b *Broker) Stop(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return nil
	}
	b.stopped = true
	defer os.RemoveAll(b.confDir)
	return b.stopProcess(ctx)
}

// Restart stops and starts the broker again on the same port with the same config and persistence (for fault tests). If the new broker fails to start, the Broker stays stopped except for its temp dir, which Stop removes.
func (b *Broker) Restart(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return errors.New("mosquittolocal: Restart after Stop")
	}
	if err := b.stopProcess(ctx); err != nil {
		return err
	}
	_, err := b.startProcess(ctx, true)
	return err
}

// stopProcess stops the current process, if any. The caller holds b.mu.
func (b *Broker) stopProcess(ctx context.Context) error {
	p := b.proc
	if p == nil {
		return nil
	}
	b.proc = nil

	select {
	case <-p.Done():
		return fmt.Errorf("mosquittolocal: mosquitto on port %d exited unexpectedly (%v); log:\n%s", b.port, p.Err(), b.logs.Tail())
	default:
	}

	if err := p.Signal(syscall.SIGTERM); err != nil {
		p.Kill()
		return fmt.Errorf("mosquittolocal: signalling mosquitto (pid %d): %w", p.Pid(), err)
	}
	select {
	case <-p.Done():
		if err := p.Err(); err != nil {
			return fmt.Errorf("mosquittolocal: mosquitto on port %d: %w; log:\n%s", b.port, err, b.logs.Tail())
		}
		return nil
	case <-ctx.Done():
		p.Kill()
		return fmt.Errorf("mosquittolocal: mosquitto on port %d did not shut down in time and was killed: %w", b.port, ctx.Err())
	}
}
