package app_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/examples/dashboard/app"
	"github.com/taylordash/taylordash/internal/mosquittolocal"
	"github.com/taylordash/taylordash/internal/pglocal"
	"github.com/taylordash/taylordash/internal/testcerts"
	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

// TestEveryLinkOverTLS runs the whole dashboard with TLS on its three
// links, with certificates made by the test: HTTPS, PostgreSQL with
// verify-full against a cluster that refuses plaintext (hostssl), and
// MQTT over TLS to a broker that requires a client certificate. It is
// ready, a project created over HTTPS reaches a TLS subscriber of the
// broker and the mirror, and every database connection of the app is
// encrypted.
func TestEveryLinkOverTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	files := t.TempDir()
	ca := testcerts.NewCA(t, "dashboard test CA")
	caFile := ca.WriteFile(t, files)
	serverCert, serverKey := ca.Issue(t, "127.0.0.1", "localhost").WriteFiles(t, files, "server")
	appCert, appKey := ca.IssueClient(t, "dashboard").WriteFiles(t, files, "app-client")

	// Not t.TempDir: the server's OS user must reach the directory.
	dir, err := os.MkdirTemp("", "dashboard-tls-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	cluster, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, Fast: true, DieWithParent: true, TLS: &pglocal.TLS{
		CertFile: serverCert, KeyFile: serverKey, CAFile: caFile, Only: true,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop(context.Background()) })

	broker, err := mosquittolocal.Start(ctx, mosquittolocal.Options{DieWithParent: true, TLS: &mosquittolocal.TLS{
		CertFile: serverCert, KeyFile: serverKey, CAFile: caFile, RequireCertificate: true,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = broker.Stop(context.Background()) })

	var db *store.DB
	a := testkit.App(t, app.Modules(), fx.Populate(&db), testkit.Env(map[string]string{
		"TAYLORDASH_API_KEY":            apiKey,
		"TAYLORDASH_REQUIRE_TLS":        "true",
		"TAYLORDASH_HTTP_TLS_CERT_FILE": serverCert,
		"TAYLORDASH_HTTP_TLS_KEY_FILE":  serverKey,
		// No sslmode: the CA file makes it verify-full.
		"TAYLORDASH_DATABASE_URL":     strings.TrimSuffix(cluster.URL("postgres"), "?sslmode=disable"),
		"TAYLORDASH_DATABASE_CA_FILE": caFile,
		"TAYLORDASH_MQTT_URL":         broker.TLSURL(),
		"TAYLORDASH_MQTT_CA_FILE":     caFile,
		"TAYLORDASH_MQTT_CERT_FILE":   appCert,
		"TAYLORDASH_MQTT_KEY_FILE":    appKey,
	}))
	if !strings.HasPrefix(a.URL, "https://") {
		t.Fatalf("the app serves %s", a.URL)
	}
	a.Client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	t.Cleanup(a.Client.CloseIdleConnections)

	// Ready: the database and the broker are reached over TLS.
	// (The MQTT client connects in the background: wait for it.)
	for wait := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		status, ready := a.Readiness(t)
		if status == http.StatusOK && ready["database"] == "healthy" && ready["mqtt"] == "healthy" {
			break
		}
		if time.Now().After(wait) {
			t.Fatalf("readiness over HTTPS: %d %v", status, ready)
		}
	}

	// A subscriber of its own, over TLS with a client certificate.
	got := make(chan paho.Message, 10)
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(broker.TLSURL()).SetClientID("tls-observer").
		SetTLSConfig(&tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{ca.IssueClient(t, "observer").TLSCertificate(t)}}))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("observer: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	if tok := sub.Subscribe(a.Broker.Prefix+"tracker/events/#", 1, func(_ paho.Client, m paho.Message) { got <- m }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	resp, body := call(t, a, http.MethodPost, "/api/v1/projects", apiKey, bytes.NewBufferString(`{"name":"Over TLS"}`))
	if resp.StatusCode != http.StatusCreated || resp.TLS == nil {
		t.Fatalf("create a project over HTTPS: %d %s", resp.StatusCode, body)
	}
	var project struct{ ID string }
	if err := json.Unmarshal(body, &project); err != nil || project.ID == "" {
		t.Fatalf("project: %s", body)
	}

	// Through the broker.
	deadline := time.After(20 * time.Second)
	for found := false; !found; {
		select {
		case m := <-got:
			found = m.Topic() == a.Broker.Prefix+"tracker/events/projects/created" && strings.Contains(string(m.Payload()), project.ID)
		case <-deadline:
			t.Fatal("the project_created event did not reach the TLS subscriber")
		}
	}

	// In the mirror, listed over HTTPS.
	resp, body = call(t, a, http.MethodGet, "/api/v1/events?kind=project_created", apiKey, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), project.ID) {
		t.Fatalf("mirror: %d %s", resp.StatusCode, body)
	}

	// Every connection of the app's pool is encrypted (the server would
	// refuse a plaintext one anyway: hostssl only).
	var plain, encrypted int
	if err := db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE NOT s.ssl), count(*) FILTER (WHERE s.ssl)
		FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.client_addr IS NOT NULL`).Scan(&plain, &encrypted); err != nil {
		t.Fatal(err)
	}
	if plain != 0 || encrypted == 0 {
		t.Fatalf("database connections: %d plaintext, %d encrypted", plain, encrypted)
	}

	// Plain HTTP to the HTTPS port gets no answer worth the name.
	if resp, err := http.Get(strings.Replace(a.URL, "https://", "http://", 1) + "/health/live"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP served on the HTTPS port: %s", b)
		}
	}
}
