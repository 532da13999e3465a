package store

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Migrations is one module's schema: numbered SQL files under its own
// namespace. Files are named NNNN_description.sql (any number of digits)
// and are applied in version order, each once, each in its own
// transaction. They are add-only: never edit or delete an applied file;
// add a new one. A file whose first line is "-- taylordash:no-transaction"
// runs outside a transaction (for CREATE INDEX CONCURRENTLY); it should
// hold that one statement, since PostgreSQL runs several statements sent
// together in an implicit transaction. If it fails half-way, fix the
// schema by hand before the next start.
type Migrations struct {
	// Namespace keeps this module's versions apart from other modules',
	// e.g. "eventbus".
	Namespace string
	// FS holds the .sql files at its root, or in a "migrations" directory
	// at its root (what //go:embed migrations/*.sql gives).
	FS fs.FS
	// DependsOn names namespaces whose migrations must run first (because
	// this module's tables reference theirs).
	DependsOn []string
}

// MigrationFile is one parsed migration file.
type MigrationFile struct {
	// Namespace is the owning module's namespace.
	Namespace string
	// Version is the file's number.
	Version int64
	// Name is the file name, e.g. "0001_create_projects.sql".
	Name string
	// Checksum is the hex SHA-256 of the file's content.
	Checksum string
	// SQL is the file's content.
	SQL string
	// NoTransaction is set by the "-- taylordash:no-transaction" marker.
	NoTransaction bool
}

// Applied is a migration file that Migrate applied.
type Applied struct {
	// Namespace is the owning module's namespace.
	Namespace string
	// Version is the file's number.
	Version int64
	// Name is the file name, e.g. "0001_create_projects.sql".
	Name string
	// Duration is how long the file took to run.
	Duration time.Duration
}

// MigrationsTable records applied files: (namespace, version, name,
// checksum, applied_at, duration_ms).
const MigrationsTable = "taylordash_migrations"

// migrationLockKey is the advisory lock under which instances migrate.
const migrationLockKey int64 = 0x7464_5f6d_6967_7261 // "td_migra"

var fileName = regexp.MustCompile(`^([0-9]+)_([A-Za-z0-9][A-Za-z0-9_.-]*)\.sql$`)

var namespaceName = regexp.MustCompile(`^[a-z][a-z0-9_.-]*$`)

const noTxMarker = "-- taylordash:no-transaction"

// ReadMigrations parses every set, in the order Migrate applies them
// (namespaces ordered by DependsOn, then by name; files by version). It
// rejects bad names, duplicate namespaces or versions, and dependency
// cycles, before anything touches a database.
func ReadMigrations(sets ...Migrations) ([]MigrationFile, error) {
	byNS := make(map[string]Migrations, len(sets))
	for _, s := range sets {
		if !namespaceName.MatchString(s.Namespace) {
			return nil, fmt.Errorf("store: migrations namespace %q: use lower-case letters, digits, '_', '.', '-', starting with a letter", s.Namespace)
		}
		if _, dup := byNS[s.Namespace]; dup {
			return nil, fmt.Errorf("store: migrations namespace %q is contributed twice; each module needs its own", s.Namespace)
		}
		if s.FS == nil {
			return nil, fmt.Errorf("store: migrations namespace %q has no FS", s.Namespace)
		}
		byNS[s.Namespace] = s
	}
	order, err := namespaceOrder(byNS)
	if err != nil {
		return nil, err
	}
	var files []MigrationFile
	for _, ns := range order {
		nsFiles, err := readNamespace(byNS[ns])
		if err != nil {
			return nil, err
		}
		files = append(files, nsFiles...)
	}
	return files, nil
}

func readNamespace(s Migrations) ([]MigrationFile, error) {
	dir := "."
	entries, err := fs.ReadDir(s.FS, dir)
	if err != nil {
		return nil, fmt.Errorf("store: migrations %q: read directory: %w", s.Namespace, err)
	}
	if !slices.ContainsFunc(entries, isSQL) {
		if sub, err := fs.ReadDir(s.FS, "migrations"); err == nil {
			dir, entries = "migrations", sub
		}
	}
	var files []MigrationFile
	for _, e := range entries {
		if !isSQL(e) {
			continue
		}
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("store: migration %s/%s: name must be NNNN_description.sql (digits, underscore, then letters, digits, '_', '.', '-')", s.Namespace, e.Name())
		}
		version, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("store: migration %s/%s: version: %w", s.Namespace, e.Name(), err)
		}
		content, err := fs.ReadFile(s.FS, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("store: migration %s/%s: %w", s.Namespace, e.Name(), err)
		}
		sum := sha256.Sum256(content)
		sql := string(content)
		firstLine, _, _ := strings.Cut(sql, "\n")
		files = append(files, MigrationFile{
			Namespace:     s.Namespace,
			Version:       version,
			Name:          e.Name(),
			Checksum:      hex.EncodeToString(sum[:]),
			SQL:           sql,
			NoTransaction: strings.TrimSpace(firstLine) == noTxMarker,
		})
	}
	slices.SortFunc(files, func(a, b MigrationFile) int { return cmp.Compare(a.Version, b.Version) })
	for i := 1; i < len(files); i++ {
		if files[i].Version == files[i-1].Version {
			return nil, fmt.Errorf("store: migrations %q: version %d is used by both %s and %s; give one of them the next free number",
				s.Namespace, files[i].Version, files[i-1].Name, files[i].Name)
		}
	}
	return files, nil
}

func isSQL(e fs.DirEntry) bool { return !e.IsDir() && strings.HasSuffix(e.Name(), ".sql") }

// namespaceOrder sorts namespaces so that dependencies come first, ties
// broken by name (Kahn's algorithm).
func namespaceOrder(byNS map[string]Migrations) ([]string, error) {
	indegree := make(map[string]int, len(byNS))
	dependents := make(map[string][]string)
	for ns, s := range byNS {
		indegree[ns] += 0
		for _, dep := range s.DependsOn {
			if _, ok := byNS[dep]; !ok {
				return nil, fmt.Errorf("store: migrations %q depend on namespace %q, which no module in this application contributes; add its module", ns, dep)
			}
			indegree[ns]++
			dependents[dep] = append(dependents[dep], ns)
		}
	}
	var ready, order []string
	for ns, d := range indegree {
		if d == 0 {
			ready = append(ready, ns)
		}
	}
	for len(ready) > 0 {
		slices.Sort(ready)
		ns := ready[0]
		ready = ready[1:]
		order = append(order, ns)
		for _, dep := range dependents[ns] {
			if indegree[dep]--; indegree[dep] == 0 {
				ready = append(ready, dep)
			}
		}
	}
	if len(order) != len(byNS) {
		var cyclic []string
		for ns, d := range indegree {
			if d > 0 {
				cyclic = append(cyclic, ns)
			}
		}
		slices.Sort(cyclic)
		return nil, fmt.Errorf("store: migration namespaces depend on each other in a cycle: %s", strings.Join(cyclic, ", "))
	}
	return order, nil
}

// ChangedMigrationError reports an applied migration file whose content
// differs from what was applied. Migrations are add-only.
type ChangedMigrationError struct {
	// Namespace and Name identify the file, e.g. "projects" and
	// "0001_create_projects.sql".
	Namespace, Name string
	// Applied is the checksum recorded when the file was applied; InCode
	// is the checksum of the file as it is now.
	Applied, InCode string
	// AppliedAt is when the file was applied.
	AppliedAt time.Time
}

// Error implements error with what to do about it.
func (e *ChangedMigrationError) Error() string {
	return fmt.Sprintf("store: migration %s/%s was changed after it was applied on %s (checksum %.12s in the database, %.12s in the code); migrations are add-only: restore the file as it was and put the change in a new file with the next number",
		e.Namespace, e.Name, e.AppliedAt.UTC().Format(time.RFC3339), e.Applied, e.InCode)
}

// Migrate applies the pending files of every set to db, under a
// PostgreSQL advisory lock, so that instances starting together migrate
// exactly once: one applies, the others wait and then find nothing to do.
// It refuses to apply anything if an applied file changed (a
// *ChangedMigrationError per file, joined). It returns what it applied.
func Migrate(ctx context.Context, db *DB, sets ...Migrations) ([]Applied, error) {
	conn, err := db.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: migrate: acquire connection: %w", err)
	}
	defer conn.Release()
	return MigrateConn(ctx, conn.Conn(), db.log, sets...)
}

// MigrateConn is Migrate on one connection, for tools that have no pool.
func MigrateConn(ctx context.Context, conn *pgx.Conn, log *slog.Logger, sets ...Migrations) (applied []Applied, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	files, err := ReadMigrations(sets...)
	if err != nil {
		return nil, err
	}

	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", migrationLockKey).Scan(&locked); err != nil {
		return nil, fmt.Errorf("store: migrate: take lock: %w", err)
	}
	if !locked {
		log.Info("waiting for another instance to finish migrating")
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
			return nil, fmt.Errorf("store: migrate: wait for lock: %w", err)
		}
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", migrationLockKey); uerr != nil && err == nil {
			err = fmt.Errorf("store: migrate: release lock: %w", uerr)
		}
	}()

	if err := ensureMigrationsTable(ctx, conn); err != nil {
		return nil, err
	}
	done, err := appliedMigrations(ctx, conn)
	if err != nil {
		return nil, err
	}

	var changed []error
	inCode := make(map[nsVersion]bool, len(files))
	for _, f := range files {
		key := nsVersion{f.Namespace, f.Version}
		inCode[key] = true
		if a, ok := done[key]; ok && a.checksum != f.Checksum {
			changed = append(changed, &ChangedMigrationError{Namespace: f.Namespace, Name: f.Name, Applied: a.checksum, InCode: f.Checksum, AppliedAt: a.appliedAt})
		}
	}
	if len(changed) > 0 {
		return nil, errors.Join(changed...)
	}
	for key, a := range done {
		if !inCode[key] && slices.ContainsFunc(sets, func(s Migrations) bool { return s.Namespace == key.ns }) {
			log.Warn("applied migration is missing from the code (an older binary?)", slog.String("namespace", key.ns), slog.String("file", a.name))
		}
	}

	maxDone := make(map[string]int64)
	for key := range done {
		maxDone[key.ns] = max(maxDone[key.ns], key.version)
	}
	for _, f := range files {
		if _, ok := done[nsVersion{f.Namespace, f.Version}]; ok {
			continue
		}
		if f.Version < maxDone[f.Namespace] {
			log.Warn("applying a migration older than one already applied", slog.String("namespace", f.Namespace), slog.String("file", f.Name))
		}
		start := time.Now()
		if err := applyFile(ctx, conn, f); err != nil {
			return applied, err
		}
		d := time.Since(start)
		log.Info("migration applied", slog.String("namespace", f.Namespace), slog.String("file", f.Name), slog.Duration("duration", d))
		applied = append(applied, Applied{Namespace: f.Namespace, Version: f.Version, Name: f.Name, Duration: d})
	}
	return applied, nil
}

type nsVersion struct {
	ns      string
	version int64
}

type appliedRow struct {
	name, checksum string
	appliedAt      time.Time
}

func ensureMigrationsTable(ctx context.Context, conn *pgx.Conn) error {
	// Check before creating: CREATE ... IF NOT EXISTS still counts as DDL
	// for event triggers and takes stronger locks than needed.
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", MigrationsTable).Scan(&exists); err != nil {
		return fmt.Errorf("store: migrate: look for %s: %w", MigrationsTable, err)
	}
	if exists {
		return nil
	}
	_, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+MigrationsTable+` (
		namespace   text             NOT NULL,
		version     bigint           NOT NULL,
		name        text             NOT NULL,
		checksum    text             NOT NULL,
		applied_at  timestamptz      NOT NULL DEFAULT now(),
		duration_ms double precision NOT NULL DEFAULT 0,
		PRIMARY KEY (namespace, version)
	)`)
	if err != nil {
		return fmt.Errorf("store: migrate: create %s: %w", MigrationsTable, err)
	}
	return nil
}

func appliedMigrations(ctx context.Context, conn *pgx.Conn) (map[nsVersion]appliedRow, error) {
	rows, err := conn.Query(ctx, "SELECT namespace, version, name, checksum, applied_at FROM "+MigrationsTable)
	if err != nil {
		return nil, fmt.Errorf("store: migrate: read %s: %w", MigrationsTable, err)
	}
	done := make(map[nsVersion]appliedRow)
	var k nsVersion
	var a appliedRow
	_, err = pgx.ForEachRow(rows, []any{&k.ns, &k.version, &a.name, &a.checksum, &a.appliedAt}, func() error {
		done[k] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: migrate: read %s: %w", MigrationsTable, err)
	}
	return done, nil
}

const recordApplied = "INSERT INTO " + MigrationsTable + " (namespace, version, name, checksum, duration_ms) VALUES ($1, $2, $3, $4, $5)"

func applyFile(ctx context.Context, conn *pgx.Conn, f MigrationFile) error {
	start := time.Now()
	if f.NoTransaction {
		if _, err := conn.Exec(ctx, f.SQL); err != nil {
			return migrationError(f, err)
		}
		ms := float64(time.Since(start).Microseconds()) / 1000
		if _, err := conn.Exec(ctx, recordApplied, f.Namespace, f.Version, f.Name, f.Checksum, ms); err != nil {
			return fmt.Errorf("store: migrate %s/%s: record: %w", f.Namespace, f.Name, err)
		}
		return nil
	}
	return Tx(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, f.SQL); err != nil {
			return migrationError(f, err)
		}
		ms := float64(time.Since(start).Microseconds()) / 1000
		if _, err := tx.Exec(ctx, recordApplied, f.Namespace, f.Version, f.Name, f.Checksum, ms); err != nil {
			return fmt.Errorf("store: migrate %s/%s: record: %w", f.Namespace, f.Name, err)
		}
		return nil
	})
}

// migrationError names the file and, when the server reports a position,
// the line in the file.
func migrationError(f MigrationFile, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Position > 0 {
		// Position counts characters from 1, not bytes.
		runes := []rune(f.SQL)
		pos := min(int(pe.Position)-1, len(runes))
		line := 1 + strings.Count(string(runes[:pos]), "\n")
		return fmt.Errorf("store: migrate %s/%s (line %d): %w", f.Namespace, f.Name, line, err)
	}
	return fmt.Errorf("store: migrate %s/%s: %w", f.Namespace, f.Name, err)
}
