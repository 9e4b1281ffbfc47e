//! HubSpot's CRM v3 objects API, authorized with a private app's token.
//!
//! A full sync lists every record: `GET {base}/crm/v3/objects/{object}
//! ?limit=100&properties=a,b&after=...`. An incremental sync searches for
//! the records modified since the cursor: `POST {base}/crm/v3/objects/
//! {object}/search` filtered on the modification date (GTE), sorted by it
//! ascending. Both answer `{results: [{id, properties, updatedAt}], paging:
//! {next: {after}}}`; the search also says its `total`.

use super::{Next, Page, Record, Request};
use crate::server::store::syncs::SyncConfig;
use serde_json::{json, Value as Json};

pub const DEFAULT_BASE: &str = "https://api.hubapi.com";
pub const OBJECTS: &[&str] = &["contacts", "companies", "deals"];
/// Records per page (the most both endpoints give).
const LIMIT: usize = 100;
/// HubSpot refuses to page a search past 10,000 results.
const SEARCH_WINDOW: i64 = 10_000;

pub fn check_object(object: &str) -> Result<String, String> {
    let lower = object.to_ascii_lowercase();
    if OBJECTS.contains(&lower.as_str()) {
        Ok(lower)
    } else {
        Err(format!(
            "HubSpot object {object:?}: sync contacts, companies or deals"
        ))
    }
}

/// HubSpot's internal property names: letters, digits and `_`.
pub fn check_property(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not a HubSpot property's internal name (letters, digits and `_`, like `lifecyclestage`; HubSpot shows it in the property's settings)"))
    }
}

/// The property holding the last modification: contacts have their own.
pub fn modified_property(object: &str) -> &'static str {
    if object == "contacts" {
        "lastmodifieddate"
    } else {
        "hs_lastmodifieddate"
    }
}

/// The request for a page: the list (full sync, `since` None) or the
/// search from `since` (ms), after the paging token `after`.
pub fn request(
    config: &SyncConfig,
    fields: &[String],
    since: Option<i64>,
    after: Option<&str>,
) -> Request {
    let base = format!("{}/crm/v3/objects/{}", config.base_url, config.object);
    let modified = modified_property(&config.object);
    let mut properties: Vec<&str> = fields.iter().map(String::as_str).collect();
    if !properties.contains(&modified) {
        properties.push(modified);
    }
    match since {
        None => {
            let mut query = vec![
                ("limit", LIMIT.to_string()),
                ("properties", properties.join(",")),
            ];
            if let Some(a) = after {
                query.push(("after", a.to_string()));
            }
            let query = serde_urlencoded::to_string(&query).unwrap_or_default();
            Request::Get(format!("{base}?{query}"))
        }
        Some(ms) => {
            let mut body = json!({
                "filterGroups": [{"filters": [
                    {"propertyName": modified, "operator": "GTE", "value": ms.to_string()}
                ]}],
                "sorts": [{"propertyName": modified, "direction": "ASCENDING"}],
                "properties": properties,
                "limit": LIMIT,
            });
            if let Some(a) = after {
                body["after"] = json!(a);
            }
            Request::Post(format!("{base}/search"), body)
        }
    }
}

/// A search for nothing but the number of records (a full sync's total).
pub fn count_request(config: &SyncConfig) -> Request {
    Request::Post(
        format!(
            "{}/crm/v3/objects/{}/search",
            config.base_url, config.object
        ),
        json!({"limit": 1, "properties": ["hs_object_id"]}),
    )
}

/// The `total` of a search's answer.
pub fn total(body: &Json) -> Option<i64> {
    body.get("total").and_then(Json::as_i64)
}

/// Reads a page of either endpoint.
pub fn parse_page(body: &Json, searching: bool) -> Result<Page, String> {
    let results = body
        .get("results")
        .and_then(Json::as_array)
        .ok_or("HubSpot answered without `results`")?;
    let mut records = Vec::with_capacity(results.len());
    for r in results {
        let id = match r.get("id") {
            Some(Json::String(s)) => s.clone(),
            Some(Json::Number(n)) => n.to_string(),
            _ => return Err("HubSpot sent a record without an id".into()),
        };
        let fields = r
            .get("properties")
            .and_then(Json::as_object)
            .cloned()
            .unwrap_or_default();
        let modified_ms = r
            .get("updatedAt")
            .and_then(Json::as_str)
            .and_then(date_ms)
            .or_else(|| {
                ["lastmodifieddate", "hs_lastmodifieddate"]
                    .iter()
                    .find_map(|p| fields.get(*p).and_then(Json::as_str).and_then(date_ms))
            });
        records.push(Record {
            id,
            modified_ms,
            fields,
        });
    }
    let after = match body.pointer("/paging/next/after") {
        Some(Json::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Json::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let next = after.map(|a| match a.parse::<i64>() {
        // The search's `after` is an offset: past the window, query again
        // from the newest modification read.
        Ok(offset) if searching && offset + LIMIT as i64 > SEARCH_WINDOW => Next::Restart,
        _ => Next::Page(a),
    });
    Ok(Page {
        records,
        next,
        total: total(body),
    })
}

/// HubSpot's dates: ISO 8601, or milliseconds as text.
fn date_ms(s: &str) -> Option<i64> {
    crate::model::attribute::parse_date(s)
        .map(|d| d.timestamp_millis())
        .or_else(|| s.parse().ok())
}

/// What an error answer means, for the sync's log and status.
pub fn error_message(status: u16, body: &str) -> String {
    let said = serde_json::from_str::<Json>(body)
        .ok()
        .and_then(|b| b.get("message").and_then(Json::as_str).map(str::to_string))
        .unwrap_or_else(|| body.chars().take(300).collect());
    match status {
        401 => format!("HubSpot refused the token (401: {said}): paste the private app's current access token and save"),
        403 => format!("HubSpot says the token may not read this object (403: {said}): give the private app the object's read scope (for example crm.objects.contacts.read)"),
        404 => format!("HubSpot has no such object or address (404: {said}): check the base URL and the object"),
        _ => format!("HubSpot answered {status}: {said}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::integrations::pull::Tool;

    fn config(object: &str) -> SyncConfig {
        SyncConfig {
            object: object.into(),
            ..Tool::HubSpot.defaults()
        }
    }

    #[test]
    fn a_full_sync_lists_and_an_incremental_one_searches_from_the_cursor() {
        let fields = vec!["email".to_string(), "plan".to_string()];
        assert_eq!(
            request(&config("contacts"), &fields, None, None),
            Request::Get("https://api.hubapi.com/crm/v3/objects/contacts?limit=100&properties=email%2Cplan%2Clastmodifieddate".into())
        );
        assert_eq!(
            request(&config("deals"), &fields, None, Some("abc")),
            Request::Get("https://api.hubapi.com/crm/v3/objects/deals?limit=100&properties=email%2Cplan%2Chs_lastmodifieddate&after=abc".into())
        );
        let Request::Post(url, body) = request(
            &config("companies"),
            &fields,
            Some(1_767_225_600_000),
            Some("100"),
        ) else {
            panic!("a search is a POST")
        };
        assert_eq!(
            url,
            "https://api.hubapi.com/crm/v3/objects/companies/search"
        );
        assert_eq!(
            body,
            json!({
                "filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": "1767225600000"}]}],
                "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
                "properties": ["email", "plan", "hs_lastmodifieddate"],
                "limit": 100,
                "after": "100",
            })
        );
    }

    #[test]
    fn a_full_sync_counts_with_a_search_for_nothing() {
        assert_eq!(
            count_request(&config("deals")),
            Request::Post(
                "https://api.hubapi.com/crm/v3/objects/deals/search".into(),
                json!({"limit": 1, "properties": ["hs_object_id"]})
            )
        );
        assert_eq!(total(&json!({"total": 42, "results": []})), Some(42));
        assert_eq!(total(&json!({"results": []})), None);
    }

    #[test]
    fn pages_are_read_with_their_paging() {
        let body = json!({
            "total": 250,
            "results": [
                {"id": "1", "properties": {"email": "a@b.c", "plan": "Pro"}, "updatedAt": "2026-01-02T03:04:05.678Z"},
                {"id": 2, "properties": {"email": null, "hs_lastmodifieddate": "1767225600000"}},
            ],
            "paging": {"next": {"after": "100", "link": "..."}},
        });
        let page = parse_page(&body, true).unwrap();
        assert_eq!(page.total, Some(250));
        assert_eq!(page.next, Some(Next::Page("100".into())));
        assert_eq!(page.records[0].modified_ms, Some(1_767_323_045_678));
        assert_eq!(page.records[1].id, "2");
        assert_eq!(page.records[1].modified_ms, Some(1_767_225_600_000));
        let last = parse_page(&json!({"results": []}), false).unwrap();
        assert_eq!((last.next, last.total), (None, None));
        // Past the search window, the search starts again from the cursor.
        let last_in_window = parse_page(
            &json!({"results": [], "paging": {"next": {"after": "9900"}}}),
            true,
        )
        .unwrap();
        assert_eq!(last_in_window.next, Some(Next::Page("9900".into())));
        let far = parse_page(
            &json!({"results": [], "paging": {"next": {"after": "10000"}}}),
            true,
        )
        .unwrap();
        assert_eq!(far.next, Some(Next::Restart));
        let listing = parse_page(
            &json!({"results": [], "paging": {"next": {"after": "10000"}}}),
            false,
        )
        .unwrap();
        assert_eq!(listing.next, Some(Next::Page("10000".into())));
        assert!(parse_page(&json!({"status": "error"}), false).is_err());
    }

    #[test]
    fn names_and_errors() {
        assert!(check_property("hs_lead_status").is_ok());
        assert!(check_property("a,b").is_err());
        assert!(check_property("").is_err());
        assert_eq!(check_object("Contacts").unwrap(), "contacts");
        let m = error_message(
            401,
            r#"{"status":"error","message":"Authentication credentials not found.","category":"INVALID_AUTHENTICATION"}"#,
        );
        assert!(
            m.starts_with("HubSpot refused the token (401: Authentication credentials not found.)"),
            "{m}"
        );
        assert_eq!(error_message(500, "oops"), "HubSpot answered 500: oops");
    }
}
