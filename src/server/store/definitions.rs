//! Attribute definitions: each key's fixed type, how many users have it,
//! when it was first and last received, and its sources.

use super::{Dialect, Store, StoreError};
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

/// A change to one definition: users gained (negative: lost), and the
/// first and last time a value was received (`i64::MAX` / `i64::MIN`: none).
#[derive(Clone, Debug)]
pub struct UsersDelta<'a> {
    pub workspace: i64,
    pub name: &'a str,
    pub attr_type: &'a str,
    pub delta: i64,
    pub first: i64,
    pub last: i64,
}

/// Applies definition changes, creating definitions as needed, in a few
/// multi-row statements. Rows go in key order, so concurrent writers
/// (PostgreSQL) never deadlock.
pub async fn add_users(
    conn: &mut AnyConnection,
    dialect: Dialect,
    rows: &mut [UsersDelta<'_>],
) -> Result<(), StoreError> {
    rows.sort_by(|a, b| (a.workspace, a.name).cmp(&(b.workspace, b.name)));
    for chunk in rows.chunks(200) {
        let sql = format!(
            "INSERT INTO attribute_definitions (workspace_id, name, type, users, first_seen, last_seen) VALUES {}
             ON CONFLICT (workspace_id, name) DO UPDATE SET users = attribute_definitions.users + excluded.users,
               first_seen = CASE WHEN excluded.first_seen < attribute_definitions.first_seen THEN excluded.first_seen ELSE attribute_definitions.first_seen END,
               last_seen = CASE WHEN excluded.last_seen > attribute_definitions.last_seen THEN excluded.last_seen ELSE attribute_definitions.last_seen END",
            dialect.values(1, chunk.len(), 6)
        );
        let mut q = sqlx::query(&sql);
        for r in chunk {
            q = q
                .bind(r.workspace)
                .bind(r.name)
                .bind(r.attr_type)
                .bind(r.delta)
                .bind(r.first)
                .bind(r.last);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Records that `source` wrote `name` at `at`, for each (workspace, name,
/// source, at), in key order.
pub async fn add_sources(
    conn: &mut AnyConnection,
    dialect: Dialect,
    rows: &mut [(i64, &str, &str, i64)],
) -> Result<(), StoreError> {
    rows.sort();
    for chunk in rows.chunks(200) {
        let sql = format!(
            "INSERT INTO attribute_sources (workspace_id, name, source, last_seen) VALUES {}
             ON CONFLICT (workspace_id, name, source) DO UPDATE SET
               last_seen = CASE WHEN excluded.last_seen > attribute_sources.last_seen THEN excluded.last_seen ELSE attribute_sources.last_seen END",
            dialect.values(1, chunk.len(), 4)
        );
        let mut q = sqlx::query(&sql);
        for (ws, name, source, at) in chunk.iter() {
            q = q.bind(*ws).bind(*name).bind(*source).bind(*at);
        }
        q.execute(&mut *conn).await?;
    }
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
