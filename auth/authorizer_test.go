package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
)

// ExampleNewAuthorizer builds an authorizer from rules in memory, with no
// database: the default policy plus one rule.
func ExampleNewAuthorizer() {
	rules := append(auth.DefaultRules(), auth.PermissionRule("operator", "*", "users", "read"))
	authz, err := auth.NewAuthorizer(auth.NewMemoryAdapter(rules...), auth.AuthorizerConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	ann := &auth.Principal{Subject: "u-1", Name: "ann", Roles: []string{"viewer"}}
	bob := &auth.Principal{Subject: "u-2", Name: "bob", Roles: []string{"operator"}}
	fmt.Println("ann reads projects:", authz.Allowed(ann, auth.Permission{Resource: "projects", Action: "read"}))
	fmt.Println("ann writes projects:", authz.Allowed(ann, auth.Permission{Resource: "projects", Action: "write"}))
	fmt.Println("bob reads users:", authz.Allowed(bob, auth.Permission{Resource: "users", Action: "read"}))

	// A change is stored by the adapter, then applies at once.
	err = authz.AddRules(context.Background(), auth.PermissionRule("viewer", "*", "dlq", "read"))
	fmt.Println("add:", err)
	fmt.Println("ann reads dlq:", authz.Allowed(ann, auth.Permission{Resource: "dlq", Action: "read"}))
	fmt.Println("roles:", authz.Roles())
	// Output:
	// ann reads projects: true
	// ann writes projects: false
	// bob reads users: true
	// add: <nil>
	// ann reads dlq: true
	// roles: [admin operator viewer]
}

// newAuthorizer returns an authorizer on a memory adapter holding rules.
func newAuthorizer(tb testing.TB, rules ...auth.Rule) (*auth.Authorizer, *auth.MemoryAdapter) {
	tb.Helper()
	adapter := auth.NewMemoryAdapter(rules...)
	a, err := auth.NewAuthorizer(adapter, auth.AuthorizerConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	return a, adapter
}

// perm parses "resource:action".
func perm(s string) auth.Permission {
	for i := range len(s) {
		if s[i] == ':' {
			return auth.Permission{Resource: s[:i], Action: s[i+1:]}
		}
	}
	panic("perm: no colon in " + s)
}

func role(roles ...string) *auth.Principal {
	return &auth.Principal{Subject: "subject-1", Kind: auth.KindUser, Roles: roles}
}

// expect asserts the decisions of a for p: each permission in allowed is
// allowed, each in denied is not.
func expect(t *testing.T, a *auth.Authorizer, who string, p *auth.Principal, allowed, denied []string) {
	t.Helper()
	for _, s := range allowed {
		if !a.Allowed(p, perm(s)) {
			t.Errorf("%s: %s denied, want allowed", who, s)
		}
	}
	for _, s := range denied {
		if a.Allowed(p, perm(s)) {
			t.Errorf("%s: %s allowed, want denied", who, s)
		}
	}
}

// sensitive are permissions only admin has under the default policy.
var sensitive = []string{
	"users:read", "users:write", "keys:read", "keys:write", "policies:read", "policies:write",
	"plugins:write", "logs:read", "logs:write", "mcp:read", "mcp:write", "dlq:write",
}

func TestAuthorizerDefaultPolicy(t *testing.T) {
	a, _ := newAuthorizer(t, auth.DefaultRules()...)
	// users:list is the team directory; emails (users:read) stay admin's.
	reads := []string{"projects:read", "components:read", "tasks:read", "events:read", "plugins:read", "users:list"}
	writes := []string{"projects:write", "components:write", "tasks:write", "events:write"}

	expect(t, a, "viewer", role("viewer"), reads,
		slices.Concat(writes, sensitive, []string{"dlq:read", "audit:read", "events:admin", "plugins:admin", "projects:delete", "*:*"}))
	// The operator reads the audit log; its details need users:read.
	expect(t, a, "operator", role("operator"), slices.Concat(reads, writes, []string{"dlq:read", "audit:read"}),
		slices.Concat(sensitive, []string{"events:admin", "plugins:admin"}))
	expect(t, a, "admin", role("admin"), slices.Concat(reads, writes, sensitive, []string{"anything:whatever", "*:*"}), nil)
	expect(t, a, "viewer and operator", role("viewer", "operator"), writes, sensitive)
	expect(t, a, "unknown role", role("superuser"), nil, slices.Concat(reads, writes, sensitive))
	expect(t, a, "no role", role(), nil, slices.Concat(reads, writes, sensitive))
	if a.Allowed(nil, perm("projects:read")) {
		t.Error("nil principal allowed")
	}
}

func TestAuthorizerPermissionScopedPrincipal(t *testing.T) {
	a, _ := newAuthorizer(t, auth.DefaultRules()...)
	key := &auth.Principal{Subject: "key1", Kind: auth.KindService, Roles: []string{"admin"},
		Permissions: []auth.Permission{{Resource: "projects", Action: "read"}}}
	expect(t, a, "admin key scoped to projects:read", key, []string{"projects:read"},
		slices.Concat([]string{"projects:write", "tasks:read", "events:write"}, sensitive))

	// The scope narrows the roles; it grants nothing of its own.
	viewerKey := &auth.Principal{Subject: "key2", Roles: []string{"viewer"}, Permissions: []auth.Permission{{Resource: "*", Action: "*"}}}
	expect(t, a, "viewer key scoped to *:*", viewerKey, []string{"projects:read"}, []string{"projects:write", "users:read"})
	// Without roles, the permissions are exactly what the key may do.
	noRoles := &auth.Principal{Subject: "key3", Permissions: []auth.Permission{{Resource: "projects", Action: "read"}}}
	expect(t, a, "key without roles", noRoles, []string{"projects:read"}, []string{"projects:write", "tasks:read", "users:read"})
}

func TestAuthorizerDomains(t *testing.T) {
	a, _ := newAuthorizer(t,
		auth.PermissionRule("tenant-admin", "acme", "*", "*"),
		auth.PermissionRule("reader", "*", "projects", "read"),
		auth.PermissionRule("local", auth.NoDomain, "tasks", "read"),
	)
	in := func(domain string, roles ...string) *auth.Principal {
		return &auth.Principal{Subject: "s", Roles: roles, Domain: domain}
	}
	expect(t, a, "tenant-admin of acme", in("acme", "tenant-admin"), []string{"users:write", "projects:read"}, nil)
	expect(t, a, "tenant-admin in globex", in("globex", "tenant-admin"), nil, []string{"users:write", "projects:read"})
	expect(t, a, "tenant-admin without domain", in("", "tenant-admin"), nil, []string{"users:write"})
	expect(t, a, `tenant-admin in domain "*"`, in("*", "tenant-admin"), nil, []string{"users:write"})
	expect(t, a, "reader anywhere", in("globex", "reader"), []string{"projects:read"}, []string{"projects:write"})
	expect(t, a, "reader without domain", in("", "reader"), []string{"projects:read"}, nil)
	expect(t, a, "local without domain", in("", "local"), []string{"tasks:read"}, nil)
	expect(t, a, "local in acme", in("acme", "local"), nil, []string{"tasks:read"})
}

func TestAuthorizerDirectGrantToSubject(t *testing.T) {
	rules := append(auth.DefaultRules(),
		auth.PermissionRule("user-42", "*", "users", "read"),
		auth.InheritRule("user-43", "operator"))
	a, _ := newAuthorizer(t, rules...)
	expect(t, a, "user-42 without roles", &auth.Principal{Subject: "user-42"}, []string{"users:read"}, []string{"users:write", "projects:read"})
	expect(t, a, "user-43 without roles", &auth.Principal{Subject: "user-43"}, []string{"projects:write", "projects:read"}, []string{"users:read"})
	expect(t, a, "someone else", &auth.Principal{Subject: "user-44", Roles: []string{"viewer"}}, []string{"projects:read"}, []string{"users:read"})

	// With a prefix, a subject spelled like a role gets nothing from it.
	prefixed, err := auth.NewAuthorizer(auth.NewMemoryAdapter(append(auth.DefaultRules(),
		auth.PermissionRule("user:admin", "*", "users", "read"))...), auth.AuthorizerConfig{SubjectPrefix: "user:"})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, prefixed, `subject "admin"`, &auth.Principal{Subject: "admin"}, []string{"users:read"}, []string{"users:write", "projects:read"})
}

func TestAuthorizerChanges(t *testing.T) {
	ctx := context.Background()
	a, adapter := newAuthorizer(t, auth.DefaultRules()...)
	op := role("operator")
	usersWrite := auth.PermissionRule("operator", "*", "users", "write")
	auditor := auth.InheritRule("auditor", "viewer")

	if err := a.AddRules(ctx, usersWrite, auditor); err != nil {
		t.Fatal(err)
	}
	expect(t, a, "operator after add", op, []string{"users:write"}, nil)
	expect(t, a, "auditor after add", role("auditor"), []string{"projects:read"}, []string{"projects:write"})
	if !slices.Contains(a.Roles(), "auditor") {
		t.Errorf("Roles() = %v, want auditor among them", a.Roles())
	}

	// Adding an existing rule fails with a conflict, and nothing of the
	// call is kept.
	logs := auth.PermissionRule("operator", "*", "logs", "read")
	err := a.AddRules(ctx, logs, usersWrite)
	if !errors.Is(err, dashcore.ErrConflict) {
		t.Fatalf("add existing rule: %v, want dashcore.ErrConflict", err)
	}
	expect(t, a, "operator after failed add", op, nil, []string{"logs:read"})

	// Removing a missing rule fails with not found, and nothing is removed.
	err = a.RemoveRules(ctx, usersWrite, logs)
	if !errors.Is(err, dashcore.ErrNotFound) {
		t.Fatalf("remove missing rule: %v, want dashcore.ErrNotFound", err)
	}
	expect(t, a, "operator after failed remove", op, []string{"users:write"}, nil)

	if err := a.RemoveRules(ctx, usersWrite, auditor); err != nil {
		t.Fatal(err)
	}
	expect(t, a, "operator after remove", op, nil, []string{"users:write"})
	expect(t, a, "auditor after remove", role("auditor"), nil, []string{"projects:read"})

	// Invalid or repeated rules fail as invalid.
	if err := a.AddRules(ctx, logs, auth.Rule{Type: "p", Role: "x"}); !errors.Is(err, dashcore.ErrInvalid) {
		t.Errorf("add invalid rule: %v, want dashcore.ErrInvalid", err)
	}
	if err := a.AddRules(ctx, logs, logs); !errors.Is(err, dashcore.ErrInvalid) {
		t.Errorf("add a rule twice: %v, want dashcore.ErrInvalid", err)
	}
	if err := a.AddRules(ctx); err != nil {
		t.Errorf("add nothing: %v", err)
	}

	// The adapter holds what the authorizer decides on.
	b, err := auth.NewAuthorizer(adapter, auth.AuthorizerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.Rules(), a.Rules(); !slices.Equal(got, want) {
		t.Errorf("adapter holds\n%v\nwant\n%v", got, want)
	}
	if got, want := a.Rules(), sortedDefaultRules(); !slices.Equal(got, want) {
		t.Errorf("after add and remove, Rules() =\n%v\nwant the default\n%v", got, want)
	}
}

// sortedDefaultRules returns DefaultRules in the order Rules gives.
func sortedDefaultRules() []auth.Rule {
	r := auth.DefaultRules()
	slices.SortFunc(r, func(a, b auth.Rule) int {
		for _, c := range [][2]string{{a.Type, b.Type}, {a.Role, b.Role}, {a.Member, b.Member}, {a.Domain, b.Domain}, {a.Resource, b.Resource}, {a.Action, b.Action}} {
			if c[0] != c[1] {
				if c[0] < c[1] {
					return -1
				}
				return 1
			}
		}
		return 0
	})
	return r
}

func TestAuthorizerRulesAndRoles(t *testing.T) {
	shuffled := auth.DefaultRules()
	slices.Reverse(shuffled)
	a, _ := newAuthorizer(t, shuffled...)
	got := a.Rules()
	if want := sortedDefaultRules(); !slices.Equal(got, want) {
		t.Errorf("Rules() =\n%v\nwant\n%v", got, want)
	}
	if got[0].String() != "g, admin, operator" || got[len(got)-1].String() != "p, viewer, *, users, list" {
		t.Errorf("Rules() runs from %q to %q", got[0], got[len(got)-1])
	}
	got[0].Role = "changed"
	if a.Rules()[0].Role == "changed" {
		t.Error("Rules() returns the authorizer's own slice")
	}
	if got, want := a.Roles(), []string{"admin", "operator", "viewer"}; !slices.Equal(got, want) {
		t.Errorf("Roles() = %v, want %v", got, want)
	}
}

// brokenAdapter is a BatchAdapter (not atomic) whose AddPolicies fails
// for one policy type, to show that the authorizer undoes the steps done.
type brokenAdapter struct {
	*auth.MemoryAdapter
	failType string
}

func (b brokenAdapter) AddPolicies(sec, ptype string, rules [][]string) error {
	if ptype == b.failType {
		return errors.New("disk full")
	}
	return b.MemoryAdapter.AddPolicies(sec, ptype, rules)
}

func (b brokenAdapter) ApplyPolicyOperations() {} // hides the atomic method

func TestAuthorizerChangeUndoneWhenANonAtomicAdapterFails(t *testing.T) {
	mem := auth.NewMemoryAdapter(auth.DefaultRules()...)
	var adapter persist.Adapter = brokenAdapter{MemoryAdapter: mem, failType: "g"}
	if _, ok := adapter.(auth.AtomicAdapter); ok {
		t.Fatal("brokenAdapter is atomic; the test needs it not to be")
	}
	a, err := auth.NewAuthorizer(adapter, auth.AuthorizerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	err = a.AddRules(context.Background(), auth.PermissionRule("viewer", "*", "logs", "read"), auth.InheritRule("auditor", "viewer"))
	if err == nil {
		t.Fatal("AddRules succeeded; want the adapter's failure")
	}
	if err := a.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := a.Rules(), sortedDefaultRules(); !slices.Equal(got, want) {
		t.Errorf("after a failed add the adapter holds\n%v\nwant\n%v", got, want)
	}
	expect(t, a, "viewer", role("viewer"), nil, []string{"logs:read"})
}

func TestRuleValidate(t *testing.T) {
	tests := []struct {
		rule  auth.Rule
		field string // "" for a valid rule
	}{
		{auth.PermissionRule("viewer", "*", "projects", "read"), ""},
		{auth.PermissionRule("viewer", auth.NoDomain, "projects", "read"), ""},
		{auth.InheritRule("operator", "viewer"), ""},
		{auth.InheritRule("user-1", "admin"), ""},
		{auth.Rule{Type: "x", Role: "a"}, "type"},
		{auth.Rule{Role: "a"}, "type"},
		{auth.PermissionRule("", "*", "projects", "read"), "role"},
		{auth.PermissionRule("viewer", "", "projects", "read"), "domain"},
		{auth.PermissionRule("viewer", "*", "", "read"), "resource"},
		{auth.PermissionRule("viewer", "*", "projects", ""), "action"},
		{auth.PermissionRule("*", "*", "projects", "read"), "role"},
		{auth.PermissionRule("view er", "*", "projects", "read"), "role"},
		{auth.PermissionRule("viewer", "*", "projects,users", "read"), "resource"},
		{auth.PermissionRule("viewer", "*", "projects", "read\n"), "action"},
		{auth.PermissionRule("viewer", "*", "projects", "re\x00ad"), "action"},
		{auth.PermissionRule("viewer", "*", "projects", "\xff"), "action"},
		{auth.PermissionRule("viewer", "*", strings.Repeat("x", 129), "read"), "resource"},
		{auth.Rule{Type: "p", Role: "viewer", Domain: "*", Resource: "projects", Action: "read", Member: "x"}, "member"},
		{auth.InheritRule("", "viewer"), "member"},
		{auth.InheritRule("operator", ""), "role"},
		{auth.InheritRule("viewer", "viewer"), "member"},
		{auth.InheritRule("*", "viewer"), "member"},
		{auth.Rule{Type: "g", Member: "operator", Role: "viewer", Resource: "projects"}, "resource"},
		{auth.Rule{Type: "g", Member: "operator", Role: "viewer", Domain: "*"}, "domain"},
	}
	for _, tt := range tests {
		err := tt.rule.Validate()
		if tt.field == "" {
			if err != nil {
				t.Errorf("%q: %v, want valid", tt.rule.String(), err)
			}
			continue
		}
		var re *auth.RuleError
		var fe *dashcore.FieldError
		switch {
		case err == nil:
			t.Errorf("%q: valid, want a problem with %s", tt.rule.String(), tt.field)
		case !errors.Is(err, dashcore.ErrInvalid) || !errors.As(err, &re) || !errors.As(err, &fe):
			t.Errorf("%q: %v (%T), want a *RuleError wrapping dashcore.ErrInvalid and a *dashcore.FieldError", tt.rule.String(), err, err)
		case fe.Field != tt.field:
			t.Errorf("%q: %v, want the problem in %s", tt.rule.String(), err, tt.field)
		}
	}
	err := auth.PermissionRule("", "*", "", "read").Validate()
	if want := `auth: invalid rule "p, , *, , read": role: must not be empty; resource: must not be empty`; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func TestRuleJSON(t *testing.T) {
	b, err := json.Marshal([]auth.Rule{auth.PermissionRule("viewer", "*", "projects", "read"), auth.InheritRule("operator", "viewer")})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"type":"p","role":"viewer","domain":"*","resource":"projects","action":"read"},{"type":"g","role":"viewer","member":"operator"}]`
	if string(b) != want {
		t.Errorf("JSON = %s\nwant   %s", b, want)
	}
	var back []auth.Rule
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back[0] != auth.PermissionRule("viewer", "*", "projects", "read") || back[1] != auth.InheritRule("operator", "viewer") {
		t.Errorf("round trip = %+v", back)
	}
}

func TestNewAuthorizerRejectsBadInput(t *testing.T) {
	if _, err := auth.NewAuthorizer(nil, auth.AuthorizerConfig{}); err == nil {
		t.Error("nil adapter accepted")
	}
	if _, err := auth.NewAuthorizer(auth.NewMemoryAdapter(), auth.AuthorizerConfig{LoadTimeout: -1}); err == nil {
		t.Error("negative LoadTimeout accepted")
	}
	bad := auth.NewMemoryAdapter(auth.PermissionRule("viewer", "*", "projects", "read"), auth.PermissionRule("a b", "*", "x", "y"))
	_, err := auth.NewAuthorizer(bad, auth.AuthorizerConfig{})
	if !errors.Is(err, dashcore.ErrInvalid) {
		t.Errorf("stored invalid rule: %v, want an error wrapping dashcore.ErrInvalid", err)
	}
	empty, err := auth.NewAuthorizer(auth.NewMemoryAdapter(), auth.AuthorizerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, empty, "admin on an empty policy", role("admin"), nil, []string{"projects:read"})
}

// chanWatcher is an in-process persist.Watcher: Update calls the callback
// of every other watcher of its hub.
type chanWatcher struct {
	hub *[]*chanWatcher
	mu  sync.Mutex
	fn  func(string)
	id  string
}

func (w *chanWatcher) SetUpdateCallback(fn func(string)) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fn = fn
	return nil
}

func (w *chanWatcher) Update() error {
	for _, o := range *w.hub {
		if o != w {
			o.mu.Lock()
			fn := o.fn
			o.mu.Unlock()
			fn(w.id)
		}
	}
	return nil
}

func (w *chanWatcher) Close() {}

func TestAuthorizerSetWatcher(t *testing.T) {
	ctx := context.Background()
	shared := auth.NewMemoryAdapter(auth.DefaultRules()...)
	var hub []*chanWatcher
	var instances []*auth.Authorizer
	for _, id := range []string{"a", "b"} {
		a, err := auth.NewAuthorizer(shared, auth.AuthorizerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		w := &chanWatcher{hub: &hub, id: id}
		hub = append(hub, w)
		if err := a.SetWatcher(w); err != nil {
			t.Fatal(err)
		}
		instances = append(instances, a)
	}
	a, b := instances[0], instances[1]
	if err := a.AddRules(ctx, auth.PermissionRule("operator", "*", "users", "write")); err != nil {
		t.Fatal(err)
	}
	expect(t, b, "operator on b", role("operator"), []string{"users:write"}, nil)
	if err := b.RemoveRules(ctx, auth.PermissionRule("operator", "*", "users", "write")); err != nil {
		t.Fatal(err)
	}
	expect(t, a, "operator on a", role("operator"), nil, []string{"users:write"})

	// Without a watcher, b no longer learns of a's changes until it
	// reloads.
	if err := b.SetWatcher(nil); err != nil {
		t.Fatal(err)
	}
	if err := a.AddRules(ctx, auth.PermissionRule("viewer", "*", "logs", "read")); err != nil {
		t.Fatal(err)
	}
	expect(t, b, "viewer on b before reload", role("viewer"), nil, []string{"logs:read"})
	if err := b.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	expect(t, b, "viewer on b after reload", role("viewer"), []string{"logs:read"}, nil)
}

// TestAuthorizerConcurrentUse decides while rules change and reload; run
// it with -race.
func TestAuthorizerConcurrentUse(t *testing.T) {
	ctx := context.Background()
	a, _ := newAuthorizer(t, auth.DefaultRules()...)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			p := role("operator")
			for {
				select {
				case <-stop:
					return
				default:
				}
				if !a.Allowed(p, perm("projects:write")) {
					t.Error("operator lost projects:write while an unrelated rule changed")
					return
				}
				a.Allowed(p, perm("users:write"))
			}
		})
	}
	rule := auth.PermissionRule("operator", "*", "users", "write")
	for range 50 {
		if err := a.AddRules(ctx, rule); err != nil {
			t.Fatal(err)
		}
		if err := a.RemoveRules(ctx, rule); err != nil {
			t.Fatal(err)
		}
		if err := a.Reload(ctx); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestMemoryAdapter(t *testing.T) {
	m := func() model.Model {
		m, err := model.NewModelFromString(auth.CasbinModel)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a := auth.NewMemoryAdapter(auth.DefaultRules()...)
	if err := a.RemoveFilteredPolicy("p", "p", 0, "viewer"); err != nil {
		t.Fatal(err)
	}
	if err := a.RemoveFilteredPolicy("p", "p", 2, "", "read"); err != nil {
		t.Fatal(err)
	}
	loaded := m()
	if err := a.LoadPolicy(loaded); err != nil {
		t.Fatal(err)
	}
	p, _ := loaded.GetPolicy("p", "p")
	g, _ := loaded.GetPolicy("g", "g")
	if len(p) != 5 || len(g) != 2 {
		t.Errorf("after filtered removals: p = %v, g = %v; want operator's 4 writes and admin's rule, and both g rules", p, g)
	}
	if err := a.AddPolicy("p", "p", []string{"admin", "*", "*", "*"}); !errors.Is(err, dashcore.ErrConflict) {
		t.Errorf("add existing: %v, want ErrConflict", err)
	}
	if err := a.RemovePolicy("p", "p", []string{"viewer", "*", "projects", "read"}); !errors.Is(err, dashcore.ErrNotFound) {
		t.Errorf("remove missing: %v, want ErrNotFound", err)
	}
	if err := a.SavePolicy(m()); err != nil {
		t.Fatal(err)
	}
	empty := m()
	if err := a.LoadPolicy(empty); err != nil {
		t.Fatal(err)
	}
	if p, _ := empty.GetPolicy("p", "p"); len(p) != 0 {
		t.Errorf("after saving an empty policy, p = %v", p)
	}
}

// BenchmarkAuthorize measures Allowed on the default policy: the cached
// path for each kind of principal, and Casbin itself (cache disabled).
func BenchmarkAuthorize(b *testing.B) {
	cases := []struct {
		name string
		p    *auth.Principal
		want auth.Permission
	}{
		{"viewer-allowed", role("viewer"), perm("projects:read")},
		{"viewer-denied", role("viewer"), perm("projects:write")},
		{"operator-inherited", role("operator"), perm("tasks:read")},
		{"admin-wildcard", role("admin"), perm("users:write")},
		{"scoped-key", &auth.Principal{Subject: "k", Roles: []string{"admin"}, Permissions: []auth.Permission{perm("projects:read")}}, perm("projects:read")},
		{"unknown-role", role("nobody"), perm("projects:read")},
	}
	for _, cacheSize := range []int{0, -1} {
		mode := "cached"
		if cacheSize < 0 {
			mode = "uncached"
		}
		a, err := auth.NewAuthorizer(auth.NewMemoryAdapter(auth.DefaultRules()...), auth.AuthorizerConfig{CacheSize: cacheSize})
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range cases {
			b.Run(mode+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					a.Allowed(c.p, c.want)
				}
			})
		}
		b.Run(mode+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			p := role("operator")
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					a.Allowed(p, perm("tasks:read"))
				}
			})
		})
	}
}

func TestAuthorizerCanGrant(t *testing.T) {
	a, _ := newAuthorizer(t, append(auth.DefaultRules(), auth.PermissionRule("operator", "*", "users", "write"))...)
	admin := &auth.Principal{Subject: "a", Roles: []string{"admin"}}
	operator := &auth.Principal{Subject: "o", Roles: []string{"operator"}}
	if err := a.CanGrant(admin, []string{"admin", "viewer"}, []auth.Permission{{Resource: "users", Action: "write"}}); err != nil {
		t.Errorf("admin: %v", err)
	}
	if err := a.CanGrant(operator, []string{"operator", "viewer"}, []auth.Permission{{Resource: "projects", Action: "write"}}); err != nil {
		t.Errorf("operator granting what it holds (viewer by inheritance): %v", err)
	}
	for _, c := range []struct {
		roles []string
		perms []auth.Permission
	}{
		{[]string{"admin"}, nil},
		{nil, []auth.Permission{{Resource: "policies", Action: "write"}}},
		{nil, []auth.Permission{{Resource: "*", Action: "*"}}},
	} {
		err := a.CanGrant(operator, c.roles, c.perms)
		if err == nil || !errors.Is(err, dashcore.ErrForbidden) {
			t.Errorf("operator granting %v %v: %v, want a forbidden error", c.roles, c.perms, err)
		}
	}
}
