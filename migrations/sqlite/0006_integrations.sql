-- Integrations that push profiles to userdeck: switched on per workspace, each
-- with its own key, what it received, and a log of what it could not apply.
CREATE TABLE integrations (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    kind TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 0,
    key TEXT NOT NULL UNIQUE,
    received BIGINT NOT NULL DEFAULT 0,
    rejected BIGINT NOT NULL DEFAULT 0,
    last_received_at BIGINT,
    PRIMARY KEY (workspace_id, kind)
);
CREATE TABLE integration_log (
    id INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    at BIGINT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX integration_log_by_kind ON integration_log (workspace_id, kind, id);
