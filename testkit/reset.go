package testkit

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// guardSQL creates the testkit schema: a log of DDL run in the database
// (filled by event triggers, ignoring temporary objects), checked before a
// slot is reused. A test that changed the schema gets a fresh clone
// instead of a reset.
const guardSQL = `
CREATE SCHEMA testkit;
CREATE TABLE testkit.ddl_log (at timestamptz NOT NULL DEFAULT now(), tag text, object text);
CREATE FUNCTION testkit.log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO testkit.ddl_log (tag, object)
	SELECT command_tag, object_identity FROM pg_event_trigger_ddl_commands()
	WHERE schema_name IS NULL OR schema_name NOT LIKE 'pg\_temp%';
END $$;
CREATE FUNCTION testkit.log_drop() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO testkit.ddl_log (tag, object)
	SELECT 'DROP ' || object_type, object_identity FROM pg_event_trigger_dropped_objects()
	WHERE NOT is_temporary;
END $$;
`

const guardTriggersSQL = `
CREATE EVENT TRIGGER testkit_ddl ON ddl_command_end EXECUTE FUNCTION testkit.log_ddl();
CREATE EVENT TRIGGER testkit_drop ON sql_drop EXECUTE FUNCTION testkit.log_drop();
`

// userTablesSQL lists the tables a reset empties: ordinary and partitioned
// tables (not partitions: deleting from the parent covers them) outside
// the system schemas and the testkit schema, not owned by an extension,
// except the migrations table.
const userTablesSQL = `
SELECT format('%I.%I', n.nspname, c.relname),
       (SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum)
          FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'testkit')
   AND n.nspname NOT LIKE 'pg\_%'
   AND c.relname <> 'taylordash_migrations'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY 1`

// userSequencesSQL lists the sequences a reset rewinds, with their state
// in the template.
const userSequencesSQL = `
SELECT format('%I.%I', n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'S'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'testkit')
   AND n.nspname NOT LIKE 'pg\_%'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY 1`

// installReset writes testkit.reset() into the template, generated from
// its schema after migration. In one round trip the function refuses (returns
// false) if the DDL guard saw anything, ends connections a previous test
// leaked (keep lists the pids of the slot's own pool), empties every table with triggers and foreign keys off (so the
// order does not matter and no trigger fires), puts back the rows the
// migrations seeded, and rewinds every sequence to the template's state.
func installReset(ctx context.Context, c *pgx.Conn) error {
	type table struct{ name, cols string }
	rows, err := c.Query(ctx, userTablesSQL)
	if err != nil {
		return fmt.Errorf("list tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (table, error) {
		var t table
		var cols *string
		err := r.Scan(&t.name, &cols)
		if cols != nil {
			t.cols = *cols
		}
		return t, err
	})
	if err != nil {
		return fmt.Errorf("list tables: %w", err)
	}
	rows, err = c.Query(ctx, userSequencesSQL)
	if err != nil {
		return fmt.Errorf("list sequences: %w", err)
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list sequences: %w", err)
	}

	if _, err := c.Exec(ctx, guardSQL); err != nil {
		return fmt.Errorf("create guard: %w", err)
	}

	var body strings.Builder
	body.WriteString("BEGIN\n")
	body.WriteString("\tIF EXISTS (SELECT 1 FROM testkit.ddl_log) THEN RETURN false; END IF;\n")
	// pg_stat_activity costs about a millisecond; the backend count of
	// this database is nearly free, so look only when someone else is in.
	body.WriteString("\tIF pg_stat_get_db_numbackends((SELECT oid FROM pg_database WHERE datname = current_database())) > 1 + coalesce(cardinality(keep), 0) THEN\n")
	body.WriteString("\t\tPERFORM pg_terminate_backend(pid) FROM pg_stat_activity\n")
	body.WriteString("\t\t WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> ALL(coalesce(keep, '{}'));\n")
	body.WriteString("\tEND IF;\n")
	body.WriteString("\tPERFORM set_config('session_replication_role', 'replica', true);\n")
	// A test database needs no durable reset: do not wait for the WAL flush.
	body.WriteString("\tPERFORM set_config('synchronous_commit', 'off', true);\n")
	for _, t := range tables {
		fmt.Fprintf(&body, "\tDELETE FROM %s;\n", t.name)
	}
	for i, t := range tables {
		var seeded bool
		if err := c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+t.name+")").Scan(&seeded); err != nil {
			return fmt.Errorf("look for seed rows in %s: %w", t.name, err)
		}
		if !seeded || t.cols == "" {
			continue
		}
		seed := fmt.Sprintf("testkit.seed_%d", i)
		if _, err := c.Exec(ctx, fmt.Sprintf("CREATE TABLE %s AS SELECT %s FROM %s", seed, t.cols, t.name)); err != nil {
			return fmt.Errorf("save seed rows of %s: %w", t.name, err)
		}
		fmt.Fprintf(&body, "\tINSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s;\n", t.name, t.cols, t.cols, seed)
	}
	for _, s := range seqs {
		var last int64
		var called bool
		if err := c.QueryRow(ctx, "SELECT last_value, is_called FROM "+s).Scan(&last, &called); err != nil {
			return fmt.Errorf("read sequence %s: %w", s, err)
		}
		fmt.Fprintf(&body, "\tPERFORM setval(%s, %d, %t);\n", quoteLiteral(s), last, called)
	}
	body.WriteString("\tRETURN true;\nEND")

	fn := "CREATE FUNCTION testkit.reset(keep int[]) RETURNS boolean LANGUAGE plpgsql AS " + dollarQuote(body.String())
	if _, err := c.Exec(ctx, fn); err != nil {
		return fmt.Errorf("create reset function: %w", err)
	}
	if _, err := c.Exec(ctx, guardTriggersSQL); err != nil {
		return fmt.Errorf("create event triggers: %w", err)
	}
	return nil
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// dollarQuote quotes body with a tag that does not occur in it.
func dollarQuote(body string) string {
	tag := "$reset$"
	for i := 0; strings.Contains(body, tag); i++ {
		tag = fmt.Sprintf("$reset%d$", i)
	}
	return tag + "\n" + body + "\n" + tag
}
