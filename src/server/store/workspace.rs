//! Workspaces and their keys.

use super::{now_ms, Store, StoreError};
use rand::distr::{Alphanumeric, SampleString};
use serde::Serialize;
use sqlx::Row;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Workspace {
    #[serde(rename = "workspace_id")]
    pub id: i64,
    #[serde(rename = "workspace")]
    pub name: String,
    pub sdk_key: String,
    pub secret_key: String,
    pub identify_secret: String,
    pub identify_verification: bool,
}

fn random_key(prefix: &str, len: usize) -> String {
    format!(
        "{prefix}{}",
        Alphanumeric.sample_string(&mut rand::rng(), len)
    )
}

const COLUMNS: &str = "id, name, sdk_key, secret_key, identify_secret, identify_verification";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Workspace, StoreError> {
    Ok(Workspace {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        sdk_key: r.try_get("sdk_key")?,
        secret_key: r.try_get("secret_key")?,
        identify_secret: r.try_get("identify_secret")?,
        identify_verification: r.try_get::<i64, _>("identify_verification")? != 0,
    })
}

impl Store {
    /// The first workspace, created with fresh keys on first use.
    pub async fn default_workspace(&self) -> Result<Workspace, StoreError> {
        if let Some(ws) = self.first_workspace().await? {
            return Ok(ws);
        }
        sqlx::query(
            "INSERT INTO workspaces (name, sdk_key, secret_key, identify_secret, identify_verification, created_at) VALUES ($1, $2, $3, $4, 0, $5)",
        )
        .bind("My workspace")
        .bind(random_key("pk_", 24))
        .bind(random_key("sk_", 40))
        .bind(random_key("is_", 40))
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        // Two processes starting at once may both insert; the first one wins.
        self.first_workspace()
            .await?
            .ok_or_else(|| StoreError::Corrupt("workspace vanished after creation".into()))
    }

    async fn first_workspace(&self) -> Result<Option<Workspace>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM workspaces ORDER BY id LIMIT 1"
        ))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn workspace_by_secret_key(
        &self,
        key: &str,
    ) -> Result<Option<Workspace>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM workspaces WHERE secret_key = $1"
        ))
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn workspace_by_sdk_key(&self, key: &str) -> Result<Option<Workspace>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM workspaces WHERE sdk_key = $1"
        ))
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Switches identify verification (HMAC of the user id) on or off.
    pub async fn set_identify_verification(
        &self,
        workspace: i64,
        on: bool,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE workspaces SET identify_verification = $1 WHERE id = $2")
            .bind(on as i64)
            .bind(workspace)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Which key to replace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyName {
    Sdk,
    Secret,
    IdentifySecret,
}

impl Store {
    /// Replaces one key with a fresh random one; the old one stops working.
    pub async fn rotate_key(&self, workspace: i64, key: KeyName) -> Result<(), StoreError> {
        let (column, value) = match key {
            KeyName::Sdk => ("sdk_key", random_key("pk_", 24)),
            KeyName::Secret => ("secret_key", random_key("sk_", 40)),
            KeyName::IdentifySecret => ("identify_secret", random_key("is_", 40)),
        };
        sqlx::query(&format!(
            "UPDATE workspaces SET {column} = $1 WHERE id = $2"
        ))
        .bind(value)
        .bind(workspace)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn workspace(&self, id: i64) -> Result<Option<Workspace>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM workspaces WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// How many users the workspace has (kept by the writer).
    pub async fn users_count(&self, workspace: i64) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT users_count FROM workspaces WHERE id = $1")
                .bind(workspace)
                .fetch_optional(&self.pool)
                .await?
                .unwrap_or(0),
        )
    }

    /// The emails of the workspace's dashboard accounts.
    pub async fn account_emails(&self, workspace: i64) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT email FROM accounts WHERE workspace_id = $1 ORDER BY email")
                .bind(workspace)
                .fetch_all(&self.pool)
                .await?,
        )
    }
}

/// Adds `delta` to the workspace's user count (what the Users list shows
/// unfiltered); whoever inserts or deletes users calls it in the same
/// transaction.
pub(crate) async fn count_users(
    conn: &mut sqlx::AnyConnection,
    workspace: i64,
    delta: i64,
) -> Result<(), StoreError> {
    if delta != 0 {
        sqlx::query("UPDATE workspaces SET users_count = users_count + $2 WHERE id = $1")
            .bind(workspace)
            .bind(delta)
            .execute(conn)
            .await?;
    }
    Ok(())
}
