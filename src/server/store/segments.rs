//! Saved segments: their conditions, checked against the workspace's
//! attributes and other segments before they are stored.

use super::conditions::Prepared;
use super::users::{find_user, Who};
use super::{now_ms, to_time, Store, StoreError};
use crate::model::attribute::{format_date, AttrType};
use crate::model::condition::{Checked, Condition, ConditionError, Schema};
use crate::model::segment::SegmentInput;
use serde_json::{json, Value as Json};
use sqlx::Row;
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub icon: String,
    pub condition: Condition,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Segment {
    /// The API form.
    pub fn to_json(&self) -> Json {
        json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "icon": self.icon,
            "condition": self.condition.to_json(),
            "created_at": format_date(&to_time(self.created_at)),
            "updated_at": format_date(&to_time(self.updated_at)),
        })
    }
}

/// Why a segment cannot be saved or deleted.
#[derive(Debug, thiserror::Error)]
pub enum SegmentStoreError {
    #[error("`condition`: {0}")]
    Invalid(ConditionError),
    #[error("a segment named {0:?} exists already; choose another name")]
    NameTaken(String),
    #[error("no segment has the id {0}")]
    NotFound(i64),
    #[error("segments {} use this segment; change them first", .0.join(", "))]
    InUse(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn segment_row(r: &sqlx::any::AnyRow) -> Result<Segment, StoreError> {
    let text: String = r.try_get("condition")?;
    let json: Json = serde_json::from_str(&text)
        .map_err(|e| StoreError::Corrupt(format!("segment condition: {e}")))?;
    Ok(Segment {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        icon: r.try_get("icon")?,
        condition: Condition::parse(&json)
            .map_err(|e| StoreError::Corrupt(format!("segment condition: {e}")))?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

const COLUMNS: &str = "id, name, description, icon, condition, created_at, updated_at";

impl Store {
    pub async fn segments(&self, workspace: i64) -> Result<Vec<Segment>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM segments WHERE workspace_id = $1 ORDER BY name"
        ))
        .bind(workspace)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(segment_row).collect()
    }

    pub async fn segment(&self, workspace: i64, id: i64) -> Result<Option<Segment>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM segments WHERE workspace_id = $1 AND id = $2"
        ))
        .bind(workspace)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(segment_row).transpose()
    }

    /// Checks a condition against the workspace as it is now; `this` is the
    /// segment being saved (it may not refer to itself, even through others).
    pub async fn check_condition(
        &self,
        workspace: i64,
        condition: &Condition,
        this: Option<i64>,
    ) -> Result<Result<Checked, ConditionError>, StoreError> {
        Ok(self.schema(workspace).await?.check(condition, this))
    }

    /// What conditions are checked against: every attribute's type (rules of
    /// the segments referred to are checked too) and every saved segment.
    async fn schema(&self, workspace: i64) -> Result<SavedSchema, StoreError> {
        Ok(SavedSchema {
            types: self
                .definitions(workspace)
                .await?
                .into_iter()
                .map(|d| (d.name, d.attr_type))
                .collect(),
            segments: self.segments(workspace).await?,
        })
    }

    /// A condition as a filter of users at `now`: checked against the
    /// workspace as it is now, then prepared (`conditions::Prepared`).
    pub async fn filter(
        &self,
        workspace: i64,
        condition: &Condition,
        now: i64,
    ) -> Result<Prepared, SegmentStoreError> {
        let checked = self
            .check_condition(workspace, condition, None)
            .await?
            .map_err(SegmentStoreError::Invalid)?;
        Ok(self.prepare(workspace, checked, now).await?)
    }

    /// A saved segment's condition as a filter of users at `now`.
    pub async fn segment_filter(
        &self,
        workspace: i64,
        id: i64,
        now: i64,
    ) -> Result<Prepared, SegmentStoreError> {
        let segment = self
            .segment(workspace, id)
            .await?
            .ok_or(SegmentStoreError::NotFound(id))?;
        self.filter(workspace, &segment.condition, now).await
    }

    /// The segments the user is in at `now` (None: no such user). A segment
    /// whose condition no longer holds (an attribute it names is gone) has
    /// no members. With the segment index ready they are decided from the
    /// user's slot there; else by the evaluator on the profile as stored.
    pub async fn segments_of(
        &self,
        workspace: i64,
        who: Who<'_>,
        now: i64,
    ) -> Result<Option<Vec<Segment>>, StoreError> {
        let schema = self.schema(workspace).await?;
        let segments: Vec<(&Segment, Checked)> = schema
            .segments
            .iter()
            .filter_map(|s| Some((s, schema.check(&s.condition, None).ok()?)))
            .collect();
        let members = |is: &dyn Fn(&Checked) -> bool| -> Vec<Segment> {
            segments
                .iter()
                .filter(|(_, c)| is(c))
                .map(|(s, _)| (*s).clone())
                .collect()
        };
        if let Some(index) = self.ready_index() {
            // The connection goes back before the fallback below takes one.
            let found = find_user(&mut *self.pool.acquire().await?, workspace, who).await?;
            let Some(row) = found else {
                return Ok(None);
            };
            let decided = index.read(workspace, |w| {
                let slot = w.slot(row.uid)?;
                Some(members(&|c| w.decide(slot, c.root(), now)))
            });
            // Not there only between a write's commit and its index update.
            if decided.is_some() {
                return Ok(decided);
            }
        }
        let Some(user) = self.user(workspace, who).await? else {
            return Ok(None);
        };
        Ok(Some(members(&|c| c.matches(&user, now))))
    }

    /// How many users match `condition` at `now` (checked against the
    /// workspace as it is now).
    pub async fn count_where(
        &self,
        workspace: i64,
        condition: &Condition,
        now: i64,
    ) -> Result<i64, SegmentStoreError> {
        let checked = self
            .check_condition(workspace, condition, None)
            .await?
            .map_err(SegmentStoreError::Invalid)?;
        Ok(self.count_checked(workspace, checked, now).await?)
    }

    /// Creates (`id` None) or replaces a segment.
    pub async fn save_segment(
        &self,
        workspace: i64,
        id: Option<i64>,
        input: &SegmentInput,
    ) -> Result<Segment, SegmentStoreError> {
        if let Some(id) = id {
            if self.segment(workspace, id).await?.is_none() {
                return Err(SegmentStoreError::NotFound(id));
            }
        }
        self.check_condition(workspace, &input.condition, id)
            .await?
            .map_err(SegmentStoreError::Invalid)?;
        let taken: Option<i64> =
            sqlx::query_scalar("SELECT id FROM segments WHERE workspace_id = $1 AND name = $2")
                .bind(workspace)
                .bind(&input.name)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from)?;
        if taken.is_some_and(|t| Some(t) != id) {
            return Err(SegmentStoreError::NameTaken(input.name.clone()));
        }
        let now = now_ms();
        let condition = input.condition.to_json().to_string();
        let id = match id {
            Some(id) => {
                sqlx::query(
                    "UPDATE segments SET name = $3, description = $4, icon = $5, condition = $6, updated_at = $7
                     WHERE workspace_id = $1 AND id = $2",
                )
                .bind(workspace)
                .bind(id)
                .bind(&input.name)
                .bind(&input.description)
                .bind(&input.icon)
                .bind(condition)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(StoreError::from)?;
                id
            }
            None => sqlx::query_scalar(
                "INSERT INTO segments (workspace_id, name, description, icon, condition, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
            )
            .bind(workspace)
            .bind(&input.name)
            .bind(&input.description)
            .bind(&input.icon)
            .bind(condition)
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::from)?,
        };
        self.segment(workspace, id)
            .await?
            .ok_or(SegmentStoreError::NotFound(id))
    }

    /// Deletes a segment no other segment uses.
    pub async fn delete_segment(&self, workspace: i64, id: i64) -> Result<(), SegmentStoreError> {
        let all = self.segments(workspace).await?;
        if !all.iter().any(|s| s.id == id) {
            return Err(SegmentStoreError::NotFound(id));
        }
        let users: Vec<String> = all
            .iter()
            .filter(|s| s.condition.segments().contains(&id))
            .map(|s| s.name.clone())
            .collect();
        if !users.is_empty() {
            return Err(SegmentStoreError::InUse(users));
        }
        sqlx::query("DELETE FROM segments WHERE workspace_id = $1 AND id = $2")
            .bind(workspace)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }
}

struct SavedSchema {
    types: HashMap<String, AttrType>,
    segments: Vec<Segment>,
}

impl SavedSchema {
    fn check(&self, condition: &Condition, this: Option<i64>) -> Result<Checked, ConditionError> {
        let attribute = |n: &str| self.types.get(n).copied();
        let segment = |id: i64| {
            self.segments
                .iter()
                .find(|s| s.id == id)
                .map(|s| s.condition.clone())
        };
        condition.check(&Schema {
            attribute: &attribute,
            segment: &segment,
            this,
        })
    }
}
