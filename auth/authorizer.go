package auth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"

	"github.com/taylordash/taylordash/dashcore"
)

// CasbinModel is the Casbin model of the [Authorizer]: role-based access
// with a domain (tenant), a resource and an action per permission, "*" in
// a permission's domain, resource or action matching any value, and role
// inheritance (g) that holds in every domain. A request is (subject,
// domain, resource, action).
const CasbinModel = `[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && (p.dom == "*" || r.dom == p.dom) && (p.obj == "*" || r.obj == p.obj) && (p.act == "*" || r.act == p.act)
`

// NoDomain is the domain the [Authorizer] asks about for a principal whose
// Domain is empty: only permissions for domain "*" (or for this very
// domain, "-") apply to it.
const NoDomain = "-"

// The rule types.
const (
	// RulePermission ("p") grants Role the Action on the Resource in the
	// Domain.
	RulePermission = "p"
	// RuleInherit ("g") makes Member inherit every permission of Role.
	RuleInherit = "g"
)

// maxRulePart caps the length of one part of a rule, in bytes.
const maxRulePart = 128

// Rule is one rule of the authorization policy: a permission (Type "p")
// or a role inheritance (Type "g"). Build one with [PermissionRule] or
// [InheritRule]; the JSON form is the one of the admin API.
type Rule struct {
	// Type is "p" (a permission: Role, Domain, Resource and Action) or
	// "g" (a role inheritance: Member and Role).
	Type string `json:"type" enum:"p,g" doc:"p: a permission (role, domain, resource, action); g: member inherits role"`
	// Role is the role granted the permission ("p"), or the role
	// inherited ("g"). A principal's subject may stand in for a role, to
	// grant one principal directly.
	Role string `json:"role" doc:"the role granted the permission (p), or the role inherited (g)"`
	// Member is the role or subject that inherits Role ("g" only).
	Member string `json:"member,omitempty" doc:"the role or subject that inherits role (g only)"`
	// Domain is the tenant the permission holds in, "*" for all ("p"
	// only).
	Domain string `json:"domain,omitempty" doc:"the tenant the permission holds in, * for all (p only)"`
	// Resource is what the permission is on, "*" for all ("p" only).
	Resource string `json:"resource,omitempty" doc:"what the permission is on, * for all (p only)"`
	// Action is what the permission allows, "*" for all ("p" only).
	Action string `json:"action,omitempty" doc:"what the permission allows, * for all (p only)"`
}

// PermissionRule returns the rule granting role the action on resource in
// domain ("*" for all domains).
func PermissionRule(role, domain, resource, action string) Rule {
	return Rule{Type: RulePermission, Role: role, Domain: domain, Resource: resource, Action: action}
}

// InheritRule returns the rule making member inherit role.
func InheritRule(member, role string) Rule {
	return Rule{Type: RuleInherit, Member: member, Role: role}
}

// String returns the rule as a Casbin policy line: "p, viewer, *,
// projects, read" or "g, operator, viewer" (member first).
func (r Rule) String() string {
	if r.Type == RuleInherit {
		return r.Type + ", " + r.Member + ", " + r.Role
	}
	return r.Type + ", " + r.Role + ", " + r.Domain + ", " + r.Resource + ", " + r.Action
}

// RuleError says what is wrong with a rule. It wraps dashcore.ErrInvalid,
// so that the API answers 422, and each problem, a *dashcore.FieldError
// naming the field by its JSON name.
type RuleError struct {
	// Rule is the rule as given.
	Rule Rule
	// Problems lists what is wrong, one field each.
	Problems []*dashcore.FieldError
}

// Error returns the rule and its problems.
func (e *RuleError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Error()
	}
	return fmt.Sprintf("auth: invalid rule %q: %s", e.Rule.String(), strings.Join(parts, "; "))
}

// Unwrap returns dashcore.ErrInvalid and the problems.
func (e *RuleError) Unwrap() []error {
	errs := []error{dashcore.ErrInvalid}
	for _, p := range e.Problems {
		errs = append(errs, p)
	}
	return errs
}

// Validate reports what is wrong with r, as a *[RuleError]: the type must
// be "p" or "g"; the parts of its type must be set, at most 128 bytes of
// UTF-8 without spaces, commas or control characters; the parts of the
// other type must be empty; Role and Member name a role or subject, never
// "*"; and a role cannot inherit itself.
func (r Rule) Validate() error {
	e := &RuleError{Rule: r}
	bad := func(field, problem string) {
		e.Problems = append(e.Problems, &dashcore.FieldError{Field: field, Problem: problem})
	}
	part := func(field, v string, wildcard bool) {
		if problem := checkPart(v, wildcard); problem != "" {
			bad(field, problem)
		}
	}
	empty := func(field, v, kind string) {
		if v != "" {
			bad(field, "must be empty in a "+kind+" rule")
		}
	}
	switch r.Type {
	case RulePermission:
		part("role", r.Role, false)
		part("domain", r.Domain, true)
		part("resource", r.Resource, true)
		part("action", r.Action, true)
		empty("member", r.Member, `permission ("p")`)
	case RuleInherit:
		part("member", r.Member, false)
		part("role", r.Role, false)
		if r.Member != "" && r.Member == r.Role {
			bad("member", "must differ from role: a role cannot inherit itself")
		}
		empty("domain", r.Domain, `role inheritance ("g")`)
		empty("resource", r.Resource, `role inheritance ("g")`)
		empty("action", r.Action, `role inheritance ("g")`)
	default:
		bad("type", `must be "p" (a permission) or "g" (a role inheritance)`)
	}
	if len(e.Problems) > 0 {
		return e
	}
	return nil
}

// checkPart returns what is wrong with one part of a rule, or "".
func checkPart(v string, wildcard bool) string {
	switch {
	case v == "":
		return "must not be empty"
	case len(v) > maxRulePart:
		return fmt.Sprintf("must be at most %d bytes", maxRulePart)
	case !utf8.ValidString(v):
		return "must be valid UTF-8"
	case v == "*" && !wildcard:
		return `must name a role or subject: "*" is no wildcard here`
	}
	for _, c := range v {
		switch {
		case c == ',':
			return "must not contain commas"
		case unicode.IsSpace(c):
			return "must not contain spaces"
		case unicode.IsControl(c):
			return "must not contain control characters"
		}
	}
	return ""
}

// casbin returns the policy type and values of r, as Casbin stores them.
func (r Rule) casbin() (ptype string, values []string) {
	if r.Type == RuleInherit {
		return r.Type, []string{r.Member, r.Role}
	}
	return r.Type, []string{r.Role, r.Domain, r.Resource, r.Action}
}

// ruleFrom returns the rule of a Casbin policy line (ptype and values).
func ruleFrom(ptype string, values []string) (Rule, error) {
	var r Rule
	switch {
	case ptype == RulePermission && len(values) == 4:
		r = PermissionRule(values[0], values[1], values[2], values[3])
	case ptype == RuleInherit && len(values) == 2:
		r = InheritRule(values[0], values[1])
	default:
		return Rule{}, fmt.Errorf("auth: policy line %q: want p with 4 values or g with 2", strings.Join(append([]string{ptype}, values...), ", "))
	}
	if err := r.Validate(); err != nil {
		return Rule{}, err
	}
	return r, nil
}

// compareRules orders rules by type, role, member, domain, resource and
// action.
func compareRules(a, b Rule) int {
	return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Role, b.Role), cmp.Compare(a.Member, b.Member),
		cmp.Compare(a.Domain, b.Domain), cmp.Compare(a.Resource, b.Resource), cmp.Compare(a.Action, b.Action))
}

// DefaultRules returns the default policy, the one the authpg migrations
// seed: viewer reads projects, components, tasks, events and plugins, and
// lists users (users:list: the team directory, without emails, which need
// users:read); operator inherits viewer, writes projects, components,
// tasks and events, reads the dead-letter queue (dlq) and the audit log
// (audit:read: who did what, without the client's address, user agent
// and details, which need users:read); admin inherits operator and may do
// anything. The response fields that need more than their route are
// tagged with [PermissionTag] (see [FieldFilter]).
func DefaultRules() []Rule {
	return []Rule{
		PermissionRule("viewer", "*", "projects", "read"),
		PermissionRule("viewer", "*", "components", "read"),
		PermissionRule("viewer", "*", "tasks", "read"),
		PermissionRule("viewer", "*", "events", "read"),
		PermissionRule("viewer", "*", "plugins", "read"),
		PermissionRule("viewer", "*", "users", "list"),
		PermissionRule("operator", "*", "projects", "write"),
		PermissionRule("operator", "*", "components", "write"),
		PermissionRule("operator", "*", "tasks", "write"),
		PermissionRule("operator", "*", "events", "write"),
		PermissionRule("operator", "*", "dlq", "read"),
		PermissionRule("operator", "*", "audit", "read"),
		PermissionRule("admin", "*", "*", "*"),
		InheritRule("operator", "viewer"),
		InheritRule("admin", "operator"),
	}
}

// AtomicAdapter is a Casbin adapter that applies several policy operations,
// of several policy types, in one transaction. The [Authorizer] uses it
// when its adapter has it, so that AddRules and RemoveRules are all or
// nothing; authpg.CasbinAdapter and [MemoryAdapter] implement it.
type AtomicAdapter interface {
	persist.Adapter
	// ApplyPolicyOperations applies ops in order (only
	// persist.OperationAdd and persist.OperationRemove), all or none. A
	// rule to add that is stored already fails with an error wrapping
	// dashcore.ErrConflict; a rule to remove that is not stored fails with
	// one wrapping dashcore.ErrNotFound. It must be safe for concurrent
	// use.
	ApplyPolicyOperations(ctx context.Context, ops []persist.PolicyOperation) error
}

// AuthorizerConfig configures an [Authorizer]. The zero value is ready to
// use.
type AuthorizerConfig struct {
	// Logger receives failures of reloads the watcher asked for, and of
	// notifying the watcher. Nil discards them.
	Logger *slog.Logger
	// CacheSize caps how many decisions (subject, domain, resource,
	// action) are remembered for the current policy; when it is full the
	// cache starts over. A policy change starts a new cache. Default
	// 10000; negative disables the cache (every decision asks Casbin).
	CacheSize int
	// LoadTimeout bounds loading the policy from the adapter in
	// NewAuthorizer and in reloads the watcher asks for. Default 10s.
	LoadTimeout time.Duration
	// SubjectPrefix is put before a principal's Subject when the subject
	// is looked up as a grantee (direct grants to a principal). Set it,
	// e.g. to "user:", when a subject could be spelled like a role (an
	// OIDC sub "admin" would otherwise hold the admin role's
	// permissions); rules then grant "user:<subject>". Default "".
	SubjectPrefix string
}

// WithDefaults returns a copy of c with zero fields set to their defaults.
func (c AuthorizerConfig) WithDefaults() AuthorizerConfig {
	if c.CacheSize == 0 {
		c.CacheSize = 10000
	}
	if c.LoadTimeout == 0 {
		c.LoadTimeout = 10 * time.Second
	}
	return c
}

// Validate reports every field that cannot work, naming the field and the
// fix. Call it on c.WithDefaults().
func (c AuthorizerConfig) Validate() error {
	var errs []error
	if c.LoadTimeout <= 0 {
		errs = append(errs, &dashcore.FieldError{Field: "LoadTimeout", Problem: "must be positive, such as 10s"})
	}
	if c.SubjectPrefix != "" {
		if problem := checkPart(c.SubjectPrefix, false); problem != "" {
			errs = append(errs, &dashcore.FieldError{Field: "SubjectPrefix", Problem: problem})
		}
	}
	return errors.Join(errs...)
}

// Authorizer decides whether a [Principal] may do something, from a Casbin
// policy of [Rule]s (see [CasbinModel]) kept in a Casbin adapter (authpg's
// CasbinAdapter in PostgreSQL, or a [MemoryAdapter]).
//
// Decisions read an immutable snapshot of the policy and are cached, so
// Allowed costs well under a microsecond once warm and never waits for a
// change or a reload. Changes (AddRules, RemoveRules) are written to the
// adapter first, then swapped in; other instances learn of them through
// the watcher (see SetWatcher). All methods are safe for concurrent use.
type Authorizer struct {
	adapter persist.Adapter
	cfg     AuthorizerConfig
	log     *slog.Logger

	watcherMu sync.Mutex // serializes SetWatcher
	mu        sync.Mutex // serializes changes and reloads; guards watcher
	watcher   persist.Watcher
	policy    atomic.Pointer[policy]
}

// NewAuthorizer returns an authorizer whose policy is loaded from adapter
// now (within cfg.LoadTimeout, defaults applied). It fails if the config
// is invalid, the adapter fails, or a stored rule is invalid.
func NewAuthorizer(adapter persist.Adapter, cfg AuthorizerConfig) (*Authorizer, error) {
	a, err := NewUnloadedAuthorizer(adapter, cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.LoadTimeout)
	defer cancel()
	if err := a.Reload(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// NewUnloadedAuthorizer returns an authorizer that allows nothing until
// its first Reload loads the policy from adapter. The module uses it:
// the policy's table exists only once the migrations ran, on start.
func NewUnloadedAuthorizer(adapter persist.Adapter, cfg AuthorizerConfig) (*Authorizer, error) {
	if adapter == nil {
		return nil, errors.New("auth: new authorizer: the adapter is nil")
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("auth: invalid authorizer config: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Authorizer{adapter: adapter, cfg: cfg, log: log}
	empty, err := a.newPolicy(nil)
	if err != nil {
		return nil, err
	}
	a.policy.Store(empty)
	return a, nil
}

// Allowed reports whether p may have want. A nil principal may not. When
// p.Permissions is not empty, one of them must allow want (see
// [Permission.Allows]); a principal with permissions and no roles has
// exactly those. Otherwise the policy must grant want, in p.Domain
// ([NoDomain] when empty), to one of p.Roles or to p.Subject itself
// (prefixed with AuthorizerConfig.SubjectPrefix), directly or by
// inheritance: permissions then narrow what the roles allow.
func (a *Authorizer) Allowed(p *Principal, want Permission) bool {
	if p == nil {
		return false
	}
	if len(p.Permissions) > 0 {
		scoped := false
		for _, g := range p.Permissions {
			if g.Allows(want) {
				scoped = true
				break
			}
		}
		if !scoped {
			return false
		}
		if len(p.Roles) == 0 {
			// A principal with permissions and no roles (an API key
			// made for one job) has exactly those permissions.
			return true
		}
	}
	pol := a.policy.Load()
	dom := p.Domain
	if dom == "" {
		dom = NoDomain
	}
	for _, role := range p.Roles {
		if pol.allows(role, dom, want) {
			return true
		}
	}
	if p.Subject == "" {
		return false
	}
	return pol.allows(a.cfg.SubjectPrefix+p.Subject, dom, want)
}

// Rules returns the policy, sorted by type ("g" before "p"), role,
// member, domain, resource and action.
func (a *Authorizer) Rules() []Rule {
	return slices.Clone(a.policy.Load().rules)
}

// Roles returns every role or subject any rule names (as Role or Member),
// sorted.
func (a *Authorizer) Roles() []string {
	return slices.Clone(a.policy.Load().roles)
}

// AddRules adds rules to the policy, all or none: it fails, changing
// nothing, if a rule is invalid (an error wrapping dashcore.ErrInvalid),
// given twice, or already in the policy (dashcore.ErrConflict). The
// adapter stores them first (in one transaction if it is an
// [AtomicAdapter]), then decisions follow the new policy and the watcher,
// if any, tells the other instances.
func (a *Authorizer) AddRules(ctx context.Context, rules ...Rule) error {
	return a.change(ctx, persist.OperationAdd, rules)
}

// RemoveRules removes rules from the policy, all or none: it fails,
// changing nothing, if a rule is invalid, given twice, or not in the
// policy (an error wrapping dashcore.ErrNotFound). Otherwise it works as
// AddRules does.
func (a *Authorizer) RemoveRules(ctx context.Context, rules ...Rule) error {
	return a.change(ctx, persist.OperationRemove, rules)
}

// change adds or removes rules (op), as AddRules and RemoveRules say.
func (a *Authorizer) change(ctx context.Context, op persist.OperationType, rules []Rule) error {
	verb := "add"
	if op == persist.OperationRemove {
		verb = "remove"
	}
	if len(rules) == 0 {
		return nil
	}
	given := make(map[Rule]bool, len(rules))
	for _, r := range rules {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("auth: %s rules: %w", verb, err)
		}
		if given[r] {
			return fmt.Errorf("auth: %s rules: %q is given twice: %w", verb, r.String(), dashcore.ErrInvalid)
		}
		given[r] = true
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.policy.Load()
	next := make([]Rule, 0, len(cur.rules)+len(rules))
	for _, r := range rules {
		_, found := cur.index[r]
		switch {
		case op == persist.OperationAdd && found:
			return fmt.Errorf("auth: add rule %q: the rule exists: %w", r.String(), dashcore.ErrConflict)
		case op == persist.OperationRemove && !found:
			return fmt.Errorf("auth: remove rule %q: no such rule: %w", r.String(), dashcore.ErrNotFound)
		}
	}
	for _, r := range cur.rules {
		if !given[r] {
			next = append(next, r)
		}
	}
	if op == persist.OperationAdd {
		next = append(next, rules...)
	}
	pol, err := a.newPolicy(next)
	if err != nil {
		return fmt.Errorf("auth: %s rules: %w", verb, err)
	}
	if err := a.store(ctx, op, rules); err != nil {
		return fmt.Errorf("auth: %s rules: %w", verb, err)
	}
	a.policy.Store(pol)
	if a.watcher != nil {
		if err := a.watcher.Update(); err != nil {
			a.log.Error("auth: the policy changed but the other instances could not be told; they learn of it at their next reload",
				slog.Any("error", err))
		}
	}
	return nil
}

// store writes a change to the adapter: in one transaction if it is an
// AtomicAdapter; else type by type, undoing what was done when a step
// fails (as far as the adapter lets).
func (a *Authorizer) store(ctx context.Context, op persist.OperationType, rules []Rule) error {
	var ops []persist.PolicyOperation
	for _, ptype := range []string{RulePermission, RuleInherit} {
		var values [][]string
		for _, r := range rules {
			if t, v := r.casbin(); t == ptype {
				values = append(values, v)
			}
		}
		if len(values) > 0 {
			ops = append(ops, persist.PolicyOperation{Type: op, Section: ptype, PolicyType: ptype, Rules: values})
		}
	}
	if aa, ok := a.adapter.(AtomicAdapter); ok {
		return aa.ApplyPolicyOperations(ctx, ops)
	}
	for i, o := range ops {
		if err := applyOperation(ctx, a.adapter, o); err != nil {
			for _, done := range slices.Backward(ops[:i]) {
				undo := done
				undo.Type = persist.OperationRemove
				if done.Type == persist.OperationRemove {
					undo.Type = persist.OperationAdd
				}
				if uerr := applyOperation(context.WithoutCancel(ctx), a.adapter, undo); uerr != nil {
					err = errors.Join(err, fmt.Errorf("undo: %w", uerr))
				}
			}
			return err
		}
	}
	return nil
}

// applyOperation applies one operation through the richest interface
// adapter has.
func applyOperation(ctx context.Context, adapter persist.Adapter, op persist.PolicyOperation) error {
	switch ad := adapter.(type) {
	case persist.ContextBatchAdapter:
		if op.Type == persist.OperationAdd {
			return ad.AddPoliciesCtx(ctx, op.Section, op.PolicyType, op.Rules)
		}
		return ad.RemovePoliciesCtx(ctx, op.Section, op.PolicyType, op.Rules)
	case persist.BatchAdapter:
		if op.Type == persist.OperationAdd {
			return ad.AddPolicies(op.Section, op.PolicyType, op.Rules)
		}
		return ad.RemovePolicies(op.Section, op.PolicyType, op.Rules)
	}
	for _, rule := range op.Rules {
		var err error
		if op.Type == persist.OperationAdd {
			err = adapter.AddPolicy(op.Section, op.PolicyType, rule)
		} else {
			err = adapter.RemovePolicy(op.Section, op.PolicyType, rule)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Reload replaces the policy with the one the adapter holds now. Until it
// returns, decisions follow the previous policy; if it fails, they go on
// doing so.
func (a *Authorizer) Reload(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	m, err := model.NewModelFromString(CasbinModel)
	if err != nil {
		return fmt.Errorf("auth: load policy: %w", err)
	}
	if ca, ok := a.adapter.(persist.ContextAdapter); ok {
		err = ca.LoadPolicyCtx(ctx, m)
	} else {
		err = a.adapter.LoadPolicy(m)
	}
	if err != nil {
		return fmt.Errorf("auth: load policy: %w", err)
	}
	var rules []Rule
	for sec := range m {
		if sec != "p" && sec != "g" {
			continue
		}
		for ptype, ast := range m[sec] {
			for _, values := range ast.Policy {
				r, err := ruleFrom(ptype, values)
				if err != nil {
					return fmt.Errorf("auth: load policy: %w", err)
				}
				rules = append(rules, r)
			}
		}
	}
	pol, err := a.newPolicy(rules)
	if err != nil {
		return fmt.Errorf("auth: load policy: %w", err)
	}
	a.policy.Store(pol)
	return nil
}

// SetWatcher makes w keep this authorizer in step with the other
// instances: every change made here calls w.Update, and w's update
// callback reloads the policy (within AuthorizerConfig.LoadTimeout;
// failures are logged, and the previous policy stays). The watcher it
// replaces, if any, gets a callback that does nothing; a nil w just
// detaches it. The caller starts and stops w.
func (a *Authorizer) SetWatcher(w persist.Watcher) error {
	a.watcherMu.Lock()
	defer a.watcherMu.Unlock()
	a.mu.Lock()
	old := a.watcher
	a.watcher = nil
	a.mu.Unlock()
	if old != nil {
		if err := old.SetUpdateCallback(func(string) {}); err != nil {
			return fmt.Errorf("auth: set watcher: detach the previous one: %w", err)
		}
	}
	if w == nil {
		return nil
	}
	if err := w.SetUpdateCallback(a.reloadFromWatcher); err != nil {
		return fmt.Errorf("auth: set watcher: %w", err)
	}
	a.mu.Lock()
	a.watcher = w
	a.mu.Unlock()
	return nil
}

// reloadFromWatcher is the watcher's update callback.
func (a *Authorizer) reloadFromWatcher(from string) {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.LoadTimeout)
	defer cancel()
	start := time.Now()
	if err := a.Reload(ctx); err != nil {
		a.log.Error("auth: reload the policy after a change elsewhere; decisions follow the previous policy",
			slog.String("from", from), slog.Any("error", err))
		return
	}
	a.log.Debug("auth: policy reloaded", slog.String("from", from), slog.Duration("took", time.Since(start)))
}

// policy is an immutable snapshot of the rules, with the enforcer built
// from them and the cache of its decisions.
type policy struct {
	enforcer *casbin.SyncedEnforcer
	rules    []Rule
	index    map[Rule]struct{}
	roles    []string
	// grantees are the names a request's subject must be for a rule to
	// apply to it: the roles of permissions and the members of
	// inheritances. Anyone else is denied without asking Casbin, and
	// without a cache entry.
	grantees map[string]struct{}
	cache    *decisionCache
	log      *slog.Logger
}

// newPolicy builds the snapshot of rules (valid and unique).
func (a *Authorizer) newPolicy(rules []Rule) (*policy, error) {
	m, err := model.NewModelFromString(CasbinModel)
	if err != nil {
		return nil, err
	}
	pol := &policy{
		rules:    slices.SortedFunc(slices.Values(rules), compareRules),
		index:    make(map[Rule]struct{}, len(rules)),
		grantees: make(map[string]struct{}),
		log:      a.log,
	}
	names := make(map[string]struct{})
	for _, r := range pol.rules {
		if _, dup := pol.index[r]; dup {
			continue
		}
		pol.index[r] = struct{}{}
		ptype, values := r.casbin()
		if err := m.AddPolicy(ptype, ptype, values); err != nil {
			return nil, fmt.Errorf("rule %q: %w", r.String(), err)
		}
		names[r.Role] = struct{}{}
		if r.Type == RuleInherit {
			names[r.Member] = struct{}{}
			pol.grantees[r.Member] = struct{}{}
		} else {
			pol.grantees[r.Role] = struct{}{}
		}
	}
	pol.rules = slices.CompactFunc(pol.rules, func(x, y Rule) bool { return x == y })
	pol.roles = slices.Sorted(maps.Keys(names))
	e, err := casbin.NewSyncedEnforcer(m)
	if err != nil {
		return nil, fmt.Errorf("build enforcer: %w", err)
	}
	if err := e.BuildRoleLinks(); err != nil {
		return nil, fmt.Errorf("build role links: %w", err)
	}
	pol.enforcer = e
	if a.cfg.CacheSize > 0 {
		pol.cache = &decisionCache{max: a.cfg.CacheSize, m: make(map[decisionKey]bool)}
	}
	return pol, nil
}

// allows reports whether the policy grants want to sub in dom.
func (p *policy) allows(sub, dom string, want Permission) bool {
	if _, ok := p.grantees[sub]; !ok {
		return false
	}
	key := decisionKey{sub: sub, dom: dom, obj: want.Resource, act: want.Action}
	if ok, found := p.cache.get(key); found {
		return ok
	}
	ok, err := p.enforcer.Enforce(sub, dom, want.Resource, want.Action)
	if err != nil {
		p.log.Error("auth: casbin enforce; denying", slog.String("subject", sub), slog.String("domain", dom),
			slog.String("permission", want.String()), slog.Any("error", err))
		return false
	}
	p.cache.put(key, ok)
	return ok
}

// decisionKey is a Casbin request.
type decisionKey struct{ sub, dom, obj, act string }

// decisionCache remembers the decisions of one policy snapshot. A nil
// cache remembers nothing.
type decisionCache struct {
	mu  sync.RWMutex
	max int
	m   map[decisionKey]bool
}

func (c *decisionCache) get(k decisionKey) (allowed, found bool) {
	if c == nil {
		return false, false
	}
	c.mu.RLock()
	allowed, found = c.m[k]
	c.mu.RUnlock()
	return allowed, found
}

func (c *decisionCache) put(k decisionKey, allowed bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = allowed
}

// MemoryAdapter is a Casbin adapter that keeps the policy in memory, for
// applications without a database and for tests: changes last as long as
// the process. It is an [AtomicAdapter] and a persist.BatchAdapter, and is
// safe for concurrent use.
type MemoryAdapter struct {
	mu    sync.Mutex
	lines [][]string // ptype, then values
}

var (
	_ AtomicAdapter          = (*MemoryAdapter)(nil)
	_ persist.BatchAdapter   = (*MemoryAdapter)(nil)
	_ persist.ContextAdapter = (*MemoryAdapter)(nil)
)

// NewMemoryAdapter returns an adapter holding rules (validated when an
// Authorizer loads them).
func NewMemoryAdapter(rules ...Rule) *MemoryAdapter {
	a := &MemoryAdapter{}
	for _, r := range rules {
		ptype, values := r.casbin()
		if !slices.ContainsFunc(a.lines, lineEquals(ptype, values)) {
			a.lines = append(a.lines, append([]string{ptype}, values...))
		}
	}
	return a
}

// lineEquals returns a predicate matching the line of ptype and values.
func lineEquals(ptype string, values []string) func([]string) bool {
	return func(line []string) bool { return line[0] == ptype && slices.Equal(line[1:], values) }
}

// LoadPolicy loads the policy into m.
func (a *MemoryAdapter) LoadPolicy(m model.Model) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, line := range a.lines {
		if err := persist.LoadPolicyArray(slices.Clone(line), m); err != nil {
			return fmt.Errorf("auth: memory adapter: load %q: %w", strings.Join(line, ", "), err)
		}
	}
	return nil
}

// LoadPolicyCtx is LoadPolicy (ctx is not needed).
func (a *MemoryAdapter) LoadPolicyCtx(_ context.Context, m model.Model) error { return a.LoadPolicy(m) }

// SavePolicy replaces the policy with the one of m.
func (a *MemoryAdapter) SavePolicy(m model.Model) error {
	var lines [][]string
	for _, sec := range []string{"p", "g"} {
		for _, ptype := range slices.Sorted(maps.Keys(m[sec])) {
			for _, values := range m[sec][ptype].Policy {
				lines = append(lines, append([]string{ptype}, values...))
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lines = lines
	return nil
}

// SavePolicyCtx is SavePolicy.
func (a *MemoryAdapter) SavePolicyCtx(_ context.Context, m model.Model) error { return a.SavePolicy(m) }

// AddPolicy adds a rule; it fails with dashcore.ErrConflict if it is there.
func (a *MemoryAdapter) AddPolicy(sec, ptype string, rule []string) error {
	return a.AddPolicies(sec, ptype, [][]string{rule})
}

// AddPolicyCtx is AddPolicy.
func (a *MemoryAdapter) AddPolicyCtx(_ context.Context, sec, ptype string, rule []string) error {
	return a.AddPolicy(sec, ptype, rule)
}

// RemovePolicy removes a rule; it fails with dashcore.ErrNotFound if it is
// not there.
func (a *MemoryAdapter) RemovePolicy(sec, ptype string, rule []string) error {
	return a.RemovePolicies(sec, ptype, [][]string{rule})
}

// RemovePolicyCtx is RemovePolicy.
func (a *MemoryAdapter) RemovePolicyCtx(_ context.Context, sec, ptype string, rule []string) error {
	return a.RemovePolicy(sec, ptype, rule)
}

// AddPolicies adds rules, all or none (see AddPolicy).
func (a *MemoryAdapter) AddPolicies(sec, ptype string, rules [][]string) error {
	return a.ApplyPolicyOperations(context.Background(), []persist.PolicyOperation{
		{Type: persist.OperationAdd, Section: sec, PolicyType: ptype, Rules: rules}})
}

// RemovePolicies removes rules, all or none (see RemovePolicy).
func (a *MemoryAdapter) RemovePolicies(sec, ptype string, rules [][]string) error {
	return a.ApplyPolicyOperations(context.Background(), []persist.PolicyOperation{
		{Type: persist.OperationRemove, Section: sec, PolicyType: ptype, Rules: rules}})
}

// RemoveFilteredPolicy removes the rules of ptype whose values from
// fieldIndex on equal fieldValues, "" matching any value.
func (a *MemoryAdapter) RemoveFilteredPolicy(_, ptype string, fieldIndex int, fieldValues ...string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lines = slices.DeleteFunc(a.lines, func(line []string) bool {
		if line[0] != ptype {
			return false
		}
		values := line[1:]
		for i, want := range fieldValues {
			j := fieldIndex + i
			if want != "" && (j >= len(values) || values[j] != want) {
				return false
			}
		}
		return true
	})
	return nil
}

// RemoveFilteredPolicyCtx is RemoveFilteredPolicy.
func (a *MemoryAdapter) RemoveFilteredPolicyCtx(_ context.Context, sec, ptype string, fieldIndex int, fieldValues ...string) error {
	return a.RemoveFilteredPolicy(sec, ptype, fieldIndex, fieldValues...)
}

// ApplyPolicyOperations applies ops all or none (see [AtomicAdapter]).
func (a *MemoryAdapter) ApplyPolicyOperations(_ context.Context, ops []persist.PolicyOperation) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	lines := slices.Clone(a.lines)
	for _, op := range ops {
		for _, values := range op.Rules {
			line := strings.Join(append([]string{op.PolicyType}, values...), ", ")
			i := slices.IndexFunc(lines, lineEquals(op.PolicyType, values))
			switch {
			case op.Type == persist.OperationAdd && i >= 0:
				return fmt.Errorf("auth: memory adapter: add %q: the rule exists: %w", line, dashcore.ErrConflict)
			case op.Type == persist.OperationAdd:
				lines = append(lines, append([]string{op.PolicyType}, values...))
			case op.Type == persist.OperationRemove && i < 0:
				return fmt.Errorf("auth: memory adapter: remove %q: no such rule: %w", line, dashcore.ErrNotFound)
			case op.Type == persist.OperationRemove:
				lines = slices.Delete(lines, i, i+1)
			default:
				return fmt.Errorf("auth: memory adapter: operation %d is not supported", op.Type)
			}
		}
	}
	a.lines = lines
	return nil
}

// CanGrant reports whether p may hand out roles and permissions (to a
// user or an API key): only what it has itself. p may grant a role it
// holds, or any role when the policy allows it everything (*:*); and a
// permission it is allowed. The error, wrapping dashcore.ErrForbidden,
// names what p may not grant.
func (a *Authorizer) CanGrant(p *Principal, roles []string, perms []Permission) error {
	super := a.Allowed(p, Permission{Resource: "*", Action: "*"})
	for _, r := range roles {
		if !super && !a.holds(p, r) {
			return dashcore.NewError(dashcore.ErrForbidden, fmt.Sprintf("you may not grant role %q: you do not hold it", r), nil)
		}
	}
	for _, perm := range perms {
		if !a.Allowed(p, perm) {
			return dashcore.NewError(dashcore.ErrForbidden, fmt.Sprintf("you may not grant permission %s: you do not have it", perm), nil)
		}
	}
	return nil
}

// holds reports whether p has role r, directly or by inheritance.
func (a *Authorizer) holds(p *Principal, r string) bool {
	if p == nil {
		return false
	}
	if p.HasRole(r) {
		return true
	}
	rm := a.policy.Load().enforcer.GetRoleManager()
	for _, mine := range p.Roles {
		if ok, err := rm.HasLink(mine, r); err == nil && ok {
			return true
		}
	}
	return false
}

// GrantableRoles returns the roles the policy names, without the subjects
// of direct grants (names starting with SubjectPrefix): what a user or a
// key may be given.
func (a *Authorizer) GrantableRoles() []string {
	roles := a.Roles()
	if a.cfg.SubjectPrefix == "" {
		return roles
	}
	out := roles[:0]
	for _, r := range roles {
		if !strings.HasPrefix(r, a.cfg.SubjectPrefix) {
			out = append(out, r)
		}
	}
	return out
}
