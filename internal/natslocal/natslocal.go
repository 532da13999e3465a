// Package natslocal runs a NATS server with its MQTT listener from the
// local binary, for tests.
//
// Start writes a nats-server configuration file into a fresh temp
// directory and runs `nats-server -c FILE` as a direct child process: a
// server_name (JetStream requires one), JetStream with its store_dir in the
// temp directory (NATS keeps MQTT sessions, retained messages and
// unacknowledged QoS 1 messages in JetStream streams), a NATS client
// listener and an MQTT listener, each on a free port of 127.0.0.1, and no
// authentication. The machine's own NATS service (port 4222) is not
// touched: it has no MQTT listener, and adding one means restarting it
// with a configuration file.
//
// A binary that is not there is [ErrNotInstalled], so that a test can tell
// a broker the machine does not have from one that fails to start.
package natslocal

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

// defaultBinary is where Debian's nats-server package installs the server.
const defaultBinary = "/usr/sbin/nats-server"

// logTailLines is how many lines of server output are kept for errors.
const logTailLines = 50

// pollInterval is how often Start tries to connect while the server starts.
const pollInterval = 20 * time.Millisecond

// ErrNotInstalled is returned (wrapped) when no nats-server binary is found.
var ErrNotInstalled = errors.New("natslocal: nats-server binary not found on PATH or at " + defaultBinary + "; install the nats-server package (e.g. apt-get install nats-server)")

// Options configures Start. The zero value is a server on free ports that
// outlives a crashed parent.
type Options struct {
	// Binary is the nats-server executable; "" looks up "nats-server" on
	// PATH, then /usr/sbin/nats-server.
	Binary string
	// MQTT is extra lines inside the mqtt { } block, such as
	// "ack_wait: \"5s\"" or "max_ack_pending: 100".
	MQTT string
	// Config is extra top-level lines, after the generated ones.
	Config string
	// DieWithParent makes the server receive SIGTERM when the process that
	// started it dies (Linux Pdeathsig), so a crashed test binary leaves
	// no server behind.
	DieWithParent bool
	// Log receives the server's output; nil discards it. The last lines
	// are also kept and included in errors when start fails.
	Log io.Writer
}

// FindBinary returns the path of the nats-server executable: "nats-server"
// on PATH, else /usr/sbin/nats-server. The error wraps [ErrNotInstalled].
func FindBinary() (string, error) {
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p, nil
	}
	if fi, err := os.Stat(defaultBinary); err == nil && !fi.IsDir() && fi.Mode().Perm()&0o111 != 0 {
		return defaultBinary, nil
	}
	return "", ErrNotInstalled
}

// Server is a running nats-server started by Start.
type Server struct {
	mqttPort int
	natsPort int
	dir      string
	logs     *childproc.LogTail
	proc     *childproc.Process

	mu      sync.Mutex
	stopped bool
}

// Start writes the configuration into a temp directory, starts
// nats-server -c FILE as a child and waits until its MQTT port accepts
// connections (respecting ctx; on an early exit the error holds the last
// log lines). When a picked port is taken by the time the server binds it,
// Start retries with others.
func Start(ctx context.Context, opts Options) (*Server, error) {
	binary := opts.Binary
	if binary == "" {
		var err error
		if binary, err = FindBinary(); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "natslocal-")
	if err != nil {
		return nil, fmt.Errorf("natslocal: create the temp directory: %w", err)
	}
	s := &Server{dir: dir, logs: childproc.NewLogTail(opts.Log, logTailLines)}
	const maxAttempts = 3
	for attempt := 1; ; attempt++ {
		portTaken, err := s.start(ctx, binary, opts)
		if err == nil {
			return s, nil
		}
		if attempt == maxAttempts || !portTaken {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

// start makes one attempt on new ports.
func (s *Server) start(ctx context.Context, binary string, opts Options) (portTaken bool, err error) {
	if s.mqttPort, err = childproc.FreePort(); err != nil {
		return false, fmt.Errorf("natslocal: find a free port: %w", err)
	}
	if s.natsPort, err = childproc.FreePort(); err != nil {
		return false, fmt.Errorf("natslocal: find a free port: %w", err)
	}
	conf := filepath.Join(s.dir, "nats.conf")
	if err := os.WriteFile(conf, []byte(s.config(opts)), 0o600); err != nil {
		return false, fmt.Errorf("natslocal: write %s: %w", conf, err)
	}
	cmd := exec.Command(binary, "-c", conf)
	cmd.Dir = s.dir
	cmd.Stdout = s.logs
	cmd.Stderr = s.logs
	var sig syscall.Signal
	if opts.DieWithParent {
		sig = syscall.SIGTERM
	}
	s.logs.Mark()
	p, err := childproc.Start(cmd, sig)
	if err != nil {
		return false, fmt.Errorf("natslocal: start %s: %w", binary, err)
	}
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.mqttPort))
	for {
		d := net.Dialer{Timeout: time.Second}
		if c, err := d.DialContext(ctx, "tcp", addr); err == nil {
			c.Close()
			s.proc = p
			return false, nil
		}
		select {
		case <-p.Done():
			tail := s.logs.TailSinceMark()
			return strings.Contains(tail, "address already in use"),
				fmt.Errorf("natslocal: nats-server (MQTT port %d) exited during startup (%v); log:\n%s", s.mqttPort, p.Err(), tail)
		case <-ctx.Done():
			p.Kill()
			return false, fmt.Errorf("natslocal: nats-server (MQTT port %d) not listening in time: %w; log:\n%s", s.mqttPort, ctx.Err(), s.logs.TailSinceMark())
		case <-ticker.C:
		}
	}
}

// config returns the configuration file's contents.
func (s *Server) config(opts Options) string {
	var b strings.Builder
	b.WriteString("# Generated by natslocal.\n")
	fmt.Fprintf(&b, "server_name: natslocal_%d\n", s.mqttPort)
	fmt.Fprintf(&b, "listen: 127.0.0.1:%d\n", s.natsPort)
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n}\n", filepath.Join(s.dir, "jetstream"))
	fmt.Fprintf(&b, "mqtt {\n  listen: 127.0.0.1:%d\n", s.mqttPort)
	if opts.MQTT != "" {
		b.WriteString(strings.TrimSuffix(opts.MQTT, "\n") + "\n")
	}
	b.WriteString("}\n")
	if opts.Config != "" {
		b.WriteString(strings.TrimSuffix(opts.Config, "\n") + "\n")
	}
	return b.String()
}

// URL returns the MQTT listener's address, tcp://127.0.0.1:PORT.
func (s *Server) URL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", s.mqttPort) }

// Port returns the MQTT listener's port.
func (s *Server) Port() int { return s.mqttPort }

// NATSURL returns the NATS client listener's address, nats://127.0.0.1:PORT.
func (s *Server) NATSURL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.natsPort) }

// Stop sends SIGTERM, waits up to ctx, then kills the server, and removes
// the temp directory with its JetStream store. It returns an error if the
// server had to be killed or had exited before Stop. Later calls return
// nil.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	defer os.RemoveAll(s.dir)
	p := s.proc
	select {
	case <-p.Done():
		return fmt.Errorf("natslocal: nats-server (MQTT port %d) exited unexpectedly (%v); log:\n%s", s.mqttPort, p.Err(), s.logs.Tail())
	default:
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		p.Kill()
		return fmt.Errorf("natslocal: signal nats-server (pid %d): %w", p.Pid(), err)
	}
	select {
	case <-p.Done():
		return nil
	case <-ctx.Done():
		p.Kill()
		return fmt.Errorf("natslocal: nats-server (MQTT port %d) did not shut down in time and was killed: %w", s.mqttPort, ctx.Err())
	}
}
