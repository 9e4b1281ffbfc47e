//! REST API handlers (`/api/v1`, secret key): parse, authorize, call the
//! store or writer, map errors.

use super::error::{ApiError, JsonBody};
use crate::model::profile::Identify;
use crate::server::keycache::KeyKind;
use crate::server::store::list::{Cursor, ListQuery, Sort, SORT_KEYS};
use crate::server::store::now_ms;
use crate::server::store::users::{UserKey, Who};
use crate::server::store::workspace::Workspace;
use crate::server::store::writer::{WriteOp, WriteOutcome};
use crate::server::AppState;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value as Json_};
use std::collections::HashMap;

/// Most identify bodies in one batch.
pub const MAX_BATCH: usize = 1000;
pub const MAX_PAGE: usize = 500;

/// The workspace of the request's `Authorization: Bearer <secret_key>`.
pub struct SecretKey(pub Workspace);

impl FromRequestParts<AppState> for SecretKey {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("send your secret key as `Authorization: Bearer <secret_key>` (`userdeck keys` prints it)"))?;
        let key = header
            .to_str()
            .ok()
            // The scheme is case-insensitive (RFC 7235).
            .and_then(|h| h.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim())
            .ok_or_else(|| {
                unauthorized(
                    "the Authorization header must be `Bearer <secret_key>` (`userdeck keys` prints the key)",
                )
            })?;
        if key.starts_with("pk_") {
            return Err(unauthorized(
                "this is the public SDK key; the REST API needs the secret key (sk_...), which `userdeck keys` prints",
            ));
        }
        let ws = state
            .keys
            .workspace(&state.store, KeyKind::Secret, key)
            .await?
            .ok_or_else(|| {
                unauthorized("this secret key is not valid: check it with `userdeck keys`")
            })?;
        Ok(SecretKey(ws))
    }
}

pub async fn identify(
    State(state): State<AppState>,
    SecretKey(ws): SecretKey,
    JsonBody(body): JsonBody,
) -> Result<Json<Json_>, ApiError> {
    let input = Identify::from_json(&body).map_err(ApiError::invalid)?;
    match state
        .writer
        .write(WriteOp::Identify {
            workspace: ws.id,
            input,
        })
        .await?
    {
        WriteOutcome::User(user) => Ok(Json(json!(user))),
        other => Err(unexpected(other)),
    }
}

fn unexpected(o: WriteOutcome) -> ApiError {
    crate::server::store::StoreError::Corrupt(format!("unexpected write outcome {o:?}")).into()
}

/// `{"batch": [identify bodies]}`: each item is applied or rejected on its
/// own; all accepted items commit together.
pub async fn batch(
    State(state): State<AppState>,
    SecretKey(ws): SecretKey,
    JsonBody(body): JsonBody,
) -> Result<Json<Json_>, ApiError> {
    let items = body.get("batch").and_then(Json_::as_array).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "the body must be {\"batch\": [identify bodies]}",
        )
    })?;
    if items.len() > MAX_BATCH {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!(
                "{} items in one batch; send at most {MAX_BATCH} per request",
                items.len()
            ),
        ));
    }
    let parsed: Vec<_> = items.iter().map(Identify::from_json).collect();
    let ops = parsed
        .iter()
        .filter_map(|p| p.as_ref().ok())
        .map(|input| WriteOp::Identify {
            workspace: ws.id,
            input: input.clone(),
        });
    let mut written = state.writer.write_many(ops.collect()).await.into_iter();
    let results: Vec<Json_> = parsed
        .iter()
        .map(|p| match p {
            Err(e) => ApiError::invalid(e.clone()).body(),
            Ok(_) => match written.next() {
                Some(Ok(_)) => json!({"ok": true}),
                Some(Err(e)) => ApiError::from(e).body(),
                None => json!({"error": {"code": "internal_error", "message": "not applied"}}),
            },
        })
        .collect();
    Ok(Json(json!({ "results": results })))
}

pub async fn get_user(
    State(state): State<AppState>,
    SecretKey(ws): SecretKey,
    Path(user_id): Path<String>,
) -> Result<Json<Json_>, ApiError> {
    if user_id.chars().any(char::is_control) {
        return Err(no_user(&user_id));
    }
    let user = state
        .store
        .user(ws.id, Who::UserId(&user_id))
        .await?
        .ok_or_else(|| no_user(&user_id))?;
    Ok(Json(json!(user)))
}

pub(super) fn no_user(user_id: &str) -> ApiError {
    ApiError::not_found(
        "user_not_found",
        format!("no user has user_id {user_id:?} in this workspace"),
    )
}

pub async fn delete_user(
    State(state): State<AppState>,
    SecretKey(ws): SecretKey,
    Path(user_id): Path<String>,
) -> Result<Response, ApiError> {
    if user_id.chars().any(char::is_control) {
        return Err(no_user(&user_id));
    }
    match state
        .writer
        .write(WriteOp::DeleteUser {
            workspace: ws.id,
            user: UserKey::UserId(user_id.clone()),
        })
        .await?
    {
        WriteOutcome::Deleted(true) => Ok(StatusCode::NO_CONTENT.into_response()),
        WriteOutcome::Deleted(false) => Err(no_user(&user_id)),
        other => Err(unexpected(other)),
    }
}

/// `q`, `segment`, `sort`, `limit` (≤ 500), `cursor`.
pub async fn list_users(
    State(state): State<AppState>,
    SecretKey(ws): SecretKey,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Json_>, ApiError> {
    let mut query = list_query(&params)?;
    if let Some(id) = params.get("segment") {
        let id = super::segments::segment_id(id)?;
        query.condition = Some(std::sync::Arc::new(
            state.store.segment_filter(ws.id, id, now_ms()).await?,
        ));
    }
    let page = state.store.list_users(ws.id, &query).await?;
    Ok(Json(
        json!({"users": page.users, "next_cursor": page.next_cursor, "total": page.total}),
    ))
}

/// The list parameters shared by `GET /users` and a segment's users
/// (`segment` is read by the caller).
pub(super) fn list_query(params: &HashMap<String, String>) -> Result<ListQuery, ApiError> {
    const KNOWN: &[&str] = &["q", "sort", "limit", "cursor", "segment"];
    if let Some(unknown) = params.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!(
                "unknown parameter `{unknown}`; the parameters are {}",
                KNOWN.join(", ")
            ),
        ));
    }
    let sort = match params.get("sort") {
        None => Sort::default(),
        Some(s) => Sort::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_sort",
                format!(
                    "cannot sort by {s:?}: use one of {} (prefix with - for descending)",
                    SORT_KEYS.join(", ")
                ),
            )
        })?,
    };
    let limit = match params.get("limit") {
        None => 50,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_limit",
                    format!("`limit` must be a whole number from 1 to {MAX_PAGE}, not {l:?}"),
                ))
            }
        },
    };
    let cursor = match params.get("cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(Cursor::decode(c, &sort).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_cursor",
                "`cursor` must be a `next_cursor` from an earlier page with the same `sort`",
            )
        })?),
    };
    let search = params.get("q").cloned();
    if search
        .as_ref()
        .is_some_and(|q| q.chars().count() > 200 || q.chars().any(char::is_control))
    {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "`q` holds at most 200 characters and no control characters",
        ));
    }
    Ok(ListQuery {
        search,
        has: None,
        sort,
        limit,
        cursor,
        skip_total: false,
        attributes: None,
        condition: None,
    })
}

pub async fn attributes(
    State(state): State<AppState>,
    SecretKey(ws): SecretKey,
) -> Result<Json<Json_>, ApiError> {
    let defs = state.store.definitions(ws.id).await?;
    Ok(Json(json!({ "attributes": defs })))
}

pub async fn wrong_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method; see API.md for the list",
    )
}

pub async fn no_such_endpoint() -> ApiError {
    ApiError::not_found(
        "not_found",
        "there is no such endpoint; see API.md for the list",
    )
}
