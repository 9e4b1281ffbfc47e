//! Receivers: the tools that push user properties to userdeck (Segment,
//! PostHog, Mixpanel, Amplitude). Each endpoint reads its tool's format
//! into `Change`s; this module maps them to profile updates the same way
//! for every tool and applies them, with the tool as the values' source.
//!
//! Mapping: nested objects become dotted names (`company.name`); a name is
//! normalized to what attribute names allow (other characters become `_`, at
//! most 64 characters); `email` / `$email` and `name` / `$name` fill the
//! native fields; `null` and `$unset` remove. A user is found by user id
//! (created if new) or, when the tool sends only an email, by email
//! (existing users only).

pub mod pull;
pub mod receivers;

use crate::model::attribute::{parse_value, MAX_NAME_CHARS, NATIVE_FIELDS};
use crate::model::profile::{check_email, AttrInput, Field, Identify, ProfileUpdate};
use crate::server::store::users::UserKey;
use crate::server::store::writer::{WriteOp, WriteOutcome};
use crate::server::AppState;
use serde_json::{Map, Value as Json};

/// What a tool says about one user.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Change {
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub set: Map<String, Json>,
    pub set_once: Map<String, Json>,
    pub unset: Vec<String>,
}

impl Change {
    fn is_empty(&self) -> bool {
        self.set.is_empty() && self.set_once.is_empty() && self.unset.is_empty()
    }
}

/// An attribute name made from a tool's property name.
pub fn normalize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let ok = c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$');
        out.push(if ok { c } else { '_' });
    }
    if out.starts_with(['-', '.']) {
        out.insert(0, '_');
    }
    let mut out: String = out.chars().take(MAX_NAME_CHARS).collect();
    // A native field's name (`tags`, `created`...) as a property stays apart.
    if NATIVE_FIELDS.contains(&out.as_str()) && !matches!(out.as_str(), "name" | "email") {
        out.insert(0, '$');
    }
    out
}

/// `{"a": {"b": 1}}` as `[("a.b", 1)]`.
fn flatten(prefix: &str, map: &Map<String, Json>, out: &mut Vec<(String, Json)>) {
    for (k, v) in map {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Json::Object(inner) if !inner.is_empty() => flatten(&key, inner, out),
            Json::Object(_) => {}
            other => out.push((key, other.clone())),
        }
    }
}

/// The profile update of a change; what cannot be mapped is described in
/// `notes` (and left out).
pub fn profile_update(change: &Change, source: &'static str) -> (ProfileUpdate, Vec<String>) {
    let mut update = ProfileUpdate {
        source,
        ..Default::default()
    };
    let mut notes = Vec::new();
    let mut pairs: Vec<(String, Json, bool)> = Vec::new();
    for (map, once) in [(&change.set, false), (&change.set_once, true)] {
        let mut flat = Vec::new();
        flatten("", map, &mut flat);
        pairs.extend(flat.into_iter().map(|(k, v)| (k, v, once)));
    }
    pairs.extend(change.unset.iter().map(|k| (k.clone(), Json::Null, false)));
    for (raw_name, value, once) in pairs {
        let name = normalize(&raw_name);
        match (name.trim_start_matches('$'), &value) {
            ("email", Json::String(s)) => match check_email(s) {
                Ok(e) => update.email = Field::Set(e),
                Err(e) => notes.push(format!("`{raw_name}`: {e}")),
            },
            ("name", Json::String(s)) if !s.trim().is_empty() => {
                update.name = Field::Set(s.trim().chars().take(200).collect())
            }
            _ if name.is_empty() => notes.push(format!("`{raw_name}`: not a usable name")),
            _ => match parse_value(&name, &value) {
                Ok(change) => update.attributes.push(AttrInput {
                    name,
                    change,
                    raw: value,
                    once,
                }),
                Err(e) => notes.push(format!("`{raw_name}`: {}", e.message)),
            },
        }
    }
    (update, notes)
}

/// Applies changes from `kind` to the workspace; logs and counts the
/// delivery. Answers how many were applied and what was refused.
pub async fn apply(
    state: &AppState,
    workspace: i64,
    kind: &'static str,
    changes: Vec<Change>,
) -> Result<(i64, Vec<String>), crate::server::store::StoreError> {
    let mut refused = Vec::new();
    let mut ops = Vec::new();
    let mut whom = Vec::new();
    for change in changes.into_iter().filter(|c| !c.is_empty()) {
        let (update, notes) = profile_update(&change, kind);
        let who = change
            .user_id
            .clone()
            .or(change.email.clone())
            .unwrap_or_default();
        refused.extend(
            notes
                .into_iter()
                .map(|n| format!("user {who:?}: {n} (left out)")),
        );
        if let Some(user_id) = change.user_id.clone().filter(|u| !u.trim().is_empty()) {
            ops.push(WriteOp::Identify {
                workspace,
                input: Identify { user_id, update },
            });
        } else if let Some(email) = change.email.as_deref().and_then(|e| check_email(e).ok()) {
            match state.store.jimer_id_by_email(workspace, &email).await? {
                Some(jimer_id) => ops.push(WriteOp::Update {
                    workspace,
                    user: UserKey::JimerId(jimer_id),
                    update,
                }),
                None => {
                    refused.push(format!("no user has the email {email:?}; nothing applied"));
                    continue;
                }
            }
        } else {
            refused.push("a profile update without a user id or an email; nothing applied".into());
            continue;
        }
        whom.push(who);
    }
    let mut applied = 0;
    for (outcome, who) in state.writer.write_many(ops).await.into_iter().zip(whom) {
        match outcome {
            Ok(WriteOutcome::Missing) => {
                refused.push(format!("user {who:?} is gone; nothing applied"))
            }
            Ok(_) => applied += 1,
            Err(e) => refused.push(format!("user {who:?}: {e}; nothing applied")),
        }
    }
    // Calls with no profile data (a `track`) are not counted.
    if applied > 0 || !refused.is_empty() {
        state
            .store
            .record_delivery(workspace, kind, applied, &refused)
            .await?;
    }
    Ok((applied, refused))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn properties_become_attributes() {
        assert_eq!(normalize("First Name"), "First_Name");
        assert_eq!(normalize("$browser"), "$browser");
        assert_eq!(normalize(".hidden"), "_.hidden");
        assert_eq!(normalize("tags"), "$tags");
        assert_eq!(normalize(&"x".repeat(80)).len(), 64);
        let change = Change {
            user_id: Some("u1".into()),
            set: json!({"email": "Sam@Acme.io", "name": "Sam", "plan": "Pro", "company": {"name": "Acme", "size": 12},
                        "bad": [{"x": 1}]})
            .as_object()
            .unwrap()
            .clone(),
            set_once: json!({"first_plan": "Free"}).as_object().unwrap().clone(),
            unset: vec!["old".into()],
            ..Default::default()
        };
        let (u, notes) = profile_update(&change, "segment");
        assert_eq!(u.email, Field::Set("Sam@Acme.io".into()));
        assert_eq!(u.name, Field::Set("Sam".into()));
        assert_eq!(u.source(), "segment");
        let names: Vec<(&str, bool)> = u
            .attributes
            .iter()
            .map(|a| (a.name.as_str(), a.once))
            .collect();
        assert_eq!(
            names,
            [
                ("company.name", false),
                ("company.size", false),
                ("plan", false),
                ("first_plan", true),
                ("old", false)
            ]
        );
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].starts_with("`bad`"), "{notes:?}");
    }
}
