//! The receivers' endpoints, each speaking its tool's protocol closely
//! enough for the tool's own client library (tests/receivers use the real
//! npm clients): Segment's HTTP Tracking API, PostHog's capture / batch,
//! Mixpanel's `/engage`, Amplitude's HTTP V2. Mounted under
//! `/integrations/<tool>`: point the client's host there.

use super::{apply, Change};
use crate::server::http::error::ApiError;
use crate::server::AppState;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde_json::{json, Map, Value as Json_};
use std::collections::HashMap;

fn unauthorized(kind: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        format!("unknown or switched-off {kind} key: copy it from Settings > Integrations and switch the integration on"),
    )
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_request", message)
}

async fn workspace_of(state: &AppState, kind: &str, key: Option<&str>) -> Result<i64, ApiError> {
    let key = key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| unauthorized(kind))?;
    state
        .store
        .integration_workspace(kind, key)
        .await?
        .ok_or_else(|| unauthorized(kind))
}

fn object(v: Option<&Json_>) -> Map<String, Json_> {
    v.and_then(Json_::as_object).cloned().unwrap_or_default()
}

fn text(v: Option<&Json_>) -> Option<String> {
    match v? {
        Json_::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Json_::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn parse(body: &Bytes) -> Result<Json_, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))
}

async fn receive(
    state: &AppState,
    ws: i64,
    kind: &'static str,
    changes: Vec<Change>,
) -> Result<(), ApiError> {
    apply(state, ws, kind, changes).await?;
    Ok(())
}

// --- Segment --------------------------------------------------------------

/// `POST /integrations/segment/v1/identify` and `/v1/batch` (Basic auth:
/// the write key as the user name, or `writeKey` in the body). Identify
/// calls carry traits; other calls are accepted and ignored.
pub async fn segment(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Json_>, ApiError> {
    let body = parse(&body)?;
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .map(|s| s.split(':').next().unwrap_or_default().to_string());
    let key = basic.or_else(|| text(body.get("writeKey")));
    let ws = workspace_of(&state, "segment", key.as_deref()).await?;
    let messages = match body.get("batch") {
        Some(Json_::Array(items)) => items.clone(),
        Some(_) => return Err(bad("`batch` is a list of calls")),
        None => vec![body.clone()],
    };
    let changes = messages
        .iter()
        .filter(|m| m.get("type").and_then(Json_::as_str).unwrap_or("identify") == "identify")
        .map(|m| {
            let traits = object(m.get("traits"));
            Change {
                user_id: text(m.get("userId")),
                email: text(traits.get("email")),
                set: traits,
                ..Default::default()
            }
        })
        .collect();
    receive(&state, ws, "segment", changes).await?;
    Ok(Json(json!({"success": true})))
}

// --- PostHog --------------------------------------------------------------

/// `POST /integrations/posthog/batch/` and `/capture/` (the project API key
/// as `api_key`). Every event's `$set`, `$set_once` and `$unset` apply to
/// its `distinct_id`.
pub async fn posthog(State(state): State<AppState>, body: Bytes) -> Result<Json<Json_>, ApiError> {
    let body = parse(&body)?;
    let ws = workspace_of(&state, "posthog", text(body.get("api_key")).as_deref()).await?;
    let events = match body.get("batch") {
        Some(Json_::Array(items)) => items.clone(),
        Some(_) => return Err(bad("`batch` is a list of events")),
        None => vec![body.clone()],
    };
    let changes = events
        .iter()
        .map(|e| {
            let props = object(e.get("properties"));
            let top = |k: &str| e.get(k).or_else(|| props.get(k));
            let set = object(top("$set"));
            Change {
                user_id: text(e.get("distinct_id")).or_else(|| text(props.get("distinct_id"))),
                email: text(set.get("email")),
                set,
                set_once: object(top("$set_once")),
                unset: top("$unset")
                    .and_then(Json_::as_array)
                    .map(|a| a.iter().filter_map(|v| text(Some(v))).collect())
                    .unwrap_or_default(),
            }
        })
        .collect();
    receive(&state, ws, "posthog", changes).await?;
    Ok(Json(json!({"status": 1})))
}

// --- Mixpanel -------------------------------------------------------------

/// `GET` or `POST /integrations/mixpanel/engage`: `data` is base64 of one
/// profile update or a list (`$token`, `$distinct_id`, `$set`,
/// `$set_once`, `$unset`), in the query or a form body. Answers `1`, or
/// `{"status": 1, "error": null}` with `verbose=1`.
pub async fn mixpanel(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let data = form
        .get("data")
        .or(query.get("data"))
        .ok_or_else(|| bad("`data` is missing: base64 of the profile update"))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(data.trim()))
        .map_err(|_| bad("`data` is not base64"))?;
    let parsed = parse(&Bytes::from(decoded))?;
    let updates = match parsed {
        Json_::Array(items) => items,
        one => vec![one],
    };
    let token = updates.first().and_then(|u| text(u.get("$token")));
    let ws = workspace_of(&state, "mixpanel", token.as_deref()).await?;
    let changes = updates
        .iter()
        .map(|u| {
            let set = object(u.get("$set"));
            Change {
                user_id: text(u.get("$distinct_id")),
                email: text(set.get("$email")).or_else(|| text(set.get("email"))),
                set,
                set_once: object(u.get("$set_once")),
                unset: u
                    .get("$unset")
                    .and_then(Json_::as_array)
                    .map(|a| a.iter().filter_map(|v| text(Some(v))).collect())
                    .unwrap_or_default(),
            }
        })
        .collect();
    receive(&state, ws, "mixpanel", changes).await?;
    let verbose = query.get("verbose").is_some_and(|v| v == "1");
    Ok(if verbose {
        Json(json!({"status": 1, "error": null})).into_response()
    } else {
        "1".into_response()
    })
}

// --- Amplitude ------------------------------------------------------------

/// `POST /integrations/amplitude/2/httpapi` (HTTP V2: `api_key`, `events`)
/// and `/identify`: each event's `user_properties` (`$set`, `$setOnce`,
/// `$unset`, or plain properties meaning `$set`) apply to its `user_id`.
pub async fn amplitude(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Json_>, ApiError> {
    let body = parse(&body)?;
    let ws = workspace_of(&state, "amplitude", text(body.get("api_key")).as_deref()).await?;
    let events = body
        .get("events")
        .or(body.get("identification"))
        .and_then(Json_::as_array)
        .cloned()
        .ok_or_else(|| bad("`events` is a list of events"))?;
    let changes: Vec<Change> = events
        .iter()
        .map(|e| {
            let props = object(e.get("user_properties"));
            let operators = props.keys().any(|k| k.starts_with('$'));
            let set = if operators {
                object(props.get("$set"))
            } else {
                props.clone()
            };
            Change {
                user_id: text(e.get("user_id")),
                email: text(set.get("email")),
                set,
                set_once: object(props.get("$setOnce")),
                unset: object(props.get("$unset")).keys().cloned().collect(),
            }
        })
        .collect();
    let n = changes.len();
    receive(&state, ws, "amplitude", changes).await?;
    Ok(Json(json!({
        "code": 200, "events_ingested": n, "payload_size_bytes": 0,
        "server_upload_time": crate::server::store::now_ms(),
    })))
}
