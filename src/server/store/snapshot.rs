//! Reading every profile, page by page, to fill the segment index.

use super::users::{user_row, USER_COLUMNS};
use super::{to_time, Store, StoreError};
use crate::model::attribute::{AttrType, AttrValue};
use crate::server::index::{Loaded, SegmentIndex};
use futures_util::TryStreamExt;
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Users read per page.
const PAGE: i64 = 20_000;

impl Store {
    /// Gives the store an empty segment index that the writer keeps in step
    /// from now on; `fill_index` fills it. Until then conditions go to SQL.
    pub fn attach_index(&mut self) -> Arc<SegmentIndex> {
        let index = Arc::new(SegmentIndex::loading());
        self.index = Some(index.clone());
        index
    }

    /// Attaches the segment index and fills it before answering.
    pub async fn load_index(&mut self) -> Result<(), StoreError> {
        self.attach_index();
        self.fill_index().await
    }

    /// Reads every user of every workspace into the attached index, logging
    /// progress, then lets conditions be answered from it.
    pub async fn fill_index(&self) -> Result<(), StoreError> {
        let Some(index) = &self.index else {
            return Ok(());
        };
        let started = Instant::now();
        let workspaces: Vec<(i64, i64)> =
            sqlx::query_as("SELECT id, users_count FROM workspaces ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        for (ws, total) in workspaces {
            let mut after = 0i64;
            let mut done = 0usize;
            let mut next_log = 100_000;
            loop {
                let users = self.users_to_load(ws, after, i64::MAX).await?;
                let Some((last, _, _)) = users.last() else {
                    break;
                };
                after = *last;
                done += users.len();
                index.load(ws, &users);
                if done >= next_log {
                    tracing::info!("segment index: workspace {ws}, {done} of {total} users");
                    next_log += 100_000;
                }
            }
        }
        index.loaded();
        let (users, bytes) = index.size();
        tracing::info!(
            "segment index: {users} users loaded in {:.1} s, {} MiB",
            started.elapsed().as_secs_f64(),
            bytes >> 20
        );
        Ok(())
    }

    /// A page of users with ids in `(after, upto]`, with their attributes
    /// read from the typed columns (no date parsing: `num` holds the instant).
    async fn users_to_load(
        &self,
        ws: i64,
        after: i64,
        upto: i64,
    ) -> Result<Vec<Loaded>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE workspace_id = $1 AND id > $2 AND id <= $3
             ORDER BY id LIMIT {PAGE}"
        ))
        .bind(ws)
        .bind(after)
        .bind(upto)
        .fetch_all(&self.pool)
        .await?;
        let mut users: Vec<Loaded> = Vec::with_capacity(rows.len());
        let mut at: HashMap<i64, usize> = HashMap::with_capacity(rows.len());
        for r in &rows {
            let row = user_row(r)?;
            at.insert(row.uid, users.len());
            users.push((row.uid, row.natives(), Vec::new()));
        }
        let Some(last) = users.last().map(|u| u.0) else {
            return Ok(users);
        };
        let mut attrs = sqlx::query(
            "SELECT uid, name, type, value, num FROM attributes
             WHERE workspace_id = $1 AND uid > $2 AND uid <= $3",
        )
        .bind(ws)
        .bind(after)
        .bind(last)
        .fetch(&self.pool);
        while let Some(r) = attrs.try_next().await? {
            let uid: i64 = r.try_get("uid")?;
            let name: String = r.try_get("name")?;
            let t: String = r.try_get("type")?;
            let num: Option<f64> = r.try_get("num")?;
            let value = match (AttrType::parse(&t), num) {
                (Some(AttrType::Number), Some(n)) => Some(AttrValue::Number(n)),
                (Some(AttrType::Date), Some(ms)) => Some(AttrValue::Date(to_time(ms as i64))),
                (Some(t), _) => AttrValue::from_stored(t, &r.try_get::<String, _>("value")?),
                (None, _) => None,
            };
            let value = value
                .ok_or_else(|| StoreError::Corrupt(format!("value of {name} of user {uid}")))?;
            if let Some(i) = at.get(&uid) {
                users[*i].2.push((name, value));
            }
        }
        Ok(users)
    }

    /// Puts the users with ids in `(after, upto]` in the index again, as the
    /// database has them (after a write that bypassed the writer).
    pub async fn reindex_range(&self, ws: i64, after: i64, upto: i64) -> Result<(), StoreError> {
        let Some(index) = &self.index else {
            return Ok(());
        };
        let mut after = after;
        loop {
            let users = self.users_to_load(ws, after, upto).await?;
            let Some((last, _, _)) = users.last() else {
                return Ok(());
            };
            after = *last;
            index.load(ws, &users);
        }
    }
}
