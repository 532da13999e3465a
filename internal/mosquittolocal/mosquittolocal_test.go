package mosquittolocal

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taylordash/taylordash/internal/childproc/childproctest"
	"github.com/taylordash/taylordash/internal/testcerts"
)

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
	b := startBroker(t, Options{DieWithParent: true, Log: childproctest.Log(t, "broker")})
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
	childproctest.CheckGoroutines(t, goroutinesBefore)
}

// TestPersistence checks that a retained message survives Restart when
// PersistenceDir is set (t.TempDir works even as root, see the package doc).
func TestPersistence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := startBroker(t, Options{
		PersistenceDir: t.TempDir(),
		Config:         "retain_available true",
		Log:            childproctest.Log(t, "broker"),
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
	port := childproctest.TakenPort(t)
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
		childproctest.ReportError(err)
	}
	childproctest.ReportChild(b.proc.Pid(), b.confDir)
}

func TestDieWithParent(t *testing.T) {
	t.Parallel()
	parent, pid, confDir := childproctest.StartParent(t, helperEnv+"=1")
	// The killed helper cannot remove its config dir.
	if strings.HasPrefix(confDir, os.TempDir()) {
		t.Cleanup(func() { os.RemoveAll(confDir) })
	}
	childproctest.KillParent(t, parent, pid, 10*time.Second)
}

// The TLS listener serves the given certificate, and with
// RequireCertificate refuses clients without one; the plain listener
// keeps working.
func TestTLSListener(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "mosquittolocal test CA")
	server := ca.Issue(t)
	certFile, keyFile := server.WriteFiles(t, dir, "server")
	b := startBroker(t, Options{DieWithParent: true, TLS: &TLS{
		CertFile: certFile, KeyFile: keyFile, CAFile: ca.WriteFile(t, dir), RequireCertificate: true,
	}})
	if want := "ssl://127.0.0.1:" + strconv.Itoa(b.TLSPort()); b.TLSURL() != want || b.TLSPort() == b.Port() {
		t.Fatalf("TLSURL() = %q, want %q", b.TLSURL(), want)
	}
	addr := strings.TrimPrefix(b.TLSURL(), "ssl://")
	connect := packet(0x10, mqttString("MQTT"), []byte{0x04}, []byte{0x02}, []byte{0x00, 0x3c}, mqttString("tls-client"))

	client := ca.IssueClient(t, "tls-client").TLSCertificate(t)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{client}})
	if err != nil {
		t.Fatalf("TLS dial with a client certificate: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(connect); err != nil {
		t.Fatal(err)
	}
	expect(t, conn, "CONNACK over TLS", []byte{0x20, 0x02, 0x00, 0x00})
	if got := conn.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(server.Cert.SerialNumber) != 0 {
		t.Errorf("the broker serves certificate %x, want %x", got, server.Cert.SerialNumber)
	}

	// Without a client certificate: refused, at the handshake or, with
	// TLS 1.3, at the first read.
	anon, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: ca.Pool()})
	if err == nil {
		defer anon.Close()
		anon.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = anon.Write(connect)
		if _, err = io.ReadFull(anon, make([]byte, 4)); err == nil {
			t.Fatal("a client without a certificate got a CONNACK")
		}
	}
	t.Logf("without a client certificate: %v", err)

	mqttConnect(t, b, "plain-client")

	if _, err := Start(context.Background(), Options{TLS: &TLS{CertFile: certFile}}); err == nil {
		t.Error("Start with a TLS certificate and no key succeeded")
	}
}
