package eventbus

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// funcPublisher publishes by calling f: the breaker's logic is what is
// under test, not a transport.
type funcPublisher func(ctx context.Context, topic string, payload []byte) error

func (f funcPublisher) Publish(ctx context.Context, topic string, payload []byte) error {
	return f(ctx, topic, payload)
}
func (f funcPublisher) Close() error { return nil }

func TestCircuitBreakerOpensAndRecovers(t *testing.T) {
	var calls atomic.Int32
	var down atomic.Bool
	down.Store(true)
	var states []string
	pub := CircuitBreaker(funcPublisher(func(context.Context, string, []byte) error {
		calls.Add(1)
		if down.Load() {
			return errors.New("broker unreachable")
		}
		return nil
	}), BreakerConfig{Failures: 3, CoolDown: 50 * time.Millisecond, OnStateChange: func(s string) { states = append(states, s) }})

	ctx := context.Background()
	for range 3 {
		if err := pub.Publish(ctx, "t", nil); err == nil || errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("a failing call must return the broker's error, got %v", err)
		}
	}
	start := time.Now()
	if err := pub.Publish(ctx, "t", nil); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("after 3 failures: %v, want ErrCircuitOpen", err)
	}
	if calls.Load() != 3 || time.Since(start) > 10*time.Millisecond {
		t.Fatalf("an open circuit must not call the broker (calls %d)", calls.Load())
	}
	down.Store(false)
	time.Sleep(60 * time.Millisecond)
	if err := pub.Publish(ctx, "t", nil); err != nil {
		t.Fatalf("after the cool-down the trial call must go through: %v", err)
	}
	if err := pub.Publish(ctx, "t", nil); err != nil {
		t.Fatalf("closed again: %v", err)
	}
	if len(states) < 3 || states[0] != "open" || states[1] != "half-open" || states[2] != "closed" {
		t.Fatalf("state changes %v", states)
	}
}

func TestCircuitBreakerIgnoresCallerCancellation(t *testing.T) {
	pub := CircuitBreaker(funcPublisher(func(ctx context.Context, _ string, _ []byte) error { return ctx.Err() }), BreakerConfig{Failures: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 3 {
		if err := pub.Publish(ctx, "t", nil); errors.Is(err, ErrCircuitOpen) {
			t.Fatal("a caller's cancellation opened the circuit")
		}
	}
}
