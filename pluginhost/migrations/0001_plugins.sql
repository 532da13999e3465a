-- Installed plugins. One row per plugin id; install_path points at the
-- version directory that is live.
CREATE TABLE plugins (
    id                  text PRIMARY KEY CHECK (id ~ '^[a-z0-9-]{3,50}$'),
    name                text NOT NULL,
    version             text NOT NULL,
    description         text NOT NULL DEFAULT '',
    author              text NOT NULL DEFAULT '',
    type                text NOT NULL CHECK (type IN ('ui', 'data', 'integration', 'system')),
    kind                text NOT NULL DEFAULT '',
    runtime             text NOT NULL CHECK (runtime IN ('ui', 'wasm')),
    status              text NOT NULL DEFAULT 'installed'
                        CHECK (status IN ('installed', 'disabled', 'failed')),
    disabled_reason     text,
    repository_url      text,
    source              text NOT NULL CHECK (source IN ('upload', 'url', 'path')),
    source_ref          text NOT NULL DEFAULT '',
    bundle_sha256       text NOT NULL,
    install_path        text NOT NULL,
    manifest            jsonb NOT NULL,
    permissions         text[] NOT NULL DEFAULT '{}',
    config              jsonb NOT NULL DEFAULT '{}',
    credential_key      bytea NOT NULL,
    security_score      integer NOT NULL DEFAULT 100 CHECK (security_score BETWEEN 0 AND 100),
    security_violations integer NOT NULL DEFAULT 0,
    last_violation      timestamptz,
    installed_at        timestamptz NOT NULL DEFAULT now(),
    last_updated        timestamptz NOT NULL DEFAULT now(),
    installed_by        text
);
CREATE INDEX plugins_status_idx ON plugins (status);

-- Findings and runtime violations. No foreign key: a plugin's history
-- outlives an uninstall only when asked; uninstall deletes it by default.
CREATE TABLE plugin_security_violations (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plugin_id        text NOT NULL,
    violation_type   text NOT NULL,
    description      text NOT NULL,
    severity         text NOT NULL CHECK (severity IN ('info', 'low', 'medium', 'high', 'critical')),
    origin           text NOT NULL CHECK (origin IN ('scan', 'runtime', 'proxy')),
    rule_id          text,
    file             text,
    line             integer,
    col              integer,
    snippet          text,
    context          jsonb NOT NULL DEFAULT '{}',
    timestamp        timestamptz NOT NULL DEFAULT now(),
    resolved         boolean NOT NULL DEFAULT false,
    resolution_notes text
);
CREATE INDEX plugin_security_violations_plugin_idx ON plugin_security_violations (plugin_id, timestamp DESC);

-- Configuration changes, old and new (the original stored only the new).
CREATE TABLE plugin_config_history (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plugin_id  text NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
    old_config jsonb NOT NULL,
    new_config jsonb NOT NULL,
    changed_by text NOT NULL,
    timestamp  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX plugin_config_history_plugin_idx ON plugin_config_history (plugin_id, timestamp DESC);

-- Every call a plugin makes through the API proxy or the host API.
CREATE TABLE plugin_api_access (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plugin_id   text NOT NULL,
    method      text NOT NULL,
    path        text NOT NULL,
    permission  text,
    allowed     boolean NOT NULL,
    status      integer,
    duration_ms double precision,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX plugin_api_access_plugin_idx ON plugin_api_access (plugin_id, at DESC);

-- Runtime call statistics, one row per plugin, for health.
CREATE TABLE plugin_runtime_stats (
    plugin_id   text PRIMARY KEY REFERENCES plugins (id) ON DELETE CASCADE,
    calls       bigint NOT NULL DEFAULT 0,
    errors      bigint NOT NULL DEFAULT 0,
    traps       bigint NOT NULL DEFAULT 0,
    denials     bigint NOT NULL DEFAULT 0,
    last_call   timestamptz,
    last_error  timestamptz
);
