package eventbustest_test

import (
	"fmt"

	"github.com/taylordash/taylordash/eventbus/eventbustest"
)

// ExampleTestNames lists what the suite checks; each name is a subtest of
// Run.
func ExampleTestNames() {
	for _, name := range eventbustest.TestNames() {
		fmt.Println(name)
	}
	// Output:
	// PublishReceiveByteExact
	// OrderOneThousand
	// Wildcards
	// AckPreventsRedelivery
	// UnsettledRedeliveredFirst
	// NackRedelivers
	// RedeliveredAfterReconnect
	// OfflineMessagesQueued
	// BackPressureWindow
	// ConcurrentPublishers
	// PublishAfterCloseFails
	// ContextCancelClosesChannel
	// CloseClosesChannel
	// SharedSubscription
}
