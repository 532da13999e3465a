package memory_test

import (
	"context"
	"fmt"

	"github.com/taylordash/taylordash/eventbus/memory"
)

// Example publishes to a topic a subscriber's filter matches, and shows
// that a message left unacknowledged by a subscriber that goes away is
// delivered again to the next subscriber of the same identity.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := memory.New()
	pub := b.Publisher()
	defer pub.Close()

	sub := b.Subscriber("worker", 10)
	ch, err := sub.Subscribe(ctx, "tracker/events/+/created")
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = pub.Publish(ctx, "tracker/events/projects/created", []byte(`{"id":1}`))
	_ = pub.Publish(ctx, "tracker/events/projects/deleted", []byte(`{"id":1}`)) // no match
	_ = pub.Publish(ctx, "tracker/events/tasks/created", []byte(`{"id":2}`))

	m := <-ch
	fmt.Println(m.Topic, string(m.Payload))
	m.Ack()
	m = <-ch
	fmt.Println(m.Topic, string(m.Payload), "(not acked)")
	_ = sub.Close() // the worker stops before acking

	sub = b.Subscriber("worker", 10) // the same identity resumes the session
	defer sub.Close()
	ch, _ = sub.Subscribe(ctx, "tracker/events/+/created")
	m = <-ch
	fmt.Println(m.Topic, string(m.Payload), "redelivered:", m.Redelivered)
	m.Ack()
	// Output:
	// tracker/events/projects/created {"id":1}
	// tracker/events/tasks/created {"id":2} (not acked)
	// tracker/events/tasks/created {"id":2} redelivered: true
}
