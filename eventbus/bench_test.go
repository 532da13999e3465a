package eventbus_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/eventbus/mqtt"
	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

// benchBrokerConfig is the private Mosquitto of BenchmarkEventBus, after
// the lines mosquittolocal writes (persistence true, with its
// persistence_location): configured for throughput, the broker sends a
// subscriber up to 1000 unacknowledged messages (the client's default
// Window, twice the pipeline's default batch) and queues without limit.
const benchBrokerConfig = "autosave_interval 60\n" +
	"max_queued_messages 0\n" +
	"max_inflight_messages 1000\n" +
	"persistent_client_expiration 1h\n"

// benchInFlight is how many publications the benchmark publisher keeps
// in flight (goroutines, each waiting for its PUBACK).
const benchInFlight = 100

// BenchmarkEventBus measures, in one run on one broker and one database:
//
//   - broker: the ceiling, a publisher and a subscriber (the same MQTT
//     client as the pipeline's) that only counts and acknowledges;
//   - pipeline: the same publisher and the ingest pipeline storing into
//     events_mirror, latency measured by a route (routes run after the
//     commit), so publish → stored;
//   - pipeline-paced-5000: the pipeline with the publisher paced at a
//     fixed 5,000 events/s, for the latency at that rate;
//   - pipeline-traced: the pipeline with an SDK tracer provider sampling
//     every message (a consumer span and a store span per message, a span
//     per batch, exported in batches to a discarding exporter), for the
//     cost of tracing; the other runs use no provider.
//
// Each iteration is one event (run with -benchtime 20000x). Latency is
// from the stamp the publisher writes in the payload just before Publish.
func BenchmarkEventBus(b *testing.B) {
	broker := startBroker(b, benchBrokerConfig)
	db := testkit.Postgres(b, eventbuspg.Migrations)
	var run atomic.Int64
	prefix := func() string { return fmt.Sprintf("bench/%d/", run.Add(1)) }

	b.Run("broker", func(b *testing.B) {
		pfx := prefix()
		sub := startClient(b, mqtt.Config{URL: broker.URL(), ClientID: clientID(b, "sub") + pfx[6:len(pfx)-1], TopicPrefix: pfx, WillTopic: "-"})
		sink := newLatencySink(b.N)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch, err := sub.Subscribe(ctx, "tracker/events/#")
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			for m := range ch {
				sink.record(m.Payload)
				m.Ack()
			}
		}()
		benchPublish(b, broker.URL(), pfx, 0, sink)
	})

	pipelineRun := func(rate int, traced bool) func(b *testing.B) {
		return func(b *testing.B) {
			pfx := prefix()
			if _, err := db.DB.Exec(context.Background(), "TRUNCATE events_mirror"); err != nil {
				b.Fatal(err)
			}
			sink := newLatencySink(b.N)
			var tp trace.TracerProvider
			if traced {
				sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
				defer func() { _ = sdk.Shutdown(context.Background()) }()
				tp = sdk
			}
			stop := startBenchPipeline(b, broker.URL(), pfx, db.DB, sink, tp)
			benchPublish(b, broker.URL(), pfx, rate, sink)
			stop()
			if n := count(b, db.DB, "SELECT count(*) FROM events_mirror"); n != b.N {
				b.Fatalf("events_mirror holds %d rows, want %d: events were lost", n, b.N)
			}
		}
	}
	b.Run("pipeline", pipelineRun(0, false))
	b.Run("pipeline-paced-5000", pipelineRun(5000, false))
	b.Run("pipeline-traced", pipelineRun(0, true))
}

// startBenchPipeline starts the ingest pipeline with one route, which
// records each event's latency into sink, tracing with tp if not nil;
// stop ends it.
func startBenchPipeline(b *testing.B, url, prefix string, db *store.DB, sink *latencySink, tp trace.TracerProvider) (stop func()) {
	b.Helper()
	client := startClient(b, mqtt.Config{URL: url, ClientID: clientID(b, "app") + prefix[6:len(prefix)-1], TopicPrefix: prefix, WillTopic: "-"})
	in, err := eventbus.NewIngest(eventbus.IngestOptions{
		Subscriber:  client,
		Publisher:   client,
		Recorder:    eventbuspg.NewMirror(db),
		DeadLetters: eventbuspg.NewDeadLetterStore(db),
		Routes: []eventbus.Route{{Name: "latency", Pattern: "tracker/events/#", Handler: func(_ context.Context, ev *eventbus.Event) error {
			sink.record(ev.Raw)
			return nil
		}}},
		Logger:         testkit.NewLogger(b),
		TracerProvider: tp,
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := in.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := in.Stop(ctx); err != nil {
			b.Error(err)
		}
	}
}

// benchPublish publishes b.N events from benchInFlight goroutines, as
// fast as the broker acknowledges them (rate 0) or rate events a second,
// waits until sink has seen all of them, and reports throughput and
// latency.
func benchPublish(b *testing.B, url, prefix string, rate int, sink *latencySink) {
	b.Helper()
	pub := startClient(b, mqtt.Config{URL: url, ClientID: clientID(b, "pub") + prefix[6:len(prefix)-1], TopicPrefix: prefix, CleanSession: true, WillTopic: "-"})
	// Everything but the stamp is made before the clock starts.
	heads := make([][]byte, b.N)
	u := uuid.New()
	trace := hex.EncodeToString(u[:])
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	for i := range heads {
		id := uuid.Must(uuid.NewV7()).String()
		heads[i] = fmt.Appendf(nil, `{"id":%q,"trace_id":%q,"ts":%q,"kind":"bench_event","idempotency_key":%q,"source":"bench","payload":{"seq":%d,"sent_ns":`,
			id, trace, ts, id, i)
	}
	topics := make([]string, 10)
	for i := range topics {
		topics[i] = "tracker/events/bench/" + strconv.Itoa(i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	jobs := make(chan int, benchInFlight)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range benchInFlight {
		wg.Go(func() {
			for i := range jobs {
				payload := strconv.AppendInt(heads[i], time.Now().UnixNano(), 10)
				payload = append(payload, "}}"...)
				for pub.Publish(ctx, topics[i%len(topics)], payload) != nil {
					if ctx.Err() != nil {
						failed.Add(1)
						break
					}
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	b.ResetTimer()
	start := time.Now()
	var interval time.Duration
	if rate > 0 {
		interval = time.Second / time.Duration(rate)
	}
	for i := range b.N {
		if interval > 0 {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	published := time.Since(start)
	select {
	case <-sink.done:
	case <-ctx.Done():
		b.Fatalf("only %d of %d events arrived", sink.n.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d publications failed", failed.Load())
	}
	lat := sink.sorted()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/published.Seconds(), "published/s")
	b.ReportMetric(ms(lat[len(lat)*50/100]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(float64(sink.dups.Load()), "duplicates")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// latencySink records the latency of each event the first time it is
// seen, from the sent_ns stamp in its payload, and closes done once n
// distinct events were seen. record is called by one goroutine at a time.
type latencySink struct {
	seen []bool
	lat  []time.Duration
	n    atomic.Int64
	dups atomic.Int64
	done chan struct{}
}

func newLatencySink(n int) *latencySink {
	return &latencySink{seen: make([]bool, n), lat: make([]time.Duration, 0, n), done: make(chan struct{})}
}

var (
	seqField  = []byte(`"seq":`)
	sentField = []byte(`"sent_ns":`)
)

func (s *latencySink) record(payload []byte) {
	now := time.Now().UnixNano()
	seq, sent := intField(payload, seqField), intField(payload, sentField)
	if seq < 0 || seq >= int64(len(s.seen)) {
		return
	}
	if s.seen[seq] {
		s.dups.Add(1)
		return
	}
	s.seen[seq] = true
	s.lat = append(s.lat, time.Duration(now-sent))
	if s.n.Add(1) == int64(len(s.seen)) {
		close(s.done)
	}
}

// sorted returns the latencies in order; call it after done.
func (s *latencySink) sorted() []time.Duration {
	out := slices.Clone(s.lat)
	slices.Sort(out)
	return out
}

// intField returns the integer after field in payload, or -1.
func intField(payload, field []byte) int64 {
	i := bytes.Index(payload, field)
	if i < 0 {
		return -1
	}
	rest := payload[i+len(field):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	if err != nil {
		return -1
	}
	return n
}
