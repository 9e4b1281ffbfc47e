//! Personalized content: named pieces of four templates each.

use super::{now_ms, Store, StoreError};
use crate::model::content::ContentInput;
use sqlx::Row;

#[derive(Clone, Debug, PartialEq)]
pub struct Content {
    pub id: i64,
    pub input: ContentInput,
    pub updated_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("{0}")]
    Invalid(String),
    #[error("a piece of content named {0:?} exists already; choose another name")]
    NameTaken(String),
    #[error("no content has the id {0}")]
    NotFound(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

const COLUMNS: &str = "id, name, title, body, button, link, updated_at";

fn content_row(r: &sqlx::any::AnyRow) -> Result<Content, StoreError> {
    Ok(Content {
        id: r.try_get("id")?,
        input: ContentInput {
            name: r.try_get("name")?,
            title: r.try_get("title")?,
            body: r.try_get("body")?,
            button: r.try_get("button")?,
            link: r.try_get("link")?,
        },
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    pub async fn contents(&self, workspace: i64) -> Result<Vec<Content>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM contents WHERE workspace_id = $1 ORDER BY name"
        ))
        .bind(workspace)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(content_row).collect()
    }

    pub async fn content(&self, workspace: i64, id: i64) -> Result<Option<Content>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM contents WHERE workspace_id = $1 AND id = $2"
        ))
        .bind(workspace)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(content_row).transpose()
    }

    /// Creates (`id` None) or replaces a piece of content; answers its id.
    pub async fn save_content(
        &self,
        workspace: i64,
        id: Option<i64>,
        input: &ContentInput,
    ) -> Result<i64, ContentError> {
        input.check().map_err(ContentError::Invalid)?;
        let name = input.name.trim();
        if let Some(id) = id {
            if self.content(workspace, id).await?.is_none() {
                return Err(ContentError::NotFound(id));
            }
        }
        let taken: Option<i64> =
            sqlx::query_scalar("SELECT id FROM contents WHERE workspace_id = $1 AND name = $2")
                .bind(workspace)
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from)?;
        if taken.is_some_and(|t| Some(t) != id) {
            return Err(ContentError::NameTaken(name.to_string()));
        }
        let now = now_ms();
        let id = match id {
            Some(id) => {
                sqlx::query(
                    "UPDATE contents SET name = $3, title = $4, body = $5, button = $6, link = $7, updated_at = $8
                     WHERE workspace_id = $1 AND id = $2",
                )
                .bind(workspace)
                .bind(id)
                .bind(name)
                .bind(&input.title)
                .bind(&input.body)
                .bind(&input.button)
                .bind(input.link.trim())
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(StoreError::from)?;
                id
            }
            None => sqlx::query_scalar(
                "INSERT INTO contents (workspace_id, name, title, body, button, link, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
            )
            .bind(workspace)
            .bind(name)
            .bind(&input.title)
            .bind(&input.body)
            .bind(&input.button)
            .bind(input.link.trim())
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::from)?,
        };
        Ok(id)
    }

    pub async fn delete_content(&self, workspace: i64, id: i64) -> Result<(), ContentError> {
        let done = sqlx::query("DELETE FROM contents WHERE workspace_id = $1 AND id = $2")
            .bind(workspace)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from)?;
        if done.rows_affected() == 0 {
            return Err(ContentError::NotFound(id));
        }
        Ok(())
    }
}
