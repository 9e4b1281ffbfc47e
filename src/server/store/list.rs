//! The Users list: sort orders, keyset cursors, and reading a page of a
//! view (search, attribute filter, sort) with its total, fast at a million
//! users.

use super::conditions::Prepared;
use super::definitions::type_of;
use super::users::{named_attributes_of_uids, user_row, UserRow, USER_COLUMNS};
use super::{Bind, Dialect, Store, StoreError};
use crate::model::attribute::AttrType;
use crate::model::profile::User;
use sqlx::Row;
use std::sync::Arc;

/// Sort orders of the users list: a column, ascending or descending. Users
/// without a value sort as the smallest value; sorting by an attribute lists
/// the users who have it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SortKey {
    LastActivity,
    FirstSeen,
    Created,
    Sessions,
    Name,
    Email,
    UserId,
    /// `attr:plan`: by the value of an attribute.
    Attribute(String),
}

/// The `sort` prefix of an attribute (`:` is in no attribute name).
pub const ATTRIBUTE_SORT: &str = "attr:";

pub const SORT_KEYS: &[&str] = &[
    "last_activity",
    "first_seen",
    "created",
    "sessions",
    "name",
    "email",
    "user_id",
];

impl Sort {
    /// `last_activity` (ascending) or `-last_activity` (descending), and so on.
    pub fn parse(s: &str) -> Option<Sort> {
        let (descending, name) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let key = match name {
            "last_activity" => SortKey::LastActivity,
            "first_seen" => SortKey::FirstSeen,
            "created" => SortKey::Created,
            "sessions" => SortKey::Sessions,
            "name" => SortKey::Name,
            "email" => SortKey::Email,
            "user_id" => SortKey::UserId,
            other => match other.strip_prefix(ATTRIBUTE_SORT) {
                Some(attr) if !attr.is_empty() && attr.len() <= 64 => {
                    SortKey::Attribute(attr.to_string())
                }
                _ => return None,
            },
        };
        Some(Sort { key, descending })
    }

    /// The `sort` parameter that means this order.
    pub fn name(&self) -> String {
        let key = match &self.key {
            SortKey::Attribute(a) => format!("{ATTRIBUTE_SORT}{a}"),
            k => SORT_KEYS[SORT_ORDER.iter().position(|o| o == k).unwrap_or(0)].to_string(),
        };
        if self.descending {
            format!("-{key}")
        } else {
            key
        }
    }

    /// The SQL expression sorted on; matches the indexes of the migrations.
    fn expr(&self) -> &'static str {
        match self.key {
            SortKey::LastActivity => "COALESCE(last_activity, -1)",
            SortKey::FirstSeen => "COALESCE(first_seen, -1)",
            SortKey::Created => "created",
            SortKey::Sessions => "sessions",
            SortKey::Name => "COALESCE(name, '')",
            SortKey::Email => "COALESCE(email, '')",
            SortKey::UserId => "COALESCE(user_id, '')",
            // Sorted by `list_by_attribute` instead.
            SortKey::Attribute(_) => "id",
        }
    }

    fn value_of(&self, u: &UserRow) -> CursorValue {
        let text = |v: &Option<String>| CursorValue::Text(v.clone().unwrap_or_default());
        match self.key {
            SortKey::LastActivity => CursorValue::Int(u.last_activity.unwrap_or(-1)),
            SortKey::FirstSeen => CursorValue::Int(u.first_seen.unwrap_or(-1)),
            SortKey::Created => CursorValue::Int(u.created),
            SortKey::Sessions => CursorValue::Int(u.sessions),
            SortKey::Name => text(&u.name),
            SortKey::Email => text(&u.email),
            SortKey::UserId => text(&u.user_id),
            SortKey::Attribute(_) => CursorValue::Int(u.uid),
        }
    }
}

/// The native keys, in the order of `SORT_KEYS`.
const SORT_ORDER: &[SortKey] = &[
    SortKey::LastActivity,
    SortKey::FirstSeen,
    SortKey::Created,
    SortKey::Sessions,
    SortKey::Name,
    SortKey::Email,
    SortKey::UserId,
];

impl Default for Sort {
    fn default() -> Self {
        Sort {
            key: SortKey::LastActivity,
            descending: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum CursorValue {
    Int(i64),
    Num(f64),
    Text(String),
}

/// Where a page starts: the sort value and id of the last row of the page
/// before. Opaque to callers (hex of a small JSON array).
#[derive(Clone, Debug, PartialEq)]
pub struct Cursor {
    value: CursorValue,
    uid: i64,
}

impl Cursor {
    pub fn encode(&self, sort: &Sort) -> String {
        hex::encode(serde_json::to_vec(&(sort.name(), &self.value, self.uid)).unwrap_or_default())
    }

    /// Reads a cursor that `encode` made for the same sort; anything else is None.
    pub fn decode(s: &str, sort: &Sort) -> Option<Cursor> {
        let bytes = hex::decode(s).ok()?;
        let (made_for, value, uid): (String, CursorValue, i64) =
            serde_json::from_slice(&bytes).ok()?;
        let fits = match sort.key {
            SortKey::Name | SortKey::Email | SortKey::UserId => {
                matches!(value, CursorValue::Text(_))
            }
            SortKey::Attribute(_) => !matches!(value, CursorValue::Int(_)),
            _ => matches!(value, CursorValue::Int(_)),
        };
        (fits && made_for == sort.name()).then_some(Cursor { value, uid })
    }
}

#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub search: Option<String>,
    /// Only users who have this attribute.
    pub has: Option<String>,
    pub sort: Sort,
    pub limit: usize,
    pub cursor: Option<Cursor>,
    /// Leaves `Page::total` at -1 (exports read page after page).
    pub skip_total: bool,
    /// Reads only these attributes of the page's users (None: all).
    pub attributes: Option<Vec<String>>,
    /// Only users matching this condition (a segment, a filter).
    pub condition: Option<Arc<Prepared>>,
}

#[derive(Clone, Debug)]
pub struct Page {
    pub users: Vec<User>,
    pub next_cursor: Option<String>,
    pub total: i64,
}

impl Store {
    /// A page of users: search over name, email, user id and jimer id
    /// (case-insensitive substring for name and email, exact for the ids),
    /// sorted, from a keyset cursor, with the total of the whole view.
    pub async fn list_users(&self, workspace: i64, q: &ListQuery) -> Result<Page, StoreError> {
        if let SortKey::Attribute(name) = &q.sort.key {
            return self.list_by_attribute(workspace, q, name).await;
        }
        let view = View::new(self.dialect, workspace, q);
        let total = if q.skip_total {
            -1
        } else {
            self.count_view(&view).await?
        };
        // Few users in the view: read them all and sort them. Many: walk the
        // sort's index and keep those in the view, which stops after a page
        // (at 1M users both take about 20 ms near 10,000 matches).
        let drive = (0..=10_000).contains(&total);
        let (from, mut filter, mut binds) = view.sql(drive);
        let expr = q.sort.expr();
        let (cmp, dir) = if q.sort.descending {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        if let Some(c) = &q.cursor {
            let n = binds.len();
            filter.push_str(&format!(" AND ({expr}, id) {cmp} (${}, ${})", n + 1, n + 2));
            binds.push(Bind::of(&c.value));
            binds.push(Bind::Int(c.uid));
        }
        let limit = q.limit.max(1);
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM {from} WHERE {filter} ORDER BY {expr} {dir}, id {dir} LIMIT {}",
            limit + 1
        );
        let mut query = sqlx::query(&sql);
        for b in &binds {
            query = b.bind(query);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut users: Vec<UserRow> = rows.iter().map(user_row).collect::<Result<_, _>>()?;
        let next_cursor = if users.len() > limit {
            users.truncate(limit);
            users.last().map(|u| {
                Cursor {
                    value: q.sort.value_of(u),
                    uid: u.uid,
                }
                .encode(&q.sort)
            })
        } else {
            None
        };
        self.page(
            workspace,
            users,
            next_cursor,
            total,
            q.attributes.as_deref(),
        )
        .await
    }

    /// A page of rows, with their attributes.
    async fn page(
        &self,
        workspace: i64,
        users: Vec<UserRow>,
        next_cursor: Option<String>,
        total: i64,
        only: Option<&[String]>,
    ) -> Result<Page, StoreError> {
        let uids: Vec<i64> = users.iter().map(|u| u.uid).collect();
        let mut conn = self.pool.acquire().await?;
        let attrs =
            named_attributes_of_uids(&mut conn, self.dialect, workspace, &uids, only).await?;
        let users = users
            .iter()
            .map(|u| u.to_user(attrs.get(&u.uid).map(Vec::as_slice).unwrap_or(&[])))
            .collect::<Result<_, _>>()?;
        Ok(Page {
            users,
            next_cursor,
            total,
        })
    }

    /// The users who have attribute `name`, in the order of its values
    /// (numbers and dates by value, the rest by text), read in that order
    /// from the `attributes_by_name` index.
    async fn list_by_attribute(
        &self,
        workspace: i64,
        q: &ListQuery,
        name: &str,
    ) -> Result<Page, StoreError> {
        let t = {
            let mut conn = self.pool.acquire().await?;
            type_of(&mut conn, workspace, name).await?
        };
        let Some(t) = t else {
            return Ok(Page {
                users: Vec::new(),
                next_cursor: None,
                total: 0,
            });
        };
        let numeric = matches!(t, AttrType::Number | AttrType::Date);
        let expr = if numeric { "a.num" } else { "a.value" };
        let view = View::new(self.dialect, workspace, q);
        let (_, conditions, mut binds) = view.sql(false);
        binds.push(Bind::Text(name.to_string()));
        let from = format!(
            "attributes a CROSS JOIN users WHERE a.workspace_id = $1 AND a.name = ${} AND users.id = a.uid AND {conditions}",
            binds.len()
        );
        let total = if q.skip_total {
            -1
        } else if view.has.is_none() && view.search.is_none() && view.condition.is_none() {
            self.kept_count(workspace, Some(name)).await?
        } else {
            let sql = format!("SELECT COUNT(*) FROM {from}");
            let mut query = sqlx::query_scalar::<_, i64>(&sql);
            for b in &binds {
                query = b.bind_scalar(query);
            }
            query.fetch_one(&self.pool).await?
        };
        let (cmp, dir) = if q.sort.descending {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        let mut filter = from;
        if let Some(c) = &q.cursor {
            let n = binds.len();
            filter.push_str(&format!(
                " AND ({expr}, a.uid) {cmp} (${}, ${})",
                n + 1,
                n + 2
            ));
            binds.push(Bind::of(&c.value));
            binds.push(Bind::Int(c.uid));
        }
        let columns: Vec<String> = USER_COLUMNS
            .split(", ")
            .map(|c| format!("users.{c}"))
            .collect();
        let limit = q.limit.max(1);
        let sql = format!(
            "SELECT {}, a.num AS sort_num, a.value AS sort_value FROM {filter} ORDER BY {expr} {dir}, a.uid {dir} LIMIT {}",
            columns.join(", "),
            limit + 1
        );
        let mut query = sqlx::query(&sql);
        for b in &binds {
            query = b.bind(query);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let more = rows.len() > limit;
        let rows = &rows[..rows.len().min(limit)];
        let next_cursor = match rows.last().filter(|_| more) {
            Some(r) => {
                let value = if numeric {
                    CursorValue::Num(r.try_get::<Option<f64>, _>("sort_num")?.unwrap_or(0.0))
                } else {
                    CursorValue::Text(r.try_get("sort_value")?)
                };
                Some(
                    Cursor {
                        value,
                        uid: r.try_get("id")?,
                    }
                    .encode(&q.sort),
                )
            }
            None => None,
        };
        let users = rows.iter().map(user_row).collect::<Result<Vec<_>, _>>()?;
        self.page(
            workspace,
            users,
            next_cursor,
            total,
            q.attributes.as_deref(),
        )
        .await
    }

    /// The number of users in a view. The workspace's and an attribute's
    /// totals are kept up to date as users change, so only a search counts.
    async fn count_view(&self, view: &View<'_>) -> Result<i64, StoreError> {
        if let (Some(ids), None, None) = (
            view.condition.and_then(Prepared::matched),
            view.search,
            view.has,
        ) {
            return Ok(ids.len() as i64);
        }
        if let Some(n) = self.count_search_alone(view).await? {
            return Ok(n);
        }
        if view.search.is_some() || view.condition.is_some() {
            let (from, filter, binds) = view.sql(true);
            let sql = format!("SELECT COUNT(*) FROM {from} WHERE {filter}");
            let mut query = sqlx::query_scalar::<_, i64>(&sql);
            for b in &binds {
                query = b.bind_scalar(query);
            }
            return Ok(query.fetch_one(&self.pool).await?);
        }
        self.kept_count(view.workspace, view.has).await
    }

    /// The users of the workspace, or those who have attribute `has`: both
    /// counts are kept as users change.
    async fn kept_count(&self, workspace: i64, has: Option<&str>) -> Result<i64, StoreError> {
        let sql = match has {
            None => "SELECT users_count FROM workspaces WHERE id = $1",
            Some(_) => {
                "SELECT users FROM attribute_definitions WHERE workspace_id = $1 AND name = $2"
            }
        };
        let mut query = sqlx::query_scalar::<_, i64>(sql).bind(workspace);
        if let Some(name) = has {
            query = query.bind(name);
        }
        Ok(query.fetch_optional(&self.pool).await?.unwrap_or(0))
    }
}

impl Store {
    /// A search's count straight from the trigram index, when that index
    /// holds only this workspace's users (SQLite, one workspace, no other
    /// filter): the matches, plus the user whose id is the search exactly
    /// if the index did not find them. Saves joining every match to users.
    async fn count_search_alone(&self, view: &View<'_>) -> Result<Option<i64>, StoreError> {
        let Some(search) = view.search else {
            return Ok(None);
        };
        let lower = search.to_lowercase();
        if self.dialect != Dialect::Sqlite
            || view.has.is_some()
            || view.condition.is_some()
            || lower.chars().count() < 3
        {
            return Ok(None);
        }
        let workspaces: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM workspaces")
            .fetch_one(&self.pool)
            .await?;
        if workspaces != 1 {
            return Ok(None);
        }
        let n = sqlx::query_scalar::<_, i64>(
            "SELECT (SELECT COUNT(*) FROM users_search WHERE users_search MATCH $3)
                  + (SELECT COUNT(*) FROM users WHERE workspace_id = $1 AND user_id = $2
                     AND search NOT LIKE $4 ESCAPE '\\')
                  + (SELECT COUNT(*) FROM users WHERE workspace_id = $1 AND jimer_id = $2
                     AND search NOT LIKE $4 ESCAPE '\\' AND COALESCE(user_id, '') <> $2)",
        )
        .bind(view.workspace)
        .bind(search)
        .bind(fts_phrase(&lower))
        .bind(like_pattern(&lower))
        .fetch_one(&self.pool)
        .await?;
        Ok(Some(n))
    }
}

/// An FTS5 phrase of a lowercased search: the trigram index finds it as a substring.
fn fts_phrase(lower: &str) -> String {
    format!("\"{}\"", lower.replace('"', "\"\""))
}

fn like_pattern(lower: &str) -> String {
    format!("%{}%", escape_like(lower))
}

/// The users a list shows, as SQL. A view is read one of two ways: driven
/// by the ids its most selective filter names (then sorted), or by walking
/// the workspace's users in the sort's order and keeping those that match.
struct View<'a> {
    dialect: Dialect,
    workspace: i64,
    has: Option<&'a str>,
    search: Option<&'a str>,
    condition: Option<&'a Prepared>,
}

impl<'a> View<'a> {
    fn new(dialect: Dialect, workspace: i64, q: &'a ListQuery) -> View<'a> {
        View {
            dialect,
            workspace,
            has: q.has.as_deref(),
            search: q.search.as_deref().map(str::trim).filter(|s| !s.is_empty()),
            condition: q.condition.as_deref(),
        }
    }

    fn can_drive(&self) -> bool {
        self.has.is_some() || self.search.is_some()
    }

    /// FROM clause, WHERE clause and their parameters.
    fn sql(&self, drive: bool) -> (String, String, Vec<Bind>) {
        let mut binds = vec![Bind::Int(self.workspace)];
        let mut has = None;
        if let Some(name) = self.has {
            binds.push(Bind::Text(name.to_string()));
            has = Some(binds.len());
        }
        let has_cond = |n: usize| {
            format!(
                "EXISTS (SELECT 1 FROM attributes a WHERE a.workspace_id = users.workspace_id AND a.uid = users.id AND a.name = ${n})"
            )
        };
        let like = |s: &str| Bind::Text(like_pattern(&s.to_lowercase()));
        if !drive || !self.can_drive() {
            let mut filter = "users.workspace_id = $1".to_string();
            if let Some(n) = has {
                filter.push_str(&format!(" AND {}", has_cond(n)));
            }
            if let Some(search) = self.search {
                binds.push(Bind::Text(search.to_string()));
                binds.push(like(search));
                let (e, l) = (binds.len() - 1, binds.len());
                filter.push_str(&format!(
                    " AND (user_id = ${e} OR jimer_id = ${e} OR search LIKE ${l} ESCAPE '\\')"
                ));
            }
            if let Some(c) = self.condition {
                filter.push_str(&format!(" AND {}", c.sql(self.dialect, &mut binds)));
            }
            return ("users".into(), filter, binds);
        }
        let mut filter = "users.id = m.mid AND users.workspace_id = $1".to_string();
        let ids = match self.search {
            Some(search) => {
                binds.push(Bind::Text(search.to_string()));
                let e = binds.len();
                let lower = search.to_lowercase();
                let matches = if self.dialect == Dialect::Sqlite && lower.chars().count() >= 3 {
                    binds.push(Bind::Text(fts_phrase(&lower)));
                    format!(
                        "SELECT rowid FROM users_search WHERE users_search MATCH ${}",
                        binds.len()
                    )
                } else {
                    binds.push(like(search));
                    format!(
                        "SELECT id FROM users WHERE workspace_id = $1 AND search LIKE ${} ESCAPE '\\'",
                        binds.len()
                    )
                };
                if let Some(n) = has {
                    filter.push_str(&format!(" AND {}", has_cond(n)));
                }
                format!(
                    "SELECT id AS mid FROM users WHERE workspace_id = $1 AND user_id = ${e}
                     UNION SELECT id FROM users WHERE workspace_id = $1 AND jimer_id = ${e}
                     UNION {matches}"
                )
            }
            None => format!(
                "SELECT uid AS mid FROM attributes WHERE workspace_id = $1 AND name = ${}",
                has.unwrap_or(2)
            ),
        };
        if let Some(c) = self.condition {
            filter.push_str(&format!(" AND {}", c.sql(self.dialect, &mut binds)));
        }
        // SQLite joins in the order written around CROSS JOIN.
        (format!("({ids}) AS m CROSS JOIN users"), filter, binds)
    }
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Bind {
    fn of(v: &CursorValue) -> Bind {
        match v {
            CursorValue::Int(i) => Bind::Int(*i),
            CursorValue::Num(n) => Bind::Num(*n),
            CursorValue::Text(t) => Bind::Text(t.clone()),
        }
    }
}
