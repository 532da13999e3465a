package mqtt

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/net/proxy"
)

// readBufferSize is the read buffer of a connection: many packets' worth
// (a PUBACK is 4 bytes, an event a few hundred).
const readBufferSize = 64 << 10

// openConnection dials the broker as paho does (TCP through the proxy of
// ALL_PROXY, if any, or TLS), and buffers what is read. paho reads each
// packet with several reads straight from the connection (the type byte,
// each byte of the remaining length, then the body): unbuffered, every
// one is a system call, three or four per message, an eighth of a busy
// pipeline's CPU (see docs/benchmarks.md). One goroutine of paho reads,
// so the buffer needs no lock; writes go to the connection unchanged.
func openConnection(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
	dialer := o.Dialer
	if dialer == nil {
		dialer = &net.Dialer{Timeout: o.ConnectTimeout}
	}
	var conn net.Conn
	var err error
	switch uri.Scheme {
	case "tcp":
		conn, err = proxy.FromEnvironmentUsing(dialer).Dial("tcp", uri.Host)
	case "ssl":
		if os.Getenv("all_proxy") == "" && os.Getenv("ALL_PROXY") == "" {
			conn, err = tls.DialWithDialer(dialer, "tcp", uri.Host, o.TLSConfig)
			break
		}
		var raw net.Conn
		if raw, err = proxy.FromEnvironmentUsing(dialer).Dial("tcp", uri.Host); err != nil {
			break
		}
		tc := tls.Client(raw, o.TLSConfig)
		_ = tc.SetDeadline(time.Now().Add(o.ConnectTimeout))
		if err = tc.Handshake(); err != nil {
			_ = raw.Close()
			break
		}
		_ = tc.SetDeadline(time.Time{})
		conn = tc
	default:
		return nil, fmt.Errorf("mqtt: unsupported scheme %q", uri.Scheme)
	}
	if err != nil {
		return nil, err
	}
	return &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, readBufferSize)}, nil
}

// bufferedConn is a connection whose reads go through a buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
