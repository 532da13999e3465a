package dashcore

import (
	"fmt"
	"regexp"

	"github.com/danielgtaylor/huma/v2"
)

// toolMetadataKey is the key of an operation's tool name in its Metadata.
const toolMetadataKey = "dashcore.mcp_tool"

// ToolExtension is the OpenAPI extension naming the MCP tool of an
// operation ("x-mcp-tool": "create_project"), so that the document shows
// which operations an agent may call as tools.
const ToolExtension = "x-mcp-tool"

// toolName is what MCP allows in a tool name.
var toolName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

// MCPTool declares that op is also offered as the MCP tool name, and
// documents it (the [ToolExtension] extension). It only marks the
// operation: an MCP server (pluginhost/mcp/mcpserver) reads the mark, and
// wraps the operation as it is registered, with the requirement that
// guards it (auth.Require) and the schemas of its parameters and body, so
// that the REST operation and its tool are one declaration:
//
//	huma.Register(api, dashcore.MCPTool(auth.Require(huma.Operation{
//		OperationID: "create-project", Method: http.MethodPost, Path: "/api/v1/projects",
//	}, "projects", "write"), "create_project"), h.create)
//
// A tool name is 1 to 128 letters, digits, '_', '-' and '.'; MCPTool
// panics on another, as huma.Register does on a bad operation.
func MCPTool(op huma.Operation, name string) huma.Operation {
	if !toolName.MatchString(name) {
		panic(fmt.Sprintf("dashcore: operation %q: MCP tool name %q: want 1 to 128 letters, digits, _, - or .", op.OperationID, name))
	}
	meta := make(map[string]any, len(op.Metadata)+1)
	for k, v := range op.Metadata {
		meta[k] = v
	}
	meta[toolMetadataKey] = name
	op.Metadata = meta
	ext := make(map[string]any, len(op.Extensions)+1)
	for k, v := range op.Extensions {
		ext[k] = v
	}
	ext[ToolExtension] = name
	op.Extensions = ext
	return op
}

// MCPToolOf returns the tool name op was declared with ([MCPTool]), and
// whether it was.
func MCPToolOf(op *huma.Operation) (string, bool) {
	if op == nil || op.Metadata == nil {
		return "", false
	}
	name, ok := op.Metadata[toolMetadataKey].(string)
	return name, ok
}
