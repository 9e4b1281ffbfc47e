//! A user profile as the API shows it, and the validated form of what
//! callers send to change one (identify over REST, the SDK's updates).

use super::attribute::{self, AttrChange, AttrError, AttrType, AttrValue};
use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value as Json};

pub const MAX_USER_ID_CHARS: usize = 255;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_EMAIL_CHARS: usize = 254;

/// Where a value came from: the SDK or REST API (`custom`), a CSV import, or
/// the integration that last wrote it.
pub const SOURCE_CUSTOM: &str = "custom";
pub const SOURCES: &[&str] = &[
    "custom",
    "segment",
    "posthog",
    "mixpanel",
    "amplitude",
    "hubspot",
    "salesforce",
    "import",
];

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct User {
    pub jimer_id: String,
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub language: Option<String>,
    #[serde(serialize_with = "opt_date")]
    pub first_seen: Option<DateTime<Utc>>,
    #[serde(serialize_with = "opt_date")]
    pub last_activity: Option<DateTime<Utc>>,
    pub sessions: i64,
    #[serde(serialize_with = "date")]
    pub created: DateTime<Utc>,
    pub tags: Vec<String>,
    pub attributes: Vec<Attribute>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Attribute {
    pub name: String,
    pub value: AttrValue,
    #[serde(rename = "type")]
    pub attr_type: AttrType,
    pub source: String,
    #[serde(serialize_with = "date")]
    pub updated_at: DateTime<Utc>,
}

fn date<S: Serializer>(d: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&attribute::format_date(d))
}

fn opt_date<S: Serializer>(d: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => date(d, s),
        None => s.serialize_none(),
    }
}

/// A native field in a request: absent (leave as is), `null` (clear), or a value.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Field {
    #[default]
    Keep,
    Clear,
    Set(String),
}

/// One attribute a request names, with the JSON it was sent as (a date-shaped
/// string sent to a string key keeps its original text).
#[derive(Clone, Debug, PartialEq)]
pub struct AttrInput {
    pub name: String,
    pub change: AttrChange,
    pub raw: Json,
    /// Set only if the user has no value yet (`$set_once` of the tools).
    pub once: bool,
}

impl AttrInput {
    /// The value converted to the key's fixed type, if the key has one.
    pub fn value_for(&self, fixed: Option<AttrType>) -> Result<Option<AttrValue>, AttrError> {
        match (&self.change, fixed) {
            (AttrChange::Remove, _) => Ok(None),
            (AttrChange::Set(v), None) => Ok(Some(v.clone())),
            (AttrChange::Set(v), Some(t)) => v
                .clone()
                .convert_from_json(&self.name, &self.raw, t)
                .map(Some),
        }
    }
}

/// A validated change to one profile.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ProfileUpdate {
    pub name: Field,
    pub email: Field,
    pub language: Field,
    pub attributes: Vec<AttrInput>,
    pub remove_unspecified: bool,
    /// Where the values come from: empty for the SDK and the REST API
    /// (`custom`), else an integration or `import` (see `SOURCES`).
    pub source: &'static str,
}

/// A validated REST identify.
#[derive(Clone, Debug, PartialEq)]
pub struct Identify {
    pub user_id: String,
    pub update: ProfileUpdate,
}

/// A request that cannot be applied, with the field it concerns.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InputError {
    pub code: &'static str,
    pub message: String,
}

impl From<AttrError> for InputError {
    fn from(e: AttrError) -> Self {
        InputError {
            code: e.code,
            message: e.message,
        }
    }
}

fn invalid(message: String) -> InputError {
    InputError {
        code: "invalid_request",
        message,
    }
}

impl Identify {
    /// `{"user_id", "name"?, "email"?, "language"?, "attributes"?, "remove_unspecified"?}`
    pub fn from_json(body: &Json) -> Result<Identify, InputError> {
        let obj = body.as_object().ok_or_else(|| {
            invalid("the body must be a JSON object such as {\"user_id\": \"user-123\"}".into())
        })?;
        // Members first: a misspelt `userId` gets its hint.
        let update = ProfileUpdate::from_object(obj, &["user_id"])?;
        let user_id = match obj.get("user_id") {
            None | Some(Json::Null) => {
                return Err(InputError {
                    code: "missing_user_id",
                    message: "`user_id` is required: the id of this user in your product, such as \"user-123\"".into(),
                })
            }
            Some(v) => parse_user_id(v)?,
        };
        Ok(Identify { user_id, update })
    }
}

/// A user id: a string (or an integer, taken as its decimal text) of 1 to 255
/// characters without control characters.
pub fn parse_user_id(v: &Json) -> Result<String, InputError> {
    let s = match v {
        Json::String(s) => s.clone(),
        Json::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        _ => {
            return Err(invalid(
                "`user_id` must be a string such as \"user-123\"".into(),
            ))
        }
    };
    if s.trim().is_empty() {
        return Err(invalid("`user_id` cannot be empty".into()));
    }
    if s.chars().count() > MAX_USER_ID_CHARS {
        return Err(invalid(format!(
            "`user_id` is longer than {MAX_USER_ID_CHARS} characters"
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(invalid("`user_id` cannot hold control characters".into()));
    }
    Ok(s)
}

impl ProfileUpdate {
    /// Reads the profile members of a request object; `extra` lists the other
    /// members the caller's endpoint accepts.
    pub fn from_object(
        obj: &Map<String, Json>,
        extra: &[&str],
    ) -> Result<ProfileUpdate, InputError> {
        const KNOWN: &[&str] = &[
            "name",
            "email",
            "language",
            "attributes",
            "remove_unspecified",
        ];
        for key in obj.keys() {
            if !KNOWN.contains(&key.as_str()) && !extra.contains(&key.as_str()) {
                let hint = match key.as_str() {
                    "userId" | "id" => " (did you mean `user_id`?)".to_string(),
                    "traits" | "properties" | "attrs" => {
                        " (custom attributes go in `attributes`)".to_string()
                    }
                    "removeUnspecified" => " (did you mean `remove_unspecified`?)".to_string(),
                    _ => String::new(),
                };
                let mut allowed: Vec<&str> = extra.to_vec();
                allowed.extend_from_slice(KNOWN);
                return Err(invalid(format!(
                    "unknown member `{key}`{hint}; the members are {}",
                    allowed.join(", ")
                )));
            }
        }
        let name = text_field(obj, "name", MAX_NAME_CHARS, |s| Ok(s.trim().to_string()))?;
        let email = text_field(obj, "email", MAX_EMAIL_CHARS, check_email)?;
        let language = text_field(obj, "language", 35, normalize_language)?;
        let remove_unspecified = match obj.get("remove_unspecified") {
            None | Some(Json::Null) => false,
            Some(Json::Bool(b)) => *b,
            Some(_) => return Err(invalid("`remove_unspecified` must be true or false".into())),
        };
        let attributes = match obj.get("attributes") {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::Object(map)) => parse_attributes(map)?,
            Some(_) => return Err(invalid(
                "`attributes` must be an object of names to values, such as {\"plan\": \"Pro\"}"
                    .into(),
            )),
        };
        Ok(ProfileUpdate {
            name,
            email,
            language,
            attributes,
            remove_unspecified,
            source: "",
        })
    }

    /// The source recorded on the values this update writes.
    pub fn source(&self) -> &'static str {
        if self.source.is_empty() {
            SOURCE_CUSTOM
        } else {
            self.source
        }
    }
}

/// Checks every name and value of an attributes object; the first error wins
/// and nothing of the request is applied.
pub fn parse_attributes(map: &Map<String, Json>) -> Result<Vec<AttrInput>, InputError> {
    if map.len() > attribute::MAX_ATTRIBUTES_PER_CALL {
        return Err(InputError {
            code: "too_many_attributes",
            message: format!(
                "{} attributes in one call; send at most {} and split the rest over several calls",
                map.len(),
                attribute::MAX_ATTRIBUTES_PER_CALL
            ),
        });
    }
    let mut out = Vec::with_capacity(map.len());
    for (name, raw) in map {
        attribute::validate_name(name)?;
        let change = attribute::parse_value(name, raw)?;
        out.push(AttrInput {
            once: false,
            name: name.clone(),
            change,
            raw: raw.clone(),
        });
    }
    Ok(out)
}

fn text_field(
    obj: &Map<String, Json>,
    key: &str,
    max: usize,
    check: impl Fn(&str) -> Result<String, String>,
) -> Result<Field, InputError> {
    match obj.get(key) {
        None => Ok(Field::Keep),
        Some(Json::Null) => Ok(Field::Clear),
        Some(Json::String(s)) => {
            if s.chars().count() > max {
                return Err(invalid(format!("`{key}` is longer than {max} characters")));
            }
            if s.trim().is_empty() {
                return Ok(Field::Clear);
            }
            if s.chars().any(char::is_control) {
                return Err(invalid(format!(
                    "`{key}` cannot hold control characters (line breaks, tabs, NUL)"
                )));
            }
            check(s).map(Field::Set).map_err(invalid)
        }
        Some(_) => Err(invalid(format!(
            "`{key}` must be a string, or null to clear it"
        ))),
    }
}

/// An email address: something, `@`, something, no spaces; trimmed.
pub fn check_email(s: &str) -> Result<String, String> {
    let s = s.trim();
    let ok = s.chars().count() <= MAX_EMAIL_CHARS
        && s.split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
        && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`email` {s:?} is not an email address such as \"sam@example.com\""
        ))
    }
}

/// What the users list searches in: name and email, lowercased (Unicode),
/// one per line. Stored beside the profile so every database matches alike.
pub fn search_text(name: Option<&str>, email: Option<&str>) -> String {
    format!(
        "{}\n{}",
        name.unwrap_or_default().to_lowercase(),
        email.unwrap_or_default().to_lowercase()
    )
}

/// Longest tag, and most tags on one user.
pub const MAX_TAG_CHARS: usize = 40;
pub const MAX_TAGS: usize = 50;

/// A tag as typed: trimmed, 1 to 40 characters, no control characters.
pub fn check_tag(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("a tag needs at least one character".into());
    }
    if t.chars().count() > MAX_TAG_CHARS || t.chars().any(char::is_control) {
        return Err(format!(
            "a tag holds at most {MAX_TAG_CHARS} characters and no control characters"
        ));
    }
    Ok(t.to_string())
}

/// `tags` with `add` appended and `remove` taken out. Tags compare without
/// case, so adding `Beta` to a user tagged `beta` changes nothing.
pub fn retag(tags: &[String], add: &[String], remove: &[String]) -> Result<Vec<String>, String> {
    let same = |a: &str, b: &str| a.to_lowercase() == b.to_lowercase();
    let mut out: Vec<String> = tags
        .iter()
        .filter(|t| !remove.iter().any(|r| same(t, r)))
        .cloned()
        .collect();
    for a in add {
        let a = check_tag(a)?;
        if !out.iter().any(|t| same(t, &a)) {
            out.push(a);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(format!(
            "a user holds at most {MAX_TAGS} tags; remove some first"
        ));
    }
    Ok(out)
}

/// A BCP 47 language tag such as `fr` or `pt-BR`; `_` is accepted for `-`.
pub fn normalize_language(s: &str) -> Result<String, String> {
    let s = s.trim().replace('_', "-");
    let mut parts = s.split('-');
    let primary = parts.next().unwrap_or_default();
    let primary_ok =
        (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_alphabetic());
    let rest: Vec<&str> = parts.collect();
    let rest_ok = rest
        .iter()
        .all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if !primary_ok || !rest_ok {
        return Err(format!(
            "`language` {s:?} is not a language tag such as \"fr\" or \"pt-BR\""
        ));
    }
    let mut out = primary.to_ascii_lowercase();
    for p in rest {
        out.push('-');
        if p.len() == 2 {
            out.push_str(&p.to_ascii_uppercase());
        } else {
            out.push_str(p);
        }
    }
    Ok(out)
}

/// A user for tests of the model: Sam Taylor (u1), tagged beta, with these
/// custom attributes.
#[cfg(test)]
pub(crate) fn sample_user(attrs: &[(&str, AttrValue)]) -> User {
    let now = chrono::Utc::now();
    User {
        jimer_id: "j_1".into(),
        user_id: Some("u1".into()),
        name: Some("Sam Taylor".into()),
        email: Some("sam@acme.io".into()),
        language: None,
        first_seen: None,
        last_activity: None,
        sessions: 3,
        created: now,
        tags: vec!["beta".into()],
        attributes: attrs
            .iter()
            .map(|(n, v)| Attribute {
                name: n.to_string(),
                attr_type: v.attr_type(),
                value: v.clone(),
                source: "custom".into(),
                updated_at: now,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tags_are_checked_and_compare_without_case() {
        let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(check_tag("  beta "), Ok("beta".into()));
        assert!(check_tag("   ").is_err());
        assert!(check_tag(&"x".repeat(41)).is_err());
        assert!(check_tag("a\u{0}b").is_err());
        assert_eq!(
            retag(
                &v(&["beta", "vip"]),
                &v(&["Beta", "churn-risk"]),
                &v(&["VIP"])
            ),
            Ok(v(&["beta", "churn-risk"]))
        );
        assert!(retag(&[], &v(&[""]), &[]).is_err());
        let many: Vec<String> = (0..MAX_TAGS).map(|i| format!("t{i}")).collect();
        assert!(retag(&many, &v(&["one-more"]), &[]).is_err());
        assert_eq!(retag(&many, &v(&["t1"]), &[]), Ok(many.clone()));
    }

    #[test]
    fn identify_reads_every_member() {
        let i = Identify::from_json(&json!({
            "user_id": "u1", "name": " Sam Taylor ", "email": "sam@example.com", "language": "pt_br",
            "attributes": {"plan": "Pro", "seats": 3, "old": null}, "remove_unspecified": true
        }))
        .unwrap();
        assert_eq!(i.user_id, "u1");
        assert_eq!(i.update.name, Field::Set("Sam Taylor".into()));
        assert_eq!(i.update.language, Field::Set("pt-BR".into()));
        assert_eq!(i.update.attributes.len(), 3);
        assert!(i.update.remove_unspecified);
        assert_eq!(
            Identify::from_json(&json!({"user_id": 42}))
                .unwrap()
                .user_id,
            "42"
        );
        assert_eq!(
            Identify::from_json(&json!({"user_id": "u", "name": null}))
                .unwrap()
                .update
                .name,
            Field::Clear
        );
    }

    #[test]
    fn identify_errors_name_the_problem() {
        let err = |v: Json| Identify::from_json(&v).unwrap_err();
        assert_eq!(err(json!({})).code, "missing_user_id");
        assert_eq!(err(json!([])).code, "invalid_request");
        assert!(err(json!({"userId": "u"}))
            .message
            .contains("did you mean `user_id`"));
        assert!(err(json!({"user_id": ""})).message.contains("empty"));
        assert!(err(json!({"user_id": "u", "email": "nope"}))
            .message
            .contains("email"));
        assert!(err(json!({"user_id": "u", "language": "french!"}))
            .message
            .contains("language"));
        assert!(err(json!({"user_id": "u", "attributes": []}))
            .message
            .contains("attributes"));
        assert_eq!(
            err(json!({"user_id": "u", "attributes": {"a": {"b": 1}}})).code,
            "invalid_attribute_value"
        );
        assert_eq!(
            err(json!({"user_id": "u", "attributes": {"email": "x"}})).code,
            "reserved_attribute_name"
        );
        assert_eq!(
            err(json!({"user_id": "u", "name": "x".repeat(201)})).code,
            "invalid_request"
        );
        assert_eq!(err(json!({"user_id": "u\u{0}"})).code, "invalid_request");
        assert_eq!(
            err(json!({"user_id": "u", "name": "Sam\u{0}"})).code,
            "invalid_request"
        );
        assert_eq!(
            err(json!({"user_id": "u", "attributes": {"note": "a\u{0}b"}})).code,
            "invalid_attribute_value"
        );
    }
}
