package eventbus

import "strings"

// MatchTopic reports whether topic matches the MQTT topic filter: "+"
// matches exactly one level, a final "#" matches any number of levels
// (including none), other levels match literally. A filter of the form
// "$share/<group>/<filter>" matches as <filter>. Topics starting with "$"
// are not matched by filters starting with a wildcard (MQTT 4.7.2).
func MatchTopic(filter, topic string) bool {
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		_, f, found := strings.Cut(rest, "/")
		if !found {
			return false
		}
		filter = f
	}
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	fl := strings.Split(filter, "/")
	tl := strings.Split(topic, "/")
	for i, f := range fl {
		if f == "#" {
			return i == len(fl)-1
		}
		if i >= len(tl) {
			return false
		}
		if f != "+" && f != tl[i] {
			return false
		}
	}
	return len(fl) == len(tl)
}

// SharedFilter returns the shared-subscription form of filter for group
// ("$share/<group>/<filter>"): subscribers of one group split the
// messages, each delivered to one of them. An empty group returns filter.
func SharedFilter(group, filter string) string {
	if group == "" {
		return filter
	}
	return "$share/" + group + "/" + filter
}
