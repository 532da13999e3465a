package dashcore_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"

	"github.com/taylordash/taylordash/dashcore"
)

// MCPTool marks a copy of the operation: its metadata and extensions are
// new maps, the original's are left alone.
func TestMCPTool(t *testing.T) {
	op := huma.Operation{OperationID: "list-things", Metadata: map[string]any{"other": 1}, Extensions: map[string]any{"x-other": 2}}
	tool := dashcore.MCPTool(op, "list_things")
	if name, ok := dashcore.MCPToolOf(&tool); !ok || name != "list_things" {
		t.Fatalf("MCPToolOf = %q, %v", name, ok)
	}
	if tool.Extensions[dashcore.ToolExtension] != "list_things" || tool.Extensions["x-other"] != 2 || tool.Metadata["other"] != 1 {
		t.Fatalf("tool %+v", tool)
	}
	if _, ok := dashcore.MCPToolOf(&op); ok || len(op.Metadata) != 1 || len(op.Extensions) != 1 {
		t.Fatalf("the original changed: %+v", op)
	}
	if _, ok := dashcore.MCPToolOf(nil); ok {
		t.Fatal("nil is a tool")
	}
}

func TestMCPToolRefusesBadNames(t *testing.T) {
	for _, name := range []string{"", "has space", strings.Repeat("x", 129), "slash/y", "é"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("MCPTool accepted %q", name)
				}
			}()
			dashcore.MCPTool(huma.Operation{OperationID: "x"}, name)
		}()
	}
}

// MCPTool marks an operation as an MCP tool, next to its requirement; an
// MCP server (pluginhost/mcp/mcpserver) reads the mark.
func ExampleMCPTool() {
	op := dashcore.MCPTool(huma.Operation{OperationID: "list-things", Method: "GET", Path: "/things"}, "list_things")
	name, ok := dashcore.MCPToolOf(&op)
	fmt.Println(name, ok, op.Extensions["x-mcp-tool"])
	// Output:
	// list_things true list_things
}
