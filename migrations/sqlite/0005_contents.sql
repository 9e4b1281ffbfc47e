-- Personalized content: named pieces whose fields are templates (API.md "Templates").
CREATE TABLE contents (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL DEFAULT '',
    button TEXT NOT NULL DEFAULT '',
    link TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX contents_name ON contents (workspace_id, name);
