package mcpserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// BodyArgument is the argument holding an operation's request body in its
// tool's input; path and query parameters are arguments of their own
// names.
const BodyArgument = "body"

// componentRef is how huma refers to a named schema.
const componentRef = "#/components/schemas/"

// InputSchema returns the JSON Schema (2020-12, the dialect of OpenAPI
// 3.1 and of MCP) of the arguments of op's tool, derived from the schemas
// huma documents for the operation, hence from the same Go types:
//
//	{"type": "object",
//	 "properties": {<each path and query parameter>: <its schema>, "body": <the request body's schema>},
//	 "required": [<the path parameters, the required query parameters, "body" when the body is required>],
//	 "additionalProperties": false}
//
// Every $ref to oapi's components is resolved, so that the schema stands
// alone; a recursive schema keeps its recursion through "$defs". A
// parameter's description and example are copied into its schema.
//
// An operation a tool cannot call is an error: a required header or
// cookie parameter (optional ones are left out), a request body that is
// not JSON, or a parameter named "body".
func InputSchema(oapi *huma.OpenAPI, op *huma.Operation) (map[string]any, error) {
	r := newResolver(oapi)
	props := map[string]any{}
	var required []string
	for _, p := range op.Parameters {
		if p == nil {
			continue
		}
		if p.Ref != "" {
			return nil, fmt.Errorf("mcpserver: operation %q: parameter reference %s: only inline parameters are supported", op.OperationID, p.Ref)
		}
		switch p.In {
		case "path", "query":
		default:
			if p.Required {
				return nil, fmt.Errorf("mcpserver: operation %q needs the %s parameter %q, which a tool cannot pass", op.OperationID, p.In, p.Name)
			}
			continue
		}
		if p.Name == BodyArgument {
			return nil, fmt.Errorf("mcpserver: operation %q: parameter %q has the name of the body argument", op.OperationID, p.Name)
		}
		if _, dup := props[p.Name]; dup {
			return nil, fmt.Errorf("mcpserver: operation %q: two parameters are named %q", op.OperationID, p.Name)
		}
		s, err := r.schema(p.Schema)
		if err != nil {
			return nil, fmt.Errorf("mcpserver: operation %q: parameter %q: %w", op.OperationID, p.Name, err)
		}
		if _, ok := s["description"]; !ok && p.Description != "" {
			s["description"] = p.Description
		}
		if _, ok := s["examples"]; !ok && p.Example != nil {
			s["examples"] = []any{p.Example}
		}
		props[p.Name] = s
		if p.In == "path" || p.Required {
			required = append(required, p.Name)
		}
	}
	if rb := op.RequestBody; rb != nil {
		if rb.Ref != "" {
			return nil, fmt.Errorf("mcpserver: operation %q: request body reference %s: only inline request bodies are supported", op.OperationID, rb.Ref)
		}
		mt, ok := jsonMedia(rb.Content)
		if !ok {
			return nil, fmt.Errorf("mcpserver: operation %q: its request body is not JSON", op.OperationID)
		}
		s := map[string]any{}
		if mt.Schema != nil {
			var err error
			if s, err = r.schema(mt.Schema); err != nil {
				return nil, fmt.Errorf("mcpserver: operation %q: request body: %w", op.OperationID, err)
			}
		}
		if _, ok := s["description"]; !ok {
			s["description"] = "The request body of " + strings.ToUpper(op.Method) + " " + op.Path + "."
		}
		props[BodyArgument] = s
		if rb.Required {
			required = append(required, BodyArgument)
		}
	}
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		slices.Sort(required)
		out["required"] = required
	}
	defs, err := r.defs()
	if err != nil {
		return nil, fmt.Errorf("mcpserver: operation %q: %w", op.OperationID, err)
	}
	if len(defs) > 0 {
		out["$defs"] = defs
	}
	return out, nil
}

// jsonMedia returns the JSON media type of content: application/json, or
// else the first (by name) whose type ends in +json.
func jsonMedia(content map[string]*huma.MediaType) (*huma.MediaType, bool) {
	if mt, ok := content["application/json"]; ok && mt != nil {
		return mt, true
	}
	names := make([]string, 0, len(content))
	for name := range content {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if strings.HasSuffix(strings.SplitN(name, ";", 2)[0], "+json") && content[name] != nil {
			return content[name], true
		}
	}
	return nil, false
}

// resolver inlines the component schemas a schema refers to.
type resolver struct {
	oapi *huma.OpenAPI
	// raw caches each component as decoded JSON; resolve copies it.
	raw map[string]map[string]any
	// open holds the components being inlined, to find recursion.
	open map[string]bool
	// recursive holds the components referred to from within themselves,
	// which go to $defs.
	recursive map[string]bool
}

func newResolver(oapi *huma.OpenAPI) *resolver {
	return &resolver{oapi: oapi, raw: map[string]map[string]any{}, open: map[string]bool{}, recursive: map[string]bool{}}
}

// schema returns s as decoded JSON with its references resolved; nil is
// the schema that accepts anything ({}).
func (r *resolver) schema(s *huma.Schema) (map[string]any, error) {
	if s == nil {
		return map[string]any{}, nil
	}
	m, err := decode(s)
	if err != nil {
		return nil, err
	}
	v, err := r.resolve(m)
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

// decode returns the JSON form of s as maps, keeping numbers exact.
func decode(s *huma.Schema) (map[string]any, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode schema: %w", err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode schema: %w", err)
	}
	return m, nil
}

// component returns the decoded component schema name.
func (r *resolver) component(name string) (map[string]any, error) {
	if m, ok := r.raw[name]; ok {
		return m, nil
	}
	var s *huma.Schema
	if r.oapi != nil && r.oapi.Components != nil && r.oapi.Components.Schemas != nil {
		s = r.oapi.Components.Schemas.Map()[name]
	}
	if s == nil {
		return nil, fmt.Errorf("schema %s%s is not in the document", componentRef, name)
	}
	m, err := decode(s)
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", name, err)
	}
	r.raw[name] = m
	return m, nil
}

// resolve returns a copy of v with every component reference inlined,
// or, for a component being inlined already, pointed at $defs.
func (r *resolver) resolve(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		if ref, ok := t["$ref"].(string); ok {
			return r.ref(ref, t)
		}
		out := make(map[string]any, len(t))
		for k, x := range t {
			y, err := r.resolve(x)
			if err != nil {
				return nil, err
			}
			out[k] = y
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			y, err := r.resolve(x)
			if err != nil {
				return nil, err
			}
			out[i] = y
		}
		return out, nil
	}
	return v, nil
}

// ref resolves the reference of schema t; the other keys of t (a
// description next to the reference) win over the component's.
func (r *resolver) ref(ref string, t map[string]any) (any, error) {
	name, ok := strings.CutPrefix(ref, componentRef)
	if !ok {
		return nil, fmt.Errorf("reference %q: only %s... references are supported", ref, componentRef)
	}
	var out map[string]any
	if r.open[name] {
		r.recursive[name] = true
		out = map[string]any{"$ref": "#/$defs/" + name}
	} else {
		raw, err := r.component(name)
		if err != nil {
			return nil, err
		}
		r.open[name] = true
		v, err := r.resolve(raw)
		delete(r.open, name)
		if err != nil {
			return nil, err
		}
		out = v.(map[string]any)
	}
	for k, x := range t {
		if k == "$ref" {
			continue
		}
		y, err := r.resolve(x)
		if err != nil {
			return nil, err
		}
		out[k] = y
	}
	return out, nil
}

// defs returns the recursive components, each resolved with its own
// recursion pointing at $defs.
func (r *resolver) defs() (map[string]any, error) {
	defs := map[string]any{}
	for {
		var next string
		for name := range r.recursive {
			if _, done := defs[name]; !done && (next == "" || name < next) {
				next = name
			}
		}
		if next == "" {
			return defs, nil
		}
		raw, err := r.component(next)
		if err != nil {
			return nil, err
		}
		r.open[next] = true
		v, err := r.resolve(raw)
		delete(r.open, next)
		if err != nil {
			return nil, err
		}
		defs[next] = v
	}
}
