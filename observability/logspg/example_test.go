package logspg_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/taylordash/taylordash/internal/exampledb"
	"github.com/taylordash/taylordash/observability/logspg"
	"github.com/taylordash/taylordash/store"
)

// Example stores an application's logs without fx: the queue is the
// logger's handler (in an application, one of the observability module's
// sinks), and a writer drains it into the database in batches.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, cleanup, err := exampleDB(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cleanup()

	queue := logspg.NewQueue(logspg.QueueConfig{Service: "projects-api"})
	writer := logspg.NewWriter(db, queue, logspg.WriterConfig{}, nil)
	if err := writer.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	log := slog.New(queue)
	log.Info("project created", slog.String("request_id", "req-1"), slog.Int("project_id", 7))
	log.Debug("below the queue's level: not stored")
	log.Error("export failed", slog.String("request_id", "req-2"), slog.Any("error", fmt.Errorf("disk full")))
	if err := writer.Stop(ctx); err != nil { // writes what is queued
		fmt.Println(err)
		return
	}

	recs, err := logspg.NewRepository(db).List(ctx, logspg.Filter{Service: "projects-api"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range recs {
		fmt.Println(r.Level, r.Message, r.RequestID, string(r.Context))
	}
	fmt.Println("dropped:", queue.Dropped())
	// Output:
	// ERROR export failed req-2 {"error": "disk full"}
	// INFO project created req-1 {"project_id": 7}
	// dropped: 0
}

// Example_full shows what the queue does while nothing drains it (the
// database is down): it keeps Capacity records and counts the rest as
// dropped, without ever making the caller wait.
func Example_full() {
	queue := logspg.NewQueue(logspg.QueueConfig{Capacity: 3})
	log := slog.New(queue)
	for i := range 5 {
		log.Info("tick", slog.Int("i", i))
	}
	fmt.Println("queued:", queue.Len(), "dropped:", queue.Dropped())
	// Output: queued: 3 dropped: 2
}

// exampleDB opens a scratch database for an example (see exampledb).
func exampleDB(ctx context.Context) (*store.DB, func(), error) {
	return exampledb.Open(ctx, "logspg", logspg.Migrations)
}
