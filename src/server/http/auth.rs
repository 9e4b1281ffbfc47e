//! Signing in to the dashboard: first-run setup, sign-in, sign-out, and the
//! guard that sends visitors without a session to the sign-in page. Forms
//! are plain HTML posts, so they work before (and without) the wasm.

use crate::server::store::accounts::{Account, AccountError, SESSION_DAYS};
use crate::server::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use std::net::SocketAddr;

pub const SESSION_COOKIE: &str = "userdeck_session";
/// Pages anyone may open.
const PUBLIC_PAGES: &[&str] = &["/sign-in", "/setup", "/invite"];

/// The session token of the request's cookie, if any.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
}

async fn signed_in(state: &AppState, headers: &HeaderMap) -> Option<Account> {
    let token = session_token(headers)?;
    state.store.session_account(&token).await.ok().flatten()
}

/// Dashboard pages and server functions need a session; without one, the
/// sign-in page (which brings the visitor back afterwards). Server function
/// posts must come from the dashboard's own pages.
pub async fn require_session(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    if req.method() != axum::http::Method::GET && !same_origin(req.headers()) {
        return forbidden();
    }
    let path = req.uri().path().to_string();
    if PUBLIC_PAGES.contains(&path.as_str()) {
        return next.run(req).await;
    }
    match signed_in(&state, req.headers()).await {
        Some(account) => {
            req.extensions_mut().insert(account);
            next.run(req).await
        }
        None => {
            let back = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            Redirect::to(&format!("/sign-in?next={}", encode(back))).into_response()
        }
    }
}

/// Form posts must come from the dashboard's own pages: a browser sends
/// `Origin` (and `Sec-Fetch-Site`) with every post, so a page elsewhere
/// cannot sign anyone in or out.
fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site != "same-origin" && site != "none" {
            return false;
        }
    }
    match (headers.get(header::ORIGIN), headers.get(header::HOST)) {
        (Some(origin), Some(host)) => {
            let origin = origin.to_str().unwrap_or_default();
            let host = host.to_str().unwrap_or_default();
            origin
                .split_once("://")
                .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host))
        }
        (Some(_), None) => false,
        (None, _) => true,
    }
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        "this form can only be sent from userdeck's own pages",
    )
        .into_response()
}

pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `next` if it is a path of this site, else the Users list: redirects never
/// lead to another host.
pub(crate) fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p,
        _ => "/users",
    }
}

fn with_session_cookie(to: &str, token: &str) -> Response {
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
        SESSION_DAYS * 86_400
    );
    let mut res = Redirect::to(to).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// The client's address, when the server knows it.
pub struct ClientIp(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

#[derive(serde::Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
    next: Option<String>,
}

pub async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if !same_origin(&headers) {
        return forbidden();
    }
    let next = local_path(form.next.as_deref()).to_string();
    let again = |error: &str| {
        Redirect::to(&format!("/sign-in?error={error}&next={}", encode(&next))).into_response()
    };
    // Guessing is throttled per address and per account.
    let ip_key = ip.map(|a| a.ip().to_string()).unwrap_or_default();
    let email_key = form.email.trim().to_lowercase();
    if state.sign_in_by_ip.check(&ip_key).is_err()
        || state.sign_in_by_email.check(&email_key).is_err()
    {
        return again("throttled");
    }
    match state.store.authenticate(&form.email, &form.password).await {
        Ok(Some(account)) => match state.store.create_session(&account).await {
            Ok(token) => with_session_cookie(&next, &token),
            Err(_) => again("unavailable"),
        },
        Ok(None) => again("invalid"),
        Err(_) => again("unavailable"),
    }
}

#[derive(serde::Deserialize)]
pub struct SetupForm {
    token: String,
    email: String,
    password: String,
}

/// First run: the one-time link from the server's log creates the first account.
pub async fn setup(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SetupForm>,
) -> Response {
    if !same_origin(&headers) {
        return forbidden();
    }
    let again = |error: &str| {
        Redirect::to(&format!(
            "/setup?token={}&error={}",
            encode(&form.token),
            encode(error)
        ))
        .into_response()
    };
    let valid = {
        let held = state.setup_token.lock().unwrap_or_else(|e| e.into_inner());
        held.as_deref()
            .is_some_and(|t| !form.token.is_empty() && t == form.token)
    };
    if !valid || state.store.account_count().await.unwrap_or(1) > 0 {
        return Redirect::to("/sign-in?error=setup_done").into_response();
    }
    let ws = match state.store.default_workspace().await {
        Ok(ws) => ws,
        Err(_) => return again("unavailable"),
    };
    match state
        .store
        .create_account(ws.id, &form.email, &form.password)
        .await
    {
        Ok(account) => {
            *state.setup_token.lock().unwrap_or_else(|e| e.into_inner()) = None;
            match state.store.create_session(&account).await {
                Ok(token) => with_session_cookie("/users", &token),
                Err(_) => again("unavailable"),
            }
        }
        Err(AccountError::Invalid(msg)) => again(&msg),
        Err(AccountError::Exists) => Redirect::to("/sign-in?error=setup_done").into_response(),
        Err(AccountError::Store(_)) => again("unavailable"),
    }
}

#[derive(serde::Deserialize)]
pub struct InviteForm {
    token: String,
    password: String,
}

/// An invitation link from Settings: the invited person picks a password.
pub async fn accept_invite(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<InviteForm>,
) -> Response {
    if !same_origin(&headers) {
        return forbidden();
    }
    let again = |error: &str| {
        Redirect::to(&format!(
            "/invite?token={}&error={}",
            encode(&form.token),
            encode(error)
        ))
        .into_response()
    };
    match state.store.accept_invite(&form.token, &form.password).await {
        Ok(Some(account)) => match state.store.create_session(&account).await {
            Ok(token) => with_session_cookie("/users", &token),
            Err(_) => again("unavailable"),
        },
        Ok(None) => again("invite_gone"),
        Err(AccountError::Invalid(msg)) => again(&msg),
        Err(AccountError::Exists) => Redirect::to("/sign-in?error=invite_used").into_response(),
        Err(AccountError::Store(_)) => again("unavailable"),
    }
}

pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return forbidden();
    }
    if let Some(token) = session_token(&headers) {
        let _ = state.store.delete_session(&token).await;
    }
    let mut res = Redirect::to("/sign-in?error=signed_out").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("userdeck_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    res
}
