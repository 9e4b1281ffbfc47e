//! What the dashboard's server functions share: the server's state and the
//! signed-in account (the session guard put it on the request).

use super::store::accounts::Account;
use super::store::conditions::Prepared;
use super::AppState;
use crate::model::condition::Condition;
use axum::http::{header, HeaderMap};
use axum::Extension;
use leptos::prelude::{use_context, ServerFnError};

pub async fn signed_in() -> Result<(AppState, Account), ServerFnError> {
    let state = use_context::<AppState>()
        .ok_or_else(|| ServerFnError::new("the server state is missing"))?;
    let Extension(account) = leptos_axum::extract::<Extension<Account>>()
        .await
        .map_err(|_| ServerFnError::new("sign in first"))?;
    Ok((state, account))
}

/// The signed-in account's workspace.
pub async fn workspace_of(
    state: &AppState,
    account: &Account,
) -> Result<super::store::workspace::Workspace, ServerFnError> {
    state
        .store
        .workspace(account.workspace_id)
        .await?
        .ok_or_else(|| ServerFnError::new("this account's workspace is gone"))
}

/// The address the browser used to reach this server, for snippets.
pub async fn base_url() -> String {
    let headers: HeaderMap = leptos_axum::extract().await.unwrap_or_default();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}

/// The condition a Users view is filtered by: a saved segment (`segment`,
/// its id) or an ad-hoc condition (`filter`, its JSON), checked against the
/// workspace. The error says what is wrong.
pub async fn view_condition(
    state: &AppState,
    workspace: i64,
    segment: Option<&str>,
    filter: Option<&str>,
) -> Result<Option<std::sync::Arc<Prepared>>, String> {
    let now = super::store::now_ms();
    let prepared = match (
        segment.filter(|s| !s.is_empty()),
        filter.filter(|f| !f.is_empty()),
    ) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => return Err("filter by a segment or by conditions, not both".into()),
        (Some(id), None) => {
            let id: i64 = id
                .parse()
                .map_err(|_| format!("no segment has the id {id:?}"))?;
            state.store.segment_filter(workspace, id, now).await
        }
        (None, Some(json)) => {
            if json.len() > MAX_FILTER {
                return Err("the filter is too long".into());
            }
            let json: serde_json::Value =
                serde_json::from_str(json).map_err(|e| format!("the filter is not JSON: {e}"))?;
            let condition = Condition::parse(&json).map_err(|e| e.to_string())?;
            state.store.filter(workspace, &condition, now).await
        }
    };
    prepared
        .map(|p| Some(std::sync::Arc::new(p)))
        .map_err(|e| e.to_string())
}

/// Longest ad-hoc filter, in bytes of JSON.
const MAX_FILTER: usize = 64 * 1024;
