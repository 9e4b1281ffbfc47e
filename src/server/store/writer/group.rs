//! One group of changes inside one transaction: the profiles it touches,
//! read once and kept in memory, and the writes it owes the database.

use super::super::definitions::{add_sources, add_users, fix_type, type_of, UsersDelta};
use super::super::users::UserKey;
use super::super::users::{
    attributes_of, attributes_of_uids, find_user, users_where, AttrRow, UserRow, Who,
};
use super::super::workspace::count_users;
use super::super::{bind_num, now_ms, Dialect, StoreError};
use super::WriteOp;
use crate::model::attribute::{AttrType, AttrValue};
use crate::model::profile::search_text;
use crate::server::index::Change;
use sqlx::AnyConnection;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Fixed attribute types seen by this writer. Types never change once fixed,
/// so a cached type stays true (until a rollback forgets those it fixed).
#[derive(Default)]
pub(super) struct TypeCache(HashMap<(i64, String), AttrType>);

impl TypeCache {
    pub(super) fn clear(&mut self) {
        self.0.clear();
    }
}

/// Changes to attribute definitions, summed over a group and written once.
#[derive(Default)]
struct DefChanges {
    users: BTreeMap<(i64, String), (AttrType, i64, i64)>,
    sources: BTreeMap<(i64, String, String), i64>,
}

/// Profiles read by this group: which user id / jimer id is which row (or
/// none), the rows, and their attributes, all as the group has left them.
#[derive(Default)]
struct Seen {
    keys: HashMap<(i64, bool, String), Option<i64>>,
    rows: HashMap<i64, UserRow>,
    attrs: HashMap<i64, Vec<AttrRow>>,
}

impl Seen {
    fn key(ws: i64, who: Who<'_>) -> (i64, bool, String) {
        match who {
            Who::UserId(v) => (ws, true, v.to_string()),
            Who::JimerId(v) => (ws, false, v.to_string()),
        }
    }

    fn record(&mut self, ws: i64, row: &UserRow) {
        self.keys
            .insert((ws, false, row.jimer_id.clone()), Some(row.uid));
        if let Some(u) = &row.user_id {
            self.keys.insert((ws, true, u.clone()), Some(row.uid));
        }
        self.rows.insert(row.uid, row.clone());
    }

    fn forget(&mut self, ws: i64, row: &UserRow) {
        self.keys.insert((ws, false, row.jimer_id.clone()), None);
        if let Some(u) = &row.user_id {
            self.keys.insert((ws, true, u.clone()), None);
        }
        self.rows.remove(&row.uid);
        self.attrs.remove(&row.uid);
    }
}

/// An attribute value to write at the end of the group (`None`: delete it).
type PendingAttr = Option<(AttrValue, String, i64)>;

pub(super) struct Group<'a> {
    conn: &'a mut AnyConnection,
    dialect: Dialect,
    pub(super) now: i64,
    types: &'a mut TypeCache,
    defs: DefChanges,
    seen: Seen,
    pending: BTreeMap<(i64, i64, String), PendingAttr>,
    /// Profiles to insert at the end, by provisional (negative) uid.
    new_users: BTreeMap<i64, (i64, UserRow)>,
    next_uid: i64,
    /// Users added (and deleted) per workspace, for `workspaces.users_count`.
    counted: BTreeMap<i64, i64>,
    /// Profiles changed and deleted, (workspace, uid), for the segment index.
    changed: BTreeSet<(i64, i64)>,
    deleted: Vec<(i64, i64)>,
    /// Real uids of the profiles inserted at the end.
    inserted: HashMap<i64, i64>,
}

/// Most keys in one `IN (...)` list.
const IN_LIST: usize = 500;
/// Most rows in one multi-row insert.
const ROWS_PER_INSERT: usize = 400;

impl<'a> Group<'a> {
    pub(super) fn new(
        conn: &'a mut AnyConnection,
        dialect: Dialect,
        types: &'a mut TypeCache,
    ) -> Self {
        Group {
            conn,
            dialect,
            now: now_ms(),
            types,
            defs: DefChanges::default(),
            seen: Seen::default(),
            pending: BTreeMap::new(),
            new_users: BTreeMap::new(),
            next_uid: 0,
            counted: BTreeMap::new(),
            changed: BTreeSet::new(),
            deleted: Vec::new(),
            inserted: HashMap::new(),
        }
    }

    /// Reads every profile the ops name, and their attributes, in a few
    /// statements.
    pub(super) async fn load(&mut self, ops: &[&WriteOp]) -> Result<(), StoreError> {
        let mut wanted: BTreeMap<(i64, bool), Vec<String>> = BTreeMap::new();
        for op in ops {
            let (ws, keys): (i64, Vec<(bool, &str)>) = match op {
                WriteOp::Identify { workspace, input } => {
                    (*workspace, vec![(true, &input.user_id)])
                }
                WriteOp::Visit {
                    workspace,
                    jimer_id,
                } => (*workspace, vec![(false, jimer_id)]),
                WriteOp::SdkUpdate {
                    workspace,
                    jimer_id,
                    ..
                } => (*workspace, vec![(false, jimer_id)]),
                WriteOp::SdkIdentify {
                    workspace,
                    jimer_id,
                    user_id,
                } => (*workspace, vec![(false, jimer_id), (true, user_id)]),
                WriteOp::DeleteUser { workspace, user }
                | WriteOp::Update {
                    workspace, user, ..
                }
                | WriteOp::Retag {
                    workspace, user, ..
                } => match user {
                    UserKey::UserId(k) => (*workspace, vec![(true, k.as_str())]),
                    UserKey::JimerId(k) => (*workspace, vec![(false, k.as_str())]),
                },
            };
            for (by_user_id, key) in keys {
                // Not found unless the read below finds it.
                if let std::collections::hash_map::Entry::Vacant(e) =
                    self.seen.keys.entry((ws, by_user_id, key.to_string()))
                {
                    e.insert(None);
                    wanted
                        .entry((ws, by_user_id))
                        .or_default()
                        .push(key.to_string());
                }
            }
        }
        let mut found: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for ((ws, by_user_id), keys) in wanted {
            for chunk in keys.chunks(IN_LIST) {
                for row in users_where(self.conn, self.dialect, ws, by_user_id, chunk).await? {
                    if !self.seen.rows.contains_key(&row.uid) {
                        found.entry(ws).or_default().push(row.uid);
                    }
                    self.seen.record(ws, &row);
                }
            }
        }
        for (ws, uids) in found {
            for chunk in uids.chunks(IN_LIST) {
                let mut attrs = attributes_of_uids(self.conn, self.dialect, ws, chunk).await?;
                for uid in chunk {
                    self.seen
                        .attrs
                        .insert(*uid, attrs.remove(uid).unwrap_or_default());
                }
            }
        }
        Ok(())
    }

    pub(super) async fn find(
        &mut self,
        ws: i64,
        who: Who<'_>,
    ) -> Result<Option<UserRow>, StoreError> {
        let key = Seen::key(ws, who);
        if let Some(uid) = self.seen.keys.get(&key) {
            return Ok(uid.and_then(|uid| self.seen.rows.get(&uid).cloned()));
        }
        let row = find_user(self.conn, ws, who).await?;
        match &row {
            Some(row) => self.seen.record(ws, row),
            None => {
                self.seen.keys.insert(key, None);
            }
        }
        Ok(row)
    }

    /// The attributes of a stored profile (none for one not inserted yet).
    pub(super) async fn attributes(
        &mut self,
        ws: i64,
        uid: i64,
    ) -> Result<Vec<AttrRow>, StoreError> {
        if uid == 0 {
            return Ok(Vec::new());
        }
        if let Some(attrs) = self.seen.attrs.get(&uid) {
            return Ok(attrs.clone());
        }
        let attrs = attributes_of(self.conn, ws, uid).await?;
        self.seen.attrs.insert(uid, attrs.clone());
        Ok(attrs)
    }

    pub(super) async fn fixed_type(
        &mut self,
        ws: i64,
        name: &str,
    ) -> Result<Option<AttrType>, StoreError> {
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

    /// Gives a new key its type; fails (rolling the group back) if another
    /// server fixed it differently a moment ago.
    pub(super) async fn fix_type(
        &mut self,
        ws: i64,
        name: &str,
        t: AttrType,
    ) -> Result<(), StoreError> {
        let held = fix_type(self.conn, ws, name, t, self.now).await?;
        if held != t {
            return Err(StoreError::Raced(name.to_string()));
        }
        self.types.0.insert((ws, name.to_string()), t);
        Ok(())
    }

    pub(super) fn count(&mut self, ws: i64, name: &str, t: AttrType, delta: i64, at: i64) {
        let e = self
            .defs
            .users
            .entry((ws, name.to_string()))
            .or_insert((t, 0, i64::MIN));
        e.1 += delta;
        e.2 = e.2.max(at);
    }

    pub(super) fn source(&mut self, ws: i64, name: &str, source: &str, at: i64) {
        self.defs
            .sources
            .insert((ws, name.to_string(), source.to_string()), at);
    }

    /// Sets an attribute value (written at the end of the group) and keeps
    /// the in-memory profile in step.
    pub(super) fn set_attr(&mut self, ws: i64, uid: i64, value: &AttrValue, row: AttrRow) {
        self.changed.insert((ws, uid));
        let key = (ws, uid, row.name.clone());
        self.pending.insert(
            key,
            Some((value.clone(), row.source.clone(), row.updated_at)),
        );
        let attrs = self.seen.attrs.entry(uid).or_default();
        match attrs.iter().position(|a| a.name == row.name) {
            Some(i) => attrs[i] = row,
            None => attrs.push(row),
        }
    }

    pub(super) fn remove_attr(&mut self, ws: i64, uid: i64, name: &str) {
        self.changed.insert((ws, uid));
        self.pending.insert((ws, uid, name.to_string()), None);
        if let Some(attrs) = self.seen.attrs.get_mut(&uid) {
            attrs.retain(|a| a.name != name);
        }
    }

    /// Writes a profile back. A new one (uid 0) gets a provisional negative
    /// uid and is inserted with the group's other new profiles in `flush`.
    pub(super) async fn save(&mut self, ws: i64, row: &mut UserRow) -> Result<(), StoreError> {
        if row.uid == 0 {
            self.next_uid -= 1;
            row.uid = self.next_uid;
            self.seen.attrs.insert(row.uid, Vec::new());
        }
        self.changed.insert((ws, row.uid));
        if row.uid < 0 {
            self.new_users.insert(row.uid, (ws, row.clone()));
        } else {
            let tags = serde_json::to_string(&row.tags).unwrap_or_else(|_| "[]".into());
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
            .bind(search_text(row.name.as_deref(), row.email.as_deref()))
            .execute(&mut *self.conn)
            .await?;
        }
        self.seen.record(ws, row);
        Ok(())
    }

    /// Deletes a profile and its attributes.
    pub(super) async fn delete(&mut self, ws: i64, row: &UserRow) -> Result<(), StoreError> {
        for a in self.attributes(ws, row.uid).await? {
            self.count(ws, &a.name, a.attr_type, -1, i64::MIN);
        }
        let mine: Vec<_> = self
            .pending
            .range((ws, row.uid, String::new())..)
            .take_while(|((w, u, _), _)| *w == ws && *u == row.uid)
            .map(|(k, _)| k.clone())
            .collect();
        for k in mine {
            self.pending.remove(&k);
        }
        self.changed.remove(&(ws, row.uid));
        if row.uid < 0 {
            self.new_users.remove(&row.uid);
        } else {
            self.deleted.push((ws, row.uid));
            sqlx::query("DELETE FROM attributes WHERE workspace_id = $1 AND uid = $2")
                .bind(ws)
                .bind(row.uid)
                .execute(&mut *self.conn)
                .await?;
            sqlx::query("DELETE FROM users WHERE workspace_id = $1 AND id = $2")
                .bind(ws)
                .bind(row.uid)
                .execute(&mut *self.conn)
                .await?;
            *self.counted.entry(ws).or_default() -= 1;
        }
        self.seen.forget(ws, row);
        Ok(())
    }

    /// Inserts the group's new profiles; answers their real uids.
    async fn insert_new_users(&mut self) -> Result<HashMap<i64, i64>, StoreError> {
        let new_users = std::mem::take(&mut self.new_users);
        let rows: Vec<&(i64, UserRow)> = new_users.values().collect();
        let mut uids = HashMap::with_capacity(rows.len());
        for chunk in rows.chunks(ROWS_PER_INSERT / 2) {
            let sql = format!(
                "INSERT INTO users (workspace_id, jimer_id, user_id, name, email, language, first_seen, last_activity, sessions, created, tags, search)
                 VALUES {} RETURNING id, workspace_id, jimer_id",
                self.dialect.values(1, chunk.len(), 12)
            );
            let mut q = sqlx::query_as::<_, (i64, i64, String)>(&sql);
            for (ws, row) in chunk.iter() {
                q = q
                    .bind(*ws)
                    .bind(&row.jimer_id)
                    .bind(&row.user_id)
                    .bind(&row.name)
                    .bind(&row.email)
                    .bind(&row.language)
                    .bind(row.first_seen)
                    .bind(row.last_activity)
                    .bind(row.sessions)
                    .bind(row.created)
                    .bind(serde_json::to_string(&row.tags).unwrap_or_else(|_| "[]".into()))
                    .bind(search_text(row.name.as_deref(), row.email.as_deref()));
            }
            // RETURNING promises no order: match rows by their jimer ids.
            let by_jimer: HashMap<(i64, String), i64> = q
                .fetch_all(&mut *self.conn)
                .await?
                .into_iter()
                .map(|(id, ws, jimer)| ((ws, jimer), id))
                .collect();
            for (ws, row) in chunk.iter() {
                *self.counted.entry(*ws).or_default() += 1;
                let id = by_jimer
                    .get(&(*ws, row.jimer_id.clone()))
                    .ok_or_else(|| StoreError::Corrupt(format!("no id for {}", row.jimer_id)))?;
                uids.insert(row.uid, *id);
            }
        }
        Ok(uids)
    }

    /// Writes what the group owes: new profiles, attribute values, then
    /// definitions.
    pub(super) async fn flush(&mut self) -> Result<(), StoreError> {
        self.inserted = self.insert_new_users().await?;
        let uids = &self.inserted;
        let real = |uid: i64| uids.get(&uid).copied().unwrap_or(uid);
        // Kept after the writes: `changes` tells the index what they were.
        let (sets, removes): (Vec<_>, Vec<_>) = self
            .pending
            .iter()
            .map(|((ws, uid, name), v)| ((*ws, real(*uid), name), v))
            .partition(|(_, v)| v.is_some());
        for chunk in sets.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO attributes (workspace_id, uid, name, type, value, num, source, updated_at) VALUES {}
                 ON CONFLICT (workspace_id, uid, name) DO UPDATE SET type = excluded.type, value = excluded.value,
                   num = excluded.num, source = excluded.source, updated_at = excluded.updated_at",
                self.dialect.values(1, chunk.len(), 8)
            );
            let mut q = sqlx::query(&sql);
            for ((ws, uid, name), v) in chunk {
                let Some((value, source, at)) = v else {
                    continue;
                };
                q = q
                    .bind(*ws)
                    .bind(*uid)
                    .bind(name.as_str())
                    .bind(value.attr_type().as_str())
                    .bind(value.to_text());
                q = bind_num(q, value.to_num()).bind(source.as_str()).bind(*at);
            }
            q.execute(&mut *self.conn).await?;
        }
        for ((ws, uid, name), _) in removes {
            sqlx::query(
                "DELETE FROM attributes WHERE workspace_id = $1 AND uid = $2 AND name = $3",
            )
            .bind(ws)
            .bind(uid)
            .bind(name.as_str())
            .execute(&mut *self.conn)
            .await?;
        }
        let defs = std::mem::take(&mut self.defs);
        let mut users: Vec<UsersDelta> = defs
            .users
            .iter()
            .filter(|(_, (_, delta, last))| *delta != 0 || *last != i64::MIN)
            .map(|((ws, name), (t, delta, last))| UsersDelta {
                workspace: *ws,
                name,
                attr_type: t.as_str(),
                delta: *delta,
                first: i64::MAX,
                last: *last,
            })
            .collect();
        add_users(self.conn, self.dialect, &mut users).await?;
        let mut sources: Vec<_> = defs
            .sources
            .iter()
            .map(|((ws, name, source), at)| (*ws, name.as_str(), source.as_str(), *at))
            .collect();
        add_sources(self.conn, self.dialect, &mut sources).await?;
        for (ws, delta) in std::mem::take(&mut self.counted) {
            count_users(self.conn, ws, delta).await?;
        }
        Ok(())
    }
}

impl Group<'_> {
    /// What the group changed (after `flush`). `whole`: every changed
    /// profile entire (the index is still loading and may not hold the
    /// rest); else only the native fields and the attributes written, which
    /// spares re-reading every stored value of a profile for each write.
    pub(super) fn changes(&self, whole: bool) -> Result<Vec<Change>, StoreError> {
        let mut out: Vec<Change> = self
            .deleted
            .iter()
            .map(|(workspace, uid)| Change::Remove {
                workspace: *workspace,
                uid: *uid,
            })
            .collect();
        for (ws, uid) in &self.changed {
            let Some(row) = self.seen.rows.get(uid) else {
                continue;
            };
            let workspace = *ws;
            let real = self.inserted.get(uid).copied().unwrap_or(*uid);
            out.push(if whole {
                let attrs = self.seen.attrs.get(uid).map(Vec::as_slice).unwrap_or(&[]);
                Change::Upsert {
                    workspace,
                    uid: real,
                    user: Box::new(row.to_user(attrs)?),
                }
            } else {
                let attrs = self
                    .pending
                    .range((workspace, *uid, String::new())..)
                    .take_while(|((w, u, _), _)| *w == workspace && u == uid)
                    .map(|((_, _, name), v)| (name.clone(), v.as_ref().map(|(v, _, _)| v.clone())))
                    .collect();
                Change::Patch {
                    workspace,
                    uid: real,
                    user: Box::new(row.natives()),
                    attrs,
                }
            });
        }
        Ok(out)
    }
}
