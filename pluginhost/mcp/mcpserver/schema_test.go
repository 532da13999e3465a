package mcpserver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/humatest"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/pluginhost/mcp/mcpserver"
)

// asJSON returns v marshaled and decoded again, for comparisons.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func thingsAPI(t *testing.T) huma.API {
	t.Helper()
	_, api := humatest.New(t)
	thingsRoutes().Register(api)
	return api
}

func TestInputSchemaOfParameters(t *testing.T) {
	api := thingsAPI(t)
	oapi := api.OpenAPI()

	got, err := mcpserver.InputSchema(oapi, oapi.Paths["/things"].Get)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"type": "object", "additionalProperties": false,
		"properties": map[string]any{
			"limit": map[string]any{"type": "integer", "format": "int64", "minimum": 1.0, "maximum": 100.0, "default": 10.0, "description": "Page size."},
			"tags":  map[string]any{"type": []any{"array", "null"}, "items": map[string]any{"type": "string"}, "description": "Only things with these tags."},
		},
	}
	if g := asJSON(t, got); !reflect.DeepEqual(g, want) {
		t.Fatalf("list-things input\n got %v\nwant %v", g, want)
	}

	got, err = mcpserver.InputSchema(oapi, oapi.Paths["/things/{id}"].Get)
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]any{
		"type": "object", "additionalProperties": false, "required": []any{"id"},
		"properties": map[string]any{
			"id": map[string]any{"type": "string", "description": "The thing's id.", "examples": []any{"t1"}},
		},
	}
	if g := asJSON(t, got); !reflect.DeepEqual(g, want) {
		t.Fatalf("get-thing input\n got %v\nwant %v", g, want)
	}
}

// The body's schema is the component huma made of the Go type, with its
// references inlined and its recursion kept in $defs.
func TestInputSchemaOfBody(t *testing.T) {
	api := thingsAPI(t)
	oapi := api.OpenAPI()
	got, err := mcpserver.InputSchema(oapi, oapi.Paths["/things"].Post)
	if err != nil {
		t.Fatal(err)
	}
	g := asJSON(t, got).(map[string]any)
	if !reflect.DeepEqual(g["required"], []any{"body"}) {
		t.Fatalf("required %v", g["required"])
	}
	body := g["properties"].(map[string]any)["body"].(map[string]any)
	comp := asJSON(t, oapi.Components.Schemas.Map()["NewThing"]).(map[string]any)
	if !reflect.DeepEqual(body["required"], comp["required"]) || body["additionalProperties"] != false {
		t.Fatalf("body %v, want NewThing %v", body, comp)
	}
	props := body["properties"].(map[string]any)
	if !reflect.DeepEqual(props["name"], comp["properties"].(map[string]any)["name"]) {
		t.Fatalf("name %v, want %v", props["name"], comp["properties"].(map[string]any)["name"])
	}
	owner := asJSON(t, oapi.Components.Schemas.Map()["Owner"])
	if !reflect.DeepEqual(props["owner"], owner) {
		t.Fatalf("owner %v, want the Owner component inlined %v", props["owner"], owner)
	}
	// NewThing holds NewThings: the recursion goes through $defs.
	children := props["children"].(map[string]any)
	if !reflect.DeepEqual(children["items"], map[string]any{"$ref": "#/$defs/NewThing"}) {
		t.Fatalf("children %v", children)
	}
	defs := g["$defs"].(map[string]any)
	def := defs["NewThing"].(map[string]any)
	if !reflect.DeepEqual(def["required"], comp["required"]) ||
		!reflect.DeepEqual(def["properties"].(map[string]any)["children"].(map[string]any)["items"], map[string]any{"$ref": "#/$defs/NewThing"}) {
		t.Fatalf("$defs %v", defs)
	}
	b, _ := json.Marshal(got)
	if strings.Contains(string(b), "#/components/") {
		t.Fatalf("the schema refers to the document: %s", b)
	}
}

func TestToolsRefusesWhatAToolCannotCall(t *testing.T) {
	for _, c := range []struct {
		name     string
		register func(api huma.API)
		want     string
	}{
		{"no requirement", func(api huma.API) {
			huma.Register(api, dashcore.MCPTool(huma.Operation{OperationID: "open", Method: http.MethodGet, Path: "/open"}, "open"),
				func(context.Context, *struct{}) (*struct{}, error) { return nil, nil })
		}, "declares no requirement"},
		{"duplicate", func(api huma.API) {
			for _, p := range []string{"/a", "/b"} {
				huma.Register(api, dashcore.MCPTool(auth.Public(huma.Operation{OperationID: "get" + p[1:], Method: http.MethodGet, Path: p}, ""), "same"),
					func(context.Context, *struct{}) (*struct{}, error) { return nil, nil })
			}
		}, `both tool "same"`},
		{"required header", func(api huma.API) {
			huma.Register(api, dashcore.MCPTool(auth.Public(huma.Operation{OperationID: "h", Method: http.MethodGet, Path: "/h"}, ""), "h"),
				func(context.Context, *struct {
					Token string `header:"X-Token" required:"true"`
				}) (*struct{}, error) {
					return nil, nil
				})
		}, `needs the header parameter "X-Token"`},
		{"body parameter", func(api huma.API) {
			huma.Register(api, dashcore.MCPTool(auth.Public(huma.Operation{OperationID: "b", Method: http.MethodGet, Path: "/b"}, ""), "b"),
				func(context.Context, *struct {
					B string `query:"body"`
				}) (*struct{}, error) {
					return nil, nil
				})
		}, "the name of the body argument"},
		{"not JSON", func(api huma.API) {
			op := auth.Public(huma.Operation{OperationID: "up", Method: http.MethodPost, Path: "/up",
				RequestBody: &huma.RequestBody{Content: map[string]*huma.MediaType{"multipart/form-data": {Schema: &huma.Schema{Type: "object"}}}}}, "")
			huma.Register(api, dashcore.MCPTool(op, "up"), func(context.Context, *struct{}) (*struct{}, error) { return nil, nil })
		}, "not JSON"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, api := humatest.New(t)
			c.register(api)
			_, err := mcpserver.Tools(api.OpenAPI())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Tools: %v, want an error holding %q", err, c.want)
			}
		})
	}
}
