package eventbustest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbustest"
	"github.com/taylordash/taylordash/eventbus/memory"
)

const window = 10

// memoryTransport is the memory broker, optionally wrapped by a mutant.
func memoryTransport(mutant string) eventbustest.Transport {
	b := memory.New()
	features := eventbustest.Features{SharedSubscriptions: true, ImmediateNack: true, RedeliveredFlag: true}
	if mutant == "splitting" {
		// Declared without shared subscriptions, the memory broker still
		// splits a group's messages: a member misses some.
		features.SharedSubscriptions = false
	}
	return eventbustest.Transport{
		Name: "memory+" + mutant,
		NewPublisher: func(t *testing.T) eventbus.Publisher {
			p := b.Publisher()
			switch mutant {
			case "lossy":
				return &lossyPublisher{Publisher: p}
			case "unclosable":
				return unclosablePublisher{p}
			}
			return p
		},
		NewSubscriber: func(t *testing.T, id string) eventbus.Subscriber {
			s := b.Subscriber(t.Name()+"/"+id, window)
			if mutant == "autoack" {
				return autoAckSubscriber{s}
			}
			return s
		},
		Topic: func(t *testing.T, parts ...string) string {
			return t.Name() + "/" + strings.Join(parts, "/")
		},
		Window:   window,
		Features: features,
		Timeout:  20 * time.Second,
	}
}

// lossyPublisher drops one message in 97 and says it sent it.
type lossyPublisher struct {
	eventbus.Publisher
	n atomic.Int64
}

func (p *lossyPublisher) Publish(ctx context.Context, topic string, payload []byte) error {
	if p.n.Add(1)%97 == 0 {
		return nil
	}
	return p.Publisher.Publish(ctx, topic, payload)
}

// unclosablePublisher ignores Close.
type unclosablePublisher struct{ eventbus.Publisher }

func (unclosablePublisher) Close() error { return nil }

// autoAckSubscriber acks every message as it arrives, before the consumer
// sees it: no window, no redelivery.
type autoAckSubscriber struct{ eventbus.Subscriber }

func (s autoAckSubscriber) Subscribe(ctx context.Context, filter string) (<-chan *eventbus.Message, error) {
	in, err := s.Subscriber.Subscribe(ctx, filter)
	if err != nil {
		return nil, err
	}
	out := make(chan *eventbus.Message, 100000)
	go func() {
		defer close(out)
		for m := range in {
			m.Ack()
			out <- eventbus.NewMessage(m.Topic, m.Payload, nil, nil)
		}
	}()
	return out, nil
}

// TestMutant runs the suite against the transport named by
// EVENTBUSTEST_MUTANT; TestSuiteCatchesBrokenTransports runs it in a child
// process and expects failures.
func TestMutant(t *testing.T) {
	mutant := os.Getenv("EVENTBUSTEST_MUTANT")
	if mutant == "" {
		t.Skip("run by TestSuiteCatchesBrokenTransports")
	}
	tr := memoryTransport(mutant)
	tr.Timeout = 5 * time.Second // what a mutant loses never arrives
	eventbustest.Run(t, tr)
}

// The suite passes a correct transport and fails broken ones, in the
// subtests that check what they break.
func TestSuiteCatchesBrokenTransports(t *testing.T) {
	t.Run("correct", func(t *testing.T) {
		eventbustest.Run(t, memoryTransport("none"))
	})
	if testing.Short() {
		t.Skip("the mutants run in child processes")
	}
	for mutant, mustFail := range map[string][]string{
		"lossy":      {"OrderOneThousand", "ConcurrentPublishers"},
		"unclosable": {"PublishAfterCloseFails"},
		"autoack":    {"BackPressureWindow", "UnsettledRedeliveredFirst", "NackRedelivers"},
		"splitting":  {"SharedSubscription"},
	} {
		t.Run(mutant, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestMutant$", "-test.v")
			cmd.Env = append(os.Environ(), "EVENTBUSTEST_MUTANT="+mutant)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed the %s transport:\n%s", mutant, out)
			}
			for _, name := range mustFail {
				if !strings.Contains(string(out), "--- FAIL: TestMutant/"+name+" ") {
					t.Errorf("the %s transport did not fail %s:\n%s", mutant, name, tail(out))
				}
			}
		})
	}
}

func tail(b []byte) string {
	lines := strings.Split(string(b), "\n")
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	return strings.Join(lines, "\n")
}
