//! What the dashboard's server functions share: the server's state and the
//! signed-in account (the session guard put it on the request).

use super::store::accounts::Account;
use super::AppState;
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
