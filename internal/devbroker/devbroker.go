// Package devbroker provides the MQTT broker for running the example
// application with no configuration.
//
// # Choice
//
// [Resolve] uses the URL from TAYLORDASH_MQTT_URL when it is set, as is.
// Otherwise it starts a broker embedded in the process (mochi-mqtt), for
// trying the application, not for running it: it keeps nothing on disk
// and allows every client. The embedded broker listens on two addresses:
//
//   - MQTT over TCP on TAYLORDASH_MQTT_EMBEDDED_ADDR (default
//     127.0.0.1:1883), for the application and MQTT tools;
//   - MQTT over websockets on TAYLORDASH_MQTT_EMBEDDED_WS_ADDR (default
//     127.0.0.1:9001, where the original frontend connected), for browsers:
//     ws://host:port, on any path (mochi-mqtt answers the upgrade on
//     every path, /mqtt included), with the subprotocol "mqtt".
//
// When an address is taken (a Mosquitto already on 1883, a second
// instance), that listener takes a free port of the same host instead,
// and the log says so and which port. Every choice is logged, with the
// URLs to connect to; the broker's own log is kept at warnings and above.
//
// # Limits
//
// The websocket listener binds when the broker starts serving, so its
// address is checked just before: another process that takes the port in
// between makes [Resolve] fail, rather than serve nothing. [Broker.Stop]
// closes the clients still connected; mochi-mqtt v2.7.9 races (a data race
// under -race, harmless otherwise) when a connection is still being
// accepted while it stops, so tests let their clients disconnect first.
package devbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// The embedded broker's default addresses.
const (
	// DefaultAddr is where it serves MQTT over TCP.
	DefaultAddr = "127.0.0.1:1883"
	// DefaultWebsocketAddr is where it serves MQTT over websockets.
	DefaultWebsocketAddr = "127.0.0.1:9001"
)

// Sources of a [Broker].
const (
	// SourceEnvironment is the broker of TAYLORDASH_MQTT_URL.
	SourceEnvironment = "environment"
	// SourceEmbedded is the broker embedded in the process.
	SourceEmbedded = "embedded"
)

// Broker is the broker picked, and how to let go of it.
type Broker struct {
	// URL connects to it over TCP (tcp://host:port, or the configured URL).
	URL string
	// WebsocketURL connects to it from a browser (ws://host:port); empty
	// unless the broker is embedded.
	WebsocketURL string
	// Source is SourceEnvironment or SourceEmbedded.
	Source string
	srv    *mqtt.Server
}

// Stop stops the embedded broker, if one was started, and disconnects its
// clients.
func (b *Broker) Stop(context.Context) error {
	if b.srv == nil {
		return nil
	}
	return b.srv.Close()
}

// Options configures Resolve. The zero value embeds a broker on the
// default addresses.
type Options struct {
	// URL is an explicit broker URL (TAYLORDASH_MQTT_URL); when set it is
	// used as is and nothing is started.
	URL string
	// Addr is where the embedded broker serves MQTT over TCP
	// (TAYLORDASH_MQTT_EMBEDDED_ADDR); "" means DefaultAddr. When it is
	// taken, a free port of the same host serves instead.
	Addr string
	// WebsocketAddr is where it serves MQTT over websockets
	// (TAYLORDASH_MQTT_EMBEDDED_WS_ADDR); "" means DefaultWebsocketAddr.
	// When it is taken, a free port of the same host serves instead.
	WebsocketAddr string
	// Logger says which broker was picked, and receives the embedded
	// broker's warnings and errors.
	Logger *slog.Logger
}

// Resolve picks the broker as the package documentation says and logs the
// choice. Stop the broker it returns when the application has stopped.
func Resolve(ctx context.Context, opts Options) (*Broker, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.URL != "" {
		log.Info("broker: using TAYLORDASH_MQTT_URL")
		return &Broker{URL: opts.URL, Source: SourceEnvironment}, nil
	}
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.WebsocketAddr == "" {
		opts.WebsocketAddr = DefaultWebsocketAddr
	}

	tcp, err := listen(opts.Addr, "TAYLORDASH_MQTT_EMBEDDED_ADDR", log)
	if err != nil {
		return nil, err
	}
	// mochi's Websocket listener binds in its Serve: find a free address
	// now, and let go of it for mochi to take.
	wsl, err := listen(opts.WebsocketAddr, "TAYLORDASH_MQTT_EMBEDDED_WS_ADDR", log)
	if err != nil {
		_ = tcp.Close()
		return nil, err
	}
	wsAddr := wsl.Addr().String()
	_ = wsl.Close()

	srv := mqtt.New(&mqtt.Options{
		InlineClient: false,
		Logger:       slog.New(&warnHandler{log.Handler()}).With(slog.String("component", "embedded broker")),
	})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		_ = tcp.Close()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := srv.AddListener(listeners.NewNet("tcp", tcp)); err != nil {
		_ = tcp.Close()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := srv.AddListener(listeners.NewWebsocket(listeners.Config{ID: "ws", Address: wsAddr})); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("embedded broker: websocket listener: %w", err)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := waitListening(ctx, wsAddr); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("embedded broker: websocket listener on %s: %w; set TAYLORDASH_MQTT_EMBEDDED_WS_ADDR to a free address", wsAddr, err)
	}

	b := &Broker{
		URL:          "tcp://" + dialable(tcp.Addr().String()),
		WebsocketURL: "ws://" + dialable(wsAddr),
		Source:       SourceEmbedded,
		srv:          srv,
	}
	log.Warn("broker: TAYLORDASH_MQTT_URL is unset; using a broker embedded in this process (nothing it holds survives a restart; set TAYLORDASH_MQTT_URL for a real one)",
		slog.String("url", b.URL), slog.String("websocket_url", b.WebsocketURL))
	return b, nil
}

// listen listens on addr, or, when addr is taken, on a free port of the
// same host, saying so. name is the variable that sets addr.
func listen(addr, name string, log *slog.Logger) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err == nil {
		return l, nil
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("embedded broker: %s=%q: %w", name, addr, err)
	}
	host, _, _ := net.SplitHostPort(addr)
	l, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %s is taken, and no free port on %q: %w", addr, host, err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	log.Warn("broker: "+addr+" is taken; the embedded broker listens on port "+port+" instead (set "+name+" to choose)",
		slog.String("wanted", addr), slog.String("addr", l.Addr().String()))
	return l, nil
}

// waitListening waits until something accepts connections on addr, for
// at most 5s.
func waitListening(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d := net.Dialer{Timeout: 500 * time.Millisecond}
	for {
		c, err := d.DialContext(ctx, "tcp", dialable(addr))
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// dialable returns addr with an unspecified host (":1883", "0.0.0.0:1883",
// "[::]:1883") replaced by the loopback address, for URLs to connect to.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if ip != nil && ip.To4() == nil {
			return net.JoinHostPort("::1", port)
		}
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// warnHandler passes on records at warning level and above: the embedded
// broker's connection chatter stays out of the application's log.
type warnHandler struct{ slog.Handler }

func (h *warnHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h *warnHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "" { // mochi's listeners log errors with no message
		r.Message = "broker: embedded broker"
	}
	return h.Handler.Handle(ctx, r)
}

func (h *warnHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &warnHandler{h.Handler.WithAttrs(attrs)}
}

func (h *warnHandler) WithGroup(name string) slog.Handler {
	return &warnHandler{h.Handler.WithGroup(name)}
}
