package eventbuspg

import (
	"embed"

	"github.com/taylordash/taylordash/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the schema of this package under the "eventbus"
// namespace: events_mirror, outbox and dlq_events. Module contributes it
// with store.AsMigrations; without fx, pass it to store.Migrate. The files
// are add-only: a change is a new numbered file.
var Migrations = store.Migrations{Namespace: "eventbus", FS: migrationFiles}
