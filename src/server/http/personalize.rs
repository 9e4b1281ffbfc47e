//! Rendering templates for a user: `POST /api/v1/personalize` (any user, by
//! user id) and the SDK's `personalize` (the visitor), one answer shape.

use super::error::{ApiError, JsonBody};
use super::rest::{no_user, SecretKey};
use crate::model::template::Template;
use crate::server::store::users::Who;
use crate::server::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value as Json_};

/// `{"text", "missing", "unknown"}` for `who`, or None when there is no such user.
pub(super) async fn render_for(
    state: &AppState,
    workspace: i64,
    who: Who<'_>,
    template: Option<&Json_>,
) -> Result<Option<Json_>, ApiError> {
    let Some(source) = template.and_then(Json_::as_str) else {
        return Err(invalid(
            "`template` is missing: send {\"template\": \"Hello {firstName|there}\"}".into(),
        ));
    };
    let template = Template::parse(source).map_err(|e| invalid(format!("`template`: {e}")))?;
    let Some(user) = state.store.user(workspace, who).await? else {
        return Ok(None);
    };
    let names: std::collections::HashSet<String> = state
        .store
        .definitions(workspace)
        .await?
        .into_iter()
        .map(|d| d.name)
        .collect();
    let r = template.render(&user, &|n| names.contains(n));
    Ok(Some(
        json!({"text": r.text, "missing": r.missing, "unknown": r.unknown}),
    ))
}

fn invalid(message: String) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_template",
        message,
    )
}

pub async fn personalize(
    State(state): State<AppState>,
    SecretKey(ws): SecretKey,
    JsonBody(body): JsonBody,
) -> Result<Json<Json_>, ApiError> {
    let Some(user_id) = body.get("user_id").and_then(Json_::as_str) else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "`user_id` is missing: send {\"user_id\": \"...\", \"template\": \"...\"}",
        ));
    };
    render_for(&state, ws.id, Who::UserId(user_id), body.get("template"))
        .await?
        .map(Json)
        .ok_or_else(|| no_user(user_id))
}
