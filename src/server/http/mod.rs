//! The HTTP surface, assembled in one place: health, REST API, SDK
//! endpoints, embedded files and the dashboard.

pub mod auth;
pub mod error;
pub mod export;
pub mod imports;
pub mod personalize;
pub mod rest;
pub mod sdk;
pub mod segments;

use crate::app::{shell, App};
use crate::server::{assets, AppState};
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::cors::{Any, CorsLayer};

/// Largest REST request body (a batch of 1000 users).
pub const REST_BODY_LIMIT: usize = 8 * 1024 * 1024;
/// Largest SDK request body.
pub const SDK_BODY_LIMIT: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    let rest = Router::new()
        .route("/identify", post(rest::identify))
        .route("/batch", post(rest::batch))
        .route("/users", get(rest::list_users))
        .route(
            "/users/{user_id}",
            get(rest::get_user).delete(rest::delete_user),
        )
        .route("/users/{user_id}/segments", get(segments::of_user))
        .route("/attributes", get(rest::attributes))
        .route("/segments", get(segments::list).post(segments::create))
        .route("/segments/count", post(segments::count))
        .route("/personalize", post(personalize::personalize))
        .route("/segments/{id}/users", get(segments::users))
        .route(
            "/segments/{id}",
            get(segments::get)
                .put(segments::replace)
                .delete(segments::delete),
        )
        .fallback(rest::no_such_endpoint)
        .method_not_allowed_fallback(rest::wrong_method)
        .layer(DefaultBodyLimit::max(REST_BODY_LIMIT));

    // Customers' pages call these from their own origins; nothing else gets CORS.
    let sdk = Router::new()
        .route("/visit", post(sdk::visit))
        .route("/identify", post(sdk::identify))
        .route("/update", post(sdk::update))
        .route("/me", post(sdk::me))
        .route("/segments", post(sdk::segments))
        .route("/personalize", post(sdk::personalize))
        .fallback(rest::no_such_endpoint)
        .method_not_allowed_fallback(rest::wrong_method)
        .layer(DefaultBodyLimit::max(SDK_BODY_LIMIT))
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods([Method::POST, Method::OPTIONS])
                .allow_headers([axum::http::header::CONTENT_TYPE])
                // The SDK waits as long as a 429 asks.
                .expose_headers([axum::http::header::RETRY_AFTER])
                .max_age(std::time::Duration::from_secs(86400)),
        );

    // The tools' own clients post here (compressed, as PostHog's does).
    use crate::server::integrations::receivers;
    let integrations = Router::new()
        .route("/segment/v1/{call}", post(receivers::segment))
        .route("/posthog/batch", post(receivers::posthog))
        .route("/posthog/batch/", post(receivers::posthog))
        .route("/posthog/capture", post(receivers::posthog))
        .route("/posthog/capture/", post(receivers::posthog))
        .route(
            "/mixpanel/engage",
            get(receivers::mixpanel).post(receivers::mixpanel),
        )
        .route("/amplitude/2/httpapi", post(receivers::amplitude))
        .route("/amplitude/identify", post(receivers::amplitude))
        .fallback(rest::no_such_endpoint)
        .method_not_allowed_fallback(rest::wrong_method)
        .layer(DefaultBodyLimit::max(REST_BODY_LIMIT))
        .layer(tower_http::decompression::RequestDecompressionLayer::new());

    // Every dashboard page needs a signed-in account (but the sign-in ones).
    let options = state.leptos.clone();
    let pages = Router::new()
        .leptos_routes(&state, generate_route_list(App), move || {
            shell(options.clone())
        })
        .route("/users/export.csv", get(export::users_csv))
        .route(
            "/imports/upload",
            post(imports::upload).layer(DefaultBodyLimit::max(imports::UPLOAD_BODY_LIMIT)),
        )
        .route("/imports/left-out.csv", get(imports::left_out))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_session,
        ));

    Router::new()
        .route("/healthz", get(healthz))
        .nest("/api/v1", rest)
        .nest("/sdk/v1", sdk)
        .nest("/integrations", integrations)
        .route("/sign-in", post(auth::sign_in))
        .route("/setup", post(auth::setup))
        .route("/invite", post(auth::accept_invite))
        .route("/sign-out", post(auth::sign_out))
        .merge(pages)
        .fallback(files_or_not_found)
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> Response {
    if state.store.ping().await {
        let index = match &state.store.index {
            None => "off",
            Some(i) if i.is_ready() => "ready",
            Some(_) => "loading",
        };
        (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok", "segment_index": index})),
        )
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "database unavailable"})),
        )
            .into_response()
    }
}

/// Embedded files, else the dashboard's "not found" page.
async fn files_or_not_found(State(state): State<AppState>, req: Request<Body>) -> Response {
    let path = req.uri().path().trim_start_matches('/').to_string();
    if req.method() == Method::GET || req.method() == Method::HEAD {
        if let Some(res) = assets::file(&path) {
            return res;
        }
    }
    let options = state.leptos.clone();
    let render = leptos_axum::render_app_to_stream(move || shell(options.clone()));
    let mut res = render(req).await;
    if res.status() == StatusCode::OK {
        *res.status_mut() = StatusCode::NOT_FOUND;
    }
    res
}
