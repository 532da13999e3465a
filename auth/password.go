package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/taylordash/taylordash/dashcore"
)

// PasswordConfig is the password policy and the cost of hashing. Fields
// with an env tag are read by dashcore relative to the prefix the
// application assigns (e.g. TAYLORDASH_AUTH_PASSWORD_MIN_LENGTH), over the
// defaults of WithDefaults.
//
// The policy follows NIST SP 800-63B: a long minimum length and a list of
// refused passwords rather than composition rules, which make passwords
// harder to remember without making them much harder to guess.
//
// The hashing defaults are OWASP's first Argon2id recommendation, m=19 MiB,
// t=2, p=1: about 35 ms per hash on one core of the 2-core reference
// machine, within the 20-60 ms a login can afford. The alternative m=64 MiB,
// t=1 costs 65 ms and three times the memory for a similar strength.
type PasswordConfig struct {
	// MinLength is the fewest characters (Unicode code points) a new
	// password may have. Default 12; at least 8.
	MinLength int `env:"MIN_LENGTH"`
	// MaxLength is the most bytes a password may have, which bounds the
	// work of hashing it (Argon2id itself has no limit, unlike bcrypt's 72
	// bytes). Longer passwords are refused by Check and Hash and never
	// match in Verify, so lowering it locks out users whose passwords are
	// longer. Default 256; from 64 to 4096.
	MaxLength int `env:"MAX_LENGTH"`
	// RequireClasses is how many of the four character classes (lower-case
	// letters, upper-case letters, digits, anything else) a new password
	// must mix. Default 0, as NIST SP 800-63B advises; at most 4.
	RequireClasses int `env:"REQUIRE_CLASSES"`
	// AllowCommon turns off the refusal of common passwords: those on a
	// built-in list of a few hundred (plus "admin123", "taylordash", ...),
	// a listed password with a short or predictable prefix or suffix of
	// digits and symbols ("Password2024!", "p@ssw0rd1") or repeated
	// ("admin123admin123"), repeated or sequential characters
	// ("aaaaaaaaaaaa", "abcdefghijkl", "123123123123"), and the username
	// itself, alone or with such an affix, ignoring case. Default
	// false: common passwords are refused.
	AllowCommon bool `env:"ALLOW_COMMON"`
	// Time is Argon2id's number of passes over the memory. Default 2; from
	// 1 to 64.
	Time uint32 `env:"ARGON2_TIME"`
	// MemoryKiB is the memory one Argon2id hash uses, in KiB. Default
	// 19456 (19 MiB); from 7168 (OWASP's floor) to 1048576 (1 GiB).
	MemoryKiB uint32 `env:"ARGON2_MEMORY_KIB"`
	// Threads is Argon2id's parallelism: the lanes computed at once for
	// one hash. Default 1, so that concurrent logins use the cores rather
	// than one login using them all; from 1 to 64.
	Threads uint8 `env:"ARGON2_THREADS"`
	// MaxConcurrent is how many hashes (Hash, Verify, VerifyDummy) may be
	// computed at once; more wait their turn. It bounds memory under a
	// login flood to MaxConcurrent × MemoryKiB, and leaves CPU to the rest
	// of the API: hashing is the costliest thing an unauthenticated client
	// can make the server do. Default half of GOMAXPROCS, at least 1 (1 on
	// the 2-core reference machine: about 28 logins a second); from 1 to
	// 1024.
	MaxConcurrent int `env:"MAX_CONCURRENT"`
}

// WithDefaults returns a copy of c with zero or negative fields set to
// their defaults.
func (c PasswordConfig) WithDefaults() PasswordConfig {
	if c.MinLength <= 0 {
		c.MinLength = 12
	}
	if c.MaxLength <= 0 {
		c.MaxLength = 256
	}
	c.RequireClasses = max(c.RequireClasses, 0)
	if c.Time == 0 {
		c.Time = 2
	}
	if c.MemoryKiB == 0 {
		c.MemoryKiB = 19 * 1024
	}
	if c.Threads == 0 {
		c.Threads = 1
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = max(1, runtime.GOMAXPROCS(0)/2)
	}
	return c
}

// Validate reports every field that cannot work or would make passwords
// weak, naming the field and the fix. It checks c as given; call it on
// c.WithDefaults().
func (c PasswordConfig) Validate() error {
	var errs []error
	bad := func(field, problem string) {
		errs = append(errs, &dashcore.FieldError{Field: field, Problem: problem})
	}
	if c.MinLength < 8 {
		bad("MinLength", "must be at least 8 (NIST SP 800-63B); 12 or more is advised")
	}
	if c.MaxLength < 64 || c.MaxLength > 4096 {
		bad("MaxLength", "must be from 64 to 4096 bytes")
	} else if c.MinLength > c.MaxLength {
		bad("MinLength", "must not be more than MaxLength")
	}
	if c.RequireClasses < 0 || c.RequireClasses > 4 {
		bad("RequireClasses", "must be from 0 to 4; 0 is advised")
	}
	if c.Time < 1 || c.Time > maxArgonTime {
		bad("Time", "must be from 1 to 64 passes, such as 2")
	}
	if c.MemoryKiB < 7168 || c.MemoryKiB > maxArgonMemory {
		bad("MemoryKiB", "must be from 7168 (7 MiB) to 1048576 (1 GiB), such as 19456")
	}
	if c.Threads < 1 || c.Threads > 64 {
		bad("Threads", "must be from 1 to 64, such as 1")
	}
	if c.MaxConcurrent < 1 || c.MaxConcurrent > 1024 {
		bad("MaxConcurrent", "must be from 1 to 1024, such as the number of cores")
	}
	return errors.Join(errs...)
}

// Limits on hashes read back (a corrupted or hostile stored hash must not
// make Verify allocate gigabytes or run for minutes).
const (
	maxArgonTime   = 64
	maxArgonMemory = 1 << 20 // KiB: 1 GiB
	maxBcryptCost  = 16      // about 5 s
	saltLen        = 16
	keyLen         = 32
)

// ErrMalformedHash is returned (wrapped) by [PasswordHasher.Verify] for a
// stored hash that cannot be parsed. The message never contains the hash.
var ErrMalformedHash = errors.New("auth: malformed password hash")

// ErrUnsupportedHash is returned (wrapped) by [PasswordHasher.Verify] for a
// stored hash of an algorithm, version or cost it does not verify.
var ErrUnsupportedHash = errors.New("auth: unsupported password hash")

// ErrPasswordTooLong is returned by [PasswordHasher.Hash] for a password
// longer than PasswordConfig.MaxLength bytes.
var ErrPasswordTooLong = errors.New("auth: password too long")

// PasswordPolicyError lists the rules a new password breaks. Its message
// is safe to show to the user: it never contains the password.
type PasswordPolicyError struct {
	// Problems has one phrase per rule broken, each completing "password
	// ...", e.g. "must have at least 12 characters" or "must not be a
	// commonly used password".
	Problems []string
}

// Error returns "password " and the problems joined by "; ".
func (e *PasswordPolicyError) Error() string {
	return "password " + strings.Join(e.Problems, "; ")
}

// PasswordHasher hashes passwords with Argon2id, verifies them (and bcrypt
// hashes migrated from elsewhere), and applies the password policy. It is
// safe for concurrent use; at most PasswordConfig.MaxConcurrent hashes are
// computed at once, the others waiting their turn.
type PasswordHasher struct {
	cfg    PasswordConfig
	params argonParams
	sem    chan struct{}
	dummy  string
	common map[string]struct{}
}

type argonParams struct {
	time, memory uint32
	threads      uint8
}

// NewPasswordHasher returns a hasher for cfg, after cfg.WithDefaults();
// cfg should have passed Validate. It computes one hash, for VerifyDummy,
// so it takes as long as one Hash.
func NewPasswordHasher(cfg PasswordConfig) *PasswordHasher {
	cfg = cfg.WithDefaults()
	h := &PasswordHasher{
		cfg:    cfg,
		params: argonParams{time: cfg.Time, memory: min(cfg.MemoryKiB, maxArgonMemory), threads: cfg.Threads},
		sem:    make(chan struct{}, cfg.MaxConcurrent),
		common: make(map[string]struct{}, 512),
	}
	for _, p := range strings.Fields(commonPasswords) {
		h.common[p] = struct{}{}
	}
	// The dummy hash is of a random password nobody knows, with the
	// current parameters, so VerifyDummy does exactly what Verify does.
	random := make([]byte, 24)
	_, _ = rand.Read(random) // never fails (crypto/rand crashes the program instead)
	h.dummy = h.encode(random, h.newSalt())
	return h
}

// Hash returns the PHC string of password:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, with a random 16-byte salt
// and a 32-byte key, both in unpadded standard base64. It refuses a
// password longer than MaxLength with ErrPasswordTooLong but applies no
// other rule: call Check first for a new password.
func (h *PasswordHasher) Hash(password string) (string, error) {
	if len(password) > h.cfg.MaxLength {
		return "", fmt.Errorf("%w: %d bytes, at most %d", ErrPasswordTooLong, len(password), h.cfg.MaxLength)
	}
	return h.encode([]byte(password), h.newSalt()), nil
}

func (h *PasswordHasher) newSalt() []byte {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt) // never fails (crypto/rand crashes the program instead)
	return salt
}

func (h *PasswordHasher) encode(password, salt []byte) string {
	key := h.derive(password, salt, h.params, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.params.memory, h.params.time, h.params.threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// derive computes an Argon2id key, in a slot of the semaphore.
func (h *PasswordHasher) derive(password, salt []byte, p argonParams, n uint32) (key []byte) {
	h.limited(func() { key = argon2.IDKey(password, salt, p.time, p.memory, p.threads, n) })
	return key
}

// limited runs f when a slot of the semaphore is free.
func (h *PasswordHasher) limited(f func()) {
	h.sem <- struct{}{}
	defer func() { <-h.sem }()
	f()
}

// Verify reports whether password matches encoded, a hash made by Hash
// (with these or other parameters) or a bcrypt hash ($2a$, $2b$ or $2y$,
// cost up to 16) from a migrated database. Keys are compared in constant
// time. needsRehash reports that encoded is not what Hash would make now
// (other Argon2id parameters, or bcrypt): after a successful login, store
// Hash(password) in its place. A password longer than MaxLength never
// matches. err is non-nil, wrapping ErrMalformedHash or
// ErrUnsupportedHash, only when encoded cannot be verified; its message
// never contains the hash.
func (h *PasswordHasher) Verify(password, encoded string) (ok, needsRehash bool, err error) {
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		p, salt, want, err := parseArgon2id(encoded)
		if err != nil {
			return false, false, err
		}
		needsRehash = p != h.params || len(salt) != saltLen || len(want) != keyLen
		if len(password) > h.cfg.MaxLength {
			return false, needsRehash, nil
		}
		got := h.derive([]byte(password), salt, p, uint32(len(want)))
		return subtle.ConstantTimeCompare(got, want) == 1, needsRehash, nil
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		cost, err := bcrypt.Cost([]byte(encoded))
		if err != nil {
			return false, false, fmt.Errorf("%w: bcrypt: %w", ErrMalformedHash, err)
		}
		if cost > maxBcryptCost {
			return false, false, fmt.Errorf("%w: bcrypt cost %d is over %d", ErrUnsupportedHash, cost, maxBcryptCost)
		}
		if len(password) > h.cfg.MaxLength {
			return false, true, nil
		}
		h.limited(func() { err = bcrypt.CompareHashAndPassword([]byte(encoded), []byte(password)) })
		switch {
		case err == nil:
			return true, true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, true, nil
		default:
			return false, false, fmt.Errorf("%w: bcrypt: %w", ErrMalformedHash, err)
		}
	case strings.HasPrefix(encoded, "$"):
		scheme, _, _ := strings.Cut(encoded[1:], "$")
		if len(scheme) > 16 {
			scheme = scheme[:16] + "..."
		}
		return false, false, fmt.Errorf("%w: scheme %q (want argon2id or bcrypt)", ErrUnsupportedHash, scheme)
	default:
		return false, false, fmt.Errorf("%w: not a PHC string starting with $", ErrMalformedHash)
	}
}

// VerifyDummy spends the time of a Verify against a hash of the current
// parameters, and returns nothing. Call it when the username is unknown,
// so that the response time does not reveal which usernames exist. It
// takes a slot of the semaphore like Verify.
func (h *PasswordHasher) VerifyDummy(password string) {
	_, _, _ = h.Verify(password, h.dummy)
}

// parseArgon2id parses $argon2id$v=19$m=M,t=T,p=P$salt$key.
func parseArgon2id(encoded string) (p argonParams, salt, key []byte, err error) {
	malformed := func(format string, args ...any) error {
		return fmt.Errorf("%w: argon2id: %s", ErrMalformedHash, fmt.Sprintf(format, args...))
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 {
		return p, nil, nil, malformed("%d fields separated by $, want 5", len(parts)-1)
	}
	version, ok := strings.CutPrefix(parts[2], "v=")
	if !ok {
		return p, nil, nil, malformed("no version (v=19)")
	}
	if version != strconv.Itoa(argon2.Version) {
		if _, err := strconv.Atoi(version); err != nil {
			return p, nil, nil, malformed("version is not a number")
		}
		return p, nil, nil, fmt.Errorf("%w: argon2id version %s (want %d)", ErrUnsupportedHash, version, argon2.Version)
	}
	var seen [3]bool
	for field := range strings.SplitSeq(parts[3], ",") {
		name, value, _ := strings.Cut(field, "=")
		n, err := strconv.ParseUint(value, 10, 32)
		if err != nil {
			return p, nil, nil, malformed("parameter %.8q is not name=number", field)
		}
		switch name {
		case "m":
			p.memory, seen[0] = uint32(n), true
		case "t":
			p.time, seen[1] = uint32(n), true
		case "p":
			if n > 255 {
				return p, nil, nil, malformed("p=%d is over 255", n)
			}
			p.threads, seen[2] = uint8(n), true
		default:
			return p, nil, nil, malformed("unknown parameter %.8q", name)
		}
	}
	switch {
	case seen != [3]bool{true, true, true}:
		return p, nil, nil, malformed("parameters must include m, t and p")
	case p.time < 1 || p.threads < 1:
		return p, nil, nil, malformed("t and p must be at least 1")
	case p.time > maxArgonTime:
		return p, nil, nil, fmt.Errorf("%w: argon2id t=%d is over %d", ErrUnsupportedHash, p.time, maxArgonTime)
	case p.memory > maxArgonMemory:
		return p, nil, nil, fmt.Errorf("%w: argon2id m=%d is over %d KiB", ErrUnsupportedHash, p.memory, maxArgonMemory)
	}
	b64 := base64.RawStdEncoding.Strict()
	if salt, err = b64.DecodeString(parts[4]); err != nil {
		return p, nil, nil, malformed("salt is not unpadded base64")
	}
	if key, err = b64.DecodeString(parts[5]); err != nil {
		return p, nil, nil, malformed("key is not unpadded base64")
	}
	if len(salt) < 8 || len(salt) > 64 {
		return p, nil, nil, malformed("salt has %d bytes, want 8 to 64", len(salt))
	}
	if len(key) < 16 || len(key) > 64 {
		return p, nil, nil, malformed("key has %d bytes, want 16 to 64", len(key))
	}
	return p, salt, key, nil
}

// Check applies the policy to a new password for username (which may be
// empty), returning nil or a *PasswordPolicyError naming every rule
// broken.
func (h *PasswordHasher) Check(username, password string) error {
	var problems []string
	if n := utf8.RuneCountInString(password); n < h.cfg.MinLength {
		problems = append(problems, fmt.Sprintf("must have at least %d characters", h.cfg.MinLength))
	}
	if len(password) > h.cfg.MaxLength {
		problems = append(problems, fmt.Sprintf("must have at most %d bytes", h.cfg.MaxLength))
	}
	if n := h.cfg.RequireClasses; n > 0 && characterClasses(password) < n {
		problems = append(problems, fmt.Sprintf("must mix at least %d of: lower-case letters, upper-case letters, digits, other characters", n))
	}
	if !h.cfg.AllowCommon {
		lower := strings.ToLower(password)
		user := strings.ToLower(username)
		if user != "" && (lower == user || h.isVariant(lower, func(base string) bool { return base == user })) {
			problems = append(problems, "must not be the username")
		} else if h.isCommon(lower) {
			problems = append(problems, "must not be a commonly used password")
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return &PasswordPolicyError{Problems: problems}
}

func characterClasses(s string) int {
	var lower, upper, digit, other int
	for _, r := range s {
		switch {
		case unicode.IsLower(r):
			lower = 1
		case unicode.IsUpper(r):
			upper = 1
		case unicode.IsDigit(r):
			digit = 1
		default:
			other = 1
		}
	}
	return lower + upper + digit + other
}

// isCommon reports whether lower (a lower-cased password) is listed, is a
// listed password in leetspeak, is predictable, is one of these repeated,
// or is one of these with a predictable affix of digits and symbols.
func (h *PasswordHasher) isCommon(lower string) bool {
	listed := func(s string) bool {
		if _, ok := h.common[s]; ok {
			return true
		}
		_, ok := h.common[unleet(s)]
		return ok
	}
	if listed(lower) || predictable(lower) {
		return true
	}
	if unit := repeatedUnit(lower); unit != "" && h.isCommon(unit) {
		return true
	}
	return h.isVariant(lower, func(base string) bool { return listed(base) || predictable(base) })
}

// isVariant reports whether lower is a word that match accepts with a
// short or predictable prefix and suffix of non-letters ("password2024!",
// "!!alice!!", "qwerty123456789").
func (h *PasswordHasher) isVariant(lower string, match func(base string) bool) bool {
	notLetter := func(r rune) bool { return !unicode.IsLetter(r) }
	base := strings.TrimFunc(lower, notLetter)
	if base == "" || base == lower {
		return false
	}
	start := strings.Index(lower, base)
	affix := lower[:start] + lower[start+len(base):]
	simple := utf8.RuneCountInString(affix) <= 5 || predictable(affix)
	return simple && match(base)
}

// predictable reports whether s is a short pattern repeated
// ("aaaaaaaa", "abcabcabc", "12121212") or a run of consecutive
// characters, up or down ("abcdefgh", "9876543210", "1234567890").
func predictable(s string) bool {
	rs := []rune(s)
	if len(rs) < 4 {
		return false
	}
	for period := 1; period <= 4 && 2*period <= len(rs); period++ {
		repeats := true
		for i := period; i < len(rs) && repeats; i++ {
			repeats = rs[i] == rs[i-period]
		}
		if repeats {
			return true
		}
	}
	step := func(a, b rune) rune {
		if a == '9' && b == '0' {
			return 1
		}
		if a == '0' && b == '9' {
			return -1
		}
		return b - a
	}
	d := step(rs[0], rs[1])
	if d != 1 && d != -1 {
		return false
	}
	for i := 2; i < len(rs); i++ {
		if step(rs[i-1], rs[i]) != d {
			return false
		}
	}
	return true
}

// repeatedUnit returns u when s is u repeated two or more times
// ("admin123admin123"), or "".
func repeatedUnit(s string) string {
	for p := 1; p <= len(s)/2; p++ {
		if len(s)%p == 0 && strings.Repeat(s[:p], len(s)/p) == s {
			return s[:p]
		}
	}
	return ""
}

// unleet undoes the usual letter-for-symbol substitutions.
func unleet(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '@', '4':
			return 'a'
		case '0':
			return 'o'
		case '1', '!':
			return 'i'
		case '3':
			return 'e'
		case '$', '5':
			return 's'
		case '7':
			return 't'
		case '8':
			return 'b'
		}
		return r
	}, s)
}

// commonPasswords are the most common passwords of public breach corpora
// (lower-cased), plus defaults and names an attacker of this product tries
// first. Words shorter than the minimum length matter too: Check refuses
// them with a short affix ("monkey123456").
const commonPasswords = `
123456 password 12345678 qwerty 123456789 12345 1234 111111 1234567 dragon
123123 baseball abc123 football monkey letmein 696969 shadow master 666666
qwertyuiop 123321 mustang 1234567890 michael 654321 superman 1qaz2wsx 7777777
121212 000000 qazwsx 123qwe killer trustno1 jordan jennifer zxcvbnm asdfgh
hunter buster soccer harley batman andrew tigger sunshine iloveyou charlie
robert thomas hockey ranger daniel starwars klaster 112233 george computer
michelle jessica pepper 1111 zxcvbn 555555 11111111 131313 freedom 777777 pass
maggie 159753 aaaaaa ginger princess joshua cheese amanda summer love ashley
nicole chelsea matthew access yankees 987654321 dallas austin thunder taylor
matrix william corvette hello martin heather secret merlin diamond 1234qwer
hammer silver 222222 88888888 anthony justin test bailey q1w2e3r4t5 patrick
internet scooter orange 11111 golfer cookie richard samantha bigdog guitar
jackson whatever mickey chicken sparky snoopy maverick phoenix camaro peanut
morgan welcome falcon cowboy ferrari samsung andrea smokey steelers joseph
mercedes dakota arsenal eagles melissa boomer booboo spider nascar monster
tigers yellow xxxxxx 123123123 gateway marina diablo bulldog qwer1234 compaq
purple banana junior hannah 123654 porsche lakers iceman money cowboys 987654
london tennis 999999 ncc1701 coffee scooby 0000 miller boston q1w2e3r4 brandon
yamaha chester mother forever johnny edward 333333 oliver redsox player nikita
knight fender barney midnight please brandy chicago badboy slayer rangers
charles angel flower bigdaddy rabbit wizard jasper enter rachel chris steven
winner adidas victoria natasha 1q2w3e4r jasmine winter prince marine fishing
cocacola casper james 232323 raiders 888888 marlboro gandalf asdfasdf crystal
87654321 12344321 golden 8675309 panther lauren angela spanky thx1138 angels
madison winston shannon mike toyota jordan23 canada sophie apples tiger
123abc pokemon qazxsw 55555 qwaszx muffin johnson murphy cooper jonathan
liverpool david danielle 159357 jackie 123456a 789456 turtle scorpion
qazwsxedc 101010 butter carlos password1 dennis slipknot qwerty123 booger asdf
black startrek 12341234 cameron newyork rainbow nathan john rocket
viking redskins sierra peaches gemini doctor wilson sandra helpme qwertyui
victor florida dolphin pookie captain tucker blue theman bandit dolphins maddog
packers jaguar lovers nicholas united tiffany maxwell zzzzzz nirvana jeremy
stupid monica elephant giants hotdog rosebud success debbie mountain 444444
xxxxxxxx warrior 1q2w3e4r5t q1w2e3 123456q albert metallic lucky azerty 7777
alex bond007 alexis 1111111 samson 5150 willie scorpio bonnie gators benjamin
voodoo driver dexter 2112 jason calvin freddy 212121 creative 12345a sydney
rush2112 asdfghjk asdfghjkl red123 bubba 4815162342 passw0rd trouble gunner
happy gordon legend jessie stella qwert eminem arthur apple nissan bear america
1qazxsw2 nothing parker 4444 rebecca qweqwe garfield beavis 69696969 jack
asdasd december 2222 102030 252525 11223344 magic apollo skippy 315475 kitten
golf copper braves shelby godzilla beaver fred tomcat august buddy airborne
qqqqqq brooklyn animal platinum phantom online xavier darkness blink182 power
fish green 789456123 voyager police travis 12qwaszx heaven snowball lover
abcdef 00000 pakistan 007007 walter playboy blazer cricket sniper donkey willow
loveme saturn therock redwings bigboy pumpkin trinity williams nintendo digital
destiny topgun runner marvin guinness chance bubbles testing fire november
minecraft asdf1234 lasvegas sergey broncos cartman private celtic birdie
little cassie babygirl donald beatles 1313 family 12121212 school louise
gabriel eclipse fluffy 147258369 lol123 explorer beer nelson flyers spencer
scott lovely gibson doggie cherry andrey snickers buffalo pantera metallica
member carter qwertyu peter alexander steve bronco paradise goober 5555 samuel
montana mexico dreams michigan carolina yankee friends magnum surfer poohbear
pearljam kelly 123456789a zaq12wsx 1qaz2wsx3edc 1q2w3e4r5t6y qwerty12345
qwertyuiop123 password12 password123 password1234 passwordpassword p@ssword
p@ssw0rd pa55word pa55w0rd iloveyou1 letmein123 welcome1 welcome123 abc12345
abcdef123 1234567891 123456789012 0987654321 superman1 princess1 football1
baseball1 sunshine1 monkey123 dragon123 changeme changeit default guest user
username login admin admin1 admin12 admin123 admin1234 administrator root toor
secret123 test123 test1234 testtest qwe123 qwerty1 master123 demo sample
taylordash taylordash1 taylordash123 dashboard dashboard123 letmeinplease
correcthorsebatterystaple iloveyou123 trustno1trustno1 whatever1 starwars1
`
