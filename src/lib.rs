#![recursion_limit = "256"]
//! userdeck: user profiles, attributes, segments and personalization.
//!
//! `model` is shared by the server and the browser; `app` is the Leptos
//! dashboard; `server` exists only in the `ssr` build.

pub mod app;
pub mod model;
#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
