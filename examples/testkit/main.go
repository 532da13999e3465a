// Command testkit is a small service for its test file, main_test.go,
// which shows the testkit used from a team's own tests: one call per
// service, real PostgreSQL and a real broker, nothing to mock. The
// service keeps bookmarks: POST /bookmarks stores one and announces it on
// the broker (bookmarks/added) through the transactional outbox.
//
//	TAYLORDASH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres go run ./examples/testkit
//	curl -d '{"url":"https://go.dev","title":"Go"}' -H 'Content-Type: application/json' localhost:8000/bookmarks
package main

import (
	"context"
	"embed"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jackc/pgx/v5"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/eventbus/mqtt"
	"github.com/taylordash/taylordash/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// schema is the service's migrations; its tests migrate their databases
// with it too.
var schema = store.Migrations{Namespace: "bookmarks", FS: migrations}

// TopicAdded is where a new bookmark is announced.
const TopicAdded = "bookmarks/added"

func main() {
	if err := dashcore.Run(context.Background(), modules()); err != nil {
		fmt.Fprintln(os.Stderr, "bookmarks:", err)
		os.Exit(1)
	}
}

func modules() fx.Option {
	return fx.Options(
		dashcore.Module,
		store.Module,      // TAYLORDASH_DATABASE_URL
		mqtt.Module,       // TAYLORDASH_MQTT_URL
		eventbuspg.Module, // the outbox and its relay (and the mirror it writes)
		store.AsMigrations(schema.Namespace, schema.FS),
		fx.Provide(newBookmarks, dashcore.AsRoutes(newRoutes)),
	)
}

// Bookmark is a stored bookmark.
type Bookmark struct {
	ID        int64     `json:"id" db:"id" example:"1"`
	URL       string    `json:"url" db:"url" example:"https://go.dev"`
	Title     string    `json:"title" db:"title" example:"Go"`
	CreatedAt time.Time `json:"created_at" db:"created_at"`
}

// Bookmarks is the repository.
type Bookmarks struct {
	db     *store.DB
	outbox *eventbuspg.Outbox
}

func newBookmarks(db *store.DB, outbox *eventbuspg.Outbox) *Bookmarks {
	return &Bookmarks{db: db, outbox: outbox}
}

// Add stores a bookmark and writes its event in the same transaction. A
// URL stored already is a dashcore.ErrConflict (409).
func (b *Bookmarks) Add(ctx context.Context, url, title string) (Bookmark, error) {
	var bm Bookmark
	err := store.Tx(ctx, b.db, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `INSERT INTO bookmarks (url, title) VALUES ($1, $2) RETURNING *`, url, title)
		var err error
		if bm, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Bookmark]); err != nil {
			return err
		}
		_, err = b.outbox.PublishTx(ctx, tx, TopicAdded, "bookmark_added", bm)
		return err
	})
	return bm, store.MapError(err)
}

// List returns every bookmark, newest first.
func (b *Bookmarks) List(ctx context.Context) ([]Bookmark, error) {
	rows, _ := b.db.Query(ctx, `SELECT * FROM bookmarks ORDER BY id DESC`)
	list, err := pgx.CollectRows(rows, pgx.RowToStructByName[Bookmark])
	return list, store.MapError(err)
}

type addInput struct {
	Body struct {
		URL   string `json:"url" pattern:"^https?://\\S+$" maxLength:"2000" example:"https://go.dev" doc:"An http or https URL."`
		Title string `json:"title,omitempty" maxLength:"200" example:"Go"`
	}
}

type bookmarkOutput struct {
	Body Bookmark
}

type listOutput struct {
	Body []Bookmark
}

func newRoutes(b *Bookmarks) dashcore.Routes {
	return dashcore.Routes{
		Name: "bookmarks",
		Register: func(api huma.API) {
			huma.Register(api, huma.Operation{
				OperationID: "add-bookmark", Method: http.MethodPost, Path: "/bookmarks",
				Summary: "Add a bookmark", DefaultStatus: http.StatusCreated,
			}, func(ctx context.Context, in *addInput) (*bookmarkOutput, error) {
				bm, err := b.Add(ctx, in.Body.URL, in.Body.Title)
				if err != nil {
					return nil, err
				}
				return &bookmarkOutput{Body: bm}, nil
			})
			huma.Register(api, huma.Operation{
				OperationID: "list-bookmarks", Method: http.MethodGet, Path: "/bookmarks", Summary: "List the bookmarks",
			}, func(ctx context.Context, _ *struct{}) (*listOutput, error) {
				list, err := b.List(ctx)
				if err != nil {
					return nil, err
				}
				return &listOutput{Body: list}, nil
			})
		},
	}
}
