package mcpserver

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
)

// The keys of a tool's _meta: the operation it wraps and the permission
// it needs ("authenticated" or "public" for operations that need none).
const (
	MetaOperation  = "taylordash/operation_id"
	MetaPermission = "taylordash/permission"
)

// Tool is an operation of the API offered as an MCP tool: the operation
// was declared with dashcore.MCPTool, next to the requirement that guards
// it (auth.Require), and everything below derives from that one
// declaration.
type Tool struct {
	// Name is the tool's name.
	Name string
	// Operation is the documented operation the tool calls.
	Operation *huma.Operation
	// Pattern is the operation's ServeMux pattern, "POST /api/v1/projects"
	// (a path ending in "/" ends in "/{$}", as dashcore registers it).
	Pattern string
	// Requirement is what the operation needs from the caller; the tool is
	// listed to, and runs for, callers that meet it.
	Requirement auth.Requirement
	// InputSchema is the JSON Schema of the arguments ([InputSchema]).
	InputSchema map[string]any

	params []param
}

// param is a path or query parameter of a tool's operation.
type param struct {
	name    string
	in      string
	explode bool
}

// Permission returns what the tool needs, as its _meta shows it:
// "projects:write", "authenticated" or "public".
func (t *Tool) Permission() string {
	switch {
	case t.Requirement.Public:
		return "public"
	case t.Requirement.Authenticated:
		return "authenticated"
	}
	return t.Requirement.Permission.String()
}

// definition returns the tool as MCP lists it: the operation's summary as
// its title, its description (which names the permission, auth.Require
// wrote it), hints from its method, and the operation and permission in
// _meta.
func (t *Tool) definition() *mcp.Tool {
	op := t.Operation
	desc := op.Description
	if desc == "" {
		desc = op.Summary
	} else if op.Summary != "" {
		desc = op.Summary + ". " + desc
	}
	ann := &mcp.ToolAnnotations{Title: op.Summary, OpenWorldHint: new(bool)}
	switch strings.ToUpper(op.Method) {
	case http.MethodGet, http.MethodHead:
		ann.ReadOnlyHint, ann.IdempotentHint = true, true
	case http.MethodPost:
		ann.DestructiveHint = new(bool)
	case http.MethodPut, http.MethodDelete:
		ann.DestructiveHint, ann.IdempotentHint = ptr(true), true
	default:
		ann.DestructiveHint = ptr(true)
	}
	return &mcp.Tool{
		Name:        t.Name,
		Title:       op.Summary,
		Description: desc,
		InputSchema: t.InputSchema,
		Annotations: ann,
		Meta:        mcp.Meta{MetaOperation: op.OperationID, MetaPermission: t.Permission()},
	}
}

func ptr[T any](v T) *T { return &v }

// Tools returns the tools of the operations oapi documents, by name: each
// operation declared with dashcore.MCPTool. It is an error for such an
// operation to declare no requirement (auth.Require, auth.Public or
// auth.RequireAuthenticated) or to be one a tool cannot call (see
// [InputSchema]), and for two operations to declare one name.
func Tools(oapi *huma.OpenAPI) ([]*Tool, error) {
	var tools []*Tool
	byName := map[string]*Tool{}
	paths := make([]string, 0, len(oapi.Paths))
	for p := range oapi.Paths {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, path := range paths {
		item := oapi.Paths[path]
		if item == nil {
			continue
		}
		for _, op := range []*huma.Operation{item.Get, item.Put, item.Post, item.Delete, item.Options, item.Head, item.Patch, item.Trace} {
			name, ok := dashcore.MCPToolOf(op)
			if !ok {
				continue
			}
			t, err := newTool(oapi, op, name)
			if err != nil {
				return nil, err
			}
			if prev := byName[name]; prev != nil {
				return nil, fmt.Errorf("mcpserver: operations %q and %q are both tool %q; tool names must be unique",
					prev.Operation.OperationID, op.OperationID, name)
			}
			byName[name] = t
			tools = append(tools, t)
		}
	}
	slices.SortFunc(tools, func(a, b *Tool) int { return strings.Compare(a.Name, b.Name) })
	return tools, nil
}

func newTool(oapi *huma.OpenAPI, op *huma.Operation, name string) (*Tool, error) {
	req, ok := auth.RequirementOf(op)
	if !ok {
		return nil, fmt.Errorf("mcpserver: operation %q (tool %q) declares no requirement: declare who may call it with auth.Require", op.OperationID, name)
	}
	schema, err := InputSchema(oapi, op)
	if err != nil {
		return nil, err
	}
	pattern := strings.ToUpper(op.Method) + " " + op.Path
	if strings.HasSuffix(op.Path, "/") {
		pattern += "{$}" // as dashcore registers it: that path only
	}
	t := &Tool{Name: name, Operation: op, Pattern: pattern, Requirement: req, InputSchema: schema}
	for _, p := range op.Parameters {
		if p == nil || (p.In != "path" && p.In != "query") {
			continue
		}
		t.params = append(t.params, param{name: p.Name, in: p.In, explode: p.Explode != nil && *p.Explode})
	}
	return t, nil
}
