//! `GET /users/export.csv`: the Users list's current view (search, filter,
//! sort, the account's attribute columns) as CSV, every page of it,
//! streamed a thousand users at a time so a million rows never sit in memory.

use crate::model::attribute::{format_date, AttrValue};
use crate::server::store::accounts::Account;
use crate::server::store::list::{Cursor, ListQuery, Sort};
use crate::server::store::{to_time, Store};
use crate::server::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::stream;
use std::collections::HashMap;

const PAGE: usize = 1000;
const NATIVE: &[&str] = &[
    "jimer_id",
    "user_id",
    "name",
    "email",
    "language",
    "first_seen",
    "last_activity",
    "sessions",
    "created",
    "tags",
];

/// A spreadsheet runs a cell starting with one of these as a formula; the
/// leading quote keeps a visitor's value text (OWASP "CSV injection").
fn cell(s: &str) -> String {
    let risky = s.starts_with(['=', '+', '-', '@', '\t', '\r']) && s.parse::<f64>().is_err();
    if risky {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

fn attr_text(v: &AttrValue) -> String {
    match v {
        AttrValue::Array(items) => items.join(", "),
        other => other.to_text(),
    }
}

struct Export {
    store: Store,
    workspace: i64,
    query: ListQuery,
    columns: Vec<String>,
    header: bool,
    done: bool,
}

impl Export {
    /// The next chunk of CSV, or None at the end.
    async fn next(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        if self.done {
            return None;
        }
        let mut w = csv::Writer::from_writer(Vec::with_capacity(PAGE * 200));
        if std::mem::take(&mut self.header) {
            let head = NATIVE
                .iter()
                .copied()
                .chain(self.columns.iter().map(String::as_str));
            if let Err(e) = w.write_record(head) {
                return Some(Err(std::io::Error::other(e)));
            }
        }
        let page = match self.store.list_users(self.workspace, &self.query).await {
            Ok(p) => p,
            Err(e) => {
                // The response has started: all that is left is to cut it short.
                tracing::warn!("CSV export stopped: {e}");
                return Some(Err(std::io::Error::other(e.to_string())));
            }
        };
        for u in &page.users {
            let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map(|t| format_date(&t)).unwrap_or_default()
            };
            let mut record = vec![
                u.jimer_id.clone(),
                u.user_id.clone().unwrap_or_default(),
                u.name.clone().unwrap_or_default(),
                u.email.clone().unwrap_or_default(),
                u.language.clone().unwrap_or_default(),
                time(u.first_seen),
                time(u.last_activity),
                u.sessions.to_string(),
                time(Some(u.created)),
                u.tags.join(", "),
            ];
            for c in &self.columns {
                let v = u.attributes.iter().find(|a| a.name == *c);
                record.push(v.map(|a| attr_text(&a.value)).unwrap_or_default());
            }
            if let Err(e) = w.write_record(record.iter().map(|s| cell(s))) {
                return Some(Err(std::io::Error::other(e)));
            }
        }
        match page
            .next_cursor
            .and_then(|c| Cursor::decode(&c, &self.query.sort))
        {
            Some(c) => self.query.cursor = Some(c),
            None => self.done = true,
        }
        match w.into_inner() {
            Ok(bytes) => Some(Ok(Bytes::from(bytes))),
            Err(e) => Some(Err(std::io::Error::other(e.to_string()))),
        }
    }
}

pub async fn users_csv(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let param = |k: &str| params.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let sort = match param("sort") {
        None => Sort::default(),
        Some(s) => match Sort::parse(s) {
            Some(s) => s,
            None => {
                return (StatusCode::BAD_REQUEST, format!("cannot sort by {s:?}")).into_response()
            }
        },
    };
    if param("q").is_some_and(|q| q.chars().count() > 200 || q.chars().any(char::is_control)) {
        return (StatusCode::BAD_REQUEST, "search for at most 200 characters").into_response();
    }
    let condition = match crate::server::dashboard::view_condition(
        &state,
        account.workspace_id,
        param("segment"),
        param("filter"),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let columns = match state.store.user_columns(account.id).await {
        Ok(c) => c,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    };
    let export = Export {
        store: state.store.clone(),
        workspace: account.workspace_id,
        query: ListQuery {
            search: param("q").map(str::to_string),
            has: param("has").map(str::to_string),
            sort,
            limit: PAGE,
            cursor: None,
            skip_total: true,
            attributes: Some(columns.clone()),
            condition,
        },
        columns,
        header: true,
        done: false,
    };
    let body = Body::from_stream(stream::unfold(export, |mut e| async move {
        e.next().await.map(|chunk| (chunk, e))
    }));
    let name = format!(
        "users-{}.csv",
        to_time(crate::server::store::now_ms()).format("%Y-%m-%d")
    );
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formulas_are_kept_as_text() {
        assert_eq!(super::cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(super::cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(super::cell("-12.5"), "-12.5");
        assert_eq!(super::cell("Sam"), "Sam");
    }
}
