//! `/api/v1/segments`: saved segments (their conditions), counting the users
//! a condition matches, a segment's users and a user's segments (API.md).

use super::error::{ApiError, JsonBody};
use super::rest::SecretKey;
use super::rest::{list_query, no_user};
use crate::model::condition::Condition;
use crate::model::segment::SegmentInput;
use crate::server::store::now_ms;
use crate::server::store::segments::SegmentStoreError;
use crate::server::store::users::Who;
use crate::server::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

impl From<SegmentStoreError> for ApiError {
    fn from(e: SegmentStoreError) -> ApiError {
        let message = e.to_string();
        match e {
            SegmentStoreError::Invalid(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_condition",
                message,
            ),
            SegmentStoreError::NameTaken(_) => {
                ApiError::new(StatusCode::CONFLICT, "segment_name_taken", message)
            }
            SegmentStoreError::NotFound(_) => ApiError::not_found("segment_not_found", message),
            SegmentStoreError::InUse(_) => {
                ApiError::new(StatusCode::CONFLICT, "segment_in_use", message)
            }
            SegmentStoreError::Store(e) => e.into(),
        }
    }
}

fn input(body: &serde_json::Value) -> Result<SegmentInput, ApiError> {
    SegmentInput::from_json(body)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_segment", e.0))
}

pub(super) fn segment_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| {
        ApiError::not_found("segment_not_found", format!("no segment has the id {id:?}"))
    })
}

pub async fn create(
    State(state): State<AppState>,
    SecretKey(ws): SecretKey,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let saved = state
        .store
        .save_segment(ws.id, None, &input(&body)?)
        .await?;
    Ok((StatusCode::CREATED, Json(saved.to_json())).into_response())
}

pub async fn list(
    State(state): State<AppState>,
    SecretKey(ws): SecretKey,
) -> Result<Json<serde_json::Value>, ApiError> {
    let all = state.store.segments(ws.id).await?;
    Ok(Json(
        json!({"segments": all.iter().map(|s| s.to_json()).collect::<Vec<_>>()}),
    ))
}

pub async fn get(
    State(state): State<AppState>,
    SecretKey(ws): SecretKey,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = segment_id(&id)?;
    match state.store.segment(ws.id, id).await? {
        Some(s) => Ok(Json(s.to_json())),
        None => Err(SegmentStoreError::NotFound(id).into()),
    }
}

pub async fn replace(
    State(state): State<AppState>,
    SecretKey(ws): SecretKey,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = segment_id(&id)?;
    let saved = state
        .store
        .save_segment(ws.id, Some(id), &input(&body)?)
        .await?;
    Ok(Json(saved.to_json()))
}

pub async fn delete(
    State(state): State<AppState>,
    SecretKey(ws): SecretKey,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_segment(ws.id, segment_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/segments/count` `{"condition": ...}`: how many users match now.
pub async fn count(
    State(state): State<AppState>,
    SecretKey(ws): SecretKey,
    JsonBody(body): JsonBody,
) -> Result<Json<serde_json::Value>, ApiError> {
    let condition = match body.get("condition") {
        Some(c) => Condition::parse(c).map_err(SegmentStoreError::Invalid)?,
        None => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_condition",
                "the body is {\"condition\": {...}}; see API.md \"Conditions\"",
            ))
        }
    };
    let count = state.store.count_where(ws.id, &condition, now_ms()).await?;
    Ok(Json(json!({ "count": count })))
}

/// `GET /api/v1/segments/{id}/users`: like `GET /api/v1/users`, within the segment.
pub async fn users(
    State(state): State<AppState>,
    SecretKey(ws): SecretKey,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = segment_id(&id)?;
    let mut query = list_query(&params)?;
    if params.contains_key("segment") {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "`segment` is given by the path here; drop the parameter",
        ));
    }
    query.condition = Some(Arc::new(
        state.store.segment_filter(ws.id, id, now_ms()).await?,
    ));
    let page = state.store.list_users(ws.id, &query).await?;
    Ok(Json(
        json!({"users": page.users, "next_cursor": page.next_cursor, "total": page.total}),
    ))
}

/// `GET /api/v1/users/{user_id}/segments`: the segments the user is in now.
pub async fn of_user(
    State(state): State<AppState>,
    SecretKey(ws): SecretKey,
    Path(user_id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let segments = state
        .store
        .segments_of(ws.id, Who::UserId(&user_id), now_ms())
        .await?
        .ok_or_else(|| no_user(&user_id))?;
    Ok(Json(json!({
        "segments": segments.iter().map(|s| json!({"id": s.id, "name": s.name})).collect::<Vec<_>>()
    })))
}
