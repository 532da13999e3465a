package mqtt

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrNotConnected is returned by Publish while the publishing
	// connection is down (the client reconnects by itself; the caller
	// retries, as the outbox does) and by Check.
	ErrNotConnected = errors.New("mqtt: not connected to the broker")
	// ErrClosed is returned by Publish and Subscribe after Stop or Close.
	ErrClosed = errors.New("mqtt: client closed")
)

// SubscribeError reports a filter the broker refused (SUBACK 0x80): a
// filter it does not support or an ACL that denies it.
type SubscribeError struct {
	// Filter is the filter as sent to the broker (with TopicPrefix and
	// $share).
	Filter string
}

// Error implements error.
func (e *SubscribeError) Error() string {
	return fmt.Sprintf("mqtt: the broker refused the subscription to %s (SUBACK 0x80): check the broker's ACL and that it supports the filter", e.Filter)
}

// validTopic checks a topic name: not empty, no wildcard, no NUL. A
// wildcard in a PUBLISH makes the broker drop the connection.
func validTopic(topic string) error {
	if topic == "" || strings.ContainsAny(topic, "+#\x00") {
		return fmt.Errorf("mqtt: invalid topic %q: a topic is not empty and holds no wildcard (+, #) and no NUL", topic)
	}
	return nil
}

// splitFilter checks an MQTT filter and splits a shared one
// ("$share/<group>/<filter>") into group and filter.
func splitFilter(filter string) (group, inner string, err error) {
	bad := func(why string) error { return fmt.Errorf("mqtt: invalid filter %q: %s", filter, why) }
	inner = filter
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		var found bool
		group, inner, found = strings.Cut(rest, "/")
		if !found || group == "" || strings.ContainsAny(group, "+#") {
			return "", "", bad("a shared filter is $share/<group>/<filter>, the group not empty and without wildcards")
		}
	}
	if inner == "" || strings.Contains(inner, "\x00") {
		return "", "", bad("a filter is not empty and holds no NUL")
	}
	levels := strings.Split(inner, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return "", "", bad("# must be the last level")
		case l != "#" && strings.Contains(l, "#"), l != "+" && strings.Contains(l, "+"):
			return "", "", bad("a wildcard must be a whole level")
		}
	}
	return group, inner, nil
}
