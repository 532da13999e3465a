package store_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/internal/pglocal"
	"github.com/taylordash/taylordash/internal/testcerts"
	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

// tlsServer is a private PostgreSQL cluster speaking TLS with a
// certificate of a CA made for the test.
type tlsServer struct {
	cluster *pglocal.Cluster
	ca      *testcerts.CA
	caFile  string
	files   string // where the test's certificate files are
}

// startTLSServer starts a cluster with ssl=on that refuses plaintext TCP,
// with a certificate for hosts (127.0.0.1 and localhost if none); with
// clientCert, it also requires a client certificate of the CA.
func startTLSServer(t *testing.T, clientCert bool, hosts ...string) *tlsServer {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1", "localhost"}
	}
	s := &tlsServer{ca: testcerts.NewCA(t, "store test CA"), files: t.TempDir()}
	s.caFile = s.ca.WriteFile(t, s.files)
	certFile, keyFile := s.ca.Issue(t, hosts...).WriteFiles(t, s.files, "server")
	// Not t.TempDir: the server's OS user must reach the data directory.
	dir, err := os.MkdirTemp("", "store-tls-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.cluster, err = pglocal.Start(ctx, pglocal.Options{Dir: dir, Fast: true, DieWithParent: true, TLS: &pglocal.TLS{
		CertFile: certFile, KeyFile: keyFile, CAFile: s.caFile, Only: true, ClientCert: clientCert,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.cluster.Stop(context.Background()) })
	return s
}

// hostPort is the server's address as errors name it.
func (s *tlsServer) hostPort() string { return fmt.Sprintf("127.0.0.1:%d", s.cluster.Port()) }

// assertTLS fails unless db's connection is encrypted.
func assertTLS(t *testing.T, db *store.DB) {
	t.Helper()
	var ssl bool
	if err := db.QueryRow(testContext(t), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil {
		t.Fatal(err)
	}
	if !ssl {
		t.Fatal("the connection is not encrypted")
	}
}

// The root CA in the URL (sslrootcert) or in CAFile, with a URL or a
// keyword/value DSN: each connects with verify-full to a server that
// refuses plaintext.
func TestConnectsWithVerifyFull(t *testing.T) {
	s := startTLSServer(t, false)
	port := s.cluster.Port()
	for name, cfg := range map[string]store.Config{
		"URL parameters":           {URL: s.cluster.TLSURL("postgres", s.caFile)},
		"CAFile":                   {URL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres", port), CAFile: s.caFile},
		"CAFile with verify-full":  {URL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=verify-full", port), CAFile: s.caFile},
		"CAFile winning over URL":  {URL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=verify-full&sslrootcert=/nowhere.pem", port), CAFile: s.caFile},
		"CAFile with a DSN":        {URL: fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres", port), CAFile: s.caFile},
		"CAFile with a quoted DSN": {URL: fmt.Sprintf("host='127.0.0.1' port=%d user=postgres dbname='postgres' sslmode='verify-full'", port), CAFile: s.caFile},
	} {
		t.Run(name, func(t *testing.T) {
			cfg.MinConns = -1
			for _, e := range cfg.Endpoints() {
				if e.Transport != dashcore.TLSVerified {
					t.Errorf("endpoint %+v is not verified TLS", e)
				}
			}
			assertTLS(t, openDB(t, cfg))
		})
	}
}

// A server certificate from another CA is refused at once (no retries
// until StartupTimeout), with an error naming the endpoint and what to
// check, and never the password.
func TestWrongCAIsRefusedNamingTheEndpoint(t *testing.T) {
	s := startTLSServer(t, false)
	other := testcerts.NewCA(t, "another CA").WriteFile(t, t.TempDir())
	for name, cfg := range map[string]store.Config{
		"CAFile":    {URL: fmt.Sprintf("postgres://postgres:s3cret-pw@127.0.0.1:%d/postgres", s.cluster.Port()), CAFile: other},
		"URL":       {URL: fmt.Sprintf("postgres://postgres:s3cret-pw@127.0.0.1:%d/postgres?sslmode=verify-full&sslrootcert=%s", s.cluster.Port(), other)},
		"verify-ca": {URL: fmt.Sprintf("postgres://postgres:s3cret-pw@127.0.0.1:%d/postgres?sslmode=verify-ca", s.cluster.Port()), CAFile: other},
	} {
		t.Run(name, func(t *testing.T) {
			cfg.StartupTimeout = 30 * time.Second
			start := time.Now()
			db, err := store.Open(testContext(t), cfg)
			if err == nil {
				db.Close()
				t.Fatal("connected to a server signed by another CA")
			}
			t.Logf("%v", err)
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("the refusal took %v: it was retried", took)
			}
			for _, want := range []string{s.hostPort(), "certificate signed by unknown authority", "TAYLORDASH_DATABASE_CA_FILE"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error does not say %q: %v", want, err)
				}
			}
			if strings.Contains(err.Error(), "s3cret-pw") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// A certificate that does not name the host is refused with verify-full,
// and the error says so; verify-ca does not check the name.
func TestWrongHostIsRefused(t *testing.T) {
	s := startTLSServer(t, false, "db.example.com")
	db, err := store.Open(testContext(t), store.Config{URL: s.cluster.TLSURL("postgres", s.caFile)})
	if err == nil {
		db.Close()
		t.Fatal("connected to a server whose certificate names another host")
	}
	t.Logf("%v", err)
	for _, want := range []string{s.hostPort(), "does not name the host"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	assertTLS(t, openDB(t, store.Config{URL: strings.Replace(s.cluster.TLSURL("postgres", s.caFile), "verify-full", "verify-ca", 1), MinConns: -1}))
}

// Plaintext to a server that accepts only TLS is refused at once, and the
// error says to turn TLS on.
func TestPlaintextIsRefusedByAHostSSLServer(t *testing.T) {
	s := startTLSServer(t, false)
	start := time.Now()
	db, err := store.Open(testContext(t), store.Config{URL: s.cluster.URL("postgres"), StartupTimeout: 30 * time.Second})
	if err == nil {
		db.Close()
		t.Fatal("a plaintext connection was accepted")
	}
	t.Logf("%v", err)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the refusal took %v: it was retried", took)
	}
	for _, want := range []string{s.hostPort(), "no encryption", "sslmode=verify-full"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
}

// A server requiring client certificates: CertFile and KeyFile (or the
// URL's sslcert and sslkey) connect; without them the server refuses.
func TestClientCertificate(t *testing.T) {
	s := startTLSServer(t, true)
	certFile, keyFile := s.ca.IssueClient(t, "postgres").WriteFiles(t, s.files, "client")
	base := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres", s.cluster.Port())
	assertTLS(t, openDB(t, store.Config{URL: base, CAFile: s.caFile, CertFile: certFile, KeyFile: keyFile, MinConns: -1}))
	assertTLS(t, openDB(t, store.Config{URL: s.cluster.TLSURL("postgres", s.caFile) + "&sslcert=" + certFile + "&sslkey=" + keyFile, MinConns: -1}))

	db, err := store.Open(testContext(t), store.Config{URL: base, CAFile: s.caFile, StartupTimeout: 2 * time.Second})
	if err == nil {
		db.Close()
		t.Fatal("connected without a client certificate")
	}
	t.Logf("%v", err)
	for _, want := range []string{s.hostPort(), "TAYLORDASH_DATABASE_CERT_FILE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
}

func TestConfigEndpoints(t *testing.T) {
	dir := t.TempDir()
	caFile := testcerts.NewCA(t, "CA").WriteFile(t, dir)
	for _, tt := range []struct {
		url, caFile string
		want        string // address transport, ...
	}{
		{"postgres://u:pw@db.example.com:5432/app?sslmode=disable", "", "db.example.com:5432 plaintext"},
		{"postgres://u:pw@db.example.com/app", "", "db.example.com:5432 plaintext"}, // prefer falls back
		{"postgres://u:pw@db.example.com/app?sslmode=allow", "", "db.example.com:5432 plaintext"},
		{"postgres://u:pw@db.example.com/app?sslmode=require", "", "db.example.com:5432 unverified TLS"},
		{"postgres://u:pw@db.example.com/app?sslmode=require&sslrootcert=" + caFile, "", "db.example.com:5432 TLS"},
		{"postgres://u:pw@db.example.com/app?sslmode=verify-ca&sslrootcert=" + caFile, "", "db.example.com:5432 TLS"},
		{"postgres://u:pw@db.example.com/app?sslmode=verify-full&sslrootcert=" + caFile, "", "db.example.com:5432 TLS"},
		{"postgres://u:pw@db.example.com/app", caFile, "db.example.com:5432 TLS"},
		{"postgres://u:pw@db.example.com/app?sslmode=require", caFile, "db.example.com:5432 TLS"},
		{"postgres://u:pw@a.example.com:5432,b.example.com:5433/app?sslmode=disable", "", "a.example.com:5432 plaintext, b.example.com:5433 plaintext"},
		{"host=/var/run/postgresql dbname=app", "", "/var/run/postgresql plaintext"},
		{"host=db.example.com dbname=app sslmode=require", "", "db.example.com:5432 unverified TLS"},
	} {
		var got []string
		for _, e := range (store.Config{URL: tt.url, CAFile: tt.caFile}).Endpoints() {
			if e.Setting != "TAYLORDASH_DATABASE_URL" || e.Name != "database" {
				t.Errorf("%s: endpoint %+v", tt.url, e)
			}
			if e.Transport != dashcore.TLSVerified && e.Fix == "" {
				t.Errorf("%s: no fix for %+v", tt.url, e)
			}
			got = append(got, e.Address+" "+e.Transport.String())
		}
		if strings.Join(got, ", ") != tt.want {
			t.Errorf("Endpoints(%s, CAFile %q) = %s, want %s", tt.url, tt.caFile, strings.Join(got, ", "), tt.want)
		}
	}
}

func TestConfigValidateTLSFiles(t *testing.T) {
	dir := t.TempDir()
	caFile := testcerts.NewCA(t, "CA").WriteFile(t, dir)
	missing := dir + "/missing.pem"
	for _, tt := range []struct {
		name   string
		cfg    store.Config
		fields map[string]string
	}{
		{"missing CA file", store.Config{URL: "postgres://app@db/app", CAFile: missing}, map[string]string{"CAFile": "cannot be read: no such file"}},
		{"missing client files", store.Config{URL: "postgres://app@db/app", CertFile: missing, KeyFile: missing},
			map[string]string{"CertFile": "cannot be read", "KeyFile": "cannot be read"}},
		{"cert without key", store.Config{URL: "postgres://app@db/app", CertFile: caFile}, map[string]string{"KeyFile": "together with CertFile"}},
		{"CA with sslmode=disable", store.Config{URL: "postgres://app@db/app?sslmode=disable", CAFile: caFile}, map[string]string{"CAFile": "sslmode=disable does not verify"}},
		{"CA with a DSN's sslmode=prefer", store.Config{URL: "host=db sslmode='prefer'", CAFile: caFile}, map[string]string{"CAFile": "sslmode=prefer does not verify"}},
		{"URL's sslrootcert missing", store.Config{URL: "postgres://app@db/app?sslmode=verify-full&sslrootcert=" + missing}, map[string]string{"URL": "unable to read CA file"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := fieldErrors(t, tt.cfg.WithDefaults().Validate())
			if len(got) != len(tt.fields) {
				t.Errorf("fields %v, want %v", got, tt.fields)
			}
			for field, want := range tt.fields {
				if !strings.Contains(got[field], want) {
					t.Errorf("field %s: problem %q, want it to contain %q", field, got[field], want)
				}
			}
		})
	}
	if err := (store.Config{URL: "postgres://app@db/app?sslmode=verify-full", CAFile: caFile}).WithDefaults().Validate(); err != nil {
		t.Errorf("a valid TLS config: %v", err)
	}
}

// The module checks the database link with the TLS policy: a plaintext
// URL to another machine is warned about, and with TAYLORDASH_REQUIRE_TLS
// the application does not start, with an error naming the setting and
// the endpoint but not the password.
func TestModuleTLSPolicy(t *testing.T) {
	build := func(logs *testkit.LogCapture, env map[string]string) *fx.App {
		env["TAYLORDASH_HTTP_ADDR"] = "127.0.0.1:0"
		return fx.New(dashcore.Module, store.Module, dashcore.WithEnv(env),
			fx.WithLogger(func() fxevent.Logger { return fxevent.NopLogger }),
			fx.Decorate(func() *slog.Logger { return logs.Logger() }))
	}
	const plaintext = "postgres://app:s3cret-pw@db.example.com:5432/app?sslmode=disable"

	var logs testkit.LogCapture
	if err := build(&logs, map[string]string{"TAYLORDASH_DATABASE_URL": plaintext}).Err(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"link":"database","address":"db.example.com:5432","transport":"plaintext","setting":"TAYLORDASH_DATABASE_URL"`) {
		t.Errorf("no warning about the plaintext database link:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "s3cret-pw") {
		t.Errorf("the warning shows the password:\n%s", logs.String())
	}

	err := build(&testkit.LogCapture{}, map[string]string{"TAYLORDASH_DATABASE_URL": plaintext, "TAYLORDASH_REQUIRE_TLS": "true"}).Err()
	var le *dashcore.InsecureLinkError
	if !errors.As(err, &le) {
		t.Fatalf("the app requiring TLS with a plaintext database: %v", err)
	}
	for _, want := range []string{"TAYLORDASH_REQUIRE_TLS", "TAYLORDASH_DATABASE_URL", "db.example.com:5432", "plaintext", "sslmode=verify-full"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("the refusal shows the password: %v", err)
	}

	// Loopback, or verified TLS: no warning, and starts requiring TLS.
	caFile := testcerts.NewCA(t, "CA").WriteFile(t, t.TempDir())
	for _, url := range []string{
		"postgres://app@127.0.0.1:5432/app?sslmode=disable",
		"postgres://app@db.example.com:5432/app?sslmode=verify-full&sslrootcert=" + caFile,
	} {
		var quiet testkit.LogCapture
		if err := build(&quiet, map[string]string{"TAYLORDASH_DATABASE_URL": url, "TAYLORDASH_REQUIRE_TLS": "true"}).Err(); err != nil {
			t.Errorf("%s: %v", url, err)
		}
		if strings.Contains(quiet.String(), "non-loopback") {
			t.Errorf("%s: a warning:\n%s", url, quiet.String())
		}
	}
}
