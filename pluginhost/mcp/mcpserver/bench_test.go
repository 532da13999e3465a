package mcpserver_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkToolCall measures a tools/call of a GET operation through the
// SDK's client (one HTTP request, a stateless session, the permission
// check, the operation served through the mux, the audit to memory)
// against the same operation called over REST, and a tools/list.
func BenchmarkToolCall(b *testing.B) {
	f := setup(b)
	cs := f.connect(b, "viewer")
	ctx := context.Background()
	args := map[string]any{"id": "t1"}
	b.Run("rest", func(b *testing.B) {
		client := &http.Client{Transport: roleTransport{"viewer"}}
		for b.Loop() {
			resp, err := client.Get(f.url + "/things/t1")
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatal(resp.Status)
			}
		}
	})
	b.Run("tools_call", func(b *testing.B) {
		for b.Loop() {
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_thing", Arguments: args})
			if err != nil || res.IsError {
				b.Fatal(err, res)
			}
		}
	})
	b.Run("tools_list", func(b *testing.B) {
		for b.Loop() {
			if _, err := cs.ListTools(ctx, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
