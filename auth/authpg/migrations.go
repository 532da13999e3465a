package authpg

import (
	"embed"

	"github.com/taylordash/taylordash/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the schema of this package under the "auth" namespace:
// auth_users, auth_sessions, auth_api_keys, auth_audit_log and
// auth_casbin_rules (seeded with the default policy). Module contributes
// it with store.AsMigrations; without fx, pass it to store.Migrate. The
// files are add-only: a change is a new numbered file.
var Migrations = store.Migrations{Namespace: "auth", FS: migrationFiles}
