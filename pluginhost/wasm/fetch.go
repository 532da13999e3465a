package wasm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/taylordash/taylordash/pluginhost/sdk"
)

// errNonPublicAddress is the dial error of the default fetch client for
// an address that is not public.
var errNonPublicAddress = errors.New("address is not public")

// newFetchClient returns the default HTTPDoer of http_fetch: its own
// transport (no proxy from the environment), a dialer that refuses
// non-public addresses unless cfg.FetchAllowPrivate (checked on the
// resolved address, so DNS cannot point an allowed name inward), TLS 1.2
// or later with roots (nil: the system's), and no redirects.
func newFetchClient(cfg Config, roots *x509.CertPool) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if !cfg.FetchAllowPrivate {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", errNonPublicAddress, address)
			}
			if !publicAddr(ap.Addr()) {
				return fmt.Errorf("%w: %s", errNonPublicAddress, ap.Addr())
			}
			return nil
		}
	}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:           dialer.DialContext,
			TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: cfg.FetchTimeout,
			MaxIdleConns:          16,
			IdleConnTimeout:       30 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// publicAddr reports whether a is a public unicast address.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && a.IsGlobalUnicast() && !a.IsPrivate() &&
		!cgnat.Contains(a) && !a.IsLoopback() && !a.IsLinkLocalUnicast()
}

// cgnat is the shared address space of carrier-grade NAT (RFC 6598).
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// fetchHeadersDropped are request headers a plugin may not set.
var fetchHeadersDropped = []string{"Host", "Cookie", "Proxy-Authorization", "Connection", "Transfer-Encoding", "Te", "Upgrade"}

func hostHTTPFetch(ctx context.Context, h *host, cs *callState, mem api.Memory, stack []uint64) {
	const fn = "http_fetch"
	arg, ok := cs.arg(ctx, stack, mem, fn, api.DecodeU32(stack[0]), api.DecodeU32(stack[1]))
	if !ok {
		return
	}
	var req sdk.FetchRequest
	if err := json.Unmarshal(arg, &req); err != nil {
		cs.reply(ctx, stack, fn, sdk.StatusInvalidArgument, []byte("request: "+err.Error()))
		return
	}
	u, err := url.Parse(req.URL)
	if err != nil || !u.IsAbs() {
		cs.reply(ctx, stack, fn, sdk.StatusInvalidArgument, []byte("url must be absolute"))
		return
	}
	o, err := normalizeOrigin(u)
	if err != nil {
		cs.deny(ctx, stack, fn, NetworkHTTP, "url: "+err.Error())
		return
	}
	if !cs.p.origins[o] {
		cs.deny(ctx, stack, fn, NetworkHTTP, fmt.Sprintf("origin %s is not in allowed_origins", truncate(o, 256)))
		return
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	fctx, cancel := context.WithTimeout(ctx, h.rt.cfg.FetchTimeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(fctx, method, u.String(), strings.NewReader(string(req.Body)))
	if err != nil {
		cs.reply(ctx, stack, fn, sdk.StatusInvalidArgument, []byte("request: "+err.Error()))
		return
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			hreq.Header.Add(k, v)
		}
	}
	for _, k := range fetchHeadersDropped {
		hreq.Header.Del(k)
	}
	if hreq.Header.Get("User-Agent") == "" {
		hreq.Header.Set("User-Agent", "taylordash-plugin/"+cs.p.id)
	}
	resp, err := h.http.Do(hreq)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			cs.fail(ctx, stack, fn, err)
		case errors.Is(err, errNonPublicAddress):
			cs.deny(ctx, stack, fn, NetworkHTTP, fmt.Sprintf("origin %s resolves to a non-public address", o))
		default:
			// Not a backend fault: the plugin may see why its request failed,
			// but not the host's internals.
			h.rt.log.InfoContext(ctx, "wasm: http_fetch failed", "plugin", cs.p.id, "origin", o, "error", err)
			cs.reply(ctx, stack, fn, sdk.StatusUnavailable, []byte("fetch "+o+": request failed"))
		}
		return
	}
	defer func() { _ = resp.Body.Close() }()
	limit := h.rt.cfg.FetchMaxBytes
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		if ctx.Err() != nil {
			cs.fail(ctx, stack, fn, err)
			return
		}
		cs.reply(ctx, stack, fn, sdk.StatusUnavailable, []byte("fetch "+o+": reading the response failed"))
		return
	}
	if len(body) > limit {
		cs.reply(ctx, stack, fn, sdk.StatusTooLarge, fmt.Appendf(nil, "response body exceeds the limit of %d bytes", limit))
		return
	}
	out, err := json.Marshal(sdk.FetchResponse{Status: resp.StatusCode, Header: resp.Header, Body: body})
	if err != nil {
		cs.fail(ctx, stack, fn, err)
		return
	}
	cs.reply(ctx, stack, fn, sdk.StatusOK, out)
}
