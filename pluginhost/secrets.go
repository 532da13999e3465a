package pluginhost

import (
	"encoding/json"
)

// Masked replaces a secret configuration value in responses.
const Masked = "********"

// MaskSecrets returns config with the values of every property that
// schema (a config_schema) marks secret replaced by [Masked]. A property
// is secret when its schema has "writeOnly": true (JSON Schema's marker
// for values that are written, never read back) or "x-secret": true.
// Nested objects are followed through "properties"; other keywords
// ($ref, allOf, patternProperties) are not, so put secrets in plain
// properties. Invalid JSON is returned as {}; config is never modified.
func MaskSecrets(schema, config json.RawMessage) json.RawMessage {
	var s map[string]any
	if json.Unmarshal(schema, &s) != nil {
		return config
	}
	var c any
	if json.Unmarshal(config, &c) != nil {
		return json.RawMessage(`{}`)
	}
	if !maskValue(s, &c) {
		return config
	}
	out, err := json.Marshal(c)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return out
}

// maskValue masks v in place according to schema s and reports whether
// anything changed.
func maskValue(s map[string]any, v *any) bool {
	if isSecret(s) {
		if *v == nil {
			return false
		}
		*v = Masked
		return true
	}
	props, _ := s["properties"].(map[string]any)
	obj, ok := (*v).(map[string]any)
	if !ok || props == nil {
		return false
	}
	changed := false
	for name, ps := range props {
		sub, ok := ps.(map[string]any)
		if !ok {
			continue
		}
		val, present := obj[name]
		if !present {
			continue
		}
		if maskValue(sub, &val) {
			obj[name] = val
			changed = true
		}
	}
	return changed
}

func isSecret(s map[string]any) bool {
	return s["writeOnly"] == true || s["x-secret"] == true
}
