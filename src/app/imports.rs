//! Imports: upload a CSV file, choose the column that identifies users and
//! where every other column goes (with each one's type and the rows that
//! would be left out, before anything is written), import with a progress
//! bar, and the history of past imports.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Form, A};
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

/// Rows left out that the mapping step lists.
#[cfg(feature = "ssr")]
const SHOW_BAD: usize = 1000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnPreview {
    pub header: String,
    /// The first few values of the column.
    pub samples: Vec<String>,
    /// An attribute's name, `name` / `email` (the profile's), or empty: skipped.
    pub target: String,
    /// What it is imported as, when mapped ("number, new attribute").
    pub kind: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportPreview {
    pub file_name: String,
    pub delimiter: String,
    pub rows: usize,
    pub identifier_column: usize,
    pub by_email: bool,
    pub columns: Vec<ColumnPreview>,
    /// The workspace's attributes, offered as targets.
    pub attributes: Vec<String>,
    /// Why the mapping cannot be used, if so.
    pub error: Option<String>,
    /// Rows that would be imported, and the first ones left out (line, why).
    pub ready: usize,
    pub bad: Vec<(usize, String)>,
    pub bad_total: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportView {
    pub id: i64,
    pub when: String,
    pub who: String,
    pub file_name: String,
    pub by: String,
    pub rows: i64,
    pub created: i64,
    pub updated: i64,
    pub rejected: i64,
    pub status: String,
    pub error: Option<String>,
    /// (line, why) of the rows left out, as kept.
    pub rejections: Vec<(usize, String)>,
    /// Rows done while it runs.
    pub done: Option<usize>,
}

#[cfg(feature = "ssr")]
fn form_map(query: &str) -> std::collections::HashMap<String, String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query.trim_start_matches('?'))
        .unwrap_or_default()
        .into_iter()
        .collect()
}

#[cfg(feature = "ssr")]
fn upload_of(
    state: &crate::server::AppState,
    workspace: i64,
    upload: &str,
) -> Result<(String, std::sync::Arc<crate::server::import::Table>), ServerFnError> {
    state.imports.upload(workspace, upload).ok_or_else(|| {
        ServerFnError::new("this upload is no longer kept (an hour has passed, or it was imported): upload the file again")
    })
}

/// The upload checked against the mapping in `query` (the form's fields, or
/// none for the guess from the headers). Writes nothing.
#[server(prefix = "/_fn", endpoint = "preview_import")]
pub async fn preview_import(upload: String, query: String) -> Result<ImportPreview, ServerFnError> {
    use crate::server::import::{check, jobs, Identifier, Mapping, NATIVE_TARGETS};
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let ws = account.workspace_id;
    let (file_name, table) = upload_of(&state, ws, &upload)?;
    let types = jobs::attribute_types(&state, ws).await?;
    let mapping = Mapping::from_form(&table, &form_map(&query));
    let checked = check(&table, &mapping, &|n| types.get(n).copied());
    let mut columns: Vec<ColumnPreview> = table
        .headers
        .iter()
        .enumerate()
        .map(|(c, header)| ColumnPreview {
            header: header.clone(),
            samples: table
                .rows
                .iter()
                .filter_map(|(_, r)| r.get(c).filter(|v| !v.is_empty()))
                .take(3)
                .map(|v| v.chars().take(60).collect())
                .collect(),
            target: String::new(),
            kind: None,
        })
        .collect();
    for (i, (c, target)) in mapping.columns.iter().enumerate() {
        let col = &mut columns[*c];
        col.target = target.clone();
        col.kind = Some(if NATIVE_TARGETS.contains(&target.as_str()) {
            format!("the profile's {target}")
        } else {
            match (&checked, types.get(target)) {
                (Ok(ch), Some(_)) => format!("{}, existing attribute", ch.types[i]),
                (Ok(ch), None) => format!("{}, new attribute", ch.types[i]),
                (Err(_), _) => "?".into(),
            }
        });
    }
    let mut attributes: Vec<String> = types.into_keys().collect();
    attributes.sort();
    let (error, ready, bad, bad_total) = match checked {
        Ok(c) => {
            let total = c.bad.len();
            (
                None,
                c.changes.len(),
                c.bad.into_iter().take(SHOW_BAD).collect(),
                total,
            )
        }
        Err(e) => (Some(e), 0, Vec::new(), 0),
    };
    Ok(ImportPreview {
        file_name,
        delimiter: if table.delimiter == ';' {
            "semicolons".into()
        } else {
            "commas".into()
        },
        rows: table.rows.len(),
        identifier_column: mapping.identifier_column,
        by_email: mapping.identifier == Identifier::Email,
        columns,
        attributes,
        error,
        ready,
        bad,
        bad_total,
    })
}

/// Starts importing the upload with the mapping in `query`; answers the
/// import's id (the page follows its progress there).
#[server(prefix = "/_fn", endpoint = "start_import")]
pub async fn start_import(upload: String, query: String) -> super::Refusable<i64> {
    use crate::server::import::{jobs, Mapping};
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let ws = account.workspace_id;
    let (_, table) = upload_of(&state, ws, &upload)?;
    let mapping = Mapping::from_form(&table, &form_map(&query));
    match jobs::start(&state, ws, &account.email, &upload, &mapping).await? {
        Ok(id) => {
            leptos_axum::redirect(&format!("/imports/{id}"));
            Ok(Ok(id))
        }
        Err(refused) => Ok(Err(refused)),
    }
}

#[cfg(feature = "ssr")]
fn import_view(
    r: crate::server::store::imports::ImportRecord,
    done: Option<usize>,
    now: i64,
) -> ImportView {
    ImportView {
        id: r.id,
        when: crate::model::time::ago(r.started_at, now),
        who: r.account_email,
        file_name: r.file_name,
        by: if r.identifier == "email" {
            "email".into()
        } else {
            "user id".into()
        },
        rows: r.rows,
        created: r.created,
        updated: r.updated,
        rejected: r.rejected,
        status: r.status,
        error: r.error,
        rejections: r.rejections,
        done,
    }
}

#[server(prefix = "/_fn", endpoint = "list_imports")]
pub async fn list_imports() -> Result<Vec<ImportView>, ServerFnError> {
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let now = crate::server::store::now_ms();
    Ok(state
        .store
        .imports(account.workspace_id, 200)
        .await?
        .into_iter()
        .map(|r| {
            let done = state.imports.progress(r.id).map(|p| p.done);
            ImportView {
                rejections: Vec::new(),
                ..import_view(r, done, now)
            }
        })
        .collect())
}

#[server(prefix = "/_fn", endpoint = "load_import")]
pub async fn load_import(id: i64) -> Result<ImportView, ServerFnError> {
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let r = state
        .store
        .import(account.workspace_id, id)
        .await?
        .ok_or_else(|| ServerFnError::new(format!("no import has the id {id}")))?;
    let done = state.imports.progress(id).map(|p| p.done);
    Ok(import_view(r, done, crate::server::store::now_ms()))
}

fn status_label(status: &str) -> &'static str {
    match status {
        "running" => "Running",
        "done" => "Done",
        "failed" => "Failed",
        _ => "Interrupted",
    }
}

/// The Imports tab: past imports, newest first.
#[component]
pub fn Imports() -> impl IntoView {
    let imports = Resource::new(|| (), |_| list_imports());
    view! {
        <Title text="Imports" />
        <header class="page-head">
            <h1>"Imports"</h1>
            <A href="/imports/new" attr:class="button primary">"Import a CSV file"</A>
        </header>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match imports.await {
                    Err(e) => view! { <p class="form-message" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p class="empty">"No import yet. Import a CSV file to add attributes to many users at once."</p>
                    }.into_any(),
                    Ok(list) => view! {
                        <table class="data imports">
                            <thead>
                                <tr>
                                    <th>"When"</th><th>"Who"</th><th>"File"</th><th>"Users by"</th>
                                    <th class="num">"Rows"</th><th class="num">"Created"</th>
                                    <th class="num">"Updated"</th><th class="num">"Rejected"</th><th>"Status"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {list.into_iter().map(|i| view! {
                                    <tr>
                                        <td>{i.when}</td>
                                        <td>{i.who}</td>
                                        <td><a href=format!("/imports/{}", i.id)>{i.file_name}</a></td>
                                        <td>{i.by}</td>
                                        <td class="num">{i.rows}</td>
                                        <td class="num">{i.created}</td>
                                        <td class="num">{i.updated}</td>
                                        <td class="num">{i.rejected}</td>
                                        <td>{status_label(&i.status)}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Upload, then the mapping step (`?upload=`), then the import.
#[component]
pub fn NewImport() -> impl IntoView {
    let query = use_query_map();
    let upload = move || query.with(|q| q.get("upload")).filter(|u| !u.is_empty());
    view! {
        <Title text="Import a CSV file" />
        <header class="page-head">
            <h1>"Import a CSV file"</h1>
            <A href="/imports" attr:class="button">"Imports"</A>
        </header>
        {move || match upload() {
            None => view! { <UploadForm error=query.with(|q| q.get("error")) /> }.into_any(),
            Some(u) => view! { <MappingStep upload=u /> }.into_any(),
        }}
    }
}

#[component]
fn UploadForm(error: Option<String>) -> impl IntoView {
    view! {
        {error.map(|e| view! { <p class="form-message" role="alert">{e}</p> })}
        // A plain form: the file goes up the same way with or without JavaScript.
        <form class="upload panel" method="post" action="/imports/upload" enctype="multipart/form-data">
            <label>
                "CSV file "
                <input type="file" name="file" accept=".csv,text/csv" required />
            </label>
            <button type="submit" class="primary">"Upload and check"</button>
            <ul class="hint">
                <li>"The first row names the columns; commas or semicolons; UTF-8, with or without a byte-order mark."</li>
                <li>"One column identifies the user: a user id (new users are created) or an email (existing users only)."</li>
                <li>"Dates as 2026-06-15 or 2026-06-15T10:00:00Z; true / false; lists separated by |. Up to 50 MiB and 1,000,000 rows."</li>
                <li>"Nothing is written until you confirm the mapping."</li>
            </ul>
        </form>
    }
}

#[component]
fn MappingStep(upload: String) -> impl IntoView {
    let query = use_query_map();
    let upload = StoredValue::new(upload);
    let preview = Resource::new(
        move || query.with(|q| q.to_query_string()),
        move |q| preview_import(upload.get_value(), q),
    );
    let start = ServerAction::<StartImport>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(Ok(id))) = start.value().get() {
            navigate(&format!("/imports/{id}"), Default::default());
        }
    });
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Checking the file…"</p> }>
            {move || Suspend::new(async move {
                match preview.await {
                    Err(e) => view! {
                        <p class="form-message" role="alert">{e.to_string()}</p>
                        <p><a href="/imports/new">"Upload a file"</a></p>
                    }.into_any(),
                    Ok(p) => mapping_view(p, upload.get_value(), query.with_untracked(|q| q.to_query_string()), start).into_any(),
                }
            })}
        </Suspense>
    }
}

fn mapping_view(
    p: ImportPreview,
    upload: String,
    query: String,
    start: ServerAction<StartImport>,
) -> impl IntoView {
    let id_col = p.identifier_column;
    let can_import = p.error.is_none() && p.ready > 0;
    let headers: Vec<String> = p.columns.iter().map(|c| c.header.clone()).collect();
    let upload_field = upload.clone();
    // The check's own query, so the download lists what the page shows.
    let query_link = if query.contains("upload=") {
        query.clone()
    } else {
        format!("?upload={upload}")
    };
    view! {
        <p class="import-file">
            <strong>{p.file_name.clone()}</strong>
            {format!(" · {} rows · separated by {}", p.rows, p.delimiter)}
        </p>
        <Form method="GET" action="/imports/new" attr:class="mapping panel">
            <input type="hidden" name="upload" value=upload_field />
            <fieldset class="identifier">
                <legend>"Users are found by"</legend>
                <label>
                    "Column "
                    <select name="id">
                        {headers.iter().enumerate().map(|(i, h)| view! {
                            <option value=i.to_string() selected=i == id_col>{h.clone()}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label>
                    <input type="radio" name="by" value="user_id" checked=!p.by_email />
                    " holding user ids (new users are created)"
                </label>
                <label>
                    <input type="radio" name="by" value="email" checked=p.by_email />
                    " holding emails (existing users only)"
                </label>
            </fieldset>
            <datalist id="import-targets">
                <option value="name">"the profile's name"</option>
                <option value="email">"the profile's email"</option>
                {p.attributes.iter().map(|a| view! { <option value=a.clone()></option> }).collect_view()}
            </datalist>
            <table class="data columns">
                <thead>
                    <tr><th>"Column"</th><th>"Values"</th><th>"Import into"</th><th>"As"</th></tr>
                </thead>
                <tbody>
                    {p.columns.iter().enumerate().map(|(i, c)| {
                        let is_id = i == id_col;
                        view! {
                            <tr>
                                <th scope="row">{c.header.clone()}</th>
                                <td class="samples">{c.samples.join(" · ")}</td>
                                <td>
                                    {if is_id {
                                        view! { <span class="muted">"identifies the user"</span> }.into_any()
                                    } else {
                                        view! {
                                            <input type="text" name=format!("c{i}") value=c.target.clone()
                                                list="import-targets" maxlength="64" placeholder="(skip)"
                                                aria-label=format!("Import column {} into", c.header) />
                                        }.into_any()
                                    }}
                                </td>
                                <td class="kind">{if is_id { String::new() } else { c.kind.clone().unwrap_or_else(|| "skipped".into()) }}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            <p class="hint">"Leave a box empty to skip its column. A new name makes a new attribute; its type is read from the values."</p>
            <button type="submit">"Check again"</button>
        </Form>
        {p.error.clone().map(|e| view! { <p class="form-message" role="alert">{e}</p> })}
        <section class="check" aria-label="Check">
            <h2>"Check"</h2>
            <p class="check-summary">
                {format!("{} of {} rows ready to import", p.ready, p.rows)}
                {(p.bad_total > 0).then(|| format!(", {} left out", p.bad_total))}
            </p>
            {(p.bad_total > 0).then(|| view! {
                <div class="bad-rows">
                    <table class="data">
                        <thead><tr><th class="num">"Line"</th><th>"Why it is left out"</th></tr></thead>
                        <tbody>
                            {p.bad.iter().map(|(line, why)| view! {
                                <tr><td class="num">{*line}</td><td>{why.clone()}</td></tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                    <p class="hint">
                        {(p.bad_total > p.bad.len()).then(|| format!("The first {} of {} are listed. ", p.bad.len(), p.bad_total))}
                        <a href=format!("/imports/left-out.csv{query_link}") rel="external" download>"Download every row left out (CSV)"</a>
                    </p>
                </div>
            })}
            <ActionForm action=start attr:class="start-import">
                <input type="hidden" name="upload" value=upload />
                <input type="hidden" name="query" value=query />
                <button type="submit" class="primary" disabled=!can_import>
                    {format!("Import {} rows", p.ready)}
                </button>
            </ActionForm>
            {move || super::alerts([super::refusal(start.value().get())])}
        </section>
    }
}

/// One import: its progress while it runs, then what came of it.
#[component]
pub fn ImportPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .with(|p| p.get("id"))
            .and_then(|i| i.parse::<i64>().ok())
    };
    let tick = RwSignal::new(0u32);
    let import = Resource::new(
        move || (id(), tick.get()),
        |(id, _)| async move {
            match id {
                Some(id) => load_import(id).await,
                None => Err(ServerFnError::new("no such import")),
            }
        },
    );
    // While it runs, ask again twice a second. An interval, not a timer set
    // on each answer: two equal answers in a row would stop a timer chain.
    let running = RwSignal::new(false);
    Effect::new(move |_| {
        let now = import
            .get()
            .and_then(Result::ok)
            .is_some_and(|i| i.status == "running");
        running.set(now);
    });
    let interval: StoredValue<Option<IntervalHandle>> = StoredValue::new(None);
    Effect::new(move |_| {
        let handle = set_interval_with_handle(
            move || {
                if running.get_untracked() {
                    tick.update(|t| *t += 1);
                }
            },
            std::time::Duration::from_millis(500),
        );
        interval.set_value(handle.ok());
    });
    on_cleanup(move || {
        if let Some(h) = interval.try_get_value().flatten() {
            h.clear();
        }
    });
    view! {
        <Title text="Import" />
        <header class="page-head">
            <h1>"Import"</h1>
            <A href="/imports" attr:class="button">"Imports"</A>
        </header>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match import.await {
                    Err(e) => view! { <p class="form-message" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(i) => import_detail(i).into_any(),
                }
            })}
        </Transition>
    }
}

fn import_detail(i: ImportView) -> impl IntoView {
    let running = i.status == "running";
    let done = i.done.unwrap_or(0);
    view! {
        <p class="import-file">
            <strong>{i.file_name.clone()}</strong>
            {format!(" · {} rows · users by {} · {} by {}", i.rows, i.by, i.when, i.who)}
        </p>
        {running.then(|| view! {
            <div class="import-progress">
                <progress max=i.rows.to_string() value=done.to_string() aria-label="Import progress"></progress>
                <span>{format!("{done} of {} rows", i.rows)}</span>
            </div>
        })}
        <p class="import-status" data-status=i.status.clone()>{status_label(&i.status)}</p>
        {i.error.clone().map(|e| view! { <p class="form-message" role="alert">{e}</p> })}
        {(i.status == "interrupted").then(|| view! {
            <p class="form-message" role="alert">"The server stopped during this import: the rows written before stay; import the file again to finish (rows already written are written again, unchanged)."</p>
        })}
        {(!running).then(|| view! {
            <dl class="import-outcome">
                <div><dt>"Created"</dt><dd>{i.created}</dd></div>
                <div><dt>"Updated"</dt><dd>{i.updated}</dd></div>
                <div><dt>"Rejected"</dt><dd>{i.rejected}</dd></div>
            </dl>
        })}
        {(!i.rejections.is_empty()).then(|| view! {
            <h2>"Rows left out"</h2>
            <div class="bad-rows">
                <table class="data">
                    <thead><tr><th class="num">"Line"</th><th>"Why"</th></tr></thead>
                    <tbody>
                        {i.rejections.iter().map(|(line, why)| view! {
                            <tr><td class="num">{*line}</td><td>{why.clone()}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            {(i.rejected as usize > i.rejections.len()).then(|| view! {
                <p class="hint">{format!("The first {} of {} are kept.", i.rejections.len(), i.rejected)}</p>
            })}
        })}
    }
}
