package mcpserver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/taylordash/taylordash/pluginhost/mcp/mcpserver"
)

func listNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

func text(r *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func callTool(t *testing.T, cs *mcp.ClientSession, name string, args any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("tools/call %s: %v", name, err)
	}
	return res
}

// The tools a caller sees are those its roles allow.
func TestToolListFollowsPermissions(t *testing.T) {
	f := setup(t)
	for role, want := range map[string][]string{
		"":         {"ping", "things_root"},
		"viewer":   {"get_thing", "list_things", "ping", "things_root"},
		"operator": {"create_thing", "get_thing", "list_things", "ping", "things_root"},
		"admin":    {"create_thing", "get_thing", "list_things", "ping", "things_root"},
	} {
		if got := listNames(t, f.connect(t, role)); !slices.Equal(got, want) {
			t.Errorf("role %q sees %v, want %v", role, got, want)
		}
	}
}

// A call the caller may not make is refused without running the
// operation, and audited as denied.
func TestCallIsCheckedAgain(t *testing.T) {
	f := setup(t)
	res := callTool(t, f.connect(t, "viewer"), "create_thing", map[string]any{"body": map[string]any{"name": "x"}})
	if !res.IsError || !strings.Contains(text(res), "projects:write") || !strings.Contains(text(res), `"status":403`) {
		t.Fatalf("viewer's create_thing: %s", text(res))
	}
	events := f.auditor.all()
	if len(events) != 1 {
		t.Fatalf("audit events %+v, want 1", events)
	}
	e := events[0]
	if e.Type != mcpserver.AuditToolCall || e.Outcome != "failure" || e.Subject != "test-viewer" ||
		e.Details["tool"] != "create_thing" || e.Details["denied"] != true || e.Details["status"] != http.StatusForbidden {
		t.Fatalf("audit event %+v", e)
	}
	if _, ran := e.Details["path"]; ran {
		t.Fatalf("a refused call got as far as a path: %+v", e)
	}
}

// Arguments become the path, the query and the body; answers come back
// as text and structured content; problems as error results.
func TestCallServesTheOperation(t *testing.T) {
	f := setup(t)
	op := f.connect(t, "operator")

	res := callTool(t, op, "create_thing", map[string]any{"body": map[string]any{"name": "lamp", "color": "red", "owner": map[string]any{"email": "a@example.com"}}})
	if res.IsError || text(res) != `{"id":"t9","name":"lamp","color":"red"}` {
		t.Fatalf("create_thing: %s", text(res))
	}
	if sc, ok := res.StructuredContent.(map[string]any); !ok || sc["id"] != "t9" {
		t.Fatalf("structured content %#v", res.StructuredContent)
	}
	res = callTool(t, op, "list_things", map[string]any{"limit": 7, "tags": []string{"a", "b"}})
	if res.IsError || text(res) != `{"limit":7,"tags":["a","b"]}` {
		t.Fatalf("list_things: %s", text(res))
	}
	res = callTool(t, op, "things_root", nil)
	if res.IsError || text(res) != `{"pong":true}` {
		t.Fatalf("things_root: %s", text(res))
	}
	res = callTool(t, op, "get_thing", map[string]any{"id": "a b/c"})
	if res.IsError || !strings.Contains(text(res), `"id":"a b/c"`) {
		t.Fatalf("get_thing with an escaped id: %s", text(res))
	}

	for _, c := range []struct {
		name string
		args any
		want string
	}{
		{"get_thing", map[string]any{"id": "missing"}, `"status":404`},
		{"get_thing", map[string]any{"id": "missing"}, `no thing missing`},
		{"list_things", map[string]any{"limit": 1000}, `"status":422`},
		{"create_thing", map[string]any{"body": map[string]any{"name": ""}}, `"status":422`},
		{"create_thing", map[string]any{}, `request body is required`},
		{"get_thing", map[string]any{}, `argument \"id\" is required`},
		{"get_thing", map[string]any{"id": ".."}, `argument \"id\" must be one non-empty value`},
		{"get_thing", map[string]any{"id": map[string]any{}}, `argument \"id\" must be a string`},
		{"get_thing", map[string]any{"id": "t1", "body": map[string]any{}}, `argument \"body\" is not an argument`},
		{"list_things", map[string]any{"color": "red"}, `argument \"color\" is not an argument`},
		{"get_thing", map[string]any{"id": "boom"}, `"status":500`},
	} {
		res := callTool(t, op, c.name, c.args)
		if !res.IsError || !strings.Contains(text(res), c.want) {
			t.Errorf("%s %v: %s, want an error holding %s", c.name, c.args, text(res), c.want)
		}
	}
	for _, e := range f.auditor.all() {
		if e.Type != mcpserver.AuditToolCall || e.Subject != "test-operator" || e.Details["permission"] == nil {
			t.Fatalf("audit event %+v", e)
		}
	}
	if n := len(f.auditor.all()); n != 15 {
		t.Fatalf("%d audit events, want one per call (15)", n)
	}
}

// An answer above MaxResultBytes is refused with a problem asking for
// less.
func TestLargeAnswerIsRefused(t *testing.T) {
	f := setup(t)
	tags := make([]string, 1000)
	for i := range tags {
		tags[i] = "tag"
	}
	res := callTool(t, f.connect(t, "viewer"), "list_things", map[string]any{"tags": tags})
	if !res.IsError || !strings.Contains(text(res), "exceeds 4096 bytes") {
		t.Fatalf("large answer: %.200s", text(res))
	}
}

// The tool's definition comes from the operation's declaration.
func TestToolDefinition(t *testing.T) {
	f := setup(t)
	res, err := f.connect(t, "admin").ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*mcp.Tool{}
	for _, tool := range res.Tools {
		byName[tool.Name] = tool
	}
	create := byName["create_thing"]
	if create.Title != "Create a thing" || !strings.Contains(create.Description, "Requires permission `projects:write`.") ||
		create.Meta[mcpserver.MetaPermission] != "projects:write" || create.Meta[mcpserver.MetaOperation] != "create-thing" {
		t.Fatalf("create_thing: %+v", create)
	}
	if a := create.Annotations; a == nil || a.ReadOnlyHint || a.DestructiveHint == nil || *a.DestructiveHint {
		t.Fatalf("create_thing hints %+v", create.Annotations)
	}
	if a := byName["list_things"].Annotations; a == nil || !a.ReadOnlyHint || !a.IdempotentHint {
		t.Fatalf("list_things hints %+v", a)
	}
	if byName["ping"].Meta[mcpserver.MetaPermission] != "public" {
		t.Fatalf("ping meta %v", byName["ping"].Meta)
	}
	b, _ := json.Marshal(create.InputSchema)
	if strings.Contains(string(b), "#/components/") {
		t.Fatalf("create_thing's schema refers to the document: %s", b)
	}
}

// The /mcp route is documented as needing an authenticated caller, and
// the tools' operations carry x-mcp-tool.
func TestDocumented(t *testing.T) {
	f := setup(t)
	oapi := f.api.OpenAPI()
	op := oapi.Paths[mcpserver.Path].Post
	if op == nil || op.Extensions["x-permission"] != "authenticated" || len(op.Security) == 0 {
		t.Fatalf("POST /mcp: %+v", op)
	}
	if oapi.Paths["/things"].Post.Extensions["x-mcp-tool"] != "create_thing" {
		t.Fatalf("create-thing extensions %v", oapi.Paths["/things"].Post.Extensions)
	}
	if _, ok := oapi.Paths["/things/{id}"].Delete.Extensions["x-mcp-tool"]; ok {
		t.Fatal("delete-thing is not a tool")
	}
	tools, err := f.server.Tools()
	if err != nil || len(tools) != 5 {
		t.Fatalf("tools %v: %v", tools, err)
	}
}

// One message per request needs no initialization: a plain POST of
// tools/call is answered as JSON.
func TestPlainPOST(t *testing.T) {
	f := setup(t)
	req, err := http.NewRequest(http.MethodPost, f.url+mcpserver.Path, strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_things","arguments":{"limit":3}}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set(roleHeader, "viewer")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Result struct {
			Content []struct{ Text string } `json:"content"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK ||
		resp.Header.Get("Content-Type") != "application/json" || len(out.Result.Content) != 1 || out.Result.Content[0].Text != `{"limit":3,"tags":null}` {
		t.Fatalf("plain POST: %d %s %+v %v", resp.StatusCode, resp.Header.Get("Content-Type"), out, err)
	}
	// GET is not served: the server is stateless.
	resp, err = http.Get(f.url + mcpserver.Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /mcp: %d, want 405", resp.StatusCode)
	}
}
