package auth_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taylordash/taylordash/auth"
)

func newTestLoginGuard(cfg auth.LockoutConfig) (*auth.LoginGuard, *limitClock) {
	clock := newLimitClock()
	return auth.NewLoginGuard(cfg, clock.Now), clock
}

// TestLoginGuardLockoutSequence is the required behaviour: five failures
// within a minute are answered normally, the fifth starts the lockout
// (one audit event), and the sixth attempt is refused with Retry-After.
func TestLoginGuardLockoutSequence(t *testing.T) {
	g, clock := newTestLoginGuard(auth.LockoutConfig{})
	lockouts := 0
	for attempt := 1; attempt <= 5; attempt++ {
		if retry, locked := g.Check("alice", "192.0.2.1"); locked {
			t.Fatalf("attempt %d refused (retry after %s); want it answered", attempt, retry)
		}
		lockedNow, retry := g.Failure("alice", "192.0.2.1")
		if lockedNow {
			lockouts++
		}
		if lockedNow != (attempt == 5) {
			t.Fatalf("failure %d: lockedNow = %v", attempt, lockedNow)
		}
		if attempt == 5 && retry != 5*time.Minute {
			t.Fatalf("failure 5: retryAfter = %s, want 5m", retry)
		}
		clock.Advance(10 * time.Second)
	}
	retry, locked := g.Check("alice", "192.0.2.1")
	if !locked || retry != 5*time.Minute-10*time.Second {
		t.Fatalf("attempt 6: Check = %s, %v; want locked for 4m50s", retry, locked)
	}
	// Case does not matter, nor does the IP: the username is locked.
	if _, locked := g.Check("ALICE", "198.51.100.9"); !locked {
		t.Error("ALICE from another IP is not locked")
	}
	if _, locked := g.Check("bob", "192.0.2.1"); locked {
		t.Error("another user from the same IP is locked (5 failures are below the IP threshold)")
	}
	// A failure reported during the lockout (an attempt that passed Check
	// just before it began) neither counts nor starts another.
	lockedNow, retry := g.Failure("alice", "192.0.2.1")
	if lockedNow || retry != 5*time.Minute-10*time.Second {
		t.Errorf("failure during the lockout = %v, %s; want false, 4m50s", lockedNow, retry)
	}
	if lockouts != 1 {
		t.Errorf("%d lockouts started, want 1", lockouts)
	}
	clock.Advance(5*time.Minute - 10*time.Second)
	if retry, locked := g.Check("alice", "192.0.2.1"); locked {
		t.Fatalf("still locked when the lockout ends (retry after %s)", retry)
	}
}

func TestLoginGuardSlidingWindow(t *testing.T) {
	g, clock := newTestLoginGuard(auth.LockoutConfig{})
	for range 4 { // at 0s, 15s, 30s, 45s
		if lockedNow, _ := g.Failure("alice", ""); lockedNow {
			t.Fatal("locked before the 5th failure")
		}
		clock.Advance(15 * time.Second)
	}
	clock.Advance(time.Second) // 61s: the failure at 0s has left the window
	if lockedNow, _ := g.Failure("alice", ""); lockedNow {
		t.Fatal("locked by failures spread over more than the window")
	}
	clock.Advance(time.Second) // 62s: 15s, 30s, 45s, 61s, 62s are within a minute
	if lockedNow, _ := g.Failure("alice", ""); !lockedNow {
		t.Fatal("5 failures within the window did not lock")
	}
}

func TestLoginGuardLockoutDoubles(t *testing.T) {
	g, clock := newTestLoginGuard(auth.LockoutConfig{MaxFailures: 2, LockoutDuration: time.Minute, MaxLockoutDuration: 5 * time.Minute})
	lockout := func() time.Duration {
		t.Helper()
		g.Failure("alice", "")
		lockedNow, retry := g.Failure("alice", "")
		if !lockedNow {
			t.Fatal("no lockout")
		}
		clock.Advance(retry)
		return retry
	}
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute} {
		if got := lockout(); got != want {
			t.Fatalf("lockout %d lasts %s, want %s", i+1, got, want)
		}
	}
	// A success starts again from LockoutDuration.
	g.Success("Alice", "")
	if got := lockout(); got != time.Minute {
		t.Fatalf("lockout after a success lasts %s, want 1m", got)
	}
	if got := lockout(); got != 2*time.Minute {
		t.Fatalf("second lockout lasts %s, want 2m", got)
	}
	// So does a quiet time of MaxLockoutDuration.
	clock.Advance(5 * time.Minute)
	if got := lockout(); got != time.Minute {
		t.Fatalf("lockout after a quiet time lasts %s, want 1m", got)
	}
	// Without doubling.
	g, clock = newTestLoginGuard(auth.LockoutConfig{MaxFailures: 1, LockoutDuration: time.Minute, MaxLockoutDuration: time.Minute})
	for range 3 {
		if _, retry := g.Failure("alice", ""); retry != time.Minute {
			t.Fatalf("lockout lasts %s, want 1m", retry)
		}
		clock.Advance(time.Minute)
	}
}

func TestLoginGuardPerIP(t *testing.T) {
	g, _ := newTestLoginGuard(auth.LockoutConfig{})
	started := 0
	for i := range 20 {
		lockedNow, retry := g.Failure(fmt.Sprint("user", i), "192.0.2.1")
		if lockedNow {
			started++
			if i != 19 || retry != 5*time.Minute {
				t.Fatalf("failure %d started a lockout of %s; want the 20th, of 5m", i+1, retry)
			}
		}
	}
	if started != 1 {
		t.Fatalf("%d lockouts started, want 1", started)
	}
	if _, locked := g.Check("someone-else", "192.0.2.1"); !locked {
		t.Error("a new username from the locked IP is not refused")
	}
	if _, locked := g.Check("", "192.0.2.1"); !locked {
		t.Error("the locked IP without a username is not refused")
	}
	if _, locked := g.Check("user1", "198.51.100.1"); locked {
		t.Error("a user who failed once from the locked IP is refused from another IP")
	}
	// A success clears the username, not the IP.
	g.Success("user1", "192.0.2.1")
	if _, locked := g.Check("user1", "192.0.2.1"); !locked {
		t.Error("a success cleared the IP's lockout")
	}
}

func TestLoginGuardIPv6CountsPer64(t *testing.T) {
	g, _ := newTestLoginGuard(auth.LockoutConfig{MaxFailuresPerIP: 2})
	g.Failure("a", "2001:db8:1:2::1")
	if lockedNow, _ := g.Failure("b", "2001:db8:1:2::ffff"); !lockedNow {
		t.Fatal("two failures from one /64 did not lock it")
	}
	if _, locked := g.Check("c", "2001:db8:1:2::77"); !locked {
		t.Error("another address of the locked /64 is not refused")
	}
	if _, locked := g.Check("c", "2001:db8:1:3::1"); locked {
		t.Error("another /64 is refused")
	}
}

func TestLoginGuardSuccessClearsFailures(t *testing.T) {
	g, _ := newTestLoginGuard(auth.LockoutConfig{})
	for range 4 {
		g.Failure("alice", "192.0.2.1")
	}
	g.Success("ALICE", "192.0.2.1")
	for i := range 4 {
		if lockedNow, _ := g.Failure("alice", "192.0.2.1"); lockedNow {
			t.Fatalf("failure %d after a success locked: the success did not clear the count", i+1)
		}
	}
	if lockedNow, _ := g.Failure("alice", "192.0.2.1"); !lockedNow {
		t.Fatal("the 5th failure after the success did not lock")
	}
}

func TestLoginGuardMemoryBound(t *testing.T) {
	g, clock := newTestLoginGuard(auth.LockoutConfig{MaxFailures: 2, MaxFailuresPerIP: 1000, MaxKeys: 10})
	g.Failure("victim", "192.0.2.1")
	g.Failure("victim", "192.0.2.1")
	for i := range 500 {
		clock.Advance(time.Millisecond)
		g.Failure(fmt.Sprint("made-up-", i), fmt.Sprintf("198.51.%d.%d", i/256, i%256))
	}
	users, ips := g.Len()
	if users > 10 || ips > 10 {
		t.Fatalf("Len = %d users, %d IPs; want at most 10 each", users, ips)
	}
	// Locked entries are evicted last: a flood of made-up usernames does
	// not lift a lockout.
	if _, locked := g.Check("victim", ""); !locked {
		t.Error("the flood evicted a locked user")
	}
	// Everything expires: after the lockout and the doubling's memory,
	// the tables empty themselves.
	clock.Advance(2 * time.Hour)
	g.Failure("late", "203.0.113.1")
	if users, ips := g.Len(); users != 1 || ips != 1 {
		t.Errorf("Len after everything expired = %d users, %d IPs; want 1, 1", users, ips)
	}
}

func TestLoginGuardConcurrentFailures(t *testing.T) {
	g := auth.NewLoginGuard(auth.LockoutConfig{MaxFailures: 5, MaxKeys: 5000}, nil)
	var lockouts atomic.Int64
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if lockedNow, _ := g.Failure("alice", fmt.Sprintf("10.0.%d.%d", i/256, i%256)); lockedNow {
				lockouts.Add(1)
			}
			g.Check("alice", "10.0.0.1")
			if lockedNow, _ := g.Failure(fmt.Sprint("user", i), "10.9.9.9"); lockedNow {
				lockouts.Add(1)
			}
			g.Success(fmt.Sprint("user", i), "10.9.9.9")
		})
	}
	wg.Wait()
	// 50 failures of one username: the 5th starts a lockout and the rest
	// arrive during it.
	if n := lockouts.Load(); n != 2 { // alice once, and 10.9.9.9 on its 20th failure
		t.Errorf("%d lockouts started, want 2", n)
	}
}

func TestLockoutConfigValidate(t *testing.T) {
	d := auth.LockoutConfig{}.WithDefaults()
	if err := d.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if d.MaxFailures != 5 || d.MaxFailuresPerIP != 20 || d.Window != time.Minute || d.LockoutDuration != 5*time.Minute ||
		d.MaxLockoutDuration != time.Hour || d.MaxKeys != 100000 {
		t.Errorf("defaults = %+v", d)
	}
	if d := (auth.LockoutConfig{LockoutDuration: 2 * time.Hour}).WithDefaults(); d.MaxLockoutDuration != 2*time.Hour {
		t.Errorf("MaxLockoutDuration default under a 2h LockoutDuration = %s, want 2h", d.MaxLockoutDuration)
	}
	bad := auth.LockoutConfig{MaxFailures: 0, MaxFailuresPerIP: -1, Window: 0, LockoutDuration: time.Hour,
		MaxLockoutDuration: time.Minute, MaxKeys: 0}
	assertFieldErrors(t, bad.Validate(), "MaxFailures", "MaxFailuresPerIP", "Window", "MaxKeys") // a MaxLockoutDuration under LockoutDuration is raised, not refused
}

func BenchmarkLoginGuardCheck(b *testing.B) {
	g := auth.NewLoginGuard(auth.LockoutConfig{}, nil)
	for i := range 1000 {
		g.Failure(fmt.Sprint("user", i), "192.0.2.1")
	}
	for b.Loop() {
		g.Check("User500", "198.51.100.4")
	}
}

func BenchmarkLoginGuardFailure(b *testing.B) {
	g := auth.NewLoginGuard(auth.LockoutConfig{}, nil)
	users := make([]string, 4096)
	ips := make([]string, len(users))
	for i := range users {
		users[i] = fmt.Sprint("user", i)
		ips[i] = fmt.Sprintf("198.51.%d.%d", i/256, i%256)
	}
	i := 0
	for b.Loop() {
		g.Failure(users[i%len(users)], ips[i%len(ips)])
		i++
	}
}
