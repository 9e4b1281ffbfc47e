//! The single writer: every change to profiles goes through here.
//!
//! Requests queue their change and wait; the writer takes every change that
//! is waiting (up to `MAX_GROUP`), applies them in one transaction, commits
//! once, then answers each. One commit (one fsync) for many requests is what
//! makes ingestion fast on SQLite (group commit). Each change checks all it
//! needs before it writes anything, so a rejected change leaves no trace even
//! inside a shared transaction; if the database itself fails, the group is
//! rolled back and each change is retried alone, so one bad change never
//! takes others down with it.

use super::definitions::{add_source, add_users, fix_type, type_of};
use super::users::{attributes_of, find_user, AttrRow, UserRow, Who};
use super::{bind_num, now_ms, Store, StoreError};
use crate::model::attribute::{AttrType, AttrValue};
use crate::model::profile::{
    search_text, Field, Identify, InputError, ProfileUpdate, User, SOURCE_CUSTOM,
};
use rand::distr::{Alphanumeric, SampleString};
use sqlx::{AnyConnection, Connection};
use std::collections::{HashMap, HashSet};
use tokio::sync::{mpsc, oneshot};

/// Most changes committed together.
const MAX_GROUP: usize = 512;
/// A visitor inactive this long starts a new session on their next call.
pub const SESSION_GAP_MS: i64 = 30 * 60 * 1000;

/// A change to profiles.
#[derive(Clone, Debug)]
pub enum WriteOp {
    /// REST identify: create or update the user with this user id.
    Identify {
        workspace: i64,
        input: Identify,
    },
    /// SDK page load: create the anonymous profile if new, count a session.
    Visit {
        workspace: i64,
        jimer_id: String,
    },
    /// SDK identify: link the visitor to a user id, folding an anonymous
    /// profile into the user's existing one.
    SdkIdentify {
        workspace: i64,
        jimer_id: String,
        user_id: String,
    },
    /// SDK attributes, name, email, language of the visitor's own profile.
    SdkUpdate {
        workspace: i64,
        jimer_id: String,
        update: ProfileUpdate,
    },
    DeleteUser {
        workspace: i64,
        user_id: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum WriteOutcome {
    User(Box<User>),
    /// The profile the visitor now has.
    Linked {
        jimer_id: String,
        user_id: Option<String>,
    },
    Updated,
    Deleted(bool),
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The change is not acceptable (nothing was written).
    #[error("{0}")]
    Rejected(InputError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Job {
    op: WriteOp,
    reply: oneshot::Sender<Result<WriteOutcome, WriteError>>,
}

/// The handle requests use to send changes to the writer task.
#[derive(Clone, Debug)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer task on its own database connection.
    pub fn start(store: Store) -> Writer {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(run(store, rx));
        Writer { tx }
    }

    /// Applies `op`; answers once it is committed (or rejected).
    pub async fn write(&self, op: WriteOp) -> Result<WriteOutcome, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { op, reply })
            .await
            .map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Job>) {
    let mut types = TypeCache::default();
    let mut conn = None;
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if conn.is_none() {
            match store.pool.acquire().await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::error!("writer cannot reach the database: {e}");
                    let msg = e.to_string();
                    for job in jobs {
                        let _ =
                            job.reply.send(Err(
                                StoreError::Db(sqlx::Error::Protocol(msg.clone())).into()
                            ));
                    }
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let ops: Vec<&WriteOp> = jobs.iter().map(|j| &j.op).collect();
        match apply_group(c, &mut types, &ops).await {
            Ok(results) => {
                for (job, result) in jobs.into_iter().zip(results) {
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                // Types fixed inside the rolled-back transaction are gone.
                types.0.clear();
                tracing::warn!(
                    "group of {} changes rolled back ({e}); applying them one by one",
                    jobs.len()
                );
                for job in jobs {
                    let result = match apply_group(c, &mut types, &[&job.op]).await {
                        Ok(mut r) => r.pop().unwrap_or(Err(StoreError::WriterGone.into())),
                        Err(e) => {
                            types.0.clear();
                            Err(e.into())
                        }
                    };
                    let _ = job.reply.send(result);
                }
                // The connection may be what failed: take a fresh one next time.
                conn = None;
            }
        }
    }
}

/// Applies the ops in one transaction. `Err` means the transaction was
/// rolled back; `Ok` holds each op's own answer, rejections included.
async fn apply_group(
    conn: &mut AnyConnection,
    types: &mut TypeCache,
    ops: &[&WriteOp],
) -> Result<Vec<Result<WriteOutcome, WriteError>>, StoreError> {
    let now = now_ms();
    let mut tx = conn.begin().await?;
    let mut defs = DefChanges::default();
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        let mut w = Tx {
            conn: &mut tx,
            types: &mut *types,
            defs: &mut defs,
            now,
        };
        match w.apply(op).await {
            Ok(outcome) => results.push(Ok(outcome)),
            Err(WriteError::Rejected(e)) => results.push(Err(WriteError::Rejected(e))),
            Err(WriteError::Store(e)) => return Err(e),
        }
    }
    defs.flush(&mut tx).await?;
    tx.commit().await?;
    Ok(results)
}

/// Fixed attribute types seen by this writer. Types never change once fixed,
/// so a cached type stays true.
#[derive(Default)]
struct TypeCache(HashMap<(i64, String), AttrType>);

/// Changes to attribute definitions, summed over a group and written once.
#[derive(Default)]
struct DefChanges {
    users: HashMap<(i64, String), (AttrType, i64, i64)>,
    sources: HashMap<(i64, String, String), i64>,
}

impl DefChanges {
    fn count(&mut self, workspace: i64, name: &str, t: AttrType, delta: i64, at: i64) {
        let e = self
            .users
            .entry((workspace, name.to_string()))
            .or_insert((t, 0, i64::MIN));
        e.1 += delta;
        e.2 = e.2.max(at);
    }

    fn source(&mut self, workspace: i64, name: &str, source: &str, at: i64) {
        self.sources
            .insert((workspace, name.to_string(), source.to_string()), at);
    }

    async fn flush(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        let mut keys: Vec<_> = self.users.iter().collect();
        // A fixed order keeps concurrent writers (PostgreSQL) from deadlocking.
        keys.sort_by(|a, b| a.0.cmp(b.0));
        for ((ws, name), (t, delta, last)) in keys {
            if *delta != 0 || *last != i64::MIN {
                add_users(conn, *ws, name, t.as_str(), *delta, i64::MAX, *last).await?;
            }
        }
        let mut sources: Vec<_> = self.sources.iter().collect();
        sources.sort_by(|a, b| a.0.cmp(b.0));
        for ((ws, name, source), at) in sources {
            add_source(conn, *ws, name, source, *at).await?;
        }
        Ok(())
    }
}

/// One op's view of the group transaction.
struct Tx<'a> {
    conn: &'a mut AnyConnection,
    types: &'a mut TypeCache,
    defs: &'a mut DefChanges,
    now: i64,
}

/// What an update will do, decided before anything is written.
struct Plan {
    set: Vec<(String, AttrValue, bool)>,
    remove: Vec<AttrRow>,
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

/// Counts a session when the visitor was away for `SESSION_GAP_MS`.
fn touch(row: &mut UserRow, now: i64) {
    if row.last_activity.is_none_or(|t| now - t > SESSION_GAP_MS) {
        row.sessions += 1;
    }
    row.last_activity = Some(now.max(row.last_activity.unwrap_or(now)));
    row.first_seen.get_or_insert(now);
}

impl Tx<'_> {
    async fn apply(&mut self, op: &WriteOp) -> Result<WriteOutcome, WriteError> {
        match op {
            WriteOp::Identify { workspace, input } => self.identify(*workspace, input).await,
            WriteOp::Visit {
                workspace,
                jimer_id,
            } => {
                let row = self.visitor(*workspace, jimer_id).await?;
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
                let mut row = self.find_or_new(ws, jimer_id).await?;
                let attrs = if row.uid == 0 {
                    Vec::new()
                } else {
                    attributes_of(self.conn, ws, row.uid).await?
                };
                let plan = self.plan(ws, &attrs, update, SOURCE_CUSTOM).await?;
                touch(&mut row, self.now);
                apply_fields(&mut row, update);
                self.save(ws, &mut row).await?;
                self.execute(ws, row.uid, attrs, plan, SOURCE_CUSTOM)
                    .await?;
                Ok(WriteOutcome::Updated)
            }
            WriteOp::DeleteUser { workspace, user_id } => {
                let ws = *workspace;
                let Some(row) = find_user(self.conn, ws, Who::UserId(user_id)).await? else {
                    return Ok(WriteOutcome::Deleted(false));
                };
                self.delete(ws, &row).await?;
                Ok(WriteOutcome::Deleted(true))
            }
        }
    }

    async fn identify(&mut self, ws: i64, input: &Identify) -> Result<WriteOutcome, WriteError> {
        let existing = find_user(self.conn, ws, Who::UserId(&input.user_id)).await?;
        let attrs = match &existing {
            Some(row) => attributes_of(self.conn, ws, row.uid).await?,
            None => Vec::new(),
        };
        let plan = self.plan(ws, &attrs, &input.update, SOURCE_CUSTOM).await?;
        let mut row = existing
            .unwrap_or_else(|| new_row(new_jimer_id(), Some(input.user_id.clone()), self.now));
        let before = row.clone();
        apply_fields(&mut row, &input.update);
        if row.uid == 0 || row != before {
            self.save(ws, &mut row).await?;
        }
        let attrs = self
            .execute(ws, row.uid, attrs, plan, SOURCE_CUSTOM)
            .await?;
        Ok(WriteOutcome::User(Box::new(row.to_user(&attrs)?)))
    }

    /// The visitor's profile, created (anonymous) if new, with this call
    /// counted as activity.
    async fn visitor(&mut self, ws: i64, jimer_id: &str) -> Result<UserRow, WriteError> {
        let mut row = self.find_or_new(ws, jimer_id).await?;
        touch(&mut row, self.now);
        self.save(ws, &mut row).await?;
        Ok(row)
    }

    async fn find_or_new(&mut self, ws: i64, jimer_id: &str) -> Result<UserRow, WriteError> {
        Ok(find_user(self.conn, ws, Who::JimerId(jimer_id))
            .await?
            .unwrap_or_else(|| new_row(jimer_id.to_string(), None, self.now)))
    }

    async fn sdk_identify(
        &mut self,
        ws: i64,
        jimer_id: &str,
        user_id: &str,
    ) -> Result<WriteOutcome, WriteError> {
        let mut visitor = self.visitor(ws, jimer_id).await?;
        if visitor.user_id.as_deref() == Some(user_id) {
            return Ok(WriteOutcome::Linked {
                jimer_id: visitor.jimer_id,
                user_id: visitor.user_id,
            });
        }
        let existing = find_user(self.conn, ws, Who::UserId(user_id)).await?;
        let mut linked = match (existing, visitor.user_id.is_some()) {
            // First identify of this visitor, and a new user: the profile becomes theirs.
            (None, false) => {
                visitor.user_id = Some(user_id.to_string());
                self.save(ws, &mut visitor).await?;
                visitor
            }
            // The browser was someone else's and nobody called reset: a new profile.
            (None, true) => {
                let mut row = new_row(new_jimer_id(), Some(user_id.to_string()), self.now);
                self.save(ws, &mut row).await?;
                row
            }
            (Some(mut user), false) => {
                self.fold(ws, &visitor, &mut user).await?;
                user
            }
            (Some(user), true) => user,
        };
        touch(&mut linked, self.now);
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
        let anon_attrs = attributes_of(self.conn, ws, anon.uid).await?;
        let user_attrs = attributes_of(self.conn, ws, user.uid).await?;
        for a in &anon_attrs {
            let held = user_attrs.iter().find(|u| u.name == a.name);
            if held.is_some_and(|h| h.updated_at >= a.updated_at) {
                continue;
            }
            let value = AttrValue::from_stored(a.attr_type, &a.value)
                .ok_or_else(|| StoreError::Corrupt(format!("value of {}", a.name)))?;
            self.put(ws, user.uid, &a.name, &value, &a.source, a.updated_at)
                .await?;
            if held.is_none() {
                self.defs.count(ws, &a.name, a.attr_type, 1, a.updated_at);
            }
        }
        self.delete(ws, anon).await?;
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

    async fn delete(&mut self, ws: i64, row: &UserRow) -> Result<(), WriteError> {
        for a in attributes_of(self.conn, ws, row.uid).await? {
            self.defs.count(ws, &a.name, a.attr_type, -1, i64::MIN);
        }
        sqlx::query("DELETE FROM attributes WHERE workspace_id = $1 AND uid = $2")
            .bind(ws)
            .bind(row.uid)
            .execute(&mut *self.conn)
            .await
            .map_err(StoreError::from)?;
        sqlx::query("DELETE FROM users WHERE workspace_id = $1 AND id = $2")
            .bind(ws)
            .bind(row.uid)
            .execute(&mut *self.conn)
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    /// Decides every attribute change, converting values to their keys'
    /// fixed types; rejects the whole update on the first value that cannot be.
    async fn plan(
        &mut self,
        ws: i64,
        attrs: &[AttrRow],
        update: &ProfileUpdate,
        source: &str,
    ) -> Result<Plan, WriteError> {
        let mut plan = Plan {
            set: Vec::new(),
            remove: Vec::new(),
        };
        for input in &update.attributes {
            let fixed = self.fixed_type(ws, &input.name).await?;
            let held = attrs.iter().find(|a| a.name == input.name);
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

    async fn fixed_type(&mut self, ws: i64, name: &str) -> Result<Option<AttrType>, StoreError> {
        let key = (ws, name.to_string());
        if let Some(t) = self.types.0.get(&key) {
            return Ok(Some(*t));
        }
        let t = type_of(self.conn, ws, name).await?;
        if let Some(t) = t {
            self.types.0.insert(key, t);
        }
        Ok(t)
    }

    /// Writes a plan; answers the user's attributes afterwards.
    async fn execute(
        &mut self,
        ws: i64,
        uid: i64,
        mut attrs: Vec<AttrRow>,
        plan: Plan,
        source: &str,
    ) -> Result<Vec<AttrRow>, WriteError> {
        for (name, value, new_key) in plan.set {
            let t = value.attr_type();
            if new_key {
                let held = fix_type(self.conn, ws, &name, t, self.now).await?;
                if held != t {
                    // Another server fixed this key's type a moment ago.
                    return Err(StoreError::Raced(name).into());
                }
                self.types.0.insert((ws, name.clone()), t);
            }
            self.put(ws, uid, &name, &value, source, self.now).await?;
            let existed = attrs.iter().position(|a| a.name == name);
            self.defs.count(
                ws,
                &name,
                t,
                if existed.is_some() { 0 } else { 1 },
                self.now,
            );
            self.defs.source(ws, &name, source, self.now);
            let row = AttrRow {
                name,
                attr_type: t,
                value: value.to_text(),
                source: source.to_string(),
                updated_at: self.now,
            };
            match existed {
                Some(i) => attrs[i] = row,
                None => attrs.push(row),
            }
        }
        for old in plan.remove {
            sqlx::query(
                "DELETE FROM attributes WHERE workspace_id = $1 AND uid = $2 AND name = $3",
            )
            .bind(ws)
            .bind(uid)
            .bind(&old.name)
            .execute(&mut *self.conn)
            .await
            .map_err(StoreError::from)?;
            self.defs.count(ws, &old.name, old.attr_type, -1, i64::MIN);
            attrs.retain(|a| a.name != old.name);
        }
        Ok(attrs)
    }

    async fn put(
        &mut self,
        ws: i64,
        uid: i64,
        name: &str,
        value: &AttrValue,
        source: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        let q = sqlx::query(
            "INSERT INTO attributes (workspace_id, uid, name, type, value, num, source, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (workspace_id, uid, name) DO UPDATE SET type = excluded.type, value = excluded.value,
               num = excluded.num, source = excluded.source, updated_at = excluded.updated_at",
        )
        .bind(ws)
        .bind(uid)
        .bind(name)
        .bind(value.attr_type().as_str())
        .bind(value.to_text());
        bind_num(q, value.to_num())
            .bind(source)
            .bind(at)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    /// Inserts the row (uid 0) or writes its mutable columns back.
    async fn save(&mut self, ws: i64, row: &mut UserRow) -> Result<(), StoreError> {
        let tags = serde_json::to_string(&row.tags).unwrap_or_else(|_| "[]".into());
        let search = search_text(row.name.as_deref(), row.email.as_deref());
        if row.uid == 0 {
            row.uid = sqlx::query_scalar(
                "INSERT INTO users (workspace_id, jimer_id, user_id, name, email, language, first_seen, last_activity, sessions, created, tags, search)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            )
            .bind(ws)
            .bind(&row.jimer_id)
            .bind(&row.user_id)
            .bind(&row.name)
            .bind(&row.email)
            .bind(&row.language)
            .bind(row.first_seen)
            .bind(row.last_activity)
            .bind(row.sessions)
            .bind(row.created)
            .bind(tags)
            .bind(search)
            .fetch_one(&mut *self.conn)
            .await?;
        } else {
            sqlx::query(
                "UPDATE users SET user_id = $3, name = $4, email = $5, language = $6, first_seen = $7, last_activity = $8,
                   sessions = $9, tags = $10, search = $11 WHERE workspace_id = $1 AND id = $2",
            )
            .bind(ws)
            .bind(row.uid)
            .bind(&row.user_id)
            .bind(&row.name)
            .bind(&row.email)
            .bind(&row.language)
            .bind(row.first_seen)
            .bind(row.last_activity)
            .bind(row.sessions)
            .bind(tags)
            .bind(search)
            .execute(&mut *self.conn)
            .await?;
        }
        Ok(())
    }
}

impl Writer {
    /// Applies several ops; they usually commit together. Answers in order.
    pub async fn write_many(&self, ops: Vec<WriteOp>) -> Vec<Result<WriteOutcome, WriteError>> {
        let mut answers = Vec::with_capacity(ops.len());
        for op in ops {
            let (reply, answer) = oneshot::channel();
            if self.tx.send(Job { op, reply }).await.is_err() {
                break;
            }
            answers.push(answer);
        }
        let mut out = Vec::with_capacity(answers.len());
        for a in answers {
            out.push(
                a.await
                    .unwrap_or_else(|_| Err(StoreError::WriterGone.into())),
            );
        }
        out
    }
}
