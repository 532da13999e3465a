package mcp_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	mcpsdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/taylordash/taylordash/pluginhost/mcp"
)

// A manager connects an MCP server over streamable HTTP (here one served
// by the SDK on a test server), lists its tools and calls the one its
// allow-list names; the other is refused.
func Example() {
	server := mcpsdk.NewServer(&mcpsdk.Implementation{Name: "greeter", Version: "1.0.0"}, nil)
	type in struct {
		Name string `json:"name"`
	}
	mcpsdk.AddTool(server, &mcpsdk.Tool{Name: "greet", Description: "Greets someone."},
		func(_ context.Context, _ *mcpsdk.CallToolRequest, args in) (*mcpsdk.CallToolResult, any, error) {
			return &mcpsdk.CallToolResult{Content: []mcpsdk.Content{&mcpsdk.TextContent{Text: "Hello, " + args.Name}}}, nil, nil
		})
	mcpsdk.AddTool(server, &mcpsdk.Tool{Name: "shutdown", Description: "Not for the dashboard."},
		func(context.Context, *mcpsdk.CallToolRequest, struct{}) (*mcpsdk.CallToolResult, any, error) {
			return nil, nil, nil
		})
	ts := httptest.NewServer(mcpsdk.NewStreamableHTTPHandler(func(*http.Request) *mcpsdk.Server { return server }, nil))
	defer ts.Close()

	registry, err := mcp.NewRegistry(nil, []mcp.ServerSpec{{
		ID: "greeter", Transport: mcp.TransportHTTP, URL: ts.URL,
		AllowedTools: []string{"greet"}, CallTimeout: mcp.Duration(5 * time.Second),
	}}, nil)
	if err != nil {
		log.Fatal(err)
	}
	m, err := mcp.NewManager(registry, mcp.ManagerOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Stop(context.Background())
	ctx := context.Background()

	st, err := m.Connect(ctx, "greeter")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Status, st.ServerName, st.ProtocolVersion)
	tools, err := m.ListTools(ctx, "greeter")
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range tools {
		fmt.Println(t.Name, "allowed:", t.Allowed)
	}
	res, err := m.CallTool(ctx, "greeter", "greet", map[string]any{"name": "Ada"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Content[0].(*mcpsdk.TextContent).Text)
	_, err = m.CallTool(ctx, "greeter", "shutdown", nil)
	fmt.Println(mcp.Status(err), err)
	// Output:
	// online greeter 2025-11-25
	// greet allowed: true
	// shutdown allowed: false
	// Hello, Ada
	// 403 tool shutdown is not allowed on MCP server greeter: mcp: tool not allowed: permission denied
}
