// Package periodic runs a job every interval, from Start to Stop: the
// background loop of the modules' retention and cleanup jobs.
package periodic

import (
	"context"
	"sync"
	"time"
)

// Loop runs a job every interval in a goroutine of its own, owned by the
// Loop: Start starts it, Stop cancels the job's context and waits for it.
// Both tolerate a second call; a stopped Loop can be started again.
type Loop struct {
	interval time.Duration
	runNow   bool
	job      func(ctx context.Context)

	mu      sync.Mutex
	running bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// New returns a loop that runs job every interval, and also at once on
// Start when runNow. job must return when its context ends.
func New(interval time.Duration, runNow bool, job func(ctx context.Context)) *Loop {
	return &Loop{interval: interval, runNow: runNow, job: job}
}

// Start starts the loop; on a running loop it does nothing.
func (l *Loop) Start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.running, l.cancel, l.done = true, cancel, make(chan struct{})
	go l.loop(ctx, l.done)
}

// Stop cancels a run in progress and waits for the loop to end, at most
// until ctx ends (then it returns ctx's error). On a stopped loop it does
// nothing.
func (l *Loop) Stop(ctx context.Context) error {
	l.mu.Lock()
	if !l.running {
		l.mu.Unlock()
		return nil
	}
	l.running = false
	cancel, done := l.cancel, l.done
	l.mu.Unlock()
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Loop) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(l.interval)
	defer t.Stop()
	if l.runNow {
		l.job(ctx)
	}
	for {
		select {
		case <-t.C:
			l.job(ctx)
		case <-ctx.Done():
			return
		}
	}
}
