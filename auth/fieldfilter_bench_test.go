package auth_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/taylordash/taylordash/auth"
)

// benchUser is shaped like authpg.User: one field needs users:read.
type benchUser struct {
	ID             string     `json:"id"`
	Username       string     `json:"username"`
	Email          string     `json:"email,omitempty" permission:"users:read"`
	Role           string     `json:"role"`
	DefaultView    *string    `json:"default_view"`
	SingleViewMode bool       `json:"single_view_mode"`
	CreatedAt      time.Time  `json:"created_at"`
	LastLogin      *time.Time `json:"last_login"`
	IsActive       bool       `json:"is_active"`
}

// benchProject has the same fields and no tag.
type benchProject struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Owner       string     `json:"owner"`
	Status      string     `json:"status"`
	Description *string    `json:"description"`
	Archived    bool       `json:"archived"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   *time.Time `json:"updated_at"`
	Active      bool       `json:"active"`
}

// BenchmarkFieldFilter measures FieldFilter.Filter, what the transformer
// does to each 2xx body, on a list of 50 objects (the default policy in
// memory):
//
//   - untagged: projects, a type without tagged fields: a type lookup.
//   - tagged_allowed: users, for an admin (allowed users:read): the
//     decision, then the same value back.
//   - tagged_denied: users, for a viewer: the list and every user with an
//     email are copied without it.
//   - tagged_denied_one: one user, for a viewer.
//   - marshal_users: json.Marshal of the 50 users, what huma does next
//     anyway, for scale.
func BenchmarkFieldFilter(b *testing.B) {
	authz, err := auth.NewAuthorizer(auth.NewMemoryAdapter(auth.DefaultRules()...), auth.AuthorizerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	f := auth.NewFieldFilter(authz, nil)
	admin := &auth.Principal{Subject: "u-1", Kind: auth.KindUser, Roles: []string{"admin"}}
	viewer := &auth.Principal{Subject: "u-2", Kind: auth.KindUser, Roles: []string{"viewer"}}
	now := time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC)
	users := make([]*benchUser, 50)
	projects := make([]*benchProject, 50)
	for i := range users {
		users[i] = &benchUser{ID: fmt.Sprintf("6f1c2b9e-8a4d-4c1e-9b7a-2d5e8f3a%04d", i), Username: fmt.Sprintf("user%d", i),
			Email: fmt.Sprintf("user%d@example.com", i), Role: "viewer", CreatedAt: now, LastLogin: &now, IsActive: true}
		projects[i] = &benchProject{ID: users[i].ID, Name: users[i].Username, Owner: "alice", Status: "active", CreatedAt: now, Active: true}
	}
	run := func(name string, p *auth.Principal, v any, check func(any)) {
		b.Run(name, func(b *testing.B) {
			out, err := f.Filter(p, v)
			if err != nil {
				b.Fatal(err)
			}
			check(out)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.Filter(p, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	same := func(out any) {
		if fmt.Sprintf("%p", out) != fmt.Sprintf("%p", users) && fmt.Sprintf("%p", out) != fmt.Sprintf("%p", projects) {
			b.Fatal("a copy where none was needed")
		}
	}
	run("untagged", nil, projects, same)
	run("tagged_allowed", admin, users, same)
	run("tagged_denied", viewer, users, func(out any) {
		if out.([]*benchUser)[7].Email != "" || users[7].Email == "" {
			b.Fatal("not filtered, or filtered in place")
		}
	})
	run("tagged_denied_one", viewer, users[0], func(out any) {
		if out.(*benchUser).Email != "" {
			b.Fatal("not filtered")
		}
	})
	b.Run("marshal_users", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(users); err != nil {
				b.Fatal(err)
			}
		}
	})
}
