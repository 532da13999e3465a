package testkit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/taylordash/taylordash/store"
)

// templateVersion changes whenever the layout of templates changes, so
// that no binary reuses a template built by an older testkit.
const templateVersion = "testkit-v1"

const readyComment = "taylordash testkit template " + templateVersion + " ready"

// family is every database built from one set of migrations: a template
// database migrated once, and slots cloned from it that tests reuse.
//
// Names: tdt_<set>_<content>_tpl for the template, ..._s<N> for slots and
// ..._k<N>_<unix time> for kept failures, where <set> hashes the namespace
// names (so a changed migration replaces the old family of the same set)
// and <content> hashes the files.
type family struct {
	srv    *pgServer
	sets   []store.Migrations
	setKey string
	key    string // <set>_<content>

	mu       sync.Mutex
	template bool    // the template is known to exist and be ready
	free     []*slot // clean slots owned by this process, not in use

	seq atomic.Int64 // for unique names in slow mode
}

// slot is a database a test uses. maint is a connection kept to it for
// the reset between tests; pool is the pool handed to tests, kept across
// them (its connections are scrubbed with DISCARD ALL in between), since
// a new PostgreSQL connection costs more than everything else together.
type slot struct {
	name  string
	maint *pgx.Conn
	pool  *store.DB
	url   string
	fresh bool // just cloned or just reset: ready for a test as it is
}

func (k *kit) family(srv *pgServer, sets []store.Migrations) (*family, error) {
	files, err := store.ReadMigrations(sets...)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(sets))
	for _, s := range sets {
		names = append(names, s.Namespace)
	}
	slices.Sort(names)
	if !srv.superuser {
		names = append(names, "/plain") // a family of its own, see below
	}
	setHash := sha256.Sum256([]byte(strings.Join(names, ",")))
	content := sha256.New()
	content.Write([]byte(templateVersion))
	if !srv.superuser {
		// Without superuser rights the template has no reset machinery,
		// and must be owned by the user who clones it.
		content.Write([]byte("/plain"))
	}
	for _, f := range files {
		fmt.Fprintf(content, "\n%s/%d/%s", f.Namespace, f.Version, f.Checksum)
	}
	setKey := hex.EncodeToString(setHash[:])[:6]
	key := setKey + "_" + hex.EncodeToString(content.Sum(nil))[:8]

	k.mu.Lock()
	defer k.mu.Unlock()
	if f, ok := k.families[key]; ok {
		return f, nil
	}
	f := &family{srv: srv, sets: sets, setKey: setKey, key: key}
	k.families[key] = f
	return f, nil
}

func (f *family) templateName() string   { return "tdt_" + f.key + "_tpl" }
func (f *family) slotName(n int) string  { return "tdt_" + f.key + "_s" + strconv.Itoa(n) }
func (f *family) keptPrefix() string     { return "tdt_" + f.key + "_k" }
func (f *family) slotPattern() string    { return "tdt\\_" + f.key + "\\_s%" }
func (f *family) sameSetPattern() string { return "tdt\\_" + f.setKey + "\\_%" }
func (f *family) keptName(n string) string {
	return f.keptPrefix() + n + "_" + strconv.FormatInt(time.Now().UnixNano(), 10) // unique: one slot may fail twice in a second
}
func (f *family) uniqueName(pid int) string {
	return fmt.Sprintf("tdt_%s_x%d_%d", f.key, pid, f.seq.Add(1))
}

// ensureTemplate builds the template database if no process has: under an
// advisory lock held on the maintenance database, it creates the
// database, applies the migrations, installs the reset machinery, closes
// every connection to it, forbids new ones, and only then marks it ready.
func (f *family) ensureTemplate(ctx context.Context, log *slog.Logger) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.template {
		return nil
	}
	conn, err := f.srv.connect(ctx, "")
	if err != nil {
		return fmt.Errorf("testkit: connect to %s: %w", redactURL(f.srv.adminURL), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	lock := lockKey("tpl:" + f.key)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lock); err != nil {
		return fmt.Errorf("testkit: lock template %s: %w", f.templateName(), err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lock) //nolint:errcheck // closing the connection unlocks too

	tpl := f.templateName()
	var comment *string
	err = conn.QueryRow(ctx, "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", tpl).Scan(&comment)
	switch {
	case err == nil && comment != nil && *comment == readyComment:
		f.template = true
		return nil
	case err == nil: // a half-built template from a crashed run
		if err := dropDatabase(ctx, conn, tpl); err != nil {
			return err
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("testkit: look up template %s: %w", tpl, err)
	}

	start := time.Now()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{tpl}.Sanitize()); err != nil {
		return fmt.Errorf("testkit: create template %s: %w", tpl, err)
	}
	if err := f.buildTemplate(ctx, tpl); err != nil {
		_ = dropDatabase(context.WithoutCancel(ctx), conn, tpl)
		return err
	}
	for _, stmt := range []string{
		"ALTER DATABASE " + pgx.Identifier{tpl}.Sanitize() + " WITH ALLOW_CONNECTIONS false",
		"COMMENT ON DATABASE " + pgx.Identifier{tpl}.Sanitize() + " IS '" + readyComment + "'",
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("testkit: finish template %s: %w", tpl, err)
		}
	}
	log.Debug("testkit: template built", slog.String("database", tpl), slog.Duration("took", time.Since(start)))
	f.template = true
	f.dropStale(ctx, conn, log)
	return nil
}

// buildTemplate migrates the new template and, on a superuser connection,
// installs the DDL guard and the reset function that recycles slots.
func (f *family) buildTemplate(ctx context.Context, tpl string) error {
	c, err := f.srv.connect(ctx, tpl)
	if err != nil {
		return fmt.Errorf("testkit: connect to template %s: %w", tpl, err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	if _, err := store.MigrateConn(ctx, c, nil, f.sets...); err != nil {
		return fmt.Errorf("testkit: migrate template %s: %w", tpl, err)
	}
	if !f.srv.superuser {
		return nil
	}
	if err := installReset(ctx, c); err != nil {
		return fmt.Errorf("testkit: install reset in template %s: %w", tpl, err)
	}
	return nil
}

// dropStale drops databases of older versions of this family's migration
// set (same namespaces, other content) that no process uses any more.
func (f *family) dropStale(ctx context.Context, conn *pgx.Conn, log *slog.Logger) {
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE $1 AND datname NOT LIKE $2",
		f.sameSetPattern(), "tdt\\_"+f.key+"\\_%")
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	// Slots first, templates last, so that a template is dropped only when
	// none of its slots is in use.
	slices.SortFunc(names, func(a, b string) int {
		return compareBool(strings.HasSuffix(a, "_tpl"), strings.HasSuffix(b, "_tpl"))
	})
	busy := map[string]bool{}
	for _, name := range names {
		key := name[:len("tdt_")+6+1+8]
		if strings.HasSuffix(name, "_tpl") && busy[key] {
			continue
		}
		ok, err := f.srv.tryClaim(ctx, name)
		if err != nil || !ok {
			busy[key] = true
			continue
		}
		if err := dropDatabase(ctx, conn, name); err != nil {
			busy[key] = true
		} else {
			log.Debug("testkit: dropped stale database", slog.String("database", name))
		}
		_ = f.srv.unclaim(ctx, name)
	}
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	default:
		return -1
	}
}

// acquire returns a clean slot for a test: a free one of this process, an
// idle one left by another process (reset first), or a new clone.
func (f *family) acquire(ctx context.Context, log *slog.Logger) (*slot, error) {
	if err := f.ensureTemplate(ctx, log); err != nil {
		return nil, err
	}
	if !f.srv.superuser {
		return f.cloneUnique(ctx)
	}
	f.mu.Lock()
	if n := len(f.free); n > 0 {
		s := f.free[n-1]
		f.free = f.free[:n-1]
		f.mu.Unlock()
		return f.prepare(ctx, s, log) // reset at release: fresh, only the pool may be missing
	}
	f.mu.Unlock()

	existing, err := f.slotNames(ctx)
	if err != nil {
		return nil, err
	}
	for _, name := range existing {
		ok, err := f.srv.tryClaim(ctx, name)
		if err != nil {
			return nil, err
		}
		if ok {
			return f.prepare(ctx, &slot{name: name}, log)
		}
	}
	for n := 0; ; n++ {
		name := f.slotName(n)
		if slices.Contains(existing, name) {
			continue
		}
		ok, err := f.srv.tryClaim(ctx, name)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		s := &slot{name: name}
		if err := f.clone(ctx, name, log); err != nil {
			_ = f.srv.unclaim(ctx, name)
			return nil, err
		}
		s.fresh = true
		return f.prepare(ctx, s, log)
	}
}

func (f *family) slotNames(ctx context.Context) ([]string, error) {
	var names []string
	err := f.srv.admin(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY length(datname), datname", f.slotPattern())
		if err != nil {
			return err
		}
		names, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("testkit: list slots: %w", err)
	}
	return names, nil
}

// clone creates database name from the template. A slot database that
// already exists (left by a crash between create and claim) is kept: the
// reset on first use cleans it. A template dropped by another binary
// meanwhile is rebuilt once.
func (f *family) clone(ctx context.Context, name string, log *slog.Logger) error {
	for tries := 0; ; tries++ {
		err := f.srv.admin(ctx, func(c *pgx.Conn) error {
			_, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{f.templateName()}.Sanitize())
			return err
		})
		var pe *pgconn.PgError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &pe) && pe.Code == "42P04": // duplicate_database
			return nil
		case errors.As(err, &pe) && pe.Code == "3D000" && tries == 0: // template gone
			f.mu.Lock()
			f.template = false
			f.mu.Unlock()
			if err := f.ensureTemplate(ctx, log); err != nil {
				return err
			}
		default:
			return fmt.Errorf("testkit: clone %s from %s: %w", name, f.templateName(), err)
		}
	}
}

// prepare connects the slot's maintenance connection and resets it. A
// slot whose guard saw DDL, or that cannot be reset, is dropped and cloned
// anew.
func (f *family) prepare(ctx context.Context, s *slot, log *slog.Logger) (*slot, error) {
	for tries := 0; ; tries++ {
		err := f.resetSlot(ctx, s, nil)
		if err == nil {
			err = f.openPool(ctx, s)
		}
		if err == nil {
			return s, nil
		}
		if tries > 0 {
			return nil, fmt.Errorf("testkit: prepare %s: %w", s.name, err)
		}
		log.Debug("testkit: replacing slot", slog.String("database", s.name), slog.String("reason", err.Error()))
		if err := f.replace(ctx, s, log); err != nil {
			return nil, err
		}
	}
}

var errDirty = errors.New("the test before ran DDL")

// resetSlot empties the slot unless it is fresh. keep lists the backend
// pids of the slot's own pool, which the reset leaves connected.
func (f *family) resetSlot(ctx context.Context, s *slot, keep []uint32) error {
	if s.maint == nil || s.maint.IsClosed() {
		c, err := f.srv.connect(ctx, s.name)
		if err != nil {
			return err
		}
		s.maint = c
	}
	if s.fresh {
		return nil
	}
	var clean bool
	if err := s.maint.QueryRow(ctx, "SELECT testkit.reset($1)", keep).Scan(&clean); err != nil {
		return err
	}
	if !clean {
		return errDirty
	}
	s.fresh = true
	return nil
}

// openPool connects the pool handed to tests, if the slot has none.
func (f *family) openPool(ctx context.Context, s *slot) error {
	if s.pool != nil {
		return nil
	}
	s.url = f.srv.dbURL(s.name)
	pool, err := store.Open(ctx, store.Config{URL: s.url, MinConns: -1, MaxConns: 10, StartupTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	s.pool = pool
	return nil
}

// scrubPool readies the slot's pool for the next test: it must answer,
// and no connection may still be in use; each idle connection then drops
// its session state (DISCARD ALL: settings, temporary tables, prepared
// statements, advisory locks, LISTENs) and pgx's statement cache. It
// returns the backend pids of the pool. A pool that fails any of this is
// closed, and the next test gets a new one.
func (f *family) scrubPool(ctx context.Context, s *slot) []uint32 {
	if s.pool == nil {
		return nil
	}
	ok := s.pool.Ping(ctx) == nil && s.pool.Stat().AcquiredConns() == 0
	var pids []uint32
	if ok {
		for _, c := range s.pool.AcquireAllIdle(ctx) {
			if ok {
				err := c.Conn().DeallocateAll(ctx)
				if err == nil {
					_, err = c.Exec(ctx, "DISCARD ALL")
				}
				pids = append(pids, c.Conn().PgConn().PID())
				ok = err == nil
			}
			c.Release()
		}
	}
	if !ok {
		f.closePool(s)
		return nil
	}
	return pids
}

// closePool closes the slot's pool without waiting for connections a test
// leaked in use (pgxpool's Close would wait for them forever); the reset
// terminates their backends.
func (f *family) closePool(s *slot) {
	if s.pool == nil {
		return
	}
	if s.pool.Stat().AcquiredConns() == 0 {
		s.pool.Close()
	} else {
		s.pool.Reset()
	}
	s.pool = nil
}

// replace drops the slot's database and clones it again.
func (f *family) replace(ctx context.Context, s *slot, log *slog.Logger) error {
	f.closePool(s)
	if s.maint != nil {
		_ = s.maint.Close(ctx)
		s.maint = nil
	}
	err := f.srv.admin(ctx, func(c *pgx.Conn) error { return dropDatabase(ctx, c, s.name) })
	if err != nil {
		return err
	}
	if err := f.clone(ctx, s.name, log); err != nil {
		return err
	}
	s.fresh = true
	return nil
}

// release returns a slot after its test. A failed test's database is
// renamed and kept for inspection (at most keepMax per family); the slot
// name is then free for a new clone.
//
// Otherwise the slot is reset now, so that the next test finds it ready:
// its pool scrubbed, its rows deleted, its sequences rewound. A slot that
// cannot be reset (the test ran DDL) is replaced by a fresh clone.
func (f *family) release(ctx context.Context, s *slot, keep bool, log *slog.Logger) (kept string, err error) {
	s.fresh = false
	if !keep {
		keepPIDs := f.scrubPool(ctx, s)
		if err := f.resetSlot(ctx, s, keepPIDs); err != nil {
			log.Debug("testkit: replacing slot", slog.String("database", s.name), slog.String("reason", err.Error()))
			if err := f.replace(ctx, s, log); err != nil {
				_ = f.srv.unclaim(ctx, s.name)
				return "", err
			}
		}
		f.mu.Lock()
		f.free = append(f.free, s)
		f.mu.Unlock()
		return "", nil
	}
	f.closePool(s)
	if s.maint != nil {
		_ = s.maint.Close(ctx)
		s.maint = nil
	}
	kept = f.keptName(strings.TrimPrefix(s.name, "tdt_"+f.key+"_s"))
	err = f.srv.admin(ctx, func(c *pgx.Conn) error {
		if _, err := c.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", s.name); err != nil {
			return err
		}
		for tries := 0; ; tries++ {
			_, err := c.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{s.name}.Sanitize()+" RENAME TO "+pgx.Identifier{kept}.Sanitize())
			var pe *pgconn.PgError
			if err == nil || tries == 50 || !errors.As(err, &pe) || pe.Code != "55006" { // object_in_use: backends still exiting
				return err
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	if err != nil {
		// Could not keep it: recycle it instead.
		_, rerr := f.release(ctx, s, false, log)
		return "", errors.Join(fmt.Errorf("testkit: keep %s: %w", s.name, err), rerr)
	}
	_ = f.srv.unclaim(ctx, s.name)
	f.pruneKept(ctx, log)
	return kept, nil
}

const keepMax = 5

// pruneKept drops the oldest kept databases beyond keepMax.
func (f *family) pruneKept(ctx context.Context, log *slog.Logger) {
	_ = f.srv.admin(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE $1", strings.ReplaceAll(f.keptPrefix(), "_", "\\_")+"%")
		if err != nil {
			return err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		slices.SortFunc(names, func(a, b string) int { return strings.Compare(keptTime(b), keptTime(a)) })
		for _, name := range names[min(keepMax, len(names)):] {
			if err := dropDatabase(ctx, c, name); err == nil {
				log.Debug("testkit: dropped old kept database", slog.String("database", name))
			}
		}
		return nil
	})
}

func keptTime(name string) string {
	i := strings.LastIndexByte(name, '_')
	return fmt.Sprintf("%020s", name[i+1:])
}

// cloneUnique is the path without superuser rights (no event triggers, no
// replication-role reset): every test gets a new clone, dropped after it.
func (f *family) cloneUnique(ctx context.Context) (*slot, error) {
	name := f.uniqueName(processID)
	if err := f.clone(ctx, name, slog.New(slog.DiscardHandler)); err != nil {
		return nil, err
	}
	s := &slot{name: name, fresh: true}
	if err := f.openPool(ctx, s); err != nil {
		_ = f.dropUnique(ctx, s)
		return nil, err
	}
	return s, nil
}

var processID = os.Getpid()

func (f *family) dropUnique(ctx context.Context, s *slot) error {
	f.closePool(s)
	return f.srv.admin(ctx, func(c *pgx.Conn) error { return dropDatabase(ctx, c, s.name) })
}

func dropDatabase(ctx context.Context, c *pgx.Conn, name string) error {
	// WITH (FORCE) ends connections that a test leaked.
	if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("testkit: drop %s: %w", name, err)
	}
	return nil
}

// close closes the connections of the family's free slots (at the end of
// the test binary; slots in use belong to tests still running).
func (f *family) close(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.free {
		f.closePool(s)
		if s.maint != nil {
			_ = s.maint.Close(ctx)
			s.maint = nil
		}
	}
}
