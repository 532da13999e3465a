package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
)

// The types of the filter's tests: Contact details need people:read,
// salaries need pay:read.
type (
	// Contact is exported, as an embedded type with tagged fields must be.
	Contact struct {
		Name  string `json:"name"`
		Email string `json:"email,omitempty" permission:"people:read"`
	}
	pay struct {
		Salary int  `json:"salary,omitempty" permission:"pay:read"`
		Bonus  *int `json:"bonus,omitempty" permission:"pay:read"`
	}
	audited struct {
		At time.Time `json:"at"`
	}
	employee struct {
		Contact                       // unexported type, exported fields: JSON promotes them
		*Badge                        // embedded pointer
		audited                       // nothing tagged inside
		Pay       pay                 `json:"pay"`
		PayPtr    *pay                `json:"pay_ptr,omitempty"`
		Friends   []Contact           `json:"friends,omitempty"`
		Managers  []*Contact          `json:"managers,omitempty"`
		Pair      [2]Contact          `json:"pair"`
		ByRole    map[string]Contact  `json:"by_role,omitempty"`
		ByRolePtr map[string]*Contact `json:"by_role_ptr,omitempty"`
		Notes     any                 `json:"notes,omitempty"` // not followed
		Home      *address            `json:"home,omitempty" permission:"people:read"`
		Started   time.Time           `json:"started,omitzero" permission:"people:read"`
	}
	// Badge is exported, so that it can be embedded as a pointer.
	Badge struct {
		Number string `json:"badge,omitempty" permission:"people:read"`
	}
	address struct {
		City string `json:"city"`
	}
)

// newFilter returns a filter on a policy where "hr" reads people and
// "boss" reads people and pay.
func newFilter(t testing.TB) *auth.FieldFilter {
	t.Helper()
	authz, err := auth.NewAuthorizer(auth.NewMemoryAdapter(
		auth.PermissionRule("hr", "*", "people", "read"),
		auth.PermissionRule("boss", "*", "pay", "read"),
		auth.InheritRule("boss", "hr"),
	), auth.AuthorizerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return auth.NewFieldFilter(authz, nil)
}

func principal(roles ...string) *auth.Principal {
	return &auth.Principal{Subject: "s-" + strings.Join(roles, "-"), Kind: auth.KindUser, Roles: roles}
}

// sampleEmployee returns an employee with every field set.
func sampleEmployee() *employee {
	bonus := 100
	return &employee{
		Contact:   Contact{Name: "ann", Email: "ann@example.com"},
		Badge:     &Badge{Number: "B-7"},
		audited:   audited{At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		Pay:       pay{Salary: 5000, Bonus: &bonus},
		PayPtr:    &pay{Salary: 6000},
		Friends:   []Contact{{Name: "bob", Email: "bob@example.com"}, {Name: "cy"}},
		Managers:  []*Contact{{Name: "dee", Email: "dee@example.com"}, nil},
		Pair:      [2]Contact{{Name: "eve", Email: "eve@example.com"}, {Name: "fay", Email: "fay@example.com"}},
		ByRole:    map[string]Contact{"lead": {Name: "gil", Email: "gil@example.com"}},
		ByRolePtr: map[string]*Contact{"lead": {Name: "hal", Email: "hal@example.com"}},
		Notes:     Contact{Name: "ivy", Email: "ivy@example.com"},
		Home:      &address{City: "Oslo"},
		Started:   time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFieldFilterRemovesWhatThePrincipalMayNotSee(t *testing.T) {
	f := newFilter(t)
	orig := sampleEmployee()
	before := marshal(t, orig)

	everything := []string{"ann@example.com", "B-7", `"salary":5000`, `"bonus":100`, `"salary":6000`, "bob@example.com",
		"dee@example.com", "eve@example.com", "fay@example.com", "gil@example.com", "hal@example.com", `"home"`, `"started"`}
	people := []string{"ann@example.com", "B-7", "bob@example.com", "dee@example.com", "eve@example.com",
		"fay@example.com", "gil@example.com", "hal@example.com", `"home":{"city":"Oslo"}`, `"started"`}
	pays := []string{`"salary":5000`, `"bonus":100`, `"salary":6000`}
	always := []string{`"name":"ann"`, `"name":"bob"`, `"name":"cy"`, `"name":"hal"`, `"at":"2026-01-02T03:04:05Z"`,
		// An interface is not followed: a tag behind it is not seen.
		`"notes":{"name":"ivy","email":"ivy@example.com"}`}

	for _, tc := range []struct {
		who        string
		p          *auth.Principal
		shown, not []string
	}{
		{"no principal", nil, always, everything},
		{"no role", principal(), always, everything},
		{"hr", principal("hr"), append(always, people...), pays},
		{"boss", principal("boss"), append(always, everything...), nil},
		{"hr key scoped to pay:read", &auth.Principal{Subject: "key:1", Roles: []string{"boss"},
			Permissions: []auth.Permission{{Resource: "pay", Action: "read"}}}, append(always, pays...), people},
	} {
		t.Run(tc.who, func(t *testing.T) {
			out, err := f.Filter(tc.p, orig)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := out.(*employee); !ok {
				t.Fatalf("Filter returned a %T", out)
			}
			got := marshal(t, out)
			for _, s := range tc.shown {
				if !strings.Contains(got, s) {
					t.Errorf("%s is missing from %s", s, got)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(got, s) {
					t.Errorf("%s is shown: %s", s, got)
				}
			}
			// Removed means absent, never null or zero.
			for _, s := range []string{`":null`, `"email":""`, `"salary":0`, `"badge":""`, `"started":"0001`} {
				if strings.Contains(got, s) {
					t.Errorf("%s in %s", s, got)
				}
			}
			// Copy on write: the handler's value is untouched.
			if after := marshal(t, orig); after != before {
				t.Fatalf("the original changed:\n%s\n%s", before, after)
			}
		})
	}
}

func TestFieldFilterCopiesOnlyWhatChanges(t *testing.T) {
	f := newFilter(t)
	orig := sampleEmployee()

	// Allowed everything: the very same value.
	out, err := f.Filter(principal("boss"), orig)
	if err != nil {
		t.Fatal(err)
	}
	if out.(*employee) != orig {
		t.Error("a principal allowed everything got a copy")
	}

	// hr may not see pay: the pay parts are new, the rest is shared.
	out, err = f.Filter(principal("hr"), orig)
	if err != nil {
		t.Fatal(err)
	}
	e := out.(*employee)
	if e == orig || e.PayPtr == orig.PayPtr {
		t.Error("the changed parts were not copied")
	}
	if e.Home != orig.Home || e.Badge != orig.Badge || &e.Friends[0] != &orig.Friends[0] || e.Managers[0] != orig.Managers[0] {
		t.Error("unchanged parts were copied")
	}
	if orig.Pay.Salary != 5000 || orig.PayPtr.Salary != 6000 || *orig.Pay.Bonus != 100 {
		t.Errorf("the original changed: %+v %+v", orig.Pay, orig.PayPtr)
	}

	// Values with nothing to remove are not copied either.
	plain := &employee{Contact: Contact{Name: "zed"}}
	if out, _ := f.Filter(nil, plain); out.(*employee) != plain {
		t.Error("a value with nothing to remove was copied")
	}
}

func TestFieldFilterTopLevelShapes(t *testing.T) {
	f := newFilter(t)
	list := []Contact{{Name: "a", Email: "a@x"}, {Name: "b", Email: "b@x"}}
	m := map[string]*Contact{"a": {Name: "a", Email: "a@x"}}
	arr := [1]Contact{{Name: "a", Email: "a@x"}}
	for _, v := range []any{list, &list, m, arr, Contact{Name: "a", Email: "a@x"}} {
		out, err := f.Filter(principal(), v)
		if err != nil {
			t.Fatal(err)
		}
		if reflect.TypeOf(out) != reflect.TypeOf(v) {
			t.Errorf("%T became %T", v, out)
		}
		if got := marshal(t, out); strings.Contains(got, "@x") || !strings.Contains(got, `"name":"a"`) {
			t.Errorf("%T: %s", v, got)
		}
	}
	if list[0].Email != "a@x" || m["a"].Email != "a@x" || arr[0].Email != "a@x" {
		t.Error("an original changed")
	}
}

// node is recursive: the filter follows it down.
type node struct {
	Secret   string  `json:"secret,omitempty" permission:"people:read"`
	Children []*node `json:"children,omitempty"`
}

// wrapper holds a recursive type that has no tag of its own on the way.
type wrapper struct {
	Next *wrapper `json:"next,omitempty"`
	Leaf *node    `json:"leaf,omitempty"`
}

func TestFieldFilterRecursiveTypes(t *testing.T) {
	f := newFilter(t)
	tree := &node{Secret: "root", Children: []*node{{Secret: "kid", Children: []*node{{Secret: "grandkid"}}}}}
	out, err := f.Filter(nil, tree)
	if err != nil {
		t.Fatal(err)
	}
	if got := marshal(t, out); got != `{"children":[{"children":[{}]}]}` {
		t.Errorf("filtered tree: %s", got)
	}
	w := &wrapper{Next: &wrapper{Leaf: &node{Secret: "deep"}}}
	out, err = f.Filter(nil, w)
	if err != nil {
		t.Fatal(err)
	}
	if got := marshal(t, out); got != `{"next":{"leaf":{}}}` {
		t.Errorf("filtered wrapper: %s", got)
	}
	if tree.Children[0].Children[0].Secret != "grandkid" || w.Next.Leaf.Secret != "deep" {
		t.Error("an original changed")
	}
	// A reference cycle is refused, not followed forever.
	loop := &wrapper{Leaf: &node{Secret: "s"}}
	loop.Next = loop
	if _, err := f.Filter(nil, loop); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("a cycle: %v", err)
	}
}

func TestFieldFilterUntaggedTypesAreReturnedAsTheyAre(t *testing.T) {
	f := newFilter(t)
	type plain struct {
		A string         `json:"a"`
		B []address      `json:"b"`
		C map[string]any `json:"c"`
	}
	v := &plain{A: "x", B: []address{{City: "Rome"}}}
	out, err := f.Filter(nil, v)
	if err != nil || out.(*plain) != v {
		t.Errorf("Filter(untagged) = %v, %v", out, err)
	}
	if err := f.Check(reflect.TypeFor[plain]()); err != nil {
		t.Error(err)
	}
}

func TestFieldFilterCheck(t *testing.T) {
	type noOmit struct {
		Email string `json:"email" permission:"people:read"`
	}
	type structOmitEmpty struct {
		Pay pay `json:"pay,omitempty" permission:"pay:read"`
	}
	type badPermission struct {
		Email string `json:"email,omitempty" permission:"people"`
	}
	type nestedBad struct {
		Items []noOmit `json:"items"`
	}
	type hidden struct {
		secretive
	}
	type okTypes struct {
		A      string         `json:"a,omitempty" permission:"x:y"`
		B      pay            `json:"b,omitzero" permission:"x:y"`
		C      []int          `json:"c,omitempty" permission:"x:y"`
		D      map[string]int `json:"d,omitempty" permission:"x:y"`
		E      any            `json:"e,omitempty" permission:"x:y"`
		F      *int           `json:"f,omitempty" permission:"x:y"`
		*Badge `permission:"x:y"`
		G      string `json:"-" permission:"x:y"`
	}
	f := newFilter(t)
	for _, tc := range []struct {
		typ  reflect.Type
		want []string
	}{
		{reflect.TypeFor[noOmit](), []string{"auth_test.noOmit.Email", "omitempty or omitzero"}},
		{reflect.TypeFor[*noOmit](), []string{"auth_test.noOmit.Email"}},
		{reflect.TypeFor[structOmitEmpty](), []string{"auth_test.structOmitEmpty.Pay", "use omitzero"}},
		{reflect.TypeFor[badPermission](), []string{"auth_test.badPermission.Email", `"people"`, "resource:action"}},
		{reflect.TypeFor[nestedBad](), []string{"auth_test.noOmit.Email"}},
		{reflect.TypeFor[hidden](), []string{"auth_test.hidden.secretive", "export its type"}},
		{reflect.TypeFor[okTypes](), nil},
	} {
		err := f.Check(tc.typ)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.typ, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: no error", tc.typ)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tc.typ, err, w)
			}
		}
		// Filter fails closed on such a type.
		if out, err := f.Filter(principal("boss"), reflect.New(tc.typ).Elem().Interface()); err == nil || out != nil {
			t.Errorf("%s: Filter = %v, %v", tc.typ, out, err)
		}
	}
}

// secretive is unexported and embedded: JSON shows its fields, but the
// filter cannot set them.
type secretive struct {
	Code string `json:"code,omitempty" permission:"x:y"`
}

// filterAPI serves one huma operation answering body, behind a middleware
// that makes the principal of the X-Roles header, with the filter.
func filterAPI[T any](t *testing.T, f *auth.FieldFilter, body T, hidden bool, extra ...dashcore.Routes) (*httptest.Server, huma.API) {
	t.Helper()
	type out struct{ Body T }
	routes := append([]dashcore.Routes{{Name: "people", Register: func(api huma.API) {
		huma.Register(api, huma.Operation{OperationID: "fail", Method: http.MethodGet, Path: "/fail"},
			func(context.Context, *struct{}) (*struct{}, error) {
				return nil, dashcore.NewError(dashcore.ErrConflict, "no", nil)
			})
		// Last: a hidden operation's schema is seen by no later hook.
		huma.Register(api, huma.Operation{OperationID: "get-body", Method: http.MethodGet, Path: "/body", Hidden: hidden},
			func(context.Context, *struct{}) (*out, error) { return &out{Body: body}, nil })
	}}}, extra...)
	roles := dashcore.Middleware{Name: "roles", Wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if h := r.Header.Get("X-Roles"); h != "" {
				r = r.WithContext(auth.WithPrincipal(r.Context(), principal(strings.Split(h, ",")...)))
			}
			next.ServeHTTP(w, r)
		})
	}}
	h, api, err := dashcore.NewHandler(dashcore.HandlerOptions{Routes: routes, Middleware: []dashcore.Middleware{roles},
		Transformers: []dashcore.Transformer{f.Transformer()}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, api
}

func fetch(t *testing.T, srv *httptest.Server, path, roles string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if roles != "" {
		req.Header.Set("X-Roles", roles)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func TestFieldFilterTransformsHumaResponses(t *testing.T) {
	f := newFilter(t)
	srv, api := filterAPI(t, f, []*employee{sampleEmployee()}, false)

	for _, tc := range []struct {
		roles      string
		shown, not []string
	}{
		{"", []string{`"name":"ann"`}, []string{"ann@example.com", `"salary"`}},
		{"hr", []string{"ann@example.com"}, []string{`"salary"`}},
		{"boss", []string{"ann@example.com", `"salary":5000`}, nil},
	} {
		status, body := fetch(t, srv, "/body", tc.roles)
		if status != http.StatusOK {
			t.Fatalf("%q: %d %s", tc.roles, status, body)
		}
		for _, s := range tc.shown {
			if !strings.Contains(body, s) {
				t.Errorf("%q: %s missing from %s", tc.roles, s, body)
			}
		}
		for _, s := range tc.not {
			if strings.Contains(body, s) {
				t.Errorf("%q: %s shown in %s", tc.roles, s, body)
			}
		}
	}
	// Errors are left to dashcore.
	if status, body := fetch(t, srv, "/fail", ""); status != http.StatusConflict || !strings.Contains(body, `"detail":"no"`) {
		t.Errorf("/fail: %d %s", status, body)
	}

	// The document says who sees what.
	doc, err := json.Marshal(api.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]map[string]any `json:"properties"`
				Required   []string                  `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(doc, &spec); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ schema, prop, perm string }{
		{"Employee", "email", "people:read"}, // promoted from the embedded Contact
		{"Employee", "badge", "people:read"}, // from the embedded *Badge
		{"Employee", "home", "people:read"},  // a $ref property
		{"Employee", "started", "people:read"},
		{"Contact", "email", "people:read"},
		{"Pay", "salary", "pay:read"},
		{"Pay", "bonus", "pay:read"},
	} {
		s, ok := spec.Components.Schemas[c.schema]
		if !ok {
			t.Fatalf("no schema %s in %s", c.schema, doc)
		}
		p := s.Properties[c.prop]
		if p[auth.PermissionExtension] != c.perm {
			t.Errorf("%s.%s: %s = %v", c.schema, c.prop, auth.PermissionExtension, p[auth.PermissionExtension])
		}
		if want := "Present only for callers with the permission `" + c.perm + "`."; !strings.Contains(fmt.Sprint(p["description"]), want) {
			t.Errorf("%s.%s: description %q lacks %q", c.schema, c.prop, p["description"], want)
		}
	}
	if p := spec.Components.Schemas["Employee"].Properties["name"]; p[auth.PermissionExtension] != nil {
		t.Errorf("Employee.name is marked: %v", p)
	}
}

func TestFieldFilterRefusesInvalidTypesAtRegistration(t *testing.T) {
	type leaky struct {
		Name  string `json:"name"`
		Email string `json:"email" permission:"people:read"`
	}
	f := newFilter(t)
	type out struct{ Body []leaky }
	_, _, err := dashcore.NewHandler(dashcore.HandlerOptions{
		Routes: []dashcore.Routes{{Name: "leaky", Register: func(api huma.API) {
			huma.Register(api, huma.Operation{OperationID: "leak", Method: http.MethodGet, Path: "/leak"},
				func(context.Context, *struct{}) (*out, error) { return &out{}, nil })
		}}},
		Transformers: []dashcore.Transformer{f.Transformer()},
	})
	if err == nil {
		t.Fatal("NewHandler accepted a tagged field JSON would not omit")
	}
	for _, want := range []string{`register routes "leaky"`, "auth_test.leaky.Email", "omitempty or omitzero"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestFieldFilterWithholdsInvalidTypesOfHiddenOperations(t *testing.T) {
	type leaky struct {
		Email string `json:"email" permission:"people:read"`
	}
	var logs bytes.Buffer
	authz, err := auth.NewAuthorizer(auth.NewMemoryAdapter(auth.PermissionRule("hr", "*", "people", "read")), auth.AuthorizerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	f := auth.NewFieldFilter(authz, slog.New(slog.NewTextHandler(&logs, nil)))
	// Hidden: no OnAddOperation, nothing registered after it; the type
	// is first seen when answered.
	srv, _ := filterAPI(t, f, leaky{Email: "a@x"}, true)
	status, body := fetch(t, srv, "/body", "hr")
	if status != http.StatusOK || strings.TrimSpace(body) != "null" {
		t.Errorf("hidden operation with an invalid type: %d %s", status, body)
	}
	if !strings.Contains(logs.String(), "withheld a response body") || !strings.Contains(logs.String(), "leaky.Email") {
		t.Errorf("logs: %s", logs.String())
	}
}
