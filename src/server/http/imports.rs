//! `POST /imports/upload`: a CSV file from the dashboard's import page (a
//! plain multipart form, so it works without JavaScript). The file is read
//! and kept in memory; the browser goes on to the mapping step.

use super::auth::encode;
use crate::server::import::{read_csv, MAX_BYTES};
use crate::server::store::accounts::Account;
use crate::server::AppState;
use axum::extract::{Multipart, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;

/// The body limit of the upload: the largest file plus the form around it.
pub const UPLOAD_BODY_LIMIT: usize = MAX_BYTES + 64 * 1024;

pub async fn upload(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    multipart: Multipart,
) -> Response {
    let back = |error: &str| Redirect::to(&format!("/imports/new?error={}", encode(error)));
    let (name, bytes) = match file_of(multipart).await {
        Ok(f) => f,
        Err(e) => return back(&e).into_response(),
    };
    match read_csv(&bytes) {
        Ok(table) if table.rows.is_empty() => {
            back("the file has a header row but no rows under it").into_response()
        }
        Ok(table) => {
            let token = state.imports.add_upload(account.workspace_id, &name, table);
            Redirect::to(&format!("/imports/new?upload={token}")).into_response()
        }
        Err(e) => back(&e).into_response(),
    }
}

/// The form's `file` field: its name and bytes.
async fn file_of(mut multipart: Multipart) -> Result<(String, Vec<u8>), String> {
    let too_big = || format!("the file is larger than {} MiB; split it", MAX_BYTES >> 20);
    while let Some(field) = multipart.next_field().await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            too_big()
        } else {
            format!("the upload could not be read: {e}")
        }
    })? {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("upload.csv").to_string();
        let bytes = field.bytes().await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                too_big()
            } else {
                format!("the upload could not be read: {e}")
            }
        })?;
        if bytes.is_empty() {
            return Err("choose a CSV file to upload".into());
        }
        return Ok((name, bytes.to_vec()));
    }
    Err("choose a CSV file to upload".into())
}
