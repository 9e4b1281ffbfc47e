//! What each change does to the profiles of its group.

use super::super::users::{AttrRow, UserRow, Who};
use super::super::StoreError;
use super::group::Group;
use super::{WriteError, WriteOp, WriteOutcome, SESSION_GAP_MS};
use crate::model::attribute::AttrValue;
use crate::model::profile::{retag, Field, Identify, InputError, ProfileUpdate, SOURCE_CUSTOM};
use rand::distr::{Alphanumeric, SampleString};
use std::collections::HashSet;

/// What an update will do, decided before anything is written.
struct Plan {
    /// Name, value, and whether the key is new to the workspace.
    set: Vec<(String, AttrValue, bool)>,
    remove: Vec<AttrRow>,
    source: &'static str,
}

fn invalid_tags(message: String) -> InputError {
    InputError {
        code: "invalid_tag",
        message,
    }
}

fn new_jimer_id() -> String {
    format!(
        "j_{}",
        Alphanumeric
            .sample_string(&mut rand::rng(), 20)
            .to_ascii_lowercase()
    )
}

/// A profile not in the database yet (uid 0 until `save` inserts it).
fn new_row(jimer_id: String, user_id: Option<String>, now: i64) -> UserRow {
    UserRow {
        uid: 0,
        jimer_id,
        user_id,
        name: None,
        email: None,
        language: None,
        first_seen: None,
        last_activity: None,
        sessions: 0,
        created: now,
        tags: Vec::new(),
    }
}

fn apply_fields(row: &mut UserRow, update: &ProfileUpdate) {
    for (field, slot) in [
        (&update.name, &mut row.name),
        (&update.email, &mut row.email),
        (&update.language, &mut row.language),
    ] {
        match field {
            Field::Keep => {}
            Field::Clear => *slot = None,
            Field::Set(v) => *slot = Some(v.clone()),
        }
    }
}

/// Counts this call as activity, and as a new session when the visitor was
/// away for `SESSION_GAP_MS`.
fn touch(row: &mut UserRow, now: i64) {
    if row.last_activity.is_none_or(|t| now - t > SESSION_GAP_MS) {
        row.sessions += 1;
    }
    row.last_activity = Some(now.max(row.last_activity.unwrap_or(now)));
    row.first_seen.get_or_insert(now);
}

impl Group<'_> {
    pub(super) async fn apply(&mut self, op: &WriteOp) -> Result<WriteOutcome, WriteError> {
        match op {
            WriteOp::Identify { workspace, input } => self.identify(*workspace, input).await,
            WriteOp::Visit {
                workspace,
                jimer_id,
            } => {
                let mut row = self.visitor(*workspace, jimer_id).await?;
                self.save(*workspace, &mut row).await?;
                Ok(WriteOutcome::Linked {
                    jimer_id: row.jimer_id,
                    user_id: row.user_id,
                })
            }
            WriteOp::SdkIdentify {
                workspace,
                jimer_id,
                user_id,
            } => self.sdk_identify(*workspace, jimer_id, user_id).await,
            WriteOp::SdkUpdate {
                workspace,
                jimer_id,
                update,
            } => {
                let ws = *workspace;
                let mut row = self.visitor(ws, jimer_id).await?;
                let attrs = self.attributes(ws, row.uid).await?;
                let plan = self.plan(ws, &attrs, update).await?;
                apply_fields(&mut row, update);
                self.save(ws, &mut row).await?;
                self.execute(ws, row.uid, &attrs, plan).await?;
                Ok(WriteOutcome::Updated)
            }
            WriteOp::Update {
                workspace,
                user,
                update,
            } => {
                let ws = *workspace;
                let Some(mut row) = self.find(ws, user.who()).await? else {
                    return Ok(WriteOutcome::Missing);
                };
                let attrs = self.attributes(ws, row.uid).await?;
                let plan = self.plan(ws, &attrs, update).await?;
                let before = row.clone();
                apply_fields(&mut row, update);
                if row != before {
                    self.save(ws, &mut row).await?;
                }
                self.execute(ws, row.uid, &attrs, plan).await?;
                Ok(WriteOutcome::Updated)
            }
            WriteOp::DeleteUser { workspace, user } => {
                match self.find(*workspace, user.who()).await? {
                    Some(row) => {
                        self.delete(*workspace, &row).await?;
                        Ok(WriteOutcome::Deleted(true))
                    }
                    None => Ok(WriteOutcome::Deleted(false)),
                }
            }
            WriteOp::Retag {
                workspace,
                user,
                add,
                remove,
            } => {
                let Some(mut row) = self.find(*workspace, user.who()).await? else {
                    return Ok(WriteOutcome::Tags(None));
                };
                let tags = retag(&row.tags, add, remove)
                    .map_err(|m| WriteError::Rejected(invalid_tags(m)))?;
                if tags != row.tags {
                    row.tags = tags;
                    self.save(*workspace, &mut row).await?;
                }
                Ok(WriteOutcome::Tags(Some(row.tags)))
            }
        }
    }

    async fn identify(&mut self, ws: i64, input: &Identify) -> Result<WriteOutcome, WriteError> {
        let existing = self.find(ws, Who::UserId(&input.user_id)).await?;
        let uid = existing.as_ref().map_or(0, |r| r.uid);
        let attrs = self.attributes(ws, uid).await?;
        let plan = self.plan(ws, &attrs, &input.update).await?;
        let mut row = existing
            .unwrap_or_else(|| new_row(new_jimer_id(), Some(input.user_id.clone()), self.now));
        let before = row.clone();
        apply_fields(&mut row, &input.update);
        if row.uid == 0 || row != before {
            self.save(ws, &mut row).await?;
        }
        let attrs = self.execute(ws, row.uid, &attrs, plan).await?;
        Ok(WriteOutcome::User(Box::new(row.to_user(&attrs)?)))
    }

    /// The visitor's profile (new and anonymous if unknown), with this call
    /// counted as activity; the caller saves it.
    async fn visitor(&mut self, ws: i64, jimer_id: &str) -> Result<UserRow, StoreError> {
        let mut row = self
            .find(ws, Who::JimerId(jimer_id))
            .await?
            .unwrap_or_else(|| new_row(jimer_id.to_string(), None, self.now));
        touch(&mut row, self.now);
        Ok(row)
    }

    async fn sdk_identify(
        &mut self,
        ws: i64,
        jimer_id: &str,
        user_id: &str,
    ) -> Result<WriteOutcome, WriteError> {
        let mut visitor = self.visitor(ws, jimer_id).await?;
        let mut linked = if visitor.user_id.as_deref() == Some(user_id) {
            visitor
        } else {
            match (
                self.find(ws, Who::UserId(user_id)).await?,
                visitor.user_id.is_some(),
            ) {
                // First identify of this visitor, and a new user: the profile becomes theirs.
                (None, false) => {
                    visitor.user_id = Some(user_id.to_string());
                    visitor
                }
                // The browser was someone else's and nobody called reset: a new profile.
                (None, true) => {
                    let mut row = new_row(new_jimer_id(), Some(user_id.to_string()), self.now);
                    touch(&mut row, self.now);
                    row
                }
                (Some(mut user), false) => {
                    self.fold(ws, &visitor, &mut user).await?;
                    touch(&mut user, self.now);
                    user
                }
                (Some(mut user), true) => {
                    touch(&mut user, self.now);
                    user
                }
            }
        };
        self.save(ws, &mut linked).await?;
        Ok(WriteOutcome::Linked {
            jimer_id: linked.jimer_id,
            user_id: linked.user_id,
        })
    }

    /// Moves an anonymous visitor's profile into the user's: attributes the
    /// user lacks or holds older values of, sessions, first and last seen,
    /// missing native fields; then deletes the anonymous profile.
    async fn fold(
        &mut self,
        ws: i64,
        anon: &UserRow,
        user: &mut UserRow,
    ) -> Result<(), WriteError> {
        let anon_attrs = self.attributes(ws, anon.uid).await?;
        let user_attrs = self.attributes(ws, user.uid).await?;
        for a in anon_attrs {
            let held = user_attrs.iter().find(|u| u.name == a.name);
            if held.is_some_and(|h| h.updated_at >= a.updated_at) {
                continue;
            }
            let value = AttrValue::from_stored(a.attr_type, &a.value)
                .ok_or_else(|| StoreError::Corrupt(format!("value of {}", a.name)))?;
            if held.is_none() {
                self.count(ws, &a.name, a.attr_type, 1, a.updated_at);
            }
            self.source(ws, &a.name, &a.source, a.updated_at);
            self.set_attr(ws, user.uid, &value, a);
        }
        if anon.uid != 0 {
            self.delete(ws, anon).await?;
        }
        user.sessions += anon.sessions;
        user.first_seen = [user.first_seen, anon.first_seen]
            .into_iter()
            .flatten()
            .min();
        user.last_activity = [user.last_activity, anon.last_activity]
            .into_iter()
            .flatten()
            .max();
        for (mine, theirs) in [
            (&mut user.name, &anon.name),
            (&mut user.email, &anon.email),
            (&mut user.language, &anon.language),
        ] {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        }
        for t in &anon.tags {
            if !user.tags.contains(t) {
                user.tags.push(t.clone());
            }
        }
        Ok(())
    }

    /// Decides every attribute change, converting values to their keys'
    /// fixed types; rejects the whole update on the first value that cannot be.
    async fn plan(
        &mut self,
        ws: i64,
        attrs: &[AttrRow],
        update: &ProfileUpdate,
    ) -> Result<Plan, WriteError> {
        let mut plan = Plan {
            set: Vec::new(),
            remove: Vec::new(),
            source: update.source(),
        };
        let source = update.source();
        for input in &update.attributes {
            let fixed = self.fixed_type(ws, &input.name).await?;
            let held = attrs.iter().find(|a| a.name == input.name);
            if input.once && held.is_some() {
                continue;
            }
            match input
                .value_for(fixed)
                .map_err(|e| WriteError::Rejected(e.into()))?
            {
                None => plan.remove.extend(held.cloned()),
                Some(v) => {
                    let same = held.is_some_and(|h| h.source == source && h.value == v.to_text());
                    if !same {
                        plan.set.push((input.name.clone(), v, fixed.is_none()));
                    }
                }
            }
        }
        if update.remove_unspecified {
            let named: HashSet<&str> = update.attributes.iter().map(|a| a.name.as_str()).collect();
            plan.remove.extend(
                attrs
                    .iter()
                    .filter(|a| a.source == SOURCE_CUSTOM && !named.contains(a.name.as_str()))
                    .cloned(),
            );
        }
        Ok(plan)
    }

    /// Applies a plan to a saved profile; answers its attributes afterwards.
    async fn execute(
        &mut self,
        ws: i64,
        uid: i64,
        attrs: &[AttrRow],
        plan: Plan,
    ) -> Result<Vec<AttrRow>, WriteError> {
        let source = plan.source;
        for (name, value, new_key) in plan.set {
            let t = value.attr_type();
            if new_key {
                self.fix_type(ws, &name, t).await?;
            }
            let existed = attrs.iter().any(|a| a.name == name);
            self.count(ws, &name, t, if existed { 0 } else { 1 }, self.now);
            self.source(ws, &name, source, self.now);
            let row = AttrRow {
                name,
                attr_type: t,
                value: value.to_text(),
                source: source.to_string(),
                updated_at: self.now,
            };
            self.set_attr(ws, uid, &value, row);
        }
        for old in plan.remove {
            self.count(ws, &old.name, old.attr_type, -1, i64::MIN);
            self.remove_attr(ws, uid, &old.name);
        }
        Ok(self.attributes(ws, uid).await?)
    }
}
