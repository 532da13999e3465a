package logspg

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/slogtest"
	"time"
)

// TestQueueIsAHandler runs slog's conformance tests on the queue, reading
// back what it holds.
func TestQueueIsAHandler(t *testing.T) {
	var q *Queue
	slogtest.Run(t, func(*testing.T) slog.Handler {
		q = NewQueue(QueueConfig{Level: slog.LevelDebug})
		return q
	}, func(t *testing.T) map[string]any {
		entries := q.peek(nil, 10)
		if len(entries) != 1 {
			t.Fatalf("queue holds %d entries, want 1", len(entries))
		}
		e := entries[0]
		m := map[string]any{}
		if len(e.Attributes) > 0 {
			if err := json.Unmarshal(e.Attributes, &m); err != nil {
				t.Fatalf("attributes %s: %v", e.Attributes, err)
			}
		}
		// The table needs a time, so the queue stamps a record without
		// one on arrival: slog's "ignore a zero time" case sees none.
		if !strings.HasSuffix(t.Name(), "zero-time") {
			m[slog.TimeKey] = e.Time
		}
		m[slog.LevelKey] = e.Level
		m[slog.MessageKey] = e.Message
		return m
	})
}

func TestQueueRing(t *testing.T) {
	q := NewQueue(QueueConfig{Capacity: 3})
	for i := range 5 {
		q.Enqueue(Entry{Message: string(rune('a' + i))})
	}
	if q.Len() != 3 || q.Dropped() != 2 || q.Enqueued() != 3 {
		t.Fatalf("len %d, dropped %d, enqueued %d; want 3, 2, 3", q.Len(), q.Dropped(), q.Enqueued())
	}
	got := q.peek(nil, 2)
	if len(got) != 2 || got[0].Message != "a" || got[1].Message != "b" {
		t.Fatalf("peek = %v", got)
	}
	q.commit(2)
	q.Enqueue(Entry{Message: "f"})
	q.Enqueue(Entry{Message: "g"})
	var msgs []string
	for _, e := range q.peek(nil, 10) {
		msgs = append(msgs, e.Message)
	}
	if strings.Join(msgs, "") != "cfg" {
		t.Errorf("after wrapping around the queue holds %q, want cfg", msgs)
	}
}

func TestQueueCaps(t *testing.T) {
	q := NewQueue(QueueConfig{MaxMessageBytes: 5, MaxAttributesBytes: 40})
	slog.New(q).Info("héllo world", slog.String("big", strings.Repeat("x", 100)))
	e := q.peek(nil, 1)[0]
	if e.Message != "héll…" {
		t.Errorf("message = %q, want it cut on a rune boundary", e.Message)
	}
	if string(e.Attributes) != `{"_truncated":true,"_size":110}` {
		t.Errorf("attributes = %s", e.Attributes)
	}
}

// BenchmarkQueueHandle is the cost of one log call into the queue, with a
// consumer keeping it from filling ("enqueue"), and with a full queue
// (the outage path, "drop").
func BenchmarkQueueHandle(b *testing.B) {
	ctx := context.Background()
	attrs := []slog.Attr{slog.String("method", "GET"), slog.String("route", "/api/v1/projects/{id}"),
		slog.Int("status", 200), slog.Duration("duration", 1234*time.Microsecond)}
	run := func(b *testing.B, q *Queue) {
		log := slog.New(q).With(slog.String("module", "bench"))
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			log.LogAttrs(ctx, slog.LevelInfo, "request served", attrs...)
		}
	}
	// slog's own cost of the same call (record, caller PC), for reference.
	b.Run("baseline-discard", func(b *testing.B) {
		log := slog.New(enabledDiscard{}).With(slog.String("module", "bench"))
		b.ReportAllocs()
		for b.Loop() {
			log.LogAttrs(ctx, slog.LevelInfo, "request served", attrs...)
		}
	})
	b.Run("enqueue", func(b *testing.B) {
		q := NewQueue(QueueConfig{})
		stop := drain(q)
		defer stop()
		run(b, q)
	})
	b.Run("drop", func(b *testing.B) {
		q := NewQueue(QueueConfig{Capacity: 1})
		q.Enqueue(Entry{})
		run(b, q)
	})
	b.Run("enqueue-parallel", func(b *testing.B) {
		q := NewQueue(QueueConfig{})
		stop := drain(q)
		defer stop()
		log := slog.New(q).With(slog.String("module", "bench"))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				log.LogAttrs(ctx, slog.LevelInfo, "request served", attrs...)
			}
		})
	})
}

// drain empties q continuously until stop is called, as a writer would.
func drain(q *Queue) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]Entry, 0, 500)
		for {
			buf = q.peek(buf[:0], 500)
			q.commit(len(buf))
			if len(buf) == 0 {
				select {
				case <-q.signal:
				case <-done:
					return
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// enabledDiscard is slog.DiscardHandler but enabled, so that slog builds
// the record.
type enabledDiscard struct{}

func (enabledDiscard) Enabled(context.Context, slog.Level) bool  { return true }
func (enabledDiscard) Handle(context.Context, slog.Record) error { return nil }
func (h enabledDiscard) WithAttrs([]slog.Attr) slog.Handler      { return h }
func (h enabledDiscard) WithGroup(string) slog.Handler           { return h }
