// Package authpg keeps the auth module's state in PostgreSQL: local users
// and their sessions, API keys, the audit log, and the Casbin policy (an
// adapter, and a LISTEN/NOTIFY watcher that keeps every instance's policy
// in step). It serves the auth API: the original's /api/v1/auth/*
// endpoints, fixed, plus API keys, the policy and the audit log.
//
// # Tables
//
// [Migrations] (namespace "auth") creates:
//
//   - auth_users: local users; usernames unique regardless of case
//     (1 to 64 characters), one role, password_hash (Argon2id, or bcrypt
//     from a migrated database), is_active, the original's view
//     preferences, last_login, password_changed_at, created_by (set to
//     NULL when its creator is deleted);
//   - auth_sessions: sessions, the token stored as its SHA-256 only, with
//     expires_at, idle_timeout, last_seen_at, remember_me, revoked_at and
//     revoke_reason, the client's IP and User-Agent, and the refresh
//     family it belongs to (family_id); deleted with their user;
//   - auth_refresh_families: one per login: its user, remember_me, its
//     end (expires_at, fixed at the login), revoked_at and
//     revoke_reason, and, for a cookie login, the CSRF token's SHA-256
//     (csrf_hash); deleted with their user;
//   - auth_refresh_tokens: refresh tokens, as their SHA-256 only, by
//     family, with the session issued with each and rotated_at once
//     exchanged (kept as long as the family, to recognise a reuse);
//   - auth_api_keys: id (the td_<id>_... part), name, the secret's SHA-256,
//     roles, permissions ("resource:action"), created_at, created_by,
//     expires_at, revoked_at, last_used_at;
//   - auth_audit_log: security events, with no foreign key, so deleting a
//     user keeps its history and is never blocked by it;
//   - auth_casbin_rules: the policy, one rule per row (ptype, v0 to v5),
//     seeded with [auth.DefaultRules].
//
// Times are timestamptz, and a session's expiry is computed by the server
// (now() plus its lifetime), so it does not depend on the host's time
// zone.
//
// # Stores
//
// [APIKeys] is the [auth.APIKeyStore]: [APIKeys.Create] generates a key and
// returns its secret once; [APIKeys.Revoke] answers conflict for a key
// already revoked and not found for an unknown one; TouchAPIKeys records
// last_used_at for a whole batch in one statement, never moving it back.
// [Sessions] is the [auth.SessionStore]: LookupSession reads a session,
// its user (role, is_active) and its family's CSRF token hash in one
// query, on every request. [Sessions.Revoke] ends a session and its
// refresh family; [Sessions.Cleanup] deletes sessions and families that
// ended more than a grace period ago.
// [CasbinAdapter] is the policy's Casbin adapter, an [auth.AtomicAdapter]:
// a change of several rules is one transaction; adding a stored rule is a
// conflict, removing a missing one not found. [AuditLog] is the
// [auth.Auditor] (see Audit).
//
// # Accounts
//
// [Accounts] is local users and their sessions, with the rules the
// original lacked:
//
//   - [Accounts.Login] answers every failure, whether the username is
//     unknown, the password wrong or the user deactivated, with the same
//     401 and body ([ErrInvalidCredentials]), after the same work: an
//     unknown username costs a password check against a dummy hash
//     ([auth.PasswordHasher.VerifyDummy]). Failures are counted per username
//     (known or not) and per client by the [auth.LoginGuard]; a locked-out
//     login is refused before any password check with a [*LockedError]
//     (429 with Retry-After), and the failure that starts a lockout writes
//     a lockout audit event. A successful login of an outdated hash
//     (bcrypt, or other Argon2id parameters) stores a new one. Sessions
//     last SessionConfig.TTL (24h), or RememberMeTTL (30 days) with
//     remember_me, and end after IdleTimeout (2h; 7 days with
//     remember_me) unused. Each login starts a refresh family and returns
//     its first refresh token (see Refresh tokens).
//   - [Accounts.UpdateUser]: a password, role or activation change revokes
//     every live session and refresh family of the user in the same
//     transaction (as [Accounts.Logout] does for the caller's); the new
//     password must meet the policy; roles must be roles of the policy.
//   - The last active admin can be neither demoted, deactivated nor
//     deleted ([ErrLastAdmin], 409): the active admins are locked in every
//     such transaction, so two concurrent demotions cannot remove the
//     last one.
//   - [Accounts.DeleteUser] deletes the user and its sessions; its audit
//     rows stay, users it created keep existing; a session cannot delete
//     its own user ([ErrDeleteSelf]).
//   - [Accounts.EnsureAdmin] creates the first admin from
//     TAYLORDASH_BOOTSTRAP_ADMIN_USER and TAYLORDASH_BOOTSTRAP_ADMIN_PASSWORD
//     (or the CLI) when no active admin exists, under an advisory lock so
//     that instances starting together make one. The password must meet
//     the policy; there is no default admin. A user of that name that
//     exists already is made an active admin with that password.
//   - [Accounts.GenerateAdmin] is the opt-in alternative for trying an
//     application out (Config.GenerateAdmin,
//     TAYLORDASH_BOOTSTRAP_ADMIN_GENERATE, default false; a configured
//     bootstrap admin wins): when no active admin exists it creates one,
//     named "admin" (or "admin-xxxxxx" when a user named admin exists,
//     which is never taken over), with a random password of at least 27
//     characters from crypto/rand, stored hashed like every password. The
//     check and the insert are one transaction under the same advisory
//     lock, so instances starting together generate one admin. [Module]
//     prints it once, as a framed message on standard error
//     ([GeneratedAdmin.WriteNotice]), and logs a warning with the username
//     only; later starts find the admin and print nothing.
//
// # Refresh tokens
//
// A login returns a refresh token (auth.NewRefreshToken, "tdr_"); its
// family ends RefreshTTL (7 days; RememberMeRefreshTTL, 30 days, with
// remember_me) after the login. [Accounts.Refresh] exchanges a token once
// for a new session and a new refresh token of the same family, in one
// transaction holding the family's row lock: the token must not have been
// exchanged, its family must be neither revoked nor ended, its user
// active. The session issued with the old token is revoked ("refreshed")
// at once: a refresh replaces the session, it does not add one. The new
// session ends at the family's end at the latest, so rotation never
// extends a login. A token presented again after its exchange is taken as
// stolen: the family and all its sessions are revoked
// ("refresh_token_reused", audited as refresh_token_reused, with the
// family id and how many sessions it ended), and the caller gets the same
// 401 as for any refused token ([ErrInvalidRefreshToken], audited as
// refresh_failed with its reason). Two refreshes with one token at once:
// one wins, the other is a reuse, which ends the winner's session too;
// clients must not refresh concurrently. Logout, a password, role or
// activation change and deleting the user end the families too. Every
// writer locks in one order (user, family, sessions), so none of these
// can leave a session alive that a refresh under way created.
//
// A cookie login ([LoginRequest].Cookie) stores a CSRF token's hash on its
// family; its refresh token is accepted only from the refresh cookie with
// that CSRF token ([RefreshRequest].Cookie), a bearer login's only from a
// body.
//
// # Routes
//
// [Routes] is the auth API, each operation declaring its requirement
// (resources users, keys, policies and audit are admin's in the default
// policy, but for users:list, a viewer's, and audit:read, an
// operator's):
//
//	POST   /api/v1/auth/login             public (rate group login)
//	POST   /api/v1/auth/refresh           public (rate group refresh)
//	POST   /api/v1/auth/logout            authenticated
//	GET    /api/v1/auth/me                authenticated
//	GET    /api/v1/auth/users             users:list
//	POST   /api/v1/auth/users             users:write
//	GET    /api/v1/auth/users/{user_id}   users:list
//	PUT    /api/v1/auth/users/{user_id}   users:write
//	DELETE /api/v1/auth/users/{user_id}   users:write
//	DELETE /api/v1/auth/sessions/cleanup  users:write
//	GET    /api/v1/auth/keys              keys:read
//	POST   /api/v1/auth/keys              keys:write
//	DELETE /api/v1/auth/keys/{key_id}     keys:write
//	GET    /api/v1/auth/policies          policies:read
//	POST   /api/v1/auth/policies          policies:write
//	POST   /api/v1/auth/policies/remove   policies:write
//	GET    /api/v1/auth/audit             audit:read
//
// The original's field names are kept (LoginRequest, LoginResponse,
// UserInfo, plus an optional email; GET /me adds roles, kind, auth_method
// and domain). Fields tagged with auth.PermissionTag are removed from the
// answers of callers without the permission (auth.FieldFilter): a user's
// email needs users:read (listing and getting users needs users:list, a
// viewer's, so the directory is everyone's and the addresses admins'),
// except in GET /me, where the caller sees its own ([Me].Email); an
// audit row's ip, user_agent and details need users:read too. The login
// response adds refresh_token and refresh_expires_at, and is also the
// refresh's. With "cookie": true (a browser), the login checks the
// request's Origin (the API's own or an allowed one, [Routes].Origins),
// sets the session, refresh and CSRF cookies (auth.BrowserSession) instead
// of returning the tokens, and returns csrf_token; a refresh without a
// body reads the refresh cookie, and needs the Origin and the CSRF token
// too (403, [ErrCrossSite]); a refused one deletes the cookies. A logout
// authenticated by the cookie deletes them. Cookies are Secure when the
// request came over TLS, or always with SessionConfig.CookieSecure. A key is
// created with roles of the policy, permissions, or both, and an optional
// expires_at in the future; its secret is in the response only. Policy
// changes take a list of [auth.Rule], all or none. The routes, not the
// stores, write the key_created, key_revoked and policy_changed audit
// events.
//
// # Keeping instances in step
//
// [PolicyWatcher] is the Casbin watcher: after a change, the instance
// that made it sends pg_notify on the channel auth_policy with its
// instance id; every other instance, listening on a connection of its own
// (application_name "taylordash policy watcher <id>"), reloads its policy
// from auth_casbin_rules, typically within milliseconds. When the
// connection drops, the watcher reconnects with jittered backoff (100ms
// to 5s) and then reloads once, since notifications sent meanwhile are
// lost; it pings an idle connection every 30s. The notification is sent
// after the change has committed, as a separate statement: if it fails
// (or the process dies in between), the failure is logged and the other
// instances keep their policy until they next reload: at the next change
// notified, or when their watcher reconnects.
//
// # Audit
//
// [AuditLog] writes each [auth.AuditEvent] to auth_audit_log, and logs it
// (at info) so that a database outage does not hide it. Given an
// [Outbox] (the event bus's eventbuspg.Outbox), it also publishes the
// event on tracker/events/auth/<type> ([AuditTopicPrefix]), kind
// auth.<type>, in the same transaction: the row and the event commit
// together. [AuditLog.List] reads the log newest first, by type or
// username, a page at a time.
//
// # Modules
//
// [Module] provides, from the [*store.DB], the policy's persist.Adapter and
// persist.Watcher (which auth.Module uses instead of its in-memory
// policy), [*APIKeys] (auth.APIKeyStore), [*Sessions]
// (auth.SessionStore), [*AuditLog] (auth.Auditor, publishing through an
// [Outbox] when the graph has one) and [*Accounts]; it contributes
// [Migrations], and creates the bootstrap admin (or generates one) on
// start. [Config] is read from TAYLORDASH_AUTH_SESSION_* (lifetimes of
// sessions and refresh tokens, CookieSecure),
// TAYLORDASH_BOOTSTRAP_ADMIN_USER/_PASSWORD and
// TAYLORDASH_BOOTSTRAP_ADMIN_GENERATE. [HTTPModule] adds [Routes].
// An application composes them with auth.Module:
//
//	auth.Module, authpg.Module, authpg.HTTPModule,
//	fx.Provide(func(o *eventbuspg.Outbox) authpg.Outbox { return o }),
//
// Without fx: [NewCasbinAdapter] and [NewPolicyWatcher] for
// [auth.NewAuthorizer] and [auth.Authorizer.SetWatcher], [NewAPIKeys],
// [NewAuditLog], [NewAccounts] (its Sessions for
// [auth.NewSessionAuthenticator]), and a [Routes] with them.
package authpg
