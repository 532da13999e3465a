package auth_test

import (
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
)

// cheapPasswordConfig hashes fast, for tests that are not about cost.
func cheapPasswordConfig() auth.PasswordConfig {
	return auth.PasswordConfig{Time: 1, MemoryKiB: 1024, MaxConcurrent: 4}
}

func TestPasswordHashRoundTrip(t *testing.T) {
	h := auth.NewPasswordHasher(cheapPasswordConfig())
	const pw = "plum-orbit-kettle-92"
	hash, err := h.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=1024,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(hash) {
		t.Fatalf("hash %q is not the PHC string wanted", hash)
	}
	ok, rehash, err := h.Verify(pw, hash)
	if !ok || rehash || err != nil {
		t.Fatalf("Verify(right password) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	again, _ := h.Hash(pw)
	if again == hash {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	for _, wrong := range []string{"", "plum-orbit-kettle-93", "Plum-orbit-kettle-92", pw + " "} {
		ok, rehash, err := h.Verify(wrong, hash)
		if ok || rehash || err != nil {
			t.Errorf("Verify(%q) = %v, %v, %v; want false, false, nil", wrong, ok, rehash, err)
		}
	}
}

func TestPasswordTamperedHash(t *testing.T) {
	h := auth.NewPasswordHasher(cheapPasswordConfig())
	hash, _ := h.Hash("plum-orbit-kettle-92")
	// Change one character of the key, then one of the salt: still a
	// well-formed hash, which must not match.
	i := strings.LastIndexByte(hash, '$')
	for _, at := range []int{len(hash) - 5, i - 5} {
		b := []byte(hash)
		if b[at] == 'A' {
			b[at] = 'B'
		} else {
			b[at] = 'A'
		}
		ok, _, err := h.Verify("plum-orbit-kettle-92", string(b))
		if ok || err != nil {
			t.Errorf("Verify(tampered at %d) = %v, %v; want false, nil", at, ok, err)
		}
	}
}

func TestPasswordMalformedHash(t *testing.T) {
	h := auth.NewPasswordHasher(cheapPasswordConfig())
	good, _ := h.Hash("plum-orbit-kettle-92")
	parts := strings.Split(good, "$") // "", argon2id, v=19, params, salt, key
	salt, key := parts[4], parts[5]
	with := func(params, salt, key string) string {
		return "$argon2id$v=19$" + params + "$" + salt + "$" + key
	}
	bc, err := bcrypt.GenerateFromPassword([]byte("plum-orbit-kettle-92"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, encoded string
		want          error
		mention       string
	}{
		{"empty", "", auth.ErrMalformedHash, "PHC"},
		{"plain text", "plum-orbit-kettle-92", auth.ErrMalformedHash, "PHC"},
		{"argon2i", "$argon2i$v=19$m=1024,t=1,p=1$" + salt + "$" + key, auth.ErrUnsupportedHash, `"argon2i"`},
		{"md5-crypt", "$1$abcdefgh$0123456789abcdef", auth.ErrUnsupportedHash, `"1"`},
		{"too few fields", "$argon2id$v=19$m=1024,t=1,p=1$" + salt, auth.ErrMalformedHash, "fields"},
		{"too many fields", good + "$x", auth.ErrMalformedHash, "fields"},
		{"no version", "$argon2id$m=1024,t=1,p=1$" + salt + "$" + key + "$x", auth.ErrMalformedHash, "version"},
		{"old version", strings.Replace(good, "v=19", "v=16", 1), auth.ErrUnsupportedHash, "version 16"},
		{"version not a number", strings.Replace(good, "v=19", "v=x", 1), auth.ErrMalformedHash, "version"},
		{"missing p", with("m=1024,t=1", salt, key), auth.ErrMalformedHash, "m, t and p"},
		{"unknown parameter", with("m=1024,t=1,p=1,x=2", salt, key), auth.ErrMalformedHash, "unknown parameter"},
		{"parameter not a number", with("m=lots,t=1,p=1", salt, key), auth.ErrMalformedHash, "name=number"},
		{"t=0", with("m=1024,t=0,p=1", salt, key), auth.ErrMalformedHash, "at least 1"},
		{"p=0", with("m=1024,t=1,p=0", salt, key), auth.ErrMalformedHash, "at least 1"},
		{"p=256", with("m=1024,t=1,p=256", salt, key), auth.ErrMalformedHash, "p=256"},
		{"huge memory", with("m=4000000000,t=1,p=1", salt, key), auth.ErrUnsupportedHash, "KiB"},
		{"huge time", with("m=1024,t=1000,p=1", salt, key), auth.ErrUnsupportedHash, "t=1000"},
		{"salt not base64", with("m=1024,t=1,p=1", "!!!!", key), auth.ErrMalformedHash, "salt"},
		{"padded key", with("m=1024,t=1,p=1", salt, key+"="), auth.ErrMalformedHash, "key"},
		{"short salt", with("m=1024,t=1,p=1", "YWJj", key), auth.ErrMalformedHash, "salt has 3 bytes"},
		{"short key", with("m=1024,t=1,p=1", salt, "YWJj"), auth.ErrMalformedHash, "key has 3 bytes"},
		{"bcrypt truncated", string(bc[:20]), auth.ErrMalformedHash, "bcrypt"},
		{"bcrypt bad cost", "$2a$xx" + string(bc[6:]), auth.ErrMalformedHash, "bcrypt"},
		{"bcrypt cost too high", "$2a$31" + string(bc[6:]), auth.ErrUnsupportedHash, "cost 31"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ok, rehash, err := h.Verify("plum-orbit-kettle-92", c.encoded)
			if ok || rehash || !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, %v, %v; want false, false, %v", ok, rehash, err, c.want)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Errorf("error %q does not mention %q", err, c.mention)
			}
			if len(salt) > 0 && (strings.Contains(err.Error(), salt) || strings.Contains(err.Error(), key)) {
				t.Errorf("error %q contains the hash", err)
			}
		})
	}
}

func TestPasswordNeedsRehash(t *testing.T) {
	old := auth.NewPasswordHasher(auth.PasswordConfig{Time: 1, MemoryKiB: 1024})
	cur := auth.NewPasswordHasher(auth.PasswordConfig{Time: 2, MemoryKiB: 1024})
	const pw = "plum-orbit-kettle-92"
	oldHash, _ := old.Hash(pw)
	ok, rehash, err := cur.Verify(pw, oldHash)
	if !ok || !rehash || err != nil {
		t.Fatalf("Verify(hash with t=1) by a t=2 hasher = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
	curHash, _ := cur.Hash(pw)
	if ok, rehash, _ := cur.Verify(pw, curHash); !ok || rehash {
		t.Fatalf("Verify(own hash) = %v, %v; want true, false", ok, rehash)
	}
	if _, rehash, _ := cur.Verify("wrong password!", oldHash); !rehash {
		t.Error("needsRehash is false for a wrong password against an old hash; want true either way")
	}
	// Another memory, thread count, salt or key length needs a rehash too.
	for _, cfg := range []auth.PasswordConfig{
		{Time: 2, MemoryKiB: 2048}, {Time: 2, MemoryKiB: 1024, Threads: 2},
	} {
		other := auth.NewPasswordHasher(cfg)
		if ok, rehash, _ := other.Verify(pw, curHash); !ok || !rehash {
			t.Errorf("hasher %+v: Verify = %v, %v; want true, true", cfg, ok, rehash)
		}
	}
}

func TestPasswordBcryptCompatibility(t *testing.T) {
	h := auth.NewPasswordHasher(cheapPasswordConfig())
	const pw = "migrated-from-python"
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		encoded := prefix + string(hash[4:])
		ok, rehash, err := h.Verify(pw, encoded)
		if !ok || !rehash || err != nil {
			t.Errorf("%s: Verify(right) = %v, %v, %v; want true, true, nil", prefix, ok, rehash, err)
		}
		ok, rehash, err = h.Verify(pw+"x", encoded)
		if ok || !rehash || err != nil {
			t.Errorf("%s: Verify(wrong) = %v, %v, %v; want false, true, nil", prefix, ok, rehash, err)
		}
	}
	// A known vector (PHP's password_hash, cost 10): "rasmuslerdorf".
	ok, _, err := h.Verify("rasmuslerdorf", "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a")
	if !ok || err != nil {
		t.Errorf("Verify(PHP $2y$ vector) = %v, %v; want true, nil", ok, err)
	}
}

func TestPasswordTooLong(t *testing.T) {
	h := auth.NewPasswordHasher(cheapPasswordConfig())
	long := strings.Repeat("x", 257)
	if _, err := h.Hash(long); !errors.Is(err, auth.ErrPasswordTooLong) {
		t.Errorf("Hash(257 bytes) error = %v, want ErrPasswordTooLong", err)
	}
	if _, err := h.Hash(long[:256]); err != nil {
		t.Errorf("Hash(256 bytes) = %v", err)
	}
	// A longer password never matches, even the hash of its first 256
	// bytes made by a hasher that allowed more.
	lax := auth.NewPasswordHasher(auth.PasswordConfig{Time: 1, MemoryKiB: 1024, MaxLength: 1024})
	hash, _ := lax.Hash(long)
	if ok, _, err := h.Verify(long, hash); ok || err != nil {
		t.Errorf("Verify(257 bytes) = %v, %v; want false, nil", ok, err)
	}
}

// TestPasswordVerifyDummyRunsArgon2 checks that VerifyDummy does the work
// of a real Verify with the current parameters, by the memory it
// allocates: Argon2id allocates exactly MemoryKiB KiB per hash, and a
// dummy that skipped the hash, or used other parameters, would not.
// (Timing is compared in the benchmarks.)
func TestPasswordVerifyDummyRunsArgon2(t *testing.T) {
	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	for _, mem := range []uint32{8 * 1024, 24 * 1024} {
		h := auth.NewPasswordHasher(auth.PasswordConfig{Time: 1, MemoryKiB: mem})
		hash, _ := h.Hash("plum-orbit-kettle-92")
		want := uint64(mem) * 1024
		verify := allocated(func() { _, _, _ = h.Verify("a wrong password", hash) })
		dummy := allocated(func() { h.VerifyDummy("a wrong password") })
		if verify < want || dummy < want || dummy > 2*want || verify > 2*want {
			t.Errorf("m=%d KiB: Verify allocated %d bytes, VerifyDummy %d; want both from %d to %d",
				mem, verify, dummy, want, 2*want)
		}
	}
}

func TestPasswordConcurrentUse(t *testing.T) {
	h := auth.NewPasswordHasher(auth.PasswordConfig{Time: 1, MemoryKiB: 1024, MaxConcurrent: 2})
	hash, _ := h.Hash("plum-orbit-kettle-92")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			pw := "plum-orbit-kettle-92"
			if i%2 == 1 {
				pw = "wrong"
			}
			switch i % 4 {
			case 0, 1:
				if ok, _, err := h.Verify(pw, hash); ok != (i%2 == 0) || err != nil {
					errs <- fmt.Errorf("Verify(%q) = %v, %v", pw, ok, err)
				}
			case 2:
				h.VerifyDummy(pw)
			case 3:
				if _, err := h.Hash(pw); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestPasswordCheck(t *testing.T) {
	def := cheapPasswordConfig()
	classes := def
	classes.RequireClasses = 3
	lax := def
	lax.AllowCommon = true
	const (
		short    = "must have at least 12 characters"
		long     = "must have at most 256 bytes"
		common   = "must not be a commonly used password"
		username = "must not be the username"
		mix      = "must mix at least 3 of: lower-case letters, upper-case letters, digits, other characters"
	)
	for _, c := range []struct {
		cfg      auth.PasswordConfig
		user, pw string
		want     []string
	}{
		{def, "alice", "plum-orbit-kettle-92", nil},
		{def, "alice", "dragon84619273", nil}, // a listed word with a long, random suffix
		{def, "alice", "пароль-надёжный", nil},
		{def, "", "tangerine sky", nil},
		{def, "alice", "kettle", []string{short}},
		{def, "alice", "éééééééééé", []string{short, common}}, // 10 characters, 20 bytes
		{def, "alice", strings.Repeat("xy", 129), []string{long, common}},
		{def, "alice", "password", []string{short, common}},
		{def, "alice", "password1234", []string{common}},
		{def, "alice", "Password2024!", []string{common}},
		{def, "alice", "p@ssw0rd2024", []string{common}},
		{def, "alice", "P4SSW0RDP4SSW0RD", []string{common}},
		{def, "alice", "!!iloveyou!!", []string{common}},
		{def, "alice", "qwertyuiop123456789", []string{common}},
		{def, "alice", "aaaaaaaaaaaa", []string{common}},
		{def, "alice", "abcdefghijkl", []string{common}},
		{def, "alice", "123456789012", []string{common}},
		{def, "alice", "987654321098", []string{common}},
		{def, "alice", "abcabcabcabc", []string{common}},
		{def, "alice", "TaylorDash2025", []string{common}},
		{def, "alice", "admin123admin123", []string{common}},
		{def, "alice", "kettle-plum-kettle-plum", nil},
		{def, "Charlotte.Smith", "charlotte.smith", []string{username}},
		{def, "charlotte.smith", "Charlotte.Smith1!", []string{username}},
		{def, "bob", "bob", []string{short, username}},
		{classes, "alice", "plum-orbit-kettle", []string{mix}},
		{classes, "alice", "Plum-orbit-kettle", nil},
		{classes, "alice", "plum orbit kettle 92", nil},
		{lax, "alice", "password1234", nil},
		{lax, "alice", "alice", []string{short}},
	} {
		h := auth.NewPasswordHasher(c.cfg)
		err := h.Check(c.user, c.pw)
		var pe *auth.PasswordPolicyError
		switch {
		case c.want == nil && err != nil:
			t.Errorf("Check(%q, %q) = %v, want nil", c.user, c.pw, err)
		case c.want != nil && !errors.As(err, &pe):
			t.Errorf("Check(%q, %q) = %v, want a *PasswordPolicyError", c.user, c.pw, err)
		case c.want != nil && strings.Join(pe.Problems, "|") != strings.Join(c.want, "|"):
			t.Errorf("Check(%q, %q) problems = %q, want %q", c.user, c.pw, pe.Problems, c.want)
		}
	}
}

func TestPasswordPolicyErrorMessage(t *testing.T) {
	h := auth.NewPasswordHasher(cheapPasswordConfig())
	err := h.Check("alice", "password")
	const want = "password must have at least 12 characters; must not be a commonly used password"
	if err == nil || err.Error() != want {
		t.Fatalf("Check error = %v, want %q", err, want)
	}
}

func TestPasswordConfigValidate(t *testing.T) {
	if err := (auth.PasswordConfig{}).WithDefaults().Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	d := auth.PasswordConfig{}.WithDefaults()
	if d.MinLength != 12 || d.MaxLength != 256 || d.RequireClasses != 0 || d.AllowCommon ||
		d.Time != 2 || d.MemoryKiB != 19456 || d.Threads != 1 || d.MaxConcurrent < 1 {
		t.Errorf("defaults = %+v", d)
	}
	bad := auth.PasswordConfig{MinLength: 6, MaxLength: 20, RequireClasses: 5, Time: 100,
		MemoryKiB: 1024, Threads: 65, MaxConcurrent: 5000}
	assertFieldErrors(t, bad.Validate(), "MinLength", "MaxLength", "RequireClasses", "Time", "MemoryKiB", "Threads", "MaxConcurrent")
	assertFieldErrors(t, auth.PasswordConfig{MinLength: 100, MaxLength: 64}.WithDefaults().Validate(), "MinLength")
}

// assertFieldErrors checks that err joins one *dashcore.FieldError per field,
// in order.
func assertFieldErrors(t *testing.T, err error, fields ...string) {
	t.Helper()
	var got []string
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			var fe *dashcore.FieldError
			if !errors.As(e, &fe) {
				t.Fatalf("error %v is not a *dashcore.FieldError", e)
			}
			got = append(got, fe.Field)
		}
	} else if err != nil {
		t.Fatalf("error %v does not join field errors", err)
	}
	if strings.Join(got, ",") != strings.Join(fields, ",") {
		t.Errorf("fields in error = %q, want %q (error: %v)", got, fields, err)
	}
}

func ExamplePasswordHasher() {
	h := auth.NewPasswordHasher(auth.PasswordConfig{})

	// A new password: apply the policy, then store the hash.
	if err := h.Check("alice", "Password2024!"); err != nil {
		fmt.Println(err)
	}
	hash, err := h.Hash("plum-orbit-kettle-92")
	if err != nil {
		panic(err)
	}
	fmt.Println(hash[:31])

	// A login: verify, and rehash when the parameters have changed.
	ok, needsRehash, err := h.Verify("plum-orbit-kettle-92", hash)
	fmt.Println(ok, needsRehash, err)
	ok, _, _ = h.Verify("plum-orbit-kettle-93", hash)
	fmt.Println(ok)

	// An unknown username: spend the same time, answer the same.
	h.VerifyDummy("whatever was typed")
	// Output:
	// password must not be a commonly used password
	// $argon2id$v=19$m=19456,t=2,p=1$
	// true false <nil>
	// false
}

func BenchmarkPasswordHash(b *testing.B) {
	h := auth.NewPasswordHasher(auth.PasswordConfig{})
	for b.Loop() {
		if _, err := h.Hash("plum-orbit-kettle-92"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPasswordVerify(b *testing.B) {
	h := auth.NewPasswordHasher(auth.PasswordConfig{})
	hash, _ := h.Hash("plum-orbit-kettle-92")
	for b.Loop() {
		if ok, _, _ := h.Verify("plum-orbit-kettle-93", hash); ok {
			b.Fatal("wrong password matched")
		}
	}
}

func BenchmarkPasswordVerifyDummy(b *testing.B) {
	h := auth.NewPasswordHasher(auth.PasswordConfig{})
	for b.Loop() {
		h.VerifyDummy("plum-orbit-kettle-93")
	}
}

func BenchmarkPasswordVerifyBcrypt(b *testing.B) {
	h := auth.NewPasswordHasher(auth.PasswordConfig{})
	hash, _ := bcrypt.GenerateFromPassword([]byte("plum-orbit-kettle-92"), bcrypt.DefaultCost)
	for b.Loop() {
		_, _, _ = h.Verify("plum-orbit-kettle-93", string(hash))
	}
}
