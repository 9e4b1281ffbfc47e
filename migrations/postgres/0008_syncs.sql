-- Pull syncs: the CRMs userdeck reads users' fields from (HubSpot,
-- Salesforce), one row per workspace and tool: where and how to read, which
-- fields become which attributes, the cursor of the incremental sync, and
-- how the last run went. Their log lines go to integration_log, under the
-- same kind as the receivers' lines use for theirs.
CREATE TABLE syncs (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    kind TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 0,
    base_url TEXT NOT NULL,
    api_version TEXT NOT NULL DEFAULT '',
    token TEXT NOT NULL DEFAULT '',
    object TEXT NOT NULL,
    match_field TEXT NOT NULL,
    match_to TEXT NOT NULL,
    -- JSON: [{"remote": ..., "attribute": ..., "type": ...}, ...]
    mapping TEXT NOT NULL DEFAULT '[]',
    interval_minutes BIGINT NOT NULL DEFAULT 60,
    -- Last modification time (ms) of the newest record read by a good run.
    cursor_ms BIGINT,
    last_started_at BIGINT,
    -- While a run goes on: until when its server holds it (renewed as it
    -- reads), so servers sharing a database do not run one sync twice.
    running_until BIGINT,
    last_finished_at BIGINT,
    last_full BIGINT NOT NULL DEFAULT 0,
    last_status TEXT,
    last_error TEXT,
    last_read BIGINT NOT NULL DEFAULT 0,
    last_updated BIGINT NOT NULL DEFAULT 0,
    last_not_matched BIGINT NOT NULL DEFAULT 0,
    last_errors BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, kind)
);
