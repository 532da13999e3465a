package mqtt_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus/mqtt"
	"github.com/taylordash/taylordash/internal/mosquittolocal"
	"github.com/taylordash/taylordash/internal/testcerts"
	"github.com/taylordash/taylordash/testkit"
)

// tlsBroker starts a private Mosquitto with a TLS listener using a
// certificate for 127.0.0.1 from ca (client certificates of ca required
// when requireCert), and returns it with the CA file.
func tlsBroker(t *testing.T, ca *testcerts.CA, requireCert bool) (*mosquittolocal.Broker, string) {
	t.Helper()
	dir := t.TempDir()
	caFile := ca.WriteFile(t, dir)
	certFile, keyFile := ca.Issue(t, "127.0.0.1", "localhost").WriteFiles(t, dir, "server")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := mosquittolocal.Start(ctx, mosquittolocal.Options{DieWithParent: true, TLS: &mosquittolocal.TLS{
		CertFile: certFile, KeyFile: keyFile, CAFile: caFile, RequireCertificate: requireCert,
	}})
	if err != nil {
		t.Fatalf("start a private mosquitto (the mosquitto package is needed for this test): %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Stop(ctx); err != nil {
			t.Logf("stop mosquitto: %v", err)
		}
	})
	return b, caFile
}

// TLS: the client verifies the broker against CAFile; a broker signed by
// another authority is refused with an error that names the broker and the
// certificate problem.
func TestTLS(t *testing.T) {
	ca := testcerts.NewCA(t, "taylordash test CA")
	broker, caFile := tlsBroker(t, ca, false)
	port := broker.TLSPort()
	ctx := testContext(t, 30*time.Second)
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

	other := testcerts.NewCA(t, "another CA").WriteFile(t, t.TempDir())
	url := fmt.Sprintf("ssl://127.0.0.1:%d", port)
	var logs testkit.LogCapture
	c, err := mqtt.New(mqtt.Config{URL: url, ClientID: uniqueID(t, "wrong-ca"), CAFile: other, ConnectTimeout: 5 * time.Second, MaxReconnectInterval: time.Second}, logs.Logger())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	err = failedAttempt(t, c)
	for _, want := range []string{fmt.Sprintf("127.0.0.1:%d", port), "certificate signed by unknown authority"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	t.Logf("wrong CA: %v", err)
	// The log says what to check.
	waitFor(t, "the failed attempt is logged", func() bool {
		return strings.Contains(logs.String(), "check that TAYLORDASH_MQTT_CA_FILE holds the CA that signed it")
	})
}

// A broker that requires client certificates: CertFile and KeyFile
// connect; without them the broker refuses.
func TestTLSClientCertificate(t *testing.T) {
	ca := testcerts.NewCA(t, "taylordash test CA")
	broker, caFile := tlsBroker(t, ca, true)
	certFile, keyFile := ca.IssueClient(t, "svc").WriteFiles(t, t.TempDir(), "client")
	ctx := testContext(t, 30*time.Second)
	c := startClient(t, mqtt.Config{URL: broker.TLSURL(), ClientID: uniqueID(t, "cert"), CAFile: caFile, CertFile: certFile, KeyFile: keyFile, CleanSession: true})
	ch := subscribe(t, ctx, c, "tls/cert")
	if err := c.Publish(ctx, "tls/cert", []byte("signed")); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, ch, 10*time.Second); string(m.Payload) != "signed" {
		t.Fatalf("received %q", m.Payload)
	}

	var logs testkit.LogCapture
	anon, err := mqtt.New(mqtt.Config{URL: broker.TLSURL(), ClientID: uniqueID(t, "anon"), CAFile: caFile, ConnectTimeout: 5 * time.Second, MaxReconnectInterval: time.Second}, logs.Logger())
	if err != nil {
		t.Fatal(err)
	}
	if err := anon.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer anon.Stop(context.Background())
	err = failedAttempt(t, anon)
	waitFor(t, "the failed attempt is logged", func() bool {
		return strings.Contains(logs.String(), "check TAYLORDASH_MQTT_CERT_FILE and TAYLORDASH_MQTT_KEY_FILE")
	})
	t.Logf("without a client certificate: %v", err)
	if !strings.Contains(err.Error(), strings.TrimPrefix(broker.TLSURL(), "ssl://")) {
		t.Errorf("the error does not name the broker: %v", err)
	}
}

// The module checks the broker link with the TLS policy: a plaintext URL
// to another machine is warned about, and refused with
// TAYLORDASH_REQUIRE_TLS, naming the setting and the broker but not the
// password; TLS or loopback pass.
func TestModuleTLSPolicy(t *testing.T) {
	build := func(logs *testkit.LogCapture, env map[string]string) *fx.App {
		env["TAYLORDASH_HTTP_ADDR"] = "127.0.0.1:0"
		return fx.New(dashcore.Module, mqtt.Module, dashcore.WithEnv(env), fx.NopLogger,
			fx.Decorate(func() *slog.Logger { return logs.Logger() }))
	}
	const plaintext = "tcp://svc:s3cret-pw@broker.example.com:1883"

	var logs testkit.LogCapture
	if err := build(&logs, map[string]string{"TAYLORDASH_MQTT_URL": plaintext}).Err(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"link":"MQTT broker","address":"broker.example.com:1883","transport":"plaintext","setting":"TAYLORDASH_MQTT_URL"`) {
		t.Errorf("no warning about the plaintext broker:\n%s", logs.String())
	}

	err := build(&testkit.LogCapture{}, map[string]string{"TAYLORDASH_MQTT_URL": plaintext, "TAYLORDASH_REQUIRE_TLS": "true"}).Err()
	var le *dashcore.InsecureLinkError
	if !errors.As(err, &le) {
		t.Fatalf("the app requiring TLS with a plaintext broker: %v", err)
	}
	for _, want := range []string{"TAYLORDASH_REQUIRE_TLS", "TAYLORDASH_MQTT_URL", "broker.example.com:1883", "ssl://"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error()+logs.String(), "s3cret-pw") {
		t.Errorf("the password shows: %v", err)
	}

	for _, url := range []string{"ssl://broker.example.com:8883", "tcp://127.0.0.1:1883", "mqtt://localhost"} {
		var quiet testkit.LogCapture
		if err := build(&quiet, map[string]string{"TAYLORDASH_MQTT_URL": url, "TAYLORDASH_REQUIRE_TLS": "true"}).Err(); err != nil {
			t.Errorf("%s: %v", url, err)
		}
		if strings.Contains(quiet.String(), "non-loopback") {
			t.Errorf("%s: a warning:\n%s", url, quiet.String())
		}
	}
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
