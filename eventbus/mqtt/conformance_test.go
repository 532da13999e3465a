package mqtt_test

import (
	"strings"
	"testing"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbustest"
	"github.com/taylordash/taylordash/eventbus/mqtt"
	"github.com/taylordash/taylordash/testkit"
)

// conformanceWindow is the subscribers' window in the suite: below
// Mosquitto's default max_inflight_messages (20), so that the client's
// window, not the broker's, is what the back-pressure test sees on a
// broker with default settings too.
const conformanceWindow = 10

func transport(url, run string, forget bool) eventbustest.Transport {
	ids := func(t *testing.T, identity string) string {
		return "tdtest-" + run + "-" + sanitize(t.Name()) + "-" + identity
	}
	return eventbustest.Transport{
		Name: "mqtt",
		NewPublisher: func(t *testing.T) eventbus.Publisher {
			return startClient(t, mqtt.Config{URL: url, ClientID: uniqueID(t, "pub"), CleanSession: true, WillTopic: "-"})
		},
		NewSubscriber: func(t *testing.T, identity string) eventbus.Subscriber {
			id := ids(t, identity)
			if forget {
				forgetSession(t, url, id)
			}
			return startClient(t, mqtt.Config{URL: url, ClientID: id, Window: conformanceWindow, WillTopic: "-"})
		},
		Topic: func(t *testing.T, parts ...string) string {
			return "tdtest/conformance/" + run + "/" + sanitize(t.Name()) + "/" + strings.Join(parts, "/")
		},
		Window:   conformanceWindow,
		Features: eventbustest.Features{SharedSubscriptions: true, RedeliveredFlag: true},
	}
}

// TestConformance runs the suite on a Mosquitto configured as the package
// doc says (max_queued_messages and max_inflight_messages unlimited).
func TestConformance(t *testing.T) {
	b := privateBroker(t, deliveryConfig, "")
	eventbustest.Run(t, transport(b.URL(), uniqueID(t, "run"), false))
}

// TestConformanceSharedBroker runs the suite on the test broker of
// testkit (the developer's Mosquitto with default limits, or whatever
// TAYLORDASH_TEST_MQTT_* provides), leaving no session behind.
func TestConformanceSharedBroker(t *testing.T) {
	b := testkit.MQTT(t)
	eventbustest.Run(t, transport(b.URL, uniqueID(t, "run"), true))
}
