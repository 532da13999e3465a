package eventbuspg_test

import (
	"context"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/taylordash/taylordash/eventbus"
)

// countingProvider is a MeterProvider whose Int64 counters add up, by
// instrument name and attribute set; the rest is noop.
type countingProvider struct {
	noop.MeterProvider
	mu     sync.Mutex
	counts map[string]int64
}

func newCountingProvider() *countingProvider {
	return &countingProvider{counts: map[string]int64{}}
}

func (p *countingProvider) Meter(string, ...metric.MeterOption) metric.Meter {
	return countingMeter{p: p}
}

// get returns the count of name with attrs ("" for none), e.g.
// get("taylordash.events.dead_letters", "reason=not_json").
func (p *countingProvider) get(name, attrs string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[name+"|"+attrs]
}

type countingMeter struct {
	noop.Meter
	p *countingProvider
}

func (m countingMeter) Int64Counter(name string, _ ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	return countingCounter{p: m.p, name: name}, nil
}

type countingCounter struct {
	noop.Int64Counter
	p    *countingProvider
	name string
}

func (c countingCounter) Add(_ context.Context, n int64, opts ...metric.AddOption) {
	set := metric.NewAddConfig(opts).Attributes()
	key := c.name + "|" + string(set.Encoded(attribute.DefaultEncoder()))
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	c.p.counts[key] += n
}

func TestMetricsCountStoredDuplicatesAndDeadLetters(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	batch := []*eventbus.Event{
		newEvent(t, "tracker/events/a/b", "k", "m1", ""),
		newEvent(t, "tracker/events/a/b", "k", "m2", ""),
		newEvent(t, "tracker/events/a/b", "k", "m1", ""),
	}
	if err := b.mirror.Record(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if got := b.metrics.get("taylordash.events.mirror.stored", ""); got != 2 {
		t.Errorf("stored = %d, want 2", got)
	}
	if got := b.metrics.get("taylordash.events.mirror.duplicates", ""); got != 1 {
		t.Errorf("duplicates = %d, want 1", got)
	}
	err := b.dlq.Put(ctx, []eventbus.DeadLetter{
		{Topic: "t", Payload: []byte("x"), Reason: eventbus.ReasonNotJSON},
		{Topic: "t", Payload: []byte("y"), Reason: "something new"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.metrics.get("taylordash.events.dead_letters", "reason=not_json"); got != 1 {
		t.Errorf("dead letters{reason=not_json} = %d, want 1", got)
	}
	if got := b.metrics.get("taylordash.events.dead_letters", "reason=other"); got != 1 {
		t.Errorf("dead letters{reason=other} = %d, want 1 (an unknown reason must not become a label)", got)
	}
}
