package main

import (
	"context"
	"strings"
	"testing"

	"github.com/taylordash/taylordash/auth/authpg"
	"github.com/taylordash/taylordash/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// TestCreateAdmin: the command creates an admin, resets one that exists
// (ending its sessions), and refuses a weak password with a message that
// says what to do.
func TestCreateAdmin(t *testing.T) {
	db := testkit.Postgres(t, authpg.Migrations)
	env := func(more map[string]string) map[string]string {
		vars := map[string]string{"TAYLORDASH_DATABASE_URL": db.URL}
		for k, v := range more {
			vars[k] = v
		}
		return vars
	}
	role := func() (string, bool) {
		var r string
		var active bool
		if err := db.DB.QueryRow(context.Background(), `SELECT role, is_active FROM auth_users WHERE username = 'alice'`).Scan(&r, &active); err != nil {
			t.Fatal(err)
		}
		return r, active
	}

	res := execute(t, env(nil), "a long enough passphrase 42\n", "create-admin", "-username", "alice")
	if res.code != exitOK || !strings.Contains(res.stdout, `Created admin "alice"`) {
		t.Fatalf("create-admin: %+v", res)
	}
	if r, active := role(); r != "admin" || !active {
		t.Fatalf("alice: %s active=%v", r, active)
	}

	// Demoted and deactivated, then reset from the environment (and with
	// the double dash too).
	if _, err := db.DB.Exec(context.Background(), `UPDATE auth_users SET role = 'viewer', is_active = false WHERE username = 'alice'`); err != nil {
		t.Fatal(err)
	}
	res = execute(t, env(map[string]string{"TAYLORDASH_BOOTSTRAP_ADMIN_PASSWORD": "another long passphrase 7"}), "",
		"create-admin", "--username", "alice")
	if res.code != exitOK || !strings.Contains(res.stdout, "is now an active admin") {
		t.Fatalf("create-admin reset: %+v", res)
	}
	if r, active := role(); r != "admin" || !active {
		t.Fatalf("alice after reset: %s active=%v", r, active)
	}

	for _, c := range []struct {
		args  []string
		stdin string
		code  int
		want  string
	}{
		{[]string{"-username", "bob"}, "admin123\n", exitFailure, "does not meet the policy"},
		{[]string{}, "a long enough passphrase 42\n", exitUsage, "-username is required"},
		{[]string{"-user", "bob"}, "a long enough passphrase 42\n", exitUsage, "flag provided but not defined"},
		{[]string{"-username", "bob"}, "", exitFailure, "no password"},
	} {
		res := execute(t, env(nil), c.stdin, append([]string{"create-admin"}, c.args...)...)
		if res.code != c.code || !strings.Contains(res.stderr, c.want) {
			t.Errorf("%v: %+v, want exit %d and an error saying %q", c.args, res, c.code, c.want)
		}
	}
	var n int
	if err := db.DB.QueryRow(context.Background(), `SELECT count(*) FROM auth_users`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("users after the refusals: %d, %v", n, err)
	}
}
