-- Refresh-token families: one per login. Every session and refresh token
-- descended from that login belongs to it; its expiry is fixed at the
-- login, so rotation never extends it. A refresh locks the family's row,
-- so refreshes, reuse detection and revocations of one family happen one
-- at a time. csrf_hash is set for a cookie login (browser): the SHA-256 of
-- the CSRF token the browser sends back in X-CSRF-Token.
CREATE TABLE auth_refresh_families (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
    remember_me   boolean NOT NULL DEFAULT false,
    csrf_hash     bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    revoke_reason text
);
CREATE INDEX auth_refresh_families_user_idx ON auth_refresh_families (user_id) WHERE revoked_at IS NULL;
CREATE INDEX auth_refresh_families_expires_idx ON auth_refresh_families (expires_at);

-- Refresh tokens, stored as their SHA-256 only. The live token of a family
-- is the one not rotated; rotated tokens are kept as long as their family,
-- so that presenting one again is recognised (and revokes the family).
CREATE TABLE auth_refresh_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    family_id   uuid NOT NULL REFERENCES auth_refresh_families (id) ON DELETE CASCADE,
    -- The session issued with the token, revoked when the token is
    -- exchanged.
    session_id  uuid REFERENCES auth_sessions (id) ON DELETE SET NULL,
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    rotated_at  timestamptz
);
CREATE INDEX auth_refresh_tokens_family_idx ON auth_refresh_tokens (family_id);
CREATE INDEX auth_refresh_tokens_session_idx ON auth_refresh_tokens (session_id);

-- The family a session belongs to (NULL for sessions opened before this
-- migration).
ALTER TABLE auth_sessions ADD COLUMN family_id uuid REFERENCES auth_refresh_families (id) ON DELETE SET NULL;
CREATE INDEX auth_sessions_family_idx ON auth_sessions (family_id);
