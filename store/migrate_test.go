package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

// sqlFiles builds a migration FS from name, content pairs.
func sqlFiles(nameContent ...string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := 0; i+1 < len(nameContent); i += 2 {
		fsys[nameContent[i]] = &fstest.MapFile{Data: []byte(nameContent[i+1])}
	}
	return fsys
}

// emptyDatabase returns a test database with nothing in it, not even the
// migrations table, as a new deployment finds it.
func emptyDatabase(t *testing.T) *testkit.Database {
	t.Helper()
	db := testkit.Postgres(t)
	if _, err := db.DB.Exec(context.Background(), "DROP TABLE IF EXISTS "+store.MigrationsTable); err != nil {
		t.Fatal(err)
	}
	return db
}

func appliedNames(applied []store.Applied) []string {
	names := make([]string, len(applied))
	for i, a := range applied {
		names[i] = a.Namespace + "/" + a.Name
	}
	return names
}

// recorded returns namespace/name of every row of the migrations table,
// in the order they were applied.
func recorded(t *testing.T, q querier) []string {
	t.Helper()
	rows, err := q.Query(context.Background(), "SELECT namespace || '/' || name FROM "+store.MigrationsTable+" ORDER BY applied_at, namespace, version")
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func tableExists(t *testing.T, q querier, table string) bool {
	t.Helper()
	return scalar[bool](t, q, "SELECT to_regclass($1) IS NOT NULL", table)
}

// raceSets is a schema of two namespaces in which every file logs itself
// into applied_log, a table without a unique constraint: a file applied
// twice shows as two rows.
func raceSets() []store.Migrations {
	return []store.Migrations{
		{Namespace: "race-items", DependsOn: []string{"race-core"}, FS: sqlFiles(
			"0001_items.sql", "CREATE TABLE items (id int PRIMARY KEY);\nINSERT INTO applied_log VALUES ('race-items/0001_items.sql');",
			"0002_seed.sql", "INSERT INTO items VALUES (1), (2);\nINSERT INTO applied_log VALUES ('race-items/0002_seed.sql');",
		)},
		{Namespace: "race-core", FS: sqlFiles(
			"0001_log.sql", "CREATE TABLE applied_log (file text NOT NULL);\nINSERT INTO applied_log VALUES ('race-core/0001_log.sql');",
			"0002_insert.sql", "INSERT INTO applied_log VALUES ('race-core/0002_insert.sql');",
		)},
	}
}

var raceOrder = []string{"race-core/0001_log.sql", "race-core/0002_insert.sql", "race-items/0001_items.sql", "race-items/0002_seed.sql"}

// migrateTogether runs Migrate from every pool at the same moment.
func migrateTogether(ctx context.Context, pools []*store.DB, sets []store.Migrations) ([][]store.Applied, []error) {
	applied := make([][]store.Applied, len(pools))
	errs := make([]error, len(pools))
	start := make(chan struct{})
	var ready, done sync.WaitGroup
	for i, db := range pools {
		ready.Add(1)
		done.Go(func() {
			// Hold a connection before the start, so that the calls race
			// for the lock and not for connections.
			conn, err := db.Acquire(ctx)
			if err == nil {
				conn.Release()
			}
			ready.Done()
			<-start
			applied[i], errs[i] = store.Migrate(ctx, db, sets...)
		})
	}
	ready.Wait()
	close(start)
	done.Wait()
	return applied, errs
}

func TestMigrateConcurrentInstancesApplyOnce(t *testing.T) {
	for round, instances := range []int{2, 2, 2, 2, 2, 4} {
		t.Run(fmt.Sprintf("round %d with %d instances", round, instances), func(t *testing.T) {
			ctx := testContext(t)
			tdb := emptyDatabase(t)
			pools := make([]*store.DB, instances)
			for i := range pools {
				pools[i] = openDB(t, store.Config{URL: tdb.URL, MinConns: 1, MaxConns: 2})
			}
			applied, errs := migrateTogether(ctx, pools, raceSets())
			winners := 0
			for i := range pools {
				if errs[i] != nil {
					t.Fatalf("instance %d: %v", i, errs[i])
				}
				switch got := appliedNames(applied[i]); len(got) {
				case 0:
				case len(raceOrder):
					winners++
					if !slices.Equal(got, raceOrder) {
						t.Errorf("instance %d applied %v, want %v", i, got, raceOrder)
					}
				default:
					t.Errorf("instance %d applied %v: some files but not all", i, got)
				}
			}
			if winners != 1 {
				t.Fatalf("%d instances reported applying the files, want exactly 1", winners)
			}

			rows, err := tdb.DB.Query(ctx, "SELECT file, count(*) FROM applied_log GROUP BY file ORDER BY file")
			if err != nil {
				t.Fatal(err)
			}
			type fileCount struct {
				File  string
				Count int
			}
			counts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[fileCount])
			if err != nil {
				t.Fatal(err)
			}
			if len(counts) != len(raceOrder) {
				t.Errorf("applied_log has %v, want each of %v once", counts, raceOrder)
			}
			for _, c := range counts {
				if c.Count != 1 {
					t.Errorf("%s ran %d times", c.File, c.Count)
				}
			}
			if got := recorded(t, tdb.DB); !slices.Equal(got, raceOrder) {
				t.Errorf("%s lists %v, want %v", store.MigrationsTable, got, raceOrder)
			}
			if n := scalar[int](t, tdb.DB, "SELECT count(*) FROM items"); n != 2 {
				t.Errorf("items has %d rows, want the 2 seeded once", n)
			}
		})
	}
}

// advisoryLocks counts the advisory locks of the current database held
// and waited for.
func advisoryLocks(t *testing.T, q querier) (held, waiting int) {
	t.Helper()
	err := q.QueryRow(context.Background(), `
		SELECT count(*) FILTER (WHERE granted), count(*) FILTER (WHERE NOT granted)
		  FROM pg_locks
		 WHERE locktype = 'advisory'
		   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&held, &waiting)
	if err != nil {
		t.Fatal(err)
	}
	return held, waiting
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMigrateSecondInstanceWaitsForSlowMigration(t *testing.T) {
	ctx := testContext(t)
	tdb := emptyDatabase(t)
	set := store.Migrations{Namespace: "slow", FS: sqlFiles(
		"0001_slow.sql", "CREATE TABLE applied_log (file text NOT NULL);\nSELECT pg_sleep(0.3);\nINSERT INTO applied_log VALUES ('0001');",
		"0002_after.sql", "INSERT INTO applied_log VALUES ('0002');",
	)}
	var logsA, logsB testkit.LogCapture
	a := openDB(t, store.Config{URL: tdb.URL, Logger: logsA.Logger()})
	b := openDB(t, store.Config{URL: tdb.URL, Logger: logsB.Logger()})

	type result struct {
		applied []store.Applied
		err     error
	}
	run := func(db *store.DB) chan result {
		ch := make(chan result, 1)
		go func() {
			applied, err := store.Migrate(ctx, db, set)
			ch <- result{applied, err}
		}()
		return ch
	}

	doneA := run(a)
	waitFor(t, "instance A holds the migration lock", func() bool { held, _ := advisoryLocks(t, tdb.DB); return held == 1 })
	doneB := run(b)
	waitFor(t, "instance B waits for the lock", func() bool { _, waiting := advisoryLocks(t, tdb.DB); return waiting == 1 })
	select {
	case <-doneA:
		t.Fatal("instance A finished before B queued for the lock: the test proves nothing")
	default:
	}
	ra, rb := <-doneA, <-doneB

	if ra.err != nil || rb.err != nil {
		t.Fatalf("Migrate: A: %v, B: %v", ra.err, rb.err)
	}
	if got, want := appliedNames(ra.applied), []string{"slow/0001_slow.sql", "slow/0002_after.sql"}; !slices.Equal(got, want) {
		t.Errorf("A applied %v, want %v", got, want)
	}
	if ra.applied[0].Duration < 300*time.Millisecond {
		t.Errorf("A reports %s for a file that sleeps 0.3s", ra.applied[0].Duration)
	}
	if len(rb.applied) != 0 {
		t.Errorf("B applied %v after waiting, want nothing", appliedNames(rb.applied))
	}
	// B waited: pg_locks showed it queued, it logged so, and it found both
	// files applied. (Comparing the two return times would race: A's
	// goroutine may be scheduled after B's once the lock is released.)
	if !strings.Contains(logsB.String(), "waiting for another instance") {
		t.Errorf("B did not log that it waited:\n%s", logsB.String())
	}
	if !strings.Contains(logsA.String(), "migration applied") || strings.Contains(logsA.String(), "waiting") {
		t.Errorf("A's log is not that of the instance that migrated:\n%s", logsA.String())
	}
	if n := scalar[int](t, tdb.DB, "SELECT count(*) FROM applied_log"); n != 2 {
		t.Errorf("applied_log has %d rows, want 2", n)
	}
	if held, waiting := advisoryLocks(t, tdb.DB); held != 0 || waiting != 0 {
		t.Errorf("after Migrate, %d advisory locks are held and %d waited for, want none", held, waiting)
	}
}

func TestMigrateRefusesChangedFile(t *testing.T) {
	ctx := testContext(t)
	tdb := emptyDatabase(t)
	fsys := sqlFiles(
		"0001_create.sql", "CREATE TABLE notes (id int PRIMARY KEY, body text);",
		"0002_seed.sql", "INSERT INTO notes VALUES (1, 'first');",
	)
	set := store.Migrations{Namespace: "notes", FS: fsys}
	if _, err := store.Migrate(ctx, tdb.DB, set); err != nil {
		t.Fatal(err)
	}
	var appliedAt time.Time
	if err := tdb.DB.QueryRow(ctx, "SELECT applied_at FROM "+store.MigrationsTable+" WHERE namespace = 'notes' AND version = 2").Scan(&appliedAt); err != nil {
		t.Fatal(err)
	}

	original := fsys["0002_seed.sql"].Data
	fsys["0002_seed.sql"] = &fstest.MapFile{Data: []byte("INSERT INTO notes VALUES (1, 'edited');")}
	fsys["0003_more.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE more_notes (id int);")}

	applied, err := store.Migrate(ctx, tdb.DB, set)
	if err == nil {
		t.Fatal("Migrate accepted an edited applied file")
	}
	var changed *store.ChangedMigrationError
	if !errors.As(err, &changed) {
		t.Fatalf("error is not a *store.ChangedMigrationError: %v", err)
	}
	if changed.Namespace != "notes" || changed.Name != "0002_seed.sql" || changed.Applied == changed.InCode || !changed.AppliedAt.Equal(appliedAt) {
		t.Errorf("ChangedMigrationError = %+v", changed)
	}
	sum := sha256.Sum256(original)
	if changed.Applied != hex.EncodeToString(sum[:]) {
		t.Errorf("Applied checksum %s is not the SHA-256 of the original file", changed.Applied)
	}
	for _, want := range []string{"notes/0002_seed.sql", "add-only", "restore the file", "new file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if len(applied) != 0 {
		t.Errorf("Migrate applied %v despite the edit", appliedNames(applied))
	}
	if tableExists(t, tdb.DB, "more_notes") {
		t.Error("the new file 0003 was applied despite the edited 0002")
	}
	if got := recorded(t, tdb.DB); !slices.Equal(got, []string{"notes/0001_create.sql", "notes/0002_seed.sql"}) {
		t.Errorf("%s lists %v", store.MigrationsTable, got)
	}

	// Restoring the file, as the error says, lets start-up go on.
	fsys["0002_seed.sql"] = &fstest.MapFile{Data: original}
	applied, err = store.Migrate(ctx, tdb.DB, set)
	if err != nil {
		t.Fatal(err)
	}
	if got := appliedNames(applied); !slices.Equal(got, []string{"notes/0003_more.sql"}) {
		t.Errorf("after the restore, Migrate applied %v, want only 0003", got)
	}
}

func TestMigrateReportsEveryChangedFile(t *testing.T) {
	ctx := testContext(t)
	tdb := emptyDatabase(t)
	a := sqlFiles("0001_a.sql", "CREATE TABLE a (id int);")
	b := sqlFiles("0001_b.sql", "CREATE TABLE b (id int);")
	sets := []store.Migrations{{Namespace: "alpha", FS: a}, {Namespace: "beta", FS: b}}
	if _, err := store.Migrate(ctx, tdb.DB, sets...); err != nil {
		t.Fatal(err)
	}
	a["0001_a.sql"].Data = []byte("CREATE TABLE a (id bigint);")
	b["0001_b.sql"].Data = []byte("CREATE TABLE b (id bigint);")
	_, err := store.Migrate(ctx, tdb.DB, sets...)
	for _, want := range []string{"alpha/0001_a.sql", "beta/0001_b.sql"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
}

func TestReadMigrationsOrder(t *testing.T) {
	sets := []store.Migrations{
		{Namespace: "zeta", DependsOn: []string{"core"}, FS: sqlFiles(
			"1_zeta.sql", "INSERT INTO applied_log (file) VALUES ('zeta/1');")},
		{Namespace: "alpha", DependsOn: []string{"zeta", "core"}, FS: sqlFiles(
			"0010_third.sql", "INSERT INTO applied_log (file) VALUES ('alpha/10');",
			"0002_second.sql", "INSERT INTO applied_log (file) VALUES ('alpha/2');",
			"1_first.sql", "INSERT INTO applied_log (file) VALUES ('alpha/1');",
			"README.md", "not a migration",
		)},
		{Namespace: "beta", DependsOn: []string{"core"}, FS: sqlFiles(
			"0001_beta.sql", "INSERT INTO applied_log (file) VALUES ('beta/1');")},
		{Namespace: "core", FS: sqlFiles(
			"0001_log.sql", "CREATE TABLE applied_log (seq bigserial PRIMARY KEY, file text NOT NULL);")},
	}
	// core first (everyone depends on it); then beta before zeta (by
	// name); alpha last although its name sorts first (it depends on zeta);
	// versions numerically: 1, 0002, 0010.
	want := []string{"core/0001_log.sql", "beta/0001_beta.sql", "zeta/1_zeta.sql",
		"alpha/1_first.sql", "alpha/0002_second.sql", "alpha/0010_third.sql"}

	files, err := store.ReadMigrations(sets...)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.Namespace+"/"+f.Name)
		sum := sha256.Sum256([]byte(f.SQL))
		if f.Checksum != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: checksum %s is not the SHA-256 of its SQL", f.Name, f.Checksum)
		}
		if f.NoTransaction {
			t.Errorf("%s: NoTransaction set without the marker", f.Name)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ReadMigrations order:\n got %v\nwant %v", got, want)
	}
	if v := files[5].Version; v != 10 {
		t.Errorf("0010_third.sql has version %d, want 10", v)
	}

	// Migrate applies them in that order.
	ctx := testContext(t)
	tdb := emptyDatabase(t)
	applied, err := store.Migrate(ctx, tdb.DB, sets...)
	if err != nil {
		t.Fatal(err)
	}
	if got := appliedNames(applied); !slices.Equal(got, want) {
		t.Fatalf("Migrate applied\n %v\nwant %v", got, want)
	}
	rows, err := tdb.DB.Query(ctx, "SELECT file FROM applied_log ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	ran, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if wantRan := []string{"beta/1", "zeta/1", "alpha/1", "alpha/2", "alpha/10"}; !slices.Equal(ran, wantRan) {
		t.Fatalf("files ran in the order %v, want %v", ran, wantRan)
	}
	// A second run finds nothing to do.
	again, err := store.Migrate(ctx, tdb.DB, sets...)
	if err != nil || len(again) != 0 {
		t.Fatalf("second Migrate applied %v, %v; want nothing", appliedNames(again), err)
	}
}

func TestReadMigrationsRejects(t *testing.T) {
	ok := sqlFiles("0001_ok.sql", "SELECT 1;")
	tests := []struct {
		name string
		sets []store.Migrations
		want []string
	}{
		{"file name without version", []store.Migrations{{Namespace: "app", FS: sqlFiles("create_widgets.sql", "SELECT 1;")}},
			[]string{"app/create_widgets.sql", "NNNN_description.sql"}},
		{"file name with a dash after the version", []store.Migrations{{Namespace: "app", FS: sqlFiles("0001-widgets.sql", "SELECT 1;")}},
			[]string{"app/0001-widgets.sql", "NNNN_description.sql"}},
		{"duplicate version", []store.Migrations{{Namespace: "app", FS: sqlFiles("0001_a.sql", "SELECT 1;", "1_b.sql", "SELECT 2;")}},
			[]string{`"app"`, "version 1", "0001_a.sql", "1_b.sql", "next free number"}},
		{"duplicate namespace", []store.Migrations{{Namespace: "app", FS: ok}, {Namespace: "app", FS: ok}},
			[]string{`"app"`, "contributed twice"}},
		{"dependency cycle", []store.Migrations{
			{Namespace: "a", FS: ok, DependsOn: []string{"b"}},
			{Namespace: "b", FS: ok, DependsOn: []string{"c"}},
			{Namespace: "c", FS: ok, DependsOn: []string{"a"}},
			{Namespace: "d", FS: ok},
		}, []string{"cycle", "a, b, c"}},
		{"depends on itself", []store.Migrations{{Namespace: "a", FS: ok, DependsOn: []string{"a"}}},
			[]string{"cycle", "a"}},
		{"unknown dependency", []store.Migrations{{Namespace: "app", FS: ok, DependsOn: []string{"auth"}}},
			[]string{`"app"`, `"auth"`, "no module", "add its module"}},
		{"bad namespace", []store.Migrations{{Namespace: "My App", FS: ok}},
			[]string{`"My App"`, "lower-case"}},
		{"no FS", []store.Migrations{{Namespace: "app"}},
			[]string{`"app"`, "no FS"}},
	}
	// One database, to show that a rejected set never touches it: not
	// even the migrations table is created.
	ctx := testContext(t)
	tdb := emptyDatabase(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := store.ReadMigrations(tt.sets...)
			if err == nil {
				t.Fatalf("ReadMigrations accepted the sets: %v", files)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not mention %q:\n%v", want, err)
				}
			}
			applied, merr := store.Migrate(ctx, tdb.DB, tt.sets...)
			if merr == nil || merr.Error() != err.Error() || len(applied) != 0 {
				t.Errorf("Migrate returned %v, %v; want ReadMigrations' error and nothing applied", applied, merr)
			}
			if tableExists(t, tdb.DB, store.MigrationsTable) {
				t.Errorf("Migrate created %s for sets it rejects", store.MigrationsTable)
			}
		})
	}
}

func TestMigrateFailingFileRollsBack(t *testing.T) {
	ctx := testContext(t)
	tdb := emptyDatabase(t)
	set := store.Migrations{Namespace: "broken", FS: sqlFiles(
		"0001_ok.sql", "CREATE TABLE things (id int PRIMARY KEY);",
		// Line 1 holds multi-byte characters: PostgreSQL reports the error
		// position in characters, and the line must still come out right.
		"0002_bad.sql", "-- créé à été ½ ½ ½ ½ ½ ½ ½ ½ ½ ½ ½ ½ ½ ½ ½ ½ ½ ½ ½ ½ ½ ½ ½ ½ ½ ½ ½ ½ ½ ½\n"+
			"CREATE TABLE partial (id int);\n"+
			"INSERT INTO things VALUES (1);\n"+
			"SELECT *\n  FROM no_such_table;\n",
		"0003_later.sql", "CREATE TABLE later (id int);",
	)}
	applied, err := store.Migrate(ctx, tdb.DB, set)
	if err == nil {
		t.Fatal("Migrate succeeded with a broken file")
	}
	if !strings.Contains(err.Error(), "broken/0002_bad.sql (line 5)") {
		t.Errorf("error does not name the file and line 5:\n%v", err)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42P01" {
		t.Errorf("error does not hold the server's undefined_table: %v", err)
	}
	if got := appliedNames(applied); !slices.Equal(got, []string{"broken/0001_ok.sql"}) {
		t.Errorf("Migrate reports %v applied, want only 0001", got)
	}
	if got := recorded(t, tdb.DB); !slices.Equal(got, []string{"broken/0001_ok.sql"}) {
		t.Errorf("%s lists %v, want only 0001", store.MigrationsTable, got)
	}
	if tableExists(t, tdb.DB, "partial") {
		t.Error("the failed file's CREATE TABLE remained")
	}
	if n := scalar[int](t, tdb.DB, "SELECT count(*) FROM things"); n != 0 {
		t.Errorf("the failed file's INSERT remained (%d rows)", n)
	}
	if tableExists(t, tdb.DB, "later") {
		t.Error("a file after the failed one was applied")
	}
	if held, _ := advisoryLocks(t, tdb.DB); held != 0 {
		t.Error("the migration lock is still held after the failure")
	}
}

func TestMigrateNoTransactionMarker(t *testing.T) {
	ctx := testContext(t)
	table := "CREATE TABLE items (id int PRIMARY KEY, name text);"
	index := "CREATE INDEX CONCURRENTLY items_name_idx ON items (name);"

	t.Run("without the marker the file runs in a transaction", func(t *testing.T) {
		tdb := emptyDatabase(t)
		_, err := store.Migrate(ctx, tdb.DB, store.Migrations{Namespace: "idx", FS: sqlFiles(
			"0001_items.sql", table,
			"0002_index.sql", index,
		)})
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "25001" { // active_sql_transaction
			t.Fatalf("CREATE INDEX CONCURRENTLY in a transaction returned %v, want SQLSTATE 25001", err)
		}
	})
	t.Run("with the marker", func(t *testing.T) {
		tdb := emptyDatabase(t)
		set := store.Migrations{Namespace: "idx", FS: sqlFiles(
			"0001_items.sql", table,
			"0002_index.sql", "-- taylordash:no-transaction\n"+index+"\n",
		)}
		files, err := store.ReadMigrations(set)
		if err != nil {
			t.Fatal(err)
		}
		if files[0].NoTransaction || !files[1].NoTransaction {
			t.Fatalf("NoTransaction = %t, %t; want false, true", files[0].NoTransaction, files[1].NoTransaction)
		}
		applied, err := store.Migrate(ctx, tdb.DB, set)
		if err != nil {
			t.Fatal(err)
		}
		if got := appliedNames(applied); !slices.Equal(got, []string{"idx/0001_items.sql", "idx/0002_index.sql"}) {
			t.Fatalf("applied %v", got)
		}
		if !scalar[bool](t, tdb.DB, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_name_idx'::regclass") {
			t.Error("the index is not valid")
		}
		if got := recorded(t, tdb.DB); len(got) != 2 {
			t.Errorf("%s lists %v, want both files", store.MigrationsTable, got)
		}
	})
	t.Run("with the marker and several statements", func(t *testing.T) {
		// PostgreSQL runs statements sent together in an implicit
		// transaction: a no-transaction file holds one statement.
		tdb := emptyDatabase(t)
		_, err := store.Migrate(ctx, tdb.DB, store.Migrations{Namespace: "idx", FS: sqlFiles(
			"0001_items.sql", "-- taylordash:no-transaction\n"+table+"\n"+index,
		)})
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "25001" || !strings.Contains(err.Error(), "idx/0001_items.sql") {
			t.Fatalf("got %v, want SQLSTATE 25001 naming the file", err)
		}
		if got := recorded(t, tdb.DB); len(got) != 0 {
			t.Errorf("%s lists %v for a failed file", store.MigrationsTable, got)
		}
	})
}

func TestMigrateFindsMigrationsDirectory(t *testing.T) {
	ctx := testContext(t)
	tdb := emptyDatabase(t)
	// What //go:embed migrations/*.sql gives: the files under migrations/.
	fsys := fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte("CREATE TABLE from_subdir (id int);")},
		"migrations/0002_b.sql": {Data: []byte("INSERT INTO from_subdir VALUES (1);")},
		"doc.go":                {Data: []byte("package x")},
	}
	applied, err := store.Migrate(ctx, tdb.DB, store.Migrations{Namespace: "sub", FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	if got := appliedNames(applied); !slices.Equal(got, []string{"sub/0001_a.sql", "sub/0002_b.sql"}) {
		t.Fatalf("applied %v", got)
	}
	if n := scalar[int](t, tdb.DB, "SELECT count(*) FROM from_subdir"); n != 1 {
		t.Fatalf("from_subdir has %d rows, want 1", n)
	}

	// Files at the root win over a migrations directory.
	fsys["0001_root.sql"] = &fstest.MapFile{Data: []byte("SELECT 1;")}
	files, err := store.ReadMigrations(store.Migrations{Namespace: "sub", FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Name != "0001_root.sql" {
		t.Fatalf("with .sql files at the root, ReadMigrations found %v", files)
	}
}

func TestMigrateWithoutSetsCreatesOnlyTheTable(t *testing.T) {
	ctx := testContext(t)
	tdb := emptyDatabase(t)
	applied, err := store.Migrate(ctx, tdb.DB)
	if err != nil || len(applied) != 0 {
		t.Fatalf("Migrate() = %v, %v", applied, err)
	}
	if !tableExists(t, tdb.DB, store.MigrationsTable) {
		t.Fatalf("%s was not created", store.MigrationsTable)
	}
}

func TestMigrateConn(t *testing.T) {
	ctx := testContext(t)
	tdb := emptyDatabase(t)
	conn, err := pgx.Connect(ctx, tdb.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	applied, err := store.MigrateConn(ctx, conn, nil, raceSets()...)
	if err != nil {
		t.Fatal(err)
	}
	if got := appliedNames(applied); !slices.Equal(got, raceOrder) {
		t.Fatalf("applied %v, want %v", got, raceOrder)
	}
	if held, _ := advisoryLocks(t, tdb.DB); held != 0 {
		t.Error("MigrateConn left the migration lock held on the connection")
	}
}
