// Package authpg keeps the auth module's state in PostgreSQL: local users
// and their sessions, API keys, the audit log, and the Casbin policy (an
// adapter, and a LISTEN/NOTIFY watcher that keeps every instance's policy
// in step).
package authpg
