//! `POST /imports/upload`: a CSV file from the dashboard's import page (a
//! plain multipart form, so it works without JavaScript). The file is read
//! and kept in memory; the browser goes on to the mapping step.
//! `GET /imports/left-out.csv`: every row the mapping step would leave out.

use super::auth::encode;
use crate::server::import::{read_csv, MAX_BYTES};
use crate::server::store::accounts::Account;
use crate::server::AppState;
use axum::extract::{Multipart, Query, State};
use axum::http::{header, StatusCode};
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

/// Every row an upload's mapping leaves out, with its line and reason, as
/// CSV (the page lists the first thousand). Takes the mapping page's query.
pub async fn left_out(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Query(form): Query<std::collections::HashMap<String, String>>,
) -> Response {
    use crate::server::import::{check, jobs, Mapping};
    let ws = account.workspace_id;
    let token = form.get("upload").map(String::as_str).unwrap_or_default();
    let Some((name, table)) = state.imports.upload(ws, token) else {
        return (
            StatusCode::NOT_FOUND,
            "this upload is no longer kept: upload the file again",
        )
            .into_response();
    };
    let types = match jobs::attribute_types(&state, ws).await {
        Ok(t) => t,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let mapping = Mapping::from_form(&table, &form);
    let checked = match check(&table, &mapping, &|n| types.get(n).copied()) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut rows = vec![["line".to_string(), "reason".to_string()]];
    rows.extend(checked.bad.into_iter().map(|(l, r)| [l.to_string(), r]));
    for row in rows {
        if let Err(e) = w.write_record(row) {
            return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
        }
    }
    let body = w.into_inner().unwrap_or_default();
    let stem = name.trim_end_matches(".csv").replace(
        |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
        "_",
    );
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{stem}-left-out.csv\""),
            ),
        ],
        body,
    )
        .into_response()
}
