package mqtt_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/mqtt"
	"github.com/taylordash/taylordash/internal/mosquittolocal"
	"github.com/taylordash/taylordash/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// deliveryConfig is the Mosquitto configuration the delivery guarantees
// need (see the package doc): nothing dropped from a session's queue, and
// no broker-side cap on unacknowledged messages, so that the client's
// Window is what the tests see.
const deliveryConfig = "max_queued_messages 0\nmax_inflight_messages 0\n"

// privateBroker starts a Mosquitto of the test's own with extra
// configuration lines; persistDir, if set, turns persistence on there.
func privateBroker(t *testing.T, extra, persistDir string) *mosquittolocal.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := mosquittolocal.Start(ctx, mosquittolocal.Options{
		Config:         extra,
		PersistenceDir: persistDir,
		DieWithParent:  true,
	})
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
	return b
}

// uniqueID returns a client id for the test, unique across runs on a
// shared broker.
func uniqueID(t *testing.T, name string) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "tdtest-" + sanitize(t.Name()) + "-" + name + "-" + hex.EncodeToString(b[:])
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
}

// startClient starts a client (stopped when the test ends) and waits until
// it is connected.
func startClient(t *testing.T, cfg mqtt.Config) *mqtt.Client {
	t.Helper()
	c := newClient(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// newClient starts a client without waiting for its connection.
func newClient(t *testing.T, cfg mqtt.Config) *mqtt.Client {
	t.Helper()
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.MaxReconnectInterval == 0 {
		cfg.MaxReconnectInterval = time.Second
	}
	c, err := mqtt.New(cfg, testkit.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return c
}

// forgetSession removes the persistent session of a client id from the
// broker (a clean-session connection does), so that tests on a shared
// broker leave nothing behind.
func forgetSession(t *testing.T, url, clientID string) {
	t.Helper()
	t.Cleanup(func() {
		o := paho.NewClientOptions().AddBroker(url).SetClientID(clientID + "-sub").SetCleanSession(true).
			SetConnectTimeout(5 * time.Second).SetAutoReconnect(false)
		cli := paho.NewClient(o)
		if tok := cli.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			cli.Disconnect(250)
		}
	})
}

func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func subscribe(t *testing.T, ctx context.Context, s eventbus.Subscriber, filter string) <-chan *eventbus.Message {
	t.Helper()
	ch, err := s.Subscribe(ctx, filter)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", filter, err)
	}
	return ch
}

func receive(t *testing.T, ch <-chan *eventbus.Message, d time.Duration) *eventbus.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("the subscription's channel closed")
		}
		return m
	case <-time.After(d):
		t.Fatalf("no message within %s", d)
	}
	return nil
}

// waitFor polls cond until it holds or 20s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// proxy is a TCP proxy to a broker whose connections a test can cut
// abruptly (no DISCONNECT, as when a process is killed or a network
// fails) and whose listener it can refuse.
type proxy struct {
	t      *testing.T
	target string
	ln     net.Listener

	mu      sync.Mutex
	conns   []net.Conn
	refuse  bool
	stopped bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, target: target, ln: ln}
	go p.serve()
	t.Cleanup(func() {
		p.mu.Lock()
		p.stopped = true
		p.mu.Unlock()
		ln.Close()
		p.cut()
	})
	return p
}

// URL is the proxy's broker URL.
func (p *proxy) URL() string { return "tcp://" + p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.refuse || p.stopped {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

// cut closes every proxied connection at once, with a TCP reset.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
	p.conns = nil
}

// setRefuse makes the proxy close new connections at once (refuse) or
// forward them again.
func (p *proxy) setRefuse(refuse bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = refuse
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := t.TempDir() + "/" + name
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
