//! Reading profiles: one user, a page of users, a user's attributes.

use super::{to_time, Dialect, Store, StoreError};
use crate::model::attribute::{AttrType, AttrValue};
use crate::model::profile::{Attribute, User};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

pub(crate) const USER_COLUMNS: &str =
    "id, jimer_id, user_id, name, email, language, first_seen, last_activity, sessions, created, tags";

/// A users row: the profile without its attributes, and its internal id.
#[derive(Clone, Debug, PartialEq)]
pub struct UserRow {
    pub uid: i64,
    pub jimer_id: String,
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub language: Option<String>,
    pub first_seen: Option<i64>,
    pub last_activity: Option<i64>,
    pub sessions: i64,
    pub created: i64,
    pub tags: Vec<String>,
}

/// One stored attribute, in stored form.
#[derive(Clone, Debug, PartialEq)]
pub struct AttrRow {
    pub name: String,
    pub attr_type: AttrType,
    pub value: String,
    pub source: String,
    pub updated_at: i64,
}

pub(crate) fn user_row(r: &AnyRow) -> Result<UserRow, StoreError> {
    let tags: String = r.try_get("tags")?;
    Ok(UserRow {
        uid: r.try_get("id")?,
        jimer_id: r.try_get("jimer_id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        email: r.try_get("email")?,
        language: r.try_get("language")?,
        first_seen: r.try_get("first_seen")?,
        last_activity: r.try_get("last_activity")?,
        sessions: r.try_get("sessions")?,
        created: r.try_get("created")?,
        tags: serde_json::from_str(&tags).map_err(|e| StoreError::Corrupt(format!("tags: {e}")))?,
    })
}

fn attr_row(r: &AnyRow) -> Result<AttrRow, StoreError> {
    let t: String = r.try_get("type")?;
    Ok(AttrRow {
        name: r.try_get("name")?,
        attr_type: AttrType::parse(&t)
            .ok_or_else(|| StoreError::Corrupt(format!("attribute type {t:?}")))?,
        value: r.try_get("value")?,
        source: r.try_get("source")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl AttrRow {
    pub fn to_attribute(&self) -> Result<Attribute, StoreError> {
        Ok(Attribute {
            name: self.name.clone(),
            value: AttrValue::from_stored(self.attr_type, &self.value)
                .ok_or_else(|| StoreError::Corrupt(format!("value of {}", self.name)))?,
            attr_type: self.attr_type,
            source: self.source.clone(),
            updated_at: to_time(self.updated_at),
        })
    }
}

impl UserRow {
    /// The API form; attributes sorted by name.
    pub fn to_user(&self, attrs: &[AttrRow]) -> Result<User, StoreError> {
        let mut attributes = attrs
            .iter()
            .map(AttrRow::to_attribute)
            .collect::<Result<Vec<_>, _>>()?;
        attributes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(User {
            attributes,
            ..self.natives()
        })
    }

    /// The native fields alone (no attributes).
    pub fn natives(&self) -> User {
        User {
            jimer_id: self.jimer_id.clone(),
            user_id: self.user_id.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
            language: self.language.clone(),
            first_seen: self.first_seen.map(to_time),
            last_activity: self.last_activity.map(to_time),
            sessions: self.sessions,
            created: to_time(self.created),
            tags: self.tags.clone(),
            attributes: Vec::new(),
        }
    }
}

/// Which user a call is about.
#[derive(Clone, Copy, Debug)]
pub enum Who<'a> {
    UserId(&'a str),
    JimerId(&'a str),
}

pub async fn find_user(
    conn: &mut AnyConnection,
    workspace: i64,
    who: Who<'_>,
) -> Result<Option<UserRow>, StoreError> {
    let (column, value) = who.column();
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE workspace_id = $1 AND {column} = $2"
    ))
    .bind(workspace)
    .bind(value)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(user_row).transpose()
}

/// `Who`, owned: what a queued change names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserKey {
    UserId(String),
    JimerId(String),
}

impl UserKey {
    pub fn who(&self) -> Who<'_> {
        match self {
            UserKey::UserId(v) => Who::UserId(v),
            UserKey::JimerId(v) => Who::JimerId(v),
        }
    }
}

impl Who<'_> {
    fn column(self) -> (&'static str, String) {
        match self {
            Who::UserId(v) => ("user_id", v.to_string()),
            Who::JimerId(v) => ("jimer_id", v.to_string()),
        }
    }
}

/// The users whose `user_id` (or `jimer_id`) is one of `keys`.
pub async fn users_where(
    conn: &mut AnyConnection,
    dialect: Dialect,
    workspace: i64,
    by_user_id: bool,
    keys: &[String],
) -> Result<Vec<UserRow>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let column = if by_user_id { "user_id" } else { "jimer_id" };
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE workspace_id = {} AND {column} IN ({})",
        dialect.params(1, 1),
        dialect.params(2, keys.len())
    );
    let mut q = sqlx::query(&sql).bind(workspace);
    for k in keys {
        q = q.bind(k);
    }
    let rows = q.fetch_all(conn).await?;
    rows.iter().map(user_row).collect()
}

/// The attributes of each of `uids` (users without any are absent).
pub async fn attributes_of_uids(
    conn: &mut AnyConnection,
    dialect: Dialect,
    workspace: i64,
    uids: &[i64],
) -> Result<HashMap<i64, Vec<AttrRow>>, StoreError> {
    named_attributes_of_uids(conn, dialect, workspace, uids, None).await
}

/// The same, limited to the attributes named in `names` when given.
pub async fn named_attributes_of_uids(
    conn: &mut AnyConnection,
    dialect: Dialect,
    workspace: i64,
    uids: &[i64],
    names: Option<&[String]>,
) -> Result<HashMap<i64, Vec<AttrRow>>, StoreError> {
    let mut out: HashMap<i64, Vec<AttrRow>> = HashMap::new();
    if uids.is_empty() || names.is_some_and(|n| n.is_empty()) {
        return Ok(out);
    }
    let named = names.is_some();
    let names = names.unwrap_or_default();
    let mut sql = format!(
        "SELECT uid, name, type, value, source, updated_at FROM attributes WHERE workspace_id = {} AND uid IN ({})",
        dialect.params(1, 1),
        dialect.params(2, uids.len())
    );
    if named {
        sql.push_str(&format!(
            " AND name IN ({})",
            dialect.params(2 + uids.len(), names.len())
        ));
    }
    let mut q = sqlx::query(&sql).bind(workspace);
    for uid in uids {
        q = q.bind(*uid);
    }
    for n in names {
        q = q.bind(n.clone());
    }
    for r in q.fetch_all(conn).await? {
        out.entry(r.try_get("uid")?)
            .or_default()
            .push(attr_row(&r)?);
    }
    Ok(out)
}

pub async fn attributes_of(
    conn: &mut AnyConnection,
    workspace: i64,
    uid: i64,
) -> Result<Vec<AttrRow>, StoreError> {
    let rows =
        sqlx::query("SELECT name, type, value, source, updated_at FROM attributes WHERE workspace_id = $1 AND uid = $2")
            .bind(workspace)
            .bind(uid)
            .fetch_all(conn)
            .await?;
    rows.iter().map(attr_row).collect()
}

impl Store {
    pub async fn user(&self, workspace: i64, who: Who<'_>) -> Result<Option<User>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let Some(row) = find_user(&mut conn, workspace, who).await? else {
            return Ok(None);
        };
        let attrs = attributes_of(&mut conn, workspace, row.uid).await?;
        row.to_user(&attrs).map(Some)
    }
}

impl Store {
    /// Which of these user ids the workspace has.
    pub async fn existing_user_ids(
        &self,
        workspace: i64,
        ids: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut out = std::collections::HashSet::new();
        for chunk in ids.chunks(500) {
            // The workspace is a number written in, so every parameter is one kind.
            let sql = format!(
                "SELECT user_id FROM users WHERE workspace_id = {workspace} AND user_id IN ({})",
                self.dialect.params(1, chunk.len())
            );
            let mut q = sqlx::query_scalar::<_, String>(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            out.extend(q.fetch_all(&self.pool).await?);
        }
        Ok(out)
    }
}
