package authpg_test

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"

	"go.uber.org/fx"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/auth/authpg"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

// cheapHashes is a password policy whose hashes cost little: these tests
// hash and log in often.
var cheapHashes = auth.PasswordConfig{MemoryKiB: 7168, Time: 1}

func newAccounts(t *testing.T, db *store.DB) *authpg.Accounts {
	t.Helper()
	a, err := authpg.NewAccounts(db, authpg.AccountsOptions{Hasher: auth.NewPasswordHasher(cheapHashes)})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// login reports whether username logs in with password.
func login(t *testing.T, a *authpg.Accounts, username, password string) bool {
	t.Helper()
	res, err := a.Login(context.Background(), authpg.Client{IP: "127.0.0.1"}, authpg.LoginRequest{Username: username, Password: password})
	if err != nil {
		t.Logf("login %s: %v", username, err)
		return false
	}
	return res.Role == authpg.AdminRole
}

// admins returns the usernames of the active admins.
func admins(t *testing.T, a *authpg.Accounts) []string {
	t.Helper()
	users, err := a.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range users {
		if u.Role == authpg.AdminRole && u.IsActive {
			names = append(names, u.Username)
		}
	}
	return names
}

func TestGenerateAdmin(t *testing.T) {
	db := testkit.Postgres(t, authpg.Migrations)
	a := newAccounts(t, db.DB)
	ctx := context.Background()

	admin, err := a.GenerateAdmin(ctx)
	if err != nil || admin == nil {
		t.Fatalf("first generation: %+v %v", admin, err)
	}
	if admin.Username != "admin" || len(admin.Password) < 20 {
		t.Fatalf("generated %q with a password of %d characters", admin.Username, len(admin.Password))
	}
	if !login(t, a, admin.Username, admin.Password) {
		t.Fatal("the generated admin cannot log in")
	}
	var hash string
	if err := db.DB.QueryRow(ctx, `SELECT password_hash FROM auth_users WHERE username = $1`, admin.Username).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, admin.Password) {
		t.Fatalf("the password is not stored hashed: %q", hash)
	}

	again, err := a.GenerateAdmin(ctx)
	if err != nil || again != nil {
		t.Fatalf("second generation: %+v %v, want nothing", again, err)
	}
	if got := admins(t, a); len(got) != 1 {
		t.Fatalf("admins: %v", got)
	}

	other, err := a.GenerateAdmin(ctx)
	if err != nil || other != nil {
		t.Fatalf("third generation: %+v %v, want nothing", other, err)
	}
}

func TestGenerateAdminPasswordsDiffer(t *testing.T) {
	seen := map[string]bool{}
	for range 3 {
		db := testkit.Postgres(t, authpg.Migrations)
		admin, err := newAccounts(t, db.DB).GenerateAdmin(context.Background())
		if err != nil || admin == nil {
			t.Fatalf("generation: %+v %v", admin, err)
		}
		if !regexp.MustCompile(`^([A-Za-z0-9]{6}-){3}[A-Za-z0-9]{6}$`).MatchString(admin.Password) || seen[admin.Password] {
			t.Fatalf("password %q (seen before: %v)", admin.Password, seen[admin.Password])
		}
		seen[admin.Password] = true
	}
}

// Instances that start together generate one admin between them.
func TestGenerateAdminConcurrently(t *testing.T) {
	db := testkit.Postgres(t, authpg.Migrations)
	const instances = 6
	results := make(chan *authpg.GeneratedAdmin, instances)
	var wg sync.WaitGroup
	for range instances {
		a := newAccounts(t, db.DB)
		wg.Go(func() {
			admin, err := a.GenerateAdmin(context.Background())
			if err != nil {
				t.Error(err)
			}
			results <- admin
		})
	}
	wg.Wait()
	close(results)
	generated := 0
	for admin := range results {
		if admin != nil {
			generated++
		}
	}
	if generated != 1 {
		t.Fatalf("%d instances generated an admin, want 1", generated)
	}
	if got := admins(t, newAccounts(t, db.DB)); len(got) != 1 {
		t.Fatalf("admins: %v", got)
	}
}

func TestGenerateAdminWithAnAdmin(t *testing.T) {
	db := testkit.Postgres(t, authpg.Migrations)
	a := newAccounts(t, db.DB)
	if _, err := a.EnsureAdmin(context.Background(), "root", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	admin, err := a.GenerateAdmin(context.Background())
	if err != nil || admin != nil {
		t.Fatalf("generation with an admin: %+v %v, want nothing", admin, err)
	}
}

// A user named admin that is not an admin keeps its role and password.
func TestGenerateAdminLeavesAUserNamedAdmin(t *testing.T) {
	db := testkit.Postgres(t, authpg.Migrations)
	a := newAccounts(t, db.DB)
	ctx := context.Background()
	const password = "viewer password of admin"
	if _, err := a.CreateUser(ctx, authpg.Client{}, authpg.NewUser{Username: "Admin", Password: password, Role: authpg.ViewerRole}); err != nil {
		t.Fatal(err)
	}
	admin, err := a.GenerateAdmin(ctx)
	if err != nil || admin == nil {
		t.Fatalf("generation: %+v %v", admin, err)
	}
	if !regexp.MustCompile(`^admin-[a-z0-9]{6}$`).MatchString(admin.Username) || !login(t, a, admin.Username, admin.Password) {
		t.Fatalf("generated %q, which should be admin-xxxxxx and log in", admin.Username)
	}
	res, err := a.Login(ctx, authpg.Client{IP: "127.0.0.1"}, authpg.LoginRequest{Username: "Admin", Password: password})
	if err != nil || res.Role != authpg.ViewerRole {
		t.Fatalf("the existing user named Admin changed: %+v %v", res, err)
	}
}

func TestGeneratedAdminNotice(t *testing.T) {
	var buf bytes.Buffer
	if err := (&authpg.GeneratedAdmin{Username: "admin", Password: "Abc123-def456-GHI789-jkl012"}).WriteNotice(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"=====", "username: admin\n", "password: Abc123-def456-GHI789-jkl012\n", "only this once"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("the notice lacks %q:\n%s", want, buf.String())
		}
	}
}

// moduleStart starts auth.Module and Module on the database at url with
// env, and returns what the start printed and the accounts.
func moduleStart(t *testing.T, url string, env map[string]string) (string, *authpg.Accounts) {
	t.Helper()
	vars := map[string]string{
		"TAYLORDASH_DATABASE_URL":                    url,
		"TAYLORDASH_AUTH_PASSWORD_ARGON2_MEMORY_KIB": "7168",
		"TAYLORDASH_AUTH_PASSWORD_ARGON2_TIME":       "1",
	}
	for k, v := range env {
		vars[k] = v
	}
	var notice bytes.Buffer
	var accounts *authpg.Accounts
	testkit.App(t, dashcore.Module, store.Module, auth.Module, authpg.Module, testkit.Env(vars),
		fx.Supply(fx.Annotate(&notice, fx.As(new(io.Writer)), fx.ResultTags(`name:"`+authpg.AdminNoticeName+`"`))),
		fx.Populate(&accounts))
	return notice.String(), accounts
}

var noticePassword = regexp.MustCompile(`(?m)^\s+username: (\S+)\n\s+password: (\S+)$`)

func TestModuleGeneratesTheFirstAdminOnce(t *testing.T) {
	db := testkit.Postgres(t, authpg.Migrations)
	generate := map[string]string{"TAYLORDASH_BOOTSTRAP_ADMIN_GENERATE": "true"}

	printed, accounts := moduleStart(t, db.URL, generate)
	m := noticePassword.FindStringSubmatch(printed)
	if m == nil {
		t.Fatalf("the first start printed no admin:\n%s", printed)
	}
	if !login(t, accounts, m[1], m[2]) {
		t.Fatalf("the printed admin %q cannot log in", m[1])
	}

	// The next start finds the admin, and prints nothing.
	if printed, _ := moduleStart(t, db.URL, generate); printed != "" {
		t.Fatalf("the second start printed:\n%s", printed)
	}
}

func TestModuleBootstrapAdminWinsOverGeneration(t *testing.T) {
	db := testkit.Postgres(t, authpg.Migrations)
	printed, accounts := moduleStart(t, db.URL, map[string]string{
		"TAYLORDASH_BOOTSTRAP_ADMIN_GENERATE": "true",
		"TAYLORDASH_BOOTSTRAP_ADMIN_USER":     "root",
		"TAYLORDASH_BOOTSTRAP_ADMIN_PASSWORD": "correct horse battery staple",
	})
	if printed != "" {
		t.Fatalf("printed with a bootstrap admin configured:\n%s", printed)
	}
	if got := admins(t, accounts); len(got) != 1 || got[0] != "root" {
		t.Fatalf("admins: %v, want root alone", got)
	}
}

func TestModuleGeneratesNoAdminWhenOneExists(t *testing.T) {
	db := testkit.Postgres(t, authpg.Migrations)
	if _, err := newAccounts(t, db.DB).EnsureAdmin(context.Background(), "root", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	printed, accounts := moduleStart(t, db.URL, map[string]string{"TAYLORDASH_BOOTSTRAP_ADMIN_GENERATE": "true"})
	if printed != "" {
		t.Fatalf("printed with an admin in the database:\n%s", printed)
	}
	if got := admins(t, accounts); len(got) != 1 || got[0] != "root" {
		t.Fatalf("admins: %v, want root alone", got)
	}
}

func TestModuleGeneratesNothingByDefault(t *testing.T) {
	db := testkit.Postgres(t, authpg.Migrations)
	printed, accounts := moduleStart(t, db.URL, nil)
	if printed != "" || len(admins(t, accounts)) != 0 {
		t.Fatalf("generation is opt-in; printed:\n%s", printed)
	}
}
