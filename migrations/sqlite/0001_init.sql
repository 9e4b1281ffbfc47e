-- userdeck schema, SQLite. Times are milliseconds since the epoch.
-- Every table holding customer data leads with workspace_id.

CREATE TABLE workspaces (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    sdk_key TEXT NOT NULL UNIQUE,
    secret_key TEXT NOT NULL UNIQUE,
    identify_secret TEXT NOT NULL,
    identify_verification BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    id INTEGER PRIMARY KEY,
    jimer_id TEXT NOT NULL,
    user_id TEXT,
    name TEXT,
    email TEXT,
    language TEXT,
    first_seen BIGINT,
    last_activity BIGINT,
    sessions BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    -- name and email lowercased, one per line: what `q` searches
    search TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX users_jimer_id ON users (workspace_id, jimer_id);
CREATE UNIQUE INDEX users_user_id ON users (workspace_id, user_id);
CREATE INDEX users_email ON users (workspace_id, email);
-- Keyset paging: the list sorts by these expressions, then id.
CREATE INDEX users_by_last_activity ON users (workspace_id, COALESCE(last_activity, -1), id);
CREATE INDEX users_by_created ON users (workspace_id, created, id);
CREATE INDEX users_by_name ON users (workspace_id, COALESCE(name, ''), id);

CREATE TABLE attributes (
    workspace_id BIGINT NOT NULL,
    uid BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    value TEXT NOT NULL,
    num DOUBLE PRECISION,
    source TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, uid, name)
) WITHOUT ROWID;

CREATE TABLE attribute_definitions (
    workspace_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    users BIGINT NOT NULL DEFAULT 0,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, name)
) WITHOUT ROWID;

CREATE TABLE attribute_sources (
    workspace_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, name, source)
) WITHOUT ROWID;
