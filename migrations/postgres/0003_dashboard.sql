-- The dashboard at a million users: an exact count per workspace kept by
-- triggers, substring search through a trigram index, an index per sort of
-- the Users list, attribute values by key, accounts' chosen columns, invites.

ALTER TABLE workspaces ADD COLUMN users_count BIGINT NOT NULL DEFAULT 0;
UPDATE workspaces w SET users_count = (SELECT COUNT(*) FROM users u WHERE u.workspace_id = w.id);

-- Statement-level, so a multi-row insert updates the count once.
CREATE FUNCTION userdeck_users_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE workspaces w SET users_count = w.users_count + n.c
    FROM (SELECT workspace_id, COUNT(*) AS c FROM changed GROUP BY workspace_id) n
    WHERE w.id = n.workspace_id;
    RETURN NULL;
END $$;
CREATE FUNCTION userdeck_users_uncounted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE workspaces w SET users_count = w.users_count - n.c
    FROM (SELECT workspace_id, COUNT(*) AS c FROM changed GROUP BY workspace_id) n
    WHERE w.id = n.workspace_id;
    RETURN NULL;
END $$;
CREATE TRIGGER users_counted AFTER INSERT ON users REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION userdeck_users_counted();
CREATE TRIGGER users_uncounted AFTER DELETE ON users REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION userdeck_users_uncounted();

-- Substring search (LIKE '%abc%') through trigrams.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX users_search_trgm ON users USING gin (search gin_trgm_ops);

CREATE INDEX users_by_first_seen ON users (workspace_id, COALESCE(first_seen, -1), id);
CREATE INDEX users_by_sessions ON users (workspace_id, sessions, id);
CREATE INDEX users_by_email ON users (workspace_id, COALESCE(email, ''), id);
CREATE INDEX users_by_user_id ON users (workspace_id, COALESCE(user_id, ''), id);

-- Who has a key, and its distribution. Values stay out: a 700-character
-- value can pass the size limit of a B-tree entry.
CREATE INDEX attributes_by_name ON attributes (workspace_id, name, num, uid);

ALTER TABLE accounts ADD COLUMN user_columns TEXT NOT NULL DEFAULT '[]';

-- Invitations to create an account. The token is kept whole so Settings
-- can show the link again until it is used, revoked or expired.
CREATE TABLE invites (
    token TEXT PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    email TEXT NOT NULL,
    invited_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
