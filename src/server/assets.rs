//! The site's files, embedded in the binary at release build time (in debug
//! builds rust-embed reads them from disk, so edits show without a rebuild).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "public/"]
struct Public;

#[derive(RustEmbed)]
#[folder = "style/"]
struct Style;

/// wasm-bindgen's output (`userdeck.js`, `userdeck_bg.wasm`), made by scripts/build.
#[derive(RustEmbed)]
#[folder = "target/site/pkg/"]
struct Pkg;

/// The embedded file at `path` (without the leading slash), if any.
pub fn file(path: &str) -> Option<Response> {
    let (data, name, cache) = if let Some(rest) = path.strip_prefix("pkg/") {
        (Pkg::get(rest)?.data, rest, "no-cache")
    } else if path == "userdeck.css" {
        (Style::get("main.css")?.data, "main.css", "no-cache")
    } else if path == "sdk.js" {
        // Customers' pages load this; a short cache keeps updates quick.
        (Public::get(path)?.data, path, "public, max-age=300")
    } else {
        (Public::get(path)?.data, path, "public, max-age=3600")
    };
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    let mut res = (StatusCode::OK, data.into_owned()).into_response();
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Some(res)
}

/// True when the wasm front end was built into this binary.
pub fn has_wasm() -> bool {
    Pkg::get("userdeck_bg.wasm").is_some()
}
