-- The team directory and the audit log for more roles (see
-- auth.DefaultRules): viewers list users (usernames, roles, active flags;
-- emails need users:read), operators read the audit log (who did what;
-- the client's address, user agent and details need users:read).
-- Add-only: a database whose policy an admin changed keeps its rules, and
-- a rule already there is left as it is.
INSERT INTO auth_casbin_rules (ptype, v0, v1, v2, v3) VALUES
    ('p', 'viewer',   '*', 'users', 'list'),
    ('p', 'operator', '*', 'audit', 'read')
ON CONFLICT DO NOTHING;
