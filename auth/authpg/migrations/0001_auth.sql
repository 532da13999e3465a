-- Local users. Usernames are unique regardless of case.
CREATE TABLE auth_users (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username         text NOT NULL CHECK (length(username) BETWEEN 1 AND 64),
    password_hash    text NOT NULL,
    role             text NOT NULL,
    default_view     text,
    single_view_mode boolean NOT NULL DEFAULT false,
    is_active        boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    last_login       timestamptz,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    -- ON DELETE SET NULL: deleting the admin who created a user works.
    created_by       uuid REFERENCES auth_users (id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX auth_users_username_key ON auth_users (lower(username));

-- Local sessions. The token is stored as its SHA-256 only.
CREATE TABLE auth_sessions (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
    token_hash    bytea NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    idle_timeout  interval NOT NULL,
    remember_me   boolean NOT NULL DEFAULT false,
    revoked_at    timestamptz,
    revoke_reason text,
    ip_address    text,
    user_agent    text
);
CREATE INDEX auth_sessions_user_idx ON auth_sessions (user_id);
CREATE INDEX auth_sessions_expires_idx ON auth_sessions (expires_at) WHERE revoked_at IS NULL;

-- API keys: td_<id>_<secret>; the secret is stored as its SHA-256 only.
CREATE TABLE auth_api_keys (
    id           text PRIMARY KEY CHECK (id ~ '^[a-z0-9]{12}$'),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    secret_hash  bytea NOT NULL,
    roles        text[] NOT NULL DEFAULT '{}',
    permissions  text[] NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

-- Security events. No foreign keys: deleting a user keeps its history and
-- is never blocked by it.
CREATE TABLE auth_audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    event_type text NOT NULL,
    outcome    text NOT NULL DEFAULT 'success',
    user_id    uuid,
    username   text,
    subject    text,
    method     text,
    ip_address text,
    user_agent text,
    request_id text,
    details    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX auth_audit_log_at_idx ON auth_audit_log (at DESC);
CREATE INDEX auth_audit_log_type_idx ON auth_audit_log (event_type, at DESC);

-- Casbin policy rules (ptype p or g), one row per rule.
CREATE TABLE auth_casbin_rules (
    id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ptype text NOT NULL,
    v0    text NOT NULL DEFAULT '',
    v1    text NOT NULL DEFAULT '',
    v2    text NOT NULL DEFAULT '',
    v3    text NOT NULL DEFAULT '',
    v4    text NOT NULL DEFAULT '',
    v5    text NOT NULL DEFAULT '',
    UNIQUE (ptype, v0, v1, v2, v3, v4, v5)
);

-- The default policy (see auth.DefaultPolicy): viewer reads, operator
-- writes projects, components, tasks and events, admin does everything.
-- Rules are p, <role>, <domain>, <resource>, <action>; "*" matches any.
INSERT INTO auth_casbin_rules (ptype, v0, v1, v2, v3) VALUES
    ('p', 'viewer',   '*', 'projects',   'read'),
    ('p', 'viewer',   '*', 'components', 'read'),
    ('p', 'viewer',   '*', 'tasks',      'read'),
    ('p', 'viewer',   '*', 'events',     'read'),
    ('p', 'viewer',   '*', 'plugins',    'read'),
    ('p', 'operator', '*', 'projects',   'write'),
    ('p', 'operator', '*', 'components', 'write'),
    ('p', 'operator', '*', 'tasks',      'write'),
    ('p', 'operator', '*', 'events',     'write'),
    ('p', 'operator', '*', 'dlq',        'read'),
    ('p', 'admin',    '*', '*',          '*');
INSERT INTO auth_casbin_rules (ptype, v0, v1) VALUES
    ('g', 'operator', 'viewer'),
    ('g', 'admin',    'operator');
