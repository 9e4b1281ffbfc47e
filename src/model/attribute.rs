//! What a valid attribute is: names, types, values, inference and conversion.
//! The one place these rules live; the server, the SDK endpoints and the
//! browser all call into it.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::fmt;

/// Longest value, in characters (an array counts its JSON text).
pub const MAX_VALUE_CHARS: usize = 700;
/// Longest attribute name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Most attributes one identify call may name.
pub const MAX_ATTRIBUTES_PER_CALL: usize = 200;

/// Native fields of a profile. They are top-level members of a User and can
/// be used in conditions, but never as custom attribute names.
pub const NATIVE_FIELDS: &[&str] = &[
    "user_id",
    "jimer_id",
    "name",
    "email",
    "language",
    "first_seen",
    "last_activity",
    "sessions",
    "created",
    "tags",
    "identified",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttrType {
    String,
    Number,
    Boolean,
    Date,
    Array,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Number => "number",
            AttrType::Boolean => "boolean",
            AttrType::Date => "date",
            AttrType::Array => "array",
        }
    }

    pub fn parse(s: &str) -> Option<AttrType> {
        Some(match s {
            "string" => AttrType::String,
            "number" => AttrType::Number,
            "boolean" => AttrType::Boolean,
            "date" => AttrType::Date,
            "array" => AttrType::Array,
            _ => return None,
        })
    }
}

impl fmt::Display for AttrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A typed attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    String(String),
    Number(f64),
    Boolean(bool),
    Date(DateTime<Utc>),
    Array(Vec<String>),
}

/// Why a name or value was refused. The message says what is wrong and how
/// to fix it; `code` is the stable machine-readable part.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AttrError {
    pub code: &'static str,
    pub message: String,
}

impl AttrError {
    fn new(code: &'static str, message: String) -> Self {
        AttrError { code, message }
    }
}

/// What a JSON value asks for: set a value, or remove the attribute (`null`).
#[derive(Clone, Debug, PartialEq)]
pub enum AttrChange {
    Set(AttrValue),
    Remove,
}

/// Attribute names: 1 to 64 characters, ASCII letters, digits, `_`, `-`, `.`
/// and `$`, starting with a letter, digit, `_` or `$`; case-sensitive; not a
/// native field. Dots are how integrations flatten objects (`address.city`).
pub fn validate_name(name: &str) -> Result<(), AttrError> {
    let len = name.chars().count();
    if len == 0 {
        return Err(AttrError::new(
            "invalid_attribute_name",
            "attribute names cannot be empty".into(),
        ));
    }
    if len > MAX_NAME_CHARS {
        return Err(AttrError::new(
            "invalid_attribute_name",
            format!(
                "attribute name `{}…` is {len} characters long; use at most {MAX_NAME_CHARS}",
                name.chars().take(20).collect::<String>()
            ),
        ));
    }
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$'));
    if !first_ok || !rest_ok {
        return Err(AttrError::new(
            "invalid_attribute_name",
            format!(
                "attribute name {:?} is not allowed: use ASCII letters, digits, `_`, `-`, `.` and `$`, starting with a letter, digit, `_` or `$` (for example `plan` or `address.city`)",
                name
            ),
        ));
    }
    if NATIVE_FIELDS.contains(&name) {
        return Err(AttrError::new(
            "reserved_attribute_name",
            format!(
                "`{name}` is a native field, not a custom attribute: send it as a top-level member of the request (user_id, name, email, language) or pick another name"
            ),
        ));
    }
    Ok(())
}

/// Reads a JSON value as an attribute change, inferring its type: strings in
/// ISO-8601 date or date-time form are dates, `null` removes.
pub fn parse_value(name: &str, json: &Json) -> Result<AttrChange, AttrError> {
    let value = match json {
        Json::Null => return Ok(AttrChange::Remove),
        Json::Bool(b) => AttrValue::Boolean(*b),
        Json::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() => AttrValue::Number(f),
            _ => {
                return Err(AttrError::new(
                    "invalid_attribute_value",
                    format!("`{name}`: {n} is not a finite number"),
                ))
            }
        },
        Json::String(s) => {
            check_text(name, s)?;
            match parse_date(s) {
                Some(d) => AttrValue::Date(d),
                None => AttrValue::String(s.clone()),
            }
        }
        Json::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Json::String(s) => {
                        check_text(name, s)?;
                        out.push(s.clone())
                    }
                    Json::Number(n) => out.push(n.to_string()),
                    Json::Bool(b) => out.push(b.to_string()),
                    _ => {
                        return Err(AttrError::new(
                            "invalid_attribute_value",
                            format!(
                                "`{name}`: arrays hold strings (numbers and booleans are turned into strings); found {}",
                                kind_of(item)
                            ),
                        ))
                    }
                }
            }
            AttrValue::Array(out)
        }
        Json::Object(_) => {
            return Err(AttrError::new(
                "invalid_attribute_value",
                format!(
                    "`{name}`: objects are not attribute values; flatten them to dotted names, for example `{name}.city`"
                ),
            ))
        }
    };
    check_length(name, &value)?;
    Ok(AttrChange::Set(value))
}

/// Text may hold any character but NUL, which PostgreSQL cannot store and
/// which cuts strings short in C libraries.
fn check_text(name: &str, s: &str) -> Result<(), AttrError> {
    if s.contains('\0') {
        return Err(AttrError::new(
            "invalid_attribute_value",
            format!("`{name}` holds a NUL character (\\u0000); remove it"),
        ));
    }
    Ok(())
}

fn kind_of(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn check_length(name: &str, value: &AttrValue) -> Result<(), AttrError> {
    let chars = match value {
        AttrValue::String(s) => s.chars().count(),
        AttrValue::Array(items) => serde_json::to_string(items)
            .map(|s| s.chars().count())
            .unwrap_or(usize::MAX),
        _ => 0,
    };
    if chars > MAX_VALUE_CHARS {
        return Err(AttrError::new(
            "value_too_long",
            format!(
                "`{name}` is {chars} characters long; values hold at most {MAX_VALUE_CHARS} characters (arrays count their JSON text)"
            ),
        ));
    }
    Ok(())
}

/// ISO-8601 dates (`2024-06-15`) and date-times (`2024-06-15T10:00:00Z`,
/// with an offset, fractional seconds, or no zone meaning UTC).
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    // Cheap shape test first: most strings are not dates.
    if b.len() < 10 || b.len() > 35 || b[4] != b'-' || b[7] != b'-' || !b[0].is_ascii_digit() {
        return None;
    }
    if b.len() == 10 {
        let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc());
    }
    if b[10] != b'T' && b[10] != b't' {
        return None;
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .ok()
        .map(|d| d.and_utc())
}

/// Canonical text of a date: RFC 3339 in UTC, milliseconds only when present.
pub fn format_date(d: &DateTime<Utc>) -> String {
    d.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Canonical text of a number: integers without a fraction.
pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

impl AttrValue {
    pub fn attr_type(&self) -> AttrType {
        match self {
            AttrValue::String(_) => AttrType::String,
            AttrValue::Number(_) => AttrType::Number,
            AttrValue::Boolean(_) => AttrType::Boolean,
            AttrValue::Date(_) => AttrType::Date,
            AttrValue::Array(_) => AttrType::Array,
        }
    }

    /// Converts to the key's fixed type when nothing is lost; otherwise says
    /// why not.
    pub fn convert_to(self, name: &str, target: AttrType) -> Result<AttrValue, AttrError> {
        let from = self.attr_type();
        if from == target {
            return Ok(self);
        }
        let converted = match (&self, target) {
            (AttrValue::Number(n), AttrType::String) => Some(AttrValue::String(format_number(*n))),
            (AttrValue::Boolean(b), AttrType::String) => Some(AttrValue::String(b.to_string())),
            // A date-looking string for a string key stays the text it was sent as.
            (AttrValue::Date(_), AttrType::String) => None,
            (AttrValue::String(s), AttrType::Number) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(AttrValue::Number),
            (AttrValue::String(s), AttrType::Boolean) => {
                match s.trim().to_ascii_lowercase().as_str() {
                    "true" => Some(AttrValue::Boolean(true)),
                    "false" => Some(AttrValue::Boolean(false)),
                    _ => None,
                }
            }
            (AttrValue::String(s), AttrType::Array) => Some(AttrValue::Array(vec![s.clone()])),
            (AttrValue::Number(n), AttrType::Array) => {
                Some(AttrValue::Array(vec![format_number(*n)]))
            }
            (AttrValue::Boolean(b), AttrType::Array) => Some(AttrValue::Array(vec![b.to_string()])),
            _ => None,
        };
        match converted {
            Some(v) => {
                check_length(name, &v)?;
                Ok(v)
            }
            None => Err(AttrError::new(
                "type_conflict",
                format!(
                    "`{name}` is a {target} attribute in this workspace, and {} cannot become a {target} without losing information; send a {target}, or use a new attribute name",
                    self.describe()
                ),
            )),
        }
    }

    /// Like `convert_to`, for values the caller sent as raw JSON text that
    /// was inferred as a date but the key is a string: keep the original text.
    pub fn convert_from_json(
        self,
        name: &str,
        raw: &Json,
        target: AttrType,
    ) -> Result<AttrValue, AttrError> {
        if let (AttrValue::Date(_), AttrType::String, Json::String(s)) = (&self, target, raw) {
            return Ok(AttrValue::String(s.clone()));
        }
        self.convert_to(name, target)
    }

    fn describe(&self) -> String {
        match self {
            AttrValue::String(s) => format!("the string {:?}", truncate(s, 40)),
            AttrValue::Number(n) => format!("the number {}", format_number(*n)),
            AttrValue::Boolean(b) => format!("the boolean {b}"),
            AttrValue::Date(d) => format!("the date {}", format_date(d)),
            AttrValue::Array(_) => "an array".into(),
        }
    }

    /// The canonical text stored and shown.
    pub fn to_text(&self) -> String {
        match self {
            AttrValue::String(s) => s.clone(),
            AttrValue::Number(n) => format_number(*n),
            AttrValue::Boolean(b) => b.to_string(),
            AttrValue::Date(d) => format_date(d),
            AttrValue::Array(items) => serde_json::to_string(items).unwrap_or_default(),
        }
    }

    /// The numeric column stored beside the text, for range queries: numbers,
    /// dates as milliseconds since the epoch, booleans as 0 and 1.
    pub fn to_num(&self) -> Option<f64> {
        match self {
            AttrValue::Number(n) => Some(*n),
            AttrValue::Date(d) => Some(d.timestamp_millis() as f64),
            AttrValue::Boolean(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        }
    }

    /// Reads back what `to_text` stored.
    pub fn from_stored(t: AttrType, text: &str) -> Option<AttrValue> {
        Some(match t {
            AttrType::String => AttrValue::String(text.to_string()),
            AttrType::Number => AttrValue::Number(text.parse().ok()?),
            AttrType::Boolean => AttrValue::Boolean(text == "true"),
            AttrType::Date => AttrValue::Date(parse_date(text)?),
            AttrType::Array => AttrValue::Array(serde_json::from_str(text).ok()?),
        })
    }

    pub fn to_json(&self) -> Json {
        match self {
            AttrValue::String(s) => Json::String(s.clone()),
            AttrValue::Number(n) => serde_json::Number::from_f64(*n)
                .map(|n| {
                    if n.as_f64()
                        .is_some_and(|f| f.fract() == 0.0 && f.abs() < 1e15)
                    {
                        Json::from(n.as_f64().unwrap_or_default() as i64)
                    } else {
                        Json::Number(n)
                    }
                })
                .unwrap_or(Json::Null),
            AttrValue::Boolean(b) => Json::Bool(*b),
            AttrValue::Date(d) => Json::String(format_date(d)),
            AttrValue::Array(items) => Json::from(items.clone()),
        }
    }
}

impl Serialize for AttrValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(name: &str, v: Json) -> AttrValue {
        match parse_value(name, &v).unwrap() {
            AttrChange::Set(v) => v,
            AttrChange::Remove => panic!("expected a value"),
        }
    }

    #[test]
    fn infers_types() {
        assert_eq!(set("a", json!("Pro")), AttrValue::String("Pro".into()));
        assert_eq!(set("a", json!(42)), AttrValue::Number(42.0));
        assert_eq!(set("a", json!(2.5)), AttrValue::Number(2.5));
        assert_eq!(set("a", json!(true)), AttrValue::Boolean(true));
        assert_eq!(
            set("a", json!(["x", 1, false])),
            AttrValue::Array(vec!["x".into(), "1".into(), "false".into()])
        );
        assert_eq!(parse_value("a", &json!(null)).unwrap(), AttrChange::Remove);
    }

    #[test]
    fn infers_dates_in_iso_forms_only() {
        let d = |s: &str| set("d", json!(s));
        assert_eq!(d("2024-06-15").to_text(), "2024-06-15T00:00:00Z");
        assert_eq!(d("2024-06-15T10:00:00Z").to_text(), "2024-06-15T10:00:00Z");
        assert_eq!(
            d("2024-06-15T12:00:00+02:00").to_text(),
            "2024-06-15T10:00:00Z"
        );
        assert_eq!(
            d("2024-06-15T10:00:00.250Z").to_text(),
            "2024-06-15T10:00:00.250Z"
        );
        assert_eq!(d("2024-06-15T10:00:00").to_text(), "2024-06-15T10:00:00Z");
        assert_eq!(d("2024-06-15T10:00").to_text(), "2024-06-15T10:00:00Z");
        for not_date in [
            "2024-13-01",
            "15/06/2024",
            "2024-06-15 is the day",
            "20240615",
            "June 15",
            "2024-06-15X10:00",
        ] {
            assert_eq!(d(not_date).attr_type(), AttrType::String, "{not_date}");
        }
    }

    #[test]
    fn rejects_objects_nested_arrays_and_long_values() {
        let e = parse_value("address", &json!({"city": "Paris"})).unwrap_err();
        assert_eq!(e.code, "invalid_attribute_value");
        assert!(e.message.contains("address.city"), "{}", e.message);
        assert!(parse_value("a", &json!([["x"]])).is_err());
        assert!(parse_value("a", &json!([null])).is_err());
        assert!(parse_value("a", &json!("a\u{0}b")).is_err());
        assert!(parse_value("a", &json!(["a\u{0}b"])).is_err());
        assert!(parse_value("a", &json!("two\nlines\tand tabs")).is_ok());
        let long = "x".repeat(701);
        assert_eq!(
            parse_value("a", &json!(long)).unwrap_err().code,
            "value_too_long"
        );
        assert!(
            parse_value("a", &json!("é".repeat(700))).is_ok(),
            "700 characters, not bytes"
        );
        let arr: Vec<String> = (0..100).map(|i| format!("item{i}")).collect();
        assert_eq!(
            parse_value("a", &json!(arr)).unwrap_err().code,
            "value_too_long"
        );
    }

    #[test]
    fn names() {
        for ok in [
            "plan",
            "address.city",
            "team-size",
            "_x",
            "2fa",
            "$browser",
            "firstName",
        ] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "has space",
            ".lead",
            "-lead",
            "a{b}",
            "a|b",
            "é",
            &"x".repeat(65),
        ] {
            assert_eq!(
                validate_name(bad).unwrap_err().code,
                "invalid_attribute_name",
                "{bad}"
            );
        }
        assert_eq!(
            validate_name("email").unwrap_err().code,
            "reserved_attribute_name"
        );
    }

    #[test]
    fn converts_only_without_loss() {
        let n = |v: AttrValue, t| v.convert_to("k", t);
        assert_eq!(
            n(AttrValue::String("42".into()), AttrType::Number).unwrap(),
            AttrValue::Number(42.0)
        );
        assert_eq!(
            n(AttrValue::String(" 2.5 ".into()), AttrType::Number).unwrap(),
            AttrValue::Number(2.5)
        );
        assert_eq!(
            n(AttrValue::Number(42.0), AttrType::String).unwrap(),
            AttrValue::String("42".into())
        );
        assert_eq!(
            n(AttrValue::Boolean(true), AttrType::String).unwrap(),
            AttrValue::String("true".into())
        );
        assert_eq!(
            n(AttrValue::String("TRUE".into()), AttrType::Boolean).unwrap(),
            AttrValue::Boolean(true)
        );
        assert_eq!(
            n(AttrValue::String("a".into()), AttrType::Array).unwrap(),
            AttrValue::Array(vec!["a".into()])
        );
        let e = n(AttrValue::String("Pro".into()), AttrType::Number).unwrap_err();
        assert_eq!(e.code, "type_conflict");
        assert!(e.message.contains("number attribute"), "{}", e.message);
        assert!(n(AttrValue::Number(1.0), AttrType::Boolean).is_err());
        assert!(n(AttrValue::Number(1.0), AttrType::Date).is_err());
        assert!(n(AttrValue::Array(vec![]), AttrType::String).is_err());
        // A date-shaped string sent to a string key keeps its text.
        let raw = json!("2024-06-15");
        let v = set("k", raw.clone());
        assert_eq!(
            v.convert_from_json("k", &raw, AttrType::String).unwrap(),
            AttrValue::String("2024-06-15".into())
        );
    }

    #[test]
    fn stored_form_round_trips() {
        for v in [
            AttrValue::String("hé \"quoted\"".into()),
            AttrValue::Number(3.25),
            AttrValue::Number(-7.0),
            AttrValue::Boolean(false),
            AttrValue::Date(parse_date("2024-06-15T10:00:00.5Z").unwrap()),
            AttrValue::Array(vec!["a".into(), "b,c".into()]),
        ] {
            let back = AttrValue::from_stored(v.attr_type(), &v.to_text()).unwrap();
            assert_eq!(back, v);
        }
        assert_eq!(AttrValue::Number(42.0).to_json(), json!(42));
        assert_eq!(AttrValue::Number(0.5).to_json(), json!(0.5));
    }
}
