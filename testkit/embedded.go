package testkit

import (
	"context"
	"fmt"
	"log/slog"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// startEmbeddedBroker runs a mochi-mqtt broker in this process on a free
// loopback port, allowing anonymous clients. It is the last provider: it
// needs nothing installed, but it lives and dies with the test binary and
// keeps no persistence.
func startEmbeddedBroker() (string, func(context.Context) error, error) {
	srv := mqtt.New(&mqtt.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return "", nil, fmt.Errorf("embedded broker: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "testkit", Address: "127.0.0.1:0"})
	if err := srv.AddListener(tcp); err != nil {
		return "", nil, fmt.Errorf("embedded broker: listen: %w", err)
	}
	if err := srv.Serve(); err != nil {
		return "", nil, fmt.Errorf("embedded broker: serve: %w", err)
	}
	stop := func(context.Context) error { return srv.Close() }
	return "tcp://" + tcp.Address(), stop, nil
}
