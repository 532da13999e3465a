package rabbitmqlocal_test

import (
	"context"
	"fmt"

	"github.com/taylordash/taylordash/internal/rabbitmqlocal"
)

// An MQTT listener of the test's own on the machine's RabbitMQ. (Not run:
// it needs a running RabbitMQ.)
func Example() {
	ctx := context.Background()
	l, err := rabbitmqlocal.Start(ctx, rabbitmqlocal.Options{})
	if err != nil {
		fmt.Println(err) // names what is missing: rabbitmqctl, the service, the plugin
		return
	}
	defer l.Stop(ctx)
	fmt.Println("MQTT clients connect to", l.URL())
}
