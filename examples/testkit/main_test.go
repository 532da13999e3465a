package main

// This file is meant to be copied: each test asks the testkit for the
// services it needs, one call each, and gets real ones (a PostgreSQL
// database of its own, the broker with a topic prefix of its own),
// isolated from every other test, cleaned up when it ends.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/eventbus/mqtt"
	"github.com/taylordash/taylordash/testkit"
)

// TestMain stops what the testkit started (a server from local binaries,
// containers) after the package's tests.
func TestMain(m *testing.M) { testkit.Main(m) }

// testkit.Postgres: a database migrated with the sets given, empty, in
// about a millisecond. Good for repositories.
func TestAddStoresOnceWithItsEvent(t *testing.T) {
	db := testkit.Postgres(t, schema, eventbuspg.Migrations)
	b := newBookmarks(db.DB, eventbuspg.NewOutbox(db.DB, eventbuspg.OutboxConfig{}))

	bm, err := b.Add(t.Context(), "https://go.dev", "Go")
	if err != nil || bm.ID == 0 || bm.Title != "Go" {
		t.Fatalf("add: %+v, %v", bm, err)
	}
	if _, err := b.Add(t.Context(), "https://go.dev", "again"); !errors.Is(err, dashcore.ErrConflict) {
		t.Fatalf("the same URL again: %v, want a conflict", err)
	}
	// One event, written with the row (the failed insert wrote none).
	var events int
	if err := db.DB.QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE topic = $1`, TopicAdded).Scan(&events); err != nil || events != 1 {
		t.Fatalf("outbox: %d events, %v", events, err)
	}
}

// testkit.MQTT: the broker, and a topic prefix unique to the test (give
// it to every client). Here with a database too: the outbox's relay
// publishes what Add wrote.
func TestRelayPublishesTheEvent(t *testing.T) {
	db := testkit.Postgres(t, schema, eventbuspg.Migrations)
	broker := testkit.MQTT(t)
	client, events := subscribe(t, broker, TopicAdded)
	relay := eventbuspg.NewRelay(db.DB, client, eventbuspg.RelayConfig{}, nil)
	if err := relay.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = relay.Stop(context.Background()) })

	b := newBookmarks(db.DB, eventbuspg.NewOutbox(db.DB, eventbuspg.OutboxConfig{}))
	if _, err := b.Add(t.Context(), "https://pkg.go.dev", "Packages"); err != nil {
		t.Fatal(err)
	}
	env := next(t, events)
	if env.Kind != "bookmark_added" || !strings.Contains(string(env.Payload), `"url":"https://pkg.go.dev"`) {
		t.Fatalf("event %+v", env)
	}
}

// testkit.App: the whole service on a free port, with a fresh database
// (migrated with exactly its modules' migrations) and the broker (a
// prefix, a client id), stopped when the test ends.
func TestService(t *testing.T) {
	app := testkit.App(t, modules())
	_, events := subscribe(t, app.Broker, TopicAdded)

	post := func(body string) int {
		t.Helper()
		resp, err := app.Client.Post(app.URL+"/bookmarks", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := post(`{"url":"https://go.dev/blog","title":"Blog"}`); s != http.StatusCreated {
		t.Fatalf("add: %d", s)
	}
	if s := post(`{"url":"https://go.dev/blog"}`); s != http.StatusConflict {
		t.Fatalf("the same URL again: %d, want 409", s)
	}
	if s := post(`{"url":"not a url"}`); s != http.StatusUnprocessableEntity {
		t.Fatalf("a bad URL: %d, want 422", s)
	}

	resp, err := app.Client.Get(app.URL + "/bookmarks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []Bookmark
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || len(list) != 1 || list[0].Title != "Blog" {
		t.Fatalf("list: %+v, %v", list, err)
	}
	// The event went out through the service's own relay.
	if env := next(t, events); env.Kind != "bookmark_added" {
		t.Fatalf("event %+v", env)
	}
	// The app's database is at hand for checks.
	var n int
	if err := app.DB.DB.QueryRow(t.Context(), `SELECT count(*) FROM bookmarks`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("bookmarks rows: %d, %v", n, err)
	}
}

// subscribe connects a client of the test to broker (under its prefix)
// and subscribes it to filter. The client publishes too.
func subscribe(t *testing.T, broker *testkit.Broker, filter string) (*mqtt.Client, <-chan *eventbus.Message) {
	t.Helper()
	c, err := mqtt.New(mqtt.Config{
		URL:          broker.URL,
		TopicPrefix:  broker.Prefix,
		ClientID:     "test-" + strings.Trim(strings.ReplaceAll(broker.Prefix, "/", "-"), "-"),
		CleanSession: true,
		WillTopic:    "-",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Subscribe(t.Context(), filter)
	if err != nil {
		t.Fatal(err)
	}
	return c, msgs
}

// next returns the next message's envelope, acknowledged, or fails after
// ten seconds.
func next(t *testing.T, msgs <-chan *eventbus.Message) eventbus.Envelope {
	t.Helper()
	select {
	case m := <-msgs:
		m.Ack()
		var env eventbus.Envelope
		if err := json.Unmarshal(m.Payload, &env); err != nil {
			t.Fatalf("message %s: %v", m.Payload, err)
		}
		return env
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
		return eventbus.Envelope{}
	}
}
