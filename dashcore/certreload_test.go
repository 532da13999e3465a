package dashcore_test

import (
	"context"
	"crypto/tls"
	"math/big"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/internal/testcerts"
	"github.com/taylordash/taylordash/testkit"
)

// reloadSetup is a TLS server on certificate files in dir, its log, and
// the CA that signs its certificates.
type reloadSetup struct {
	srv  *dashcore.Server
	ca   *testcerts.CA
	dir  string
	logs *testkit.LogCapture
}

func startTLSServer(t *testing.T) (*reloadSetup, *testcerts.Pair) {
	t.Helper()
	s := &reloadSetup{ca: testcerts.NewCA(t, "reload CA"), dir: t.TempDir(), logs: &testkit.LogCapture{}}
	first := s.ca.Issue(t)
	certFile, keyFile := first.WriteFiles(t, s.dir, "server")
	h, _, err := dashcore.NewHandler(dashcore.HandlerOptions{Logger: s.logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	s.srv = dashcore.NewServer(dashcore.HTTPConfig{Addr: "127.0.0.1:0", TLSCertFile: certFile, TLSKeyFile: keyFile}, h, s.logs.Logger())
	if err := s.srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.srv.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s, first
}

// served returns the serial number of the certificate a new connection
// is served, verified against the CA.
func (s *reloadSetup) served(t *testing.T) *big.Int {
	t.Helper()
	conn, err := tls.Dial("tcp", s.srv.Addr().String(), &tls.Config{RootCAs: s.ca.Pool()})
	if err != nil {
		t.Fatalf("TLS connection: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber
}

// waitServed waits until new connections are served want.
func (s *reloadSetup) waitServed(t *testing.T, want *testcerts.Pair) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for s.served(t).Cmp(want.Cert.SerialNumber) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("certificate %x not served after 15s; log:\n%s", want.Cert.SerialNumber, s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLogged waits until the log holds n lines containing text.
func (s *reloadSetup) waitLogged(t *testing.T, text string, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		// Handshakes make the server look at its files.
		s.served(t)
		if strings.Count(s.logs.String(), text) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lines of %q not logged after 15s; log:\n%s", n, text, s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A renewed certificate written over the files is served to new
// connections without a restart, and the reload is logged with its
// serial number.
func TestRenewedCertificateIsServedWithoutRestart(t *testing.T) {
	s, first := startTLSServer(t)
	if got := s.served(t); got.Cmp(first.Cert.SerialNumber) != 0 {
		t.Fatalf("served %x, want %x", got, first.Cert.SerialNumber)
	}
	addr := s.srv.Addr().String()

	renewed := s.ca.Issue(t)
	renewed.WriteFiles(t, s.dir, "server")
	s.waitServed(t, renewed)
	if s.srv.Addr().String() != addr {
		t.Fatal("the server moved")
	}
	if !strings.Contains(s.logs.String(), `"msg":"HTTP TLS certificate reloaded"`) ||
		!strings.Contains(s.logs.String(), `"serial":"`+renewed.Cert.SerialNumber.Text(16)+`"`) {
		t.Errorf("the reload is not logged with the new serial:\n%s", s.logs.String())
	}

	// Requests are served with the renewed certificate.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.ca.Pool()}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(s.srv.URL() + "/health/live")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS.PeerCertificates[0].SerialNumber.Cmp(renewed.Cert.SerialNumber) != 0 {
		t.Fatalf("GET /health/live: %d, serial %x", resp.StatusCode, resp.TLS.PeerCertificates[0].SerialNumber)
	}
}

// Files that do not load (garbage, or a certificate written before its
// key) leave the previous certificate served, with one warning per
// change; the pair loads once both files are written.
func TestInvalidCertificateFilesKeepTheCurrentOne(t *testing.T) {
	s, first := startTLSServer(t)
	const warning = "HTTP TLS certificate files changed but do not load"

	if err := os.WriteFile(s.dir+"/server.pem", []byte("-----BEGIN CERTIFICATE-----\nnot base64\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.waitLogged(t, warning, 1)
	if got := s.served(t); got.Cmp(first.Cert.SerialNumber) != 0 {
		t.Fatalf("after garbage, served %x, want the first %x", got, first.Cert.SerialNumber)
	}
	// More handshakes over more than the check interval: still the first
	// certificate, and no second warning for the same change.
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if got := s.served(t); got.Cmp(first.Cert.SerialNumber) != 0 {
			t.Fatalf("served %x, want the first %x", got, first.Cert.SerialNumber)
		}
	}
	if n := strings.Count(s.logs.String(), warning); n != 1 {
		t.Errorf("%d warnings for one change, want 1:\n%s", n, s.logs.String())
	}

	// A renewal caught half-way: the new certificate with the old key.
	renewed := s.ca.Issue(t)
	if err := os.WriteFile(s.dir+"/server.pem", renewed.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	s.waitLogged(t, warning, 2)
	if got := s.served(t); got.Cmp(first.Cert.SerialNumber) != 0 {
		t.Fatalf("with a mismatched key, served %x, want the first %x", got, first.Cert.SerialNumber)
	}
	if !strings.Contains(s.logs.String(), "private key does not match public key") {
		t.Errorf("the warning does not say why:\n%s", s.logs.String())
	}
	if err := os.WriteFile(s.dir+"/server.key", renewed.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	s.waitServed(t, renewed)
}
