//! Shared, pure types and rules, compiled for the server and the browser.

pub mod attribute;
pub mod condition;
pub mod content;
pub mod distribution;
pub mod profile;
pub mod segment;
pub mod template;
pub mod time;
