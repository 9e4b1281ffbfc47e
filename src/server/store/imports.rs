//! The history of CSV imports: who imported which file when, how many rows
//! it had, and what came of them (created, updated, rejected with reasons).

use super::{now_ms, Store, StoreError};
use sqlx::Row;

/// Rows left out that an import keeps with its line and reason.
pub const KEEP_REJECTIONS: usize = 1000;

#[derive(Clone, Debug, PartialEq)]
pub struct ImportRecord {
    pub id: i64,
    pub account_email: String,
    pub file_name: String,
    /// `user_id` or `email`.
    pub identifier: String,
    pub rows: i64,
    pub created: i64,
    pub updated: i64,
    pub rejected: i64,
    /// `running`, `done`, `failed` or `interrupted` (the server stopped).
    pub status: String,
    pub error: Option<String>,
    /// (line, reason), the first `KEEP_REJECTIONS`.
    pub rejections: Vec<(usize, String)>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

/// How an import ended.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportEnd {
    pub created: i64,
    pub updated: i64,
    pub rejections: Vec<(usize, String)>,
    pub error: Option<String>,
}

const COLUMNS: &str = "id, account_email, file_name, identifier, rows_total, created, updated, \
                       rejected, status, error, rejections, started_at, finished_at";

fn import_row(r: &sqlx::any::AnyRow) -> Result<ImportRecord, StoreError> {
    let rejections: String = r.try_get("rejections")?;
    Ok(ImportRecord {
        id: r.try_get("id")?,
        account_email: r.try_get("account_email")?,
        file_name: r.try_get("file_name")?,
        identifier: r.try_get("identifier")?,
        rows: r.try_get("rows_total")?,
        created: r.try_get("created")?,
        updated: r.try_get("updated")?,
        rejected: r.try_get("rejected")?,
        status: r.try_get("status")?,
        error: r.try_get("error")?,
        rejections: serde_json::from_str(&rejections).unwrap_or_default(),
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

impl Store {
    /// Records an import as running; answers its id.
    pub async fn start_import(
        &self,
        workspace: i64,
        account_email: &str,
        file_name: &str,
        identifier: &str,
        rows: i64,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO imports (workspace_id, account_email, file_name, identifier, rows_total, status, started_at)
             VALUES ($1, $2, $3, $4, $5, 'running', $6) RETURNING id",
        )
        .bind(workspace)
        .bind(account_email)
        .bind(file_name)
        .bind(identifier)
        .bind(rows)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await?)
    }

    /// Records how an import ended: `done`, or `failed` with its error.
    pub async fn finish_import(&self, id: i64, end: &ImportEnd) -> Result<(), StoreError> {
        let kept = &end.rejections[..end.rejections.len().min(KEEP_REJECTIONS)];
        sqlx::query(
            "UPDATE imports SET created = $2, updated = $3, rejected = $4, status = $5, error = $6,
             rejections = $7, finished_at = $8 WHERE id = $1",
        )
        .bind(id)
        .bind(end.created)
        .bind(end.updated)
        .bind(end.rejections.len() as i64)
        .bind(if end.error.is_some() {
            "failed"
        } else {
            "done"
        })
        .bind(end.error.clone())
        .bind(serde_json::to_string(kept).unwrap_or_else(|_| "[]".into()))
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Imports still `running` when the server starts were cut short by its
    /// stop: what they wrote stays, the rest was never written.
    pub async fn interrupt_running_imports(&self) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE imports SET status = 'interrupted', finished_at = $1 WHERE status = 'running'",
        )
        .bind(now_ms())
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// The workspace's imports, newest first.
    pub async fn imports(
        &self,
        workspace: i64,
        limit: i64,
    ) -> Result<Vec<ImportRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM imports WHERE workspace_id = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(workspace)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(import_row).collect()
    }

    pub async fn import(
        &self,
        workspace: i64,
        id: i64,
    ) -> Result<Option<ImportRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM imports WHERE workspace_id = $1 AND id = $2"
        ))
        .bind(workspace)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(import_row).transpose()
    }
}
