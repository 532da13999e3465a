package pluginhost_test

import (
	"encoding/json"
	"testing"

	"github.com/taylordash/taylordash/pluginhost"
)

func TestMaskSecrets(t *testing.T) {
	schema := json.RawMessage(`{"type":"object","properties":{
		"apiKey":{"type":"string","writeOnly":true},
		"endpoint":{"type":"string"},
		"db":{"type":"object","properties":{"password":{"type":"string","x-secret":true},"host":{"type":"string"}}}}}`)
	config := json.RawMessage(`{"apiKey":"sk-live-123","endpoint":"https://x.example","db":{"password":"hunter2","host":"db"},"extra":1}`)
	got := pluginhost.MaskSecrets(schema, config)
	var m map[string]any
	if err := json.Unmarshal(got, &m); err != nil {
		t.Fatal(err)
	}
	db := m["db"].(map[string]any)
	if m["apiKey"] != pluginhost.Masked || db["password"] != pluginhost.Masked || m["endpoint"] != "https://x.example" || db["host"] != "db" || m["extra"] != float64(1) {
		t.Errorf("masked = %s", got)
	}
	if string(config) != `{"apiKey":"sk-live-123","endpoint":"https://x.example","db":{"password":"hunter2","host":"db"},"extra":1}` {
		t.Error("the input was modified")
	}
	// Nothing secret present: the same bytes come back.
	plain := json.RawMessage(`{"endpoint":"e"}`)
	if got := pluginhost.MaskSecrets(schema, plain); string(got) != string(plain) {
		t.Errorf("unchanged config = %s", got)
	}
	if got := pluginhost.MaskSecrets(schema, json.RawMessage(`not json`)); string(got) != `{}` {
		t.Errorf("invalid config = %s", got)
	}
}
