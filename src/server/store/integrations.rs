//! Integrations that push profiles to userdeck (Segment, PostHog, Mixpanel,
//! Amplitude): switched on per workspace, each with its own key, counting
//! what they received, and logging what could not be applied.

use super::accounts::random_token;
use super::{now_ms, Store, StoreError};
use sqlx::Row;

/// The receivers, by the `kind` stored and the source recorded on values.
pub const RECEIVERS: &[(&str, &str)] = &[
    ("segment", "Segment"),
    ("posthog", "PostHog"),
    ("mixpanel", "Mixpanel"),
    ("amplitude", "Amplitude"),
];

/// Log lines kept per integration.
const KEEP_LOG: i64 = 200;

#[derive(Clone, Debug, PartialEq)]
pub struct Integration {
    pub kind: String,
    pub enabled: bool,
    pub key: String,
    /// Profile updates applied, and refused.
    pub received: i64,
    pub rejected: i64,
    pub last_received_at: Option<i64>,
}

impl Store {
    /// Every receiver of the workspace, switched on or not (a key is made
    /// the first time one is asked for).
    pub async fn integrations(&self, workspace: i64) -> Result<Vec<Integration>, StoreError> {
        for (kind, _) in RECEIVERS {
            sqlx::query(
                "INSERT INTO integrations (workspace_id, kind, key) VALUES ($1, $2, $3)
                 ON CONFLICT (workspace_id, kind) DO NOTHING",
            )
            .bind(workspace)
            .bind(*kind)
            .bind(format!("{kind}_{}", random_token()))
            .execute(&self.pool)
            .await?;
        }
        let rows = sqlx::query(
            "SELECT kind, enabled, key, received, rejected, last_received_at FROM integrations
             WHERE workspace_id = $1",
        )
        .bind(workspace)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(RECEIVERS.len());
        for (kind, _) in RECEIVERS {
            let Some(r) = rows
                .iter()
                .find(|r| r.try_get::<String, _>("kind").is_ok_and(|k| k == *kind))
            else {
                continue;
            };
            out.push(Integration {
                kind: kind.to_string(),
                enabled: r.try_get::<i64, _>("enabled")? != 0,
                key: r.try_get("key")?,
                received: r.try_get("received")?,
                rejected: r.try_get("rejected")?,
                last_received_at: r.try_get("last_received_at")?,
            });
        }
        Ok(out)
    }

    pub async fn set_integration(
        &self,
        workspace: i64,
        kind: &str,
        enabled: bool,
    ) -> Result<(), StoreError> {
        self.integrations(workspace).await?; // makes the row and its key if new
        sqlx::query("UPDATE integrations SET enabled = $3 WHERE workspace_id = $1 AND kind = $2")
            .bind(workspace)
            .bind(kind)
            .bind(i64::from(enabled))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The workspace whose switched-on `kind` integration has this key.
    pub async fn integration_workspace(
        &self,
        kind: &str,
        key: &str,
    ) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT workspace_id FROM integrations WHERE kind = $1 AND key = $2 AND enabled = 1",
        )
        .bind(kind)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Counts a delivery and logs what was refused (newest lines kept).
    pub async fn record_delivery(
        &self,
        workspace: i64,
        kind: &str,
        applied: i64,
        refused: &[String],
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE integrations SET received = received + $3, rejected = rejected + $4, last_received_at = $5
             WHERE workspace_id = $1 AND kind = $2",
        )
        .bind(workspace)
        .bind(kind)
        .bind(applied)
        .bind(refused.len() as i64)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        log_lines(&mut tx, workspace, kind, now, refused).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds lines to an integration's log (a pull sync's too), newest kept.
    pub async fn append_log(
        &self,
        workspace: i64,
        kind: &str,
        lines: &[String],
    ) -> Result<(), StoreError> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        log_lines(&mut tx, workspace, kind, now_ms(), lines).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest log lines of an integration: (when, message).
    pub async fn integration_log(
        &self,
        workspace: i64,
        kind: &str,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, message FROM integration_log WHERE workspace_id = $1 AND kind = $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(workspace)
        .bind(kind)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("at")?, r.try_get("message")?)))
            .collect()
    }
}

/// Logs `lines` (at most `KEEP_LOG`) and drops all but the newest `KEEP_LOG`.
async fn log_lines(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    workspace: i64,
    kind: &str,
    now: i64,
    lines: &[String],
) -> Result<(), StoreError> {
    for message in lines.iter().take(KEEP_LOG as usize) {
        sqlx::query(
            "INSERT INTO integration_log (workspace_id, kind, at, message) VALUES ($1, $2, $3, $4)",
        )
        .bind(workspace)
        .bind(kind)
        .bind(now)
        .bind(message)
        .execute(&mut **tx)
        .await?;
    }
    if !lines.is_empty() {
        sqlx::query(
            "DELETE FROM integration_log WHERE workspace_id = $1 AND kind = $2 AND id <=
             (SELECT id FROM integration_log WHERE workspace_id = $1 AND kind = $2 ORDER BY id DESC LIMIT 1 OFFSET $3)",
        )
        .bind(workspace)
        .bind(kind)
        .bind(KEEP_LOG)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Store {
    /// The jimer id of the user with this email (as sent, or in lower
    /// case: both are index lookups), if one.
    pub async fn jimer_id_by_email(
        &self,
        workspace: i64,
        email: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT jimer_id FROM users WHERE workspace_id = $1 AND email IN ($2, $3) ORDER BY id LIMIT 1",
        )
        .bind(workspace)
        .bind(email)
        .bind(email.to_lowercase())
        .fetch_optional(&self.pool)
        .await?)
    }
}
