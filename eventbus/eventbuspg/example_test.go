package eventbuspg_test

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/eventbus/memory"
	"github.com/taylordash/taylordash/internal/exampledb"
	"github.com/taylordash/taylordash/store"
)

// Example_outbox writes an event in the transaction of the change it
// describes. It is in the mirror at commit; the relay publishes it after
// the commit (woken by NOTIFY). When the publication comes back through
// ingest, its first delivery is handled and a redelivery is a duplicate.
func Example_outbox() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, cleanup, err := exampleDB(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cleanup()

	broker := memory.New() // in production, the MQTT transport
	sub := broker.Subscriber("dashboard", 10)
	defer sub.Close()
	msgs, err := sub.Subscribe(ctx, "tracker/events/#")
	if err != nil {
		fmt.Println(err)
		return
	}
	relay := eventbuspg.NewRelay(db, broker.Publisher(), eventbuspg.RelayConfig{}, nil)
	if err := relay.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer relay.Stop(ctx)

	outbox := eventbuspg.NewOutbox(db, eventbuspg.OutboxConfig{Source: "projects-api"})
	err = store.Tx(ctx, db, func(tx pgx.Tx) error {
		// ... INSERT INTO projects ... in tx, then:
		_, err := outbox.PublishTx(ctx, tx, "tracker/events/projects/created", "project_created", map[string]string{"name": "Roadmap"})
		return err
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	mirror := eventbuspg.NewMirror(db)
	events, err := mirror.List(ctx, eventbuspg.EventFilter{Kind: "project_created"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("mirrored at commit:", len(events), events[0].Topic)

	select {
	case m := <-msgs:
		env, err := eventbus.Parse(m.Payload, eventbus.ParseOptions{})
		if err != nil {
			fmt.Println(err)
			return
		}
		m.Ack()
		fmt.Println("published:", m.Topic, env.Kind, env.Source, string(env.Payload))
		// What the ingest pipeline does with it, and with a redelivery.
		for range 2 {
			ev := &eventbus.Event{Topic: m.Topic, Envelope: env, Raw: m.Payload, ReceivedAt: m.ReceivedAt}
			if err := mirror.Record(ctx, []*eventbus.Event{ev}); err != nil {
				fmt.Println(err)
				return
			}
			fmt.Println("ingested, duplicate:", ev.Duplicate)
		}
	case <-ctx.Done():
		fmt.Println("not published")
	}

	// Output:
	// mirrored at commit: 1 tracker/events/projects/created
	// published: tracker/events/projects/created project_created projects-api {"name":"Roadmap"}
	// ingested, duplicate: false
	// ingested, duplicate: true
}

// Example_deadLetters stores a message that could not be processed, the
// same message again, replays it byte-exact, and purges what was
// replayed.
func Example_deadLetters() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, cleanup, err := exampleDB(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cleanup()

	dlq := eventbuspg.NewDeadLetterStore(db)
	poison := eventbus.DeadLetter{Topic: "tracker/events/projects/created", Payload: []byte("{\"kind\": \xff}"),
		Reason: eventbus.ReasonNotUTF8, Detail: "the message is not valid UTF-8", Attempts: 1}
	for range 2 { // the same message twice: one row
		if err := dlq.Put(ctx, []eventbus.DeadLetter{poison}); err != nil {
			fmt.Println(err)
			return
		}
	}
	letters, err := dlq.List(ctx, eventbuspg.DLQFilter{Reason: eventbus.ReasonNotUTF8})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d row, %d attempts, payload %q\n", len(letters), letters[0].Attempts, letters[0].Payload)

	broker := memory.New()
	sub := broker.Subscriber("ingest", 10)
	defer sub.Close()
	msgs, err := sub.Subscribe(ctx, "tracker/events/#")
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := dlq.Replay(ctx, broker.Publisher(), letters[0].ID)
	if err != nil {
		fmt.Println(err)
		return
	}
	m := <-msgs
	m.Ack()
	fmt.Printf("replayed %d of %d: %q to %s\n", res.Replayed, res.Total, m.Payload, m.Topic)

	if _, err := dlq.Purge(ctx, eventbuspg.DLQFilter{}); err != nil {
		fmt.Println("purge without a condition:", err)
	}
	replayed := true
	n, err := dlq.Purge(ctx, eventbuspg.DLQFilter{Replayed: &replayed})
	fmt.Println("purged:", n, err)

	// Output:
	// 1 row, 2 attempts, payload "{\"kind\": \xff}"
	// replayed 1 of 1: "{\"kind\": \xff}" to tracker/events/projects/created
	// purge without a condition: purging needs at least one condition (topic, reason, since, until, replayed or ids); use PurgeAll to delete every dead letter
	// purged: 1 <nil>
}

// exampleDB opens a scratch database for an example (see exampledb).
func exampleDB(ctx context.Context) (*store.DB, func(), error) {
	return exampledb.Open(ctx, "eventbuspg", eventbuspg.Migrations)
}
