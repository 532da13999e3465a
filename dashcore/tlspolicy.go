package dashcore

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
)

// Transport is how a network link of the application is protected.
type Transport int

const (
	// Plaintext is no TLS: anyone on the path reads and alters the
	// traffic, credentials included. A link that may fall back to
	// plaintext (PostgreSQL's sslmode=prefer or allow) counts as plaintext.
	Plaintext Transport = iota
	// TLSUnverified is TLS without verifying the peer's certificate
	// (PostgreSQL's sslmode=require without a root certificate): private
	// against a listener, not against an impostor in the middle.
	TLSUnverified
	// TLSVerified is TLS with the peer's certificate verified.
	TLSVerified
)

// String returns "plaintext", "unverified TLS" or "TLS".
func (t Transport) String() string {
	switch t {
	case Plaintext:
		return "plaintext"
	case TLSUnverified:
		return "unverified TLS"
	case TLSVerified:
		return "TLS"
	}
	return fmt.Sprintf("Transport(%d)", int(t))
}

// Endpoint is one network link of the application, as [TLSPolicy] sees
// it: a connection it opens (database, broker, exporter) or the address
// it listens on.
type Endpoint struct {
	// Name says what the link is: "database", "MQTT broker", "HTTP
	// listener".
	Name string
	// Setting is the variable that configures the link, such as
	// TAYLORDASH_DATABASE_URL.
	Setting string
	// Address is host:port, a host, or a unix socket path; never
	// credentials. A listener's address with no host (":8000") or an
	// unspecified one ("0.0.0.0:8000") listens on every interface.
	Address string
	// Transport is how the link is protected.
	Transport Transport
	// Fix says how to protect the link, such as "use sslmode=verify-full".
	Fix string
}

// Loopback reports whether the link stays on this machine: its host is
// localhost or a loopback IP address (127.0.0.0/8, ::1), or it is a unix
// socket.
func (e Endpoint) Loopback() bool {
	return IsLoopback(e.Address)
}

// IsLoopback reports whether address (host:port, a host, or a unix socket
// path) stays on this machine: localhost, 127.0.0.0/8, ::1, a name under
// .localhost, or a unix socket (a path, or a name starting with "@").
// Names are not resolved; an empty or unspecified host (every interface)
// is not loopback.
func IsLoopback(address string) bool {
	if strings.HasPrefix(address, "/") || strings.HasPrefix(address, "@") || strings.HasPrefix(address, "unix:") {
		return true
	}
	host := address
	if h, _, err := net.SplitHostPort(address); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if i := strings.IndexByte(host, '%'); i >= 0 { // a zone: fe80::1%eth0
		host = host[:i]
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// TLSPolicy decides what happens to links that are not protected by
// verified TLS and leave the machine: a warning in the log, or, when
// RequireTLS is set (TAYLORDASH_REQUIRE_TLS), an [*InsecureLinkError]
// that stops the application from starting. Loopback links are never
// reported. A nil *TLSPolicy checks nothing.
//
// [Module] provides one built from [Config]; modules that open
// connections take it as an optional dependency and [TLSPolicy.Check]
// their endpoints when they are constructed.
type TLSPolicy struct {
	requireTLS bool
	log        *slog.Logger
}

// NewTLSPolicy returns the policy that warns through log (nil discards),
// or refuses when requireTLS is set.
func NewTLSPolicy(requireTLS bool, log *slog.Logger) *TLSPolicy {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &TLSPolicy{requireTLS: requireTLS, log: log}
}

// RequireTLS reports whether the policy refuses insecure links.
func (p *TLSPolicy) RequireTLS() bool { return p != nil && p.requireTLS }

// Check checks each endpoint: a loopback one, or one with verified TLS,
// passes; any other is logged as a warning or, when the policy requires
// TLS, refused: the returned [*InsecureLinkError] lists every refused
// endpoint. Check is safe for concurrent use.
func (p *TLSPolicy) Check(endpoints ...Endpoint) error {
	if p == nil {
		return nil
	}
	var refused []Endpoint
	for _, e := range endpoints {
		if e.Transport == TLSVerified || e.Loopback() {
			continue
		}
		if p.requireTLS {
			refused = append(refused, e)
			continue
		}
		attrs := []any{
			slog.String("link", e.Name), slog.String("address", e.Address),
			slog.String("transport", e.Transport.String()), slog.String("setting", e.Setting),
		}
		if e.Fix != "" {
			attrs = append(attrs, slog.String("fix", e.Fix))
		}
		msg := "plaintext link to a non-loopback address: anyone on the network path can read and alter it (TAYLORDASH_REQUIRE_TLS=true refuses to start instead)"
		if e.Transport == TLSUnverified {
			msg = "TLS link without certificate verification to a non-loopback address: an impostor in the middle can read and alter it (TAYLORDASH_REQUIRE_TLS=true refuses to start instead)"
		}
		p.log.Warn(msg, attrs...)
	}
	if len(refused) > 0 {
		return &InsecureLinkError{Endpoints: refused}
	}
	return nil
}

// InsecureLinkError is the refusal of endpoints by a [TLSPolicy] that
// requires TLS. Its message names TAYLORDASH_REQUIRE_TLS, and each
// endpoint's link, setting, address and fix. [Run] returns it as it is,
// without fx's wrapping.
type InsecureLinkError struct {
	// Endpoints are the refused endpoints.
	Endpoints []Endpoint
}

func (e *InsecureLinkError) Error() string {
	var b strings.Builder
	b.WriteString("TAYLORDASH_REQUIRE_TLS is true, but ")
	for i, ep := range e.Endpoints {
		if i > 0 {
			b.WriteString("; and ")
		}
		fmt.Fprintf(&b, "the %s", ep.Name)
		if ep.Setting != "" {
			fmt.Fprintf(&b, " (%s)", ep.Setting)
		}
		fmt.Fprintf(&b, " at %s uses %s", ep.Address, ep.Transport)
		if ep.Fix != "" {
			b.WriteString(": " + ep.Fix)
		}
	}
	b.WriteString("; or set TAYLORDASH_REQUIRE_TLS=false to allow it")
	return b.String()
}
