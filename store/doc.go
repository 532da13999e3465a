// Package store is the PostgreSQL layer of taylordash: a connection pool
// ([DB]) that waits for the server at start and recovers from lost
// connections, transactions as functions ([Tx]), add-only SQL migrations
// that every module contributes under its own namespace ([Migrate]), and
// the mapping of database errors to the API's kinds of failure
// ([MapError]).
//
// Everything works without fx; [Module] wires the same pieces into an fx
// application.
//
// # Opening a pool
//
// [Open] parses a [Config], applies its defaults ([Config.WithDefaults]),
// validates it ([Config.Validate] names every bad field and the fix) and
// waits until the server answers:
//
//	db, err := store.Open(ctx, store.Config{URL: "postgres://app:secret@127.0.0.1:5432/app"})
//	if err != nil {
//		return err // names host:port, database and user; never the password
//	}
//	defer db.Close()
//
// [DB] embeds [*pgxpool.Pool], so db.Query, db.Exec, db.Begin and db.Stat
// work as in pgx. [New] builds the pool without connecting; [DB.WaitReady]
// then retries with capped exponential backoff and jitter for up to
// Config.StartupTimeout, as when the application and its database start
// together. Errors that waiting cannot fix (a missing database, a wrong
// password) fail at once with a hint on what to change.
//
// Once running, the pool survives the loss of its connections (a server
// restart, a failover, pg_terminate_backend) without a restart of the
// application: pgxpool pings a connection that was idle for more than a
// second before handing it out, and replaces it if the ping fails. A
// connection that died while in use within the last second fails the
// statement that next uses it, once; [IsRetryable] reports that error as
// retryable. [DB.Check] is the readiness check: a round trip on a pooled
// connection.
//
// # TLS
//
// The URL takes libpq's TLS parameters (sslmode, sslrootcert, sslcert,
// sslkey); [Config.CAFile], [Config.CertFile] and [Config.KeyFile]
// (TAYLORDASH_DATABASE_CA_FILE, _CERT_FILE, _KEY_FILE) set the same three
// files apart from the URL, winning over it, and a CAFile with no sslmode
// in the URL means sslmode=verify-full. Both end in one connection string,
// parsed once by pgx:
//
//	store.Config{URL: "postgres://app:secret@db.internal:5432/app", CAFile: "/etc/taylordash/db-ca.pem"}
//
// A certificate problem fails [DB.WaitReady] at once, naming host:port and
// what to check (the CA file, the host name, the client certificate).
// [Config.Endpoints] describes the server addresses for a
// dashcore.TLSPolicy; [Module] checks them with the application's policy,
// which warns about a link that leaves the machine without verified TLS,
// or refuses it with TAYLORDASH_REQUIRE_TLS. See docs/operations.md.
//
// # Transactions and nesting
//
// [Tx] runs a function in a transaction: it commits when the function
// returns nil, and rolls back when it returns an error (returned unchanged,
// so errors.Is and errors.As work on it) or panics (the panic goes on after
// the rollback). The rollback runs even when ctx is already cancelled.
//
//	err := store.Tx(ctx, db, func(tx pgx.Tx) error {
//		if _, err := tx.Exec(ctx, "UPDATE accounts SET balance = balance - 10 WHERE id = $1", from); err != nil {
//			return err
//		}
//		_, err := tx.Exec(ctx, "UPDATE accounts SET balance = balance + 10 WHERE id = $1", to)
//		return err
//	})
//
// Called with a [pgx.Tx] instead of the pool, Tx runs the function in a
// savepoint: an error undoes only the inner work and the outer transaction
// goes on; the outer transaction decides what is finally committed. A
// repository method can therefore take a [Beginner] and use Tx without
// knowing whether its caller already opened a transaction.
//
// [TxOptions] sets the isolation level or read-only mode. A serializable
// transaction may fail with a serialization failure: run the whole
// function again when [IsRetryable] says so.
//
// # Migrations
//
// Each module owns its schema as numbered SQL files, NNNN_description.sql,
// in an fs.FS (an embed.FS in practice), given to [Migrate] as
// [Migrations], or contributed to the application with [AsMigrations]:
//
//	//go:embed migrations/*.sql
//	var migrations embed.FS
//
//	var Module = fx.Module("projects", store.AsMigrations("projects", migrations), ...)
//
// The files may sit at the root of the FS or in a migrations directory.
// [ReadMigrations] parses every set and rejects bad file names, duplicate
// versions, duplicate namespaces and dependency cycles before anything
// touches a database.
//
// Add-only: a file, once applied, is never edited or deleted; a change
// goes into a new file with the next number. Migrate records each applied
// file with the SHA-256 of its content in [MigrationsTable]. If an applied
// file differs from the code, Migrate applies nothing and returns a
// [*ChangedMigrationError] naming the namespace and file, so the
// application refuses to start instead of running on a schema its code
// does not describe.
//
// Namespaces: each module's versions are numbered on their own, under the
// module's namespace ("projects", "eventbus"), so that modules never
// compete for numbers. Namespaces are applied one after the other, those
// named in DependsOn first (a module whose tables reference another
// module's tables depends on it), then by name; within a namespace, files
// run in numeric version order (2 before 10).
//
// Advisory lock: Migrate holds a PostgreSQL advisory lock while it works,
// so that instances starting together migrate exactly once: one applies
// the pending files, the others wait for the lock and then find nothing to
// do.
//
// Transactions: each file runs in its own transaction together with its
// record in MigrationsTable; a file that fails leaves no trace, and the
// error names the namespace, the file and the line. A file whose first
// line is
//
//	-- taylordash:no-transaction
//
// runs outside a transaction, for statements that refuse one, such as
// CREATE INDEX CONCURRENTLY. Such a file should hold that one statement; if
// it fails half-way, repair the schema by hand before the next start.
//
// [Module] migrates on start unless Config.SkipMigrations is set (to
// migrate from a deploy job instead). [MigrateConn] migrates over a single
// connection, for tools without a pool.
//
// # Errors
//
// [MapError] classifies a database error once, in the repository, for
// callers and for the API: [pgx.ErrNoRows] becomes [ErrNotFound] (a
// [dashcore.ErrNotFound]: 404); unique and foreign-key violations become
// [dashcore.ErrConflict] (409); check, not-null and value-too-long
// violations become [dashcore.ErrInvalid] (422); malformed input such as a
// bad UUID becomes [dashcore.ErrBadRequest] (400); transient failures and
// timeouts become [dashcore.ErrUnavailable] (503). The original error stays in the
// chain for errors.As and the logs; dashcore never shows it to clients.
//
//	err := db.QueryRow(ctx, "SELECT name FROM projects WHERE id = $1", id).Scan(&name)
//	if err != nil {
//		return "", store.MapError(err) // errors.Is(err, store.ErrNotFound) when there is no such project
//	}
//
// [IsUniqueViolation] and [IsForeignKeyViolation] test for those
// violations; [IsRetryable] tells whether running the same transaction
// again may succeed (a serialization failure, a deadlock, a lost
// connection), and never for an error caused by the caller's own context.
package store
