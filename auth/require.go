package auth

import (
	"net/http"
	"reflect"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/taylordash/taylordash/dashcore"
)

// metadataKey is the key of an operation's requirement in its Metadata.
const metadataKey = "auth.requirement"

// The security schemes the OpenAPI document declares (see
// [DocumentSecurity]).
const (
	// SchemeBearer is a bearer token: an OIDC access token (JWT) or a local
	// session token.
	SchemeBearer = "bearer"
	// SchemeAPIKey is an API key in the X-API-Key header.
	SchemeAPIKey = "apiKey"
)

// Requirement is what an operation needs from the caller.
type Requirement struct {
	// Public operations need nothing; a credential, if sent, is still
	// checked (and a bad one refused).
	Public bool
	// Authenticated operations need a principal but no permission (GET
	// /api/v1/auth/me, logout).
	Authenticated bool
	// Permission is what the principal must be allowed to do.
	Permission Permission
	// RateGroup names the operation's rate-limit group; default the
	// permission's resource, or "public".
	RateGroup string
}

// group returns the rate-limit group of the requirement.
func (r Requirement) group() string {
	switch {
	case r.RateGroup != "":
		return r.RateGroup
	case r.Permission.Resource != "":
		return r.Permission.Resource
	case r.Public:
		return "public"
	}
	return "default"
}

// Require declares that op needs permission action on resource, and
// documents it: the operation lists the bearer and API-key security
// schemes, an x-permission extension ("projects:write"), and a line in its
// description. An operation that declares no requirement is refused by the
// middleware (403), so every route of an application says who may call it.
//
//	huma.Register(api, auth.Require(huma.Operation{
//		OperationID: "create-project", Method: http.MethodPost, Path: "/api/v1/projects",
//	}, "projects", "write"), h.create)
func Require(op huma.Operation, resource, action string) huma.Operation {
	return withRequirement(op, Requirement{Permission: Permission{Resource: resource, Action: action}})
}

// RequireAuthenticated declares that op needs an authenticated principal,
// whatever its permissions.
func RequireAuthenticated(op huma.Operation) huma.Operation {
	return withRequirement(op, Requirement{Authenticated: true})
}

// Public declares that op needs no credential. group names its rate-limit
// group ("" for "public"); the login operation uses "login".
func Public(op huma.Operation, group string) huma.Operation {
	return withRequirement(op, Requirement{Public: true, RateGroup: group})
}

func withRequirement(op huma.Operation, req Requirement) huma.Operation {
	meta := make(map[string]any, len(op.Metadata)+1)
	for k, v := range op.Metadata {
		meta[k] = v
	}
	meta[metadataKey] = req
	op.Metadata = meta
	if req.Public {
		op.Security = []map[string][]string{}
		return op
	}
	op.Security = []map[string][]string{{SchemeBearer: {}}, {SchemeAPIKey: {}}}
	ext := make(map[string]any, len(op.Extensions)+1)
	for k, v := range op.Extensions {
		ext[k] = v
	}
	line := "Requires an authenticated caller."
	if req.Authenticated {
		ext["x-permission"] = "authenticated"
	} else {
		ext["x-permission"] = req.Permission.String()
		line = "Requires permission `" + req.Permission.String() + "`."
	}
	op.Extensions = ext
	if !strings.Contains(op.Description, line) {
		if op.Description != "" {
			op.Description += "\n\n"
		}
		op.Description += line
	}
	return op
}

// Guarded returns the error statuses to document (huma.Operation.Errors)
// for an operation behind Require: 401 without a credential, 403
// without the permission, then codes.
func Guarded(codes ...int) []int {
	return append([]int{http.StatusUnauthorized, http.StatusForbidden}, codes...)
}

// RequirementOf returns the requirement op declares, and whether it
// declares one.
func RequirementOf(op *huma.Operation) (Requirement, bool) {
	if op == nil || op.Metadata == nil {
		return Requirement{}, false
	}
	req, ok := op.Metadata[metadataKey].(Requirement)
	return req, ok
}

// DocumentSecurity adds the security schemes to the OpenAPI document: a
// bearer token (OIDC JWT or local session token) and an API key in
// X-API-Key.
func DocumentSecurity(oapi *huma.OpenAPI) {
	if oapi.Components == nil {
		oapi.Components = &huma.Components{}
	}
	if oapi.Components.SecuritySchemes == nil {
		oapi.Components.SecuritySchemes = map[string]*huma.SecurityScheme{}
	}
	oapi.Components.SecuritySchemes[SchemeBearer] = &huma.SecurityScheme{
		Type:         "http",
		Scheme:       "bearer",
		BearerFormat: "JWT or session token",
		Description:  "An access token from the configured OIDC issuer (a JWT), or a session token from POST /api/v1/auth/login.",
	}
	oapi.Components.SecuritySchemes[SchemeAPIKey] = &huma.SecurityScheme{
		Type:        "apiKey",
		In:          "header",
		Name:        APIKeyHeader,
		Description: "An API key, td_<id>_<secret>, made with POST /api/v1/auth/keys.",
	}
}

// DocumentPublic marks the documented operations of the given ServeMux
// patterns ("GET /health/live") as needing no credential (an empty
// security list), as the guard treats them, and documents the 429 its
// per-client rate limit may answer.
func DocumentPublic(oapi *huma.OpenAPI, patterns []string) {
	for _, pat := range patterns {
		op := dashcore.DocumentedOperation(oapi, pat)
		if op == nil {
			continue
		}
		if op.Security == nil {
			op.Security = []map[string][]string{}
		}
		// The guard rate-limits public routes per client IP too.
		if op.Responses == nil {
			op.Responses = map[string]*huma.Response{}
		}
		if _, ok := op.Responses["429"]; !ok && oapi.Components != nil && oapi.Components.Schemas != nil {
			problem := oapi.Components.Schemas.Schema(reflect.TypeFor[huma.ErrorModel](), true, "")
			op.Responses["429"] = &huma.Response{
				Description: "Too Many Requests: the client's rate limit is spent; retry after Retry-After.",
				Content:     map[string]*huma.MediaType{"application/problem+json": {Schema: problem}},
			}
		}
	}
}
