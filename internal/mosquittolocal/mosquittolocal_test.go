package mosquittolocal

import (
	"bufio"
	"bytes"
	"context"
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

// syncBuffer is a goroutine-safe log sink whose content is printed when the
// test fails.
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

func testLog(t *testing.T) *syncBuffer {
	b := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("broker log:\n%s", b.String())
		}
	})
	return b
}

func startBroker(t *testing.T, opts Options) *Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	began := time.Now()
	b, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("Start took %v (%s)", time.Since(began).Round(time.Millisecond), b.URL())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Stop(ctx)
	})
	return b
}

// mqttString encodes s as an MQTT UTF-8 string (length-prefixed).
func mqttString(s string) []byte {
	return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...)
}

// packet returns an MQTT control packet with the given first byte and body
// (body shorter than 128 bytes, so the remaining length is one byte).
func packet(first byte, body ...[]byte) []byte {
	var b []byte
	for _, part := range body {
		b = append(b, part...)
	}
	if len(b) > 127 {
		panic("packet too long for this test encoder")
	}
	return append([]byte{first, byte(len(b))}, b...)
}

// mqttConnect dials the broker, sends an MQTT 3.1.1 CONNECT with clean
// session and checks the CONNACK.
func mqttConnect(t *testing.T, b *Broker, clientID string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(b.URL(), "tcp://"), 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", b.URL(), err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	connect := packet(0x10,
		mqttString("MQTT"),
		[]byte{0x04},       // protocol level 4 = MQTT 3.1.1
		[]byte{0x02},       // connect flags: clean session
		[]byte{0x00, 0x3c}, // keep alive 60 s
		mqttString(clientID),
	)
	if _, err := conn.Write(connect); err != nil {
		t.Fatalf("write CONNECT: %v", err)
	}
	expect(t, conn, "CONNACK", []byte{0x20, 0x02, 0x00, 0x00})
	return conn
}

// expect reads len(want) bytes from conn and compares them with want.
func expect(t *testing.T, conn net.Conn, what string, want []byte) {
	t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("read %s: %v", what, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s = % x, want % x", what, got, want)
	}
}

func TestFindBinary(t *testing.T) {
	got, err := FindBinary()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("FindBinary() = %s", got)

	// Not on PATH: falls back to /usr/sbin/mosquitto.
	if _, err := os.Stat(defaultBinary); err != nil {
		t.Skipf("no %s here", defaultBinary)
	}
	t.Setenv("PATH", "/nonexistent")
	if got, err := FindBinary(); err != nil || got != defaultBinary {
		t.Errorf("FindBinary() with empty PATH = %q, %v; want %s", got, err, defaultBinary)
	}
}

// TestStartRestartStop is not parallel, so that it can check that no
// goroutines are left behind.
func TestStartRestartStop(t *testing.T) {
	goroutinesBefore := runtime.NumGoroutine()
	ctx := context.Background()
	b := startBroker(t, Options{DieWithParent: true, Log: testLog(t)})
	if want := "tcp://127.0.0.1:" + strconv.Itoa(b.Port()); b.URL() != want {
		t.Errorf("URL() = %q, want %q", b.URL(), want)
	}
	c := mqttConnect(t, b, "mosquittolocal-test-1")
	c.Close()

	began := time.Now()
	if err := b.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	t.Logf("Restart took %v", time.Since(began).Round(time.Millisecond))
	c = mqttConnect(t, b, "mosquittolocal-test-2")
	c.Close()

	if err := b.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := b.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(b.confDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("config dir %s still exists after Stop (err %v)", b.confDir, err)
	}
	if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(b.URL(), "tcp://"), time.Second); err == nil {
		conn.Close()
		t.Errorf("port %d still accepts connections after Stop", b.Port())
	}
	if err := b.Restart(ctx); err == nil {
		t.Error("Restart after Stop succeeded")
	}
	checkGoroutines(t, goroutinesBefore)
}

// checkGoroutines fails if more than want goroutines remain.
func checkGoroutines(t *testing.T, want int) {
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

// TestPersistence checks that a retained message survives Restart when
// PersistenceDir is set (t.TempDir works even as root, see the package doc).
func TestPersistence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := startBroker(t, Options{
		PersistenceDir: t.TempDir(),
		Config:         "retain_available true",
		Log:            testLog(t),
	})

	pub := mqttConnect(t, b, "mosquittolocal-pub")
	// PUBLISH, QoS 0, retain.
	if _, err := pub.Write(packet(0x31, mqttString("mosquittolocal/retained"), []byte("kept"))); err != nil {
		t.Fatal(err)
	}
	// The broker handles a connection's packets in order, so once PINGRESP
	// arrives the retained message is stored.
	if _, err := pub.Write([]byte{0xc0, 0x00}); err != nil {
		t.Fatal(err)
	}
	expect(t, pub, "PINGRESP", []byte{0xd0, 0x00})
	pub.Close()

	if err := b.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}

	sub := mqttConnect(t, b, "mosquittolocal-sub")
	// SUBSCRIBE, packet id 1, QoS 0.
	if _, err := sub.Write(packet(0x82, []byte{0x00, 0x01}, mqttString("mosquittolocal/retained"), []byte{0x00})); err != nil {
		t.Fatal(err)
	}
	expect(t, sub, "SUBACK", []byte{0x90, 0x03, 0x00, 0x01, 0x00})
	expect(t, sub, "retained PUBLISH", packet(0x31, mqttString("mosquittolocal/retained"), []byte("kept")))

	if err := b.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func TestPortTaken(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	b, err := Start(context.Background(), Options{Port: port})
	if err == nil {
		b.Stop(context.Background())
		t.Fatal("Start on a taken port succeeded")
	}
	t.Logf("Start error: %v", err)
	if !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Errorf("error does not mention port %d: %v", port, err)
	}
}

func TestBadConfig(t *testing.T) {
	t.Parallel()
	_, err := Start(context.Background(), Options{Config: "no_such_option 1"})
	if err == nil {
		t.Fatal("Start with a bad config succeeded")
	}
	t.Logf("Start error: %v", err)
	if !strings.Contains(err.Error(), "no_such_option") {
		t.Errorf("error does not include the broker's log lines: %v", err)
	}
}

// helperEnv switches TestHelperProcess on.
const helperEnv = "MOSQUITTOLOCAL_TEST_HELPER"

// TestHelperProcess is not a real test: TestDieWithParent runs the test
// binary with it to get a process that starts a broker and then is killed.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("helper process for TestDieWithParent")
	}
	b, err := Start(context.Background(), Options{DieWithParent: true})
	if err != nil {
		fmt.Println("MOSQUITTOLOCAL_HELPER_ERROR", err)
		os.Exit(1)
	}
	fmt.Printf("MOSQUITTOLOCAL_HELPER_PID %d %s\n", b.proc.pid, b.confDir)
	time.Sleep(time.Minute)
	os.Exit(2)
}

func TestDieWithParent(t *testing.T) {
	t.Parallel()
	helper := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	helper.Env = append(os.Environ(), helperEnv+"=1")
	helper.Stderr = os.Stderr
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer helper.Process.Kill()

	pid := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if s, ok := strings.CutPrefix(line, "MOSQUITTOLOCAL_HELPER_PID "); ok {
			pidStr, confDir, _ := strings.Cut(s, " ")
			pid, _ = strconv.Atoi(pidStr)
			if strings.HasPrefix(confDir, os.TempDir()) {
				t.Cleanup(func() { os.RemoveAll(confDir) })
			}
			break
		}
		if strings.HasPrefix(line, "MOSQUITTOLOCAL_HELPER_ERROR") {
			t.Fatal(line)
		}
	}
	if pid == 0 {
		t.Fatalf("helper printed no broker pid (scan err %v)", sc.Err())
	}

	helper.Process.Signal(syscall.SIGKILL)
	helper.Wait()
	began := time.Now()
	deadline := began.Add(10 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("broker pid %d still running 10s after its parent died", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("broker exited %v after its parent was killed", time.Since(began).Round(time.Millisecond))
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
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
