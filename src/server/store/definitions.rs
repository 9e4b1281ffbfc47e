//! Attribute definitions: each key's fixed type, how many users have it,
//! when it was first and last received, and its sources.

use super::{Store, StoreError};
use crate::model::attribute::AttrType;
use serde::Serialize;
use sqlx::{AnyConnection, Row};

/// One attribute key as `GET /api/v1/attributes` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Definition {
    pub name: String,
    #[serde(rename = "type")]
    pub attr_type: AttrType,
    pub sources: Vec<String>,
    pub users: i64,
    #[serde(serialize_with = "ms_date")]
    pub first_seen: i64,
    #[serde(serialize_with = "ms_date")]
    pub last_seen: i64,
}

fn ms_date<S: serde::Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::model::attribute::format_date(&super::to_time(*ms)))
}

/// The fixed type of `name`, if the workspace has received it.
pub async fn type_of(
    conn: &mut AnyConnection,
    workspace: i64,
    name: &str,
) -> Result<Option<AttrType>, StoreError> {
    let t: Option<String> = sqlx::query_scalar(
        "SELECT type FROM attribute_definitions WHERE workspace_id = $1 AND name = $2",
    )
    .bind(workspace)
    .bind(name)
    .fetch_optional(conn)
    .await?;
    t.map(|t| {
        AttrType::parse(&t).ok_or_else(|| StoreError::Corrupt(format!("attribute type {t:?}")))
    })
    .transpose()
}

/// Records that `name` has type `t` (if it had none yet) and answers the type
/// the database holds, which differs from `t` only when another server fixed
/// it first.
pub async fn fix_type(
    conn: &mut AnyConnection,
    workspace: i64,
    name: &str,
    t: AttrType,
    now: i64,
) -> Result<AttrType, StoreError> {
    let held: String = sqlx::query_scalar(
        "INSERT INTO attribute_definitions (workspace_id, name, type, users, first_seen, last_seen) VALUES ($1, $2, $3, 0, $4, $4)
         ON CONFLICT (workspace_id, name) DO UPDATE SET type = attribute_definitions.type RETURNING type",
    )
    .bind(workspace)
    .bind(name)
    .bind(t.as_str())
    .bind(now)
    .fetch_one(conn)
    .await?;
    AttrType::parse(&held).ok_or_else(|| StoreError::Corrupt(format!("attribute type {held:?}")))
}

/// Adds `delta` users to `name` (creating the definition with type `t` if
/// needed) and moves its first/last seen.
pub async fn add_users(
    conn: &mut AnyConnection,
    workspace: i64,
    name: &str,
    t: &str,
    delta: i64,
    first: i64,
    last: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO attribute_definitions (workspace_id, name, type, users, first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (workspace_id, name) DO UPDATE SET users = attribute_definitions.users + excluded.users,
           first_seen = CASE WHEN excluded.first_seen < attribute_definitions.first_seen THEN excluded.first_seen ELSE attribute_definitions.first_seen END,
           last_seen = CASE WHEN excluded.last_seen > attribute_definitions.last_seen THEN excluded.last_seen ELSE attribute_definitions.last_seen END",
    )
    .bind(workspace)
    .bind(name)
    .bind(t)
    .bind(delta)
    .bind(first)
    .bind(last)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records that `source` wrote `name` at `at`.
pub async fn add_source(
    conn: &mut AnyConnection,
    workspace: i64,
    name: &str,
    source: &str,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO attribute_sources (workspace_id, name, source, last_seen) VALUES ($1, $2, $3, $4)
         ON CONFLICT (workspace_id, name, source) DO UPDATE SET
           last_seen = CASE WHEN excluded.last_seen > attribute_sources.last_seen THEN excluded.last_seen ELSE attribute_sources.last_seen END",
    )
    .bind(workspace)
    .bind(name)
    .bind(source)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// Every attribute key of the workspace, by name.
    pub async fn definitions(&self, workspace: i64) -> Result<Vec<Definition>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, type, users, first_seen, last_seen FROM attribute_definitions WHERE workspace_id = $1 ORDER BY name",
        )
        .bind(workspace)
        .fetch_all(&self.pool)
        .await?;
        let sources = sqlx::query("SELECT name, source FROM attribute_sources WHERE workspace_id = $1 ORDER BY name, source")
            .bind(workspace)
            .fetch_all(&self.pool)
            .await?;
        let mut by_name: std::collections::HashMap<String, Vec<String>> =
            std::collections::HashMap::new();
        for s in sources {
            by_name
                .entry(s.try_get("name")?)
                .or_default()
                .push(s.try_get("source")?);
        }
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let name: String = r.try_get("name")?;
            let t: String = r.try_get("type")?;
            let attr_type = AttrType::parse(&t)
                .ok_or_else(|| StoreError::Corrupt(format!("attribute type {t:?}")))?;
            let srcs = by_name.remove(&name).unwrap_or_default();
            out.push(Definition {
                name,
                attr_type,
                sources: srcs,
                users: r.try_get("users")?,
                first_seen: r.try_get("first_seen")?,
                last_seen: r.try_get("last_seen")?,
            });
        }
        Ok(out)
    }
}
