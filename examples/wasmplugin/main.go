//go:build wasip1

// Command wasmplugin is an example TaylorDash backend plugin: it welcomes
// every new project with an event, and serves GET /summary (the number of
// projects and the newest ones) and GET /hello under
// /api/v1/plugins/project-greeter/api/. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// and see README.md for the rest.
package main

import (
	"encoding/json"
	"fmt"

	"github.com/taylordash/taylordash/pluginhost/sdk"
)

// HTTP statuses (importing net/http for them would add 2 MB to the
// module).
const (
	statusOK         = 200
	statusNotFound   = 404
	statusBadGateway = 502
)

// config is the plugin's configuration (its manifest's config_schema).
type config struct {
	Greeting string `json:"greeting"`
}

func init() {
	sdk.HandleEvent(welcome)
	sdk.HandleHTTP(serve)
}

// welcome handles the events of the plugin's subscription
// (tracker/events/projects/#): for each project created, it publishes a
// project_welcomed event.
func welcome(ev sdk.Event) error {
	if ev.Kind != "project_created" || ev.Duplicate {
		return nil
	}
	var project struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(ev.Payload, &project); err != nil {
		return fmt.Errorf("decode %s: %w", ev.Kind, err)
	}
	c := loadConfig()
	sdk.Logf(sdk.LevelInfo, "welcoming project %q", project.Name)
	return sdk.Publish("project_welcomed", map[string]string{
		"project_id": project.ID,
		"message":    fmt.Sprintf("%s, %s!", c.Greeting, project.Name),
		"event_id":   ev.ID,
	})
}

// serve answers the plugin's API operations.
func serve(r sdk.Request) sdk.Response {
	switch {
	case r.Method == "GET" && r.Path == "/summary":
		list, err := sdk.ListProjects(sdk.ListOptions{Limit: 5})
		if err != nil {
			sdk.Logf(sdk.LevelError, "list projects: %v", err)
			return jsonResponse(statusBadGateway, map[string]string{"error": "projects are unavailable"})
		}
		names := make([]string, 0, len(list.Projects))
		for _, p := range list.Projects {
			names = append(names, p.Name)
		}
		return jsonResponse(statusOK, map[string]any{"total": list.Total, "newest": names})
	case r.Method == "GET" && r.Path == "/hello":
		name := "world"
		if v := r.Query["name"]; len(v) > 0 && v[0] != "" {
			name = v[0]
		}
		return jsonResponse(statusOK, map[string]string{"message": loadConfig().Greeting + ", " + name + "!"})
	default:
		return jsonResponse(statusNotFound, map[string]string{"error": "no such operation"})
	}
}

func loadConfig() config {
	c := config{Greeting: "Welcome"}
	if err := sdk.DecodeConfig(&c); err != nil {
		sdk.Logf(sdk.LevelWarn, "bad config: %v", err)
	}
	return c
}

func jsonResponse(status int, v any) sdk.Response {
	body, _ := json.Marshal(v)
	return sdk.Response{Status: status, Header: map[string][]string{"Content-Type": {"application/json"}}, Body: body}
}

func main() {}
