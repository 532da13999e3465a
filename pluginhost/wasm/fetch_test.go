package wasm_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/taylordash/taylordash/pluginhost/wasm"
)

// tlsServer serves "hello" over TLS and returns it with a pool trusting
// its certificate.
func tlsServer(t *testing.T) (*httptest.Server, *x509.CertPool) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Cookie") != "" {
			http.Error(w, "a cookie came through", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return srv, roots
}

func TestFetchAllowedOrigin(t *testing.T) {
	srv, roots := tlsServer(t)
	b := setup(t, func(c *wasm.Config, o *wasm.Options) {
		c.FetchAllowPrivate = true // the test server listens on loopback
		o.FetchRootCAs = roots
	})
	p := b.load(t, "fetch", wasm.PluginSpec{Permissions: []string{"network:http"}, AllowedOrigins: []string{srv.URL}})
	ctx := context.Background()

	out, err := p.Call(ctx, "td_fetch", []byte(srv.URL+"/data"))
	if err != nil || string(out) != "200 hello /data" {
		t.Fatalf("allowed origin: %q, %v", out, err)
	}

	// the same host on another port, another host, another scheme, a
	// prefix trick: all denied and recorded
	host := strings.TrimPrefix(srv.URL, "https://")
	for _, u := range []string{
		"https://" + strings.Replace(host, "127.0.0.1", "localhost", 1) + "/",
		strings.Replace(srv.URL, "https://", "http://", 1) + "/",
		"https://" + strings.Replace(host, ":", ".evil.example:", 1) + "/", // 127.0.0.1.evil.example
		"https://127.0.0.1:1/",
		"https://user@" + host + "/",
	} {
		_, err := p.Call(ctx, "td_fetch", []byte(u))
		var pe *wasm.PermissionError
		if !errors.As(err, &pe) || pe.Function != "http_fetch" {
			t.Errorf("fetch %s: %v, want a PermissionError", u, err)
		}
	}
	if vs := b.violations.all(); len(vs) != 5 || vs[0].Kind != wasm.ViolationPermissionDenied || !strings.Contains(vs[0].Detail, "not in allowed_origins") {
		t.Errorf("violations = %+v", vs)
	}
}

func TestFetchWithoutPermission(t *testing.T) {
	srv, roots := tlsServer(t)
	b := setup(t, func(c *wasm.Config, o *wasm.Options) { c.FetchAllowPrivate = true; o.FetchRootCAs = roots })
	p := b.load(t, "fetch", wasm.PluginSpec{AllowedOrigins: []string{srv.URL}})
	_, err := p.Call(context.Background(), "td_fetch", []byte(srv.URL))
	var pe *wasm.PermissionError
	if !errors.As(err, &pe) || pe.Permission != wasm.NetworkHTTP {
		t.Fatalf("fetch without network:http: %v", err)
	}
}

// By default, an allowed origin that resolves to a loopback or private
// address is refused (SSRF).
func TestFetchRefusesPrivateAddresses(t *testing.T) {
	srv, roots := tlsServer(t)
	b := setup(t, func(_ *wasm.Config, o *wasm.Options) { o.FetchRootCAs = roots })
	p := b.load(t, "fetch", wasm.PluginSpec{Permissions: []string{"network:http"}, AllowedOrigins: []string{srv.URL}})
	_, err := p.Call(context.Background(), "td_fetch", []byte(srv.URL))
	var pe *wasm.PermissionError
	if !errors.As(err, &pe) || !strings.Contains(pe.Detail, "non-public address") {
		t.Fatalf("fetch of a loopback origin: %v, want a PermissionError", err)
	}
}

func TestAllowedOriginsChecked(t *testing.T) {
	b := setup(t, nil)
	wasmBytes := guestWasm(t, "fetch")
	for _, origins := range [][]string{
		{"http://example.com"},       // plain http needs FetchAllowHTTP
		{"https://example.com/path"}, // an origin has no path
		{"ftp://example.com"},
		{"https://"},
	} {
		_, err := b.rt.Load(context.Background(), wasm.PluginSpec{ID: "origins", Wasm: wasmBytes, AllowedOrigins: origins})
		if err == nil {
			t.Errorf("Load accepted allowed_origins %v", origins)
		}
	}
}
