//! The server side: storage, HTTP routes, embedded assets, demo data.

pub mod assets;
pub mod dashboard;
pub mod demo;
pub mod http;
pub mod import;
pub mod index;
pub mod integrations;
pub mod keycache;
pub mod ratelimit;
pub mod store;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;
use store::writer::Writer;
use store::Store;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    pub writer: Writer,
    pub leptos: LeptosOptions,
    pub sdk_limiter: Arc<ratelimit::RateLimiter>,
    pub keys: Arc<keycache::KeyCache>,
    /// The one-time first-run link's token, while no account exists.
    pub setup_token: Arc<std::sync::Mutex<Option<String>>>,
    pub sign_in_by_ip: Arc<ratelimit::RateLimiter>,
    pub sign_in_by_email: Arc<ratelimit::RateLimiter>,
    /// Uploaded CSV files waiting for their mapping, and imports running.
    pub imports: Arc<import::jobs::Imports>,
    /// The pull syncs running in this server, with their progress.
    pub pulls: Arc<integrations::pull::run::Runs>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// Settings of a running server.
#[derive(Clone, Debug)]
pub struct Settings {
    /// SDK requests per second allowed per SDK key (bursts of twice that).
    pub sdk_rate_limit: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            sdk_rate_limit: 500,
        }
    }
}

impl AppState {
    pub fn new(store: Store, settings: &Settings) -> AppState {
        let leptos = LeptosOptions::builder()
            .output_name("userdeck")
            .site_pkg_dir("pkg")
            .env(leptos::config::Env::PROD)
            .build();
        AppState {
            writer: Writer::start(store.clone()),
            store,
            leptos,
            sdk_limiter: Arc::new(ratelimit::RateLimiter::new(settings.sdk_rate_limit)),
            keys: Arc::default(),
            setup_token: Arc::default(),
            sign_in_by_ip: Arc::new(ratelimit::RateLimiter::per_minute(30)),
            sign_in_by_email: Arc::new(ratelimit::RateLimiter::per_minute(10)),
            imports: Arc::default(),
            pulls: Arc::default(),
        }
    }
}
