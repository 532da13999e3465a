package dashcore_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/internal/testcerts"
	"github.com/taylordash/taylordash/testkit"
)

// serverSetup is a started Server with a raw handler at GET /slow that
// signals started and then sleeps for the duration in its ?d= query (or
// until its request ends).
type serverSetup struct {
	srv     *dashcore.Server
	started chan struct{}
	client  *http.Client
}

func startServer(t *testing.T, cfg dashcore.HTTPConfig) *serverSetup {
	t.Helper()
	s := &serverSetup{started: make(chan struct{}, 10), client: &http.Client{Timeout: 10 * time.Second}}
	h, _, err := dashcore.NewHandler(dashcore.HandlerOptions{
		Config: cfg,
		Logger: testkit.NewLogger(t),
		Routes: []dashcore.Routes{{Name: "slow", Handle: func(mux *http.ServeMux) {
			mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
				d, _ := time.ParseDuration(r.URL.Query().Get("d"))
				s.started <- struct{}{}
				select {
				case <-time.After(d):
					_, _ = io.WriteString(w, "done")
				case <-r.Context().Done():
				}
			})
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s.srv = dashcore.NewServer(cfg, h, testkit.NewLogger(t))
	if err := s.srv.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.srv.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

type result struct {
	status int
	body   string
	err    error
}

// slow sends GET /slow?d=d in the background and waits until the handler
// runs.
func (s *serverSetup) slow(t *testing.T, d time.Duration) <-chan result {
	t.Helper()
	out := make(chan result, 1)
	go func() {
		resp, err := s.client.Get(s.srv.URL() + "/slow?d=" + d.String())
		if err != nil {
			out <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		out <- result{status: resp.StatusCode, body: string(b), err: err}
	}()
	select {
	case <-s.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the slow handler did not start")
	}
	return out
}

// stopAsync calls Stop in the background, returning its error and duration.
func (s *serverSetup) stopAsync() (<-chan error, time.Time) {
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- s.srv.Stop(context.Background()) }()
	return done, start
}

// waitRefused waits until new connections to addr are refused.
func waitRefused(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s still accepts connections after Stop began", addr)
}

func TestGracefulShutdown(t *testing.T) {
	s := startServer(t, dashcore.HTTPConfig{DrainTimeout: 5 * time.Second})
	addr := s.srv.Addr().String()
	inflight := s.slow(t, 300*time.Millisecond)

	stopped, start := s.stopAsync()
	waitRefused(t, addr)
	if _, err := http.Get("http://" + addr + "/health/live"); err == nil {
		t.Error("a new request after Stop began succeeded")
	}

	r := <-inflight
	if r.err != nil || r.status != http.StatusOK || r.body != "done" {
		t.Errorf("the in-flight request did not complete: %+v", r)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Stop: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Stop took %v for a 300ms request", took)
	}
	if err := s.srv.Stop(context.Background()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := s.srv.Err(); err != nil {
		t.Errorf("Err() = %v after a clean stop", err)
	}
}

func TestDrainTimeoutCutsSlowRequests(t *testing.T) {
	const drain = 300 * time.Millisecond
	s := startServer(t, dashcore.HTTPConfig{DrainTimeout: drain})
	inflight := s.slow(t, 30*time.Second)

	stopped, start := s.stopAsync()
	err := <-stopped
	took := time.Since(start)
	if err != nil {
		t.Errorf("Stop: %v", err)
	}
	if took < drain || took > drain+2*time.Second {
		t.Errorf("Stop took %v, want about the drain timeout %v", took, drain)
	}
	if r := <-inflight; r.err == nil {
		t.Errorf("the request outliving the drain timeout completed: %+v", r)
	}
}

func TestStopHonoursItsContext(t *testing.T) {
	s := startServer(t, dashcore.HTTPConfig{DrainTimeout: time.Minute})
	inflight := s.slow(t, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.srv.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Stop took %v with a 200ms context", took)
	}
	<-inflight
}

func TestServerLifecycleEdges(t *testing.T) {
	srv := dashcore.NewServer(dashcore.HTTPConfig{Addr: "127.0.0.1:0"}, http.NotFoundHandler(), nil)
	if srv.Addr() != nil || srv.URL() != "" {
		t.Errorf("before Start: Addr %v, URL %q", srv.Addr(), srv.URL())
	}
	if err := srv.Stop(context.Background()); err != nil {
		t.Errorf("Stop before Start: %v", err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err == nil {
		t.Error("a second Start succeeded")
	}
	if !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") {
		t.Errorf("URL() = %q", srv.URL())
	}
	for range 2 {
		if err := srv.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	}

	wild := dashcore.NewServer(dashcore.HTTPConfig{Addr: ":0"}, http.NotFoundHandler(), nil)
	if err := wild.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer wild.Stop(context.Background())
	if !strings.HasPrefix(wild.URL(), "http://127.0.0.1:") {
		t.Errorf("URL() of a wildcard address = %q, want 127.0.0.1", wild.URL())
	}
}

func TestTakenPortFailsStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()

	srv := dashcore.NewServer(dashcore.HTTPConfig{Addr: addr}, http.NotFoundHandler(), nil)
	start := time.Now()
	err = srv.Start(context.Background())
	if err == nil {
		srv.Stop(context.Background())
		t.Fatal("Start on a taken port succeeded")
	}
	if time.Since(start) > time.Second {
		t.Errorf("Start took %v to fail", time.Since(start))
	}
	for _, want := range []string{addr, "TAYLORDASH_HTTP_ADDR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("error %v does not wrap the listen error", err)
	}

	// The same through the module: app.Start fails at once.
	app := dashcore.New(dashcore.Module, dashcore.WithEnv(map[string]string{
		"TAYLORDASH_HTTP_ADDR": addr, "TAYLORDASH_LOG_LEVEL": "error",
	}))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := app.Start(ctx); err == nil || !strings.Contains(err.Error(), "TAYLORDASH_HTTP_ADDR") {
		t.Errorf("app.Start = %v, want the listen error", err)
	}
	_ = app.Stop(ctx)
}

// testCertificate writes a certificate for 127.0.0.1 and its key into dir
// and returns their paths and a pool trusting the CA that signed it.
func testCertificate(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	ca := testcerts.NewCA(t, "dashcore test CA")
	certFile, keyFile = ca.Issue(t, "127.0.0.1").WriteFiles(t, dir, "server")
	return certFile, keyFile, ca.Pool()
}

func TestTLS(t *testing.T) {
	certFile, keyFile, pool := testCertificate(t, t.TempDir())
	app := testkit.App(t, dashcore.Module, testkit.Env(map[string]string{
		"TAYLORDASH_HTTP_TLS_CERT_FILE": certFile,
		"TAYLORDASH_HTTP_TLS_KEY_FILE":  keyFile,
	}))
	if !strings.HasPrefix(app.URL, "https://127.0.0.1:") {
		t.Fatalf("URL = %q, want https", app.URL)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
	}}
	defer client.CloseIdleConnections()
	for _, path := range []string{"/health/live", "/nowhere"} {
		resp, body := get(t, client, app.URL+path)
		if resp.TLS == nil {
			t.Fatalf("GET %s: not over TLS", path)
		}
		if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=") {
			t.Errorf("GET %s: Strict-Transport-Security = %q", path, hsts)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Request-ID") == "" {
			t.Errorf("GET %s: security headers missing: %v", path, resp.Header)
		}
		if path == "/health/live" && resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
		}
	}

	// A client that does not trust the certificate fails.
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get(app.URL + "/health/live"); err == nil {
		t.Error("an untrusting client connected")
	}
	// Plain HTTP to the TLS port gets no answer worth the name.
	if resp, err := http.Get(strings.Replace(app.URL, "https", "http", 1) + "/health/live"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served on the TLS port")
		}
	}
}

func TestBadCertificateFailsStart(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := testCertificate(t, dir)
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, cert, key string }{
		{"missing cert", filepath.Join(dir, "missing.pem"), keyFile},
		{"missing key", certFile, filepath.Join(dir, "missing.pem")},
		{"garbage cert", garbage, keyFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := dashcore.New(dashcore.Module, dashcore.WithEnv(map[string]string{
				"TAYLORDASH_HTTP_ADDR":          "127.0.0.1:0",
				"TAYLORDASH_HTTP_TLS_CERT_FILE": tt.cert,
				"TAYLORDASH_HTTP_TLS_KEY_FILE":  tt.key,
				"TAYLORDASH_LOG_LEVEL":          "error",
			}))
			if err := app.Err(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := app.Start(ctx)
			defer app.Stop(ctx)
			if err == nil {
				t.Fatal("Start succeeded with a bad key pair")
			}
			for _, want := range []string{"load TLS key pair", tt.cert, "TAYLORDASH_HTTP_TLS_CERT_FILE", "TAYLORDASH_HTTP_TLS_KEY_FILE"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}
