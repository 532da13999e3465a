package eventbus_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/taylordash/taylordash/eventbus"
)

// feed is a Subscriber whose one subscription delivers the messages put
// on ch.
type feed struct{ ch chan *eventbus.Message }

func (f feed) Subscribe(context.Context, string) (<-chan *eventbus.Message, error) { return f.ch, nil }
func (f feed) Close() error                                                        { return nil }

// nopStore stores nothing and fails nothing.
type nopStore struct{}

func (nopStore) Record(context.Context, []*eventbus.Event) error  { return nil }
func (nopStore) Put(context.Context, []eventbus.DeadLetter) error { return nil }

// BenchmarkIngestOverhead measures the ingest pipeline's own CPU per
// message, without a broker or a database (a store that does nothing):
// parsing, batching, the middleware, a route, the metrics and, in the
// traced runs, the spans (an SDK provider sampling everything, exported
// in batches to a discarding exporter), for messages with and without a
// traceparent. The difference between "untraced" and the traced runs is
// the cost of tracing per message.
func BenchmarkIngestOverhead(b *testing.B) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: [16]byte{1, 2, 3}, SpanID: [8]byte{4, 5, 6}, TraceFlags: trace.FlagsSampled})
	traceparent := fmt.Sprintf("00-%s-%s-01", sc.TraceID(), sc.SpanID())
	for _, c := range []struct {
		name        string
		traced      bool
		traceparent string
	}{
		{"untraced", false, ""},
		{"traced", true, ""},
		{"traced-traceparent", true, traceparent},
	} {
		b.Run(c.name, func(b *testing.B) {
			var tp trace.TracerProvider
			if c.traced {
				sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
				defer func() { _ = sdk.Shutdown(context.Background()) }()
				tp = sdk
			}
			msgs := make([]*eventbus.Message, b.N)
			var acked atomic.Int64
			var wg sync.WaitGroup
			wg.Add(b.N)
			ts := time.Now().UTC().Format(time.RFC3339Nano)
			for i := range msgs {
				tpField := ""
				if c.traceparent != "" {
					tpField = `,"traceparent":"` + c.traceparent + `"`
				}
				raw := fmt.Appendf(nil, `{"id":"0190a6f0-0000-7000-8000-%012d","trace_id":"0af7651916cd43dd8448eb211c80319c","ts":%q,"kind":"bench","idempotency_key":"k%d","source":"bench","payload":{"seq":%d}%s}`,
					i, ts, i, i, tpField)
				msgs[i] = eventbus.NewMessage("tracker/events/bench/1", raw, func() { acked.Add(1); wg.Done() }, nil)
			}
			f := feed{ch: make(chan *eventbus.Message, 1000)}
			in, err := eventbus.NewIngest(eventbus.IngestOptions{
				Config:      eventbus.Config{Subscribe: []string{"tracker/events/#"}, BatchLatency: time.Millisecond},
				Subscriber:  f,
				Recorder:    nopStore{},
				DeadLetters: nopStore{},
				Routes: []eventbus.Route{{Name: "count", Pattern: "tracker/events/#", Handler: func(context.Context, *eventbus.Event) error {
					return nil
				}}},
				TracerProvider: tp,
			})
			if err != nil {
				b.Fatal(err)
			}
			if err := in.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for _, m := range msgs {
				f.ch <- m
			}
			wg.Wait()
			b.StopTimer()
			close(f.ch) // as a transport does when its subscription ends
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := in.Stop(ctx); err != nil {
				b.Fatal(err)
			}
			if acked.Load() != int64(b.N) {
				b.Fatalf("%d of %d acked", acked.Load(), b.N)
			}
		})
	}
}
