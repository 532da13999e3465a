// Package testcerts makes throwaway certificate authorities and
// certificates for tests that speak real TLS: nothing is committed, every
// key is generated when the test runs.
//
//	ca := testcerts.NewCA(t, "test CA")
//	server := ca.Issue(t, "127.0.0.1", "localhost")
//	certFile, keyFile := server.WriteFiles(t, dir, "server")
//	caFile := ca.WriteFile(t, dir)
//
// Keys are ECDSA P-256; certificates are valid from an hour ago for a
// day, with random 128-bit serial numbers, so that a renewed certificate
// is told apart from the one it replaces by its serial.
package testcerts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority made for a test.
type CA struct {
	// Cert is the CA's self-signed certificate.
	Cert *x509.Certificate
	// CertPEM is Cert, PEM-encoded.
	CertPEM []byte
	key     *ecdsa.PrivateKey
}

// Pair is a certificate and its private key, issued by a [CA].
type Pair struct {
	// Cert is the certificate.
	Cert *x509.Certificate
	// CertPEM is Cert, PEM-encoded.
	CertPEM []byte
	// KeyPEM is the private key, PEM-encoded (PKCS #8).
	KeyPEM []byte
}

// NewCA returns a new certificate authority whose subject's common name is
// name. It fails the test if a key cannot be generated.
func NewCA(tb testing.TB, name string) *CA {
	tb.Helper()
	key := newKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(tb),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"TaylorDash tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatalf("testcerts: create CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("testcerts: parse CA certificate: %v", err)
	}
	return &CA{Cert: cert, CertPEM: encode("CERTIFICATE", der), key: key}
}

// Issue returns a certificate for hosts (IP addresses or DNS names, the
// first also its common name), usable by servers and by clients. With no
// hosts it is for 127.0.0.1.
func (ca *CA) Issue(tb testing.TB, hosts ...string) *Pair {
	tb.Helper()
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1"}
	}
	tmpl := ca.template(tb, hosts[0])
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return ca.sign(tb, tmpl)
}

// IssueClient returns a client certificate whose common name is name (a
// user name, for servers that map certificates to users).
func (ca *CA) IssueClient(tb testing.TB, name string) *Pair {
	tb.Helper()
	tmpl := ca.template(tb, name)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return ca.sign(tb, tmpl)
}

func (ca *CA) template(tb testing.TB, commonName string) *x509.Certificate {
	tb.Helper()
	return &x509.Certificate{
		SerialNumber: newSerial(tb),
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"TaylorDash tests"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
}

func (ca *CA) sign(tb testing.TB, tmpl *x509.Certificate) *Pair {
	tb.Helper()
	key := newKey(tb)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatalf("testcerts: create certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("testcerts: parse certificate: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatalf("testcerts: encode key: %v", err)
	}
	return &Pair{Cert: cert, CertPEM: encode("CERTIFICATE", der), KeyPEM: encode("PRIVATE KEY", keyDER)}
}

// Pool returns a certificate pool trusting ca alone.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

// WriteFile writes the CA's certificate to dir/ca.pem (mode 0644) and
// returns the path.
func (ca *CA) WriteFile(tb testing.TB, dir string) string {
	tb.Helper()
	return write(tb, filepath.Join(dir, "ca.pem"), ca.CertPEM, 0o644)
}

// WriteFiles writes the certificate to dir/name.pem (mode 0644) and the
// key to dir/name.key (mode 0600), replacing what is there, and returns
// their paths.
func (p *Pair) WriteFiles(tb testing.TB, dir, name string) (certFile, keyFile string) {
	tb.Helper()
	certFile = write(tb, filepath.Join(dir, name+".pem"), p.CertPEM, 0o644)
	keyFile = write(tb, filepath.Join(dir, name+".key"), p.KeyPEM, 0o600)
	return certFile, keyFile
}

// TLSCertificate returns the pair as a tls.Certificate, for clients that
// present it.
func (p *Pair) TLSCertificate(tb testing.TB) tls.Certificate {
	tb.Helper()
	c, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
	if err != nil {
		tb.Fatalf("testcerts: key pair: %v", err)
	}
	return c
}

func write(tb testing.TB, path string, data []byte, mode os.FileMode) string {
	tb.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		tb.Fatalf("testcerts: %v", err)
	}
	// WriteFile keeps the mode of a file that exists.
	if err := os.Chmod(path, mode); err != nil {
		tb.Fatalf("testcerts: %v", err)
	}
	return path
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("testcerts: generate key: %v", err)
	}
	return key
}

func newSerial(tb testing.TB) *big.Int {
	tb.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		tb.Fatalf("testcerts: serial number: %v", err)
	}
	return n.Add(n, big.NewInt(1)) // never zero
}

func encode(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
