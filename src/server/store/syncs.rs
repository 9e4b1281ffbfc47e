//! Pull syncs (HubSpot, Salesforce): per workspace and tool, where and how
//! userdeck reads users' fields, the cursor of the incremental sync and how
//! the last run went. Log lines share `integration_log` with the receivers
//! (the kind tells them apart). What the settings mean and how they are
//! checked lives in `server::integrations::pull`.

use super::{now_ms, Store, StoreError};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// The CRMs userdeck pulls from: (kind, label). The kind is also the source
/// recorded on the values a sync writes.
pub const SYNCS: &[(&str, &str)] = &[("hubspot", "HubSpot"), ("salesforce", "Salesforce")];

/// One remote field and the attribute it fills.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldMap {
    pub remote: String,
    pub attribute: String,
    /// The attribute type the value is read as (`number`, `boolean`,
    /// `date`, `string`), or empty: as the tool sends it.
    #[serde(default, rename = "type")]
    pub as_type: String,
}

/// Which userdeck field the record's `match_field` names a user by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchTo {
    Email,
    UserId,
}

impl MatchTo {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchTo::Email => "email",
            MatchTo::UserId => "user_id",
        }
    }

    pub fn parse(s: &str) -> Option<MatchTo> {
        match s {
            "email" => Some(MatchTo::Email),
            "user_id" => Some(MatchTo::UserId),
            _ => None,
        }
    }
}

/// What the user set up.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncConfig {
    pub kind: String,
    pub enabled: bool,
    pub base_url: String,
    /// Salesforce's REST API version (`v60.0`); empty for HubSpot.
    pub api_version: String,
    pub token: String,
    pub object: String,
    pub match_field: String,
    pub match_to: MatchTo,
    pub mapping: Vec<FieldMap>,
    pub interval_minutes: i64,
}

/// What a run counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunCounts {
    pub read: i64,
    pub updated: i64,
    pub not_matched: i64,
    pub errors: i64,
}

/// How the last run went.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LastRun {
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub full: bool,
    /// `ok` or `failed`; None before the first run ends.
    pub status: Option<String>,
    pub error: Option<String>,
    pub counts: RunCounts,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Sync {
    pub config: SyncConfig,
    pub cursor_ms: Option<i64>,
    pub last: LastRun,
}

const COLUMNS: &str = "kind, enabled, base_url, api_version, token, object, match_field, match_to, mapping,
    interval_minutes, cursor_ms, last_started_at, last_finished_at, last_full, last_status, last_error,
    last_read, last_updated, last_not_matched, last_errors";

fn read_sync(r: &sqlx::any::AnyRow) -> Result<Sync, StoreError> {
    let mapping: String = r.try_get("mapping")?;
    let match_to: String = r.try_get("match_to")?;
    Ok(Sync {
        config: SyncConfig {
            kind: r.try_get("kind")?,
            enabled: r.try_get::<i64, _>("enabled")? != 0,
            base_url: r.try_get("base_url")?,
            api_version: r.try_get("api_version")?,
            token: r.try_get("token")?,
            object: r.try_get("object")?,
            match_field: r.try_get("match_field")?,
            match_to: MatchTo::parse(&match_to)
                .ok_or_else(|| StoreError::Corrupt(format!("sync match_to {match_to:?}")))?,
            mapping: serde_json::from_str(&mapping)
                .map_err(|e| StoreError::Corrupt(format!("sync mapping: {e}")))?,
            interval_minutes: r.try_get("interval_minutes")?,
        },
        cursor_ms: r.try_get("cursor_ms")?,
        last: LastRun {
            started_at: r.try_get("last_started_at")?,
            finished_at: r.try_get("last_finished_at")?,
            full: r.try_get::<i64, _>("last_full")? != 0,
            status: r.try_get("last_status")?,
            error: r.try_get("last_error")?,
            counts: RunCounts {
                read: r.try_get("last_read")?,
                updated: r.try_get("last_updated")?,
                not_matched: r.try_get("last_not_matched")?,
                errors: r.try_get("last_errors")?,
            },
        },
    })
}

impl Store {
    /// The workspace's sync of `kind`, if it was ever saved.
    pub async fn sync(&self, workspace: i64, kind: &str) -> Result<Option<Sync>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM syncs WHERE workspace_id = $1 AND kind = $2"
        ))
        .bind(workspace)
        .bind(kind)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(read_sync).transpose()
    }

    /// Saves the settings. A change of where or what is read (base URL,
    /// object, API version) forgets the cursor: the next run reads all.
    pub async fn save_sync(&self, workspace: i64, c: &SyncConfig) -> Result<(), StoreError> {
        let mapping = serde_json::to_string(&c.mapping)
            .map_err(|e| StoreError::Corrupt(format!("sync mapping: {e}")))?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE syncs SET cursor_ms = NULL WHERE workspace_id = $1 AND kind = $2
             AND (base_url <> $3 OR object <> $4 OR api_version <> $5)",
        )
        .bind(workspace)
        .bind(&c.kind)
        .bind(&c.base_url)
        .bind(&c.object)
        .bind(&c.api_version)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO syncs (workspace_id, kind, enabled, base_url, api_version, token, object,
                 match_field, match_to, mapping, interval_minutes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (workspace_id, kind) DO UPDATE SET enabled = $3, base_url = $4,
                 api_version = $5, token = $6, object = $7, match_field = $8, match_to = $9,
                 mapping = $10, interval_minutes = $11",
        )
        .bind(workspace)
        .bind(&c.kind)
        .bind(i64::from(c.enabled))
        .bind(&c.base_url)
        .bind(&c.api_version)
        .bind(&c.token)
        .bind(&c.object)
        .bind(&c.match_field)
        .bind(c.match_to.as_str())
        .bind(mapping)
        .bind(c.interval_minutes)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Switched-on syncs whose interval has passed since their last start:
    /// (workspace, kind). Counting from the start keeps a failing sync to
    /// one try per interval.
    pub async fn due_syncs(&self, now: i64) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT workspace_id, kind FROM syncs WHERE enabled = 1
             AND (last_started_at IS NULL OR last_started_at + interval_minutes * 60000 <= $1)
             AND (running_until IS NULL OR running_until < $1)",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("workspace_id")?, r.try_get("kind")?)))
            .collect()
    }

    /// Starts a run: true when this server now holds the sync for `lease`
    /// ms, false when a run holds it already (on another server sharing the
    /// database; within one server, runs are kept apart in memory first).
    pub async fn claim_sync(
        &self,
        workspace: i64,
        kind: &str,
        lease: i64,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE syncs SET last_started_at = $3, running_until = $4
             WHERE workspace_id = $1 AND kind = $2 AND (running_until IS NULL OR running_until < $3)",
        )
        .bind(workspace)
        .bind(kind)
        .bind(now)
        .bind(now + lease)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Keeps holding a running sync for another `lease` ms.
    pub async fn renew_sync(
        &self,
        workspace: i64,
        kind: &str,
        lease: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE syncs SET running_until = $3 WHERE workspace_id = $1 AND kind = $2")
            .bind(workspace)
            .bind(kind)
            .bind(now_ms() + lease)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether a run holds the sync now (on any server).
    pub async fn sync_running(&self, workspace: i64, kind: &str) -> Result<bool, StoreError> {
        let until: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT running_until FROM syncs WHERE workspace_id = $1 AND kind = $2",
        )
        .bind(workspace)
        .bind(kind)
        .fetch_optional(&self.pool)
        .await?;
        Ok(until.flatten().is_some_and(|u| u >= now_ms()))
    }

    /// Records the end of a run: its counts, and either the new cursor (a
    /// good run; None keeps the old one) or the error (the cursor stays, so
    /// the next run reads again what this one may have missed).
    pub async fn sync_finished(
        &self,
        workspace: i64,
        kind: &str,
        full: bool,
        counts: RunCounts,
        outcome: Result<Option<i64>, &str>,
    ) -> Result<(), StoreError> {
        let (status, error, cursor) = match outcome {
            Ok(cursor) => ("ok", None, cursor),
            Err(e) => ("failed", Some(e), None),
        };
        sqlx::query(
            "UPDATE syncs SET last_finished_at = $3, last_status = $4, last_error = $5,
                 last_read = $6, last_updated = $7, last_not_matched = $8, last_errors = $9,
                 cursor_ms = COALESCE($10, cursor_ms), last_full = $11, running_until = NULL
             WHERE workspace_id = $1 AND kind = $2",
        )
        .bind(workspace)
        .bind(kind)
        .bind(now_ms())
        .bind(status)
        .bind(error)
        .bind(counts.read)
        .bind(counts.updated)
        .bind(counts.not_matched)
        .bind(counts.errors)
        .bind(cursor)
        .bind(i64::from(full))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
