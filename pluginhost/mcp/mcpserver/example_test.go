package mcpserver_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/danielgtaylor/huma/v2"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/pluginhost/mcp/mcpserver"
)

type note struct {
	Text string `json:"text" minLength:"1"`
}

type noteInput struct {
	Body note
}

type notesOutput struct {
	Body struct {
		Notes []note `json:"notes"`
	}
}

// The operations marked with dashcore.MCPTool are tools; a viewer sees
// the one it may call, and its call of the other is refused.
func Example() {
	az, _ := auth.NewAuthorizer(auth.NewMemoryAdapter(auth.DefaultRules()...), auth.AuthorizerConfig{})
	srv, _ := mcpserver.New(mcpserver.Options{Authorizer: az})
	notes := dashcore.Routes{Name: "notes", Register: func(api huma.API) {
		huma.Register(api, dashcore.MCPTool(auth.Require(huma.Operation{
			OperationID: "list-notes", Method: http.MethodGet, Path: "/notes", Summary: "List notes",
		}, "projects", "read"), "list_notes"), func(context.Context, *struct{}) (*notesOutput, error) {
			out := &notesOutput{}
			out.Body.Notes = []note{{Text: "buy milk"}}
			return out, nil
		})
		huma.Register(api, dashcore.MCPTool(auth.Require(huma.Operation{
			OperationID: "create-note", Method: http.MethodPost, Path: "/notes", Summary: "Create a note",
		}, "projects", "write"), "create_note"), func(context.Context, *noteInput) (*struct{}, error) { return nil, nil })
	}}
	// A stand-in for auth's guard: every caller is a viewer.
	viewer := dashcore.Middleware{Name: "viewer", Wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := &auth.Principal{Subject: "ann", Kind: auth.KindUser, Roles: []string{"viewer"}}
			next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
		})
	}}
	h, _, err := dashcore.NewHandler(dashcore.HandlerOptions{
		Routes:     []dashcore.Routes{notes, srv.Contribution()},
		Middleware: []dashcore.Middleware{viewer},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ts := httptest.NewServer(h)
	defer ts.Close()

	ctx := context.Background()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "example"}, nil).
		Connect(ctx, &mcp.StreamableClientTransport{Endpoint: ts.URL + mcpserver.Path}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cs.Close()
	tools, _ := cs.ListTools(ctx, nil)
	for _, t := range tools.Tools {
		fmt.Println(t.Name, t.Meta[mcpserver.MetaPermission])
	}
	res, _ := cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_notes"})
	fmt.Println(res.Content[0].(*mcp.TextContent).Text)
	res, _ = cs.CallTool(ctx, &mcp.CallToolParams{Name: "create_note", Arguments: map[string]any{"body": map[string]any{"text": "hi"}}})
	fmt.Println(res.IsError, res.Content[0].(*mcp.TextContent).Text)
	// Output:
	// list_notes projects:read
	// {"notes":[{"text":"buy milk"}]}
	// true {"type":"about:blank","title":"Forbidden","status":403,"detail":"the caller may not use tool create_note: it needs projects:write"}
}
