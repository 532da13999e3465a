-- An optional email address per user, shown only to callers allowed
-- users:read (authpg.User.Email).
ALTER TABLE auth_users ADD COLUMN email text CHECK (email IS NULL OR length(email) BETWEEN 3 AND 254);
