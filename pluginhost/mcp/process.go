package mcp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/taylordash/taylordash/internal/childproc"
)

// MaxStderrLine is the longest stderr line of a server that is logged
// whole; the rest of a longer line is dropped (and counted).
const MaxStderrLine = 4096

// stderrTailLines is how many stderr lines are kept for error messages.
const stderrTailLines = 20

// process is a running stdio server: the leader of its own process
// group, the parent's ends of its pipes, and the goroutine draining its
// stderr into the log.
type process struct {
	id      string
	proc    *childproc.Process
	stdin   *os.File // written by the session
	stdout  *os.File // read by the session
	stderr  *os.File // read by drain
	tail    *childproc.LogTail
	drained chan struct{}
}

// resolveCommand finds the program of a stdio server: a name without a
// slash is looked up in PATH; a relative path is taken from spec.Dir.
func resolveCommand(spec ServerSpec) (string, error) {
	path := spec.Command
	if strings.ContainsRune(path, '/') && !filepath.IsAbs(path) && spec.Dir != "" {
		path = filepath.Join(spec.Dir, path)
	}
	resolved, err := exec.LookPath(path)
	if err != nil {
		return "", &CommandNotFoundError{ServerID: spec.ID, Command: spec.Command, Err: err}
	}
	return resolved, nil
}

// childEnv is the environment of a stdio server: PATH, the host
// variables spec.EnvAllow names (those the host has), then spec.Env.
// Nothing else of the host's environment is passed.
func childEnv(spec ServerSpec, lookup func(string) (string, bool)) []string {
	vars := map[string]string{}
	for _, name := range append([]string{"PATH"}, spec.EnvAllow...) {
		if v, ok := lookup(name); ok {
			vars[name] = v
		}
	}
	maps.Copy(vars, spec.Env)
	env := make([]string, 0, len(vars))
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// startProcess starts a stdio server: its own process group, a parent
// death signal (SIGKILL: a crashed host leaves no server behind), the
// environment of [childEnv], its resource limits, and stderr drained
// line by line into log.
func startProcess(spec ServerSpec, log *slog.Logger) (*process, error) {
	path, err := resolveCommand(spec)
	if err != nil {
		return nil, err
	}
	if spec.Dir != "" {
		if fi, err := os.Stat(spec.Dir); err != nil || !fi.IsDir() {
			return nil, serverErr(spec.ID, ErrUpstream, "MCP server %s: working directory %q does not exist", spec.ID, spec.Dir)
		}
	}
	var files []*os.File // every end, closed on failure
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			files = append(files, r, w)
		}
		return r, w, err
	}
	inR, inW, err := pipe()
	if err != nil {
		return nil, fmt.Errorf("mcp: server %s: pipe: %w", spec.ID, err)
	}
	outR, outW, err := pipe()
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("mcp: server %s: pipe: %w", spec.ID, err)
	}
	errR, errW, err := pipe()
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("mcp: server %s: pipe: %w", spec.ID, err)
	}
	cmd := exec.Command(path, spec.Args...)
	cmd.Dir = spec.Dir
	cmd.Env = childEnv(spec, os.LookupEnv)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	p, err := childproc.Start(cmd, syscall.SIGKILL)
	if err != nil {
		closeAll()
		return nil, serverErr(spec.ID, fmt.Errorf("%w: %w", ErrUpstream, err), "MCP server %s: command %q could not be started", spec.ID, spec.Command)
	}
	// The child has its ends; the parent keeps only its own, so that EOF
	// comes when the server (and whatever it forked) is gone.
	inR.Close()
	outW.Close()
	errW.Close()
	pr := &process{id: spec.ID, proc: p, stdin: inW, stdout: outR, stderr: errR,
		tail: childproc.NewLogTail(nil, stderrTailLines), drained: make(chan struct{})}
	go pr.drain(log)
	if err := applyLimits(p.Pid(), spec.Limits); err != nil {
		pr.kill()
		return nil, serverErr(spec.ID, fmt.Errorf("%w: %w", ErrUpstream, err), "MCP server %s: resource limits could not be applied", spec.ID)
	}
	return pr, nil
}

// drain reads the server's stderr line by line into the log (at info,
// with the server id) and the tail, until every writer has closed it.
// Lines longer than MaxStderrLine are cut; their rest is dropped.
func (p *process) drain(log *slog.Logger) {
	defer close(p.drained)
	r := bufio.NewReaderSize(p.stderr, MaxStderrLine)
	dropping := false
	for {
		line, err := r.ReadSlice('\n')
		full := errors.Is(err, bufio.ErrBufferFull)
		if len(line) > 0 && !dropping {
			text := string(bytes.TrimRight(line, "\r\n"))
			attrs := []any{slog.String("mcp_server", p.id), slog.Int("pid", p.proc.Pid())}
			if full {
				attrs = append(attrs, slog.Bool("truncated", true))
			}
			log.Info("mcp server stderr: "+text, attrs...)
			_, _ = p.tail.Write([]byte(text + "\n"))
		}
		dropping = full
		if err != nil && !full {
			return
		}
	}
}

// pid returns the server's process id.
func (p *process) pid() int { return p.proc.Pid() }

// done is closed when the server process has exited.
func (p *process) done() <-chan struct{} { return p.proc.Done() }

// exitErr describes how the server exited, with its last stderr lines:
// "exited: exit status 3; stderr: ...".
func (p *process) exitErr() string {
	msg := "exited with status 0"
	if err := p.proc.Err(); err != nil {
		msg = "exited: " + err.Error()
	}
	if tail := p.tail.Tail(); tail != "(no output)" {
		msg += "; stderr: " + lastLines(tail, 10, 1000)
	}
	return msg
}

// lastLines joins the last n lines of s with " | ", cut to max bytes.
func lastLines(s string, n, max int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := strings.Join(lines, " | ")
	if len(out) > max {
		out = out[:max] + "…"
	}
	return out
}

// cleanExit reports whether the server exited with status 0.
func (p *process) cleanExit() bool {
	select {
	case <-p.proc.Done():
		return p.proc.Err() == nil
	default:
		return false
	}
}

// stop ends the server as the MCP specification asks for stdio: its
// stdin is closed (the caller closes the session first), then after
// grace the process group gets SIGTERM, and after grace again SIGKILL.
// It returns when the server has exited and its stderr is drained, and
// kills what is left of the group in any case (grandchildren).
func (p *process) stop(grace time.Duration) {
	p.stdin.Close()
	p.stdout.Close()
	select {
	case <-p.proc.Done():
	case <-time.After(grace):
		_ = syscall.Kill(-p.proc.Pid(), syscall.SIGTERM)
		select {
		case <-p.proc.Done():
		case <-time.After(grace):
		}
	}
	p.kill()
}

// kill sends SIGKILL to the process group, waits for the server to exit
// and for its stderr to be drained (closing the pipe when a process
// outside the group holds it open).
func (p *process) kill() {
	p.stdin.Close()
	p.stdout.Close()
	p.proc.Kill()
	waitGroupGone(p.proc.Pid(), time.Second)
	select {
	case <-p.drained:
	case <-time.After(2 * time.Second):
		p.stderr.Close()
		<-p.drained
	}
	p.stderr.Close()
}

// waitGroupGone waits until no process of the group pgid is left to
// signal, at most timeout (a zombie that nobody reaps stays signalable).
func waitGroupGone(pgid int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for syscall.Kill(-pgid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}
