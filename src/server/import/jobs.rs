//! Imports from the dashboard: uploaded files wait in memory (read and
//! checked, nothing written) until their mapping is confirmed; an import then
//! runs in the background while the page polls its progress, and its outcome
//! is recorded in the history.

use super::{apply, check, Identifier, Mapping, Table};
use crate::model::attribute::AttrType;
use crate::server::store::imports::ImportEnd;
use crate::server::store::StoreError;
use crate::server::AppState;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Uploads kept per workspace, and for how long.
const KEEP_UPLOADS: usize = 4;
const UPLOAD_LIFETIME: Duration = Duration::from_secs(3600);

#[derive(Debug)]
pub struct Upload {
    pub workspace: i64,
    pub file_name: String,
    pub table: Arc<Table>,
    at: Instant,
}

/// Rows written of an import running now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
}

#[derive(Debug, Default)]
pub struct Imports {
    uploads: Mutex<HashMap<String, Upload>>,
    running: Mutex<HashMap<i64, Progress>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding it leaves plain data: keep using it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Imports {
    /// Keeps a read file; answers the token that names it.
    pub fn add_upload(&self, workspace: i64, file_name: &str, table: Table) -> String {
        let token = crate::server::store::accounts::random_token();
        let mut uploads = lock(&self.uploads);
        uploads.retain(|_, u| u.at.elapsed() < UPLOAD_LIFETIME);
        let mut mine: Vec<(Instant, String)> = uploads
            .iter()
            .filter(|(_, u)| u.workspace == workspace)
            .map(|(t, u)| (u.at, t.clone()))
            .collect();
        mine.sort();
        for (_, old) in mine
            .iter()
            .take((mine.len() + 1).saturating_sub(KEEP_UPLOADS))
        {
            uploads.remove(old);
        }
        uploads.insert(
            token.clone(),
            Upload {
                workspace,
                file_name: file_name.chars().take(200).collect(),
                table: Arc::new(table),
                at: Instant::now(),
            },
        );
        token
    }

    /// The upload's file name and table, if it is the workspace's and kept.
    pub fn upload(&self, workspace: i64, token: &str) -> Option<(String, Arc<Table>)> {
        lock(&self.uploads)
            .get(token)
            .filter(|u| u.workspace == workspace && u.at.elapsed() < UPLOAD_LIFETIME)
            .map(|u| (u.file_name.clone(), u.table.clone()))
    }

    pub fn progress(&self, import: i64) -> Option<Progress> {
        lock(&self.running).get(&import).copied()
    }
}

/// Checks the upload against the mapping and, if rows can be imported,
/// starts writing them; answers the import's id. A refusal says why.
pub async fn start(
    state: &AppState,
    workspace: i64,
    account_email: &str,
    token: &str,
    mapping: &Mapping,
) -> Result<Result<i64, String>, StoreError> {
    let types = attribute_types(state, workspace).await?;
    // Taken out at once, so a second click cannot import the file twice.
    let Some(upload) = lock(&state.imports.uploads).remove(token) else {
        return Ok(Err(
            "this upload is no longer kept (an hour has passed, or it was imported): upload the file again".into(),
        ));
    };
    if upload.workspace != workspace {
        return Ok(Err("upload the file again".into()));
    }
    let checked = match check(&upload.table, mapping, &|n| types.get(n).copied()) {
        Ok(c) if c.changes.is_empty() => {
            Err("no row can be imported; see the rows left out".into())
        }
        Ok(c) => Ok(c),
        Err(e) => Err(e),
    };
    let checked = match checked {
        Ok(c) => c,
        Err(e) => {
            lock(&state.imports.uploads).insert(token.to_string(), upload);
            return Ok(Err(e));
        }
    };
    let identifier = match mapping.identifier {
        Identifier::UserId => "user_id",
        Identifier::Email => "email",
    };
    let rows = upload.table.rows.len();
    let id = state
        .store
        .start_import(
            workspace,
            account_email,
            &upload.file_name,
            identifier,
            rows as i64,
        )
        .await?;
    lock(&state.imports.running).insert(
        id,
        Progress {
            done: 0,
            total: rows,
        },
    );
    let state = state.clone();
    tokio::spawn(async move {
        let bad = checked.bad.len();
        let running = &state.imports.running;
        let progress = |done: usize| {
            if let Some(p) = lock(running).get_mut(&id) {
                p.done = bad + done;
            }
        };
        let end = match apply(
            &state.store,
            &state.writer,
            workspace,
            checked.changes,
            &progress,
        )
        .await
        {
            Ok(outcome) => {
                let mut rejections = checked.bad;
                rejections.extend(outcome.rejected);
                rejections.sort_by_key(|(line, _)| *line);
                ImportEnd {
                    created: outcome.created,
                    updated: outcome.updated,
                    rejections,
                    error: None,
                }
            }
            Err(e) => ImportEnd {
                created: 0,
                updated: 0,
                rejections: checked.bad,
                error: Some(format!(
                    "the import stopped: {e}; rows written before it stay"
                )),
            },
        };
        if let Err(e) = state.store.finish_import(id, &end).await {
            tracing::error!("import {id} ended but its outcome was not recorded: {e}");
        }
        lock(running).remove(&id);
    });
    Ok(Ok(id))
}

/// The workspace's attributes and their types, to check a file against.
pub async fn attribute_types(
    state: &AppState,
    workspace: i64,
) -> Result<HashMap<String, AttrType>, StoreError> {
    Ok(state
        .store
        .definitions(workspace)
        .await?
        .into_iter()
        .map(|d| (d.name, d.attr_type))
        .collect())
}
