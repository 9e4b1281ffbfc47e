-- CSV imports: who imported which file when, and what came of it. The rows
-- left out (line and reason, the first thousand) are kept as JSON.
CREATE TABLE imports (
    id INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    account_email TEXT NOT NULL,
    file_name TEXT NOT NULL,
    identifier TEXT NOT NULL,
    rows_total BIGINT NOT NULL,
    created BIGINT NOT NULL DEFAULT 0,
    updated BIGINT NOT NULL DEFAULT 0,
    rejected BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    error TEXT,
    rejections TEXT NOT NULL DEFAULT '[]',
    started_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX imports_by_workspace ON imports (workspace_id, id);
