// Command publish is a test plugin that handles events and publishes one
// for each.
package main

import (
	"encoding/json"

	"github.com/taylordash/taylordash/pluginhost/sdk"
)

func init() {
	sdk.HandleEvent(func(ev sdk.Event) error {
		var payload map[string]any
		if err := json.Unmarshal(ev.Payload, &payload); err != nil {
			return err
		}
		sdk.Logf(sdk.LevelInfo, "event %s of kind %s", ev.ID, ev.Kind)
		return sdk.Publish("project_seen", map[string]any{"event_id": ev.ID, "topic": ev.Topic, "name": payload["name"]})
	})
}

//go:wasmexport td_publish
func publish(n int32) int32 {
	return sdk.Serve(n, func(in []byte) ([]byte, error) {
		return nil, sdk.Publish("greeting", map[string]string{"text": string(in)})
	})
}

func main() {}
