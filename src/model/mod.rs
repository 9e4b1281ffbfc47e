//! Shared, pure types and rules, compiled for the server and the browser.

pub mod attribute;
pub mod profile;
pub mod time;
