package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/taylordash/taylordash/examples/dashboard/tracker"
)

// The tools of the dashboard, by what they need.
var (
	mcpReadTools  = []string{"get_component", "get_project", "get_task", "list_components", "list_projects", "list_tasks", "query_events"}
	mcpWriteTools = []string{"create_component", "create_project", "create_task", "update_component", "update_project", "update_task"}
	mcpDLQRead    = []string{"get_dlq", "list_dlq"}
	mcpDLQWrite   = []string{"replay_dlq"}
)

func sortedConcat(lists ...[]string) []string {
	out := slices.Concat(lists...)
	slices.Sort(out)
	return out
}

// mcpTransport sends the API key, and a traceparent when set, with every
// request, and remembers the X-Trace-ID of every answer.
type mcpTransport struct {
	key         string
	traceparent string

	mu       sync.Mutex
	traceIDs []string
}

func (m *mcpTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-API-Key", m.key)
	if m.traceparent != "" {
		r.Header.Set("traceparent", m.traceparent)
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		m.mu.Lock()
		m.traceIDs = append(m.traceIDs, resp.Header.Get("X-Trace-ID"))
		m.mu.Unlock()
	}
	return resp, err
}

// mcpConnect connects an MCP client of the SDK to the app's /mcp.
func mcpConnect(t *testing.T, a *authApp, tr *mcpTransport) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "app-test", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: a.URL + "/mcp",
		HTTPClient: &http.Client{Transport: tr, Timeout: 30 * time.Second}, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("connect to /mcp: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func toolNames(t *testing.T, cs *mcp.ClientSession) ([]string, map[string]*mcp.Tool) {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	names := make([]string, 0, len(res.Tools))
	byName := map[string]*mcp.Tool{}
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
		byName[tool.Name] = tool
	}
	slices.Sort(names)
	return names, byName
}

// newKey makes an API key with roles, as the admin.
func (a *authApp) newKey(t *testing.T, admin, name string, roles ...string) (id, key string) {
	t.Helper()
	resp, body := a.do(t, http.MethodPost, "/api/v1/auth/keys", admin, "", map[string]any{"name": name, "roles": roles})
	must(t, http.StatusCreated, resp, body, "create key "+name)
	var k struct{ ID, Key string }
	if err := json.Unmarshal(body, &k); err != nil || k.Key == "" {
		t.Fatalf("key body %s: %v", body, err)
	}
	return k.ID, k.Key
}

func resultText(r *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// TestMCPServer: an MCP client of the SDK connects to /mcp with an API
// key. The admin sees every tool; a viewer only the read tools, and its
// call of create_project anyway is refused with nothing created; an
// operator creates a project, whose event reaches the broker with the
// trace id of the tool call's HTTP request. Every call is audited, and a
// revoked key stops at once.
func TestMCPServer(t *testing.T) {
	a := startAuth(t)
	admin := a.login(t, adminUser, adminPassword)
	_, adminKey := a.newKey(t, admin, "mcp admin", "admin")
	viewerID, viewerKey := a.newKey(t, admin, "mcp viewer", "viewer")
	_, operatorKey := a.newKey(t, admin, "mcp operator", "operator")
	ctx := context.Background()

	// Without a credential, the guard answers.
	resp, body := a.do(t, http.MethodPost, "/mcp", "", "", map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
	must(t, http.StatusUnauthorized, resp, body, "anonymous /mcp")

	// The admin sees every tool.
	adminNames, adminTools := toolNames(t, mcpConnect(t, a, &mcpTransport{key: adminKey}))
	if want := sortedConcat(mcpReadTools, mcpWriteTools, mcpDLQRead, mcpDLQWrite); !slices.Equal(adminNames, want) {
		t.Fatalf("admin's tools %v, want %v", adminNames, want)
	}

	// The viewer sees the read tools only.
	viewer := mcpConnect(t, a, &mcpTransport{key: viewerKey})
	if names, _ := toolNames(t, viewer); !slices.Equal(names, sortedConcat(mcpReadTools)) {
		t.Fatalf("viewer's tools %v, want %v", names, mcpReadTools)
	}
	// ... and calling create_project anyway is refused.
	res, err := viewer.CallTool(ctx, &mcp.CallToolParams{Name: "create_project", Arguments: map[string]any{"body": map[string]any{"name": "Sneaky"}}})
	if err != nil {
		t.Fatalf("viewer's create_project: %v", err)
	}
	if !res.IsError || !strings.Contains(resultText(res), "projects:write") {
		t.Fatalf("viewer's create_project: %+v %s, want an error naming projects:write", res, resultText(res))
	}
	var projects int
	if err := a.DB.DB.QueryRow(ctx, `SELECT count(*) FROM projects`).Scan(&projects); err != nil {
		t.Fatal(err)
	}
	if projects != 0 {
		t.Fatalf("%d projects after the viewer's refused call, want 0", projects)
	}
	if n := a.auditCount(t, "mcp_tool_call", `{"tool":"create_project","denied":true,"status":403}`); n != 1 {
		t.Fatalf("%d audited refusals of create_project, want 1", n)
	}

	// The operator sees the reads, the writes and the dead letters (not
	// their replay, dlq:write).
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	optr := &mcpTransport{key: operatorKey, traceparent: "00-" + traceID + "-00f067aa0ba902b7-01"}
	operator := mcpConnect(t, a, optr)
	if names, _ := toolNames(t, operator); !slices.Equal(names, sortedConcat(mcpReadTools, mcpWriteTools, mcpDLQRead)) {
		t.Fatalf("operator's tools %v", names)
	}

	// The operator creates a project; its event reaches the broker with
	// the trace of the tool call.
	events := make(chan []byte, 4)
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(a.Broker.URL).SetClientID("mcp-observer-" + strings.ReplaceAll(a.Broker.Prefix, "/", "-")))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("observer connect: %v", tok.Error())
	}
	t.Cleanup(func() { sub.Disconnect(100) })
	if tok := sub.Subscribe(a.Broker.Prefix+tracker.TopicProjectCreated, 1, func(_ paho.Client, m paho.Message) { events <- m.Payload() }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	optr.mu.Lock()
	optr.traceIDs = nil
	optr.mu.Unlock()
	res, err = operator.CallTool(ctx, &mcp.CallToolParams{Name: "create_project",
		Arguments: map[string]any{"body": map[string]any{"name": "Agent's project", "status": "active"}}})
	if err != nil || res.IsError {
		t.Fatalf("operator's create_project: %v %s", err, resultText(res))
	}
	var created tracker.Project
	if err := json.Unmarshal([]byte(resultText(res)), &created); err != nil || created.ID == "" || created.Name != "Agent's project" {
		t.Fatalf("create_project result %s: %v", resultText(res), err)
	}
	if sc, ok := res.StructuredContent.(map[string]any); !ok || sc["id"] != created.ID {
		t.Fatalf("structured content %#v, want the project", res.StructuredContent)
	}
	optr.mu.Lock()
	callTraces := slices.Clone(optr.traceIDs)
	optr.mu.Unlock()
	if len(callTraces) != 1 || callTraces[0] != traceID {
		t.Fatalf("X-Trace-ID of the tools/call request: %v, want [%s]", callTraces, traceID)
	}
	select {
	case raw := <-events:
		var env struct {
			TraceID string `json:"trace_id"`
			Kind    string `json:"kind"`
			Payload struct {
				ProjectID string `json:"project_id"`
			} `json:"payload"`
		}
		if err := json.Unmarshal(raw, &env); err != nil {
			t.Fatalf("event %s: %v", raw, err)
		}
		if env.TraceID != traceID || env.Kind != "project_created" {
			t.Fatalf("event %s: want kind project_created with trace_id %s", raw, traceID)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no project_created event on the broker")
	}
	if n := a.auditCount(t, "mcp_tool_call", fmt.Sprintf(`{"tool":"create_project","status":201,"trace_id":%q,"path":"/api/v1/projects"}`, traceID)); n != 1 {
		t.Fatalf("%d audited create_project calls with the trace, want 1", n)
	}

	// Path parameters and query parameters reach the operation.
	res, err = operator.CallTool(ctx, &mcp.CallToolParams{Name: "update_project",
		Arguments: map[string]any{"project_id": created.ID, "body": map[string]any{"description": "Made by an agent"}}})
	if err != nil || res.IsError || !strings.Contains(resultText(res), "Made by an agent") {
		t.Fatalf("update_project: %v %s", err, resultText(res))
	}
	res, err = viewer.CallTool(ctx, &mcp.CallToolParams{Name: "list_projects", Arguments: map[string]any{"status": "active", "limit": 5}})
	if err != nil || res.IsError || !strings.Contains(resultText(res), created.ID) {
		t.Fatalf("list_projects: %v %s", err, resultText(res))
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err = viewer.CallTool(ctx, &mcp.CallToolParams{Name: "query_events", Arguments: map[string]any{"trace_id": traceID, "kind": "project_created"}})
		if err != nil || res.IsError {
			t.Fatalf("query_events: %v %s", err, resultText(res))
		}
		if strings.Contains(resultText(res), created.ID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("query_events never showed the project's event: %s", resultText(res))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The operation's own validation answers, as a tool error.
	res, err = operator.CallTool(ctx, &mcp.CallToolParams{Name: "get_project", Arguments: map[string]any{"project_id": "not-a-uuid"}})
	if err != nil || !res.IsError || !strings.Contains(resultText(res), "Invalid project ID format") {
		t.Fatalf("get_project with a bad id: %v %s", err, resultText(res))
	}
	res, err = operator.CallTool(ctx, &mcp.CallToolParams{Name: "create_project", Arguments: map[string]any{"body": map[string]any{}}})
	if err != nil || !res.IsError || !strings.Contains(resultText(res), `"status":422`) {
		t.Fatalf("create_project without a name: %v %s", err, resultText(res))
	}
	res, err = operator.CallTool(ctx, &mcp.CallToolParams{Name: "get_project", Arguments: map[string]any{"project_id": "..", "extra": 1}})
	if err != nil || !res.IsError || !strings.Contains(resultText(res), "extra") {
		t.Fatalf("get_project with an unknown argument: %v %s", err, resultText(res))
	}

	// The input schema of create_project is the REST body's schema.
	var doc struct {
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	resp, body = a.do(t, http.MethodGet, "/openapi.json", "", "", nil)
	must(t, http.StatusOK, resp, body, "openapi.json")
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	schema, _ := json.Marshal(adminTools["create_project"].InputSchema)
	var in struct {
		Properties map[string]map[string]any `json:"properties"`
		Required   []string                  `json:"required"`
	}
	if err := json.Unmarshal(schema, &in); err != nil {
		t.Fatal(err)
	}
	rest := doc.Components.Schemas["NewProject"]
	if !reflect.DeepEqual(in.Properties["body"]["required"], rest["required"]) || !slices.Equal(in.Required, []string{"body"}) {
		t.Fatalf("create_project input %s, want the body NewProject %v", schema, rest)
	}
	if !reflect.DeepEqual(in.Properties["body"]["properties"], rest["properties"]) {
		t.Fatalf("create_project body properties %v, want NewProject's %v", in.Properties["body"]["properties"], rest["properties"])
	}
	if meta := adminTools["replay_dlq"].Meta; meta["taylordash/permission"] != "dlq:write" || meta["taylordash/operation_id"] != "replay-dlq" {
		t.Fatalf("replay_dlq _meta %v", meta)
	}

	// A revoked key stops at once, on the session it opened.
	resp, body = a.do(t, http.MethodDelete, "/api/v1/auth/keys/"+viewerID, admin, "", nil)
	must(t, http.StatusOK, resp, body, "revoke the viewer's key")
	if _, err := viewer.ListTools(ctx, nil); err == nil {
		t.Fatal("tools/list with a revoked key succeeded")
	}
}
