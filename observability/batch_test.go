package observability_test

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/taylordash/taylordash/observability"
)

func TestBatchProcessor(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	bp := observability.NewBatchProcessor(keepOnShutdown{exp}, observability.BatchOptions{MaxQueueSize: 4, MaxExportBatchSize: 2, ScheduleDelay: time.Hour})
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(bp))
	tr := tp.Tracer("t")

	// A full batch wakes the exporter at once, long before the delay.
	for range 2 {
		_, s := tr.Start(context.Background(), "batch")
		s.End()
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(exp.GetSpans()) < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := len(exp.GetSpans()); n != 2 {
		t.Fatalf("exported %d spans after a full batch, want 2", n)
	}

	// ForceFlush sends a partial batch.
	_, s := tr.Start(context.Background(), "partial")
	s.End()
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(exp.GetSpans()); n != 3 {
		t.Fatalf("exported %d spans after ForceFlush, want 3", n)
	}

	// Unsampled spans are not queued.
	unsampled := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()), sdktrace.WithSpanProcessor(bp))
	_, s = unsampled.Tracer("t").Start(context.Background(), "unsampled")
	s.End()

	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := bp.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	// After shutdown spans are dropped and counted.
	_, s = tr.Start(context.Background(), "late")
	bp.OnEnd(s.(sdktrace.ReadOnlySpan))
	if n, d := len(exp.GetSpans()), bp.Dropped(); n != 3 || d != 1 {
		t.Errorf("after shutdown: %d exported, %d dropped; want 3, 1", n, d)
	}
}

func TestBatchProcessorDropsWhenFull(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	// The batch size equals the queue: the exporter is woken only when the
	// queue is full, so further spans (before it drains) may be dropped.
	bp := observability.NewBatchProcessor(exp, observability.BatchOptions{MaxQueueSize: 3, MaxExportBatchSize: 3, ScheduleDelay: time.Hour})
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(bp))
	for range 100 {
		_, s := tp.Tracer("t").Start(context.Background(), "s")
		s.End()
	}
	if err := bp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := int64(len(exp.GetSpans())) + bp.Dropped(); got != 100 {
		t.Errorf("exported %d + dropped %d = %d, want 100", len(exp.GetSpans()), bp.Dropped(), got)
	}
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
