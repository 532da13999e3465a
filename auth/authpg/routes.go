package authpg

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
)

// Routes is the auth API: the original's /api/v1/auth/{login,logout,me,
// users,users/{id},sessions/cleanup} with its field names, plus API keys,
// the policy and the audit log.
type Routes struct {
	// Accounts serves logins and users. Required.
	Accounts *Accounts
	// Keys stores API keys. Required.
	Keys *APIKeys
	// KeyAuth, if set, forgets a revoked key at once.
	KeyAuth *auth.APIKeyAuthenticator
	// Authorizer holds the policy. Required.
	Authorizer *auth.Authorizer
	// Audit is the audit log. Required.
	Audit *AuditLog
	// Origins are the origins a browser (cookie) login or refresh may
	// come from; nil allows the API's own origin only.
	Origins *auth.OriginPolicy
}

// Contribution returns the routes as a dashcore contribution.
func (rt *Routes) Contribution() dashcore.Routes {
	return dashcore.Routes{Name: "auth", Register: rt.Register}
}

// Register adds the operations to api, and the security schemes to its
// document.
func (rt *Routes) Register(api huma.API) {
	auth.DocumentSecurity(api.OpenAPI())
	tags := []string{"auth"}
	huma.Register(api, auth.Public(huma.Operation{
		OperationID: "login", Method: http.MethodPost, Path: "/api/v1/auth/login", Tags: tags,
		Summary: "Log in",
		Description: "Checks a username and password and returns a session token to send as `Authorization: Bearer <token>`, " +
			"and a refresh token for POST /api/v1/auth/refresh. " +
			"Every failure is the same 401; repeated failures for a username or from a client lock them out (429 with Retry-After).\n\n" +
			"With `\"cookie\": true` (a browser), the tokens are set in cookies instead of the body: `taylordash_session` " +
			"(HttpOnly, SameSite=Strict), `taylordash_refresh` (HttpOnly, only sent to /api/v1/auth/refresh) and `taylordash_csrf` " +
			"(readable by the page); the body has `csrf_token`, to send in X-CSRF-Token on every request that changes state. " +
			"Such a login needs an Origin header naming the API's own origin or an allowed one (403 otherwise).",
		Errors:    []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests},
		Responses: dashcore.ExampleResponse(http.StatusOK, exampleLogin),
	}, "login"), rt.login)
	huma.Register(api, auth.Public(huma.Operation{
		OperationID: "refresh", Method: http.MethodPost, Path: auth.RefreshCookiePath, Tags: tags,
		Summary: "Refresh a session",
		Description: "Exchanges a refresh token, once, for a new session token and a new refresh token (the login response). " +
			"The session issued with the old refresh token ends; the new ones end when the login's refresh tokens do " +
			"(`refresh_expires_at`, fixed at the login). A refresh token presented a second time is taken as stolen: " +
			"every session and refresh token of that login is revoked. Every refusal is the same 401.\n\n" +
			"A browser login sends no body: its refresh token comes in the `taylordash_refresh` cookie, with its CSRF token in " +
			"X-CSRF-Token and an allowed Origin (403 otherwise); the new tokens are set in cookies.",
		Errors:      []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusUnprocessableEntity, http.StatusTooManyRequests},
		RequestBody: dashcore.ExampleRequest(map[string]string{"refresh_token": exampleRefreshToken}),
		Responses:   dashcore.ExampleResponse(http.StatusOK, exampleRefreshed),
	}, "refresh"), rt.refresh)
	huma.Register(api, auth.RequireAuthenticated(huma.Operation{
		OperationID: "logout", Method: http.MethodPost, Path: "/api/v1/auth/logout", Tags: tags,
		Summary: "Log out", Description: "Revokes the caller's session and its login's refresh tokens; a browser login's cookies are deleted.",
		Errors:    []int{http.StatusUnauthorized, http.StatusForbidden},
		Responses: dashcore.ExampleResponse(http.StatusOK, exampleMessage("Logged out successfully")),
	}), rt.logout)
	huma.Register(api, auth.RequireAuthenticated(huma.Operation{
		OperationID: "me", Method: http.MethodGet, Path: "/api/v1/auth/me", Tags: tags,
		Summary: "Who am I", Description: "The caller: a local user's record, or the principal of a token or API key.",
		Errors:    []int{http.StatusUnauthorized},
		Responses: dashcore.ExampleResponse(http.StatusOK, exampleMe),
	}), rt.me)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "list-users", Method: http.MethodGet, Path: "/api/v1/auth/users", Tags: tags,
		Summary: "List users", Description: "Every local user, newest first: the team directory. Emails are shown only to callers allowed `users:read`.",
		Errors:    auth.Guarded(),
		Responses: dashcore.ExampleResponse(http.StatusOK, []*User{exampleUser}),
	}, "users", "list"), rt.listUsers)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "create-user", Method: http.MethodPost, Path: "/api/v1/auth/users", Tags: tags,
		Summary: "Create a user", DefaultStatus: http.StatusCreated,
		Errors:    auth.Guarded(http.StatusConflict, http.StatusUnprocessableEntity),
		Responses: dashcore.ExampleResponse(http.StatusCreated, exampleUser),
	}, "users", "write"), rt.createUser)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "get-user", Method: http.MethodGet, Path: "/api/v1/auth/users/{user_id}", Tags: tags,
		Summary: "Get a user", Description: "The email is shown only to callers allowed `users:read`.",
		Errors:    auth.Guarded(http.StatusNotFound),
		Responses: dashcore.ExampleResponse(http.StatusOK, exampleUser),
	}, "users", "list"), rt.getUser)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "update-user", Method: http.MethodPut, Path: "/api/v1/auth/users/{user_id}", Tags: tags,
		Summary: "Update a user",
		Description: "Changes the given fields. A password, role or activation change ends every session of the user. " +
			"The last active admin cannot be demoted or deactivated.",
		Errors:    auth.Guarded(http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity),
		Responses: dashcore.ExampleResponse(http.StatusOK, exampleUser),
	}, "users", "write"), rt.updateUser)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "delete-user", Method: http.MethodDelete, Path: "/api/v1/auth/users/{user_id}", Tags: tags,
		Summary: "Delete a user", Description: "Deletes the user and its sessions; its audit history stays. Not yourself, not the last active admin.",
		Errors:    auth.Guarded(http.StatusBadRequest, http.StatusNotFound, http.StatusConflict),
		Responses: dashcore.ExampleResponse(http.StatusOK, exampleMessage("User alice deleted successfully")),
	}, "users", "write"), rt.deleteUser)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "cleanup-sessions", Method: http.MethodDelete, Path: "/api/v1/auth/sessions/cleanup", Tags: tags,
		Summary: "Delete ended sessions", Description: "Deletes sessions that expired or were revoked more than a day ago.",
		Errors:    auth.Guarded(),
		Responses: dashcore.ExampleResponse(http.StatusOK, exampleMessage("Cleaned up 3 expired sessions")),
	}, "users", "write"), rt.cleanup)

	keyTags := []string{"api keys"}
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "list-api-keys", Method: http.MethodGet, Path: "/api/v1/auth/keys", Tags: keyTags,
		Summary: "List API keys", Description: "Every key, newest first; secrets are never shown again.",
		Errors:    auth.Guarded(),
		Responses: dashcore.ExampleResponse(http.StatusOK, []*auth.APIKeyRecord{exampleKey}),
	}, "keys", "read"), rt.listKeys)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "create-api-key", Method: http.MethodPost, Path: "/api/v1/auth/keys", Tags: keyTags,
		Summary: "Create an API key", DefaultStatus: http.StatusCreated,
		Description: "Returns the key, `td_<id>_<secret>`, once: only its hash is stored. Send it as X-API-Key.",
		Errors:      auth.Guarded(http.StatusUnprocessableEntity),
		Responses:   dashcore.ExampleResponse(http.StatusCreated, CreatedKey{APIKeyRecord: exampleKey, Key: exampleKeySecret}),
	}, "keys", "write"), rt.createKey)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "revoke-api-key", Method: http.MethodDelete, Path: "/api/v1/auth/keys/{key_id}", Tags: keyTags,
		Summary: "Revoke an API key", Errors: auth.Guarded(http.StatusNotFound, http.StatusConflict),
		Responses: dashcore.ExampleResponse(http.StatusOK, exampleRevokedKey),
	}, "keys", "write"), rt.revokeKey)

	polTags := []string{"policy"}
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "list-policy", Method: http.MethodGet, Path: "/api/v1/auth/policies", Tags: polTags,
		Summary: "List the policy", Description: "Every rule: `p` rules grant a role an action on a resource (in a domain), `g` rules make a member inherit a role.",
		Errors:    auth.Guarded(),
		Responses: dashcore.ExampleResponse(http.StatusOK, exampleRules),
	}, "policies", "read"), rt.listRules)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "add-policy", Method: http.MethodPost, Path: "/api/v1/auth/policies", Tags: polTags,
		Summary: "Add rules", Description: "Adds the rules, all or none; every instance enforces them within a second.",
		DefaultStatus: http.StatusCreated, Errors: auth.Guarded(http.StatusConflict, http.StatusUnprocessableEntity),
		RequestBody: dashcore.ExampleRequest(exampleRulesChange),
		Responses:   dashcore.ExampleResponse(http.StatusCreated, append(slices.Clone(exampleRules), exampleRulesChange["rules"]...)),
	}, "policies", "write"), rt.addRules)
	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "remove-policy", Method: http.MethodPost, Path: "/api/v1/auth/policies/remove", Tags: polTags,
		Summary: "Remove rules", Description: "Removes the rules, all or none; every instance enforces the change within a second.",
		Errors:      auth.Guarded(http.StatusNotFound, http.StatusUnprocessableEntity),
		RequestBody: dashcore.ExampleRequest(exampleRulesChange),
		Responses:   dashcore.ExampleResponse(http.StatusOK, exampleRules),
	}, "policies", "write"), rt.removeRules)

	huma.Register(api, auth.Require(huma.Operation{
		OperationID: "list-audit", Method: http.MethodGet, Path: "/api/v1/auth/audit", Tags: []string{"audit"},
		Summary: "List security events", Description: "The audit log, newest first.",
		Errors:    auth.Guarded(),
		Responses: dashcore.ExampleResponse(http.StatusOK, exampleAudit),
	}, "audit", "read"), rt.listAudit)
}

// client describes the caller for the audit log.
func client(ctx context.Context) Client {
	ci := auth.ClientInfoFrom(ctx)
	return Client{IP: ci.IP, UserAgent: ci.UserAgent, RequestID: dashcore.RequestID(ctx), Actor: auth.PrincipalFrom(ctx)}
}

type loginInput struct {
	Body struct {
		Username       string  `json:"username" minLength:"1" maxLength:"256" example:"alice"`
		Password       string  `json:"password" maxLength:"1024" example:"correct horse battery staple"`
		RememberMe     bool    `json:"remember_me,omitempty" doc:"A session of 30 days (idle 7 days) instead of 24 hours (idle 2 hours), and refresh tokens of 30 days instead of 7."`
		SingleViewMode bool    `json:"single_view_mode,omitempty"`
		DefaultView    *string `json:"default_view,omitempty" maxLength:"256"`
		Cookie         bool    `json:"cookie,omitempty" doc:"A browser login: the session and refresh tokens are set in HttpOnly cookies instead of the body, and the body has a csrf_token."`
	}
	browser browserRequest
}

// Resolve implements huma.Resolver: it keeps what a cookie login checks.
func (in *loginInput) Resolve(ctx huma.Context) []error {
	in.browser = browserRequestOf(ctx)
	return nil
}

// browserRequest is what a cookie login, refresh or logout reads from the
// request besides its parameters.
type browserRequest struct {
	origin, host string
	tls          bool
}

func browserRequestOf(ctx huma.Context) browserRequest {
	return browserRequest{origin: ctx.Header("Origin"), host: ctx.Host(), tls: ctx.TLS() != nil}
}

// checkOrigin refuses (and audits) a cookie login or refresh from an
// origin that is not allowed.
func (rt *Routes) checkOrigin(ctx context.Context, b browserRequest, route string) error {
	err := rt.Origins.Check(b.origin, b.host, b.tls)
	if err == nil {
		return nil
	}
	var ce *auth.CSRFError
	reason := "origin_not_allowed"
	if errors.As(err, &ce) {
		reason = ce.Reason
	}
	rt.Accounts.audit(ctx, client(ctx), auth.AuditCSRFRefused, "failure", nil,
		map[string]any{"reason": reason, "error": err.Error(), "route": route})
	return ErrCrossSite
}

// secure reports whether cookies are set Secure for b.
func (rt *Routes) secure(b browserRequest) bool {
	return b.tls || rt.Accounts.opts.Sessions.CookieSecure
}

// browserCookies returns the cookies of a cookie login or refresh, and
// takes its tokens out of the body.
func (rt *Routes) browserCookies(res *LoginResult, b browserRequest) []http.Cookie {
	cookies := auth.BrowserSession{SessionToken: res.SessionToken, SessionExpiresAt: res.ExpiresAt,
		RefreshToken: res.RefreshToken, RefreshExpiresAt: res.RefreshExpiresAt, CSRFToken: res.CSRFToken}.Cookies(time.Now(), rt.secure(b))
	res.SessionToken, res.RefreshToken = "", ""
	return cookies
}

type loginOutput struct {
	// SetCookie holds a cookie login's cookies.
	SetCookie []http.Cookie `header:"Set-Cookie" doc:"A browser login's cookies (cookie: true): taylordash_session, taylordash_refresh, taylordash_csrf."`
	// CacheControl keeps tokens out of caches.
	CacheControl string `header:"Cache-Control" example:"no-store"`
	Body         *LoginResult
}

func (rt *Routes) login(ctx context.Context, in *loginInput) (*loginOutput, error) {
	if in.Body.Cookie {
		if err := rt.checkOrigin(ctx, in.browser, "POST /api/v1/auth/login"); err != nil {
			return nil, err
		}
	}
	res, err := rt.Accounts.Login(ctx, client(ctx), LoginRequest{Username: in.Body.Username, Password: in.Body.Password,
		RememberMe: in.Body.RememberMe, SingleViewMode: in.Body.SingleViewMode, DefaultView: in.Body.DefaultView,
		Cookie: in.Body.Cookie})
	if le, ok := err.(*LockedError); ok {
		secs := int((le.RetryAfter + time.Second - 1) / time.Second)
		if secs < 1 {
			secs = 1
		}
		h := http.Header{}
		h.Set("Retry-After", strconv.Itoa(secs))
		return nil, huma.ErrorWithHeaders(dashcore.NewError(dashcore.ErrRateLimited,
			fmt.Sprintf("too many failed logins; try again in %d seconds", secs), le), h)
	}
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	out := &loginOutput{Body: res, CacheControl: "no-store"}
	if in.Body.Cookie {
		out.SetCookie = rt.browserCookies(res, in.browser)
	}
	return out, nil
}

type refreshInput struct {
	RefreshCookie string `cookie:"taylordash_refresh" doc:"A browser login's refresh token, set by the login; used when there is no body."`
	CSRFToken     string `header:"X-CSRF-Token" doc:"A browser login's CSRF token, with the refresh cookie." example:"tdc_Hq2mV8xK1pZ7tR4nB9cW3sJ6dF0gA5eU2iO8kY1zL3w"`
	Body          *struct {
		RefreshToken string `json:"refresh_token" minLength:"1" maxLength:"128" example:"tdr_Xw3kP9mQ2vL7tR1nB5cH8sJ4dF6gA0eU3iO9kY2zW1q" doc:"The refresh token of the login or of the last refresh."`
	}
	browser browserRequest
}

// Resolve implements huma.Resolver: it keeps what a cookie refresh checks.
func (in *refreshInput) Resolve(ctx huma.Context) []error {
	in.browser = browserRequestOf(ctx)
	return nil
}

func (rt *Routes) refresh(ctx context.Context, in *refreshInput) (*loginOutput, error) {
	var req RefreshRequest
	switch {
	case in.Body != nil:
		req.RefreshToken = in.Body.RefreshToken
	case in.RefreshCookie != "":
		if err := rt.checkOrigin(ctx, in.browser, "POST "+auth.RefreshCookiePath); err != nil {
			return nil, err
		}
		req = RefreshRequest{RefreshToken: in.RefreshCookie, Cookie: true, CSRFToken: in.CSRFToken}
	default:
		return nil, dashcore.NewError(dashcore.ErrInvalid, "send refresh_token in the body, or the refresh cookie of a browser login", nil)
	}
	res, err := rt.Accounts.Refresh(ctx, client(ctx), req)
	if errors.Is(err, ErrInvalidRefreshToken) && req.Cookie {
		// The browser's cookies are of no use any more: delete them.
		h := http.Header{}
		for _, c := range auth.ExpiredCookies(rt.secure(in.browser)) {
			h.Add("Set-Cookie", c.String())
		}
		return nil, huma.ErrorWithHeaders(dashcore.HTTPError(err), h)
	}
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	out := &loginOutput{Body: res, CacheControl: "no-store"}
	if req.Cookie {
		res.CSRFToken = req.CSRFToken
		out.SetCookie = rt.browserCookies(res, in.browser)
	}
	return out, nil
}

type messageOutput struct {
	Body struct {
		Message string `json:"message"`
	}
}

func message(format string, args ...any) *messageOutput {
	out := &messageOutput{}
	out.Body.Message = fmt.Sprintf(format, args...)
	return out
}

type logoutInput struct {
	browser browserRequest
}

// Resolve implements huma.Resolver.
func (in *logoutInput) Resolve(ctx huma.Context) []error {
	in.browser = browserRequestOf(ctx)
	return nil
}

type logoutOutput struct {
	// SetCookie deletes a browser login's cookies.
	SetCookie []http.Cookie `header:"Set-Cookie" doc:"Deletes a browser login's cookies."`
	Body      struct {
		Message string `json:"message"`
	}
}

func (rt *Routes) logout(ctx context.Context, in *logoutInput) (*logoutOutput, error) {
	c := client(ctx)
	if _, err := rt.Accounts.Logout(ctx, c); err != nil {
		return nil, dashcore.HTTPError(err)
	}
	out := &logoutOutput{}
	out.Body.Message = "Logged out successfully"
	if c.Actor != nil && c.Actor.Method == auth.MethodCookie {
		out.SetCookie = auth.ExpiredCookies(rt.secure(in.browser))
	}
	return out, nil
}

// Me is the caller (GET /api/v1/auth/me): the original's UserInfo fields,
// and how the caller authenticated. Email is the caller's own, shown
// whatever its permissions (it hides the filtered User.Email).
type Me struct {
	User
	Email  string      `json:"email,omitempty" doc:"The caller's own email address, if one was given."`
	Roles  []string    `json:"roles"`
	Kind   auth.Kind   `json:"kind"`
	Method auth.Method `json:"auth_method"`
	Domain string      `json:"domain,omitempty"`
}

type meOutput struct {
	Body *Me
}

func (rt *Routes) me(ctx context.Context, _ *struct{}) (*meOutput, error) {
	p := auth.PrincipalFrom(ctx)
	me := &Me{Roles: p.Roles, Kind: p.Kind, Method: p.Method, Domain: p.Domain}
	if p.IsLocalSession() {
		u, err := rt.Accounts.User(ctx, p.Subject)
		if err != nil {
			return nil, dashcore.HTTPError(err)
		}
		me.User = *u
		me.Email, me.User.Email = u.Email, "" // the caller's own, unfiltered
	} else {
		me.User = User{ID: p.Subject, Username: p.Name, IsActive: true}
		if len(p.Roles) > 0 {
			me.Role = p.Roles[0]
		}
	}
	return &meOutput{Body: me}, nil
}

type usersOutput struct {
	Body []*User
}

func (rt *Routes) listUsers(ctx context.Context, _ *struct{}) (*usersOutput, error) {
	users, err := rt.Accounts.Users(ctx)
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	return &usersOutput{Body: users}, nil
}

type userOutput struct {
	Body *User
}

type createUserInput struct {
	Body struct {
		Username       string  `json:"username" minLength:"1" maxLength:"64" example:"bob"`
		Password       string  `json:"password" maxLength:"1024" example:"a long enough passphrase"`
		Role           string  `json:"role" example:"viewer" doc:"A role of the policy: admin, operator, viewer, or one an admin added."`
		DefaultView    *string `json:"default_view,omitempty" maxLength:"256"`
		SingleViewMode bool    `json:"single_view_mode,omitempty"`
		Email          string  `json:"email,omitempty" maxLength:"254" example:"bob@example.com"`
	}
}

func (rt *Routes) createUser(ctx context.Context, in *createUserInput) (*userOutput, error) {
	if err := rt.Authorizer.CanGrant(auth.PrincipalFrom(ctx), []string{in.Body.Role}, nil); err != nil {
		return nil, dashcore.HTTPError(err)
	}
	u, err := rt.Accounts.CreateUser(ctx, client(ctx), NewUser{Username: in.Body.Username, Password: in.Body.Password,
		Role: in.Body.Role, DefaultView: in.Body.DefaultView, SingleViewMode: in.Body.SingleViewMode, Email: in.Body.Email})
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	return &userOutput{Body: u}, nil
}

type userIDInput struct {
	UserID string `path:"user_id" doc:"The user's id (a UUID)."`
}

func (rt *Routes) getUser(ctx context.Context, in *userIDInput) (*userOutput, error) {
	u, err := rt.Accounts.User(ctx, in.UserID)
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	return &userOutput{Body: u}, nil
}

type updateUserInput struct {
	UserID string `path:"user_id"`
	Body   struct {
		Role           *string `json:"role,omitempty" example:"operator"`
		DefaultView    *string `json:"default_view,omitempty" maxLength:"256"`
		SingleViewMode *bool   `json:"single_view_mode,omitempty"`
		IsActive       *bool   `json:"is_active,omitempty" example:"true"`
		Password       *string `json:"password,omitempty" maxLength:"1024"`
		Email          *string `json:"email,omitempty" maxLength:"254" doc:"A new email; empty removes it."`
	}
}

func (rt *Routes) updateUser(ctx context.Context, in *updateUserInput) (*userOutput, error) {
	b := in.Body
	if b.Role != nil {
		if err := rt.Authorizer.CanGrant(auth.PrincipalFrom(ctx), []string{*b.Role}, nil); err != nil {
			return nil, dashcore.HTTPError(err)
		}
	}
	u, err := rt.Accounts.UpdateUser(ctx, client(ctx), in.UserID, UserUpdate{Role: b.Role, DefaultView: b.DefaultView,
		SingleViewMode: b.SingleViewMode, IsActive: b.IsActive, Password: b.Password, Email: b.Email})
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	return &userOutput{Body: u}, nil
}

func (rt *Routes) deleteUser(ctx context.Context, in *userIDInput) (*messageOutput, error) {
	u, err := rt.Accounts.DeleteUser(ctx, client(ctx), in.UserID)
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	return message("User %s deleted successfully", u.Username), nil
}

func (rt *Routes) cleanup(ctx context.Context, _ *struct{}) (*messageOutput, error) {
	n, err := rt.Accounts.CleanupSessions(ctx)
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	return message("Cleaned up %d expired sessions", n), nil
}

type keysOutput struct {
	Body []*auth.APIKeyRecord
}

func (rt *Routes) listKeys(ctx context.Context, _ *struct{}) (*keysOutput, error) {
	keys, err := rt.Keys.List(ctx)
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	return &keysOutput{Body: keys}, nil
}

type createKeyInput struct {
	Body struct {
		Name        string     `json:"name" minLength:"1" maxLength:"100" example:"ci deploy"`
		Roles       []string   `json:"roles,omitempty" maxItems:"20" doc:"Roles of the policy." example:"operator"`
		Permissions []string   `json:"permissions,omitempty" maxItems:"100" doc:"If given, the key may do only these (resource:action), within what its roles allow." example:"projects:read,tasks:write"`
		ExpiresAt   *time.Time `json:"expires_at,omitempty" example:"2027-01-01T00:00:00Z"`
	}
}

// CreatedKey is a new key with its secret, shown once.
type CreatedKey struct {
	*auth.APIKeyRecord
	// Key is the whole key; it is never shown again.
	Key string `json:"key"`
}

type createKeyOutput struct {
	Body CreatedKey
}

func (rt *Routes) createKey(ctx context.Context, in *createKeyInput) (*createKeyOutput, error) {
	perms, err := auth.ParsePermissions(in.Body.Permissions)
	if err != nil {
		return nil, dashcore.NewError(dashcore.ErrInvalid, err.Error(), nil)
	}
	if len(in.Body.Roles) == 0 && len(perms) == 0 {
		return nil, dashcore.NewError(dashcore.ErrInvalid, "give the key roles, permissions or both", nil)
	}
	known := rt.Authorizer.GrantableRoles()
	for _, r := range in.Body.Roles {
		if !slices.Contains(known, r) {
			return nil, dashcore.NewError(dashcore.ErrInvalid, fmt.Sprintf("role %q is not in the policy", r), nil)
		}
	}
	if err := rt.Authorizer.CanGrant(auth.PrincipalFrom(ctx), in.Body.Roles, perms); err != nil {
		return nil, dashcore.HTTPError(err)
	}
	if in.Body.ExpiresAt != nil && !in.Body.ExpiresAt.After(time.Now()) {
		return nil, dashcore.NewError(dashcore.ErrInvalid, "expires_at must be in the future", nil)
	}
	c := client(ctx)
	createdBy := ""
	if c.Actor != nil {
		createdBy = c.Actor.Name
	}
	rec, secret, err := rt.Keys.Create(ctx, rt.Keys.db, NewKey{Name: in.Body.Name, Roles: in.Body.Roles,
		Permissions: perms, ExpiresAt: in.Body.ExpiresAt, CreatedBy: createdBy})
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	rt.Accounts.audit(ctx, c, auth.AuditKeyCreated, "success", nil, map[string]any{
		"key_id": rec.ID, "name": rec.Name, "roles": rec.Roles, "permissions": in.Body.Permissions})
	return &createKeyOutput{Body: CreatedKey{APIKeyRecord: rec, Key: secret}}, nil
}

type keyIDInput struct {
	KeyID string `path:"key_id" maxLength:"12"`
}

type keyOutput struct {
	Body *auth.APIKeyRecord
}

func (rt *Routes) revokeKey(ctx context.Context, in *keyIDInput) (*keyOutput, error) {
	rec, err := rt.Keys.Revoke(ctx, rt.Keys.db, in.KeyID)
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	if rt.KeyAuth != nil {
		rt.KeyAuth.Invalidate(rec.ID)
	}
	rt.Accounts.audit(ctx, client(ctx), auth.AuditKeyRevoked, "success", nil, map[string]any{"key_id": rec.ID, "name": rec.Name})
	return &keyOutput{Body: rec}, nil
}

type rulesOutput struct {
	Body []auth.Rule
}

func (rt *Routes) listRules(_ context.Context, _ *struct{}) (*rulesOutput, error) {
	return &rulesOutput{Body: rt.Authorizer.Rules()}, nil
}

type rulesInput struct {
	Body struct {
		Rules []auth.Rule `json:"rules" minItems:"1" maxItems:"100"`
	}
}

func (rt *Routes) addRules(ctx context.Context, in *rulesInput) (*rulesOutput, error) {
	return rt.changeRules(ctx, in, "add", rt.Authorizer.AddRules)
}

func (rt *Routes) removeRules(ctx context.Context, in *rulesInput) (*rulesOutput, error) {
	return rt.changeRules(ctx, in, "remove", rt.Authorizer.RemoveRules)
}

func (rt *Routes) changeRules(ctx context.Context, in *rulesInput, op string, apply func(context.Context, ...auth.Rule) error) (*rulesOutput, error) {
	for i, r := range in.Body.Rules {
		if err := r.Validate(); err != nil {
			return nil, dashcore.NewError(dashcore.ErrInvalid, fmt.Sprintf("rules[%d]: %v", i, err), nil)
		}
	}
	if err := apply(ctx, in.Body.Rules...); err != nil {
		return nil, dashcore.HTTPError(err)
	}
	rules := make([]string, len(in.Body.Rules))
	for i, r := range in.Body.Rules {
		rules[i] = r.String()
	}
	rt.Accounts.audit(ctx, client(ctx), auth.AuditPolicyChanged, "success", nil, map[string]any{"op": op, "rules": rules})
	return &rulesOutput{Body: rt.Authorizer.Rules()}, nil
}

type auditInput struct {
	Type     string `query:"type"`
	Username string `query:"username"`
	Before   int64  `query:"before" minimum:"0" doc:"Only rows with a smaller id (the last id of the previous page)."`
	Limit    int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

type auditOutput struct {
	Body []AuditRecord
}

func (rt *Routes) listAudit(ctx context.Context, in *auditInput) (*auditOutput, error) {
	recs, err := rt.Audit.List(ctx, AuditFilter{Type: in.Type, Username: in.Username, Before: in.Before, Limit: in.Limit})
	if err != nil {
		return nil, dashcore.HTTPError(err)
	}
	return &auditOutput{Body: recs}, nil
}

// The examples of the API's documentation.
var (
	exampleTime      = time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC)
	exampleLastLogin = time.Date(2026, 1, 6, 8, 15, 0, 0, time.UTC)
	exampleUser      = &User{ID: "6f1c2b9e-8a4d-4c1e-9b7a-2d5e8f3a1c40", Username: "alice", Email: "alice@example.com", Role: "operator",
		CreatedAt: exampleTime, LastLogin: &exampleLastLogin, IsActive: true}
	exampleLogin = &LoginResult{UserID: exampleUser.ID, Username: "alice", Role: "operator",
		SessionToken: "tds_q9Yz3v0bW6xK2mR8tP1cN5sH7jL4dF0aE3gU6iO9kA2", ExpiresAt: exampleLastLogin.Add(24 * time.Hour),
		RefreshToken: exampleRefreshToken, RefreshExpiresAt: exampleLastLogin.Add(7 * 24 * time.Hour)}
	exampleRefreshToken = "tdr_Xw3kP9mQ2vL7tR1nB5cH8sJ4dF6gA0eU3iO9kY2zW1q"
	exampleRefreshed    = &LoginResult{UserID: exampleUser.ID, Username: "alice", Role: "operator",
		SessionToken: "tds_M4nB8vC2xZ6lK0jH5gF9dS3aP7oI1uY4tR8eW2qE6r", ExpiresAt: exampleLastLogin.Add(30 * time.Hour),
		RefreshToken: "tdr_Gh7jK2lM9nB4vC6xZ1aS8dF3gH5jK0lQ2wE7rT4yU9i", RefreshExpiresAt: exampleLastLogin.Add(7 * 24 * time.Hour)}
	exampleMe     = &Me{User: *exampleUser, Email: exampleUser.Email, Roles: []string{"operator"}, Kind: auth.KindUser, Method: auth.MethodSession}
	exampleExpiry = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	exampleKey    = &auth.APIKeyRecord{ID: "k7q2mx9pl4az", Name: "ci deploy", Roles: []string{"operator"},
		Permissions: []auth.Permission{{Resource: "projects", Action: "read"}, {Resource: "tasks", Action: "write"}},
		CreatedAt:   exampleTime, CreatedBy: "alice", ExpiresAt: &exampleExpiry}
	exampleKeySecret  = "td_k7q2mx9pl4az_3JqP0v9mWzX8bK1tR6yN4cH2sL7fD5gA0eU9iO3kQ6w"
	exampleRevokedKey = func() *auth.APIKeyRecord {
		k := *exampleKey
		k.RevokedAt, k.LastUsedAt = &exampleLastLogin, &exampleTime
		return &k
	}()
	exampleRules = []auth.Rule{
		auth.PermissionRule("operator", "*", "projects", "write"),
		auth.InheritRule("alice", "operator"),
	}
	exampleRulesChange = map[string][]auth.Rule{"rules": {auth.PermissionRule("viewer", "*", "logs", "read")}}
	exampleAudit       = []AuditRecord{{ID: 42, AuditEvent: auth.AuditEvent{Type: auth.AuditLoginSuccess, Outcome: "success",
		At: exampleLastLogin, UserID: exampleUser.ID, Username: "alice", IP: "192.0.2.10", UserAgent: "Mozilla/5.0",
		RequestID: "01JH5V6Y9Q2R3S4T5U6V7W8X9Y", Details: map[string]any{"remember_me": false}}}}
)

// exampleMessage is the body of an operation that answers a message.
func exampleMessage(msg string) map[string]string { return map[string]string{"message": msg} }
