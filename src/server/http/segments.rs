//! `/api/v1/segments`: saved segments (their conditions), as API.md lists.
//! Counting and listing a segment's users come with the SQL form of
//! conditions.

use super::error::{ApiError, JsonBody};
use super::rest::SecretKey;
use crate::model::segment::SegmentInput;
use crate::server::store::segments::SegmentStoreError;
use crate::server::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

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

fn segment_id(id: &str) -> Result<i64, ApiError> {
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
