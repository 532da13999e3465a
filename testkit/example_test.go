package testkit_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

// A broker's topics are kept apart from other tests' by the prefix.
func ExampleBroker_Topic() {
	b := &testkit.Broker{URL: "tcp://127.0.0.1:1883", Prefix: "tdtest/TestOrders/3f9a1c/"}
	fmt.Println(b.Topic("tracker", "events", "projects", "created"))
	// Output: tdtest/TestOrders/3f9a1c/tracker/events/projects/created
}

// How a team's test file uses the testkit: a started application with its
// own database.
func ExampleApp() {
	var t *testing.T // the test's *testing.T
	app := testkit.App(t, dashcore.Module, store.Module)
	resp, err := app.Client.Get(app.URL + "/health/ready")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("not ready: %v", err)
	}
}
