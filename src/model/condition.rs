//! Conditions (API.md "Conditions"): the tree segments and filters store,
//! its validation against the workspace's attributes and segments, and its
//! evaluation for one user. The SQL form of the same rules lives in
//! `server::store`; both must agree (a property test holds them equal).

use crate::model::attribute::{parse_date, AttrType, AttrValue};
use crate::model::profile::User;
use serde_json::{json, Value as Json};

#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    None(Vec<Condition>),
    Rule(Rule),
    /// Membership of another segment (`in`) or its absence (`not_in`).
    Segment {
        id: i64,
        member: bool,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub attribute: String,
    pub op: Op,
    pub value: Option<Json>,
    pub case_sensitive: bool,
}

macro_rules! ops {
    ($($variant:ident = $name:literal),* $(,)?) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Op { $($variant),* }
        /// Every operator with its name in the API.
        pub const OPS: &[(&str, Op)] = &[$(($name, Op::$variant)),*];
    };
}

ops! {
    IsSet = "is_set", IsNotSet = "is_not_set", Is = "is", IsNot = "is_not",
    In = "in", NotIn = "not_in", Contains = "contains", NotContains = "not_contains",
    StartsWith = "starts_with", EndsWith = "ends_with", Matches = "matches",
    Gt = "gt", Gte = "gte", Lt = "lt", Lte = "lte", Between = "between",
    DaysAgoGt = "days_ago_gt", DaysAgoLt = "days_ago_lt", DaysAgoEq = "days_ago_eq",
    DaysAheadLt = "days_ahead_lt", ContainsAny = "contains_any", ContainsAll = "contains_all",
    IsEmpty = "is_empty", IsNotEmpty = "is_not_empty",
    VersionIs = "version_is", VersionGt = "version_gt", VersionGte = "version_gte",
    VersionLt = "version_lt", VersionLte = "version_lte",
}

impl Op {
    pub fn name(self) -> &'static str {
        OPS.iter().find(|(_, o)| *o == self).map_or("?", |(n, _)| n)
    }

    /// The types the operator applies to.
    pub fn types(self) -> &'static [AttrType] {
        use AttrType::*;
        match self {
            Op::IsSet | Op::IsNotSet => &[String, Number, Boolean, Date, Array],
            Op::Is | Op::IsNot => &[String, Number, Boolean, Date],
            Op::In | Op::NotIn => &[String, Number],
            Op::Contains | Op::NotContains => &[String, Array],
            Op::StartsWith | Op::EndsWith | Op::Matches => &[String],
            Op::Gt | Op::Gte | Op::Lt | Op::Lte | Op::Between => &[Number, Date],
            Op::DaysAgoGt | Op::DaysAgoLt | Op::DaysAgoEq | Op::DaysAheadLt => &[Date],
            Op::ContainsAny | Op::ContainsAll => &[Array],
            Op::IsEmpty | Op::IsNotEmpty => &[Array, String],
            Op::VersionIs | Op::VersionGt | Op::VersionGte | Op::VersionLt | Op::VersionLte => {
                &[String]
            }
        }
    }

    /// The operator in words, as the builder offers it for a type.
    pub fn label(self, t: AttrType) -> &'static str {
        let date = t == AttrType::Date;
        match self {
            Op::IsSet => "is set",
            Op::IsNotSet => "is not set",
            Op::Is if date => "is on",
            Op::Is => "is",
            Op::IsNot if date => "is not on",
            Op::IsNot => "is not",
            Op::In => "is any of",
            Op::NotIn => "is none of",
            Op::Contains => "contains",
            Op::NotContains => "does not contain",
            Op::StartsWith => "starts with",
            Op::EndsWith => "ends with",
            Op::Matches => "matches the pattern",
            Op::Gt if date => "is after",
            Op::Gt => "is more than",
            Op::Gte if date => "is on or after",
            Op::Gte => "is at least",
            Op::Lt if date => "is before",
            Op::Lt => "is less than",
            Op::Lte if date => "is on or before",
            Op::Lte => "is at most",
            Op::Between => "is between",
            Op::DaysAgoGt => "is more than … days ago",
            Op::DaysAgoLt => "is less than … days ago",
            Op::DaysAgoEq => "is exactly … days ago",
            Op::DaysAheadLt => "is in the next … days",
            Op::ContainsAny => "contains any of",
            Op::ContainsAll => "contains all of",
            Op::IsEmpty => "is empty",
            Op::IsNotEmpty => "is not empty",
            Op::VersionIs => "is version",
            Op::VersionGt => "is a version after",
            Op::VersionGte => "is this version or later",
            Op::VersionLt => "is a version before",
            Op::VersionLte => "is this version or earlier",
        }
    }

    pub fn parse(name: &str) -> Option<Op> {
        OPS.iter().find(|(n, _)| *n == name).map(|(_, o)| *o)
    }

    /// What the value is: none, one, a list, two (`between`) or days.
    pub fn arity(self) -> Arity {
        match self {
            Op::IsSet | Op::IsNotSet | Op::IsEmpty | Op::IsNotEmpty => Arity::None,
            Op::In | Op::NotIn | Op::ContainsAny | Op::ContainsAll => Arity::List,
            Op::Between => Arity::Range,
            Op::DaysAgoGt | Op::DaysAgoLt | Op::DaysAgoEq | Op::DaysAheadLt => Arity::Days,
            _ => Arity::One,
        }
    }

    /// Operators a user lacking the attribute matches (API.md).
    pub fn matches_missing(self) -> bool {
        matches!(self, Op::IsNotSet | Op::IsNot | Op::NotIn | Op::NotContains)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    None,
    One,
    List,
    Range,
    Days,
}

/// What is wrong, and where: `all[2].value` and so on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at {path})")]
pub struct ConditionError {
    pub path: String,
    pub message: String,
}

fn err(path: &str, message: impl Into<String>) -> ConditionError {
    ConditionError {
        path: if path.is_empty() {
            "condition".into()
        } else {
            path.into()
        },
        message: message.into(),
    }
}

/// Deepest nesting and most rules a condition may hold.
pub const MAX_DEPTH: usize = 16;
pub const MAX_RULES: usize = 200;
/// Most items in a rule's list value (`in`, `contains_any`, ...).
pub const MAX_LIST: usize = 1000;
/// Longest regular expression, in bytes of compiled program.
const REGEX_SIZE: usize = 1 << 16;

/// The type of a native field, or None when `name` is not one.
pub fn native_type(name: &str) -> Option<AttrType> {
    Some(match name {
        "user_id" | "jimer_id" | "name" | "email" | "language" => AttrType::String,
        "first_seen" | "last_activity" | "created" => AttrType::Date,
        "sessions" => AttrType::Number,
        "tags" => AttrType::Array,
        "identified" => AttrType::Boolean,
        _ => return None,
    })
}

impl Condition {
    /// Reads the JSON form; checks its shape, not its meaning (see `check`).
    pub fn parse(v: &Json) -> Result<Condition, ConditionError> {
        let mut rules = 0;
        parse_at(v, "", 0, &mut rules)
    }

    pub fn to_json(&self) -> Json {
        match self {
            Condition::All(c) => {
                json!({"all": c.iter().map(Condition::to_json).collect::<Vec<_>>()})
            }
            Condition::Any(c) => {
                json!({"any": c.iter().map(Condition::to_json).collect::<Vec<_>>()})
            }
            Condition::None(c) => {
                json!({"none": c.iter().map(Condition::to_json).collect::<Vec<_>>()})
            }
            Condition::Segment { id, member } => {
                json!({"segment": id, "op": if *member { "in" } else { "not_in" }})
            }
            Condition::Rule(r) => {
                let mut o = json!({"attribute": r.attribute, "op": r.op.name()});
                if let Some(v) = &r.value {
                    o["value"] = v.clone();
                }
                if r.case_sensitive {
                    o["case_sensitive"] = Json::Bool(true);
                }
                o
            }
        }
    }

    /// The segments this condition names directly.
    pub fn segments(&self) -> Vec<i64> {
        let mut out = Vec::new();
        self.walk(&mut |c| {
            if let Condition::Segment { id, .. } = c {
                out.push(*id);
            }
        });
        out
    }

    fn walk(&self, f: &mut dyn FnMut(&Condition)) {
        f(self);
        if let Condition::All(c) | Condition::Any(c) | Condition::None(c) = self {
            for x in c {
                x.walk(f);
            }
        }
    }
}

fn parse_at(
    v: &Json,
    path: &str,
    depth: usize,
    rules: &mut usize,
) -> Result<Condition, ConditionError> {
    if depth > MAX_DEPTH {
        return Err(err(path, format!("nests deeper than {MAX_DEPTH} groups")));
    }
    let Some(o) = v.as_object() else {
        return Err(err(path, "a condition is a JSON object such as {\"all\": [...]} or {\"attribute\": \"plan\", \"op\": \"is\", \"value\": \"Pro\"}"));
    };
    let at = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    for (key, group) in [("all", 0), ("any", 1), ("none", 2)] {
        if let Some(list) = o.get(key) {
            if o.len() != 1 {
                return Err(err(path, format!("a group holds only `{key}`")));
            }
            let Some(items) = list.as_array() else {
                return Err(err(&at(key), "a group is a list of conditions"));
            };
            let children = items
                .iter()
                .enumerate()
                .map(|(i, c)| parse_at(c, &format!("{}[{i}]", at(key)), depth + 1, rules))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(match group {
                0 => Condition::All(children),
                1 => Condition::Any(children),
                _ => Condition::None(children),
            });
        }
    }
    *rules += 1;
    if *rules > MAX_RULES {
        return Err(err(
            path,
            format!("a condition holds at most {MAX_RULES} rules"),
        ));
    }
    let op_name = o.get("op").and_then(Json::as_str);
    if let Some(seg) = o.get("segment") {
        let known = ["segment", "op"];
        if let Some(k) = o.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(err(path, format!("unknown member `{k}` in a segment rule")));
        }
        let Some(id) = seg.as_i64() else {
            return Err(err(&at("segment"), "a segment is named by its numeric id"));
        };
        let member = match op_name {
            Some("in") => true,
            Some("not_in") => false,
            _ => return Err(err(&at("op"), "a segment rule's op is `in` or `not_in`")),
        };
        return Ok(Condition::Segment { id, member });
    }
    let known = ["attribute", "op", "value", "case_sensitive"];
    if let Some(k) = o.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(err(path, format!("unknown member `{k}`: a condition is a group (`all`, `any`, `none`), an attribute rule or a segment rule")));
    }
    let Some(attribute) = o.get("attribute").and_then(Json::as_str) else {
        return Err(err(
            &at("attribute"),
            "a rule names its attribute as a string",
        ));
    };
    let Some(op_name) = op_name else {
        return Err(err(&at("op"), "a rule needs an `op` such as \"is\""));
    };
    let Some(op) = Op::parse(op_name) else {
        return Err(err(
            &at("op"),
            format!(
                "unknown operator {op_name:?}; use one of {}",
                OPS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ),
        ));
    };
    let case_sensitive = match o.get("case_sensitive") {
        None => false,
        Some(Json::Bool(b)) => *b,
        Some(_) => {
            return Err(err(
                &at("case_sensitive"),
                "`case_sensitive` is true or false",
            ))
        }
    };
    Ok(Condition::Rule(Rule {
        attribute: attribute.to_string(),
        op,
        value: o.get("value").cloned(),
        case_sensitive,
    }))
}

/// A rule with its value read for its attribute's type.
#[derive(Clone, Debug)]
pub enum Operand {
    None,
    Text(String),
    Texts(Vec<String>),
    Num(f64),
    Nums(Vec<f64>),
    Range(f64, f64),
    Bool(bool),
    /// Milliseconds since the epoch.
    Instant(i64),
    Days(i64),
    Regex(Box<regex::Regex>),
    Version(String),
}

/// A condition checked against a workspace: ready to evaluate, here or as
/// SQL (`server::store::conditions`). Segment references hold the checked
/// condition of the segment they name, so a checked tree stands alone.
#[derive(Clone, Debug)]
pub struct Checked {
    node: Node,
}

#[derive(Clone, Debug)]
pub enum Node {
    All(Vec<Node>),
    Any(Vec<Node>),
    None(Vec<Node>),
    Rule {
        attribute: String,
        /// The attribute's type (native fields included).
        attr_type: AttrType,
        op: Op,
        operand: Operand,
        case_sensitive: bool,
    },
    Segment {
        id: i64,
        member: bool,
        condition: Box<Node>,
    },
}

/// What a condition is checked against.
pub struct Schema<'a> {
    /// The type of a custom attribute key (native fields are known).
    pub attribute: &'a dyn Fn(&str) -> Option<AttrType>,
    /// The condition of a saved segment.
    pub segment: &'a dyn Fn(i64) -> Option<Condition>,
    /// The segment being saved, if any: it may not refer to itself.
    pub this: Option<i64>,
}

impl Condition {
    /// Checks every rule (attribute known, operator fits its type, value of
    /// the right shape, regular expression valid) and every segment
    /// reference (known, no cycle back to `schema.this`).
    pub fn check(&self, schema: &Schema<'_>) -> Result<Checked, ConditionError> {
        // Cycles first: checking follows segment references.
        let mut seen = Vec::new();
        for id in self.segments() {
            no_cycle(id, schema, &mut seen, "")?;
        }
        Ok(Checked {
            node: check_at(self, "", schema)?,
        })
    }
}

fn no_cycle(
    id: i64,
    schema: &Schema<'_>,
    path: &mut Vec<i64>,
    at: &str,
) -> Result<(), ConditionError> {
    if Some(id) == schema.this || path.contains(&id) {
        return Err(err(
            at,
            format!("segment {id} refers back to itself through {:?}", path),
        ));
    }
    let Some(c) = (schema.segment)(id) else {
        return Err(err(at, format!("no segment has the id {id}")));
    };
    path.push(id);
    for next in c.segments() {
        no_cycle(next, schema, path, at)?;
    }
    path.pop();
    Ok(())
}

fn check_at(c: &Condition, path: &str, schema: &Schema<'_>) -> Result<Node, ConditionError> {
    let group = |key: &str, list: &[Condition]| -> Result<Vec<Node>, ConditionError> {
        list.iter()
            .enumerate()
            .map(|(i, c)| {
                let p = if path.is_empty() {
                    format!("{key}[{i}]")
                } else {
                    format!("{path}.{key}[{i}]")
                };
                check_at(c, &p, schema)
            })
            .collect()
    };
    Ok(match c {
        Condition::All(l) => Node::All(group("all", l)?),
        Condition::Any(l) => Node::Any(group("any", l)?),
        Condition::None(l) => Node::None(group("none", l)?),
        Condition::Segment { id, member } => {
            let Some(c) = (schema.segment)(*id) else {
                return Err(err(path, format!("no segment has the id {id}")));
            };
            let condition = check_at(&c, "", schema).map_err(|e| {
                err(
                    path,
                    format!(
                        "segment {id} no longer holds: {} (at {})",
                        e.message, e.path
                    ),
                )
            })?;
            Node::Segment {
                id: *id,
                member: *member,
                condition: Box::new(condition),
            }
        }
        Condition::Rule(r) => {
            let attr_type = native_type(&r.attribute)
                .or_else(|| (schema.attribute)(&r.attribute))
                .ok_or_else(|| {
                    err(
                        path,
                        format!("no user has an attribute named {:?}", r.attribute),
                    )
                })?;
            if !r.op.types().contains(&attr_type) {
                return Err(err(
                    path,
                    format!(
                        "`{}` does not apply to {} `{}`; it applies to {}",
                        r.op.name(),
                        attr_type.as_str(),
                        r.attribute,
                        r.op.types()
                            .iter()
                            .map(|t| t.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            let vpath = if path.is_empty() {
                "value".to_string()
            } else {
                format!("{path}.value")
            };
            let operand = operand(r, attr_type, &vpath)?;
            Node::Rule {
                attribute: r.attribute.clone(),
                attr_type,
                op: r.op,
                operand,
                case_sensitive: r.case_sensitive,
            }
        }
    })
}

/// Case-insensitive comparisons fold A-Z only: the one folding that
/// SQLite's `lower()`, PostgreSQL's `lower(.. COLLATE "C")` and this agree on.
pub fn fold(s: &str, case_sensitive: bool) -> String {
    if case_sensitive {
        s.to_string()
    } else {
        s.to_ascii_lowercase()
    }
}

fn operand(r: &Rule, t: AttrType, path: &str) -> Result<Operand, ConditionError> {
    let v = r.value.as_ref();
    let need = |what: &str| err(path, format!("`{}` needs {what}", r.op.name()));
    let text = |v: Option<&Json>| v.and_then(Json::as_str).map(|s| fold(s, r.case_sensitive));
    let instant = |v: Option<&Json>| {
        v.and_then(Json::as_str)
            .and_then(parse_date)
            .map(|d| d.timestamp_millis())
    };
    let whole_days = |v: Option<&Json>| {
        v.and_then(Json::as_i64)
            .filter(|d| (0..=36_500).contains(d))
    };
    if v.and_then(Json::as_array)
        .is_some_and(|l| l.len() > MAX_LIST)
    {
        return Err(err(path, format!("a list holds at most {MAX_LIST} items")));
    }
    Ok(match r.op {
        Op::IsSet | Op::IsNotSet | Op::IsEmpty | Op::IsNotEmpty => {
            if v.is_some_and(|v| !v.is_null()) {
                return Err(err(path, format!("`{}` takes no value", r.op.name())));
            }
            Operand::None
        }
        Op::Is | Op::IsNot => match t {
            AttrType::String => Operand::Text(text(v).ok_or_else(|| need("a string"))?),
            AttrType::Number => {
                Operand::Num(v.and_then(Json::as_f64).ok_or_else(|| need("a number"))?)
            }
            AttrType::Boolean => Operand::Bool(
                v.and_then(Json::as_bool)
                    .ok_or_else(|| need("true or false"))?,
            ),
            AttrType::Date => Operand::Instant(
                instant(v).ok_or_else(|| need("an ISO date such as \"2026-06-15\""))?,
            ),
            AttrType::Array => return Err(need("a scalar")),
        },
        Op::In | Op::NotIn => {
            let items = v.and_then(Json::as_array).ok_or_else(|| need("a list"))?;
            match t {
                AttrType::Number => Operand::Nums(
                    items
                        .iter()
                        .map(Json::as_f64)
                        .collect::<Option<_>>()
                        .ok_or_else(|| need("a list of numbers"))?,
                ),
                _ => Operand::Texts(
                    items
                        .iter()
                        .map(|i| text(Some(i)))
                        .collect::<Option<_>>()
                        .ok_or_else(|| need("a list of strings"))?,
                ),
            }
        }
        Op::Contains | Op::NotContains | Op::StartsWith | Op::EndsWith => {
            Operand::Text(text(v).ok_or_else(|| need("a string"))?)
        }
        Op::Matches => {
            let pattern = v
                .and_then(Json::as_str)
                .ok_or_else(|| need("a regular expression"))?;
            let re = regex::RegexBuilder::new(pattern)
                .case_insensitive(!r.case_sensitive)
                .size_limit(REGEX_SIZE)
                .build()
                .map_err(|e| {
                    err(
                        path,
                        format!("not a valid regular expression (RE2 syntax): {e}"),
                    )
                })?;
            Operand::Regex(Box::new(re))
        }
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => match t {
            AttrType::Date => Operand::Instant(instant(v).ok_or_else(|| need("an ISO date"))?),
            _ => Operand::Num(v.and_then(Json::as_f64).ok_or_else(|| need("a number"))?),
        },
        Op::Between => {
            let pair = v.and_then(Json::as_array).filter(|a| a.len() == 2);
            let read = |j: Option<&Json>| match t {
                AttrType::Date => instant(j).map(|x| x as f64),
                _ => j.and_then(Json::as_f64),
            };
            match pair.map(|p| (read(p.first()), read(p.get(1)))) {
                Some((Some(lo), Some(hi))) => Operand::Range(lo, hi),
                _ => return Err(need("[low, high]: two numbers, or two ISO dates")),
            }
        }
        Op::DaysAgoGt | Op::DaysAgoLt | Op::DaysAgoEq | Op::DaysAheadLt => {
            Operand::Days(whole_days(v).ok_or_else(|| need("a whole number of days (0 to 36500)"))?)
        }
        Op::ContainsAny | Op::ContainsAll => Operand::Texts(
            v.and_then(Json::as_array)
                .and_then(|a| a.iter().map(|i| text(Some(i))).collect::<Option<Vec<_>>>())
                .ok_or_else(|| need("a list of strings"))?,
        ),
        Op::VersionIs | Op::VersionGt | Op::VersionGte | Op::VersionLt | Op::VersionLte => {
            Operand::Version(version_key(
                v.and_then(Json::as_str)
                    .ok_or_else(|| need("a version such as \"2.3.0\""))?,
            ))
        }
    })
}

/// A version as a string that compares like the version: a leading `v` and
/// build metadata (`+...`) dropped, numeric parts padded, and a release
/// sorting after its pre-releases (`1.0.0` > `1.0.0-rc.1`). The same key as
/// GrowthBook's `paddedVersionString`, so versions compare as there.
pub fn version_key(s: &str) -> String {
    let s = s.trim();
    let s = s.strip_prefix('v').unwrap_or(s);
    let s = s.split('+').next().unwrap_or_default();
    let mut parts: Vec<String> = s.split(['-', '.']).map(str::to_string).collect();
    if parts.len() == 3 {
        parts.push("~".into());
    }
    parts
        .iter()
        .map(|p| {
            if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
                format!("{p:>5}")
            } else {
                p.clone()
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

const DAY_MS: i64 = 86_400_000;

/// A user's value of an attribute, native fields included.
pub fn value_of(user: &User, name: &str) -> Option<AttrValue> {
    let text = |v: &Option<String>| v.clone().map(AttrValue::String);
    match name {
        "user_id" => text(&user.user_id),
        "jimer_id" => Some(AttrValue::String(user.jimer_id.clone())),
        "name" => text(&user.name),
        "email" => text(&user.email),
        "language" => text(&user.language),
        "first_seen" => user.first_seen.map(AttrValue::Date),
        "last_activity" => user.last_activity.map(AttrValue::Date),
        "created" => Some(AttrValue::Date(user.created)),
        "sessions" => Some(AttrValue::Number(user.sessions as f64)),
        "tags" => Some(AttrValue::Array(user.tags.clone())),
        "identified" => Some(AttrValue::Boolean(user.user_id.is_some())),
        _ => user
            .attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.value.clone()),
    }
}

impl Checked {
    /// Whether `user` matches at `now` (ms since the epoch).
    pub fn matches(&self, user: &User, now: i64) -> bool {
        eval(&self.node, user, now)
    }

    pub fn root(&self) -> &Node {
        &self.node
    }
}

fn eval(n: &Node, user: &User, now: i64) -> bool {
    match n {
        Node::All(c) => c.iter().all(|x| eval(x, user, now)),
        Node::Any(c) => c.iter().any(|x| eval(x, user, now)),
        Node::None(c) => !c.iter().any(|x| eval(x, user, now)),
        Node::Segment {
            member, condition, ..
        } => eval(condition, user, now) == *member,
        Node::Rule {
            attribute,
            op,
            operand,
            case_sensitive,
            ..
        } => match value_of(user, attribute) {
            None => op.matches_missing(),
            Some(v) => rule(*op, operand, &v, *case_sensitive, now),
        },
    }
}

/// Whether a user's value `v` passes a rule (the user has the attribute).
pub fn rule(op: Op, operand: &Operand, v: &AttrValue, cs: bool, now: i64) -> bool {
    let items: Vec<String> = match v {
        AttrValue::Number(n) => return number_rule(op, operand, *n, false, now),
        AttrValue::Date(d) => {
            return number_rule(op, operand, d.timestamp_millis() as f64, true, now)
        }
        AttrValue::String(s) => return text_rule(op, operand, s, cs),
        AttrValue::Array(a) => a.iter().map(|s| fold(s, cs)).collect(),
        AttrValue::Boolean(_) => Vec::new(),
    };
    match (op, operand) {
        (Op::IsSet, _) => true,
        (Op::IsNotSet, _) => false,
        (Op::Is | Op::IsNot, o) => {
            matches!((v, o), (AttrValue::Boolean(b), Operand::Bool(x)) if b == x) == (op == Op::Is)
        }
        (Op::NotIn, _) => true,
        (Op::Contains | Op::NotContains, Operand::Text(t)) => {
            items.contains(t) == (op == Op::Contains)
        }
        (Op::ContainsAny, Operand::Texts(l)) => l.iter().any(|x| items.contains(x)),
        (Op::ContainsAll, Operand::Texts(l)) => l.iter().all(|x| items.contains(x)),
        (Op::IsEmpty | Op::IsNotEmpty, _) => {
            matches!(v, AttrValue::Array(a) if a.is_empty()) == (op == Op::IsEmpty)
        }
        _ => false,
    }
}

/// `rule` for a string. The string is not copied (the segment index runs
/// this over every user's email or name): it is compared byte by byte as
/// `fold` would leave it (ASCII folding changes single bytes only), against
/// operands folded when the rule was checked.
pub fn text_rule(op: Op, operand: &Operand, s: &str, cs: bool) -> bool {
    let h = s.as_bytes();
    // Bytes of `s`, folded, equal `t`'s.
    let same = |part: &[u8], t: &[u8]| {
        part.len() == t.len()
            && part.iter().zip(t).all(|(a, b)| {
                if cs {
                    a == b
                } else {
                    a.to_ascii_lowercase() == *b
                }
            })
    };
    // The folded string holds `t` from byte `at` on.
    let at = |at: usize, t: &str| {
        h.get(at..at + t.len())
            .is_some_and(|p| same(p, t.as_bytes()))
    };
    let is = |t: &str| same(h, t.as_bytes());
    match (op, operand) {
        (Op::IsSet, _) => true,
        (Op::IsNotSet, _) => false,
        (Op::Is | Op::IsNot, o) => matches!(o, Operand::Text(t) if is(t)) == (op == Op::Is),
        (Op::In | Op::NotIn, o) => {
            matches!(o, Operand::Texts(l) if l.iter().any(|t| is(t))) == (op == Op::In)
        }
        (Op::Contains | Op::NotContains, Operand::Text(t)) => {
            let found = t.is_empty() || h.windows(t.len()).any(|w| same(w, t.as_bytes()));
            found == (op == Op::Contains)
        }
        (Op::StartsWith, Operand::Text(t)) => at(0, t),
        (Op::EndsWith, Operand::Text(t)) => h.len() >= t.len() && at(h.len() - t.len(), t),
        (Op::Matches, Operand::Regex(re)) => re.is_match(s),
        (Op::ContainsAll, Operand::Texts(l)) => l.is_empty(),
        (Op::IsEmpty | Op::IsNotEmpty, _) => s.is_empty() == (op == Op::IsEmpty),
        (
            Op::VersionIs | Op::VersionGt | Op::VersionGte | Op::VersionLt | Op::VersionLte,
            Operand::Version(want),
        ) => {
            let have = version_key(s);
            match op {
                Op::VersionIs => have == *want,
                Op::VersionGt => have > *want,
                Op::VersionGte => have >= *want,
                Op::VersionLt => have < *want,
                _ => have <= *want,
            }
        }
        _ => false,
    }
}

/// `rule` for a number, or a date as milliseconds since the epoch (`date`).
pub fn number_rule(op: Op, operand: &Operand, x: f64, date: bool, now: i64) -> bool {
    NumTest::of(op, operand, date, now).passes(x)
}

/// A rule on numbers or dates as a test of the value alone, decided once per
/// rule: the segment index runs it over a whole column.
#[derive(Clone, Debug, PartialEq)]
pub enum NumTest<'a> {
    Always(bool),
    /// `lo <= x <= hi` (or `<` where open), or its negation.
    Within {
        lo: f64,
        lo_open: bool,
        hi: f64,
        hi_open: bool,
        negate: bool,
    },
    /// One of the values, or none of them.
    OneOf {
        values: &'a [f64],
        negate: bool,
    },
}

impl<'a> NumTest<'a> {
    pub fn of(op: Op, operand: &'a Operand, date: bool, now: i64) -> NumTest<'a> {
        let within = |lo: f64, lo_open: bool, hi: f64, hi_open: bool| NumTest::Within {
            lo,
            lo_open,
            hi,
            hi_open,
            negate: false,
        };
        let inf = f64::INFINITY;
        let day = DAY_MS as f64;
        let now_ms = now as f64;
        let test = match (op, operand) {
            (Op::IsSet, _) => NumTest::Always(true),
            (Op::IsNotSet, _) => NumTest::Always(false),
            (Op::Is | Op::IsNot, Operand::Num(y)) if !date => within(*y, false, *y, false),
            // The same day (UTC) as the instant.
            (Op::Is | Op::IsNot, Operand::Instant(y)) if date => {
                let start = (y.div_euclid(DAY_MS) * DAY_MS) as f64;
                within(start, false, start + day, true)
            }
            (Op::Is | Op::IsNot, _) => NumTest::Always(false),
            (Op::In | Op::NotIn, Operand::Nums(l)) => NumTest::OneOf {
                values: l,
                negate: false,
            },
            (Op::In | Op::NotIn, _) => NumTest::Always(false),
            // Neither text nor a list: contains nothing, and is not empty.
            (Op::Contains | Op::NotContains, Operand::Text(_)) => {
                NumTest::Always(op == Op::NotContains)
            }
            (Op::Gt | Op::Gte | Op::Lt | Op::Lte, o) => {
                let y = match o {
                    Operand::Num(y) => *y,
                    Operand::Instant(y) => *y as f64,
                    _ => return NumTest::Always(false),
                };
                match op {
                    Op::Gt => within(y, true, inf, false),
                    Op::Gte => within(y, false, inf, false),
                    Op::Lt => within(-inf, false, y, true),
                    _ => within(-inf, false, y, false),
                }
            }
            (Op::Between, Operand::Range(lo, hi)) => within(*lo, false, *hi, false),
            (Op::DaysAgoGt, Operand::Days(d)) => {
                within(-inf, false, now_ms - *d as f64 * day, true)
            }
            (Op::DaysAgoLt, Operand::Days(d)) => {
                within(now_ms - *d as f64 * day, true, now_ms, false)
            }
            // Whole days since: d <= (now - at) / day < d + 1.
            (Op::DaysAgoEq, Operand::Days(d)) if *d >= 0 => within(
                now_ms - (*d + 1) as f64 * day,
                true,
                now_ms - *d as f64 * day,
                false,
            ),
            (Op::DaysAheadLt, Operand::Days(d)) => {
                within(now_ms, false, now_ms + *d as f64 * day, true)
            }
            (Op::ContainsAll, Operand::Texts(l)) => NumTest::Always(l.is_empty()),
            (Op::IsEmpty | Op::IsNotEmpty, _) => NumTest::Always(op == Op::IsNotEmpty),
            _ => NumTest::Always(false),
        };
        match (op, test) {
            (
                Op::IsNot | Op::NotIn,
                NumTest::Within {
                    lo,
                    lo_open,
                    hi,
                    hi_open,
                    ..
                },
            ) => NumTest::Within {
                lo,
                lo_open,
                hi,
                hi_open,
                negate: true,
            },
            (Op::IsNot | Op::NotIn, NumTest::OneOf { values, .. }) => NumTest::OneOf {
                values,
                negate: true,
            },
            (Op::IsNot | Op::NotIn, NumTest::Always(b)) => NumTest::Always(!b),
            (_, t) => t,
        }
    }

    /// Whether the value `x` passes.
    #[inline]
    pub fn passes(&self, x: f64) -> bool {
        match self {
            NumTest::Always(b) => *b,
            NumTest::Within {
                lo,
                lo_open,
                hi,
                hi_open,
                negate,
            } => {
                let above = if *lo_open { x > *lo } else { x >= *lo };
                let below = if *hi_open { x < *hi } else { x <= *hi };
                (above && below) != *negate
            }
            NumTest::OneOf { values, negate } => values.contains(&x) != *negate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(attrs: &[(&str, AttrValue)]) -> User {
        crate::model::profile::sample_user(attrs)
    }

    fn types(n: &str) -> Option<AttrType> {
        match n {
            "plan" => Some(AttrType::String),
            "mrr" => Some(AttrType::Number),
            "renews" => Some(AttrType::Date),
            "features" => Some(AttrType::Array),
            "app" => Some(AttrType::String),
            _ => None,
        }
    }

    fn check(c: Json) -> Result<Checked, ConditionError> {
        let segments = |id: i64| match id {
            1 => Some(Condition::parse(&json!({"segment": 2, "op": "in"})).unwrap()),
            2 => Some(Condition::parse(&json!({"all": []})).unwrap()),
            3 => Some(Condition::parse(&json!({"segment": 1, "op": "not_in"})).unwrap()),
            _ => None,
        };
        Condition::parse(&c)?.check(&Schema {
            attribute: &types,
            segment: &segments,
            this: Some(2),
        })
    }

    fn matches(c: Json, u: &User, now: i64) -> bool {
        check(c).unwrap().matches(u, now)
    }

    #[test]
    fn errors_name_the_rule_that_is_wrong() {
        let e = |c: Json| check(c).unwrap_err();
        let bad = e(
            json!({"all": [{"attribute": "plan", "op": "is", "value": "Pro"}, {"attribute": "mrr", "op": "contains", "value": "1"}]}),
        );
        assert_eq!(bad.path, "all[1]");
        assert!(
            bad.message
                .contains("`contains` does not apply to number `mrr`"),
            "{bad}"
        );
        assert_eq!(
            e(json!({"attribute": "shoe", "op": "is_set"})).message,
            "no user has an attribute named \"shoe\""
        );
        assert_eq!(
            e(json!({"any": [{"attribute": "plan", "op": "is"}]})).path,
            "any[0].value"
        );
        assert!(
            e(json!({"attribute": "plan", "op": "matches", "value": "(["}))
                .message
                .contains("regular expression")
        );
        assert!(e(json!({"attribute": "plan", "op": "nearly"}))
            .message
            .contains("unknown operator"));
        assert!(
            e(json!({"attribute": "renews", "op": "gt", "value": "soon"}))
                .message
                .contains("ISO date")
        );
        assert!(
            e(json!({"attribute": "mrr", "op": "between", "value": [1]}))
                .message
                .contains("[low, high]")
        );
        assert!(e(json!({"segment": 9, "op": "in"}))
            .message
            .contains("no segment has the id 9"));
        assert!(
            e(json!({"segment": 1, "op": "in"}))
                .message
                .contains("refers back to itself"),
            "1 uses 2, the segment being saved"
        );
        assert!(e(json!({"segment": 3, "op": "in"}))
            .message
            .contains("refers back"));
        assert!(e(json!({"all": [], "any": []}))
            .message
            .contains("only `all`"));
        assert!(
            e(json!({"attribute": "plan", "op": "is", "value": "Pro", "colour": 1}))
                .message
                .contains("unknown member `colour`")
        );
        let mut deep = json!({"attribute": "plan", "op": "is_set"});
        for _ in 0..=MAX_DEPTH {
            deep = json!({"all": [deep]});
        }
        assert!(e(deep).message.contains("deeper"));
    }

    #[test]
    fn the_json_form_round_trips() {
        let c = json!({"all": [{"attribute": "plan", "op": "in", "value": ["Pro"], "case_sensitive": true},
                               {"none": [{"segment": 2, "op": "not_in"}]}, {"any": []}]});
        assert_eq!(Condition::parse(&c).unwrap().to_json(), c);
    }

    #[test]
    fn missing_attributes_match_only_the_negative_operators() {
        let u = user(&[]);
        let now = 0;
        for (op, value, want) in [
            ("is_not_set", None, true),
            ("is_not", Some(json!("Pro")), true),
            ("not_in", Some(json!(["Pro"])), true),
            ("not_contains", Some(json!("P")), true),
            ("is_set", None, false),
            ("is", Some(json!("Pro")), false),
            ("in", Some(json!(["Pro"])), false),
            ("starts_with", Some(json!("P")), false),
            ("is_empty", None, false),
        ] {
            let mut c = json!({"attribute": "plan", "op": op});
            if let Some(v) = value {
                c["value"] = v;
            }
            assert_eq!(matches(c, &u, now), want, "{op}");
        }
    }

    #[test]
    fn values_compare_by_type_and_case() {
        let day = 86_400_000i64;
        let now = 20_000 * day + 12 * 3_600_000;
        let renews = chrono::DateTime::from_timestamp_millis(now - 10 * day).unwrap();
        let u = user(&[
            ("plan", AttrValue::String("Pro".into())),
            ("mrr", AttrValue::Number(120.0)),
            ("renews", AttrValue::Date(renews)),
            (
                "features",
                AttrValue::Array(vec!["export".into(), "API".into()]),
            ),
            ("app", AttrValue::String("v2.10.1".into())),
        ]);
        let yes = |c: Json| assert!(matches(c.clone(), &u, now), "{c}");
        let no = |c: Json| assert!(!matches(c.clone(), &u, now), "{c}");
        yes(json!({"attribute": "plan", "op": "is", "value": "pro"}));
        no(json!({"attribute": "plan", "op": "is", "value": "pro", "case_sensitive": true}));
        yes(json!({"attribute": "email", "op": "ends_with", "value": "@ACME.io"}));
        yes(json!({"attribute": "name", "op": "matches", "value": "^sam\\b"}));
        yes(json!({"attribute": "mrr", "op": "between", "value": [100, 120]}));
        no(json!({"attribute": "mrr", "op": "gt", "value": 120}));
        yes(json!({"attribute": "mrr", "op": "in", "value": [0, 120]}));
        yes(json!({"attribute": "sessions", "op": "gte", "value": 3}));
        yes(json!({"attribute": "features", "op": "contains", "value": "api"}));
        yes(json!({"attribute": "features", "op": "contains_all", "value": ["API", "export"]}));
        no(json!({"attribute": "features", "op": "contains_any", "value": ["sso"]}));
        yes(json!({"attribute": "tags", "op": "contains", "value": "beta"}));
        yes(json!({"attribute": "identified", "op": "is", "value": true}));
        yes(json!({"attribute": "renews", "op": "days_ago_gt", "value": 9}));
        no(json!({"attribute": "renews", "op": "days_ago_gt", "value": 10}));
        yes(json!({"attribute": "renews", "op": "days_ago_eq", "value": 10}));
        yes(json!({"attribute": "renews", "op": "days_ago_lt", "value": 11}));
        no(json!({"attribute": "renews", "op": "days_ahead_lt", "value": 30}));
        let same_day = renews.format("%Y-%m-%d").to_string();
        yes(json!({"attribute": "renews", "op": "is", "value": same_day}));
        yes(json!({"attribute": "app", "op": "version_gt", "value": "2.9.0"}));
        yes(json!({"attribute": "app", "op": "version_lt", "value": "2.10.2-rc.1"}));
        no(json!({"none": [{"attribute": "plan", "op": "is_set"}]}));
        yes(
            json!({"any": [{"attribute": "plan", "op": "is_not_set"}, {"attribute": "mrr", "op": "lt", "value": 500}]}),
        );
        no(json!({"any": []}));
        yes(json!({"all": []}));
    }

    #[test]
    fn versions_order_like_semver() {
        let lt = |a: &str, b: &str| assert!(version_key(a) < version_key(b), "{a} < {b}");
        lt("1.0.0-rc.1", "1.0.0");
        lt("1.9.0", "1.10.0");
        lt("v1.2.3", "1.2.4");
        assert_eq!(version_key("1.2.3+build"), version_key("v1.2.3"));
    }

    #[test]
    fn segment_rules_ask_the_membership() {
        let u = user(&[]);
        let c = check(json!({"segment": 1, "op": "not_in"}));
        // 1 refers to 2, which is the segment being saved: refused.
        assert!(c.is_err());
        let segments = |id: i64| match id {
            7 => Some(Condition::All(Vec::new())),
            8 => Some(Condition::Any(Vec::new())),
            9 => Some(Condition::parse(&json!({"segment": 8, "op": "not_in"})).unwrap()),
            _ => None,
        };
        let check = |c: Json| {
            Condition::parse(&c)
                .unwrap()
                .check(&Schema {
                    attribute: &types,
                    segment: &segments,
                    this: None,
                })
                .unwrap()
        };
        assert!(!check(json!({"segment": 7, "op": "not_in"})).matches(&u, 0));
        assert!(check(json!({"segment": 7, "op": "in"})).matches(&u, 0));
        assert!(check(json!({"segment": 8, "op": "not_in"})).matches(&u, 0));
        assert!(check(json!({"segment": 9, "op": "in"})).matches(&u, 0));
    }

    #[test]
    fn lists_are_bounded() {
        let long: Vec<Json> = (0..=MAX_LIST).map(|i| json!(i.to_string())).collect();
        let e = check(json!({"attribute": "plan", "op": "in", "value": long})).unwrap_err();
        assert!(e.message.contains("at most"), "{e}");
    }

    /// `text_rule` compares bytes in place; it must answer as the folded
    /// copy compared with `str`'s own methods would.
    #[test]
    fn text_rules_answer_as_the_folded_copy_would() {
        let texts = [
            "",
            "a",
            "Ann",
            "ANNE",
            "Émile",
            "émile@ACME.io",
            "straße",
            "ß",
            "x@acme.io",
            "acme",
            "İstanbul",
        ];
        let operands = [
            "", "a", "ann", "acme.io", "é", "@acme.io", "émile", "ss", "É", "i̇",
        ];
        let ops = [
            Op::Is,
            Op::IsNot,
            Op::In,
            Op::NotIn,
            Op::Contains,
            Op::NotContains,
            Op::StartsWith,
            Op::EndsWith,
            Op::IsEmpty,
            Op::IsNotEmpty,
        ];
        let mut checked = 0;
        for s in texts {
            for cs in [true, false] {
                let f = fold(s, cs);
                for t in operands {
                    let list = vec![t.to_string(), "zzz".to_string()];
                    for op in ops {
                        let (operand, want) = match op {
                            Op::Is => (Operand::Text(t.into()), f == t),
                            Op::IsNot => (Operand::Text(t.into()), f != t),
                            Op::In => (Operand::Texts(list.clone()), list.contains(&f)),
                            Op::NotIn => (Operand::Texts(list.clone()), !list.contains(&f)),
                            Op::Contains => (Operand::Text(t.into()), f.contains(t)),
                            Op::NotContains => (Operand::Text(t.into()), !f.contains(t)),
                            Op::StartsWith => (Operand::Text(t.into()), f.starts_with(t)),
                            Op::EndsWith => (Operand::Text(t.into()), f.ends_with(t)),
                            Op::IsEmpty => (Operand::None, s.is_empty()),
                            _ => (Operand::None, !s.is_empty()),
                        };
                        assert_eq!(
                            text_rule(op, &operand, s, cs),
                            want,
                            "{op:?} {t:?} on {s:?} (case sensitive: {cs})"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 11 * 2 * 10 * 10);
    }
}
