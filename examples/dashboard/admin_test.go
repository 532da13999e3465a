package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/taylordash/taylordash/auth/authpg"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// TestCreateAdmin: the command creates an admin, resets one that exists
// (ending its sessions), and refuses a weak password with a message that
// says what to do.
func TestCreateAdmin(t *testing.T) {
	db := testkit.Postgres(t, authpg.Migrations)
	env := func(more map[string]string) dashcore.Environment {
		vars := map[string]string{"TAYLORDASH_DATABASE_URL": db.URL}
		for k, v := range more {
			vars[k] = v
		}
		return dashcore.NewEnvironment(vars)
	}
	role := func() (string, bool) {
		var r string
		var active bool
		if err := db.DB.QueryRow(context.Background(), `SELECT role, is_active FROM auth_users WHERE username = 'alice'`).Scan(&r, &active); err != nil {
			t.Fatal(err)
		}
		return r, active
	}

	var out bytes.Buffer
	if err := createAdmin(context.Background(), env(nil), []string{"-username", "alice"},
		strings.NewReader("a long enough passphrase 42\n"), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `Created admin "alice"`) {
		t.Fatalf("output: %s", out.String())
	}
	if r, active := role(); r != "admin" || !active {
		t.Fatalf("alice: %s active=%v", r, active)
	}

	// Demoted and deactivated, then reset from the environment.
	if _, err := db.DB.Exec(context.Background(), `UPDATE auth_users SET role = 'viewer', is_active = false WHERE username = 'alice'`); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := createAdmin(context.Background(), env(map[string]string{"TAYLORDASH_BOOTSTRAP_ADMIN_PASSWORD": "another long passphrase 7"}),
		[]string{"-username", "alice"}, strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "is now an active admin") {
		t.Fatalf("output: %s", out.String())
	}
	if r, active := role(); r != "admin" || !active {
		t.Fatalf("alice after reset: %s active=%v", r, active)
	}

	for _, c := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"-username", "bob"}, "admin123\n", "does not meet the policy"},
		{[]string{}, "a long enough passphrase 42\n", "-username is required"},
		{[]string{"-username", "bob"}, "", "no password"},
	} {
		err := createAdmin(context.Background(), env(nil), c.args, strings.NewReader(c.stdin), &out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error saying %q", c.args, err, c.want)
		}
	}
	var n int
	if err := db.DB.QueryRow(context.Background(), `SELECT count(*) FROM auth_users`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("users after the refusals: %d, %v", n, err)
	}
}
