package pluginhost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
)

// Audit event types of plugin changes.
const (
	AuditPluginInstalled   = "plugin_installed"
	AuditPluginRejected    = "plugin_rejected"
	AuditPluginUpdated     = "plugin_updated"
	AuditPluginUninstalled = "plugin_uninstalled"
	AuditPluginEnabled     = "plugin_enabled"
	AuditPluginDisabled    = "plugin_disabled"
	AuditPluginConfigured  = "plugin_configured"
	AuditPluginScanned     = "plugin_scanned"
)

// Permissioner answers whether a principal holds a permission (the
// auth module's *auth.Authorizer).
type Permissioner interface {
	Allowed(p *auth.Principal, perm auth.Permission) bool
}

// Routes is the plugin lifecycle API under /api/v1/plugins, keeping the
// original's paths and response keys. Reading needs plugins:read,
// changing plugins:admin; every change is audited.
type Routes struct {
	// Installer installs, updates and removes plugins.
	Installer *Installer
	// Registry reads plugin rows.
	Registry *Registry
	// Authorizer decides who sees secret configuration values; nil hides
	// them from everyone.
	Authorizer Permissioner
	// Auditor records changes; nil records nothing.
	Auditor auth.Auditor
	// Principals keeps plugins' roles in the policy and issues their
	// tokens; nil disables tokens and the proxy.
	Principals *Principals
	// Wasm runs the wasm plugins; nil serves no plugin operations.
	Wasm *WasmHost
	// Logger receives audit failures; nil discards them.
	Logger *slog.Logger

	mux  *http.ServeMux
	oapi *huma.OpenAPI
	// scriptHashes caches the inline-script hashes of served pages, by
	// file path.
	scriptHashes sync.Map
}

// Contribution returns the routes as a dashcore contribution.
func (rt *Routes) Contribution() dashcore.Routes {
	return dashcore.Routes{Name: "plugins", Register: rt.Register, Handle: rt.Handle}
}

// Handle adds the plain handler serving UI plugin assets
// ([AssetsPattern]).
func (rt *Routes) Handle(mux *http.ServeMux) {
	rt.mux = mux
	mux.HandleFunc(AssetsPattern, rt.serveAsset)
	for _, m := range proxyMethods {
		mux.HandleFunc(m+" /api/v1/plugins/{plugin_id}/proxy/{path...}", rt.proxy)
		if rt.Wasm != nil {
			mux.HandleFunc(m+" "+pluginAPIPattern, rt.Wasm.serveHTTP)
		}
	}
}

// Register adds the operations to api.
func (rt *Routes) Register(api huma.API) {
	tags := []string{"plugins"}
	rt.oapi = api.OpenAPI()
	documentAssets(api)
	documentProxy(api)
	if rt.Wasm != nil {
		documentPluginAPI(api)
	}
	maxBody := rt.Installer.cfg.Limits.MaxArchiveBytes + 1<<20
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "install-plugin", Method: http.MethodPost, Path: "/api/v1/plugins/install", Tags: tags,
		Summary: "Install a plugin",
		Description: "From an https URL pinned by sha256 (`url` + `sha256`, or the original's `repository_url` + " +
			"`version` + `sha256` for a GitHub release archive), from a host directory (`path`, when the host " +
			"allows it), or from a multipart upload whose file field is `archive` (.zip or .tar.gz). The bundle is " +
			"staged, checked (archive guards, manifest, UI scanner or wasm module check) and installed in one " +
			"transaction. A refused bundle is answered 200 with status `rejected` and the findings; nothing is kept.",
		MaxBodyBytes:  maxBody,
		DefaultStatus: http.StatusOK,
		Errors:        auth.Guarded(http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity),
	}, "plugins", "admin"), rt.install)
	documentRequestBody(api, "/api/v1/plugins/install", http.MethodPost)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "list-plugins", Method: http.MethodGet, Path: "/api/v1/plugins/list", Tags: tags,
		Summary: "List installed plugins", Errors: auth.Guarded(http.StatusUnprocessableEntity),
	}, "plugins", "read"), rt.list)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "plugin-stats", Method: http.MethodGet, Path: "/api/v1/plugins/stats/overview", Tags: tags,
		Summary: "Plugin statistics", Errors: auth.Guarded(),
	}, "plugins", "read"), rt.stats)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "plugin-registry", Method: http.MethodGet, Path: "/api/v1/plugins/registry", Tags: tags,
		Summary:     "The plugin registry for the frontend",
		Description: "What the original wrote into a TypeScript file, served as JSON: every enabled plugin and where its UI is.",
		Errors:      auth.Guarded(),
	}, "plugins", "read"), rt.registry)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "refresh-plugin-registry", Method: http.MethodPost, Path: "/api/v1/plugins/registry/refresh", Tags: tags,
		Summary: "Rebuild the plugin registry", Description: "Kept for the original's clients: the registry is always current; this returns it.",
		Errors: auth.Guarded(),
	}, "plugins", "admin"), rt.refreshRegistry)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "get-plugin", Method: http.MethodGet, Path: "/api/v1/plugins/{plugin_id}", Tags: tags,
		Summary:     "Get a plugin",
		Description: "Configuration values that the plugin's config_schema marks secret (writeOnly) are masked unless the caller holds plugins:admin.",
		Errors:      auth.Guarded(http.StatusNotFound, http.StatusUnprocessableEntity),
	}, "plugins", "read"), rt.get)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "uninstall-plugin", Method: http.MethodDelete, Path: "/api/v1/plugins/{plugin_id}", Tags: tags,
		Summary: "Uninstall a plugin", Errors: auth.Guarded(http.StatusNotFound, http.StatusUnprocessableEntity),
	}, "plugins", "admin"), rt.uninstall)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "update-plugin", Method: http.MethodPut, Path: "/api/v1/plugins/{plugin_id}/update", Tags: tags,
		Summary:      "Update a plugin",
		Description:  "Installs a new version (or the same version with another sha256) of an installed plugin from a new source; the id must stay the same and the configuration is kept.",
		MaxBodyBytes: maxBody,
		Errors:       auth.Guarded(http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity),
	}, "plugins", "admin"), rt.update)
	documentRequestBody(api, "/api/v1/plugins/{plugin_id}/update", http.MethodPut)
	for _, on := range []bool{true, false} {
		verb, op := "enable", "Enable"
		if !on {
			verb, op = "disable", "Disable"
		}
		huma.Register(api, auth.Require(huma.Operation{
			OperationID: verb + "-plugin", Method: http.MethodPost, Path: "/api/v1/plugins/{plugin_id}/" + verb, Tags: tags,
			Summary: op + " a plugin", Errors: auth.Guarded(http.StatusNotFound, http.StatusUnprocessableEntity),
		}, "plugins", "admin"), func(ctx context.Context, in *pluginIDInput) (*messageOutput, error) {
			return rt.setEnabled(ctx, in.PluginID, on)
		})
	}
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "plugin-token", Method: http.MethodPost, Path: "/api/v1/plugins/{plugin_id}/token", Tags: tags,
		Summary: "A token for a plugin",
		Description: "A short-lived bearer token (tdp_...) that authenticates the plugin itself, for the host page to " +
			"hand to the plugin's iframe or to relay its API calls: it is good only at the plugin's proxy " +
			"(/api/v1/plugins/{plugin_id}/proxy/...), where the manifest's api_endpoints and permissions apply.",
		Errors: auth.Guarded(http.StatusNotFound, http.StatusUnprocessableEntity),
	}, "plugins", "read"), rt.token)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "configure-plugin", Method: http.MethodPost, Path: "/api/v1/plugins/{plugin_id}/config", Tags: tags,
		Summary: "Configure a plugin", Description: "The configuration must satisfy the plugin's config_schema; the old and new values are kept in the history.",
		Errors: auth.Guarded(http.StatusNotFound, http.StatusUnprocessableEntity),
	}, "plugins", "admin"), rt.configure)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "plugin-health", Method: http.MethodGet, Path: "/api/v1/plugins/{plugin_id}/health", Tags: tags,
		Summary: "A plugin's health", Description: "From its security score and its runtime record: calls, errors, traps and denials.",
		Errors: auth.Guarded(http.StatusNotFound, http.StatusUnprocessableEntity),
	}, "plugins", "read"), rt.health)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "plugin-violations", Method: http.MethodGet, Path: "/api/v1/plugins/{plugin_id}/security/violations", Tags: tags,
		Summary: "A plugin's security violations", Errors: auth.Guarded(http.StatusNotFound, http.StatusUnprocessableEntity),
	}, "plugins", "read"), rt.violations)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "scan-plugin", Method: http.MethodPost, Path: "/api/v1/plugins/{plugin_id}/security/scan", Tags: tags,
		Summary: "Rescan a plugin", Description: "Scans the installed files again with the current rules and replaces the stored findings.",
		Errors: auth.Guarded(http.StatusNotFound, http.StatusUnprocessableEntity),
	}, "plugins", "admin"), rt.scan)
}

// documentRequestBody replaces the raw body huma documents for an
// install or update with its two real forms. The handler reads the raw
// body itself, so huma must not parse it (it knows no multipart parser
// for a body that may also be JSON).
func documentRequestBody(api huma.API, path, method string) {
	if op := dashcore.DocumentedOperation(api.OpenAPI(), method+" "+path); op != nil {
		op.RequestBody = installRequestBody()
	}
}

// installRequestBody documents the two request forms of install/update.
func installRequestBody() *huma.RequestBody {
	return &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
		"application/json": {
			Schema: &huma.Schema{Type: "object", Properties: map[string]*huma.Schema{
				"url":            {Type: "string", Format: "uri", Description: "An https URL of a .zip or .tar.gz."},
				"sha256":         {Type: "string", Pattern: "^[0-9a-fA-F]{64}$", Description: "The archive's SHA-256; required with url or repository_url."},
				"repository_url": {Type: "string", Format: "uri", Description: "The original's GitHub repository URL; with version, names the release archive."},
				"version":        {Type: "string", Description: "The release tag, with repository_url."},
				"path":           {Type: "string", Description: "An absolute bundle directory on the host, when allowed."},
				"force":          {Type: "boolean", Description: "Reinstall the same version."},
				"target_version": {Type: "string", Description: "The original's update field, with repository_url."},
			}},
			Example: map[string]any{"url": "https://plugins.example.com/project-dashboard-1.2.0.zip",
				"sha256": "9f2c6d1b0a6e4f3c8d7b5a4e3f2c1d0b9a8e7f6d5c4b3a291807f6e5d4c3b2a1"},
		},
		"multipart/form-data": {
			Schema: &huma.Schema{Type: "object", Required: []string{"archive"}, Properties: map[string]*huma.Schema{
				"archive": {Type: "string", ContentEncoding: "binary", Description: "The .zip or .tar.gz bundle."},
				"force":   {Type: "string", Enum: []any{"true", "false"}},
			}},
			Example: map[string]any{"archive": "(the bytes of project-dashboard-1.2.0.zip)", "force": "false"},
		},
	}}
}

type pluginIDInput struct {
	PluginID string `path:"plugin_id" minLength:"3" maxLength:"50" pattern:"^[a-z0-9-]+$" doc:"The plugin's id."`
}

type installInput struct {
	ContentType string `header:"Content-Type"`
	RawBody     []byte
}

// installBody is the JSON form of install and update requests.
type installBody struct {
	URL           string `json:"url"`
	SHA256        string `json:"sha256"`
	RepositoryURL string `json:"repository_url"`
	Version       string `json:"version"`
	TargetVersion string `json:"target_version"`
	Path          string `json:"path"`
	Force         bool   `json:"force"`
	PluginID      string `json:"plugin_id"`
}

// InstallResponse is the answer of install and update: the original's
// keys (status, plugin_id, message, installation_id) and the findings.
type InstallResponse struct {
	Status          string    `json:"status" enum:"installed,already_installed,rejected" example:"installed" doc:"installed (or updated), already_installed, or rejected (nothing was kept)."`
	PluginID        string    `json:"plugin_id,omitempty"`
	Version         string    `json:"version,omitempty"`
	PreviousVersion string    `json:"previous_version,omitempty"`
	Message         string    `json:"message"`
	InstallationID  string    `json:"installation_id"`
	Findings        []Finding `json:"findings"`
	UnknownKeys     []string  `json:"unknown_keys,omitempty" doc:"Manifest keys this version does not know; ignored."`
}

type installOutput struct {
	Body InstallResponse
}

// source reads the request's source: JSON or a multipart upload.
func (rt *Routes) source(in *installInput, update bool) (Source, bool, error) {
	mt, params, err := mime.ParseMediaType(in.ContentType)
	if err != nil {
		return Source{}, false, dashcore.NewError(dashcore.ErrInvalid, "Content-Type must be application/json or multipart/form-data", nil)
	}
	switch mt {
	case "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(in.RawBody), params["boundary"])
		var archive []byte
		force := false
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return Source{}, false, dashcore.NewError(dashcore.ErrBadRequest, "the multipart body is malformed", nil)
			}
			switch part.FormName() {
			case "archive":
				archive, err = io.ReadAll(part)
				if err != nil {
					return Source{}, false, dashcore.NewError(dashcore.ErrBadRequest, "the multipart body is malformed", nil)
				}
			case "force":
				v, _ := io.ReadAll(io.LimitReader(part, 16))
				force, _ = strconv.ParseBool(strings.TrimSpace(string(v)))
			}
		}
		if archive == nil {
			return Source{}, false, fieldError("body.archive", "the multipart form needs a file field named archive")
		}
		return FromArchive(bytes.NewReader(archive)), force, nil
	case "application/json":
		var b installBody
		dec := json.NewDecoder(bytes.NewReader(in.RawBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&b); err != nil {
			return Source{}, false, dashcore.NewError(dashcore.ErrBadRequest, "the body is not the expected JSON object: "+jsonProblem(err), nil)
		}
		if b.RepositoryURL != "" && b.URL == "" {
			version := b.Version
			if update && b.TargetVersion != "" {
				version = b.TargetVersion
			}
			if version == "" {
				return Source{}, false, fieldError("body.version", "repository_url needs a version (the release tag) and its sha256")
			}
			b.URL = strings.TrimSuffix(b.RepositoryURL, "/") + "/archive/refs/tags/" + version + ".zip"
		}
		switch {
		case b.URL != "" && b.Path != "":
			return Source{}, false, fieldError("body", "give url (or repository_url) or path, not both")
		case b.URL != "":
			if b.SHA256 == "" {
				return Source{}, false, fieldError("body.sha256", "a URL source must be pinned by its sha256")
			}
			return FromURL(b.URL, b.SHA256), b.Force, nil
		case b.Path != "":
			return FromPath(b.Path), b.Force, nil
		}
		return Source{}, false, fieldError("body", "give url and sha256, repository_url, version and sha256, or path; or upload a multipart archive")
	}
	return Source{}, false, dashcore.NewError(dashcore.ErrInvalid, "Content-Type must be application/json or multipart/form-data", nil)
}

func fieldError(location, msg string) error {
	return &dashcore.Error{Kind: dashcore.ErrInvalid, Detail: msg,
		Fields: []*huma.ErrorDetail{{Location: location, Message: msg}}}
}

func (rt *Routes) install(ctx context.Context, in *installInput) (*installOutput, error) {
	return rt.doInstall(ctx, in, "", false)
}

func (rt *Routes) doInstall(ctx context.Context, in *installInput, id string, update bool) (*installOutput, error) {
	src, force, err := rt.source(in, update)
	if err != nil {
		return nil, err
	}
	actor := ""
	if p := auth.PrincipalFrom(ctx); p != nil {
		actor = p.Subject
	}
	started := time.Now()
	res, err := rt.Installer.Install(ctx, InstallRequest{Source: src, Force: force || update, Update: update, ExpectID: id, Actor: actor})
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	out := &installOutput{Body: InstallResponse{Status: res.Status, PluginID: res.PluginID, Version: res.Version,
		PreviousVersion: res.PreviousVersion, Message: res.Message, InstallationID: newInstallationID(),
		Findings: res.Findings, UnknownKeys: res.Unknown}}
	if out.Body.Findings == nil {
		out.Body.Findings = []Finding{}
	}
	typ := AuditPluginInstalled
	switch {
	case res.Status == OutcomeRejected:
		typ = AuditPluginRejected
	case update:
		typ = AuditPluginUpdated
	}
	if res.Status == OutcomeInstalled && res.Plugin != nil {
		rt.syncRole(ctx, res.PluginID, res.Plugin.Manifest.Permissions)
		rt.syncWasm(ctx)
	}
	if res.Status != OutcomeAlreadyInstalled {
		rt.audit(ctx, typ, outcomeOf(res.Status != OutcomeRejected), map[string]any{
			"plugin_id": res.PluginID, "version": res.Version, "previous_version": res.PreviousVersion,
			"source": src.kind, "findings": len(res.Findings), "blocking": countBlocking(res.Findings),
			"installation_id": out.Body.InstallationID, "duration_ms": time.Since(started).Milliseconds()})
	}
	return out, nil
}

type updateInput struct {
	PluginID    string `path:"plugin_id" minLength:"3" maxLength:"50" pattern:"^[a-z0-9-]+$" doc:"The plugin's id."`
	ContentType string `header:"Content-Type"`
	RawBody     []byte
}

func (rt *Routes) update(ctx context.Context, in *updateInput) (*installOutput, error) {
	if _, err := rt.Registry.Get(ctx, in.PluginID); err != nil {
		return nil, notFound(err, in.PluginID)
	}
	return rt.doInstall(ctx, &installInput{ContentType: in.ContentType, RawBody: in.RawBody}, in.PluginID, true)
}

// PluginInfo is a plugin in the API: the original's fields and the new
// ones (runtime, source, enabled, manifest).
type PluginInfo struct {
	ID                 string          `json:"id" example:"project-dashboard"`
	Name               string          `json:"name" example:"Project Dashboard Widget"`
	Version            string          `json:"version"`
	Description        string          `json:"description"`
	Author             string          `json:"author"`
	Type               string          `json:"type"`
	Kind               string          `json:"kind"`
	Runtime            string          `json:"runtime"`
	Status             string          `json:"status"`
	Enabled            bool            `json:"enabled"`
	DisabledReason     string          `json:"disabled_reason,omitempty"`
	RepositoryURL      string          `json:"repository_url,omitempty"`
	Source             string          `json:"source"`
	BundleSHA256       string          `json:"bundle_sha256"`
	InstalledAt        time.Time       `json:"installed_at"`
	LastUpdated        time.Time       `json:"last_updated"`
	Config             json.RawMessage `json:"config" doc:"Values that the config_schema marks writeOnly are \"********\" unless the caller holds plugins:admin."`
	Permissions        []string        `json:"permissions"`
	APIEndpoints       []string        `json:"api_endpoints"`
	AllowedOrigins     []string        `json:"allowed_origins"`
	SecurityScore      int             `json:"security_score"`
	SecurityViolations int             `json:"security_violations"`
	LastViolation      *time.Time      `json:"last_violation"`
	UIPath             string          `json:"ui_path,omitempty" doc:"Where the UI is served, for runtime ui."`
}

func (rt *Routes) info(ctx context.Context, p *Plugin) PluginInfo {
	cfg := p.Config
	if !rt.allowed(ctx, "plugins", "admin") && len(p.Manifest.ConfigSchema) > 0 {
		cfg = MaskSecrets(p.Manifest.ConfigSchema, cfg)
	}
	info := PluginInfo{ID: p.ID, Name: p.Name, Version: p.Version, Description: p.Description, Author: p.Author,
		Type: p.Type, Kind: p.Kind, Runtime: p.Runtime, Status: p.Status, Enabled: p.Status == StatusInstalled,
		DisabledReason: p.DisabledReason, RepositoryURL: p.RepositoryURL, Source: p.Source, BundleSHA256: p.BundleSHA256,
		InstalledAt: p.InstalledAt, LastUpdated: p.LastUpdated, Config: cfg,
		Permissions: orEmpty(p.Manifest.Permissions), APIEndpoints: orEmpty(p.Manifest.APIEndpoints),
		AllowedOrigins: orEmpty(p.Manifest.AllowedOrigins), SecurityScore: p.SecurityScore,
		SecurityViolations: p.SecurityViolations, LastViolation: p.LastViolation}
	if p.Runtime == RuntimeUI && p.Manifest.EntryPoint != "" {
		info.UIPath = "/plugins/" + p.ID + "/" + p.Manifest.EntryPoint
	}
	return info
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (rt *Routes) allowed(ctx context.Context, resource, action string) bool {
	p := auth.PrincipalFrom(ctx)
	return p != nil && rt.Authorizer != nil && rt.Authorizer.Allowed(p, auth.Permission{Resource: resource, Action: action})
}

type listInput struct {
	StatusFilter string `query:"status_filter" enum:"installed,disabled" doc:"Only plugins in this status."`
	TypeFilter   string `query:"type_filter" enum:"ui,data,integration,system" doc:"Only plugins of this type."`
}

type listOutput struct {
	Body struct {
		Plugins          []PluginInfo `json:"plugins"`
		Total            int          `json:"total"`
		AvailableUpdates []string     `json:"available_updates" doc:"Kept for the original's clients; always empty (no update feed)."`
	}
}

func (rt *Routes) list(ctx context.Context, in *listInput) (*listOutput, error) {
	ps, err := rt.Registry.List(ctx, ListFilter{Status: in.StatusFilter, Type: in.TypeFilter})
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	out := &listOutput{}
	out.Body.Plugins = make([]PluginInfo, len(ps))
	for i, p := range ps {
		out.Body.Plugins[i] = rt.info(ctx, p)
	}
	out.Body.Total = len(ps)
	out.Body.AvailableUpdates = []string{}
	return out, nil
}

type pluginOutput struct {
	Body PluginInfo
}

func notFound(err error, id string) error {
	if errors.Is(err, ErrNotFound) {
		return dashcore.NewError(dashcore.ErrNotFound, fmt.Sprintf("Plugin %s not found", id), err)
	}
	return dashcore.HTTPError(err)
}

func (rt *Routes) get(ctx context.Context, in *pluginIDInput) (*pluginOutput, error) {
	p, err := rt.Registry.Get(ctx, in.PluginID)
	if err != nil {
		return nil, notFound(err, in.PluginID)
	}
	return &pluginOutput{Body: rt.info(ctx, p)}, nil
}

// PluginMessage is the original's {"message": ...} answer.
type PluginMessage struct {
	Message string `json:"message" example:"Plugin project-dashboard uninstalled successfully"`
}

type messageOutput struct {
	Body PluginMessage
}

func messagef(format string, args ...any) *messageOutput {
	out := &messageOutput{}
	out.Body.Message = fmt.Sprintf(format, args...)
	return out
}

func (rt *Routes) uninstall(ctx context.Context, in *pluginIDInput) (*messageOutput, error) {
	if err := rt.Installer.Uninstall(ctx, in.PluginID); err != nil {
		return nil, notFound(err, in.PluginID)
	}
	rt.syncRole(ctx, in.PluginID, nil)
	rt.syncWasm(ctx)
	rt.audit(ctx, AuditPluginUninstalled, "success", map[string]any{"plugin_id": in.PluginID})
	return messagef("Plugin %s uninstalled successfully", in.PluginID), nil
}

func (rt *Routes) setEnabled(ctx context.Context, id string, on bool) (*messageOutput, error) {
	status, typ, reason, verb := StatusInstalled, AuditPluginEnabled, "", "enabled"
	if !on {
		status, typ, reason, verb = StatusDisabled, AuditPluginDisabled, "disabled by an administrator", "disabled"
	}
	if err := rt.Registry.SetStatus(ctx, id, status, reason); err != nil {
		return nil, notFound(err, id)
	}
	rt.syncWasm(ctx)
	rt.audit(ctx, typ, "success", map[string]any{"plugin_id": id})
	return messagef("Plugin %s %s", id, verb), nil
}

// TokenResponse is a plugin token.
type TokenResponse struct {
	Token     string    `json:"token" doc:"Send as Authorization: Bearer <token>."`
	TokenType string    `json:"token_type" example:"Bearer"`
	ExpiresAt time.Time `json:"expires_at"`
	Proxy     string    `json:"proxy" doc:"The path under which the plugin calls the API." example:"/api/v1/plugins/project-dashboard/proxy/"`
}

type tokenOutput struct {
	Body TokenResponse
}

func (rt *Routes) token(ctx context.Context, in *pluginIDInput) (*tokenOutput, error) {
	if rt.Principals == nil {
		return nil, dashcore.NewError(dashcore.ErrNotFound, "plugin tokens are not available on this host", nil)
	}
	tok, exp, err := rt.Principals.Issue(ctx, in.PluginID)
	if err != nil {
		return nil, notFound(err, in.PluginID)
	}
	return &tokenOutput{Body: TokenResponse{Token: tok, TokenType: "Bearer", ExpiresAt: exp,
		Proxy: ProxyPrefix + in.PluginID + "/proxy/"}}, nil
}

// syncWasm brings the wasm runtime in line with the registry after a
// change; a failure is logged (the periodic sync retries).
func (rt *Routes) syncWasm(ctx context.Context) {
	if rt.Wasm == nil {
		return
	}
	if err := rt.Wasm.Sync(context.WithoutCancel(ctx)); err != nil && rt.Logger != nil {
		rt.Logger.ErrorContext(ctx, "wasm plugins not in line with the registry; the periodic sync retries", slog.Any("error", err))
	}
}

// syncRole updates a plugin's role after a change; a failure is logged
// (the plugin's calls are refused until the next start reconciles).
func (rt *Routes) syncRole(ctx context.Context, id string, perms []string) {
	if rt.Principals == nil {
		return
	}
	if err := rt.Principals.SyncRole(context.WithoutCancel(ctx), id, perms); err != nil && rt.Logger != nil {
		rt.Logger.ErrorContext(ctx, "plugin role not updated; it is reconciled at the next start", slog.String("plugin", id), slog.Any("error", err))
	}
}

type configInput struct {
	PluginID string `path:"plugin_id" minLength:"3" maxLength:"50" pattern:"^[a-z0-9-]+$" doc:"The plugin's id."`
	Body     struct {
		PluginID       string          `json:"plugin_id,omitempty" doc:"Ignored; the path names the plugin (kept for the original's clients)."`
		Config         json.RawMessage `json:"config" doc:"The new configuration, a JSON object." example:"{\"refreshInterval\": 30000}"`
		ValidateSchema *bool           `json:"validate_schema,omitempty" doc:"Kept for the original's clients; the schema is always enforced."`
	}
}

func (rt *Routes) configure(ctx context.Context, in *configInput) (*messageOutput, error) {
	p, err := rt.Registry.Get(ctx, in.PluginID)
	if err != nil {
		return nil, notFound(err, in.PluginID)
	}
	var schema *jsonschema.Schema
	if len(p.Manifest.ConfigSchema) > 0 {
		if schema, err = CompileConfigSchema(p.Manifest.ConfigSchema); err != nil {
			return nil, dashcore.NewError(dashcore.ErrInternal, "", fmt.Errorf("pluginhost: stored config_schema of %s: %w", p.ID, err))
		}
	}
	probs := ValidateConfig(schema, in.Body.Config)
	if len(probs) > 0 {
		fields := make([]*huma.ErrorDetail, len(probs))
		for i, pr := range probs {
			fields[i] = &huma.ErrorDetail{Location: "body.config" + strings.ReplaceAll(pr.Location, "/", "."), Message: pr.Message}
		}
		return nil, &dashcore.Error{Kind: dashcore.ErrInvalid, Detail: "the configuration does not match the plugin's config_schema", Fields: fields}
	}
	actor := "api"
	if pr := auth.PrincipalFrom(ctx); pr != nil {
		actor = pr.Subject
	}
	if err := rt.Registry.SetConfig(ctx, p.ID, in.Body.Config, actor); err != nil {
		return nil, notFound(err, p.ID)
	}
	rt.syncWasm(ctx)
	rt.audit(ctx, AuditPluginConfigured, "success", map[string]any{"plugin_id": p.ID})
	return messagef("Plugin configuration updated successfully"), nil
}

// HealthResponse is the original's PluginHealthCheck with the runtime
// record.
type HealthResponse struct {
	PluginID      string     `json:"plugin_id" example:"project-dashboard"`
	Status        string     `json:"status" enum:"healthy,degraded,unhealthy,disabled" example:"healthy"`
	Message       string     `json:"message"`
	LastCheck     time.Time  `json:"last_check"`
	ResponseTime  *float64   `json:"response_time" doc:"Mean duration of recent calls in milliseconds; null without calls."`
	SecurityScore int        `json:"security_score"`
	Calls         int64      `json:"calls"`
	Errors        int64      `json:"errors"`
	Traps         int64      `json:"traps"`
	Denials       int64      `json:"denials"`
	LastCall      *time.Time `json:"last_call"`
	LastError     *time.Time `json:"last_error"`
}

type healthOutput struct {
	Body HealthResponse
}

// healthStatus is the original's thresholds: healthy at 80 or more,
// degraded at 60 or more.
func healthStatus(p *Plugin) string {
	switch {
	case p.Status == StatusDisabled:
		return "disabled"
	case p.SecurityScore >= 80:
		return "healthy"
	case p.SecurityScore >= 60:
		return "degraded"
	}
	return "unhealthy"
}

func (rt *Routes) health(ctx context.Context, in *pluginIDInput) (*healthOutput, error) {
	p, err := rt.Registry.Get(ctx, in.PluginID)
	if err != nil {
		return nil, notFound(err, in.PluginID)
	}
	if rt.Wasm != nil {
		if err := rt.Wasm.FlushStats(ctx); err != nil && rt.Logger != nil {
			rt.Logger.WarnContext(ctx, "plugin runtime statistics not stored", slog.Any("error", err))
		}
	}
	h, err := rt.Registry.Health(ctx, p.ID)
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	out := &healthOutput{Body: HealthResponse{PluginID: p.ID, Status: healthStatus(p),
		Message: fmt.Sprintf("Security score: %d/100", p.SecurityScore), LastCheck: time.Now().UTC(),
		ResponseTime: h.MeanMS, SecurityScore: p.SecurityScore, Calls: h.Calls, Errors: h.Errors, Traps: h.Traps,
		Denials: h.Denials, LastCall: h.LastCall, LastError: h.LastError}}
	if p.DisabledReason != "" {
		out.Body.Message += "; disabled: " + p.DisabledReason
	}
	return out, nil
}

// ViolationInfo is the original's PluginSecurityViolation with the
// finding's location.
type ViolationInfo struct {
	ID            int64          `json:"id" example:"17"`
	PluginID      string         `json:"plugin_id" example:"project-dashboard"`
	ViolationType string         `json:"violation_type" example:"unauthorized_api_access"`
	Description   string         `json:"description"`
	Severity      string         `json:"severity"`
	Origin        string         `json:"origin" enum:"scan,runtime,proxy"`
	RuleID        string         `json:"rule_id,omitempty"`
	File          string         `json:"file,omitempty"`
	Line          int            `json:"line,omitempty"`
	Column        int            `json:"column,omitempty"`
	Snippet       string         `json:"snippet,omitempty"`
	Timestamp     time.Time      `json:"timestamp"`
	Context       map[string]any `json:"context"`
}

func violationInfo(v Violation) ViolationInfo {
	ctx := v.Context
	if ctx == nil {
		ctx = map[string]any{}
	}
	return ViolationInfo{ID: v.ID, PluginID: v.PluginID, ViolationType: v.Type, Description: v.Description,
		Severity: v.Severity, Origin: v.Origin, RuleID: v.RuleID, File: v.File, Line: v.Line, Column: v.Column,
		Snippet: v.Snippet, Timestamp: v.At, Context: ctx}
}

type violationsInput struct {
	PluginID string `path:"plugin_id" minLength:"3" maxLength:"50" pattern:"^[a-z0-9-]+$" doc:"The plugin's id."`
	Limit    int    `query:"limit" minimum:"1" maximum:"100" default:"50"`
}

type violationsOutput struct {
	Body []ViolationInfo
}

func (rt *Routes) violations(ctx context.Context, in *violationsInput) (*violationsOutput, error) {
	if _, err := rt.Registry.Get(ctx, in.PluginID); err != nil {
		return nil, notFound(err, in.PluginID)
	}
	vs, err := rt.Registry.Violations(ctx, in.PluginID, in.Limit)
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	out := &violationsOutput{Body: make([]ViolationInfo, len(vs))}
	for i, v := range vs {
		out.Body[i] = violationInfo(v)
	}
	return out, nil
}

type scanOutput struct {
	Body struct {
		Message          string          `json:"message" example:"Security scan completed"`
		SecurityScore    int             `json:"security_score" example:"100"`
		Status           string          `json:"status"`
		Blocked          bool            `json:"blocked" doc:"The current rules would refuse this bundle; the plugin is disabled."`
		Findings         []Finding       `json:"findings"`
		RecentViolations []ViolationInfo `json:"recent_violations"`
	}
}

func (rt *Routes) scan(ctx context.Context, in *pluginIDInput) (*scanOutput, error) {
	res, err := rt.Installer.Rescan(ctx, in.PluginID)
	if err != nil {
		return nil, notFound(err, in.PluginID)
	}
	vs, err := rt.Registry.Violations(ctx, in.PluginID, 10)
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	out := &scanOutput{}
	out.Body.Message = "Security scan completed"
	out.Body.SecurityScore = res.Plugin.SecurityScore
	out.Body.Status = healthStatus(res.Plugin)
	out.Body.Blocked = res.Blocked
	out.Body.Findings = res.Findings
	if out.Body.Findings == nil {
		out.Body.Findings = []Finding{}
	}
	out.Body.RecentViolations = make([]ViolationInfo, len(vs))
	for i, v := range vs {
		out.Body.RecentViolations[i] = violationInfo(v)
	}
	rt.audit(ctx, AuditPluginScanned, "success", map[string]any{"plugin_id": in.PluginID,
		"findings": len(res.Findings), "blocked": res.Blocked})
	return out, nil
}

type statsOutput struct {
	Body Stats
}

func (rt *Routes) stats(ctx context.Context, _ *struct{}) (*statsOutput, error) {
	s, err := rt.Registry.Stats(ctx)
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	return &statsOutput{Body: *s}, nil
}

// RegistryEntry is one plugin in the frontend registry.
type RegistryEntry struct {
	ID      string `json:"id" example:"project-dashboard"`
	Name    string `json:"name" example:"Project Dashboard Widget"`
	Version string `json:"version" example:"1.2.0"`
	Type    string `json:"type"`
	Kind    string `json:"kind"`
	Runtime string `json:"runtime"`
	Path    string `json:"path,omitempty" doc:"The UI entry point, served under /plugins/<id>/."`
}

type registryOutput struct {
	Body struct {
		Message string          `json:"message,omitempty"`
		Plugins []RegistryEntry `json:"plugins"`
	}
}

func (rt *Routes) registry(ctx context.Context, _ *struct{}) (*registryOutput, error) {
	ps, err := rt.Registry.List(ctx, ListFilter{Status: StatusInstalled})
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	out := &registryOutput{}
	out.Body.Plugins = make([]RegistryEntry, len(ps))
	for i, p := range ps {
		e := RegistryEntry{ID: p.ID, Name: p.Name, Version: p.Version, Type: p.Type, Kind: p.Kind, Runtime: p.Runtime}
		if p.Runtime == RuntimeUI && p.Manifest.EntryPoint != "" {
			e.Path = "/plugins/" + p.ID + "/" + p.Manifest.EntryPoint
		}
		out.Body.Plugins[i] = e
	}
	return out, nil
}

func (rt *Routes) refreshRegistry(ctx context.Context, in *struct{}) (*registryOutput, error) {
	out, err := rt.registry(ctx, in)
	if err != nil {
		return nil, err
	}
	out.Body.Message = "Plugin registry refreshed successfully"
	return out, nil
}

// newInstallationID names one install attempt in the response and the
// audit log.
func newInstallationID() string { return uuid.Must(uuid.NewV7()).String() }

func outcomeOf(ok bool) string {
	if ok {
		return "success"
	}
	return "failure"
}

// audit records a change; a failure is logged, never returned.
func (rt *Routes) audit(ctx context.Context, typ, outcome string, details map[string]any) {
	if rt.Auditor == nil {
		return
	}
	ci := auth.ClientInfoFrom(ctx)
	e := auth.NewAuditEvent(typ, nil, ci.IP, auth.PrincipalFrom(ctx))
	e.UserAgent, e.RequestID, e.Outcome, e.Details = ci.UserAgent, dashcore.RequestID(ctx), outcome, details
	if err := rt.Auditor.Audit(ctx, e); err != nil && rt.Logger != nil {
		rt.Logger.ErrorContext(ctx, "plugin audit event not recorded", slog.String("type", typ), slog.Any("error", err))
	}
}
