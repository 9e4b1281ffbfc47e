//! SDK endpoints (`/sdk/v1`, public SDK key). A visitor is known by the
//! jimer id its browser holds and can only touch that one profile.

use super::error::{ApiError, JsonBody};
use crate::model::profile::{parse_user_id, ProfileUpdate};
use crate::server::keycache::KeyKind;
use crate::server::store::users::Who;
use crate::server::store::workspace::Workspace;
use crate::server::store::writer::{WriteOp, WriteOutcome};
use crate::server::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value as Json_};
use sha2::Sha256;

/// The SDK key and the visitor of an SDK call, checked and rate-limited.
struct Visitor {
    workspace: Workspace,
    jimer_id: String,
}

async fn visitor(
    state: &AppState,
    body: &Json_,
) -> Result<(Visitor, Map<String, Json_>), ApiError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::bad_request("invalid_request", "the body must be a JSON object"))?
        .clone();
    let key = obj.get("key").and_then(Json_::as_str).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "`key` is missing: set window.USERDECK_KEY to your SDK key",
        )
    })?;
    let workspace = state
        .keys
        .workspace(&state.store, KeyKind::Sdk, key)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this SDK key is not valid: copy it from `userdeck keys`",
            )
        })?;
    if let Err(wait) = state.sdk_limiter.check(key) {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests for this SDK key; retry after the number of seconds in Retry-After",
        );
        e.retry_after = Some(wait.as_secs().max(1));
        return Err(e);
    }
    let jimer_id = obj
        .get("jimer_id")
        .and_then(Json_::as_str)
        .unwrap_or_default();
    if !valid_jimer_id(jimer_id) {
        return Err(ApiError::bad_request(
            "invalid_jimer_id",
            "`jimer_id` must be \"j_\" followed by 8 to 64 letters or digits, as sdk.js makes them",
        ));
    }
    Ok((
        Visitor {
            workspace,
            jimer_id: jimer_id.to_string(),
        },
        obj,
    ))
}

pub fn valid_jimer_id(s: &str) -> bool {
    s.strip_prefix("j_").is_some_and(|r| {
        (8..=64).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

fn linked(outcome: WriteOutcome) -> Result<Json<Json_>, ApiError> {
    match outcome {
        WriteOutcome::Linked { jimer_id, user_id } => {
            Ok(Json(json!({"jimer_id": jimer_id, "user_id": user_id})))
        }
        other => Err(crate::server::store::StoreError::Corrupt(format!(
            "unexpected write outcome {other:?}"
        ))
        .into()),
    }
}

/// A page load: creates the anonymous profile if new, counts a session.
pub async fn visit(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Json<Json_>, ApiError> {
    let (v, _) = visitor(&state, &body).await?;
    linked(
        state
            .writer
            .write(WriteOp::Visit {
                workspace: v.workspace.id,
                jimer_id: v.jimer_id,
            })
            .await?,
    )
}

/// Links the visitor to a user id. With identify verification on, the call
/// must carry `user_hash = hex(HMAC-SHA256(identify_secret, user_id))`.
pub async fn identify(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Json<Json_>, ApiError> {
    let (v, obj) = visitor(&state, &body).await?;
    let user_id =
        parse_user_id(obj.get("user_id").unwrap_or(&Json_::Null)).map_err(ApiError::invalid)?;
    if v.workspace.identify_verification {
        let hash = obj
            .get("user_hash")
            .and_then(Json_::as_str)
            .unwrap_or_default();
        if !verify_user_hash(&v.workspace.identify_secret, &user_id, hash) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_user_hash",
                "identify verification is on: pass userHash = hex(HMAC-SHA256(identify_secret, userId)), computed on your server",
            ));
        }
    }
    let op = WriteOp::SdkIdentify {
        workspace: v.workspace.id,
        jimer_id: v.jimer_id,
        user_id,
    };
    linked(state.writer.write(op).await?)
}

pub fn verify_user_hash(secret: &str, user_id: &str, hash: &str) -> bool {
    let Ok(expected) = hex::decode(hash.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(user_id.as_bytes());
    mac.verify_slice(&expected).is_ok()
}

/// The visitor's own attributes, name, email, language.
pub async fn update(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Json<Json_>, ApiError> {
    let (v, obj) = visitor(&state, &body).await?;
    let update =
        ProfileUpdate::from_object(&obj, &["key", "jimer_id"]).map_err(ApiError::invalid)?;
    let op = WriteOp::SdkUpdate {
        workspace: v.workspace.id,
        jimer_id: v.jimer_id,
        update,
    };
    state.writer.write(op).await?;
    Ok(Json(json!({"ok": true})))
}

/// The visitor's own profile; never anyone else's.
pub async fn me(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Json<Json_>, ApiError> {
    let (v, _) = visitor(&state, &body).await?;
    let user = state
        .store
        .user(v.workspace.id, Who::JimerId(&v.jimer_id))
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "unknown_visitor",
                "this jimer id has no profile yet: the SDK registers a visit first",
            )
        })?;
    let attributes: Map<String, Json_> = user
        .attributes
        .iter()
        .map(|a| (a.name.clone(), a.value.to_json()))
        .collect();
    Ok(Json(json!({
        "jimer_id": user.jimer_id, "user_id": user.user_id, "name": user.name,
        "email": user.email, "language": user.language, "attributes": attributes,
    })))
}

/// The visitor's own segments, for `["get", "user:segments", cb]`.
pub async fn segments(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Json<Json_>, ApiError> {
    let (v, _) = visitor(&state, &body).await?;
    // Not registered yet: in no segment.
    let segments = state
        .store
        .segments_of(
            v.workspace.id,
            Who::JimerId(&v.jimer_id),
            crate::server::store::now_ms(),
        )
        .await?
        .unwrap_or_default();
    Ok(Json(json!({
        "segments": segments.iter().map(|s| json!({"id": s.id, "name": s.name})).collect::<Vec<_>>()
    })))
}

/// `["do", "personalize", [template, cb]]`: the template rendered for the visitor.
pub async fn personalize(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Json<Json_>, ApiError> {
    let (v, _) = visitor(&state, &body).await?;
    super::personalize::render_for(
        &state,
        v.workspace.id,
        Who::JimerId(&v.jimer_id),
        body.get("template"),
    )
    .await?
    .map(Json)
    .ok_or_else(|| {
        ApiError::not_found(
            "unknown_visitor",
            "this jimer id has no profile yet: the SDK registers a visit first",
        )
    })
}
