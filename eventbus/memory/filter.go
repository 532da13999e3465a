package memory

import (
	"fmt"
	"strings"
)

// validTopic checks a topic name: not empty, no wildcard, no NUL.
func validTopic(topic string) error {
	if topic == "" || strings.ContainsAny(topic, "+#\x00") {
		return fmt.Errorf("memory: invalid topic %q: a topic is not empty and holds no wildcard (+, #) and no NUL", topic)
	}
	return nil
}

// validFilter checks an MQTT topic filter, possibly shared
// ("$share/<group>/<filter>"): "+" must be a whole level, "#" a whole last
// level.
func validFilter(filter string) error {
	bad := func(why string) error { return fmt.Errorf("memory: invalid filter %q: %s", filter, why) }
	inner := filter
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		group, f, found := strings.Cut(rest, "/")
		if !found || group == "" || strings.ContainsAny(group, "+#") {
			return bad("a shared filter is $share/<group>/<filter>, the group not empty and without wildcards")
		}
		inner = f
	}
	if inner == "" || strings.Contains(inner, "\x00") {
		return bad("a filter is not empty and holds no NUL")
	}
	levels := strings.Split(inner, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return bad("# must be the last level")
		case l != "#" && strings.Contains(l, "#"), l != "+" && strings.Contains(l, "+"):
			return bad("a wildcard must be a whole level")
		}
	}
	return nil
}
