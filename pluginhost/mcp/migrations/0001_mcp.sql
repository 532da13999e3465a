-- External MCP servers added through the admin API. Servers from
-- configuration (TAYLORDASH_MCP_SERVERS) are not stored. spec is the
-- server's JSON specification (mcp.ServerSpec) without its id.
CREATE TABLE mcp_servers (
    id         text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    spec       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    created_by text,
    updated_by text
);
