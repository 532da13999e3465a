package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/taylordash/taylordash/internal/childproc/childproctest"
	"github.com/taylordash/taylordash/pluginhost/mcp"
	"github.com/taylordash/taylordash/pluginhost/mcp/mcptest"
)

// TestMCPClientThroughTheAPI: an admin connects a configured stdio MCP
// server through the API, lists and calls its tools, sees it refuse a
// tool outside its allow-list; a viewer is refused; every call is audited
// and published; no server process outlives the application.
func TestMCPClientThroughTheAPI(t *testing.T) {
	servers, err := json.Marshal([]mcp.ServerSpec{{ID: "testtools", Name: "Test tools", Transport: mcp.TransportStdio,
		Command: mcptest.ServerBinary(t), AllowedTools: []string{"echo", "add", "pid", "spawn"}}})
	if err != nil {
		t.Fatal(err)
	}
	a := startAuthEnv(t, map[string]string{"TAYLORDASH_MCP_SERVERS": string(servers), "TAYLORDASH_MCP_STOP_GRACE": "1s"})
	admin := a.login(t, adminUser, adminPassword)
	a.createUser(t, admin, "vic", "viewer", "a long enough passphrase 42")
	viewer := a.login(t, "vic", "a long enough passphrase 42")

	resp, body := a.do(t, http.MethodGet, "/api/v1/mcp/servers", "", "", nil)
	must(t, http.StatusUnauthorized, resp, body, "servers without a token")
	resp, body = a.do(t, http.MethodGet, "/api/v1/mcp/servers", viewer, "", nil)
	must(t, http.StatusForbidden, resp, body, "servers as a viewer")
	resp, body = a.do(t, http.MethodPost, "/api/v1/mcp/connect", viewer, "", map[string]any{"serverId": "testtools"})
	must(t, http.StatusForbidden, resp, body, "connect as a viewer")

	resp, body = a.do(t, http.MethodGet, "/api/v1/mcp/servers", admin, "", nil)
	must(t, http.StatusOK, resp, body, "servers")
	var list struct {
		Servers []struct {
			ID, Status, Source string
			Metrics            map[string]any
		}
	}
	if err := json.Unmarshal(body, &list); err != nil || len(list.Servers) != 1 || list.Servers[0].ID != "testtools" ||
		list.Servers[0].Status != "offline" || list.Servers[0].Source != "config" || list.Servers[0].Metrics["start_time"] != nil {
		t.Fatalf("servers: %s (%v)", body, err)
	}

	resp, body = a.do(t, http.MethodPost, "/api/v1/mcp/request", admin, "", map[string]any{"serverId": "testtools",
		"request": map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}})
	must(t, http.StatusBadRequest, resp, body, "request before connect")
	if !strings.Contains(string(body), "MCP server testtools not connected") {
		t.Fatalf("request before connect: %s", body)
	}
	resp, body = a.do(t, http.MethodPost, "/api/v1/mcp/connect", admin, "", map[string]any{"serverId": "nope", "endpoint": "ignored"})
	must(t, http.StatusNotFound, resp, body, "connect an unknown server")
	if !strings.Contains(string(body), "MCP server nope not found") {
		t.Fatalf("unknown server: %s", body)
	}

	resp, body = a.do(t, http.MethodPost, "/api/v1/mcp/connect", admin, "", map[string]any{"serverId": "testtools", "endpoint": "ignored"})
	must(t, http.StatusOK, resp, body, "connect")
	var conn struct {
		Status, ServerID, Version string
		PID                       int
	}
	if err := json.Unmarshal(body, &conn); err != nil || conn.Status != "connected" || conn.Version != "0.3.0" || conn.PID == 0 {
		t.Fatalf("connect: %s (%v)", body, err)
	}

	resp, body = a.do(t, http.MethodGet, "/api/v1/mcp/servers/testtools/tools", admin, "", nil)
	must(t, http.StatusOK, resp, body, "list tools")
	if !strings.Contains(string(body), `"name":"echo"`) || !strings.Contains(string(body), `"name":"crash"`) {
		t.Fatalf("tools: %s", body)
	}
	resp, body = a.do(t, http.MethodPost, "/api/v1/mcp/servers/testtools/tools/add/call", admin, "", map[string]any{"arguments": map[string]any{"a": 20, "b": 22}})
	must(t, http.StatusOK, resp, body, "call add")
	var call struct {
		IsError           bool                  `json:"is_error"`
		StructuredContent struct{ Sum float64 } `json:"structured_content"`
	}
	if err := json.Unmarshal(body, &call); err != nil || call.IsError || call.StructuredContent.Sum != 42 {
		t.Fatalf("add: %s (%v)", body, err)
	}
	resp, body = a.do(t, http.MethodPost, "/api/v1/mcp/servers/testtools/tools/crash/call", admin, "", map[string]any{})
	must(t, http.StatusForbidden, resp, body, "call a tool outside the allow-list")
	if !strings.Contains(string(body), "tool crash is not allowed on MCP server testtools") {
		t.Fatalf("crash: %s", body)
	}
	resp, body = a.do(t, http.MethodPost, "/api/v1/mcp/servers/testtools/tools/add/call", viewer, "", map[string]any{})
	must(t, http.StatusForbidden, resp, body, "call as a viewer")

	resp, body = a.do(t, http.MethodPost, "/api/v1/mcp/request", admin, "", map[string]any{"serverId": "testtools",
		"request": map[string]any{"jsonrpc": "2.0", "id": "abc", "method": "tools/call", "params": map[string]any{"name": "echo", "arguments": map[string]any{"text": "hi"}}}})
	must(t, http.StatusOK, resp, body, "request tools/call")
	if !strings.Contains(string(body), `"id":"abc"`) || !strings.Contains(string(body), `"text":"hi"`) {
		t.Fatalf("request: %s", body)
	}
	resp, body = a.do(t, http.MethodPost, "/api/v1/mcp/request", admin, "", map[string]any{"serverId": "testtools",
		"request": map[string]any{"jsonrpc": "2.0", "id": 2, "method": "initialize"}})
	must(t, http.StatusUnprocessableEntity, resp, body, "request initialize")

	resp, body = a.do(t, http.MethodGet, "/api/v1/mcp/health/testtools", admin, "", nil)
	must(t, http.StatusOK, resp, body, "health")
	if !strings.Contains(string(body), `"status":"online"`) {
		t.Fatalf("health: %s", body)
	}
	resp, body = a.do(t, http.MethodGet, "/api/v1/mcp/metrics/testtools", admin, "", nil)
	must(t, http.StatusOK, resp, body, "metrics")
	var metrics struct {
		Requests, Errors int64
		Uptime           string
	}
	if err := json.Unmarshal(body, &metrics); err != nil || metrics.Requests != 4 || metrics.Errors != 1 || metrics.Uptime != "0m" {
		t.Fatalf("metrics (list, add, crash refused, echo): %s (%v)", body, err)
	}

	if n := a.auditCount(t, mcp.AuditToolCalled, `{"server_id":"testtools","tool":"add","result":"ok"}`); n != 1 {
		t.Fatalf("audited calls of add: %d", n)
	}
	if n := a.auditCount(t, mcp.AuditToolCalled, `{"tool":"crash","result":"denied"}`); n != 1 {
		t.Fatalf("audited refusals: %d", n)
	}
	// Each call is published with the request's trace id.
	var events int
	if err := a.DB.DB.QueryRow(context.Background(), `SELECT count(*) FROM events_mirror WHERE topic = $1 AND coalesce(trace_id, '') <> '' AND kind = $2`,
		mcp.TopicToolCalled, mcp.KindToolCalled).Scan(&events); err != nil {
		t.Fatal(err)
	}
	// Before connect, list, add, crash refused, echo, initialize refused.
	if events != 6 {
		t.Fatalf("%d call events in the outbox, want 6", events)
	}

	// A grandchild of the server, then the application stops: neither
	// process is left.
	resp, body = a.do(t, http.MethodPost, "/api/v1/mcp/servers/testtools/tools/spawn/call", admin, "", map[string]any{})
	must(t, http.StatusOK, resp, body, "spawn")
	var spawned struct {
		StructuredContent struct{ PID int } `json:"structured_content"`
	}
	if err := json.Unmarshal(body, &spawned); err != nil || spawned.StructuredContent.PID == 0 {
		t.Fatalf("spawn: %s (%v)", body, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.App.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{conn.PID, spawned.StructuredContent.PID} {
		if childproctest.Alive(pid) {
			t.Errorf("process %d outlived the application", pid)
		}
	}
}

// TestMCPServersStoredThroughTheAPI: an admin adds an HTTP MCP server
// through the API (its header values are never shown again), calls it,
// sees a slow tool answered 504 while the server stays usable, narrows
// its allow-list (the connected server picks it up at once) and removes
// it.
func TestMCPServersStoredThroughTheAPI(t *testing.T) {
	a := startAuthEnv(t, nil)
	admin := a.login(t, adminUser, adminPassword)
	url := mcpHTTPServer(t)
	spec := map[string]any{"id": "remote", "transport": "http", "url": url, "headers": map[string]string{"X-Test": "secret value"},
		"allowed_tools": []string{"echo", "slow"}, "call_timeout": "300ms"}
	resp, body := a.do(t, http.MethodPost, "/api/v1/mcp/servers", admin, "", spec)
	must(t, http.StatusCreated, resp, body, "create")
	if strings.Contains(string(body), "secret value") || !strings.Contains(string(body), `"X-Test":"********"`) {
		t.Fatalf("create answers header values: %s", body)
	}
	resp, body = a.do(t, http.MethodPost, "/api/v1/mcp/servers", admin, "", spec)
	must(t, http.StatusConflict, resp, body, "create again")
	resp, body = a.do(t, http.MethodPost, "/api/v1/mcp/servers", admin, "", map[string]any{"id": "bad", "transport": "http", "url": "ftp://x"})
	must(t, http.StatusUnprocessableEntity, resp, body, "create an invalid server")

	resp, body = a.do(t, http.MethodPost, "/api/v1/mcp/connect", admin, "", map[string]any{"serverId": "remote"})
	must(t, http.StatusOK, resp, body, "connect")
	resp, body = a.do(t, http.MethodPost, "/api/v1/mcp/servers/remote/tools/echo/call", admin, "", map[string]any{"arguments": map[string]any{"text": "over http"}})
	must(t, http.StatusOK, resp, body, "echo")
	if !strings.Contains(string(body), `"header":"secret value"`) || !strings.Contains(string(body), `"text":"over http"`) {
		t.Fatalf("echo: %s", body)
	}
	resp, body = a.do(t, http.MethodPost, "/api/v1/mcp/servers/remote/tools/slow/call", admin, "", map[string]any{"arguments": map[string]any{"seconds": 30}})
	must(t, http.StatusGatewayTimeout, resp, body, "slow")
	if !strings.Contains(string(body), "MCP server remote did not answer tools/call within 300ms") {
		t.Fatalf("slow: %s", body)
	}
	resp, body = a.do(t, http.MethodPost, "/api/v1/mcp/servers/remote/tools/echo/call", admin, "", map[string]any{"arguments": map[string]any{"text": "still"}})
	must(t, http.StatusOK, resp, body, "echo after the timeout")

	spec["allowed_tools"] = []string{"slow"}
	resp, body = a.do(t, http.MethodPut, "/api/v1/mcp/servers/remote", admin, "", spec)
	must(t, http.StatusOK, resp, body, "update")
	if !strings.Contains(string(body), `"status":"online"`) {
		t.Fatalf("the connected server is connected again: %s", body)
	}
	resp, body = a.do(t, http.MethodPost, "/api/v1/mcp/servers/remote/tools/echo/call", admin, "", map[string]any{})
	must(t, http.StatusForbidden, resp, body, "echo after the update")

	// A command that does not exist: the answer names the server and
	// the command, and so does its health.
	resp, body = a.do(t, http.MethodPost, "/api/v1/mcp/servers", admin, "", map[string]any{"id": "missing", "transport": "stdio",
		"command": "no-such-mcp-server-anywhere"})
	must(t, http.StatusCreated, resp, body, "create missing")
	resp, body = a.do(t, http.MethodPost, "/api/v1/mcp/connect", admin, "", map[string]any{"serverId": "missing"})
	must(t, http.StatusBadGateway, resp, body, "connect missing")
	if !strings.Contains(string(body), `MCP server missing: command \"no-such-mcp-server-anywhere\" not found`) {
		t.Fatalf("connect missing: %s", body)
	}
	resp, body = a.do(t, http.MethodGet, "/api/v1/mcp/health/missing", admin, "", nil)
	must(t, http.StatusOK, resp, body, "health of missing")
	if !strings.Contains(string(body), `"status":"error"`) || !strings.Contains(string(body), "no-such-mcp-server-anywhere") {
		t.Fatalf("health of missing: %s", body)
	}

	resp, body = a.do(t, http.MethodDelete, "/api/v1/mcp/servers/remote", admin, "", nil)
	must(t, http.StatusNoContent, resp, body, "delete")
	resp, body = a.do(t, http.MethodGet, "/api/v1/mcp/health/remote", admin, "", nil)
	must(t, http.StatusNotFound, resp, body, "health after delete")
	if n := a.auditCount(t, mcp.AuditServerDeleted, `{"server_id":"remote"}`); n != 1 {
		t.Fatalf("audited deletions: %d", n)
	}
}

// mcpHTTPServer runs the test MCP server over streamable HTTP and
// returns its endpoint.
func mcpHTTPServer(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(mcptest.ServerBinary(t), "-http", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		t.Fatalf("the HTTP test server said %q (%v)", line, err)
	}
	return url
}
