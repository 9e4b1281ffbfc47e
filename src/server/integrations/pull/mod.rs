//! Pull syncs: userdeck reads users' fields from a CRM (HubSpot's CRM v3,
//! Salesforce's REST query API) and writes them as attributes of the
//! matching existing users, with the tool as their source.
//!
//! This module holds what both tools share: the settings and their checks,
//! a record as read, and the mapping of a record to a profile update. Each
//! tool's module builds its requests and reads its answers (pure functions,
//! unit-tested); `http` sends them; `run` drives a run and the schedule.

pub mod http;
pub mod hubspot;
pub mod run;
pub mod salesforce;

use crate::model::attribute::{parse_value, validate_name, AttrChange, AttrType, AttrValue};
use crate::model::profile::{check_email, AttrInput, ProfileUpdate};
use crate::server::store::syncs::{FieldMap, MatchTo, SyncConfig};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;

/// Most rows of a field mapping.
pub const MAX_MAPPING: usize = 100;
/// Shortest and longest interval of the incremental sync, in minutes.
pub const MIN_INTERVAL: i64 = 5;
pub const MAX_INTERVAL: i64 = 7 * 24 * 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    HubSpot,
    Salesforce,
}

impl Tool {
    pub fn parse(kind: &str) -> Option<Tool> {
        match kind {
            "hubspot" => Some(Tool::HubSpot),
            "salesforce" => Some(Tool::Salesforce),
            _ => None,
        }
    }

    /// The stored kind, and the source recorded on values.
    pub fn kind(self) -> &'static str {
        match self {
            Tool::HubSpot => "hubspot",
            Tool::Salesforce => "salesforce",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Tool::HubSpot => "HubSpot",
            Tool::Salesforce => "Salesforce",
        }
    }

    /// Settings a new sync starts from.
    pub fn defaults(self) -> SyncConfig {
        let (base_url, api_version, object, field) = match self {
            Tool::HubSpot => (hubspot::DEFAULT_BASE, "", "contacts", "email"),
            Tool::Salesforce => ("", salesforce::DEFAULT_VERSION, "Contact", "Email"),
        };
        SyncConfig {
            kind: self.kind().into(),
            enabled: false,
            base_url: base_url.into(),
            api_version: api_version.into(),
            token: String::new(),
            object: object.into(),
            match_field: field.into(),
            match_to: MatchTo::Email,
            mapping: Vec::new(),
            interval_minutes: 60,
        }
    }

    fn check_field(self, name: &str) -> Result<(), String> {
        match self {
            Tool::HubSpot => hubspot::check_property(name),
            Tool::Salesforce => salesforce::check_field(name),
        }
    }
}

/// A record as read from the tool.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub id: String,
    /// When it last changed (ms), for the cursor.
    pub modified_ms: Option<i64>,
    /// Field name to value (Salesforce relationships stay nested objects).
    pub fields: Map<String, Json>,
}

/// Where to go after a page.
#[derive(Clone, Debug, PartialEq)]
pub enum Next {
    /// The tool's paging token (HubSpot's `after`, Salesforce's `nextRecordsUrl`).
    Page(String),
    /// Start the query again from the newest modification read so far
    /// (HubSpot's search stops at 10,000 results per query).
    Restart,
}

/// One page of records.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub records: Vec<Record>,
    pub next: Option<Next>,
    /// How many records the whole query has, when the tool says.
    pub total: Option<i64>,
}

/// A request to the tool (the bearer token is added when it is sent).
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    Get(String),
    Post(String, Json),
}

/// What the settings form sends.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SettingsInput {
    pub enabled: bool,
    pub base_url: String,
    pub api_version: String,
    /// Empty keeps the saved token.
    pub token: String,
    pub object: String,
    pub match_field: String,
    pub match_to: String,
    pub mapping: Vec<FieldMap>,
    pub interval_minutes: String,
}

/// Checks the settings form; the error says what is wrong and how to fix it.
pub fn check_settings(
    tool: Tool,
    input: &SettingsInput,
    saved_token: Option<&str>,
) -> Result<SyncConfig, String> {
    let base_url = check_base_url(tool, input.base_url.trim())?;
    let api_version = match tool {
        Tool::HubSpot => String::new(),
        Tool::Salesforce => salesforce::check_version(input.api_version.trim())?,
    };
    let token = match input.token.trim() {
        "" => saved_token.filter(|t| !t.is_empty()).map(str::to_string).ok_or_else(|| {
            match tool {
                Tool::HubSpot => "enter the access token of a HubSpot private app (Settings > Integrations > Private apps in HubSpot) with read scopes for the object you sync",
                Tool::Salesforce => "enter an OAuth access token of a Salesforce user who can read the object you sync",
            }
            .to_string()
        })?,
        t if t.len() > 4096 || t.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            return Err("the token holds spaces or is longer than 4096 characters: paste the token alone".into())
        }
        t => t.to_string(),
    };
    let object = match tool {
        Tool::HubSpot => hubspot::check_object(input.object.trim())?,
        Tool::Salesforce => salesforce::check_object(input.object.trim())?,
    };
    let match_field = input.match_field.trim().to_string();
    if match_field.is_empty() {
        return Err("enter the remote field that names the user (for example `email`), to match records to users".into());
    }
    tool.check_field(&match_field)
        .map_err(|e| format!("match field: {e}"))?;
    let match_to = MatchTo::parse(input.match_to.trim())
        .ok_or("match the records on the user's email or on their user id")?;
    let mapping = check_mapping(tool, &input.mapping)?;
    let interval = input.interval_minutes.trim();
    let interval_minutes = match interval.parse::<i64>() {
        Ok(m) if (MIN_INTERVAL..=MAX_INTERVAL).contains(&m) => m,
        _ => return Err(format!("the interval {interval:?} is not a whole number of minutes from {MIN_INTERVAL} to {MAX_INTERVAL} (a week)")),
    };
    Ok(SyncConfig {
        kind: tool.kind().into(),
        enabled: input.enabled,
        base_url,
        api_version,
        token,
        object,
        match_field,
        match_to,
        mapping,
        interval_minutes,
    })
}

/// An http(s) address without path, query or fragment; plain http only to
/// this machine (the token would cross the network in clear).
fn check_base_url(tool: Tool, url: &str) -> Result<String, String> {
    let url = url.trim_end_matches('/');
    if url.is_empty() {
        return Err(match tool {
            Tool::HubSpot => format!("enter HubSpot's API address ({})", hubspot::DEFAULT_BASE),
            Tool::Salesforce => "enter your Salesforce instance URL, for example https://yourco.my.salesforce.com (Setup > My Domain)".into(),
        });
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        format!("{url:?} is not an address ({e}): write it like https://api.example.com")
    })?;
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let local = matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]");
    match parsed.scheme() {
        "https" => {}
        "http" if local => {}
        _ => return Err(format!("{url:?}: use an https:// address")),
    }
    if host.is_empty()
        || parsed.path() != "/"
        || parsed.query().is_some()
        || parsed.fragment().is_some()
        || !parsed.username().is_empty()
    {
        return Err(format!(
            "{url:?}: give the address alone, like https://api.example.com, without a path"
        ));
    }
    if tool == Tool::Salesforce
        && matches!(
            host.as_str(),
            "login.salesforce.com" | "test.salesforce.com"
        )
    {
        return Err(format!("{host} is Salesforce's sign-in address: use your instance URL instead, for example https://yourco.my.salesforce.com (the instance_url of your OAuth token)"));
    }
    Ok(url.to_string())
}

fn check_mapping(tool: Tool, rows: &[FieldMap]) -> Result<Vec<FieldMap>, String> {
    let mut out: Vec<FieldMap> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let n = i + 1;
        let (remote, attribute) = (row.remote.trim(), row.attribute.trim());
        if remote.is_empty() && attribute.is_empty() {
            continue;
        }
        if remote.is_empty() {
            return Err(format!(
                "row {n}: enter the remote field `{attribute}` is read from"
            ));
        }
        tool.check_field(remote)
            .map_err(|e| format!("row {n}: {e}"))?;
        if attribute.is_empty() {
            return Err(format!("row {n}: enter the attribute `{remote}` fills"));
        }
        validate_name(attribute).map_err(|e| format!("row {n}: {e}"))?;
        if out.iter().any(|r| r.attribute == attribute) {
            return Err(format!("row {n}: `{attribute}` is filled by an earlier row already; an attribute takes one field"));
        }
        let as_type = row.as_type.trim();
        if !(as_type.is_empty()
            || matches!(AttrType::parse(as_type), Some(t) if t != AttrType::Array))
        {
            return Err(format!("row {n}: read values as text, number, boolean or date (or as sent), not {as_type:?}"));
        }
        out.push(FieldMap {
            remote: remote.into(),
            attribute: attribute.into(),
            as_type: as_type.into(),
        });
    }
    if out.is_empty() {
        return Err("map at least one remote field to an attribute".into());
    }
    if out.len() > MAX_MAPPING {
        return Err(format!("map at most {MAX_MAPPING} fields"));
    }
    Ok(out)
}

/// The fields a query reads: the match field, then the mapped ones, each once.
pub fn fields_read(config: &SyncConfig) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in std::iter::once(&config.match_field).chain(config.mapping.iter().map(|m| &m.remote)) {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(f)) {
            out.push(f.clone());
        }
    }
    out
}

/// A field of a record: `a.b` walks into nested objects (Salesforce
/// relationships); names compare without case when no exact one exists.
pub fn lookup<'a>(fields: &'a Map<String, Json>, path: &str) -> Option<&'a Json> {
    let mut here = fields;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let v = here.get(part).or_else(|| {
            here.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(part))
                .map(|(_, v)| v)
        })?;
        if parts.peek().is_none() {
            return Some(v);
        }
        here = v.as_object()?;
    }
    None
}

/// Whom a record names.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Email(String),
    UserId(String),
}

/// The user a record names and the update it makes; `notes` say what was
/// left out (a value its type cannot take). None when the record names no
/// one (its match field is empty or not an email).
pub fn record_update(
    config: &SyncConfig,
    source: &'static str,
    record: &Record,
    types: &HashMap<String, AttrType>,
    notes: &mut Vec<String>,
) -> Option<(Target, ProfileUpdate)> {
    let key = match lookup(&record.fields, &config.match_field)? {
        Json::String(s) if !s.trim().is_empty() => s.trim().to_string(),
        Json::Number(n) => n.to_string(),
        _ => return None,
    };
    let target = match config.match_to {
        MatchTo::Email => Target::Email(check_email(&key).ok()?),
        MatchTo::UserId => Target::UserId(key),
    };
    let mut update = ProfileUpdate {
        source,
        ..Default::default()
    };
    for m in &config.mapping {
        let raw = lookup(&record.fields, &m.remote)
            .cloned()
            .unwrap_or(Json::Null);
        match attr_input(m, raw, types.get(&m.attribute).copied()) {
            Ok(input) => update.attributes.push(input),
            Err(e) => notes.push(format!(
                "record {} ({}): `{}` from {}: {e} (left out)",
                record.id,
                match &target {
                    Target::Email(e) | Target::UserId(e) => e,
                },
                m.attribute,
                m.remote
            )),
        }
    }
    Some((target, update))
}

/// A remote value as an attribute change: empty (null, "") removes; the
/// row's type, if any, converts; a type the attribute already has must fit
/// (checked here, so one bad value does not cost the record its others).
fn attr_input(m: &FieldMap, raw: Json, fixed: Option<AttrType>) -> Result<AttrInput, String> {
    let raw = match raw {
        Json::String(s) if s.trim().is_empty() => Json::Null,
        Json::String(s) => Json::String(salesforce::normalize_datetime(&s).unwrap_or(s)),
        Json::Object(_) => {
            return Err("an object (map one of its fields, like `Account.Name`)".into())
        }
        other => other,
    };
    let mut change = parse_value(&m.attribute, &raw).map_err(|e| e.message)?;
    if let (AttrChange::Set(v), Some(t)) = (&change, AttrType::parse(&m.as_type)) {
        change = AttrChange::Set(convert(&m.attribute, v.clone(), &raw, t)?);
    }
    let input = AttrInput {
        name: m.attribute.clone(),
        change,
        raw,
        once: false,
    };
    input.value_for(fixed).map_err(|e| e.message)?;
    Ok(input)
}

/// A value read as the row's type: text keeps what was sent; a date may
/// also come as milliseconds since the epoch (HubSpot's date fields).
fn convert(name: &str, v: AttrValue, raw: &Json, t: AttrType) -> Result<AttrValue, String> {
    match (t, &v) {
        (AttrType::String, _) => Ok(AttrValue::String(match raw {
            Json::String(s) => s.clone(),
            _ => v.to_text(),
        })),
        (AttrType::Date, AttrValue::Number(ms)) => {
            chrono::DateTime::from_timestamp_millis(*ms as i64)
                .map(AttrValue::Date)
                .ok_or_else(|| format!("{ms} is not a date"))
        }
        (AttrType::Date, AttrValue::String(s)) => s
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(AttrValue::Date)
            .ok_or_else(|| format!("{s:?} is not a date (ISO 8601 or milliseconds since 1970)")),
        _ => v.convert_to(name, t).map_err(|e| e.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(mapping: &[(&str, &str, &str)]) -> SettingsInput {
        SettingsInput {
            enabled: true,
            base_url: "https://api.hubapi.com/".into(),
            token: "pat-1".into(),
            object: "contacts".into(),
            match_field: "email".into(),
            match_to: "email".into(),
            mapping: mapping
                .iter()
                .map(|(r, a, t)| FieldMap {
                    remote: r.to_string(),
                    attribute: a.to_string(),
                    as_type: t.to_string(),
                })
                .collect(),
            interval_minutes: "30".into(),
            ..Default::default()
        }
    }

    #[test]
    fn settings_are_checked_with_a_reason() {
        let ok = check_settings(
            Tool::HubSpot,
            &input(&[("plan", "plan", ""), ("", "", "")]),
            None,
        )
        .unwrap();
        assert_eq!(ok.base_url, "https://api.hubapi.com");
        assert_eq!(ok.mapping.len(), 1, "empty rows are dropped");
        let err = |i: &SettingsInput| check_settings(Tool::HubSpot, i, None).unwrap_err();
        assert!(err(&input(&[("plan", "bad name!", "")])).starts_with("row 1: attribute name"));
        assert!(err(&input(&[("plan", "email", "")])).contains("native field"));
        assert!(err(&input(&[("pl an", "plan", "")])).starts_with("row 1:"));
        assert!(err(&input(&[("a", "x", ""), ("b", "x", "")])).starts_with("row 2:"));
        assert!(err(&input(&[("a", "x", "array")])).contains("not \"array\""));
        assert!(err(&input(&[])).contains("at least one"));
        let mut i = input(&[("a", "x", "")]);
        i.interval_minutes = "1".into();
        assert!(err(&i).contains("from 5 to"));
        i.interval_minutes = "60".into();
        i.base_url = "http://api.hubapi.com".into();
        assert!(err(&i).contains("https"));
        i.base_url = "http://127.0.0.1:9000".into();
        assert!(
            check_settings(Tool::HubSpot, &i, None).is_ok(),
            "plain http to this machine"
        );
        i.base_url = "https://api.hubapi.com/crm".into();
        assert!(err(&i).contains("without a path"));
        i.base_url = String::new();
        assert_eq!(
            check_settings(Tool::HubSpot, &i, None).unwrap_err(),
            "enter HubSpot's API address (https://api.hubapi.com)"
        );
        i.base_url = "https://api.hubapi.com".into();
        i.token = String::new();
        assert!(err(&i).contains("private app"));
        assert_eq!(
            check_settings(Tool::HubSpot, &i, Some("kept"))
                .unwrap()
                .token,
            "kept"
        );
        i.object = "tickets".into();
        assert!(check_settings(Tool::HubSpot, &i, Some("kept"))
            .unwrap_err()
            .contains("contacts, companies or deals"));

        let mut sf = input(&[("Plan__c", "plan", "")]);
        sf.object = "Contact".into();
        sf.match_field = "Email".into();
        sf.base_url = "https://login.salesforce.com".into();
        assert!(check_settings(Tool::Salesforce, &sf, None)
            .unwrap_err()
            .contains("instance URL"));
        sf.base_url = "https://acme.my.salesforce.com".into();
        let c = check_settings(Tool::Salesforce, &sf, None).unwrap();
        assert_eq!(c.api_version, "v60.0");
        sf.object = "Contact; DELETE".into();
        assert!(check_settings(Tool::Salesforce, &sf, None).is_err());
    }

    #[test]
    fn a_record_becomes_an_update_of_the_user_it_names() {
        let config = check_settings(
            Tool::HubSpot,
            &input(&[
                ("plan", "plan", ""),
                ("seats", "seats", "number"),
                ("renews", "renews", "date"),
                ("gone", "gone", ""),
                ("acct", "acct.size", ""),
            ]),
            None,
        )
        .unwrap();
        let record = Record {
            id: "7".into(),
            modified_ms: None,
            fields: json!({"email": " Sam@Acme.io ", "plan": "Pro", "seats": "12", "renews": "1767225600000", "gone": "", "acct": "lots"})
                .as_object()
                .unwrap()
                .clone(),
        };
        let types = HashMap::from([("acct.size".to_string(), AttrType::Number)]);
        let mut notes = Vec::new();
        let (target, update) =
            record_update(&config, "hubspot", &record, &types, &mut notes).unwrap();
        assert_eq!(target, Target::Email("Sam@Acme.io".into()));
        assert_eq!(update.source, "hubspot");
        let values: Vec<(&str, &AttrChange)> = update
            .attributes
            .iter()
            .map(|a| (a.name.as_str(), &a.change))
            .collect();
        assert_eq!(
            values[0],
            ("plan", &AttrChange::Set(AttrValue::String("Pro".into())))
        );
        assert_eq!(
            values[1],
            ("seats", &AttrChange::Set(AttrValue::Number(12.0)))
        );
        assert!(matches!(
            values[2],
            ("renews", AttrChange::Set(AttrValue::Date(_)))
        ));
        assert_eq!(
            values[3],
            ("gone", &AttrChange::Remove),
            "an emptied field removes"
        );
        assert_eq!(values.len(), 4, "the conflicting value is left out");
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].starts_with("record 7 (Sam@Acme.io): `acct.size` from acct:"),
            "{notes:?}"
        );
        assert!(notes[0].contains("number attribute"), "{notes:?}");

        let nobody = Record {
            fields: json!({"email": "not an email"})
                .as_object()
                .unwrap()
                .clone(),
            ..record
        };
        assert!(record_update(&config, "hubspot", &nobody, &types, &mut notes).is_none());
    }

    #[test]
    fn lookups_walk_relationships_and_ignore_case() {
        let f = json!({"Email": "a@b.c", "Account": {"attributes": {}, "Name": "Acme"}});
        let f = f.as_object().unwrap();
        assert_eq!(lookup(f, "email"), Some(&json!("a@b.c")));
        assert_eq!(lookup(f, "Account.Name"), Some(&json!("Acme")));
        assert_eq!(lookup(f, "Account.Nope"), None);
        assert_eq!(lookup(f, "Email.x"), None);
    }
}
