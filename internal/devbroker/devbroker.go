// Package devbroker finds an MQTT broker for running the example
// application with no configuration: the URL from TAYLORDASH_MQTT_URL,
// else the local broker on the standard port, else a broker embedded in
// the process (mochi-mqtt) on a free loopback port.
package devbroker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Broker is the broker picked, and how to let go of it.
type Broker struct {
	// URL connects to it.
	URL string
	// Source says where it came from: "environment", "local broker" or
	// "embedded".
	Source string
	stop   func() error
}

// Stop stops the embedded broker, if one was started.
func (b *Broker) Stop(context.Context) error {
	if b.stop == nil {
		return nil
	}
	return b.stop()
}

// Options configures Resolve.
type Options struct {
	// URL is an explicit broker URL (TAYLORDASH_MQTT_URL).
	URL string
	// LocalAddr is the standard local broker; "" means 127.0.0.1:1883.
	LocalAddr string
	// Logger says which broker was picked.
	Logger *slog.Logger
}

// Resolve picks the broker as the package documentation says and logs the
// choice. The embedded broker keeps nothing on disk: it is for trying the
// application, not for running it.
func Resolve(ctx context.Context, opts Options) (*Broker, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.URL != "" {
		log.Info("broker: using TAYLORDASH_MQTT_URL")
		return &Broker{URL: opts.URL, Source: "environment"}, nil
	}
	addr := opts.LocalAddr
	if addr == "" {
		addr = "127.0.0.1:1883"
	}
	d := net.Dialer{Timeout: 500 * time.Millisecond}
	if c, err := d.DialContext(ctx, "tcp", addr); err == nil {
		_ = c.Close()
		log.Info("broker: using the local broker (set TAYLORDASH_MQTT_URL to choose another)", slog.String("addr", addr))
		return &Broker{URL: "tcp://" + addr, Source: "local broker"}, nil
	}
	srv := mqtt.New(&mqtt.Options{InlineClient: false, Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "dev", Address: "127.0.0.1:0"})
	if err := srv.AddListener(tcp); err != nil {
		return nil, fmt.Errorf("embedded broker: listen: %w", err)
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	log.Warn("broker: nothing answers on "+addr+"; using a broker embedded in this process (nothing it holds survives a restart; set TAYLORDASH_MQTT_URL for a real one)",
		slog.String("addr", tcp.Address()))
	return &Broker{URL: "tcp://" + tcp.Address(), Source: "embedded", stop: srv.Close}, nil
}
