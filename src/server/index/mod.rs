//! The segment index: every workspace's users as columns in memory, so a
//! condition is decided column by column into bitmaps (roaring) that the
//! groups combine, in milliseconds at a million users.
//!
//! Users get dense slots (a freed slot is reused); each attribute, native
//! fields included, is a `Column` over the slots. The database stays the
//! source of truth: the index is loaded from it at start and the writer
//! applies each committed group of changes to it before answering, under
//! one write lock, so a reader sees a group whole or not at all.

pub mod column;

use crate::model::attribute::AttrValue;
use crate::model::condition::{rule, value_of, Node};
use crate::model::profile::User;
use column::{Column, Values};
use roaring::RoaringBitmap;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};

/// A native field and the column that keeps it.
type NativeColumn = (&'static str, fn() -> Column);

/// Native fields and how they are kept.
const NATIVE: &[NativeColumn] = &[
    ("jimer_id", Column::arena),
    ("user_id", Column::arena),
    ("name", Column::arena),
    ("email", Column::arena),
    ("language", Column::coded),
    ("first_seen", Column::date),
    ("last_activity", Column::date),
    ("created", Column::date),
    ("sessions", Column::number),
    ("tags", Column::coded),
    ("identified", Column::coded),
];

/// One workspace's users.
#[derive(Debug)]
pub struct WorkspaceIndex {
    /// users.id of each slot (0: free).
    uids: Vec<i64>,
    slots: HashMap<i64, u32>,
    free: Vec<u32>,
    live: RoaringBitmap,
    native: HashMap<&'static str, Column>,
    custom: HashMap<String, Column>,
}

impl Default for WorkspaceIndex {
    fn default() -> Self {
        WorkspaceIndex {
            uids: Vec::new(),
            slots: HashMap::new(),
            free: Vec::new(),
            live: RoaringBitmap::new(),
            native: NATIVE.iter().map(|(n, make)| (*n, make())).collect(),
            custom: HashMap::new(),
        }
    }
}

impl WorkspaceIndex {
    /// Users held.
    pub fn len(&self) -> u64 {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Puts the user's profile (users.id `uid`) in, replacing what was there.
    pub fn upsert(&mut self, uid: i64, user: &User) {
        let attrs = user.attributes.iter().map(|a| (a.name.as_str(), &a.value));
        self.put(uid, user, attrs);
    }

    /// `upsert` with the custom attributes apart (`user.attributes` is not read).
    pub fn put<'a>(
        &mut self,
        uid: i64,
        user: &User,
        attrs: impl Iterator<Item = (&'a str, &'a AttrValue)> + Clone,
    ) {
        let (slot, known) = self.slot_of(uid, user);
        // A new slot holds nothing yet (a freed one was cleared).
        if known {
            for (name, column) in &mut self.custom {
                if !attrs.clone().any(|(n, _)| n == name) {
                    column.set(slot, None);
                }
            }
        }
        for (name, value) in attrs {
            self.set_custom(slot, name, Some(value));
        }
    }

    /// Sets the user's native fields and the attributes in `attrs` (`None`:
    /// removed), leaving their other attributes as they are: what a write
    /// changed, cheaper than the whole profile.
    pub fn patch(&mut self, uid: i64, user: &User, attrs: &[(String, Option<AttrValue>)]) {
        let (slot, _) = self.slot_of(uid, user);
        for (name, value) in attrs {
            self.set_custom(slot, name, value.as_ref());
        }
    }

    /// The user's slot (taken now if they had none: `false`), with their
    /// native fields set.
    fn slot_of(&mut self, uid: i64, user: &User) -> (u32, bool) {
        let known = self.slots.get(&uid).copied();
        let slot = match known {
            Some(s) => s,
            None => {
                let s = self.free.pop().unwrap_or(self.uids.len() as u32);
                if s as usize == self.uids.len() {
                    self.uids.push(uid);
                } else {
                    self.uids[s as usize] = uid;
                }
                self.slots.insert(uid, s);
                s
            }
        };
        self.live.insert(slot);
        for (name, column) in &mut self.native {
            column.set(slot, value_of(user, name).as_ref());
        }
        (slot, known.is_some())
    }

    fn set_custom(&mut self, slot: u32, name: &str, value: Option<&AttrValue>) {
        let Some(value) = value else {
            if let Some(c) = self.custom.get_mut(name) {
                c.set(slot, None);
            }
            return;
        };
        let column = match self.custom.get_mut(name) {
            Some(c) => c,
            None => self
                .custom
                .entry(name.to_string())
                .or_insert_with(|| Column::for_value(value)),
        };
        if !fits(column, value) && column.present.is_empty() {
            // The attribute's type changed (it had no value left).
            *column = Column::for_value(value);
        }
        column.set(slot, Some(value));
    }

    /// Takes the user out; their slot is reused.
    pub fn remove(&mut self, uid: i64) {
        let Some(slot) = self.slots.remove(&uid) else {
            return;
        };
        for column in self.native.values_mut().chain(self.custom.values_mut()) {
            column.set(slot, None);
        }
        self.live.remove(slot);
        self.uids[slot as usize] = 0;
        self.free.push(slot);
    }

    /// The slots of the users who match `node` at `now`.
    pub fn eval(&self, node: &Node, now: i64) -> RoaringBitmap {
        match node {
            Node::All(children) => {
                let mut out = self.live.clone();
                for c in children {
                    if out.is_empty() {
                        break;
                    }
                    out &= self.eval(c, now);
                }
                out
            }
            Node::Any(children) => {
                let mut out = RoaringBitmap::new();
                for c in children {
                    out |= self.eval(c, now);
                }
                out
            }
            Node::None(children) => {
                let mut out = self.live.clone();
                for c in children {
                    out -= self.eval(c, now);
                }
                out
            }
            Node::Segment {
                member, condition, ..
            } => {
                let inside = self.eval(condition, now);
                if *member {
                    inside
                } else {
                    &self.live - inside
                }
            }
            Node::Rule {
                attribute,
                op,
                operand,
                case_sensitive,
                ..
            } => {
                let column = self.column(attribute);
                let mut out = match column {
                    Some(c) => c.matching(*op, operand, *case_sensitive, now),
                    None => RoaringBitmap::new(),
                };
                if op.matches_missing() {
                    match column {
                        Some(c) => out |= &self.live - &c.present,
                        None => out |= &self.live,
                    }
                }
                out & &self.live
            }
        }
    }

    /// Whether the user in `slot` matches `node` at `now`: the same
    /// decision as `eval`, read from that slot's values alone (a user's own
    /// segments, without evaluating every user).
    pub fn decide(&self, slot: u32, node: &Node, now: i64) -> bool {
        match node {
            Node::All(c) => c.iter().all(|x| self.decide(slot, x, now)),
            Node::Any(c) => c.iter().any(|x| self.decide(slot, x, now)),
            Node::None(c) => !c.iter().any(|x| self.decide(slot, x, now)),
            Node::Segment {
                member, condition, ..
            } => self.decide(slot, condition, now) == *member,
            Node::Rule {
                attribute,
                op,
                operand,
                case_sensitive,
                ..
            } => match self.column(attribute).and_then(|c| c.value_at(slot)) {
                None => op.matches_missing(),
                Some(v) => rule(*op, operand, &v, *case_sensitive, now),
            },
        }
    }

    /// The slot of the user (users.id), if held.
    pub fn slot(&self, uid: i64) -> Option<u32> {
        self.slots.get(&uid).copied()
    }

    fn column(&self, attribute: &str) -> Option<&Column> {
        self.native
            .get(attribute)
            .or_else(|| self.custom.get(attribute))
    }

    /// How many users match.
    pub fn count(&self, node: &Node, now: i64) -> u64 {
        self.eval(node, now).len()
    }

    /// The users.id of the slots.
    pub fn uids<'a>(&'a self, slots: &'a RoaringBitmap) -> impl Iterator<Item = i64> + 'a {
        slots.iter().map(|s| self.uids[s as usize])
    }

    /// Whether the user (users.id) is in the slots.
    pub fn contains(&self, slots: &RoaringBitmap, uid: i64) -> bool {
        self.slots.get(&uid).is_some_and(|s| slots.contains(*s))
    }

    /// Bytes held, roughly.
    pub fn heap_bytes(&self) -> usize {
        self.uids.capacity() * 8
            + self.slots.capacity() * 24
            + self.live.serialized_size()
            + self
                .native
                .values()
                .chain(self.custom.values())
                .map(Column::heap_bytes)
                .sum::<usize>()
    }
}

/// Whether the column keeps values of `v`'s kind.
fn fits(column: &Column, v: &AttrValue) -> bool {
    matches!(
        (&column.values, v),
        (Values::Number { date: false, .. }, AttrValue::Number(_))
            | (Values::Number { date: true, .. }, AttrValue::Date(_))
            | (
                Values::Coded(_),
                AttrValue::String(_) | AttrValue::Array(_) | AttrValue::Boolean(_)
            )
    )
}

/// A user read from the database for the index: users.id, the native
/// fields, and the attributes apart.
pub type Loaded = (i64, User, Vec<(String, AttrValue)>);

/// A change the writer committed, for the index.
#[derive(Clone, Debug)]
pub enum Change {
    /// The whole profile: it replaces what the index held.
    Upsert {
        workspace: i64,
        uid: i64,
        user: Box<User>,
    },
    /// The native fields (`user.attributes` is not read) and the attributes
    /// set or removed (`None`); the others are as the index holds them.
    Patch {
        workspace: i64,
        uid: i64,
        user: Box<User>,
        attrs: Vec<(String, Option<AttrValue>)>,
    },
    Remove {
        workspace: i64,
        uid: i64,
    },
}

/// Every workspace's index, behind one lock: readers share it, the writer
/// takes it alone to apply a committed group whole. While it is first
/// filled from the database (`loading`), the server answers conditions in
/// SQL, and the users the writer changes meanwhile are remembered so the
/// loader does not put older copies of them back.
#[derive(Debug, Default)]
pub struct SegmentIndex {
    workspaces: RwLock<HashMap<i64, WorkspaceIndex>>,
    ready: AtomicBool,
    /// (workspace, uid) changed by the writer during the load.
    changed_while_loading: Mutex<HashSet<(i64, i64)>>,
}

impl SegmentIndex {
    /// An index to fill: not ready until `loaded`.
    pub fn loading() -> SegmentIndex {
        SegmentIndex::default()
    }

    /// Whether it holds every user (conditions may be answered from it).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Applies a committed group's changes at once.
    pub fn apply(&self, changes: &[Change]) {
        if changes.is_empty() {
            return;
        }
        let mut all = self.workspaces.write().unwrap_or_else(|p| p.into_inner());
        if !self.is_ready() {
            let mut changed = lock(&self.changed_while_loading);
            changed.extend(changes.iter().map(|c| match c {
                Change::Upsert { workspace, uid, .. }
                | Change::Patch { workspace, uid, .. }
                | Change::Remove { workspace, uid } => (*workspace, *uid),
            }));
        }
        for change in changes {
            match change {
                Change::Upsert {
                    workspace,
                    uid,
                    user,
                } => all.entry(*workspace).or_default().upsert(*uid, user),
                Change::Patch {
                    workspace,
                    uid,
                    user,
                    attrs,
                } => all.entry(*workspace).or_default().patch(*uid, user, attrs),
                Change::Remove { workspace, uid } => {
                    if let Some(w) = all.get_mut(workspace) {
                        w.remove(*uid);
                    }
                }
            }
        }
    }

    /// Puts users read from the database in, but not those the writer
    /// changed since the load began (the index has them newer). At start,
    /// and again after a bulk insert that bypassed the writer.
    pub fn load(&self, workspace: i64, users: &[Loaded]) {
        let mut all = self.workspaces.write().unwrap_or_else(|p| p.into_inner());
        let changed = lock(&self.changed_while_loading);
        let index = all.entry(workspace).or_default();
        for (uid, user, attrs) in users {
            if !changed.contains(&(workspace, *uid)) {
                index.put(*uid, user, attrs.iter().map(|(n, v)| (n.as_str(), v)));
            }
        }
    }

    /// The load is over: conditions are answered from the index from now on.
    pub fn loaded(&self) {
        let _all = self.workspaces.write().unwrap_or_else(|p| p.into_inner());
        lock(&self.changed_while_loading).clear();
        self.ready.store(true, Ordering::Release);
    }

    /// Reads the workspace's index (an empty one if it has no user yet).
    pub fn read<R>(&self, workspace: i64, f: impl FnOnce(&WorkspaceIndex) -> R) -> R {
        let all = self.workspaces.read().unwrap_or_else(|p| p.into_inner());
        match all.get(&workspace) {
            Some(w) => f(w),
            None => f(&WorkspaceIndex::default()),
        }
    }

    /// Users held and bytes used, over every workspace.
    pub fn size(&self) -> (u64, usize) {
        let all = self.workspaces.read().unwrap_or_else(|p| p.into_inner());
        all.values()
            .fold((0, 0), |(n, b), w| (n + w.len(), b + w.heap_bytes()))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::attribute::AttrType;
    use crate::model::condition::{Checked, Condition, Schema};
    use serde_json::json;

    fn user(jimer: &str, email: &str) -> User {
        User {
            jimer_id: jimer.into(),
            user_id: None,
            name: None,
            email: Some(email.into()),
            language: None,
            first_seen: None,
            last_activity: None,
            sessions: 1,
            created: chrono::DateTime::from_timestamp_millis(0).unwrap(),
            tags: Vec::new(),
            attributes: Vec::new(),
        }
    }

    fn checked(c: serde_json::Value) -> Checked {
        let types = |n: &str| match n {
            "plan" => Some(AttrType::String),
            "mrr" => Some(AttrType::Number),
            _ => None,
        };
        Condition::parse(&c)
            .unwrap()
            .check(&Schema {
                attribute: &types,
                segment: &|_| None,
                this: None,
            })
            .unwrap()
    }

    /// Users whose slot decides `c` true, and the same from the bitmap.
    fn members(w: &WorkspaceIndex, c: &Checked) -> (Vec<i64>, Vec<i64>) {
        let by_bitmap: Vec<i64> = w.uids(&w.eval(c.root(), 0)).collect();
        let mut by_slot: Vec<i64> = [1, 2]
            .into_iter()
            .filter(|uid| w.slot(*uid).is_some_and(|s| w.decide(s, c.root(), 0)))
            .collect();
        by_slot.sort();
        (by_bitmap, by_slot)
    }

    #[test]
    fn a_patch_changes_only_the_attributes_it_names() {
        let mut w = WorkspaceIndex::default();
        let plan = |p: &str| AttrValue::String(p.into());
        let a = [
            ("plan".to_string(), plan("Pro")),
            ("mrr".into(), AttrValue::Number(900.0)),
        ];
        w.put(
            1,
            &user("j1", "a@x.io"),
            a.iter().map(|(n, v)| (n.as_str(), v)),
        );
        w.put(
            2,
            &user("j2", "b@x.io"),
            a.iter().map(|(n, v)| (n.as_str(), v)),
        );
        let pro_rich = checked(json!({"all": [
            {"attribute": "plan", "op": "is", "value": "Pro"},
            {"attribute": "mrr", "op": "gt", "value": 500}
        ]}));
        assert_eq!(members(&w, &pro_rich), (vec![1, 2], vec![1, 2]));

        // User 2: plan changed, mrr removed, email unchanged; user 1 untouched.
        w.patch(
            2,
            &user("j2", "b@x.io"),
            &[("plan".into(), Some(plan("Free"))), ("mrr".into(), None)],
        );
        assert_eq!(members(&w, &pro_rich), (vec![1], vec![1]));
        let no_mrr = checked(json!({"attribute": "mrr", "op": "is_not_set"}));
        assert_eq!(members(&w, &no_mrr), (vec![2], vec![2]));
        let free = checked(json!({"attribute": "plan", "op": "is", "value": "Free"}));
        assert_eq!(members(&w, &free), (vec![2], vec![2]));
        let email = checked(json!({"attribute": "email", "op": "ends_with", "value": "@x.io"}));
        assert_eq!(members(&w, &email), (vec![1, 2], vec![1, 2]));

        // Writing the same texts again does not grow the arena.
        let before = w.heap_bytes();
        for _ in 0..100 {
            w.patch(2, &user("j2", "b@x.io"), &[]);
        }
        assert_eq!(w.heap_bytes(), before);
    }
}
