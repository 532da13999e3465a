package eventbus_test

import (
	"testing"

	"github.com/taylordash/taylordash/eventbus"
)

// The examples of MQTT 3.1.1, section 4.7 (topic names and filters), and
// the edge cases brokers agree on: empty levels are levels, "#" matches
// the parent level, and wildcards at the start do not match "$" topics.
func TestMatchTopicSpecExamples(t *testing.T) {
	for _, c := range []struct {
		filter, topic string
		want          bool
	}{
		// 4.7.1.2 multi-level wildcard
		{"sport/tennis/player1/#", "sport/tennis/player1", true},
		{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
		{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
		{"sport/#", "sport", true},
		{"#", "sport/tennis", true},
		{"#", "/", true},
		// 4.7.1.3 single-level wildcard
		{"sport/tennis/+", "sport/tennis/player1", true},
		{"sport/tennis/+", "sport/tennis/player2", true},
		{"sport/tennis/+", "sport/tennis/player1/ranking", false},
		{"sport/+", "sport", false},
		{"sport/+", "sport/", true},
		{"+", "sport", true},
		{"+/tennis/#", "sport/tennis/player1", true},
		{"sport/+/player1", "sport/tennis/player1", true},
		{"/finance", "/finance", true},
		{"+/+", "/finance", true},
		{"/+", "/finance", true},
		{"+", "/finance", false},
		{"a/+/b", "a//b", true},
		{"a/+/b", "a/b", false},
		// 4.7.2 topics beginning with $
		{"#", "$SYS/broker/clients", false},
		{"+/monitor/Clients", "$SYS/monitor/Clients", false},
		{"$SYS/#", "$SYS/broker/clients", true},
		{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
		// 4.7.3 case-sensitive, no normalisation
		{"ACCOUNTS", "Accounts", false},
		{"a/b", "a/b/", false},
		{"a/b/", "a/b", false},
		// shared subscriptions match as their filter
		{"$share/g/sport/#", "sport/tennis", true},
		{"$share/g/sport/+", "sport/tennis/x", false},
		{"$share/g/#", "$SYS/x", false},
	} {
		if got := eventbus.MatchTopic(c.filter, c.topic); got != c.want {
			t.Errorf("MatchTopic(%q, %q) = %v, want %v", c.filter, c.topic, got, c.want)
		}
	}
}

func TestSharedFilterForm(t *testing.T) {
	f := eventbus.SharedFilter("ingest", "tracker/events/#")
	if f != "$share/ingest/tracker/events/#" {
		t.Fatalf("SharedFilter = %q", f)
	}
	if !eventbus.MatchTopic(f, "tracker/events/a") {
		t.Error("a shared filter does not match as its filter")
	}
}
