//! The Segments page (every segment with its current count) and the
//! segment editor (the builder; name, description and icon are asked last,
//! when saving).

use super::builder::{builder_choices, Builder, GroupDraft};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub icon: String,
    /// Users in it now, or why it cannot be counted.
    pub count: Result<i64, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentForm {
    pub id: Option<i64>,
    pub name: String,
    pub description: String,
    pub icon: String,
    pub condition: Json,
}

#[server(prefix = "/_fn", endpoint = "list_segments")]
pub async fn list_segments() -> Result<Vec<SegmentRow>, ServerFnError> {
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let ws = account.workspace_id;
    let now = crate::server::store::now_ms();
    let mut rows = Vec::new();
    for s in state.store.segments(ws).await? {
        let count = state
            .store
            .count_where(ws, &s.condition, now)
            .await
            .map_err(|e| e.to_string());
        rows.push(SegmentRow {
            id: s.id,
            name: s.name,
            description: s.description,
            icon: s.icon,
            count,
        });
    }
    Ok(rows)
}

#[server(prefix = "/_fn", endpoint = "load_segment")]
pub async fn load_segment(id: i64) -> Result<SegmentForm, ServerFnError> {
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let s = state
        .store
        .segment(account.workspace_id, id)
        .await?
        .ok_or_else(|| ServerFnError::new(format!("no segment has the id {id}")))?;
    Ok(SegmentForm {
        id: Some(s.id),
        name: s.name,
        description: s.description,
        icon: s.icon,
        condition: s.condition.to_json(),
    })
}

/// Creates (no `id`) or replaces a segment; answers its id.
#[server(prefix = "/_fn", endpoint = "save_segment")]
pub async fn save_segment(
    id: Option<String>,
    name: String,
    description: Option<String>,
    icon: Option<String>,
    condition: String,
) -> Result<Result<i64, String>, ServerFnError> {
    use crate::model::segment::SegmentInput;
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let condition: Json = serde_json::from_str(&condition)
        .map_err(|e| ServerFnError::new(format!("the condition is not JSON: {e}")))?;
    let input = match SegmentInput::from_json(&json!({
        "name": name, "description": description, "icon": icon, "condition": condition,
    })) {
        Ok(i) => i,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let id = match id.as_deref().filter(|i| !i.is_empty()) {
        None => None,
        Some(i) => Some(
            i.parse::<i64>()
                .map_err(|_| ServerFnError::new("no such segment"))?,
        ),
    };
    refused(
        state
            .store
            .save_segment(account.workspace_id, id, &input)
            .await
            .map(|s| s.id),
    )
}

/// A refusal of the store as the answer's `Err`; a database failure as a failure.
#[cfg(feature = "ssr")]
fn refused<T>(
    r: Result<T, crate::server::store::segments::SegmentStoreError>,
) -> super::Refusable<T> {
    use crate::server::store::segments::SegmentStoreError;
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(SegmentStoreError::Store(e)) => Err(ServerFnError::new(e.to_string())),
        Err(e) => Ok(Err(e.to_string())),
    }
}

/// A copy named "<name> (copy)" (or "(copy 2)", ...).
#[server(prefix = "/_fn", endpoint = "duplicate_segment")]
pub async fn duplicate_segment(id: i64) -> Result<i64, ServerFnError> {
    use crate::model::segment::SegmentInput;
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let ws = account.workspace_id;
    let all = state.store.segments(ws).await?;
    let s = all
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| ServerFnError::new(format!("no segment has the id {id}")))?;
    let name = (1..)
        .map(|n| {
            let tail = if n == 1 {
                " (copy)".to_string()
            } else {
                format!(" (copy {n})")
            };
            let keep = crate::model::segment::MAX_NAME_CHARS - tail.chars().count();
            format!("{}{tail}", s.name.chars().take(keep).collect::<String>())
        })
        .find(|n| !all.iter().any(|s| s.name == *n))
        .unwrap_or_default();
    let input = SegmentInput {
        name,
        description: s.description.clone(),
        icon: s.icon.clone(),
        condition: s.condition.clone(),
    };
    let saved = state
        .store
        .save_segment(ws, None, &input)
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))?;
    Ok(saved.id)
}

#[server(prefix = "/_fn", endpoint = "remove_segment")]
pub async fn remove_segment(id: i64) -> Result<Result<(), String>, ServerFnError> {
    let (state, account) = crate::server::dashboard::signed_in().await?;
    refused(state.store.delete_segment(account.workspace_id, id).await)
}

/// The address of the Users list filtered by a condition.
pub fn users_filtered_href(condition: &Json) -> String {
    format!(
        "/users?filter={}",
        super::users::encode(&condition.to_string())
    )
}

#[component]
pub fn Segments() -> impl IntoView {
    let duplicate = ServerAction::<DuplicateSegment>::new();
    let remove = ServerAction::<RemoveSegment>::new();
    let rows = Resource::new(
        move || (duplicate.version().get(), remove.version().get()),
        |_| list_segments(),
    );
    let errors = move || {
        super::alerts([
            duplicate.value().get().and_then(|r| r.err()),
            super::refusal(remove.value().get()),
        ])
    };
    view! {
        <Title text="Segments" />
        <header class="page-head">
            <h1>"Segments"</h1>
            <a class="button primary" href="/segments/new">"New segment"</a>
        </header>
        {errors}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match rows.await {
                    Err(e) => view! { <p class="form-message" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(rows) if rows.is_empty() => view! {
                        <section class="notice">
                            <p>"No segments yet. A segment is a saved condition: users join and leave it as their attributes change."</p>
                            <p><a href="/segments/new">"Build the first one"</a></p>
                        </section>
                    }.into_any(),
                    Ok(rows) => view! {
                        <table class="segments">
                            <thead>
                                <tr>
                                    <th scope="col">"Segment"</th>
                                    <th scope="col" class="num">"Users now"</th>
                                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                </tr>
                            </thead>
                            <tbody>
                                {rows.into_iter().map(|s| { let delete_label = format!("Delete {}", s.name); view! {
                                    <tr data-segment=s.name.clone()>
                                        <td>
                                            <span class="segment-icon" aria-hidden="true">{s.icon.clone()}</span>
                                            <a class="who" href=format!("/segments/{}", s.id)>{s.name.clone()}</a>
                                            <span class="sub">{s.description.clone()}</span>
                                        </td>
                                        <td class="num">
                                            {match s.count.clone() {
                                                Ok(n) => view! { <a href=format!("/users?segment={}", s.id) data-count=n>{super::users::thousands(n)}</a> }.into_any(),
                                                Err(e) => view! { <span class="form-message" title=e>"Cannot count"</span> }.into_any(),
                                            }}
                                        </td>
                                        <td class="row-actions">
                                            <a href=format!("/segments/{}", s.id)>"Edit"</a>
                                            <ActionForm action=duplicate>
                                                <input type="hidden" name="id" value=s.id />
                                                <button type="submit" class="link">"Duplicate"</button>
                                            </ActionForm>
                                            <ActionForm action=remove>
                                                <input type="hidden" name="id" value=s.id />
                                                <button type="submit" class="link danger-link" aria-label=delete_label>"Delete"</button>
                                            </ActionForm>
                                        </td>
                                    </tr>
                                }}).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// `/segments/new` (optionally `?filter=<condition>`) and `/segments/<id>`.
#[component]
pub fn SegmentEditor() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").and_then(|i| i.parse::<i64>().ok());
    let data = Resource::new(
        move || (id(), query.read().get("filter")),
        |(id, filter)| async move {
            let choices = builder_choices().await?;
            let form = match id {
                Some(id) => load_segment(id).await?,
                None => SegmentForm {
                    id: None,
                    name: String::new(),
                    description: String::new(),
                    icon: String::new(),
                    condition: filter
                        .and_then(|f| serde_json::from_str(&f).ok())
                        .unwrap_or_else(|| json!({"all": []})),
                },
            };
            Ok::<_, ServerFnError>((choices, form))
        },
    );
    view! {
        <Title text="Segment" />
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <p class="form-message" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok((choices, form)) => view! { <EditSegment choices form /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn EditSegment(choices: super::builder::Choices, form: SegmentForm) -> impl IntoView {
    let root = GroupDraft::from_json(&form.condition);
    let for_json = choices.clone();
    let json = Memo::new(move |_| root.to_json(&for_json));
    let save = ServerAction::<SaveSegment>::new();
    let naming = RwSignal::new(false);
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(Ok(_))) = save.value().get() {
            navigate("/segments", Default::default());
        }
    });
    let title = if form.id.is_some() {
        format!("Edit “{}”", form.name)
    } else {
        "New segment".to_string()
    };
    view! {
        <header class="page-head">
            <h1>{title}</h1>
            <a class="button" href=move || users_filtered_href(&json.get().0)>"Show these users"</a>
            <button type="button" class="primary" on:click=move |_| naming.set(true)>"Save segment…"</button>
        </header>
        <Builder root choices json />
        <dialog class="save-segment" open=move || naming.get()>
            <ActionForm action=save>
                <h2>"Save the segment"</h2>
                <input type="hidden" name="id" value=form.id.map(|i| i.to_string()).unwrap_or_default() />
                <input type="hidden" name="condition" prop:value=move || json.get().0.to_string() />
                <label>"Name" <input name="name" required maxlength="100" value=form.name.clone() /></label>
                <label>"Description" <input name="description" maxlength="500" value=form.description.clone() /></label>
                <label>"Icon (an emoji)" <input name="icon" maxlength="8" class="short" value=form.icon.clone() /></label>
                {move || super::alerts([super::refusal(save.value().get())])}
                <div class="form-actions">
                    <button type="submit" class="primary">"Save"</button>
                    <button type="button" on:click=move |_| naming.set(false)>"Cancel"</button>
                </div>
            </ActionForm>
        </dialog>
    }
}
