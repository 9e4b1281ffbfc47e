//! A segment as the API takes it: a name, a description, an icon and a
//! condition (never a list of users).

use crate::model::condition::{Condition, ConditionError};
use serde_json::Value as Json;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 500;
pub const MAX_ICON_CHARS: usize = 8;

#[derive(Clone, Debug, PartialEq)]
pub struct SegmentInput {
    pub name: String,
    pub description: String,
    pub icon: String,
    pub condition: Condition,
}

/// Why a segment body is refused, and which member.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SegmentError(pub String);

impl From<ConditionError> for SegmentError {
    fn from(e: ConditionError) -> Self {
        SegmentError(format!("`condition`: {e}"))
    }
}

fn text(body: &Json, key: &str, max: usize, required: bool) -> Result<String, SegmentError> {
    match body.get(key) {
        None | Some(Json::Null) if !required => Ok(String::new()),
        Some(Json::String(s)) => {
            let s = s.trim();
            if required && s.is_empty() {
                return Err(SegmentError(format!("`{key}` must not be empty")));
            }
            if s.chars().count() > max || s.chars().any(char::is_control) {
                return Err(SegmentError(format!(
                    "`{key}` holds at most {max} characters and no control characters"
                )));
            }
            Ok(s.to_string())
        }
        _ => Err(SegmentError(format!("`{key}` must be a string"))),
    }
}

impl SegmentInput {
    pub fn from_json(body: &Json) -> Result<SegmentInput, SegmentError> {
        let Some(o) = body.as_object() else {
            return Err(SegmentError(
                "send a JSON object: {\"name\", \"description\"?, \"icon\"?, \"condition\"}".into(),
            ));
        };
        let known = ["name", "description", "icon", "condition"];
        if let Some(k) = o.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(SegmentError(format!(
                "unknown member `{k}`; a segment has name, description, icon and condition"
            )));
        }
        let condition = o
            .get("condition")
            .ok_or_else(|| SegmentError("`condition` is missing".into()))?;
        Ok(SegmentInput {
            name: text(body, "name", MAX_NAME_CHARS, true)?,
            description: text(body, "description", MAX_DESCRIPTION_CHARS, false)?,
            icon: text(body, "icon", MAX_ICON_CHARS, false)?,
            condition: Condition::parse(condition)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_are_checked_member_by_member() {
        let ok = SegmentInput::from_json(&json!({"name": " Pro users ", "icon": "⭐",
            "condition": {"attribute": "plan", "op": "is", "value": "Pro"}}))
        .unwrap();
        assert_eq!(
            (ok.name.as_str(), ok.description.as_str()),
            ("Pro users", "")
        );
        let e = |b: Json| SegmentInput::from_json(&b).unwrap_err().0;
        assert!(
            e(json!({"name": "", "condition": {"all": []}})).contains("`name` must not be empty")
        );
        assert!(e(json!({"name": "x"})).contains("`condition` is missing"));
        assert!(
            e(json!({"name": "x", "condition": {"all": []}, "users": []}))
                .contains("unknown member `users`")
        );
        assert!(
            e(json!({"name": "x".repeat(101), "condition": {"all": []}})).contains("at most 100")
        );
        assert!(
            e(json!({"name": "x", "condition": {"any": [{"op": "is"}]}}))
                .contains("any[0].attribute")
        );
    }
}
