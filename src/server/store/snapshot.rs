//! Reading every profile, page by page, to build the segment index at start.

use super::users::{attr_row, user_row, AttrRow, USER_COLUMNS};
use super::{Store, StoreError};
use crate::model::profile::User;
use crate::server::index::{Change, SegmentIndex, WorkspaceIndex};
use std::collections::HashMap;
use std::time::Instant;

/// Users read per page.
const PAGE: i64 = 20_000;

impl Store {
    /// Builds the segment index of every workspace from the database,
    /// logging progress; the store then answers conditions from it.
    pub async fn load_index(&mut self) -> Result<(), StoreError> {
        let started = Instant::now();
        let index = SegmentIndex::default();
        let workspaces: Vec<i64> = sqlx::query_scalar("SELECT id FROM workspaces ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        for ws in workspaces {
            index.install(ws, self.workspace_index(ws).await?);
        }
        let (users, bytes) = index.size();
        tracing::info!(
            "segment index: {users} users loaded in {:.1} s, {} MiB",
            started.elapsed().as_secs_f64(),
            bytes >> 20
        );
        self.index = Some(std::sync::Arc::new(index));
        Ok(())
    }

    async fn workspace_index(&self, ws: i64) -> Result<WorkspaceIndex, StoreError> {
        let total: i64 = sqlx::query_scalar("SELECT users_count FROM workspaces WHERE id = $1")
            .bind(ws)
            .fetch_one(&self.pool)
            .await?;
        let mut index = WorkspaceIndex::default();
        let mut after = 0i64;
        let mut next_log = 100_000;
        loop {
            let users = self.users_after(ws, after, i64::MAX).await?;
            let Some((last, _)) = users.last() else { break };
            after = *last;
            for (uid, user) in &users {
                index.upsert(*uid, user);
            }
            if index.len() >= next_log {
                tracing::info!(
                    "segment index: workspace {ws}, {} of {total} users",
                    index.len()
                );
                next_log += 100_000;
            }
        }
        Ok(index)
    }

    /// Puts the users with ids in `(after, upto]` in the index again, as the
    /// database has them (after a write that bypassed the writer).
    pub async fn reindex_range(&self, ws: i64, after: i64, upto: i64) -> Result<(), StoreError> {
        let Some(index) = &self.index else {
            return Ok(());
        };
        let mut after = after;
        loop {
            let users = self.users_after(ws, after, upto).await?;
            let Some((last, _)) = users.last() else { break };
            after = *last;
            let changes: Vec<Change> = users
                .into_iter()
                .map(|(uid, user)| Change::Upsert {
                    workspace: ws,
                    uid,
                    user: Box::new(user),
                })
                .collect();
            index.apply(&changes);
        }
        Ok(())
    }

    /// A page of users with ids in `(after, upto]`, in id order, with their
    /// attributes.
    async fn users_after(
        &self,
        ws: i64,
        after: i64,
        upto: i64,
    ) -> Result<Vec<(i64, User)>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE workspace_id = $1 AND id > $2 AND id <= $3 ORDER BY id LIMIT {PAGE}"
        ))
        .bind(ws)
        .bind(after)
        .bind(upto)
        .fetch_all(&self.pool)
        .await?;
        let users = rows.iter().map(user_row).collect::<Result<Vec<_>, _>>()?;
        let Some(last) = users.last().map(|u| u.uid) else {
            return Ok(Vec::new());
        };
        let attrs = sqlx::query(
            "SELECT uid, name, type, value, source, updated_at FROM attributes
             WHERE workspace_id = $1 AND uid > $2 AND uid <= $3",
        )
        .bind(ws)
        .bind(after)
        .bind(last)
        .fetch_all(&self.pool)
        .await?;
        let mut by_uid: HashMap<i64, Vec<AttrRow>> = HashMap::new();
        for r in &attrs {
            let uid: i64 = sqlx::Row::try_get(r, "uid")?;
            by_uid.entry(uid).or_default().push(attr_row(r)?);
        }
        users
            .iter()
            .map(|u| {
                let attrs = by_uid.get(&u.uid).map(Vec::as_slice).unwrap_or(&[]);
                Ok((u.uid, u.to_user(attrs)?))
            })
            .collect()
    }
}
