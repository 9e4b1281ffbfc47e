-- The dashboard at a million users: an exact count per workspace (kept by
-- the writer, which knows how many users each commit adds and deletes; a
-- row trigger cost a quarter of the bulk insert rate), substring search
-- through a trigram index, an index per sort of the Users list, attribute
-- values by key, accounts' chosen columns, invites.

ALTER TABLE workspaces ADD COLUMN users_count BIGINT NOT NULL DEFAULT 0;
UPDATE workspaces SET users_count = (SELECT COUNT(*) FROM users WHERE users.workspace_id = workspaces.id);

-- Mirrors users.search (lowercased name and email); `MATCH '"abc"'` finds
-- every row holding the substring abc (three characters or more).
CREATE VIRTUAL TABLE users_search USING fts5 (search, content = 'users', content_rowid = 'id', tokenize = 'trigram');
INSERT INTO users_search (users_search) VALUES ('rebuild');
CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_search (rowid, search) VALUES (new.id, new.search);
END;
CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
    INSERT INTO users_search (users_search, rowid, search) VALUES ('delete', old.id, old.search);
END;
CREATE TRIGGER users_search_update AFTER UPDATE OF search ON users WHEN old.search IS NOT new.search BEGIN
    INSERT INTO users_search (users_search, rowid, search) VALUES ('delete', old.id, old.search);
    INSERT INTO users_search (rowid, search) VALUES (new.id, new.search);
END;

CREATE INDEX users_by_first_seen ON users (workspace_id, COALESCE(first_seen, -1), id);
CREATE INDEX users_by_sessions ON users (workspace_id, sessions, id);
CREATE INDEX users_by_email ON users (workspace_id, COALESCE(email, ''), id);
CREATE INDEX users_by_user_id ON users (workspace_id, COALESCE(user_id, ''), id);

-- Who has a key, its distribution, and (later) conditions on it.
CREATE INDEX attributes_by_name ON attributes (workspace_id, name, num, value);

-- Attribute columns each account shows on the Users list (JSON array).
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
