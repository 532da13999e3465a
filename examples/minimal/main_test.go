package main

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/taylordash/taylordash/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func TestHelloCountsVisits(t *testing.T) {
	app := testkit.App(t, modules())
	for want := int64(1); want <= 2; want++ {
		resp, err := app.Client.Get(app.URL + "/hello/ada")
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Message string
			Visits  int64
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || body.Message != "Hello, ada!" || body.Visits != want {
			t.Fatalf("visit %d: %d %+v", want, resp.StatusCode, body)
		}
	}
	// Bad input is a 422 problem and changes nothing.
	resp, err := app.Client.Get(app.URL + "/hello/ADA!")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("bad name: %d", resp.StatusCode)
	}
	var n int
	if err := app.DB.DB.QueryRow(t.Context(), "SELECT count(*) FROM greetings").Scan(&n); err != nil || n != 1 {
		t.Fatalf("greetings rows: %d, %v", n, err)
	}
}
