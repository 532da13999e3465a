package testcerts_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"

	"github.com/taylordash/taylordash/internal/testcerts"
)

func TestIssuedCertificatesVerify(t *testing.T) {
	ca := testcerts.NewCA(t, "test CA")
	server := ca.Issue(t, "127.0.0.1", "localhost")
	for _, host := range []string{"127.0.0.1", "localhost"} {
		if _, err := server.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: host}); err != nil {
			t.Errorf("server certificate for %s: %v", host, err)
		}
	}
	if _, err := server.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "example.com"}); err == nil {
		t.Error("the server certificate verifies for a host it does not name")
	}
	client := ca.IssueClient(t, "svc")
	if _, err := client.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	other := testcerts.NewCA(t, "other CA")
	if _, err := server.Cert.Verify(x509.VerifyOptions{Roots: other.Pool()}); err == nil {
		t.Error("a certificate verifies against another CA")
	}
	if again := ca.Issue(t); again.Cert.SerialNumber.Cmp(server.Cert.SerialNumber) == 0 {
		t.Error("two certificates share a serial number")
	}
}

// The written files make a working TLS connection, with a client
// certificate.
func TestFilesMakeATLSConnection(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "test CA")
	caFile := ca.WriteFile(t, dir)
	certFile, keyFile := ca.Issue(t).WriteFiles(t, dir, "server")
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi.Mode(), err)
	}
	serverCert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    roots,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			err = c.(*tls.Conn).Handshake()
			c.Close()
		}
		done <- err
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		RootCAs:      roots,
		Certificates: []tls.Certificate{ca.IssueClient(t, "svc").TLSCertificate(t)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := <-done; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
}
