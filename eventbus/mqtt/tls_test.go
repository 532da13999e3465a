package mqtt_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/taylordash/taylordash/eventbus/mqtt"
	"github.com/taylordash/taylordash/internal/childproc"
)

// testCA is a certificate authority made for a test.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key for 127.0.0.1, signed by ca.
func (ca *testCA) issue(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// TLS: the client verifies the broker against CAFile; a broker signed by
// another authority is refused with an error that names the broker and the
// certificate problem.
func TestTLS(t *testing.T) {
	ca := newCA(t, "taylordash test CA")
	certPEM, keyPEM := ca.issue(t)
	port, err := childproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	// A second listener, with TLS: mosquittolocal generates the first.
	broker := privateBroker(t, fmt.Sprintf("listener %d 127.0.0.1\ncertfile %s\nkeyfile %s\n",
		port, writeFile(t, "server.pem", certPEM), writeFile(t, "server.key", keyPEM)), "")
	_ = broker
	ctx := testContext(t, 30*time.Second)
	caFile := writeFile(t, "ca.pem", ca.certPEM)
	for _, scheme := range []string{"ssl", "mqtts", "tls"} {
		url := fmt.Sprintf("%s://127.0.0.1:%d", scheme, port)
		c := startClient(t, mqtt.Config{URL: url, ClientID: uniqueID(t, scheme), CAFile: caFile, CleanSession: true})
		ch := subscribe(t, ctx, c, "tls/"+scheme)
		if err := c.Publish(ctx, "tls/"+scheme, []byte("secret")); err != nil {
			t.Fatal(err)
		}
		if m := receive(t, ch, 10*time.Second); string(m.Payload) != "secret" {
			t.Fatalf("%s: received %q", scheme, m.Payload)
		}
	}

	other := writeFile(t, "other-ca.pem", newCA(t, "another CA").certPEM)
	url := fmt.Sprintf("ssl://127.0.0.1:%d", port)
	c := newClient(t, mqtt.Config{URL: url, ClientID: uniqueID(t, "wrong-ca"), CAFile: other})
	err = failedAttempt(t, c)
	for _, want := range []string{fmt.Sprintf("127.0.0.1:%d", port), "certificate signed by unknown authority"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	t.Logf("wrong CA: %v", err)
}

// A broker that requires a password: the right one connects, a wrong one
// is reported as such.
func TestUsernamePassword(t *testing.T) {
	mosquittoPasswd, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd is not installed")
	}
	passwords := t.TempDir() + "/passwords"
	if out, err := exec.Command(mosquittoPasswd, "-b", "-c", passwords, "svc", "s3cret").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	broker := privateBroker(t, "allow_anonymous false\npassword_file "+passwords+"\n", "")
	ctx := testContext(t, 30*time.Second)
	c := startClient(t, mqtt.Config{URL: broker.URL(), ClientID: uniqueID(t, "ok"), Username: "svc", Password: "s3cret"})
	if err := c.Publish(ctx, "auth/x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]mqtt.Config{
		"wrong password": {Username: "svc", Password: "nope"},
		"anonymous":      {},
	} {
		cfg.URL, cfg.ClientID = broker.URL(), uniqueID(t, "bad")
		bad := newClient(t, cfg)
		err := failedAttempt(t, bad)
		t.Logf("%s: %v", name, err)
		if !strings.Contains(strings.ToLower(err.Error()), "not authorized") && !strings.Contains(err.Error(), "bad user name or password") {
			t.Errorf("%s: WaitConnected = %v, want a refusal", name, err)
		}
		if strings.Contains(fmt.Sprint(err), "nope") {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
	}
}

// failedAttempt waits until a connection attempt of c has failed and
// returns the error of Check; it fails the test if c connects.
func failedAttempt(t *testing.T, c *mqtt.Client) error {
	t.Helper()
	var err error
	waitFor(t, "a connection attempt fails", func() bool {
		err = c.Check(t.Context())
		return err != nil && !strings.Contains(err.Error(), "not connected yet")
	})
	if c.Connected() {
		t.Fatal("the client connected")
	}
	return err
}
