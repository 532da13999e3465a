package tracker

import (
	"embed"

	"github.com/taylordash/taylordash/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the schema of this package under the "tracker" namespace:
// projects, components, tasks and component_dependencies, with CHECK
// constraints for every enum and range, cascading foreign keys (all
// indexed), and triggers that keep updated_at (and a task's completed_at)
// current. It references no other module's tables, so it depends on no
// other namespace. Module contributes it with store.AsMigrations; without
// fx, pass it to store.Migrate. The files are add-only: a change is a new
// numbered file.
var Migrations = store.Migrations{Namespace: "tracker", FS: migrationFiles}
