//! Bulk loading of whole profiles (demo data): many users per transaction,
//! multi-row inserts, attribute definitions updated once per chunk.

use super::definitions::{add_sources, add_users, UsersDelta};
use super::{Store, StoreError};
use crate::model::attribute::AttrValue;
use crate::model::profile::search_text;
use std::collections::HashMap;

/// A whole profile to insert as is. Times are milliseconds since the epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct NewUser {
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
    pub attributes: Vec<NewAttribute>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewAttribute {
    pub name: String,
    pub value: AttrValue,
    /// `custom`, or an integration (`hubspot`, `segment`, ...).
    pub source: &'static str,
    pub updated_at: i64,
}

impl Store {
    /// Inserts new users with their attributes in one transaction. Attribute
    /// names must be valid and each name must keep one type across calls;
    /// ids must not exist yet.
    pub async fn insert_users(&self, workspace: i64, users: &[NewUser]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let users_added = users.len() as i64;
        let (mut first_id, mut last_id) = (i64::MAX, i64::MIN);
        let mut defs: HashMap<(&str, &'static str), (AttrTypeName, i64, i64, i64)> = HashMap::new();
        // SQLite allows 32766 parameters per statement; stay well under.
        for chunk in users.chunks(200) {
            let sql = format!(
                "INSERT INTO users (workspace_id, jimer_id, user_id, name, email, language, first_seen, last_activity, sessions, created, tags, search) VALUES {} RETURNING id, jimer_id",
                self.dialect.values(1, chunk.len(), 12)
            );
            let mut q = sqlx::query_as::<_, (i64, String)>(&sql);
            for u in chunk {
                q = q
                    .bind(workspace)
                    .bind(&u.jimer_id)
                    .bind(&u.user_id)
                    .bind(&u.name)
                    .bind(&u.email)
                    .bind(&u.language)
                    .bind(u.first_seen)
                    .bind(u.last_activity)
                    .bind(u.sessions)
                    .bind(u.created)
                    .bind(serde_json::to_string(&u.tags).unwrap_or_else(|_| "[]".into()))
                    .bind(search_text(u.name.as_deref(), u.email.as_deref()));
            }
            // RETURNING promises no order: match the ids by jimer id.
            let ids: HashMap<String, i64> = q
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|(id, j)| (j, id))
                .collect();
            for id in ids.values() {
                first_id = first_id.min(*id);
                last_id = last_id.max(*id);
            }
            let mut rows: Vec<(i64, &NewAttribute)> = Vec::new();
            for u in chunk {
                let id = *ids
                    .get(&u.jimer_id)
                    .ok_or_else(|| StoreError::Corrupt(format!("no id for {}", u.jimer_id)))?;
                rows.extend(u.attributes.iter().map(|a| (id, a)));
            }
            for rows in rows.chunks(500) {
                let sql = format!(
                    "INSERT INTO attributes (workspace_id, uid, name, type, value, num, source, updated_at) VALUES {}",
                    self.dialect.values(1, rows.len(), 8)
                );
                let mut q = sqlx::query(&sql);
                for (uid, a) in rows {
                    let t = a.value.attr_type().as_str();
                    q = q
                        .bind(workspace)
                        .bind(*uid)
                        .bind(&a.name)
                        .bind(t)
                        .bind(a.value.to_text());
                    q = super::bind_num(q, a.value.to_num())
                        .bind(a.source)
                        .bind(a.updated_at);
                    let e = defs.entry((a.name.as_str(), a.source)).or_insert((
                        t,
                        0,
                        i64::MAX,
                        i64::MIN,
                    ));
                    e.1 += 1;
                    e.2 = e.2.min(a.updated_at);
                    e.3 = e.3.max(a.updated_at);
                }
                q.execute(&mut *tx).await?;
            }
        }
        // Fold the per-(name, source) tallies into definitions and sources.
        let mut by_name: HashMap<&str, (AttrTypeName, i64, i64, i64)> = HashMap::new();
        let mut sources = Vec::with_capacity(defs.len());
        for ((name, source), (t, count, first, last)) in &defs {
            let e = by_name.entry(name).or_insert((t, 0, i64::MAX, i64::MIN));
            e.1 += count;
            e.2 = e.2.min(*first);
            e.3 = e.3.max(*last);
            sources.push((workspace, *name, *source, *last));
        }
        let mut users: Vec<UsersDelta> = by_name
            .into_iter()
            .map(|(name, (attr_type, delta, first, last))| UsersDelta {
                workspace,
                name,
                attr_type,
                delta,
                first,
                last,
            })
            .collect();
        add_sources(&mut tx, self.dialect, &mut sources).await?;
        add_users(&mut tx, self.dialect, &mut users).await?;
        super::workspace::count_users(&mut tx, workspace, users_added).await?;
        tx.commit().await?;
        // Bulk inserts bypass the writer: the index reads them back.
        if first_id <= last_id {
            self.reindex_range(workspace, first_id - 1, last_id).await?;
        }
        Ok(())
    }
}

type AttrTypeName = &'static str;
