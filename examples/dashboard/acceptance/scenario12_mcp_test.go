package acceptance_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/taylordash/taylordash/pluginhost/mcp/mcptest"
)

// Scenario 12, MCP: a stdio MCP server, configured by the operator, is
// listed, connected, asked, timed out, measured and disconnected through
// the original's /api/v1/mcp routes, by admins only.
func TestScenario12MCP(t *testing.T) {
	t.Parallel()
	// A fake MCP server (the SDK's, with tools echo, add, slow...), as
	// the operator configures one. Deliberate difference: servers are
	// configuration (or stored through the API), where the original
	// hard-coded two commands of its author's machine.
	servers, err := json.Marshal([]map[string]any{{
		"id": "fake-mcp", "name": "Fake MCP", "description": "The test server", "transport": "stdio",
		"command": mcptest.ServerBinary(t), "allowed_tools": []string{"*"}, "call_timeout": "500ms",
	}})
	if err != nil {
		t.Fatal(err)
	}
	d := start(t, map[string]string{"TAYLORDASH_MCP_SERVERS": string(servers), "TAYLORDASH_MCP_STOP_GRACE": "1s"})
	admin := bearer(d.login(t, adminUser, adminPassword, nil).SessionToken)
	d.createUser(t, admin, "vince", "viewer")
	viewer := bearer(d.login(t, "vince", userPassword, nil).SessionToken)
	const p = "/api/v1/mcp"

	t.Run("servers", func(t *testing.T) {
		// Deliberate difference: the details are the guard's ("Authentication
		// required" and "Admin access required" in the original).
		d.do(t, http.MethodGet, p+"/servers", anonymous, nil).
			mustDetail(t, http.StatusUnauthorized, "authentication is required: send a bearer token or an X-API-Key")
		d.do(t, http.MethodGet, p+"/servers", viewer, nil).mustDetail(t, http.StatusForbidden, "permission mcp:read is required")
		var list struct {
			Servers []map[string]any `json:"servers"`
		}
		d.do(t, http.MethodGet, p+"/servers", admin, nil).must(t, http.StatusOK).decode(t, &list)
		if len(list.Servers) != 1 {
			t.Fatalf("servers: %v", list.Servers)
		}
		s := list.Servers[0]
		hasKeys(t, "server", s, "id", "name", "description", "status", "lastHealthCheck", "metrics")
		hasKeys(t, "server metrics", s["metrics"].(map[string]any), "requests", "errors", "start_time")
		if s["id"] != "fake-mcp" || s["status"] != "offline" {
			t.Fatalf("server: %v", s)
		}
		// The viewer may not connect either.
		d.do(t, http.MethodPost, p+"/connect", viewer, map[string]any{"serverId": "fake-mcp", "endpoint": "x"}).must(t, http.StatusForbidden)
	})

	t.Run("connect an unknown server is 404", func(t *testing.T) {
		d.do(t, http.MethodPost, p+"/connect", admin, map[string]any{"serverId": "nope", "endpoint": "stdio"}).
			mustDetail(t, http.StatusNotFound, "MCP server nope not found")
	})

	toolsList := map[string]any{"serverId": "fake-mcp", "request": map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}}

	t.Run("request before connect is 400", func(t *testing.T) {
		d.do(t, http.MethodPost, p+"/request", admin, toolsList).mustDetail(t, http.StatusBadRequest, "MCP server fake-mcp not connected")
	})

	t.Run("connect and request", func(t *testing.T) {
		// endpoint is required by the original's clients and ignored.
		m := d.do(t, http.MethodPost, p+"/connect", admin, map[string]any{"serverId": "fake-mcp", "endpoint": "stdio"}).
			must(t, http.StatusOK).object(t)
		if m["status"] != "connected" || m["serverId"] != "fake-mcp" || m["version"] == "" {
			t.Fatalf("connect: %v", m)
		}
		var rpc struct {
			JSONRPC string `json:"jsonrpc"`
			ID      int    `json:"id"`
			Result  struct {
				Tools []struct {
					Name string `json:"name"`
				} `json:"tools"`
			} `json:"result"`
		}
		r := d.do(t, http.MethodPost, p+"/request", admin, toolsList).must(t, http.StatusOK)
		r.decode(t, &rpc)
		if rpc.JSONRPC != "2.0" || rpc.ID != 1 || len(rpc.Result.Tools) == 0 {
			t.Fatalf("tools/list: %s", r.Body)
		}
		// ⚠ The original returned whatever line came first; the answer
		// here is the one matching the request's id.
		r = d.do(t, http.MethodPost, p+"/request", admin, map[string]any{"serverId": "fake-mcp", "request": map[string]any{
			"jsonrpc": "2.0", "id": "call-7", "method": "tools/call", "params": map[string]any{"name": "echo", "arguments": map[string]any{"text": "hello"}}}}).
			must(t, http.StatusOK)
		var echo struct {
			ID     string `json:"id"`
			Result struct {
				Content []struct {
					Text string `json:"text"`
				} `json:"content"`
			} `json:"result"`
		}
		r.decode(t, &echo)
		if echo.ID != "call-7" || len(echo.Result.Content) == 0 || echo.Result.Content[0].Text != "hello" {
			t.Fatalf("echo: %s", r.Body)
		}
		m = d.do(t, http.MethodGet, p+"/health/fake-mcp", admin, nil).must(t, http.StatusOK).object(t)
		if m["status"] != "online" {
			t.Fatalf("health: %v", m)
		}
	})

	t.Run("a timeout is 504", func(t *testing.T) {
		d.do(t, http.MethodPost, p+"/request", admin, map[string]any{"serverId": "fake-mcp", "request": map[string]any{
			"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": map[string]any{"name": "slow", "arguments": map[string]any{"seconds": 10}}}}).
			must(t, http.StatusGatewayTimeout)
		// ⚠ The original killed the process on a timeout; the call is
		// cancelled and the server stays connected.
		d.do(t, http.MethodPost, p+"/request", admin, toolsList).must(t, http.StatusOK)
	})

	t.Run("metrics and disconnect", func(t *testing.T) {
		m := d.do(t, http.MethodGet, p+"/metrics/fake-mcp", admin, nil).must(t, http.StatusOK).object(t)
		hasKeys(t, "metrics", m, "requests", "errors", "uptime")
		if m["requests"].(float64) < 3 || m["errors"].(float64) < 1 {
			t.Errorf("metrics after 4 calls, one timed out: %v", m)
		}
		if up, _ := m["uptime"].(string); up == "" || up[len(up)-1] != 'm' {
			t.Errorf("uptime %q, want the original's \"Xd Yh Zm\" form", m["uptime"])
		}
		m = d.do(t, http.MethodPost, p+"/disconnect/fake-mcp", admin, nil).must(t, http.StatusOK).object(t)
		if m["status"] != "disconnected" {
			t.Fatalf("disconnect: %v", m)
		}
		// Also when it is not connected, as in the original.
		m = d.do(t, http.MethodPost, p+"/disconnect/fake-mcp", admin, nil).must(t, http.StatusOK).object(t)
		if m["status"] != "disconnected" {
			t.Fatalf("disconnect again: %v", m)
		}
		d.do(t, http.MethodPost, p+"/request", admin, toolsList).mustDetail(t, http.StatusBadRequest, "MCP server fake-mcp not connected")
		m = d.do(t, http.MethodGet, p+"/health/fake-mcp", admin, nil).must(t, http.StatusOK).object(t)
		if m["status"] != "offline" {
			t.Fatalf("health after disconnect: %v", m)
		}
	})
}
