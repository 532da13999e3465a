package authpg_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"
	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/auth/authpg"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

// casbinBundle is a migrated database (seeded with the default policy)
// and the Casbin adapter on it.
type casbinBundle struct {
	db      *testkit.Database
	adapter *authpg.CasbinAdapter
}

func setupCasbin(tb testing.TB) casbinBundle {
	tb.Helper()
	db := testkit.Postgres(tb, authpg.Migrations)
	return casbinBundle{db: db, adapter: authpg.NewCasbinAdapter(db.DB)}
}

// authorizer returns an authorizer on the bundle's adapter.
func (b casbinBundle) authorizer(tb testing.TB) *auth.Authorizer {
	tb.Helper()
	a, err := auth.NewAuthorizer(b.adapter, auth.AuthorizerConfig{Logger: testkit.NewLogger(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// startWatcher starts a policy watcher on the bundle's database, stopped
// when the test ends.
func (b casbinBundle) startWatcher(tb testing.TB, cfg authpg.WatcherConfig) *authpg.PolicyWatcher {
	tb.Helper()
	w := authpg.NewPolicyWatcher(b.db.DB, cfg, testkit.NewLogger(tb))
	if err := w.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.Stop(ctx); err != nil {
			tb.Errorf("stop watcher: %v", err)
		}
	})
	return w
}

// listenerPIDs returns the backends of the LISTEN connection of w.
func (b casbinBundle) listenerPIDs(tb testing.TB, w *authpg.PolicyWatcher) []int {
	tb.Helper()
	rows, err := b.db.DB.Query(context.Background(),
		`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`,
		authpg.WatcherApplicationName+" "+w.InstanceID())
	if err != nil {
		tb.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		tb.Fatal(err)
	}
	return pids
}

// stored returns the stored rules as policy lines, sorted.
func (b casbinBundle) stored(tb testing.TB) []string {
	tb.Helper()
	m, err := model.NewModelFromString(auth.CasbinModel)
	if err != nil {
		tb.Fatal(err)
	}
	if err := b.adapter.LoadPolicy(m); err != nil {
		tb.Fatal(err)
	}
	var lines []string
	for _, ptype := range []string{"p", "g"} {
		rules, err := m.GetPolicy(ptype, ptype)
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range rules {
			lines = append(lines, ptype+", "+strings.Join(r, ", "))
		}
	}
	slices.Sort(lines)
	return lines
}

// lines returns rules as sorted policy lines.
func lines(rules ...auth.Rule) []string {
	var out []string
	for _, r := range rules {
		out = append(out, r.String())
	}
	slices.Sort(out)
	return out
}

// waitUntil polls cond every millisecond until it holds and returns how
// long that took, or fails the test after timeout.
func waitUntil(tb testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	tb.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

func perm(resource, action string) auth.Permission {
	return auth.Permission{Resource: resource, Action: action}
}

func principal(roles ...string) *auth.Principal {
	return &auth.Principal{Subject: "7d0c5c1e-0000-4000-8000-000000000001", Kind: auth.KindUser, Roles: roles}
}

func TestCasbinSeedMatchesDefaultRules(t *testing.T) {
	b := setupCasbin(t)
	if got, want := b.stored(t), lines(auth.DefaultRules()...); !slices.Equal(got, want) {
		t.Errorf("the migration seeds\n%s\nauth.DefaultRules() is\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	a := b.authorizer(t)
	mem, err := auth.NewAuthorizer(auth.NewMemoryAdapter(auth.DefaultRules()...), auth.AuthorizerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.Rules(), mem.Rules(); !slices.Equal(got, want) {
		t.Errorf("authorizer on the seed has\n%v\nwant\n%v", got, want)
	}
}

func TestCasbinAdapterRoundTrip(t *testing.T) {
	b := setupCasbin(t)
	defaults := lines(auth.DefaultRules()...)

	// Add one, then a batch.
	if err := b.adapter.AddPolicy("p", "p", []string{"auditor", "*", "logs", "read"}); err != nil {
		t.Fatal(err)
	}
	if err := b.adapter.AddPolicies("g", "g", [][]string{{"auditor", "viewer"}, {"user-1", "auditor"}}); err != nil {
		t.Fatal(err)
	}
	added := []string{"p, auditor, *, logs, read", "g, auditor, viewer", "g, user-1, auditor"}
	if got, want := b.stored(t), sortedConcat(defaults, added); !slices.Equal(got, want) {
		t.Fatalf("after adds:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A batch with one existing rule keeps nothing.
	err := b.adapter.AddPolicies("p", "p", [][]string{{"auditor", "*", "events", "read"}, {"viewer", "*", "projects", "read"}})
	if !errors.Is(err, dashcore.ErrConflict) || !strings.Contains(err.Error(), "p, viewer, *, projects, read") {
		t.Errorf("add a batch with an existing rule: %v, want dashcore.ErrConflict naming the rule", err)
	}
	// A batch with one missing rule removes nothing.
	err = b.adapter.RemovePolicies("p", "p", [][]string{{"auditor", "*", "logs", "read"}, {"auditor", "*", "logs", "write"}})
	if !errors.Is(err, dashcore.ErrNotFound) || !strings.Contains(err.Error(), "p, auditor, *, logs, write") {
		t.Errorf("remove a batch with a missing rule: %v, want dashcore.ErrNotFound naming the rule", err)
	}
	if got, want := b.stored(t), sortedConcat(defaults, added); !slices.Equal(got, want) {
		t.Fatalf("after failed batches:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Remove one, then filtered: every g rule of auditor as member.
	if err := b.adapter.RemovePolicy("p", "p", []string{"auditor", "*", "logs", "read"}); err != nil {
		t.Fatal(err)
	}
	if err := b.adapter.RemoveFilteredPolicy("g", "g", 0, "auditor"); err != nil {
		t.Fatal(err)
	}
	if got, want := b.stored(t), sortedConcat(defaults, []string{"g, user-1, auditor"}); !slices.Equal(got, want) {
		t.Fatalf("after removals:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Filtered on a later field, "" matching anything: every read of
	// viewer.
	if err := b.adapter.RemoveFilteredPolicy("p", "p", 0, "viewer", "", "", "read"); err != nil {
		t.Fatal(err)
	}
	if got := b.stored(t); slices.ContainsFunc(got, func(l string) bool { return strings.HasPrefix(l, "p, viewer,") && strings.HasSuffix(l, ", read") }) {
		t.Errorf("viewer rules left after the filtered removal: %v", got)
	}
	if err := b.adapter.RemoveFilteredPolicy("p", "p", 4, "a", "b", "c"); !errors.Is(err, dashcore.ErrInvalid) {
		t.Errorf("filter beyond v5: %v, want dashcore.ErrInvalid", err)
	}
	if err := b.adapter.AddPolicy("p", "p", []string{"1", "2", "3", "4", "5", "6", "7"}); !errors.Is(err, dashcore.ErrInvalid) {
		t.Errorf("rule of 7 values: %v, want dashcore.ErrInvalid", err)
	}

	// Save replaces everything, in one transaction.
	m, err := model.NewModelFromString(auth.CasbinModel)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][]string{{"p", "solo", "acme", "projects", "read"}, {"g", "user-2", "solo"}} {
		if err := persist.LoadPolicyArray(r, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.adapter.SavePolicy(m); err != nil {
		t.Fatal(err)
	}
	if got, want := b.stored(t), []string{"g, user-2, solo", "p, solo, acme, projects, read"}; !slices.Equal(got, want) {
		t.Errorf("after save: %v, want %v", got, want)
	}

	// Mixed operations are one transaction too.
	err = b.adapter.ApplyPolicyOperations(context.Background(), []persist.PolicyOperation{
		{Type: persist.OperationAdd, Section: "g", PolicyType: "g", Rules: [][]string{{"user-3", "solo"}}},
		{Type: persist.OperationRemove, Section: "p", PolicyType: "p", Rules: [][]string{{"nobody", "*", "x", "y"}}},
	})
	if !errors.Is(err, dashcore.ErrNotFound) {
		t.Errorf("mixed operations with a missing rule: %v, want dashcore.ErrNotFound", err)
	}
	if got, want := b.stored(t), []string{"g, user-2, solo", "p, solo, acme, projects, read"}; !slices.Equal(got, want) {
		t.Errorf("after failed mixed operations: %v, want %v", got, want)
	}
}

func sortedConcat(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return out
}

func TestCasbinAuthorizerDefaultPolicy(t *testing.T) {
	b := setupCasbin(t)
	a := b.authorizer(t)
	reads := []auth.Permission{perm("projects", "read"), perm("components", "read"), perm("tasks", "read"), perm("events", "read"), perm("plugins", "read")}
	writes := []auth.Permission{perm("projects", "write"), perm("components", "write"), perm("tasks", "write"), perm("events", "write")}
	var adminOnly []auth.Permission
	for _, res := range []string{"users", "keys", "policies", "logs", "mcp"} {
		adminOnly = append(adminOnly, perm(res, "read"), perm(res, "write"))
	}
	adminOnly = append(adminOnly, perm("plugins", "write"))

	cases := []struct {
		who     string
		p       *auth.Principal
		allowed []auth.Permission
		denied  []auth.Permission
	}{
		{"viewer", principal("viewer"), reads, slices.Concat(writes, adminOnly, []auth.Permission{perm("dlq", "read")})},
		{"operator", principal("operator"), slices.Concat(reads, writes, []auth.Permission{perm("dlq", "read")}), adminOnly},
		{"admin", principal("admin"), slices.Concat(reads, writes, adminOnly, []auth.Permission{perm("dlq", "write")}), nil},
		{"admin key scoped to projects:read", &auth.Principal{Subject: "key00000001", Kind: auth.KindService, Roles: []string{"admin"},
			Permissions: []auth.Permission{perm("projects", "read")}},
			[]auth.Permission{perm("projects", "read")}, slices.Concat(writes, adminOnly, reads[1:])},
		{"unknown role", principal("root"), nil, slices.Concat(reads, writes, adminOnly)},
		{"nil", nil, nil, []auth.Permission{perm("projects", "read")}},
	}
	for _, c := range cases {
		for _, want := range c.allowed {
			if !a.Allowed(c.p, want) {
				t.Errorf("%s: %s denied, want allowed", c.who, want)
			}
		}
		for _, want := range c.denied {
			if a.Allowed(c.p, want) {
				t.Errorf("%s: %s allowed, want denied", c.who, want)
			}
		}
	}
}

func TestCasbinAuthorizerDomains(t *testing.T) {
	b := setupCasbin(t)
	a := b.authorizer(t)
	if err := a.AddRules(context.Background(),
		auth.PermissionRule("tenant-admin", "acme", "*", "*"),
		auth.InheritRule("tenant-admin", "viewer")); err != nil {
		t.Fatal(err)
	}
	acme := &auth.Principal{Subject: "u", Roles: []string{"tenant-admin"}, Domain: "acme"}
	globex := &auth.Principal{Subject: "u", Roles: []string{"tenant-admin"}, Domain: "globex"}
	switch {
	case !a.Allowed(acme, perm("users", "write")):
		t.Error("tenant-admin of acme cannot write users in acme")
	case a.Allowed(globex, perm("users", "write")):
		t.Error("tenant-admin can write users in globex")
	case !a.Allowed(globex, perm("projects", "read")):
		t.Error("tenant-admin lost the viewer's projects:read, granted in every domain")
	}
	// A second instance loads the same from the database.
	if got, want := b.authorizer(t).Rules(), a.Rules(); !slices.Equal(got, want) {
		t.Errorf("reloaded rules\n%v\nwant\n%v", got, want)
	}
}

// TestCasbinAuthorizerStaleInstance: an instance that has not heard of a
// change yet still cannot add a rule twice or remove one that is gone;
// the database refuses, and nothing of the call is kept.
func TestCasbinAuthorizerStaleInstance(t *testing.T) {
	ctx := context.Background()
	b := setupCasbin(t)
	a, stale := b.authorizer(t), b.authorizer(t)
	usersWrite := auth.PermissionRule("operator", "*", "users", "write")
	logsRead := auth.PermissionRule("operator", "*", "logs", "read")
	if err := a.AddRules(ctx, usersWrite); err != nil {
		t.Fatal(err)
	}
	if err := stale.AddRules(ctx, logsRead, usersWrite); !errors.Is(err, dashcore.ErrConflict) {
		t.Fatalf("stale add of an existing rule: %v, want dashcore.ErrConflict", err)
	}
	if stale.Allowed(principal("operator"), perm("logs", "read")) {
		t.Error("the failed add changed the stale instance's policy")
	}
	if slices.Contains(b.stored(t), logsRead.String()) {
		t.Error("the failed add stored part of its rules")
	}
	if err := a.RemoveRules(ctx, auth.PermissionRule("viewer", "*", "plugins", "read")); err != nil {
		t.Fatal(err)
	}
	err := stale.RemoveRules(ctx, auth.PermissionRule("viewer", "*", "tasks", "read"), auth.PermissionRule("viewer", "*", "plugins", "read"))
	if !errors.Is(err, dashcore.ErrNotFound) {
		t.Fatalf("stale removal of a removed rule: %v, want dashcore.ErrNotFound", err)
	}
	if !slices.Contains(b.stored(t), "p, viewer, *, tasks, read") {
		t.Error("the failed removal removed part of its rules")
	}
	if err := stale.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := stale.Rules(), a.Rules(); !slices.Equal(got, want) {
		t.Errorf("after reload\n%v\nwant\n%v", got, want)
	}
}

// instance is one application instance: an authorizer kept in step by
// its own watcher.
type instance struct {
	authz   *auth.Authorizer
	watcher *authpg.PolicyWatcher
}

func (b casbinBundle) instance(tb testing.TB) instance {
	tb.Helper()
	a := b.authorizer(tb)
	w := b.startWatcher(tb, authpg.WatcherConfig{})
	if err := a.SetWatcher(w); err != nil {
		tb.Fatal(err)
	}
	return instance{authz: a, watcher: w}
}

func TestPolicyWatcherKeepsInstancesInStep(t *testing.T) {
	ctx := context.Background()
	b := setupCasbin(t)
	a, other := b.instance(t), b.instance(t)
	op := principal("operator")
	usersWrite := auth.PermissionRule("operator", "*", "users", "write")
	if other.authz.Allowed(op, perm("users", "write")) {
		t.Fatal("operator may write users before the change")
	}

	start := time.Now()
	if err := a.authz.AddRules(ctx, usersWrite); err != nil {
		t.Fatal(err)
	}
	committed := time.Since(start)
	added := waitUntil(t, time.Second, "the other instance to allow operator users:write",
		func() bool { return other.authz.Allowed(op, perm("users", "write")) })
	t.Logf("add: AddRules took %v; the other instance applied it %v after AddRules returned", committed, added)

	start = time.Now()
	if err := a.authz.RemoveRules(ctx, usersWrite); err != nil {
		t.Fatal(err)
	}
	committed = time.Since(start)
	removed := waitUntil(t, time.Second, "the other instance to deny operator users:write again",
		func() bool { return !other.authz.Allowed(op, perm("users", "write")) })
	t.Logf("remove: RemoveRules took %v; the other instance applied it %v after RemoveRules returned", committed, removed)

	// And the other way round.
	if err := other.authz.AddRules(ctx, auth.InheritRule("user-9", "admin")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, time.Second, "the first instance to learn of the other's change",
		func() bool { return a.authz.Allowed(&auth.Principal{Subject: "user-9"}, perm("users", "write")) })

	// After the LISTEN connection is killed, the watcher connects again
	// and later changes still arrive.
	old := b.listenerPIDs(t, other.watcher)
	if len(old) != 1 {
		t.Fatalf("LISTEN connections of the watcher: %v, want 1", old)
	}
	killed := time.Now()
	if _, err := b.db.DB.Exec(ctx, `SELECT pg_terminate_backend($1)`, old[0]); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "a new LISTEN connection", func() bool {
		pids := b.listenerPIDs(t, other.watcher)
		return len(pids) == 1 && pids[0] != old[0]
	})
	t.Logf("the watcher listened again %v after its backend was terminated", time.Since(killed))
	if err := a.authz.AddRules(ctx, auth.PermissionRule("operator", "*", "logs", "read")); err != nil {
		t.Fatal(err)
	}
	after := waitUntil(t, time.Second, "a change after the reconnection to arrive",
		func() bool { return other.authz.Allowed(op, perm("logs", "read")) })
	t.Logf("after the reconnection a change arrived in %v", after)
}

// callbackCounter counts the calls of a watcher's update callback.
type callbackCounter struct {
	mu    sync.Mutex
	calls []string
}

func (c *callbackCounter) callback(from string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, from)
}

func (c *callbackCounter) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

func TestPolicyWatcherCallbacks(t *testing.T) {
	ctx := context.Background()
	b := setupCasbin(t)
	var calls callbackCounter
	w := authpg.NewPolicyWatcher(b.db.DB, authpg.WatcherConfig{InstanceID: "me"}, testkit.NewLogger(t))
	if err := w.SetUpdateCallback(calls.callback); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop(context.Background()) })
	if err := w.Start(ctx); err != nil { // a running watcher's Start does nothing
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Second, "the callback after the first connection", func() bool { return len(calls.get()) == 1 })

	// Its own notifications are ignored; another instance's are not.
	if err := w.Update(); err != nil {
		t.Fatal(err)
	}
	otherW := authpg.NewPolicyWatcher(b.db.DB, authpg.WatcherConfig{InstanceID: "other"}, nil)
	if err := otherW.Update(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, time.Second, "the other instance's notification", func() bool { return len(calls.get()) == 2 })
	time.Sleep(100 * time.Millisecond)
	if got, want := calls.get(), []string{"", "other"}; !slices.Equal(got, want) {
		t.Errorf("callbacks = %q, want %q (its own notification ignored)", got, want)
	}

	// After the connection drops: one callback, since notifications may
	// have been missed.
	pids := b.listenerPIDs(t, w)
	if len(pids) != 1 {
		t.Fatalf("LISTEN connections: %v, want 1", pids)
	}
	if _, err := b.db.DB.Exec(ctx, `SELECT pg_terminate_backend($1)`, pids[0]); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the callback after reconnecting", func() bool { return len(calls.get()) == 3 })
	if got := calls.get(); got[2] != "" {
		t.Errorf("callback after reconnecting from %q, want \"\"", got[2])
	}

	// Stop is idempotent, releases the connection and the goroutine, and
	// no callback comes after it.
	for range 2 {
		if err := w.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The server ends the backend soon after the client closed it.
	waitUntil(t, 5*time.Second, "no LISTEN connection after Stop", func() bool { return len(b.listenerPIDs(t, w)) == 0 })
	if stacks := goroutines(); strings.Contains(stacks, "(*PolicyWatcher).run") {
		t.Errorf("the watcher's loop outlived Stop:\n%s", stacks)
	}
	if err := otherW.Update(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(calls.get()); n != 3 {
		t.Errorf("%d callbacks after Stop", n-3)
	}

	// It can start again.
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Second, "the callback after starting again", func() bool { return len(calls.get()) == 4 })
	w.Close()
	waitUntil(t, 5*time.Second, "no LISTEN connection after Close", func() bool { return len(b.listenerPIDs(t, w)) == 0 })
}

// goroutines returns the stacks of every goroutine.
func goroutines() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

func TestPolicyWatcherWhileTheDatabaseIsDown(t *testing.T) {
	// A server that is not there: port 1 of the loopback interface.
	db, err := store.New(store.Config{URL: "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var logs testkit.LogCapture
	w := authpg.NewPolicyWatcher(db, authpg.WatcherConfig{MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}, logs.Logger())
	if err := w.Start(context.Background()); err != nil {
		t.Fatalf("Start while the database is down: %v, want nil (it retries in the background)", err)
	}
	waitUntil(t, 5*time.Second, "a warning about the retries", func() bool {
		return strings.Count(logs.String(), `"level":"WARN"`) >= 2
	})
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Stop took %v while reconnecting", d)
	}
	if err := w.Update(); err == nil {
		t.Error("Update succeeded with the database down")
	}
}

func TestWatcherConfig(t *testing.T) {
	cfg := authpg.WatcherConfig{}.WithDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if cfg.Channel != authpg.DefaultPolicyChannel || cfg.InstanceID == "" {
		t.Errorf("defaults: %+v", cfg)
	}
	bad := authpg.WatcherConfig{Channel: "auth-policy; DROP TABLE x", MinBackoff: -1, CheckInterval: -1}.WithDefaults()
	err := bad.Validate()
	for _, field := range []string{"Channel", "MinBackoff", "CheckInterval"} {
		if err == nil || !strings.Contains(err.Error(), field+":") {
			t.Errorf("Validate() = %v, want a problem with %s", err, field)
		}
	}
	w := authpg.NewPolicyWatcher(nil, authpg.WatcherConfig{Channel: "Bad Channel"}, nil)
	if err := w.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "Channel") {
		t.Errorf("Start with a bad channel: %v, want the config problem", err)
	}
	if err := w.Stop(context.Background()); err != nil {
		t.Errorf("Stop of a watcher that never started: %v", err)
	}
}
