package auth

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"

	"github.com/taylordash/taylordash/dashcore"
)

// PermissionTag is the struct tag that reserves a response field to the
// callers allowed a permission, written like a [Permission]:
//
//	type User struct {
//		Username string `json:"username"`
//		Email    string `json:"email,omitempty" permission:"users:read"`
//	}
//
// The [FieldFilter] removes the field from the responses of everyone
// else. The field's JSON tag must say omitempty (of a type omitempty
// omits when zero: a string, number, bool, pointer, slice, map or
// interface) or omitzero, so that a removed field is absent, not null or
// zero.
const PermissionTag = "permission"

// PermissionExtension is the OpenAPI extension that names the permission
// a filtered property needs ("x-taylordash-permission": "users:read").
const PermissionExtension = "x-taylordash-permission"

// maxFilterDepth bounds how deep the filter follows a value: deeper is a
// reference cycle, which JSON cannot encode either.
const maxFilterDepth = 1000

// errTooDeep is the error of a value nested deeper than maxFilterDepth.
var errTooDeep = errors.New("auth: field filter: the value is nested too deep (a reference cycle?)")

// FieldFilter removes from response bodies the fields, tagged with
// [PermissionTag], that the request's principal is not allowed: one
// transformer for every response ([FieldFilter.Transformer]), with the
// policy of the routes ([Authorizer.Allowed]); no principal is allowed
// nothing. It follows structs (embedded ones included), pointers, slices,
// arrays and map values, but not interfaces (a value behind an `any` is
// left as it is) nor types that marshal themselves (json.Marshaler,
// encoding.TextMarshaler).
//
// It never modifies the value it is given: what it changes it copies
// (copy on write), so handlers may return shared or cached values. Types
// are examined once and remembered, so a body whose type has no tagged
// field costs a map lookup. It is safe for concurrent use.
type FieldFilter struct {
	authz *Authorizer
	log   *slog.Logger

	plans sync.Map // reflect.Type → *typePlan, nil when nothing to do

	mu         sync.Mutex            // serializes plan building and documenting
	documented map[*huma.Schema]bool // schemas Document has seen
	reported   map[reflect.Type]bool // invalid types already logged
}

// NewFieldFilter returns a filter deciding with authz. log receives the
// bodies withheld because their type's tags are invalid; nil discards.
func NewFieldFilter(authz *Authorizer, log *slog.Logger) *FieldFilter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &FieldFilter{authz: authz, log: log, documented: map[*huma.Schema]bool{}, reported: map[reflect.Type]bool{}}
}

// Transformer returns the filter as a dashcore contribution (the module
// contributes it), named "auth.fields": Transform filters every 2xx body,
// and Setup documents and checks every schema as operations are
// registered ([FieldFilter.Setup]).
func (f *FieldFilter) Transformer() dashcore.Transformer {
	return dashcore.Transformer{Name: "auth.fields", Transform: f.Transform, Setup: f.Setup}
}

// Transform is the huma.Transformer: it returns v without the fields the
// request's principal may not see, for a 2xx status; any other body is
// returned as it is. A body whose type has invalid tags (which Setup
// refuses at registration, but a hidden operation's type escapes) is
// withheld: the answer is null, and the problem is logged once.
func (f *FieldFilter) Transform(ctx huma.Context, status string, v any) (any, error) {
	if v == nil || status == "" || status[0] != '2' {
		return v, nil
	}
	pl := f.plan(reflect.TypeOf(v))
	if pl == nil {
		return v, nil
	}
	out, err := f.apply(PrincipalFrom(ctx.Context()), pl, v)
	if err != nil {
		f.mu.Lock()
		first := !f.reported[reflect.TypeOf(v)]
		f.reported[reflect.TypeOf(v)] = true
		f.mu.Unlock()
		if first || errors.Is(err, errTooDeep) {
			f.log.ErrorContext(ctx.Context(), "auth: withheld a response body the field filter cannot filter",
				slog.String("operation", ctx.Operation().OperationID), slog.String("error", err.Error()),
				slog.String("request_id", dashcore.RequestID(ctx.Context())))
		}
		return nil, nil
	}
	return out, nil
}

// Filter returns v without the fields p may not see (all tagged fields
// when p is nil), copying what it changes; v itself is never modified.
// Outside huma, call it on a body before marshaling it. It fails, and
// returns nil, when v's type has invalid tags ([FieldFilter.Check]).
func (f *FieldFilter) Filter(p *Principal, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	pl := f.plan(reflect.TypeOf(v))
	if pl == nil {
		return v, nil
	}
	return f.apply(p, pl, v)
}

// Check reports what is wrong with the permission tags of t and of the
// types it holds: a permission that is not resource:action, a tagged
// field that JSON would not omit when removed (its JSON tag lacks
// omitempty or omitzero, or its type is one omitempty does not omit), or
// tagged fields inside an unexported embedded struct, which the filter
// cannot reach. The error names the type and the field.
func (f *FieldFilter) Check(t reflect.Type) error {
	if pl := f.plan(t); pl != nil {
		return pl.err
	}
	return nil
}

// Setup documents the tagged fields of the schemas api already has, and
// of every schema registered from now on, when its operation is added
// (huma.OpenAPI.OnAddOperation; see [FieldFilter.Document]). A schema
// whose type has invalid tags ([FieldFilter.Check]) is an error here, and
// a panic in the hook, which dashcore reports as the error of the routes
// that registered it: the application does not start.
func (f *FieldFilter) Setup(api huma.API) error {
	oapi := api.OpenAPI()
	if err := f.Document(oapi); err != nil {
		return err
	}
	oapi.OnAddOperation = append(oapi.OnAddOperation, func(o *huma.OpenAPI, _ *huma.Operation) {
		if err := f.Document(o); err != nil {
			panic(err)
		}
	})
	return nil
}

// schemaPrefix is where huma's registry puts its schemas.
const schemaPrefix = "#/components/schemas/"

// Document checks the type of each schema of oapi's registry not seen
// before, and documents its tagged fields: their property gets the
// [PermissionExtension] and the sentence "Present only for callers with
// the permission `users:read`." in its description. It returns the
// first invalid type's error ([FieldFilter.Check]).
func (f *FieldFilter) Document(oapi *huma.OpenAPI) error {
	if oapi.Components == nil || oapi.Components.Schemas == nil {
		return nil
	}
	reg := oapi.Components.Schemas
	schemas := reg.Map()
	names := make([]string, 0, len(schemas))
	for name := range schemas {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := schemas[name]
		f.mu.Lock()
		seen := f.documented[s]
		f.mu.Unlock()
		if seen || s == nil {
			continue
		}
		t := reg.TypeFromRef(schemaPrefix + name)
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == nil || t.Kind() != reflect.Struct {
			continue
		}
		if err := f.Check(t); err != nil {
			return fmt.Errorf("%w (schema %s)", err, name)
		}
		for _, tf := range visibleTaggedFields(t) {
			documentProperty(s.Properties[tf.name], tf.perm)
		}
		f.mu.Lock()
		f.documented[s] = true
		f.mu.Unlock()
	}
	return nil
}

// documentProperty marks prop as needing perm.
func documentProperty(prop *huma.Schema, perm string) {
	if prop == nil {
		return
	}
	if prop.Extensions == nil {
		prop.Extensions = map[string]any{}
	}
	prop.Extensions[PermissionExtension] = perm
	line := "Present only for callers with the permission `" + perm + "`."
	if !strings.Contains(prop.Description, line) {
		if prop.Description != "" {
			prop.Description = strings.TrimRight(prop.Description, " ") + " "
		}
		prop.Description += line
	}
}

// taggedField is a tagged field as a struct's JSON object shows it.
type taggedField struct {
	name, perm string
}

// visibleTaggedFields returns the tagged fields of t's JSON object,
// promoted ones included, as huma's schema has them: breadth first, an
// outer field hiding an inner one of the same Go name.
func visibleTaggedFields(t reflect.Type) []taggedField {
	var out []taggedField
	seenName := map[string]bool{}
	seenType := map[reflect.Type]bool{}
	level := []reflect.Type{t}
	for len(level) > 0 {
		var next []reflect.Type
		for _, st := range level {
			if seenType[st] {
				continue
			}
			seenType[st] = true
			for i := range st.NumField() {
				sf := st.Field(i)
				if !sf.IsExported() {
					continue
				}
				if sf.Anonymous && sf.Tag.Get("json") == "" {
					et := sf.Type
					for et.Kind() == reflect.Pointer {
						et = et.Elem()
					}
					if et.Kind() == reflect.Struct {
						next = append(next, et)
					}
					continue
				}
				if seenName[sf.Name] {
					continue
				}
				seenName[sf.Name] = true
				perm, ok := sf.Tag.Lookup(PermissionTag)
				if !ok {
					continue
				}
				name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
				if name == "-" {
					continue
				}
				if name == "" {
					name = sf.Name
				}
				out = append(out, taggedField{name: name, perm: perm})
			}
		}
		level = next
	}
	return out
}

// typePlan is what the filter does to a value of one type. A nil plan
// means nothing: the type holds no tagged field.
type typePlan struct {
	kind   reflect.Kind
	fields []fieldPlan // structs: the fields to look at
	elem   *typePlan   // pointers, slices, arrays, maps (values)
	perms  []Permission
	err    error // the first problem with the tags of the type's closure
}

// fieldPlan is one field of a struct plan.
type fieldPlan struct {
	index  int
	tagged bool
	perm   Permission
	valid  bool      // the permission parsed
	sub    *typePlan // what to do inside, nil for nothing
}

var (
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// marshalsItself reports whether JSON asks t for its own encoding, so
// that its fields are not what is shown.
func marshalsItself(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return t.Implements(jsonMarshalerType) || pt.Implements(jsonMarshalerType) ||
		t.Implements(textMarshalerType) || pt.Implements(textMarshalerType)
}

// plan returns the plan of t, building it (and those of the types it
// holds) on first use.
func (f *FieldFilter) plan(t reflect.Type) *typePlan {
	if p, ok := f.plans.Load(t); ok {
		return p.(*typePlan)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.plans.Load(t); ok {
		return p.(*typePlan)
	}
	b := &planBuilder{f: f, nodes: map[reflect.Type]*planNode{}}
	b.visit(t)
	b.solve()
	plans := make(map[reflect.Type]*typePlan, len(b.nodes))
	for typ := range b.nodes {
		plans[typ] = b.build(typ)
	}
	for _, pl := range plans {
		finish(pl)
	}
	// Stored once finished: readers never see a plan being built.
	for typ, pl := range plans {
		f.plans.Store(typ, pl)
	}
	return plans[t]
}

// planNode is a type while plans are built: whether it has tagged fields
// itself, and the types it holds.
type planNode struct {
	direct   bool
	children []reflect.Type
	needs    bool
	plan     *typePlan
	built    bool
}

// planBuilder builds the plans of a type and of every type it holds at
// once, so that recursive types get exact plans.
type planBuilder struct {
	f     *FieldFilter
	nodes map[reflect.Type]*planNode
}

// known returns the finished plan of t, if there is one.
func (b *planBuilder) known(t reflect.Type) (*typePlan, bool) {
	p, ok := b.f.plans.Load(t)
	if !ok {
		return nil, false
	}
	return p.(*typePlan), true
}

// jsonFields returns the fields of struct t that JSON may show and the
// filter follows: exported ones, and embedded structs.
func jsonFields(t reflect.Type) []reflect.StructField {
	out := make([]reflect.StructField, 0, t.NumField())
	for i := range t.NumField() {
		sf := t.Field(i)
		// JSON shows the fields of an unexported embedded struct, not
		// those of an unexported embedded pointer.
		if !sf.IsExported() && (!sf.Anonymous || sf.Type.Kind() == reflect.Pointer) {
			continue
		}
		if name, _, _ := strings.Cut(sf.Tag.Get("json"), ","); name == "-" && !strings.Contains(sf.Tag.Get("json"), ",") {
			continue
		}
		out = append(out, sf)
	}
	return out
}

func (b *planBuilder) visit(t reflect.Type) {
	if _, ok := b.nodes[t]; ok {
		return
	}
	if _, ok := b.known(t); ok {
		return
	}
	n := &planNode{}
	b.nodes[t] = n
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		if marshalsItself(t) {
			return
		}
		n.children = []reflect.Type{t.Elem()}
	case reflect.Struct:
		if marshalsItself(t) {
			return
		}
		for _, sf := range jsonFields(t) {
			if _, ok := sf.Tag.Lookup(PermissionTag); ok {
				n.direct = true
			}
			n.children = append(n.children, sf.Type)
		}
	}
	for _, c := range n.children {
		b.visit(c)
	}
}

// solve computes which types need a plan: those with tagged fields, and
// those holding one that needs a plan, to a fixed point (recursive types).
func (b *planBuilder) solve() {
	for _, n := range b.nodes {
		n.needs = n.direct
	}
	for changed := true; changed; {
		changed = false
		for _, n := range b.nodes {
			if n.needs {
				continue
			}
			for _, c := range n.children {
				if b.needs(c) {
					n.needs, changed = true, true
					break
				}
			}
		}
	}
}

func (b *planBuilder) needs(t reflect.Type) bool {
	if n, ok := b.nodes[t]; ok {
		return n.needs
	}
	p, _ := b.known(t)
	return p != nil
}

// build returns the plan of t, nil when it needs none.
func (b *planBuilder) build(t reflect.Type) *typePlan {
	n, ok := b.nodes[t]
	if !ok {
		p, _ := b.known(t)
		return p
	}
	if n.built {
		return n.plan
	}
	n.built = true
	if !n.needs {
		return nil
	}
	pl := &typePlan{kind: t.Kind()}
	n.plan = pl // before recursing: recursive types share it
	if t.Kind() != reflect.Struct {
		pl.elem = b.build(t.Elem())
		return pl
	}
	for _, sf := range jsonFields(t) {
		fp := fieldPlan{index: sf.Index[0], sub: b.build(sf.Type)}
		if tag, ok := sf.Tag.Lookup(PermissionTag); ok {
			fp.tagged = true
			perms, err := ParsePermissions([]string{tag})
			if err != nil {
				pl.setErr(fmt.Errorf("auth: field filter: %s.%s: tag %s:%q: %v", t, sf.Name, PermissionTag, tag, err))
			} else {
				fp.perm, fp.valid = perms[0], true
			}
			if err := omittable(sf); err != nil {
				pl.setErr(fmt.Errorf("auth: field filter: %s.%s has tag %s:%q but %w", t, sf.Name, PermissionTag, tag, err))
			}
		}
		if !sf.IsExported() {
			// reflect cannot set an unexported field, nor one inside it.
			if fp.tagged || fp.sub != nil {
				pl.setErr(fmt.Errorf("auth: field filter: %s.%s: the unexported embedded struct is or holds fields tagged %s, which the filter cannot remove: export its type", t, sf.Name, PermissionTag))
			}
			continue
		}
		if fp.tagged || fp.sub != nil {
			pl.fields = append(pl.fields, fp)
		}
	}
	return pl
}

func (pl *typePlan) setErr(err error) {
	if pl.err == nil {
		pl.err = err
	}
}

// omittable reports why JSON would not omit sf once the filter zeroes it.
func omittable(sf reflect.StructField) error {
	tag := sf.Tag.Get("json")
	name, opts, _ := strings.Cut(tag, ",")
	options := strings.Split(opts, ",")
	if slices.Contains(options, "omitzero") {
		return nil
	}
	if sf.Anonymous && name == "" && sf.Type.Kind() == reflect.Pointer {
		return nil // a nil embedded pointer shows none of its fields
	}
	if !slices.Contains(options, "omitempty") {
		return errors.New("its JSON tag lacks omitempty or omitzero: a removed field would show as null or zero")
	}
	switch sf.Type.Kind() {
	case reflect.Struct, reflect.Array:
		if sf.Type.Kind() == reflect.Array && sf.Type.Len() == 0 {
			return nil
		}
		return fmt.Errorf("omitempty does not omit a zero %s: use omitzero", sf.Type.Kind())
	}
	return nil
}

// finish fills the permissions of each plan of the closure of pl: what a
// principal needs to see everything, so that one who has them costs no
// walk; and the closure's first error.
func finish(pl *typePlan) {
	if pl == nil || pl.perms != nil {
		return
	}
	seen := map[*typePlan]bool{}
	var perms []Permission
	var firstErr error
	var walk func(p *typePlan)
	walk = func(p *typePlan) {
		if p == nil || seen[p] {
			return
		}
		seen[p] = true
		if p.err != nil && firstErr == nil {
			firstErr = p.err
		}
		walk(p.elem)
		for _, fp := range p.fields {
			if fp.tagged && fp.valid && !slices.Contains(perms, fp.perm) {
				perms = append(perms, fp.perm)
			}
			walk(fp.sub)
		}
	}
	walk(pl)
	if perms == nil {
		perms = []Permission{}
	}
	pl.perms = perms
	if pl.err == nil {
		pl.err = firstErr
	}
}

// decisions remembers a principal's decisions during one filtering.
type decisions struct {
	authz *Authorizer
	p     *Principal
	few   [4]decision // most bodies need one or two permissions
	n     int
	more  []decision
}

type decision struct {
	perm    Permission
	allowed bool
}

func (d *decisions) allowed(perm Permission) bool {
	for _, m := range d.few[:d.n] {
		if m.perm == perm {
			return m.allowed
		}
	}
	for _, m := range d.more {
		if m.perm == perm {
			return m.allowed
		}
	}
	ok := d.p != nil && d.authz != nil && d.authz.Allowed(d.p, perm)
	if d.n < len(d.few) {
		d.few[d.n] = decision{perm, ok}
		d.n++
	} else {
		d.more = append(d.more, decision{perm, ok})
	}
	return ok
}

// apply filters v with its plan pl for p.
func (f *FieldFilter) apply(p *Principal, pl *typePlan, v any) (any, error) {
	if pl.err != nil {
		return nil, pl.err
	}
	d := &decisions{authz: f.authz, p: p}
	all := true
	for _, perm := range pl.perms {
		if !d.allowed(perm) {
			all = false
		}
	}
	if all {
		return v, nil // every field may be seen, whatever the depth
	}
	out, changed, err := d.apply(pl, reflect.ValueOf(v), 0)
	if err != nil {
		return nil, err
	}
	if !changed {
		return v, nil
	}
	return out.Interface(), nil
}

// apply returns v without the fields the principal may not see, and
// whether that differs from v: then it is a new value, and v is unchanged.
func (d *decisions) apply(pl *typePlan, v reflect.Value, depth int) (reflect.Value, bool, error) {
	if depth > maxFilterDepth {
		return v, false, errTooDeep
	}
	switch pl.kind {
	case reflect.Pointer:
		if v.IsNil() {
			return v, false, nil
		}
		e, changed, err := d.apply(pl.elem, v.Elem(), depth+1)
		if err != nil || !changed {
			return v, false, err
		}
		if e.CanAddr() {
			return e.Addr(), true, nil // a copy of ours: no second one
		}
		np := reflect.New(e.Type())
		np.Elem().Set(e)
		return np, true, nil
	case reflect.Slice, reflect.Array:
		var out reflect.Value
		for i := range v.Len() {
			e, changed, err := d.apply(pl.elem, v.Index(i), depth+1)
			if err != nil {
				return v, false, err
			}
			if !changed {
				continue
			}
			if !out.IsValid() {
				if pl.kind == reflect.Slice {
					out = reflect.MakeSlice(v.Type(), v.Len(), v.Len())
					reflect.Copy(out, v)
				} else {
					out = reflect.New(v.Type()).Elem()
					out.Set(v)
				}
			}
			out.Index(i).Set(e)
		}
		return orSame(out, v)
	case reflect.Map:
		var out reflect.Value
		for it := v.MapRange(); it.Next(); {
			e, changed, err := d.apply(pl.elem, it.Value(), depth+1)
			if err != nil {
				return v, false, err
			}
			if !changed {
				continue
			}
			if !out.IsValid() {
				out = reflect.MakeMapWithSize(v.Type(), v.Len())
				for c := v.MapRange(); c.Next(); {
					out.SetMapIndex(c.Key(), c.Value())
				}
			}
			out.SetMapIndex(it.Key(), e)
		}
		return orSame(out, v)
	case reflect.Struct:
		var out reflect.Value
		ensure := func() {
			if !out.IsValid() {
				out = reflect.New(v.Type()).Elem()
				out.Set(v)
			}
		}
		for _, fp := range pl.fields {
			fv := v.Field(fp.index)
			if fp.tagged && !(fp.valid && d.allowed(fp.perm)) {
				if !fv.IsZero() {
					ensure()
					out.Field(fp.index).SetZero()
				}
				continue
			}
			if fp.sub == nil {
				continue
			}
			e, changed, err := d.apply(fp.sub, fv, depth+1)
			if err != nil {
				return v, false, err
			}
			if changed {
				ensure()
				out.Field(fp.index).Set(e)
			}
		}
		return orSame(out, v)
	}
	return v, false, nil
}

func orSame(out, v reflect.Value) (reflect.Value, bool, error) {
	if out.IsValid() {
		return out, true, nil
	}
	return v, false, nil
}
