//! Pull syncs against fake HubSpot and Salesforce servers (axum, on
//! 127.0.0.1) that answer the documented endpoints with the documented
//! shapes, check the bearer token, page in small pages and answer 429 once;
//! the real store and writer on SQLite and PostgreSQL.

mod common;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use userdeck::model::attribute::AttrValue;
use userdeck::model::profile::Identify;
use userdeck::server::integrations::pull::run::run_now;
use userdeck::server::integrations::pull::{check_settings, SettingsInput, Tool};
use userdeck::server::store::syncs::FieldMap;
use userdeck::server::store::users::Who;
use userdeck::server::store::writer::WriteOp;
use userdeck::server::{AppState, Settings};

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;
const TOKEN: &str = "good-token";

/// A remote record: id, fields, last modification (ms).
#[derive(Clone, Debug)]
struct Remote {
    id: String,
    fields: Value,
    modified: i64,
}

#[derive(Default)]
struct Fake {
    records: Vec<Remote>,
    /// Answer the next request 429 with Retry-After: 1.
    throttle_once: bool,
    throttled: usize,
    /// What the runs asked: list pages, search filters, SOQL queries.
    requests: Vec<String>,
    /// Salesforce's open query cursors: locator to (records, offset).
    cursors: HashMap<String, (Vec<Remote>, usize)>,
}

type Shared = Arc<Mutex<Fake>>;

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

fn authorized(h: &HeaderMap) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

fn throttled(fake: &mut Fake) -> Option<Response> {
    if std::mem::take(&mut fake.throttle_once) {
        fake.throttled += 1;
        return Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                "slow down",
            )
                .into_response(),
        );
    }
    None
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

// --- HubSpot ----------------------------------------------------------------

const HS_PAGE: usize = 2;

fn hs_record(r: &Remote, properties: &[&str]) -> Value {
    let mut props = serde_json::Map::new();
    for p in properties {
        // HubSpot sends every asked property, null when empty, as text.
        let v = match r.fields.get(*p) {
            None | Some(Value::Null) => Value::Null,
            Some(Value::String(s)) => json!(s),
            Some(other) => json!(other.to_string()),
        };
        props.insert(p.to_string(), v);
    }
    props.insert("lastmodifieddate".into(), json!(iso(r.modified)));
    json!({"id": r.id, "properties": props, "createdAt": iso(T0 - 1000), "updatedAt": iso(r.modified), "archived": false})
}

fn hs_page(records: &[Remote], after: usize, properties: &[&str], total: Option<usize>) -> Value {
    let page: Vec<Value> = records
        .iter()
        .skip(after)
        .take(HS_PAGE)
        .map(|r| hs_record(r, properties))
        .collect();
    let mut body = json!({"results": page});
    if after + HS_PAGE < records.len() {
        let next = (after + HS_PAGE).to_string();
        body["paging"] = json!({"next": {"after": next, "link": "https://api.hubapi.com/..."}});
    }
    if let Some(t) = total {
        body["total"] = json!(t);
    }
    body
}

fn hs_unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"status": "error", "message": "Authentication credentials not found. This API supports OAuth 2.0 authentication.", "category": "INVALID_AUTHENTICATION"})),
    )
        .into_response()
}

async fn hs_list(
    State(f): State<Shared>,
    Path(object): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut fake = f.lock().unwrap();
    if let Some(r) = throttled(&mut fake) {
        return r;
    }
    if !authorized(&headers) {
        return hs_unauthorized();
    }
    assert_eq!(object, "contacts");
    assert_eq!(q.get("limit").map(String::as_str), Some("100"));
    let properties: Vec<&str> = q
        .get("properties")
        .map(|p| p.split(',').collect())
        .unwrap_or_default();
    let after: usize = q.get("after").map_or(0, |a| a.parse().unwrap());
    fake.requests.push(format!(
        "list after={after} properties={}",
        properties.join(",")
    ));
    Json(hs_page(&fake.records, after, &properties, None)).into_response()
}

async fn hs_search(
    State(f): State<Shared>,
    Path(object): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut fake = f.lock().unwrap();
    if !authorized(&headers) {
        return hs_unauthorized();
    }
    assert_eq!(object, "contacts");
    if body.get("filterGroups").is_none() {
        // A full sync's count: a search for nothing.
        assert_eq!(body, json!({"limit": 1, "properties": ["hs_object_id"]}));
        fake.requests.push("count".into());
        let first: Vec<Value> = fake
            .records
            .iter()
            .take(1)
            .map(|r| hs_record(r, &["hs_object_id"]))
            .collect();
        return Json(json!({"total": fake.records.len(), "results": first, "paging": {"next": {"after": "1"}}})).into_response();
    }
    let filter = &body["filterGroups"][0]["filters"][0];
    assert_eq!(filter["propertyName"], "lastmodifieddate", "{body}");
    assert_eq!(filter["operator"], "GTE", "{body}");
    assert_eq!(
        body["sorts"][0],
        json!({"propertyName": "lastmodifieddate", "direction": "ASCENDING"})
    );
    let since: i64 = filter["value"].as_str().unwrap().parse().unwrap();
    let properties: Vec<String> = serde_json::from_value(body["properties"].clone()).unwrap();
    let properties: Vec<&str> = properties.iter().map(String::as_str).collect();
    let after: usize = body["after"].as_str().map_or(0, |a| a.parse().unwrap());
    fake.requests
        .push(format!("search since={since} after={after}"));
    let mut found: Vec<Remote> = fake
        .records
        .iter()
        .filter(|r| r.modified >= since)
        .cloned()
        .collect();
    found.sort_by_key(|r| r.modified);
    let total = found.len();
    Json(hs_page(&found, after, &properties, Some(total))).into_response()
}

fn hubspot_fake(f: Shared) -> Router {
    Router::new()
        .route("/crm/v3/objects/{object}", get(hs_list))
        .route("/crm/v3/objects/{object}/search", post(hs_search))
        .with_state(f)
}

// --- Salesforce ---------------------------------------------------------------

const SF_PAGE: usize = 2;

fn sf_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string()
}

fn sf_page(fake: &mut Fake, records: Vec<Remote>, offset: usize) -> Value {
    let page: Vec<Value> = records
        .iter()
        .skip(offset)
        .take(SF_PAGE)
        .map(|r| {
            let mut v = r.fields.clone();
            v["attributes"] = json!({"type": "Contact", "url": format!("/services/data/v60.0/sobjects/Contact/{}", r.id)});
            v["Id"] = json!(r.id);
            v["LastModifiedDate"] = json!(sf_date(r.modified));
            v
        })
        .collect();
    let total = records.len();
    let done = offset + SF_PAGE >= total;
    let mut body = json!({"totalSize": total, "done": done, "records": page});
    if !done {
        let locator = format!("01gFAKE{}-{}", fake.cursors.len(), offset + SF_PAGE);
        body["nextRecordsUrl"] = json!(format!("/services/data/v60.0/query/{locator}"));
        fake.cursors.insert(locator, (records, offset + SF_PAGE));
    }
    body
}

fn sf_unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])),
    )
        .into_response()
}

async fn sf_query(
    State(f): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut fake = f.lock().unwrap();
    if !authorized(&headers) {
        return sf_unauthorized();
    }
    let soql = q.get("q").cloned().unwrap_or_default();
    fake.requests.push(soql.clone());
    // The query this client is documented to send, nothing else.
    let rest = soql
        .strip_prefix(
            "SELECT Id, LastModifiedDate, Email, Plan__c, Seats__c, Account.Name FROM Contact",
        )
        .unwrap_or_else(|| panic!("unexpected SOQL {soql:?}"));
    let (since, rest) = match rest.strip_prefix(" WHERE LastModifiedDate >= ") {
        Some(r) => {
            let (date, rest) = r.split_once(' ').unwrap();
            let ms = chrono::DateTime::parse_from_rfc3339(date)
                .unwrap()
                .timestamp_millis();
            (Some(ms), format!(" {rest}"))
        }
        None => (None, rest.to_string()),
    };
    assert_eq!(rest, " ORDER BY LastModifiedDate ASC", "{soql}");
    let mut found: Vec<Remote> = fake
        .records
        .iter()
        .filter(|r| since.is_none_or(|s| r.modified >= s))
        .cloned()
        .collect();
    found.sort_by_key(|r| r.modified);
    Json(sf_page(&mut fake, found, 0)).into_response()
}

async fn sf_more(
    State(f): State<Shared>,
    headers: HeaderMap,
    Path(locator): Path<String>,
) -> Response {
    let mut fake = f.lock().unwrap();
    if !authorized(&headers) {
        return sf_unauthorized();
    }
    fake.requests.push(format!("more {locator}"));
    let Some((records, offset)) = fake.cursors.remove(&locator) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!([{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]),
            ),
        )
            .into_response();
    };
    Json(sf_page(&mut fake, records, offset)).into_response()
}

fn salesforce_fake(f: Shared) -> Router {
    Router::new()
        .route("/services/data/v60.0/query", get(sf_query))
        .route("/services/data/v60.0/query/{locator}", get(sf_more))
        .with_state(f)
}

// --- helpers ------------------------------------------------------------------

fn remote(id: &str, modified: i64, fields: Value) -> Remote {
    Remote {
        id: id.into(),
        fields,
        modified,
    }
}

async fn identify(state: &AppState, ws: i64, body: Value) {
    state
        .writer
        .write(WriteOp::Identify {
            workspace: ws,
            input: Identify::from_json(&body).unwrap(),
        })
        .await
        .unwrap();
}

/// The user's attribute `name`: (value, source).
async fn attr(state: &AppState, ws: i64, user: &str, name: &str) -> Option<(AttrValue, String)> {
    let u = state
        .store
        .user(ws, Who::UserId(user))
        .await
        .unwrap()
        .unwrap();
    u.attributes
        .iter()
        .find(|a| a.name == name)
        .map(|a| (a.value.clone(), a.source.clone()))
}

fn mapping(rows: &[(&str, &str, &str)]) -> Vec<FieldMap> {
    rows.iter()
        .map(|(r, a, t)| FieldMap {
            remote: r.to_string(),
            attribute: a.to_string(),
            as_type: t.to_string(),
        })
        .collect()
}

async fn user_count(state: &AppState, ws: i64) -> i64 {
    state
        .store
        .list_users(ws, &Default::default())
        .await
        .unwrap()
        .total
}

fn text(s: &str) -> AttrValue {
    AttrValue::String(s.into())
}

// --- tests --------------------------------------------------------------------

#[tokio::test]
async fn hubspot_full_and_incremental_syncs_update_existing_users_only() {
    for db in common::databases().await {
        let n = db.name;
        let state = AppState::new(db.store.clone(), &Settings::default());
        let ws = db.store.default_workspace().await.unwrap().id;
        identify(
            &state,
            ws,
            json!({"user_id": "u1", "email": "ann@example.com"}),
        )
        .await;
        identify(
            &state,
            ws,
            json!({"user_id": "u2", "email": "bob@example.com", "attributes": {"seats": 3}}),
        )
        .await;
        identify(
            &state,
            ws,
            json!({"user_id": "u3", "email": "cy@example.com", "attributes": {"stage": "old"}}),
        )
        .await;
        let fake: Shared = Arc::default();
        {
            let mut f = fake.lock().unwrap();
            f.throttle_once = true;
            f.records = vec![
                remote(
                    "101",
                    T0 + 1000,
                    json!({"email": "ANN@example.com", "plan": "Pro", "numemployees": "12", "lifecyclestage": "customer"}),
                ),
                remote(
                    "102",
                    T0 + 2000,
                    json!({"email": "bob@example.com", "plan": "Free", "numemployees": "lots", "lifecyclestage": "lead"}),
                ),
                remote(
                    "103",
                    T0 + 3000,
                    json!({"email": "nobody@example.com", "plan": "Pro"}),
                ),
                remote("104", T0 + 4000, json!({"email": null, "plan": "Team"})),
                remote(
                    "105",
                    T0 + 5000,
                    json!({"email": "cy@example.com", "plan": "Team", "numemployees": "7", "lifecyclestage": ""}),
                ),
            ];
        }
        let base = serve(hubspot_fake(fake.clone())).await;
        let input = SettingsInput {
            enabled: true,
            base_url: base.clone(),
            token: TOKEN.into(),
            object: "contacts".into(),
            match_field: "email".into(),
            match_to: "email".into(),
            mapping: mapping(&[
                ("plan", "plan", ""),
                ("numemployees", "seats", "number"),
                ("lifecyclestage", "stage", ""),
            ]),
            interval_minutes: "60".into(),
            ..Default::default()
        };
        let config = check_settings(Tool::HubSpot, &input, None).unwrap();
        db.store.save_sync(ws, &config).await.unwrap();
        let users_before = user_count(&state, ws).await;

        // Full sync: a count, then 3 pages (after a 429 that is waited out), two users
        // matched by email, ignoring case; nobody created.
        let report = run_now(&state, ws, "hubspot", true).await.unwrap();
        assert_eq!(report.error, None, "{n}");
        let c = report.counts;
        assert_eq!(
            (c.read, c.updated, c.not_matched, c.errors),
            (5, 3, 2, 1),
            "{n}: {c:?}"
        );
        {
            let f = fake.lock().unwrap();
            assert_eq!(f.throttled, 1, "{n}");
            assert_eq!(f.requests.len(), 4, "{n}: {:?}", f.requests);
            assert_eq!(f.requests[0], "count", "{n}");
            assert_eq!(
                f.requests[1],
                "list after=0 properties=email,plan,numemployees,lifecyclestage,lastmodifieddate",
                "{n}"
            );
            assert_eq!(
                f.requests[3],
                "list after=4 properties=email,plan,numemployees,lifecyclestage,lastmodifieddate",
                "{n}"
            );
        }
        assert_eq!(
            user_count(&state, ws).await,
            users_before,
            "{n}: no user created"
        );
        assert_eq!(
            attr(&state, ws, "u1", "plan").await,
            Some((text("Pro"), "hubspot".into())),
            "{n}"
        );
        assert_eq!(
            attr(&state, ws, "u1", "seats").await,
            Some((AttrValue::Number(12.0), "hubspot".into())),
            "{n}"
        );
        assert_eq!(
            attr(&state, ws, "u1", "stage").await,
            Some((text("customer"), "hubspot".into())),
            "{n}"
        );
        // A type conflict leaves that value out, logged; the others apply.
        assert_eq!(
            attr(&state, ws, "u2", "seats").await,
            Some((AttrValue::Number(3.0), "custom".into())),
            "{n}"
        );
        assert_eq!(
            attr(&state, ws, "u2", "plan").await,
            Some((text("Free"), "hubspot".into())),
            "{n}"
        );
        // An emptied field removes the attribute.
        assert_eq!(attr(&state, ws, "u3", "stage").await, None, "{n}");
        let log: Vec<String> = db
            .store
            .integration_log(ws, "hubspot", 10)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        assert!(
            log.iter().any(|m| m
                .contains("record 102 (bob@example.com): `seats` from numemployees")
                && m.contains("\"lots\"")),
            "{n}: {log:?}"
        );
        assert!(
            log.iter()
                .any(|m| m.starts_with("2 records matched no user by email")
                    && m.contains("nobody@example.com")),
            "{n}: {log:?}"
        );
        let sync = db.store.sync(ws, "hubspot").await.unwrap().unwrap();
        assert_eq!(sync.cursor_ms, Some(T0 + 5000), "{n}");
        assert_eq!(sync.last.status.as_deref(), Some("ok"), "{n}");
        assert!(sync.last.full, "{n}");

        // Incremental: searches from the cursor, reads only what changed since.
        {
            let mut f = fake.lock().unwrap();
            f.requests.clear();
            f.records[0].fields["plan"] = json!("Enterprise");
            f.records[0].modified = T0 + 9000;
        }
        let report = run_now(&state, ws, "hubspot", false).await.unwrap();
        assert_eq!(report.error, None, "{n}");
        assert_eq!(
            (report.counts.read, report.counts.updated),
            (2, 2),
            "{n}: {:?}",
            report.counts
        );
        assert_eq!(
            fake.lock().unwrap().requests,
            [format!("search since={} after=0", T0 + 5000)],
            "{n}"
        );
        assert_eq!(
            attr(&state, ws, "u1", "plan").await,
            Some((text("Enterprise"), "hubspot".into())),
            "{n}"
        );
        assert_eq!(
            attr(&state, ws, "u2", "plan").await,
            Some((text("Free"), "hubspot".into())),
            "{n}"
        );
        assert_eq!(
            db.store
                .sync(ws, "hubspot")
                .await
                .unwrap()
                .unwrap()
                .cursor_ms,
            Some(T0 + 9000),
            "{n}"
        );

        // A bad token: a clear error, nothing changed, the cursor kept.
        let bad = SettingsInput {
            token: "expired".into(),
            ..input.clone()
        };
        db.store
            .save_sync(ws, &check_settings(Tool::HubSpot, &bad, None).unwrap())
            .await
            .unwrap();
        {
            let mut f = fake.lock().unwrap();
            f.records[0].fields["plan"] = json!("Hacked");
            f.records[0].modified = T0 + 20_000;
        }
        for full in [false, true] {
            let report = run_now(&state, ws, "hubspot", full).await.unwrap();
            let error = report.error.unwrap_or_default();
            assert!(
                error.starts_with(
                    "HubSpot refused the token (401: Authentication credentials not found."
                ),
                "{n}: {error}"
            );
            assert!(
                error.contains("paste the private app's current access token"),
                "{n}: {error}"
            );
            assert_eq!(report.counts.read, 0, "{n}");
        }
        let sync = db.store.sync(ws, "hubspot").await.unwrap().unwrap();
        assert_eq!(
            (sync.last.status.as_deref(), sync.cursor_ms),
            (Some("failed"), Some(T0 + 9000)),
            "{n}"
        );
        assert!(sync.last.error.unwrap().contains("401"), "{n}");
        assert_eq!(
            attr(&state, ws, "u1", "plan").await,
            Some((text("Enterprise"), "hubspot".into())),
            "{n}"
        );
        let log = db.store.integration_log(ws, "hubspot", 1).await.unwrap();
        assert!(
            log[0]
                .1
                .starts_with("the run stopped: HubSpot refused the token"),
            "{n}: {log:?}"
        );
    }
}

#[tokio::test]
async fn salesforce_syncs_page_through_the_query_and_follow_the_cursor() {
    for db in common::databases().await {
        let n = db.name;
        let state = AppState::new(db.store.clone(), &Settings::default());
        let ws = db.store.default_workspace().await.unwrap().id;
        identify(
            &state,
            ws,
            json!({"user_id": "s1", "email": "sue@example.com"}),
        )
        .await;
        identify(
            &state,
            ws,
            json!({"user_id": "s2", "email": "sam@example.com"}),
        )
        .await;
        let fake: Shared = Arc::default();
        fake.lock().unwrap().records = vec![
            remote(
                "003A",
                T0 + 1000,
                json!({"Email": "sue@example.com", "Plan__c": "Pro", "Seats__c": 12, "Account": {"attributes": {"type": "Account"}, "Name": "Acme"}}),
            ),
            remote(
                "003B",
                T0 + 2000,
                json!({"Email": "stranger@example.com", "Plan__c": "Free", "Seats__c": 1, "Account": null}),
            ),
            remote(
                "003C",
                T0 + 3000,
                json!({"Email": "sam@example.com", "Plan__c": "Team", "Seats__c": 4.5, "Account": {"attributes": {"type": "Account"}, "Name": "Beta"}}),
            ),
        ];
        let base = serve(salesforce_fake(fake.clone())).await;
        let input = SettingsInput {
            enabled: true,
            base_url: base.clone(),
            api_version: "v60.0".into(),
            token: TOKEN.into(),
            object: "Contact".into(),
            match_field: "Email".into(),
            match_to: "email".into(),
            mapping: mapping(&[
                ("Plan__c", "plan", ""),
                ("Seats__c", "seats", ""),
                ("Account.Name", "company", ""),
            ]),
            interval_minutes: "15".into(),
        };
        db.store
            .save_sync(ws, &check_settings(Tool::Salesforce, &input, None).unwrap())
            .await
            .unwrap();
        let before = user_count(&state, ws).await;

        let report = run_now(&state, ws, "salesforce", true).await.unwrap();
        assert_eq!(report.error, None, "{n}");
        let c = report.counts;
        assert_eq!(
            (c.read, c.updated, c.not_matched, c.errors),
            (3, 2, 1, 0),
            "{n}: {c:?}"
        );
        {
            let f = fake.lock().unwrap();
            assert_eq!(f.requests.len(), 2, "{n}: two pages: {:?}", f.requests);
            assert!(
                f.requests[1].starts_with("more 01gFAKE"),
                "{n}: {:?}",
                f.requests
            );
        }
        assert_eq!(user_count(&state, ws).await, before, "{n}");
        assert_eq!(
            attr(&state, ws, "s1", "plan").await,
            Some((text("Pro"), "salesforce".into())),
            "{n}"
        );
        assert_eq!(
            attr(&state, ws, "s1", "seats").await,
            Some((AttrValue::Number(12.0), "salesforce".into())),
            "{n}"
        );
        assert_eq!(
            attr(&state, ws, "s1", "company").await,
            Some((text("Acme"), "salesforce".into())),
            "{n}"
        );
        assert_eq!(
            attr(&state, ws, "s2", "seats").await,
            Some((AttrValue::Number(4.5), "salesforce".into())),
            "{n}"
        );

        // Incremental: the WHERE clause carries the cursor.
        {
            let mut f = fake.lock().unwrap();
            f.requests.clear();
            f.records[0].fields["Plan__c"] = json!("Enterprise");
            f.records[0].modified = T0 + 60_000;
        }
        let report = run_now(&state, ws, "salesforce", false).await.unwrap();
        assert_eq!(report.error, None, "{n}");
        assert_eq!((report.counts.read, report.counts.updated), (2, 2), "{n}");
        let q = fake.lock().unwrap().requests[0].clone();
        assert!(
            q.contains(" WHERE LastModifiedDate >= 2026-01-01T00:00:03Z ORDER BY"),
            "{n}: {q}"
        );
        assert_eq!(
            attr(&state, ws, "s1", "plan").await,
            Some((text("Enterprise"), "salesforce".into())),
            "{n}"
        );

        // An expired session: Salesforce's own error, nothing changed.
        let bad = SettingsInput {
            token: "00Dexpired".into(),
            ..input
        };
        db.store
            .save_sync(ws, &check_settings(Tool::Salesforce, &bad, None).unwrap())
            .await
            .unwrap();
        fake.lock().unwrap().records[0].fields["Plan__c"] = json!("Hacked");
        let report = run_now(&state, ws, "salesforce", false).await.unwrap();
        let error = report.error.unwrap_or_default();
        assert!(error.starts_with("Salesforce refused the access token (INVALID_SESSION_ID: Session expired or invalid)"), "{n}: {error}");
        assert_eq!(
            attr(&state, ws, "s1", "plan").await,
            Some((text("Enterprise"), "salesforce".into())),
            "{n}"
        );
        let sync = db.store.sync(ws, "salesforce").await.unwrap().unwrap();
        assert_eq!(
            (sync.last.status.as_deref(), sync.cursor_ms),
            (Some("failed"), Some(T0 + 60_000)),
            "{n}"
        );
    }
}

#[tokio::test]
async fn one_run_at_a_time_per_sync() {
    let db = common::sqlite().await;
    let state = AppState::new(db.store.clone(), &Settings::default());
    let ws = db.store.default_workspace().await.unwrap().id;
    let first =
        userdeck::server::integrations::pull::run::claim(&state, ws, "hubspot", true).unwrap();
    assert!(state.pulls.progress(ws, "hubspot").is_some());
    let again = run_now(&state, ws, "hubspot", false).await.unwrap_err();
    assert!(again.contains("running already"), "{again}");
    // Another tool runs beside it; an unknown one is refused.
    assert!(run_now(&state, ws, "salesforce", false)
        .await
        .unwrap_err()
        .contains("set the Salesforce sync up first"));
    assert!(run_now(&state, ws, "zoho", false).await.is_err());
    drop(first);
    assert!(state.pulls.progress(ws, "hubspot").is_none());
    assert!(run_now(&state, ws, "hubspot", false)
        .await
        .unwrap_err()
        .contains("set the HubSpot sync up first"));
    // A run held by another server sharing the database is not started.
    let config = SettingsInput {
        base_url: "https://api.hubapi.com".into(),
        token: TOKEN.into(),
        object: "contacts".into(),
        match_field: "email".into(),
        match_to: "email".into(),
        mapping: mapping(&[("plan", "plan", "")]),
        interval_minutes: "60".into(),
        ..Default::default()
    };
    let config = check_settings(Tool::HubSpot, &config, None).unwrap();
    db.store.save_sync(ws, &config).await.unwrap();
    assert!(db.store.claim_sync(ws, "hubspot", 60_000).await.unwrap());
    let elsewhere = run_now(&state, ws, "hubspot", true).await.unwrap_err();
    assert!(
        elsewhere.contains("running on another userdeck server"),
        "{elsewhere}"
    );
    assert!(
        state.pulls.progress(ws, "hubspot").is_none(),
        "the claim in memory is let go"
    );
}

#[tokio::test]
async fn the_schedule_picks_switched_on_syncs_whose_interval_has_passed() {
    for db in common::databases().await {
        let (s, n) = (&db.store, db.name);
        let ws = s.default_workspace().await.unwrap().id;
        let settings = |enabled: bool, object: &str| SettingsInput {
            enabled,
            base_url: "https://api.hubapi.com".into(),
            token: TOKEN.into(),
            object: object.into(),
            match_field: "email".into(),
            match_to: "email".into(),
            mapping: mapping(&[("plan", "plan", "")]),
            interval_minutes: "30".into(),
            ..Default::default()
        };
        let hubspot = check_settings(Tool::HubSpot, &settings(true, "contacts"), None).unwrap();
        s.save_sync(ws, &hubspot).await.unwrap();
        let mut salesforce = settings(false, "Contact");
        salesforce.base_url = "https://acme.my.salesforce.com".into();
        salesforce.match_field = "Email".into();
        let salesforce = check_settings(Tool::Salesforce, &salesforce, None).unwrap();
        s.save_sync(ws, &salesforce).await.unwrap();
        let now = userdeck::server::store::now_ms();
        let due = s.due_syncs(now).await.unwrap();
        assert_eq!(
            due,
            [(ws, "hubspot".to_string())],
            "{n}: never run, switched on"
        );
        assert!(s.claim_sync(ws, "hubspot", 60_000).await.unwrap(), "{n}");
        // Another server sharing the database cannot start it meanwhile.
        assert!(!s.claim_sync(ws, "hubspot", 60_000).await.unwrap(), "{n}");
        assert!(s.sync_running(ws, "hubspot").await.unwrap(), "{n}");
        assert!(s.due_syncs(now + 1000).await.unwrap().is_empty(), "{n}");
        assert!(
            s.due_syncs(now + 29 * 60_000).await.unwrap().is_empty(),
            "{n}"
        );
        // The interval has passed and the lease has lapsed.
        assert_eq!(
            s.due_syncs(now + 31 * 60_000).await.unwrap().len(),
            1,
            "{n}"
        );
        // A lapsed lease (its server died mid-run) can be taken over.
        s.renew_sync(ws, "hubspot", -1).await.unwrap();
        assert!(!s.sync_running(ws, "hubspot").await.unwrap(), "{n}");
        assert!(s.claim_sync(ws, "hubspot", 60_000).await.unwrap(), "{n}");

        // A good run moves the cursor, a failed one keeps it; reading
        // another object forgets it.
        let counts = Default::default();
        s.sync_finished(ws, "hubspot", false, counts, Ok(Some(T0)))
            .await
            .unwrap();
        assert!(
            !s.sync_running(ws, "hubspot").await.unwrap(),
            "{n}: a run's end frees it"
        );
        s.sync_finished(ws, "hubspot", false, counts, Err("boom"))
            .await
            .unwrap();
        s.sync_finished(ws, "hubspot", false, counts, Ok(None))
            .await
            .unwrap();
        assert_eq!(
            s.sync(ws, "hubspot").await.unwrap().unwrap().cursor_ms,
            Some(T0),
            "{n}"
        );
        s.save_sync(ws, &hubspot).await.unwrap();
        assert_eq!(
            s.sync(ws, "hubspot").await.unwrap().unwrap().cursor_ms,
            Some(T0),
            "{n}: same object"
        );
        let deals = check_settings(Tool::HubSpot, &settings(true, "deals"), None).unwrap();
        s.save_sync(ws, &deals).await.unwrap();
        let saved = s.sync(ws, "hubspot").await.unwrap().unwrap();
        assert_eq!((saved.cursor_ms, saved.config), (None, deals), "{n}");
    }
}
