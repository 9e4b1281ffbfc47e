//! Salesforce's REST query API, authorized with an OAuth access token.
//!
//! One SOQL query per run, `GET {instance}/services/data/{version}/query?q=`
//! `SELECT Id, LastModifiedDate, ... FROM {object}`, with
//! `WHERE LastModifiedDate >= {cursor}` when incremental and
//! `ORDER BY LastModifiedDate ASC`; then `nextRecordsUrl` until `done`.
//! Answers are `{totalSize, done, records: [{attributes, Id, ...}],
//! nextRecordsUrl}`; errors `[{message, errorCode}]`. SOQL has no quoting
//! of names, so every object and field name is checked against Salesforce's
//! own naming rules: a mapping cannot change the query's meaning.

use super::{Next, Page, Record, Request};
use crate::server::store::syncs::SyncConfig;
use serde_json::Value as Json;

pub const DEFAULT_VERSION: &str = "v60.0";
/// The field every sObject has that the cursor follows.
const MODIFIED: &str = "LastModifiedDate";

/// An API name: a letter, then letters, digits and single `_`, maybe a
/// namespace (`ns__Field__c`) and a custom suffix (`__c`, `__r`), at most
/// 80 characters. Nothing else can be written: no spaces, commas, quotes.
fn api_name(s: &str) -> bool {
    if s.is_empty() || s.len() > 80 || !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return false;
    }
    let body = s.strip_suffix("__c").or(s.strip_suffix("__r")).unwrap_or(s);
    let parts: Vec<&str> = body.split("__").collect();
    parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with('_')
                && !p.ends_with('_')
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

pub fn check_object(object: &str) -> Result<String, String> {
    if api_name(object) {
        Ok(object.to_string())
    } else {
        Err(format!("{object:?} is not a Salesforce object's API name (like Contact, Lead, Account or Subscription__c)"))
    }
}

/// A field's API name, or a relationship path to one (`Account.Name`).
pub fn check_field(name: &str) -> Result<(), String> {
    if name.split('.').count() <= 5 && name.split('.').all(api_name) {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a Salesforce field's API name (like Email, Plan__c or Account.Name)"
        ))
    }
}

pub fn check_version(v: &str) -> Result<String, String> {
    if v.is_empty() {
        return Ok(DEFAULT_VERSION.into());
    }
    let v = if v.starts_with('v') {
        v.to_string()
    } else {
        format!("v{v}")
    };
    let ok = v[1..].split_once('.').is_some_and(|(a, b)| {
        (2..=3).contains(&a.len())
            && b.len() == 1
            && a.chars().chain(b.chars()).all(|c| c.is_ascii_digit())
    });
    if ok {
        Ok(v)
    } else {
        Err(format!(
            "the API version {v:?} is not like {DEFAULT_VERSION}"
        ))
    }
}

/// The SOQL of a run: every record, or those modified from `since` (ms).
/// `>=` and not `>`: a record changed in the same second as the cursor but
/// after the last run read it is read again rather than missed.
pub fn soql(config: &SyncConfig, fields: &[String], since: Option<i64>) -> String {
    let mut select = vec!["Id".to_string(), MODIFIED.to_string()];
    for f in fields {
        if !select.iter().any(|s| s.eq_ignore_ascii_case(f)) {
            select.push(f.clone());
        }
    }
    let filter = since
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|d| format!(" WHERE {MODIFIED} >= {}", d.format("%Y-%m-%dT%H:%M:%SZ")))
        .unwrap_or_default();
    format!(
        "SELECT {} FROM {}{filter} ORDER BY {MODIFIED} ASC",
        select.join(", "),
        config.object
    )
}

/// The request for the first page (`next` None) or the next one.
pub fn request(
    config: &SyncConfig,
    fields: &[String],
    since: Option<i64>,
    next: Option<&str>,
) -> Result<Request, String> {
    match next {
        None => {
            let q = serde_urlencoded::to_string([("q", soql(config, fields, since))])
                .unwrap_or_default();
            Ok(Request::Get(format!(
                "{}/services/data/{}/query?{q}",
                config.base_url, config.api_version
            )))
        }
        // Only a path on the same instance: the token goes nowhere else.
        Some(path) if path.starts_with("/services/data/") && !path.contains("://") => {
            Ok(Request::Get(format!("{}{path}", config.base_url)))
        }
        Some(path) => Err(format!(
            "Salesforce gave an unexpected next page address {path:?}"
        )),
    }
}

pub fn parse_page(body: &Json) -> Result<Page, String> {
    let records = body
        .get("records")
        .and_then(Json::as_array)
        .ok_or("Salesforce answered without `records`")?;
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        let Some(fields) = r.as_object() else {
            return Err("Salesforce sent a record that is not an object".into());
        };
        let id = fields
            .get("Id")
            .and_then(Json::as_str)
            .ok_or("Salesforce sent a record without an Id")?
            .to_string();
        let modified_ms = fields
            .get(MODIFIED)
            .and_then(Json::as_str)
            .and_then(|s| {
                let s = normalize_datetime(s).unwrap_or_else(|| s.to_string());
                crate::model::attribute::parse_date(&s)
            })
            .map(|d| d.timestamp_millis());
        let mut fields = fields.clone();
        fields.remove("attributes");
        out.push(Record {
            id,
            modified_ms,
            fields,
        });
    }
    let done = body.get("done").and_then(Json::as_bool).unwrap_or(true);
    let next = match body.get("nextRecordsUrl").and_then(Json::as_str) {
        Some(url) if !done && !url.is_empty() => Some(Next::Page(url.to_string())),
        _ => None,
    };
    Ok(Page {
        records: out,
        next,
        total: body.get("totalSize").and_then(Json::as_i64),
    })
}

/// Salesforce writes date-times as `2026-01-02T03:04:05.000+0000`; as
/// RFC 3339 (`+00:00`) they read as dates like any other.
pub fn normalize_datetime(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let n = b.len();
    let shaped = (24..=30).contains(&n)
        && b.get(10) == Some(&b'T')
        && matches!(b[n - 5], b'+' | b'-')
        && b[n - 4..].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[..4].iter().all(u8::is_ascii_digit);
    shaped.then(|| format!("{}:{}", &s[..n - 2], &s[n - 2..]))
}

/// What an error answer means, for the sync's log and status.
pub fn error_message(status: u16, body: &str) -> String {
    let (code, said) = serde_json::from_str::<Json>(body)
        .ok()
        .and_then(|b| {
            let first = b.get(0)?;
            Some((
                first.get("errorCode")?.as_str()?.to_string(),
                first.get("message")?.as_str()?.to_string(),
            ))
        })
        .unwrap_or_else(|| (String::new(), body.chars().take(300).collect()));
    match (status, code.as_str()) {
        (401, _) | (_, "INVALID_SESSION_ID") => format!("Salesforce refused the access token ({code}: {said}): get a new OAuth access token for this instance and save it"),
        (_, "INVALID_FIELD") => format!("Salesforce does not know a field ({said}): check the API names of the match field and the mapping"),
        (_, "INVALID_TYPE") => format!("Salesforce does not know the object ({said}): check its API name"),
        (_, "API_DISABLED_FOR_ORG") | (403, _) => format!("Salesforce refuses API access ({code}: {said}): the user needs the API Enabled permission"),
        (404, _) => format!("Salesforce has no such address (404: {said}): check the instance URL and the API version"),
        _ if code.is_empty() => format!("Salesforce answered {status}: {said}"),
        _ => format!("Salesforce answered {status} ({code}): {said}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::integrations::pull::Tool;

    fn config() -> SyncConfig {
        SyncConfig {
            base_url: "https://acme.my.salesforce.com".into(),
            ..Tool::Salesforce.defaults()
        }
    }

    #[test]
    fn names_that_could_change_the_query_are_refused() {
        for ok in [
            "Email",
            "Plan__c",
            "ns__Seats__c",
            "Account.Name",
            "Owner.Manager.Email",
            "X1",
        ] {
            assert!(check_field(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Email, Id",
            "Email FROM User",
            "1st",
            "a__b__c__d",
            "Name--",
            "Id)",
            "x'y",
            "Account..Name",
            "Email_",
        ] {
            assert!(check_field(bad).is_err(), "{bad}");
        }
        assert!(check_object("Subscription__c").is_ok());
        assert!(check_object("Contact WHERE Id != null").is_err());
        assert_eq!(check_version("").unwrap(), "v60.0");
        assert_eq!(check_version("59.0").unwrap(), "v59.0");
        assert!(check_version("v60").is_err());
        assert!(check_version("v60.0/../x").is_err());
    }

    #[test]
    fn the_query_reads_the_mapped_fields_from_the_cursor() {
        let fields = vec![
            "Email".to_string(),
            "email".to_string(),
            "Plan__c".to_string(),
        ];
        assert_eq!(
            soql(&config(), &fields, None),
            "SELECT Id, LastModifiedDate, Email, Plan__c FROM Contact ORDER BY LastModifiedDate ASC"
        );
        assert_eq!(
            soql(&config(), &fields, Some(1_767_323_045_678)),
            "SELECT Id, LastModifiedDate, Email, Plan__c FROM Contact WHERE LastModifiedDate >= 2026-01-02T03:04:05Z ORDER BY LastModifiedDate ASC"
        );
        let Ok(Request::Get(url)) = request(&config(), &fields, None, None) else {
            panic!()
        };
        assert_eq!(url, "https://acme.my.salesforce.com/services/data/v60.0/query?q=SELECT+Id%2C+LastModifiedDate%2C+Email%2C+Plan__c+FROM+Contact+ORDER+BY+LastModifiedDate+ASC");
        assert_eq!(
            request(
                &config(),
                &fields,
                None,
                Some("/services/data/v60.0/query/01g-2000")
            ),
            Ok(Request::Get(
                "https://acme.my.salesforce.com/services/data/v60.0/query/01g-2000".into()
            ))
        );
        assert!(request(
            &config(),
            &fields,
            None,
            Some("https://evil.example/services/data/")
        )
        .is_err());
    }

    #[test]
    fn pages_and_errors_are_read() {
        let body = serde_json::json!({
            "totalSize": 3, "done": false, "nextRecordsUrl": "/services/data/v60.0/query/01g-2",
            "records": [{"attributes": {"type": "Contact", "url": "/x"}, "Id": "003A", "LastModifiedDate": "2026-01-02T03:04:05.000+0000",
                         "Email": "a@b.c", "Account": {"attributes": {}, "Name": "Acme"}}],
        });
        let page = parse_page(&body).unwrap();
        assert_eq!(page.total, Some(3));
        assert_eq!(
            page.next,
            Some(Next::Page("/services/data/v60.0/query/01g-2".into()))
        );
        let r = &page.records[0];
        assert_eq!(
            (r.id.as_str(), r.modified_ms),
            ("003A", Some(1_767_323_045_000))
        );
        assert!(!r.fields.contains_key("attributes"));
        let done =
            parse_page(&serde_json::json!({"totalSize": 0, "done": true, "records": []})).unwrap();
        assert_eq!(done.next, None);
        assert_eq!(
            normalize_datetime("2026-01-02T03:04:05.000+0000").unwrap(),
            "2026-01-02T03:04:05.000+00:00"
        );
        assert_eq!(normalize_datetime("2026-01-02"), None);
        assert_eq!(normalize_datetime("Call me on 2026-01-02 +0000"), None);
        let m = error_message(
            401,
            r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#,
        );
        assert!(m.starts_with("Salesforce refused the access token (INVALID_SESSION_ID: Session expired or invalid)"), "{m}");
        assert!(error_message(
            400,
            r#"[{"message":"No such column 'Plan__c'","errorCode":"INVALID_FIELD"}]"#
        )
        .contains("API names"));
    }
}
