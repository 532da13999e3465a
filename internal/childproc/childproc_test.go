package childproc_test

import (
	"bytes"
	"errors"
	"fmt"
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

	"github.com/taylordash/taylordash/internal/childproc"
	"github.com/taylordash/taylordash/internal/childproc/childproctest"
)

func TestLogTail(t *testing.T) {
	var fwd bytes.Buffer
	l := childproc.NewLogTail(&fwd, 3)
	if got := l.Tail(); got != "(no output)" {
		t.Errorf("empty Tail() = %q, want (no output)", got)
	}

	// A line split across writes, several lines in one write, and an
	// unterminated last line.
	var all string
	for _, s := range []string{"one\ntw", "o\n", "three\nfour\nfi"} {
		if n, err := l.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
		all += s
	}
	if fwd.String() != all {
		t.Errorf("forwarded %q, want %q", fwd.String(), all)
	}
	// Only the last 3 complete lines are kept, plus the partial one.
	if got, want := l.Tail(), "two\nthree\nfour\nfi"; got != want {
		t.Errorf("Tail() = %q, want %q", got, want)
	}

	l.Write([]byte("ve\nsix\n"))
	if got, want := l.Tail(), "four\nfive\nsix"; got != want {
		t.Errorf("Tail() = %q, want %q", got, want)
	}
}

func TestLogTailMark(t *testing.T) {
	l := childproc.NewLogTail(nil, 3)
	l.Write([]byte("old 1\nold 2\nold partial"))
	l.Mark() // drops the partial line of the earlier child
	if got, want := l.TailSinceMark(), "(no output)"; got != want {
		t.Errorf("TailSinceMark() right after Mark = %q, want %q", got, want)
	}
	if got, want := l.Tail(), "old 1\nold 2"; got != want {
		t.Errorf("Tail() after Mark = %q, want %q", got, want)
	}

	l.Write([]byte("new 1\nnew"))
	if got, want := l.TailSinceMark(), "new 1\nnew"; got != want {
		t.Errorf("TailSinceMark() = %q, want %q", got, want)
	}
	if got, want := l.Tail(), "old 1\nold 2\nnew 1\nnew"; got != want {
		t.Errorf("Tail() = %q, want %q", got, want)
	}

	// More lines since the mark than are kept: only the kept ones.
	l.Write([]byte(" 2\nnew 3\nnew 4\n"))
	if got, want := l.TailSinceMark(), "new 2\nnew 3\nnew 4"; got != want {
		t.Errorf("TailSinceMark() = %q, want %q", got, want)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken") }

func TestLogTailFailingWriter(t *testing.T) {
	l := childproc.NewLogTail(failingWriter{}, 10)
	if n, err := l.Write([]byte("still kept\n")); n != 11 || err != nil {
		t.Fatalf("Write = %d, %v; want 11, nil", n, err)
	}
	if got := l.Tail(); got != "still kept" {
		t.Errorf("Tail() = %q", got)
	}
}

func TestLogTailConcurrent(t *testing.T) {
	l := childproc.NewLogTail(nil, 1000)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				fmt.Fprintf(l, "writer %d line %d\n", i, j)
				l.TailSinceMark()
			}
		}()
	}
	wg.Wait()
	if got := strings.Count(l.Tail(), "\n") + 1; got != 400 {
		t.Errorf("Tail() has %d lines, want 400", got)
	}
}

func TestFreePort(t *testing.T) {
	port, err := childproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if port <= 0 || port > 65535 {
		t.Fatalf("FreePort() = %d", port)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("listening on the free port %d: %v", port, err)
	}
	l.Close()
}

// start starts cmd with childproc.Start and kills it when the test ends.
func start(t *testing.T, cmd *exec.Cmd, deathSignal syscall.Signal) *childproc.Process {
	t.Helper()
	p, err := childproc.Start(cmd, deathSignal)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(p.Kill)
	return p
}

// waitDone waits up to 10s for p to exit.
func waitDone(t *testing.T, p *childproc.Process) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("pid %d has not exited after 10s", p.Pid())
	}
}

// TestProcessKill is not parallel, so that it can check that no goroutines
// are left behind.
func TestProcessKill(t *testing.T) {
	goroutinesBefore := runtime.NumGoroutine()
	cmd := exec.Command("sleep", "30")
	p := start(t, cmd, 0)
	if cmd.SysProcAttr.Pdeathsig != 0 {
		t.Errorf("Pdeathsig = %v, want none", cmd.SysProcAttr.Pdeathsig)
	}
	if cmd.WaitDelay != childproc.WaitDelay {
		t.Errorf("WaitDelay = %v, want %v", cmd.WaitDelay, childproc.WaitDelay)
	}
	if pgid, err := syscall.Getpgid(p.Pid()); err != nil || pgid != p.Pid() {
		t.Errorf("Getpgid(%d) = %d, %v; want its own group", p.Pid(), pgid, err)
	}
	select {
	case <-p.Done():
		t.Fatalf("Done closed while sleep runs (Err %v)", p.Err())
	case <-time.After(50 * time.Millisecond):
	}
	if err := p.Err(); err != nil {
		t.Errorf("Err() while running = %v, want nil", err)
	}

	p.Kill()
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after Kill returned")
	}
	var exitErr *exec.ExitError
	if err := p.Err(); !errors.As(err, &exitErr) || exitErr.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("Err() after Kill = %v, want killed by SIGKILL", err)
	}
	p.Kill() // again: no effect, does not block
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("Signal after exit = %v, want nil", err)
	}
	childproctest.CheckGoroutines(t, goroutinesBefore)
}

func TestProcessKillGroup(t *testing.T) {
	t.Parallel()
	out := childproc.NewLogTail(nil, 10)
	cmd := exec.Command("sh", "-c", "sleep 30 & echo $!; wait")
	cmd.Stdout = out
	p := start(t, cmd, 0)

	// The shell prints the pid of its own child, sleep.
	grandchild := 0
	for deadline := time.Now().Add(10 * time.Second); grandchild == 0; {
		if n, err := strconv.Atoi(strings.TrimSpace(out.Tail())); err == nil {
			grandchild = n
		} else if time.Now().After(deadline) {
			t.Fatalf("no pid from the shell; output %q", out.Tail())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !childproctest.Alive(grandchild) {
		t.Fatalf("grandchild pid %d not running", grandchild)
	}

	p.Kill()
	for deadline := time.Now().Add(5 * time.Second); childproctest.Alive(grandchild); {
		if time.Now().After(deadline) {
			syscall.Kill(grandchild, syscall.SIGKILL)
			t.Fatalf("grandchild pid %d still running after Kill", grandchild)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestProcessExits(t *testing.T) {
	t.Parallel()
	out := childproc.NewLogTail(nil, 10)
	cmd := exec.Command("sh", "-c", "echo bye; exit 3")
	cmd.Stdout = out
	p := start(t, cmd, syscall.SIGTERM)
	waitDone(t, p)
	var exitErr *exec.ExitError
	if err := p.Err(); !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 {
		t.Errorf("Err() = %v, want exit status 3", err)
	}
	// Done is closed only after the output has been copied.
	if got := out.Tail(); got != "bye" {
		t.Errorf("output = %q, want bye", got)
	}

	ok := start(t, exec.Command("true"), 0)
	waitDone(t, ok)
	if err := ok.Err(); err != nil {
		t.Errorf("Err() for true = %v, want nil", err)
	}
}

func TestProcessSignal(t *testing.T) {
	t.Parallel()
	p := start(t, exec.Command("sleep", "30"), 0)
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("Signal: %v", err)
	}
	waitDone(t, p)
	if err := p.Err(); err == nil || !strings.Contains(err.Error(), "terminated") {
		t.Errorf("Err() = %v, want terminated by SIGTERM", err)
	}
}

func TestStartKeepsSettings(t *testing.T) {
	t.Parallel()
	cred := &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid()), NoSetGroups: true}
	attr := &syscall.SysProcAttr{Credential: cred}
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = attr
	cmd.WaitDelay = time.Second
	start(t, cmd, syscall.SIGTERM)
	if cmd.SysProcAttr != attr || attr.Credential != cred {
		t.Errorf("SysProcAttr replaced: %+v", cmd.SysProcAttr)
	}
	if !attr.Setpgid || attr.Pdeathsig != syscall.SIGTERM {
		t.Errorf("Setpgid = %v, Pdeathsig = %v; want true, SIGTERM", attr.Setpgid, attr.Pdeathsig)
	}
	if cmd.WaitDelay != time.Second {
		t.Errorf("WaitDelay = %v, want the caller's 1s", cmd.WaitDelay)
	}
}

func TestStartError(t *testing.T) {
	t.Parallel()
	p, err := childproc.Start(exec.Command("/nonexistent/server"), syscall.SIGTERM)
	if err == nil {
		p.Kill()
		t.Fatal("Start of a missing binary succeeded")
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want ErrNotExist", err)
	}
}

// helperEnv switches TestHelperProcess on.
const helperEnv = "CHILDPROC_TEST_HELPER"

// TestHelperProcess is not a real test: TestDieWithParent runs the test
// binary with it to get a process that starts `sleep 30` and then is killed.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("helper process for TestDieWithParent")
	}
	p, err := childproc.Start(exec.Command("sleep", "30"), syscall.SIGTERM)
	if err != nil {
		childproctest.ReportError(err)
	}
	// OS threads of this process that exit (a goroutine that ends while
	// locked to its thread takes the thread with it) must not kill the child:
	// only the death of the process must. (This cannot reliably catch a Start
	// that does not lock its thread, whose thread is then usually still busy
	// waiting for the child, but it checks the behaviour Start promises.)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
		}()
	}
	wg.Wait()
	select {
	case <-p.Done():
		childproctest.ReportError(fmt.Errorf("child died when threads of its parent exited: %v", p.Err()))
	case <-time.After(100 * time.Millisecond):
	}
	childproctest.ReportChild(p.Pid(), "")
}

func TestDieWithParent(t *testing.T) {
	t.Parallel()
	parent, pid, _ := childproctest.StartParent(t, helperEnv+"=1")
	childproctest.KillParent(t, parent, pid, 10*time.Second)
}
