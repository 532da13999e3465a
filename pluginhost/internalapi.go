package pluginhost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/pluginhost/wasm"
)

// errAPINotReady is returned before the routes are registered.
var errAPINotReady = errors.New("pluginhost: the API is not serving yet")

// callAPI runs an API operation in-process as principal p, as the proxy
// does: the operation's declared requirement is checked with the
// authorizer (the guard does not see in-process calls), then its handler
// serves the request. It returns the status and body.
func (rt *Routes) callAPI(ctx context.Context, p *auth.Principal, method, target string, body []byte) (int, []byte, error) {
	if rt.mux == nil || rt.oapi == nil {
		return 0, nil, errAPINotReady
	}
	req, err := http.NewRequestWithContext(auth.WithPrincipal(ctx, p), method, target, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("pluginhost: internal request %s %s: %w", method, target, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if _, status, _ := rt.authorize(p, req); status != http.StatusOK {
		return status, nil, nil
	}
	rec := httptest.NewRecorder()
	rt.mux.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes(), nil
}

// authorize finds the operation req would reach and checks its declared
// requirement for p, as the guard would: 200 when allowed, 404 when no
// documented operation serves it, 403 (with why) when it declares no
// requirement or p lacks its permission. It returns the permission
// checked.
func (rt *Routes) authorize(p *auth.Principal, req *http.Request) (auth.Permission, int, string) {
	_, pattern := rt.mux.Handler(req)
	op := dashcore.DocumentedOperation(rt.oapi, pattern)
	r, declared := auth.RequirementOf(op)
	switch {
	case pattern == "" || op == nil:
		return auth.Permission{}, http.StatusNotFound, ""
	case !declared:
		return auth.Permission{}, http.StatusForbidden, "the operation declares no requirement"
	case r.Permission.Resource != "" && (rt.Authorizer == nil || !rt.Authorizer.Allowed(p, r.Permission)):
		return r.Permission, http.StatusForbidden, "the plugin does not hold " + r.Permission.String()
	}
	return r.Permission, http.StatusOK, ""
}

// projectsViaAPI is the wasm plugins' ProjectStore: their projects_*
// host functions run the API's own operations, as the plugin's
// principal, so the same repositories, validation, events and RBAC
// apply.
type projectsViaAPI struct {
	host *WasmHost
}

var _ wasm.ProjectStore = projectsViaAPI{}

func pluginPrincipal(id string) *auth.Principal {
	return &auth.Principal{Subject: Role(id), Name: id, Kind: auth.KindPlugin, Roles: []string{Role(id)}, Method: auth.MethodInternal}
}

func (pa projectsViaAPI) do(ctx context.Context, pluginID, method, target string, body []byte) (json.RawMessage, error) {
	if pa.host.api == nil {
		return nil, errAPINotReady
	}
	status, out, err := pa.host.api.callAPI(ctx, pluginPrincipal(pluginID), method, target, body)
	switch {
	case err != nil:
		return nil, err
	case status == http.StatusNotFound:
		return nil, fmt.Errorf("%w: %s", wasm.ErrNotFound, target)
	case status == http.StatusForbidden:
		return nil, fmt.Errorf("pluginhost: plugin %s may not %s %s", pluginID, method, target)
	case status == http.StatusBadRequest || status == http.StatusUnprocessableEntity || status == http.StatusConflict:
		var pr struct {
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(out, &pr)
		return nil, fmt.Errorf("%w: %s", wasm.ErrInvalidArgument, pr.Detail)
	case status >= 300:
		return nil, fmt.Errorf("pluginhost: %s %s answered %d", method, target, status)
	}
	return out, nil
}

// ListProjects implements wasm.ProjectStore.
func (pa projectsViaAPI) ListProjects(ctx context.Context, pluginID string, limit, offset int) (json.RawMessage, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if offset > 0 {
		q.Set("offset", strconv.Itoa(offset))
	}
	target := "/api/v1/projects"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	return pa.do(ctx, pluginID, http.MethodGet, target, nil)
}

// GetProject implements wasm.ProjectStore.
func (pa projectsViaAPI) GetProject(ctx context.Context, pluginID, id string) (json.RawMessage, error) {
	return pa.do(ctx, pluginID, http.MethodGet, "/api/v1/projects/"+url.PathEscape(id), nil)
}

// CreateProject implements wasm.ProjectStore.
func (pa projectsViaAPI) CreateProject(ctx context.Context, pluginID string, input json.RawMessage) (json.RawMessage, error) {
	return pa.do(ctx, pluginID, http.MethodPost, "/api/v1/projects", input)
}

// UpdateProject implements wasm.ProjectStore.
func (pa projectsViaAPI) UpdateProject(ctx context.Context, pluginID, id string, input json.RawMessage) (json.RawMessage, error) {
	return pa.do(ctx, pluginID, http.MethodPut, "/api/v1/projects/"+url.PathEscape(id), input)
}
