package main

import (
	"context"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/auth/authpg"
	"github.com/taylordash/taylordash/testkit"
)

// login logs in through the accounts service, as POST /api/v1/auth/login
// does.
func login(t *testing.T, db *testkit.Database, username, password string) (*authpg.LoginResult, error) {
	t.Helper()
	accounts, err := authpg.NewAccounts(db.DB, authpg.AccountsOptions{Hasher: auth.NewPasswordHasher(auth.Config{}.WithDefaults().Password)})
	if err != nil {
		t.Fatal(err)
	}
	return accounts.Login(context.Background(), authpg.Client{}, authpg.LoginRequest{Username: username, Password: password})
}

// generated matches the generated password in user create's output.
var generated = regexp.MustCompile(`(?m)^Password \(shown once; log in and change it\): (\S+)$`)

// TestUserCreate: on a fresh database (the command migrates it), a user
// created with a generated password, or one from standard input, logs
// in with the role given; refusals exit 1 and say why.
func TestUserCreate(t *testing.T) {
	db := testkit.Postgres(t)
	vars := map[string]string{"TAYLORDASH_DATABASE_URL": db.URL}

	res := execute(t, vars, "", "user", "create", "--username", "alice", "--role", "operator")
	m := generated.FindStringSubmatch(res.stdout)
	if res.code != exitOK || m == nil || !strings.Contains(res.stdout, `Created user "alice" (role operator`) {
		t.Fatalf("user create: %+v", res)
	}
	lr, err := login(t, db, "alice", m[1])
	if err != nil || lr.Role != "operator" {
		t.Fatalf("login as alice with the generated password: %+v, %v", lr, err)
	}

	res = execute(t, vars, "a long enough passphrase 42\n", "user", "create", "--username", "bob", "--password-stdin",
		"--email", "bob@example.com", "--output", "json")
	if res.code != exitOK {
		t.Fatalf("user create --password-stdin: %+v", res)
	}
	bob := decode[createdUser](t, res)
	if bob.Username != "bob" || bob.Role != "viewer" || bob.ID == "" || bob.Email != "bob@example.com" || bob.Password != "" {
		t.Fatalf("bob: %+v", bob)
	}
	if lr, err := login(t, db, "bob", "a long enough passphrase 42"); err != nil || lr.Role != "viewer" || lr.UserID != bob.ID {
		t.Fatalf("login as bob: %+v, %v", lr, err)
	}
	var audited int
	if err := db.DB.QueryRow(context.Background(), `SELECT count(*) FROM auth_audit_log WHERE event_type = 'user_created'`).Scan(&audited); err != nil || audited != 2 {
		t.Errorf("user_created audit events: %d, %v", audited, err)
	}

	for _, c := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"--username", "alice"}, "", "Username already exists; choose another --username"},
		{[]string{"--username", "carol", "--role", "boss"}, "", `role "boss" is not known; known roles: admin, operator, viewer`},
		{[]string{"--username", "carol", "--password-stdin"}, "short\n", "password must have at least"},
		{[]string{"--username", "carol", "--password-stdin"}, "", "standard input held no password"},
	} {
		res := execute(t, vars, c.stdin, append([]string{"user", "create"}, c.args...)...)
		if res.code != exitFailure || !strings.Contains(res.stderr, c.want) || strings.Contains(res.stderr, "SQLSTATE") {
			t.Errorf("%v: %+v, want exit 1 and %q", c.args, res, c.want)
		}
	}
}

// TestAPIKeyCreate: the key printed once authenticates with the roles
// and permissions given; the JSON output is the API's.
func TestAPIKeyCreate(t *testing.T) {
	db := testkit.Postgres(t)
	vars := map[string]string{"TAYLORDASH_DATABASE_URL": db.URL}
	authenticate := func(key string) (*auth.Principal, error) {
		a := auth.NewAPIKeyAuthenticator(authpg.NewAPIKeys(db.DB), auth.APIKeyConfig{CacheTTL: -time.Second}, nil)
		r := httptest.NewRequest("GET", "/api/v1/projects", nil)
		r.Header.Set(auth.APIKeyHeader, key)
		return a.Authenticate(context.Background(), r)
	}

	res := execute(t, vars, "", "apikey", "create", "--name", "grafana", "--role", "viewer", "--permission", "events:read,projects:read",
		"--expires-in", "720h", "--output", "json")
	if res.code != exitOK {
		t.Fatalf("apikey create: %+v", res)
	}
	created := decode[authpg.CreatedKey](t, res)
	if created.Key == "" || created.Name != "grafana" || !slices.Equal(created.Roles, []string{"viewer"}) || len(created.Permissions) != 2 ||
		created.ExpiresAt == nil || created.ExpiresAt.Before(time.Now().Add(719*time.Hour)) {
		t.Fatalf("created: %+v", created)
	}
	p, err := authenticate(created.Key)
	if err != nil || !slices.Equal(p.Roles, []string{"viewer"}) || len(p.Permissions) != 2 || p.SessionID != created.ID {
		t.Fatalf("the printed key: %+v, %v", p, err)
	}
	if p, err := authenticate(created.Key + "x"); err == nil && p != nil {
		t.Fatalf("a wrong key authenticated: %+v", p)
	}

	res = execute(t, vars, "", "apikey", "create", "--name", "ci deploy", "--role", "operator")
	m := regexp.MustCompile(`(?m)^Key \(shown once; send it as X-API-Key\): (\S+)$`).FindStringSubmatch(res.stdout)
	if res.code != exitOK || m == nil || !strings.Contains(res.stdout, `"ci deploy" (roles: operator; permissions: none; never expires)`) {
		t.Fatalf("apikey create: %+v", res)
	}
	if p, err := authenticate(m[1]); err != nil || !slices.Equal(p.Roles, []string{"operator"}) {
		t.Fatalf("the printed key: %+v, %v", p, err)
	}
	var audited int
	if err := db.DB.QueryRow(context.Background(), `SELECT count(*) FROM auth_audit_log WHERE event_type = 'key_created'`).Scan(&audited); err != nil || audited != 2 {
		t.Errorf("key_created audit events: %d, %v", audited, err)
	}

	res = execute(t, vars, "", "apikey", "create", "--name", "x", "--role", "root")
	if res.code != exitFailure || !strings.Contains(res.stderr, `role "root" is not in the policy; its roles are: admin, operator, viewer`) {
		t.Fatalf("unknown role: %+v", res)
	}
}
