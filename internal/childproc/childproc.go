// Package childproc holds what pglocal and mosquittolocal share to run a
// server binary as a direct child process: a log sink that keeps the last
// lines of the server's output for error messages (LogTail), a free TCP port
// on 127.0.0.1 to give the server (FreePort), and the started process itself
// (Process), in its own process group and, optionally, with a Linux parent
// death signal that really fires when the parent process dies.
package childproc

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// LogTail forwards a child's output to an optional writer and keeps its last
// lines in memory, for error messages. It is safe for concurrent use.
type LogTail struct {
	mu      sync.Mutex
	w       io.Writer
	max     int
	lines   []string
	partial []byte
	total   int // lines ever completed
	marked  int // total at the last Mark
}

// NewLogTail returns a LogTail that forwards to w (nil discards) and keeps the
// last maxLines complete lines, plus the unterminated line being written.
func NewLogTail(w io.Writer, maxLines int) *LogTail {
	return &LogTail{w: w, max: maxLines}
}

// Write implements io.Writer. It never fails, even when the forwarding writer
// does, so the child's output pipe is always drained.
func (l *LogTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w != nil {
		l.w.Write(p) // a failing log writer must not stall the child
	}
	rest := p
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			l.partial = append(l.partial, rest...)
			break
		}
		line := string(append(l.partial, rest[:i]...))
		l.partial = l.partial[:0]
		rest = rest[i+1:]
		l.lines = append(l.lines, line)
		l.total++
		if len(l.lines) > l.max {
			l.lines = l.lines[len(l.lines)-l.max:]
		}
	}
	return len(p), nil
}

// Mark remembers the current position, so that TailSinceMark reports only
// the output written after it (for example, of the current start attempt).
// It also drops an unterminated line left by an earlier child.
func (l *LogTail) Mark() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.marked = l.total
	l.partial = l.partial[:0]
}

// Tail returns the kept lines, joined by newlines and followed by the
// unterminated line if there is one, or "(no output)" when there are none.
func (l *LogTail) Tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.joinLocked(len(l.lines))
}

// TailSinceMark is like Tail but returns only the kept lines written since the
// last Mark.
func (l *LogTail) TailSinceMark() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.joinLocked(min(l.total-l.marked, len(l.lines)))
}

// joinLocked joins the last n kept lines and the partial line. The caller
// holds l.mu.
func (l *LogTail) joinLocked(n int) string {
	lines := l.lines[len(l.lines)-n:]
	if len(l.partial) > 0 {
		lines = append(lines[:len(lines):len(lines)], string(l.partial))
	}
	if len(lines) == 0 {
		return "(no output)"
	}
	return strings.Join(lines, "\n")
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another
// process may take it before the child binds it, so a caller should be ready
// to retry with another port. The error is net.Listen's.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitDelay is what Start sets cmd.WaitDelay to when it is 0: how long waiting
// for the child goes on after it has exited while some grandchild still holds
// its output pipes open.
const WaitDelay = 3 * time.Second

// Process is a child process started by Start. Its methods are safe for
// concurrent use.
type Process struct {
	proc *os.Process
	done chan struct{} // closed when the process has exited and been waited for
	err  error         // cmd.Wait's result; written before done is closed
}

// Start starts cmd as the leader of a new process group (so that Kill reaches
// everything it forks), merging that into cmd.SysProcAttr (other fields, such
// as Credential, are kept), and waits for it in a goroutine; Done is closed
// once it has exited. If cmd.WaitDelay is 0 it is set to WaitDelay.
//
// When deathSignal is not 0, the child receives it when the parent process
// dies (Linux Pdeathsig), so that a crashed parent leaves no server behind.
// Pdeathsig fires when the OS thread that forked the child exits, not the
// process (https://go.dev/issue/27505), so the child is forked from a
// goroutine locked to its OS thread, which keeps the lock until the child has
// exited; that thread therefore cannot be torn down by other code meanwhile.
func Start(cmd *exec.Cmd, deathSignal syscall.Signal) (*Process, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pgid = 0
	cmd.SysProcAttr.Pdeathsig = deathSignal
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = WaitDelay
	}

	p := &Process{done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			runtime.UnlockOSThread()
			started <- err
			return
		}
		p.proc = cmd.Process
		started <- nil
		p.err = cmd.Wait()
		runtime.UnlockOSThread()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// Pid returns the child's process id, which is also its process group id.
func (p *Process) Pid() int { return p.proc.Pid }

// Done returns a channel that is closed when the child has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err returns the child's exit error as reported by exec.Cmd.Wait (nil for
// exit status 0, an *exec.ExitError for another status or a signal) once Done
// is closed, and nil while the child is still running.
func (p *Process) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Signal sends sig to the child (not to the rest of its process group). A
// child that has already exited is not an error: Done is or will be closed.
func (p *Process) Signal(sig os.Signal) error {
	err := p.proc.Signal(sig)
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// Kill sends SIGKILL to the child's whole process group and waits until the
// child has exited. It may be called more than once, and after the child has
// exited, to reach what is left of its group.
func (p *Process) Kill() {
	syscall.Kill(-p.proc.Pid, syscall.SIGKILL)
	<-p.done
}
