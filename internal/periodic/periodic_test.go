package periodic_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taylordash/taylordash/internal/periodic"
)

func TestLoop(t *testing.T) {
	var runs atomic.Int32
	blocked := make(chan struct{})
	l := periodic.New(10*time.Millisecond, true, func(ctx context.Context) {
		if runs.Add(1) == 3 {
			<-ctx.Done() // a long run, cut short by Stop
			close(blocked)
		}
	})
	l.Start()
	l.Start() // no second goroutine
	deadline := time.Now().Add(5 * time.Second)
	for runs.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d runs after 5s", runs.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if err := l.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-blocked
	if err := l.Stop(context.Background()); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	n := runs.Load()
	time.Sleep(30 * time.Millisecond)
	if runs.Load() != n {
		t.Fatal("the job ran after Stop")
	}

	// Not at once when runNow is false.
	var later atomic.Int32
	l2 := periodic.New(time.Hour, false, func(context.Context) { later.Add(1) })
	l2.Start()
	time.Sleep(20 * time.Millisecond)
	if err := l2.Stop(context.Background()); err != nil || later.Load() != 0 {
		t.Fatalf("runNow false: %d runs, %v", later.Load(), err)
	}
}

func TestStopWaitsAtMostUntilItsContextEnds(t *testing.T) {
	release := make(chan struct{})
	l := periodic.New(time.Hour, true, func(context.Context) { <-release }) // ignores its context
	l.Start()
	time.Sleep(10 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.Stop(ctx); err == nil {
		t.Fatal("Stop returned nil while the job still ran")
	}
	close(release)
}
