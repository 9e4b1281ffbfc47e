//! Conditions as SQL: a checked condition (`model::condition`) compiled to a
//! WHERE clause over `users`, one text for SQLite and PostgreSQL but for a
//! few functions, for counts and lists. It must agree with the evaluator in
//! `model::condition` (tests/conditions.rs holds them equal on random data).
//!
//! Two kinds of rule are not translated: `matches` (RE2 syntax, which
//! neither engine speaks) and the version operators (padded version keys).
//! The evaluator runs them on the values read from the database, and they
//! enter the SQL as the list of users they keep.

use super::{Bind, Dialect, Store, StoreError};
use crate::model::attribute::{AttrType, AttrValue};
use crate::model::condition::{rule, Checked, Node, Op, Operand};
use futures_util::TryStreamExt;
use sqlx::Row;

const DAY_MS: i64 = 86_400_000;

/// A checked condition ready to be written as SQL: the rules evaluated
/// outside SQL are evaluated already.
#[derive(Clone, Debug)]
pub struct Prepared {
    checked: Checked,
    workspace: i64,
    now: i64,
    /// For each rule in walk order: the users it keeps (a JSON list of
    /// ids), when it is evaluated outside SQL.
    kept: Vec<Option<String>>,
    /// The users (ids) who match, when the segment index decided it.
    matched: Option<Vec<i64>>,
}

impl Store {
    /// Prepares `checked` for the users of `workspace` at `now` (ms).
    pub async fn prepare(
        &self,
        workspace: i64,
        checked: Checked,
        now: i64,
    ) -> Result<Prepared, StoreError> {
        if let Some(index) = self.ready_index() {
            let matched = index.read(workspace, |w| {
                let slots = w.eval(checked.root(), now);
                w.uids(&slots).collect()
            });
            return Ok(Prepared {
                checked,
                workspace,
                now,
                kept: Vec::new(),
                matched: Some(matched),
            });
        }
        let mut rules = Vec::new();
        walk_rules(checked.root(), &mut rules);
        let mut kept = Vec::with_capacity(rules.len());
        for node in rules {
            kept.push(match node {
                Node::Rule {
                    attribute,
                    op,
                    operand,
                    case_sensitive,
                    ..
                } if outside_sql(*op) => Some(
                    self.kept_by(workspace, attribute, *op, operand, *case_sensitive, now)
                        .await?,
                ),
                _ => None,
            });
        }
        Ok(Prepared {
            checked,
            workspace,
            now,
            kept,
            matched: None,
        })
    }

    /// The users whose string `attribute` passes the rule, as a JSON list.
    async fn kept_by(
        &self,
        workspace: i64,
        attribute: &str,
        op: Op,
        operand: &Operand,
        case_sensitive: bool,
        now: i64,
    ) -> Result<String, StoreError> {
        // `col` is one of a fixed set of column names.
        let sql = match native_column(attribute) {
            Some(col) => format!(
                "SELECT id, {col} AS v FROM users WHERE workspace_id = $1 AND {col} IS NOT NULL"
            ),
            None => {
                "SELECT uid AS id, value AS v FROM attributes WHERE workspace_id = $1 AND name = $2"
                    .into()
            }
        };
        let mut query = sqlx::query(&sql).bind(workspace);
        if native_column(attribute).is_none() {
            query = query.bind(attribute.to_string());
        }
        let mut rows = query.fetch(&self.pool);
        let mut ids = Vec::new();
        while let Some(row) = rows.try_next().await? {
            let value = AttrValue::String(row.try_get("v")?);
            if rule(op, operand, &value, case_sensitive, now) {
                ids.push(row.try_get::<i64, _>("id")?);
            }
        }
        Ok(serde_json::to_string(&ids).unwrap_or_default())
    }

    /// How many users match `checked` at `now`: from the index's bitmap
    /// when it is ready (no list of ids made), else in SQL.
    pub async fn count_checked(
        &self,
        workspace: i64,
        checked: Checked,
        now: i64,
    ) -> Result<i64, StoreError> {
        if let Some(index) = self.ready_index() {
            return Ok(index.read(workspace, |w| w.count(checked.root(), now)) as i64);
        }
        let prepared = self.prepare(workspace, checked, now).await?;
        self.count_matching(&prepared).await
    }

    /// How many users of the workspace match.
    pub async fn count_matching(&self, condition: &Prepared) -> Result<i64, StoreError> {
        if let Some(ids) = &condition.matched {
            return Ok(ids.len() as i64);
        }
        let mut binds = vec![Bind::Int(condition.workspace)];
        let filter = condition.sql(self.dialect, &mut binds);
        let sql = format!("SELECT COUNT(*) FROM users WHERE users.workspace_id = $1 AND {filter}");
        let mut query = sqlx::query_scalar::<_, i64>(&sql);
        for b in &binds {
            query = b.bind_scalar(query);
        }
        Ok(query.fetch_one(&self.pool).await?)
    }
}

impl Prepared {
    /// The users (ids) who match, when the segment index decided it.
    pub(crate) fn matched(&self) -> Option<&[i64]> {
        self.matched.as_deref()
    }

    /// The condition as a boolean SQL expression over the table `users`,
    /// its parameters appended to `binds` (and numbered after them).
    pub(crate) fn sql(&self, dialect: Dialect, binds: &mut Vec<Bind>) -> String {
        let mut w = Writer {
            dialect,
            workspace: self.workspace,
            now: self.now,
            kept: &self.kept,
            rule: 0,
            binds,
        };
        match &self.matched {
            Some(ids) => w.kept_sql(serde_json::to_string(ids).unwrap_or_default()),
            None => w.node(self.checked.root()),
        }
    }
}

/// Rules the evaluator decides (see the module comment).
fn outside_sql(op: Op) -> bool {
    matches!(
        op,
        Op::Matches
            | Op::VersionIs
            | Op::VersionGt
            | Op::VersionGte
            | Op::VersionLt
            | Op::VersionLte
    )
}

/// The rules of a condition in the order `Writer` meets them.
fn walk_rules<'a>(n: &'a Node, out: &mut Vec<&'a Node>) {
    match n {
        Node::All(l) | Node::Any(l) | Node::None(l) => {
            for x in l {
                walk_rules(x, out);
            }
        }
        Node::Segment { condition, .. } => walk_rules(condition, out),
        Node::Rule { .. } => out.push(n),
    }
}

/// The `users` column of a native field (`identified` is computed).
fn native_column(name: &str) -> Option<&'static str> {
    Some(match name {
        "user_id" => "user_id",
        "jimer_id" => "jimer_id",
        "name" => "name",
        "email" => "email",
        "language" => "language",
        "first_seen" => "first_seen",
        "last_activity" => "last_activity",
        "created" => "created",
        "sessions" => "sessions",
        "tags" => "tags",
        _ => return None,
    })
}

/// The positive form of a negative operator: a user lacking the attribute
/// matches the negative one, so it is written as NOT (has it AND passes).
fn positive_of(op: Op) -> Option<Op> {
    match op {
        Op::IsNotSet => Some(Op::IsSet),
        Op::IsNot => Some(Op::Is),
        Op::NotIn => Some(Op::In),
        Op::NotContains => Some(Op::Contains),
        _ => None,
    }
}

/// Where a rule's value is read: the attribute row `a`, or a users column.
struct Subject {
    /// Text of strings and the JSON of arrays.
    text: String,
    /// Numbers, dates (ms) and booleans (0, 1).
    num: String,
    /// SQL true when the user has the value (None: always).
    present: Option<String>,
}

fn native_subject(attribute: &str) -> Option<Subject> {
    if attribute == "identified" {
        return Some(Subject {
            text: String::new(),
            num: "(CASE WHEN users.user_id IS NULL THEN 0 ELSE 1 END)".into(),
            present: None,
        });
    }
    let col = native_column(attribute)?;
    let nullable = matches!(
        col,
        "user_id" | "name" | "email" | "language" | "first_seen" | "last_activity"
    );
    Some(Subject {
        text: format!("users.{col}"),
        num: format!("users.{col}"),
        present: nullable.then(|| format!("users.{col} IS NOT NULL")),
    })
}

struct Writer<'a> {
    dialect: Dialect,
    workspace: i64,
    now: i64,
    kept: &'a [Option<String>],
    /// Rules written so far (indexes `kept`).
    rule: usize,
    binds: &'a mut Vec<Bind>,
}

impl Writer<'_> {
    fn param(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }

    fn num(&mut self, x: f64) -> String {
        self.param(Bind::Num(x))
    }

    fn node(&mut self, n: &Node) -> String {
        match n {
            Node::All(l) => self.group(l, " AND ", "1 = 1"),
            Node::Any(l) => self.group(l, " OR ", "1 = 0"),
            Node::None(l) => format!("NOT {}", self.group(l, " OR ", "1 = 0")),
            Node::Segment {
                member, condition, ..
            } => {
                let inner = self.node(condition);
                if *member {
                    inner
                } else {
                    format!("NOT {inner}")
                }
            }
            Node::Rule {
                attribute,
                attr_type,
                op,
                operand,
                case_sensitive,
            } => {
                let kept = self.kept.get(self.rule).cloned().flatten();
                self.rule += 1;
                match kept {
                    Some(ids) => self.kept_sql(ids),
                    None => self.rule_sql(attribute, *attr_type, *op, operand, *case_sensitive),
                }
            }
        }
    }

    fn group(&mut self, l: &[Node], joiner: &str, empty: &str) -> String {
        if l.is_empty() {
            return format!("({empty})");
        }
        let parts: Vec<String> = l.iter().map(|x| self.node(x)).collect();
        format!("({})", parts.join(joiner))
    }

    fn kept_sql(&mut self, ids: String) -> String {
        let p = self.param(Bind::Text(ids));
        match self.dialect {
            Dialect::Sqlite => format!("users.id IN (SELECT value FROM json_each({p}))"),
            Dialect::Postgres => format!(
                "users.id IN (SELECT CAST(jsonb_array_elements_text(CAST({p} AS jsonb)) AS BIGINT))"
            ),
        }
    }

    fn rule_sql(
        &mut self,
        attribute: &str,
        t: AttrType,
        op: Op,
        operand: &Operand,
        cs: bool,
    ) -> String {
        let (op, negate) = match positive_of(op) {
            Some(p) => (p, true),
            None => (op, false),
        };
        if let Some(subject) = native_subject(attribute) {
            let test = self.test(&subject, t, op, operand, cs);
            let has = match subject.present {
                Some(p) => format!("({p} AND {test})"),
                None => format!("({test})"),
            };
            return if negate { format!("NOT {has}") } else { has };
        }
        let subject = Subject {
            text: "a.value".into(),
            num: "a.num".into(),
            present: None,
        };
        let name = self.param(Bind::Text(attribute.to_string()));
        let test = self.test(&subject, t, op, operand, cs);
        if negate {
            format!(
                "NOT EXISTS (SELECT 1 FROM attributes a WHERE a.workspace_id = users.workspace_id AND a.uid = users.id AND a.name = {name} AND {test})"
            )
        } else {
            let ws = self.param(Bind::Int(self.workspace));
            format!(
                "users.id IN (SELECT a.uid FROM attributes a WHERE a.workspace_id = {ws} AND a.name = {name} AND {test})"
            )
        }
    }

    /// Case folding as `model::condition::fold` does it (A-Z only).
    fn fold(&self, expr: &str, cs: bool) -> String {
        match (cs, self.dialect) {
            (true, _) => expr.to_string(),
            (false, Dialect::Sqlite) => format!("lower({expr})"),
            (false, Dialect::Postgres) => format!("lower({expr} COLLATE \"C\")"),
        }
    }

    /// A JSON array's elements as rows of `e.value`.
    fn elements(&self, json: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("json_each({json}) AS e"),
            Dialect::Postgres => {
                format!("jsonb_array_elements_text(CAST({json} AS jsonb)) AS e(value)")
            }
        }
    }

    /// Parameters of a list (the model folded its items already).
    fn texts(&mut self, l: &[String]) -> String {
        l.iter()
            .map(|x| self.param(Bind::Text(x.clone())))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The test of a positive operator on a user who has the value.
    fn test(&mut self, s: &Subject, t: AttrType, op: Op, operand: &Operand, cs: bool) -> String {
        let text = self.fold(&s.text, cs);
        let num = &s.num;
        match (op, operand) {
            (Op::IsSet, _) => "1 = 1".into(),
            (Op::Is, Operand::Text(x)) => format!("{text} = {}", self.param(Bind::Text(x.clone()))),
            (Op::Is, Operand::Num(x)) => format!("{num} = {}", self.num(*x)),
            (Op::Is, Operand::Bool(b)) => format!("{num} = {}", i32::from(*b)),
            (Op::Is, Operand::Instant(x)) => {
                let day = x.div_euclid(DAY_MS) * DAY_MS;
                let (lo, hi) = (self.num(day as f64), self.num((day + DAY_MS) as f64));
                format!("({num} >= {lo} AND {num} < {hi})")
            }
            (Op::In, Operand::Texts(l)) if !l.is_empty() => {
                format!("{text} IN ({})", self.texts(l))
            }
            (Op::In, Operand::Nums(l)) if !l.is_empty() => {
                let ps: Vec<String> = l.iter().map(|x| self.num(*x)).collect();
                format!("{num} IN ({})", ps.join(", "))
            }
            (Op::Contains, Operand::Text(x)) if t == AttrType::Array => {
                let e = self.elements(&s.text);
                let v = self.fold("e.value", cs);
                let p = self.param(Bind::Text(x.clone()));
                format!("EXISTS (SELECT 1 FROM {e} WHERE {v} = {p})")
            }
            (Op::Contains | Op::StartsWith | Op::EndsWith, Operand::Text(x)) if x.is_empty() => {
                "1 = 1".into()
            }
            (Op::Contains, Operand::Text(x)) => {
                let p = self.param(Bind::Text(x.clone()));
                match self.dialect {
                    Dialect::Sqlite => format!("instr({text}, {p}) > 0"),
                    Dialect::Postgres => format!("strpos({text}, {p}) > 0"),
                }
            }
            (Op::StartsWith, Operand::Text(x)) => {
                let n = x.chars().count();
                format!(
                    "substr({text}, 1, {n}) = {}",
                    self.param(Bind::Text(x.clone()))
                )
            }
            (Op::EndsWith, Operand::Text(x)) => {
                let n = x.chars().count();
                let p = self.param(Bind::Text(x.clone()));
                format!(
                    "(length({text}) >= {n} AND substr({text}, length({text}) - {n} + 1) = {p})"
                )
            }
            (Op::Gt | Op::Gte | Op::Lt | Op::Lte, Operand::Num(_) | Operand::Instant(_)) => {
                let x = match operand {
                    Operand::Num(x) => *x,
                    Operand::Instant(x) => *x as f64,
                    _ => 0.0,
                };
                let cmp = match op {
                    Op::Gt => ">",
                    Op::Gte => ">=",
                    Op::Lt => "<",
                    _ => "<=",
                };
                format!("{num} {cmp} {}", self.num(x))
            }
            (Op::Between, Operand::Range(lo, hi)) => {
                let (lo, hi) = (self.num(*lo), self.num(*hi));
                format!("({num} >= {lo} AND {num} <= {hi})")
            }
            (Op::DaysAgoGt | Op::DaysAgoLt | Op::DaysAgoEq | Op::DaysAheadLt, Operand::Days(d)) => {
                let (now, span) = (self.now as f64, (d * DAY_MS) as f64);
                let (lo, lo_cmp, hi, hi_cmp) = match op {
                    Op::DaysAgoGt => return format!("{num} < {}", self.num(now - span)),
                    Op::DaysAgoLt => (now - span, ">", now, "<="),
                    Op::DaysAgoEq => (now - span - DAY_MS as f64, ">", now - span, "<="),
                    _ => (now, ">=", now + span, "<"),
                };
                let (lo, hi) = (self.num(lo), self.num(hi));
                format!("({num} {lo_cmp} {lo} AND {num} {hi_cmp} {hi})")
            }
            (Op::ContainsAny, Operand::Texts(l)) if !l.is_empty() => {
                let e = self.elements(&s.text);
                let v = self.fold("e.value", cs);
                let ps = self.texts(l);
                format!("EXISTS (SELECT 1 FROM {e} WHERE {v} IN ({ps}))")
            }
            (Op::ContainsAll, Operand::Texts(l)) => {
                let mut want: Vec<String> = l.clone();
                want.sort();
                want.dedup();
                if want.is_empty() {
                    return "1 = 1".into();
                }
                let e = self.elements(&s.text);
                let v = self.fold("e.value", cs);
                let ps = self.texts(&want);
                format!(
                    "(SELECT COUNT(DISTINCT {v}) FROM {e} WHERE {v} IN ({ps})) = {}",
                    want.len()
                )
            }
            (Op::IsEmpty | Op::IsNotEmpty, _) => {
                let empty = if t == AttrType::Array { "'[]'" } else { "''" };
                let cmp = if op == Op::IsEmpty { "=" } else { "<>" };
                format!("{} {cmp} {empty}", s.text)
            }
            // Empty lists, and what the evaluator also never matches.
            _ => "1 = 0".into(),
        }
    }
}

impl Store {
    /// The jimer id of a user picked at random among those matching
    /// `condition` (all the workspace's users when None): one query that
    /// skips a random number of matches in id order.
    pub async fn random_match(
        &self,
        workspace: i64,
        condition: Option<&Prepared>,
    ) -> Result<Option<String>, StoreError> {
        if let Some(ids) = condition.and_then(|c| c.matched.as_ref()) {
            if ids.is_empty() {
                return Ok(None);
            }
            let uid = ids[rand::Rng::random_range(&mut rand::rng(), 0..ids.len())];
            return Ok(sqlx::query_scalar(
                "SELECT jimer_id FROM users WHERE workspace_id = $1 AND id = $2",
            )
            .bind(workspace)
            .bind(uid)
            .fetch_optional(&self.pool)
            .await?);
        }
        let mut binds = vec![Bind::Int(workspace)];
        let filter = match condition {
            Some(c) => c.sql(self.dialect, &mut binds),
            None => "1 = 1".into(),
        };
        let count_sql =
            format!("SELECT COUNT(*) FROM users WHERE users.workspace_id = $1 AND {filter}");
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
        for b in &binds {
            count = b.bind_scalar(count);
        }
        let n = count.fetch_one(&self.pool).await?;
        if n == 0 {
            return Ok(None);
        }
        let skip = rand::Rng::random_range(&mut rand::rng(), 0..n);
        binds.push(Bind::Int(skip));
        let sql = format!(
            "SELECT jimer_id FROM users WHERE users.workspace_id = $1 AND {filter} ORDER BY id LIMIT 1 OFFSET ${}",
            binds.len()
        );
        let mut query = sqlx::query_scalar::<_, String>(&sql);
        for b in &binds {
            query = b.bind_scalar(query);
        }
        Ok(query.fetch_optional(&self.pool).await?)
    }
}
