package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// MethodCookie is a local session token carried by the session cookie
// ([SessionCookie]) of a browser login: an ambient credential, so every
// request that changes state must also prove it comes from an allowed
// page (see [CookieAuthenticator]).
const MethodCookie Method = "cookie"

// The cookies of a browser login, and the header that carries the CSRF
// token back.
const (
	// SessionCookie holds the session token: HttpOnly, SameSite=Strict,
	// Path=/, Secure under TLS, for the session's lifetime.
	SessionCookie = "taylordash_session"
	// RefreshCookie holds the refresh token: HttpOnly, SameSite=Strict,
	// sent only to RefreshCookiePath.
	RefreshCookie = "taylordash_refresh"
	// CSRFCookie holds the CSRF token for the page's script to read and
	// send back in CSRFHeader: not HttpOnly, SameSite=Strict, Path=/.
	CSRFCookie = "taylordash_csrf"
	// CSRFHeader carries the CSRF token on every cookie-authenticated
	// request that changes state.
	CSRFHeader = "X-CSRF-Token"
	// RefreshCookiePath is the path of the refresh operation, the only
	// one the refresh cookie is sent to.
	RefreshCookiePath = "/api/v1/auth/refresh"
)

// AuditCSRFRefused is the audit event of a cookie-authenticated request
// refused as cross-site (403): its Origin is missing or not allowed, or
// its CSRF token is missing or wrong.
const AuditCSRFRefused = "csrf_refused"

// CSRFProblem is the detail of the 403 that refuses a cross-site request;
// it says what a legitimate client must send, and nothing about why this
// one failed.
const CSRFProblem = "cross-site request refused: a request that changes state with the session cookie needs an allowed Origin and the X-CSRF-Token header"

// CSRFError refuses a cookie-authenticated request that changes state
// without an allowed Origin or a valid CSRF token. The guard answers it
// with 403 ([CSRFProblem]), counts it as a csrf_refused decision with its
// reason, and audits it ([AuditCSRFRefused]); the handler never runs.
type CSRFError struct {
	// Reason is a short, stable code: origin_missing,
	// origin_not_allowed, csrf_token_missing or csrf_token_invalid.
	Reason string
	// Err is the underlying cause, logged and audited, never sent.
	Err error
}

// Error returns the reason and the cause.
func (e *CSRFError) Error() string {
	if e.Err == nil {
		return "auth: " + e.Reason
	}
	return "auth: " + e.Reason + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *CSRFError) Unwrap() error { return e.Err }

// OriginPolicy decides which browser origins may send cookie-authenticated
// requests that change state: the API's own origin (the request's Host;
// an http origin is refused on a request that came over TLS), and the
// listed origins, matched exactly ("*" is ignored: no origin is trusted
// blindly). The nil policy allows the API's own origin only. It is safe
// for concurrent use.
type OriginPolicy struct {
	allowed map[string]bool
}

// NewOriginPolicy returns a policy allowing origins (scheme://host[:port],
// such as the CORS origins of dashcore.HTTPConfig) besides the API's own.
func NewOriginPolicy(origins []string) *OriginPolicy {
	p := &OriginPolicy{allowed: map[string]bool{}}
	for _, o := range origins {
		if n, ok := normalizeOrigin(o); ok {
			p.allowed[n] = true
		}
	}
	return p
}

// Check returns nil when origin (the request's Origin header) may send a
// cookie-authenticated request that changes state to the API at host
// (the request's Host), reached over TLS or not, and a *CSRFError
// otherwise. A missing Origin is refused: browsers send it on every
// request that is not a GET or HEAD; a client that is not a browser uses
// a bearer token or an API key.
func (p *OriginPolicy) Check(origin, host string, overTLS bool) error {
	if origin == "" {
		return &CSRFError{Reason: "origin_missing", Err: errors.New("the request has no Origin header")}
	}
	n, ok := normalizeOrigin(origin)
	if ok && p != nil && p.allowed[n] {
		return nil
	}
	if ok {
		scheme, h, _ := strings.Cut(n, "://")
		if !(overTLS && scheme == "http") && h == normalizeHost(host, scheme) {
			return nil
		}
	}
	return &CSRFError{Reason: "origin_not_allowed",
		Err: fmt.Errorf("origin %q is neither the API's own (%q) nor an allowed one", clip(origin, 200), clip(host, 200))}
}

// normalizeOrigin returns scheme://host[:port] in lower case without a
// default port, and whether origin is such an origin.
func normalizeOrigin(origin string) (string, bool) {
	u, err := url.Parse(strings.TrimSuffix(strings.TrimSpace(origin), "/"))
	if err != nil || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	return scheme + "://" + normalizeHost(u.Host, scheme), true
}

// normalizeHost lower-cases host and drops the default port of scheme.
func normalizeHost(host, scheme string) string {
	host = strings.ToLower(host)
	switch {
	case scheme == "https" && strings.HasSuffix(host, ":443"):
		return strings.TrimSuffix(host, ":443")
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		return strings.TrimSuffix(host, ":80")
	}
	return host
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// safeMethod reports whether m cannot change state (RFC 9110 safe methods
// the API serves): such requests need no CSRF proof.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// CookieAuthenticator authenticates the session cookie of a browser login
// ([SessionCookie]). It is the only authenticator of an ambient
// credential, one the browser attaches by itself, so:
//
//   - it steps aside when the request carries an Authorization or
//     X-API-Key header: an explicit credential always wins, and a request
//     authenticated by one needs no CSRF proof;
//   - the guard does not run it on public operations (login, refresh):
//     a stale cookie never blocks a login;
//   - it accepts only sessions opened by a cookie login (those with a
//     CSRF token), with the same checks as the [SessionAuthenticator]
//     (revoked, expired, idle, user deactivated: 401);
//   - on a request that changes state (anything but GET, HEAD and
//     OPTIONS) it also requires an Origin the [OriginPolicy] allows and
//     the login's CSRF token in [CSRFHeader] (compared in constant time
//     with the stored hash): otherwise a [*CSRFError], which the guard
//     answers with 403 before the handler runs.
//
// The principal's Method is [MethodCookie].
type CookieAuthenticator struct {
	sessions *SessionAuthenticator
	origins  *OriginPolicy
}

// NewCookieAuthenticator returns an authenticator of the session cookie,
// on store, with the origins allowed besides the API's own (nil: its own
// only).
func NewCookieAuthenticator(store SessionStore, origins *OriginPolicy) *CookieAuthenticator {
	return &CookieAuthenticator{sessions: NewSessionAuthenticator(store), origins: origins}
}

// Name implements Authenticator.
func (a *CookieAuthenticator) Name() string { return "cookie" }

// ambient marks an authenticator of a credential the browser sends by
// itself: the guard skips it on public operations.
func (a *CookieAuthenticator) ambient() {}

// Authenticate implements Authenticator.
func (a *CookieAuthenticator) Authenticate(ctx context.Context, r *http.Request) (*Principal, error) {
	if r.Header.Get("Authorization") != "" || r.Header.Get(APIKeyHeader) != "" {
		return nil, ErrNoCredentials
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil, ErrNoCredentials
	}
	unsafe := !safeMethod(r.Method)
	csrf := r.Header.Get(CSRFHeader)
	if unsafe {
		if err := a.origins.Check(r.Header.Get("Origin"), r.Host, r.TLS != nil); err != nil {
			return nil, err
		}
		if csrf == "" {
			return nil, &CSRFError{Reason: "csrf_token_missing", Err: fmt.Errorf("%s %s without %s", r.Method, r.URL.Path, CSRFHeader)}
		}
	}
	if !strings.HasPrefix(c.Value, sessionTokenPrefix) {
		return nil, Fail("unknown_session", errors.New("the session cookie holds no session token"))
	}
	rec, err := a.sessions.session(ctx, c.Value)
	if err != nil {
		return nil, err
	}
	if len(rec.CSRFHash) == 0 {
		return nil, Fail("not_cookie_session", fmt.Errorf("session %s was not opened by a cookie login", rec.ID))
	}
	if unsafe && !CheckCSRFToken(csrf, rec.CSRFHash) {
		return nil, &CSRFError{Reason: "csrf_token_invalid", Err: fmt.Errorf("%s %s: the CSRF token is not session %s's", r.Method, r.URL.Path, rec.ID)}
	}
	return rec.principal(MethodCookie), nil
}

// CheckCSRFToken reports whether token is the CSRF token whose hash is
// want, in constant time.
func CheckCSRFToken(token string, want []byte) bool {
	return token != "" && len(want) > 0 && subtle.ConstantTimeCompare(HashSecret(token), want) == 1
}

// BrowserSession is what a cookie login or refresh hands a browser, as
// cookies ([BrowserSession.Cookies]).
type BrowserSession struct {
	// SessionToken and SessionExpiresAt are the session's.
	SessionToken     string
	SessionExpiresAt time.Time
	// RefreshToken and RefreshExpiresAt are the refresh token's.
	RefreshToken     string
	RefreshExpiresAt time.Time
	// CSRFToken is the login's CSRF token.
	CSRFToken string
}

// Cookies returns the Set-Cookie values of b at now: the session cookie
// (HttpOnly, Path=/, until the session ends), the refresh cookie
// (HttpOnly, Path=RefreshCookiePath, until the refresh token ends) and the
// CSRF cookie (readable by the page's script, Path=/, as long as the
// refresh token), all SameSite=Strict, and Secure when secure (set it when
// the request came over TLS, or when a proxy terminates TLS in front).
func (b BrowserSession) Cookies(now time.Time, secure bool) []http.Cookie {
	return []http.Cookie{
		newCookie(SessionCookie, b.SessionToken, "/", maxAge(b.SessionExpiresAt, now), true, secure),
		newCookie(RefreshCookie, b.RefreshToken, RefreshCookiePath, maxAge(b.RefreshExpiresAt, now), true, secure),
		newCookie(CSRFCookie, b.CSRFToken, "/", maxAge(b.RefreshExpiresAt, now), false, secure),
	}
}

// ExpiredCookies returns Set-Cookie values that delete the cookies of a
// browser login (logout).
func ExpiredCookies(secure bool) []http.Cookie {
	return []http.Cookie{
		newCookie(SessionCookie, "", "/", -1, true, secure),
		newCookie(RefreshCookie, "", RefreshCookiePath, -1, true, secure),
		newCookie(CSRFCookie, "", "/", -1, false, secure),
	}
}

func newCookie(name, value, path string, maxAge int, httpOnly, secure bool) http.Cookie {
	return http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge, HttpOnly: httpOnly, Secure: secure,
		SameSite: http.SameSiteStrictMode}
}

// maxAge returns the seconds from now to end, at least 1.
func maxAge(end, now time.Time) int {
	return max(1, int(end.Sub(now)/time.Second))
}
