package pluginhost_test

import (
	"errors"
	"fmt"

	"github.com/taylordash/taylordash/pluginhost"
)

// ParseManifest names every field that breaks a rule.
func ExampleParseManifest() {
	_, err := pluginhost.ParseManifest([]byte(`{
		"id": "weather-widget", "name": "Weather", "version": "1.0.0",
		"description": "Shows the weather", "author": "Ann",
		"type": "ui", "entry_point": "../index.html",
		"permissions": ["read:projects", "read:everything"],
		"allowed_origins": ["https://api.weather.example/v1"],
		"taylordash_version": "^1.0.0"
	}`), pluginhost.ManifestCheck{HostVersion: "1.2.0"})
	var me *pluginhost.ManifestError
	if errors.As(err, &me) {
		for _, p := range me.Problems {
			fmt.Printf("%s: %s\n", p.Field, p.Rule)
		}
	}

	m := &pluginhost.Manifest{AllowedOrigins: []string{"https://api.weather.example"}}
	fmt.Println(m.AllowsOrigin("https://api.weather.example/v1/today"))
	fmt.Println(m.AllowsOrigin("https://api.weather.example.evil.net/"))
	// Output:
	// allowed_origins[0]: must be only scheme://host[:port], without user, path, query or fragment
	// entry_point: must not contain .. segments
	// permissions[1]: must be one of read:projects, write:projects, read:events, publish:events, read:logs, read:system, network:http, network:websocket, storage:local, plugin:messaging, system:clock, system:random
	// true
	// false
}
