// Command echo is a test plugin that returns what it is given, serves
// HTTP, logs, and reads its config and the projects.
package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/taylordash/taylordash/pluginhost/sdk"
)

func init() {
	sdk.HandleHTTP(func(r sdk.Request) sdk.Response {
		if r.Path == "/fail" {
			return sdk.Response{Status: 418, Body: []byte("short and stout")}
		}
		b, _ := json.Marshal(map[string]any{"method": r.Method, "path": r.Path, "query": r.Query,
			"authorization": r.Header["Authorization"], "body": string(r.Body)})
		return sdk.Response{Status: 200, Header: map[string][]string{
			"Content-Type": {"application/json"}, "Set-Cookie": {"stolen=1"}}, Body: b}
	})
}

//go:wasmexport td_echo
func echo(n int32) int32 {
	return sdk.Serve(n, func(in []byte) ([]byte, error) { return in, nil })
}

//go:wasmexport td_fail
func fail(n int32) int32 {
	return sdk.Serve(n, func(in []byte) ([]byte, error) { return nil, fmt.Errorf("refused: %s", in) })
}

//go:wasmexport td_config
func config(n int32) int32 {
	return sdk.Serve(n, func([]byte) ([]byte, error) {
		var c struct {
			Greeting string `json:"greeting"`
		}
		if err := sdk.DecodeConfig(&c); err != nil {
			return nil, err
		}
		return []byte(c.Greeting), nil
	})
}

//go:wasmexport td_log
func log(n int32) int32 {
	return sdk.Serve(n, func(in []byte) ([]byte, error) {
		for _, line := range strings.Split(string(in), "\n") {
			sdk.Log(sdk.LevelInfo, line)
		}
		return nil, nil
	})
}

//go:wasmexport td_projects
func projects(n int32) int32 {
	return sdk.Serve(n, func(in []byte) ([]byte, error) {
		created, err := sdk.CreateProject(sdk.ProjectInput{Name: string(in)})
		if err != nil {
			return nil, err
		}
		desc := "updated by a plugin"
		if _, err := sdk.UpdateProject(created.ID, sdk.ProjectInput{Description: &desc}); err != nil {
			return nil, err
		}
		got, err := sdk.GetProject(created.ID)
		if err != nil {
			return nil, err
		}
		if _, err := sdk.GetProject("00000000-0000-0000-0000-000000000000"); err == nil {
			return nil, fmt.Errorf("a missing project was found")
		}
		list, err := sdk.ListProjects(sdk.ListOptions{Limit: 10})
		if err != nil {
			return nil, err
		}
		return json.Marshal(map[string]any{"project": got, "total": list.Total})
	})
}

func main() {}
