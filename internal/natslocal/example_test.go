package natslocal_test

import (
	"context"
	"fmt"

	"github.com/taylordash/taylordash/internal/natslocal"
)

// A NATS server of the test's own, with JetStream in a temp directory and
// its MQTT listener on a free port. (Not run: it needs nats-server.)
func Example() {
	ctx := context.Background()
	s, err := natslocal.Start(ctx, natslocal.Options{DieWithParent: true, MQTT: `ack_wait: "2s"`})
	if err != nil {
		fmt.Println(err) // wraps natslocal.ErrNotInstalled without the binary
		return
	}
	defer s.Stop(ctx)
	fmt.Println("MQTT clients connect to", s.URL())
}
