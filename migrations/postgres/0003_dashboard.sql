-- The dashboard at a million users: an exact count per workspace (kept by
-- the writer, which knows how many users each commit adds and deletes),
-- substring search through a trigram index, an index per sort of
-- the Users list, attribute values by key, accounts' chosen columns, invites.

ALTER TABLE workspaces ADD COLUMN users_count BIGINT NOT NULL DEFAULT 0;
UPDATE workspaces w SET users_count = (SELECT COUNT(*) FROM users u WHERE u.workspace_id = w.id);

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
