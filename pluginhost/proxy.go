package pluginhost

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
)

// ProxyPrefix is where a plugin calls the API: ProxyPrefix/<id>/proxy/
// followed by the API path after /api/v1/, e.g.
// /api/v1/plugins/project-dashboard/proxy/projects.
const ProxyPrefix = "/api/v1/plugins/"

var proxyMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// documentProxy documents the proxy routes (plain handlers) as needing
// an authenticated principal; the handler then checks that it is the
// plugin itself and applies the plugin's declarations.
func documentProxy(api huma.API) {
	for _, m := range proxyMethods {
		op := auth.RequireAuthenticated(huma.Operation{
			OperationID: "plugin-proxy-" + strings.ToLower(m), Method: m, Path: "/api/v1/plugins/{plugin_id}/proxy/{path...}",
			Tags: []string{"plugins"}, Summary: "A plugin's call to the API (" + m + ")",
			Description: "The API gateway of plugins. The caller must be the plugin itself (its token from " +
				"POST /api/v1/plugins/{plugin_id}/token). The call is forwarded to /api/v1/{path} only if the path is " +
				"declared in the manifest's api_endpoints and the plugin's role (plugin:<id>, holding exactly its " +
				"manifest permissions) allows the operation; every call is recorded in plugin_api_access, and a denied " +
				"call is a security violation (403).",
			Parameters: []*huma.Param{
				{Name: "plugin_id", In: "path", Required: true, Schema: &huma.Schema{Type: "string"}, Example: "project-dashboard"},
				{Name: "path", In: "path", Required: true, Schema: &huma.Schema{Type: "string"}, Description: "The API path after /api/v1/.", Example: "projects"},
			},
			Responses: map[string]*huma.Response{
				"200": {Description: "The API's answer."},
				"403": {Description: "Not the plugin, an undeclared endpoint, or a permission the plugin does not hold."},
			},
		})
		api.OpenAPI().AddOperation(&op)
	}
}

// proxy serves a plugin's call to the API.
func (rt *Routes) proxy(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("plugin_id")
	p := auth.PrincipalFrom(ctx)
	if p == nil || p.Kind != auth.KindPlugin || p.Subject != Role(id) {
		dashcore.WriteProblem(w, r, http.StatusForbidden, "only the plugin itself may call through its proxy; get a token from POST /api/v1/plugins/"+id+"/token")
		return
	}
	started := time.Now()
	rel := r.PathValue("path")
	target := "/api/v1/" + rel
	deny := func(permission, why, vtype string) {
		rt.recordAccess(ctx, id, r.Method, target, permission, false, http.StatusForbidden, time.Since(started))
		rt.violation(ctx, Violation{PluginID: id, Type: vtype, Severity: "high", Origin: "proxy",
			Description: fmt.Sprintf("%s %s refused: %s", r.Method, target, why),
			Context:     map[string]any{"method": r.Method, "path": target, "permission": permission}})
		dashcore.WriteProblem(w, r, http.StatusForbidden, fmt.Sprintf("the plugin may not call %s %s: %s", r.Method, target, why))
	}
	if rel == "" || path.Clean(target) != target || strings.HasPrefix(target, ProxyPrefix) {
		deny("", "the path is not an API path a plugin may call", "unauthorized_api_access")
		return
	}
	pl, err := rt.Registry.Get(ctx, id)
	if err != nil {
		dashcore.WriteProblem(w, r, http.StatusNotFound, "no such plugin")
		return
	}
	if !pl.Manifest.AllowsEndpoint(target) {
		deny("", "the endpoint is not declared in the manifest's api_endpoints", "unauthorized_api_access")
		return
	}
	inner := r.Clone(ctx)
	inner.URL.Path, inner.URL.RawPath = target, ""
	inner.RequestURI = inner.URL.RequestURI()
	perm, status, why := rt.authorize(p, inner)
	switch status {
	case http.StatusNotFound:
		rt.recordAccess(ctx, id, r.Method, target, "", true, http.StatusNotFound, time.Since(started))
		dashcore.WriteProblem(w, r, http.StatusNotFound, "")
		return
	case http.StatusForbidden:
		vtype := "unauthorized_api_access"
		if perm.Resource != "" {
			vtype = "permission_escalation"
		}
		deny(perm.String(), why, vtype)
		return
	}
	rec := dashcore.NewResponseRecorder(w)
	rt.mux.ServeHTTP(rec, inner)
	rt.recordAccess(ctx, id, r.Method, target, perm.String(), true, rec.Status(), time.Since(started))
}

// recordAccess stores one proxied call; a failure is logged.
func (rt *Routes) recordAccess(ctx context.Context, id, method, target, perm string, allowed bool, status int, d time.Duration) {
	if perm == ":" {
		perm = ""
	}
	if err := rt.Registry.RecordAccess(context.WithoutCancel(ctx), id, method, target, perm, allowed, status, d); err != nil && rt.Logger != nil {
		rt.Logger.ErrorContext(ctx, "plugin API access not recorded", slog.String("plugin", id), slog.Any("error", err))
	}
}

// violation records a runtime violation; a failure is logged.
func (rt *Routes) violation(ctx context.Context, v Violation) {
	if err := rt.Registry.AddViolations(context.WithoutCancel(ctx), v.PluginID, v); err != nil && rt.Logger != nil {
		rt.Logger.ErrorContext(ctx, "plugin violation not recorded", slog.String("plugin", v.PluginID), slog.Any("error", err))
	}
}
