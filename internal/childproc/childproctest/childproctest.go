// Package childproctest holds test helpers shared by the tests of childproc
// and of the packages that run servers with it (pglocal, mosquittolocal): a
// log sink shown when a test fails, goroutine leak and process liveness
// checks, a taken port, and a harness that checks that a child started with a
// parent death signal dies with its parent.
package childproctest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a goroutine-safe bytes.Buffer.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Log returns a goroutine-safe writer for a child's output. What was written
// to it is logged under the heading "<what> log:" when t has failed.
func Log(t testing.TB, what string) io.Writer {
	b := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log:\n%s", what, b.String())
		}
	})
	return b
}

// CheckGoroutines fails t unless the number of goroutines drops to want or
// fewer within 2 seconds; the failure message holds all goroutines' stacks.
func CheckGoroutines(t testing.TB, want int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left, want %d:\n%s", runtime.NumGoroutine(), want, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Alive reports whether pid exists and is not a zombie. (An orphan's zombie
// may linger where the init process does not reap, as in some containers.)
func Alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// Format: pid (comm) state ...
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// TakenPort returns a TCP port on 127.0.0.1 on which a listener is open until
// the test ends.
func TakenPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// Lines printed by a helper process to StartParent.
const (
	childLine = "CHILDPROCTEST_CHILD "
	errorLine = "CHILDPROCTEST_ERROR "
)

// StartParent runs the current test binary's TestHelperProcess as a parent
// process, with env ("KEY=VALUE" entries, which that test uses to recognise
// that it is the helper) added to its environment. The helper starts a child
// that should die with it and calls ReportChild, or ReportError when it cannot
// start it. StartParent returns the running helper, which is killed when the
// test ends, and the child's pid and the info passed to ReportChild. It fails
// t if the helper reports an error or no child, or if the child is not alive.
func StartParent(t *testing.T, env ...string) (parent *exec.Cmd, childPID int, info string) {
	t.Helper()
	parent = exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	parent.Env = append(os.Environ(), env...)
	parent.Stderr = os.Stderr
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		parent.Process.Kill()
		parent.Wait()
	})

	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if s, ok := strings.CutPrefix(line, childLine); ok {
			pidStr, info, _ := strings.Cut(s, " ")
			pid, err := strconv.Atoi(pidStr)
			if err != nil || pid <= 0 {
				t.Fatalf("helper process: bad line %q", line)
			}
			if !Alive(pid) {
				t.Fatalf("child pid %d is not running", pid)
			}
			return parent, pid, info
		}
		if quoted, ok := strings.CutPrefix(line, errorLine); ok {
			msg, err := strconv.Unquote(quoted)
			if err != nil {
				msg = quoted
			}
			t.Fatalf("helper process: %s", msg)
		}
	}
	t.Fatalf("helper process reported no child (scan err %v)", sc.Err())
	return nil, 0, ""
}

// KillParent SIGKILLs parent, as returned by StartParent, and waits up to
// timeout for the child with pid childPID to be gone. If it is not, it
// SIGKILLs the child's process group and fails t.
func KillParent(t *testing.T, parent *exec.Cmd, childPID int, timeout time.Duration) {
	t.Helper()
	parent.Process.Signal(syscall.SIGKILL)
	parent.Wait()
	began := time.Now()
	for Alive(childPID) {
		if time.Since(began) > timeout {
			syscall.Kill(-childPID, syscall.SIGKILL)
			t.Fatalf("child pid %d still running %v after its parent died", childPID, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("child exited %v after its parent was killed", time.Since(began).Round(time.Millisecond))
}

// ReportChild is called by TestHelperProcess (see StartParent) once it has
// started the child: it tells StartParent the child's pid and info (which may
// hold spaces but no newline), then sleeps until the helper is killed.
func ReportChild(childPID int, info string) {
	fmt.Printf("%s%d %s\n", childLine, childPID, info)
	time.Sleep(time.Minute)
	os.Exit(2)
}

// ReportError is called by TestHelperProcess (see StartParent) when it could
// not start the child: it tells StartParent err and exits.
func ReportError(err error) {
	fmt.Printf("%s%s\n", errorLine, strconv.Quote(err.Error()))
	os.Exit(1)
}
