package logspg

import (
	"embed"

	"github.com/taylordash/taylordash/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the schema of this package under the "logs" namespace:
// the application_logs table. Module contributes it with
// store.AsMigrations; without fx, pass it to store.Migrate. The files are
// add-only: a change is a new numbered file.
var Migrations = store.Migrations{Namespace: "logs", FS: migrationFiles}
