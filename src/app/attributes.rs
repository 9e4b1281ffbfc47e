//! The Attributes page: every attribute key of the workspace with its type,
//! sources, how many users have it and when it was last received; sortable;
//! each opens the users who have it.

use super::profile::Source;
use super::users::encode;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttributeLine {
    pub name: String,
    pub attr_type: String,
    pub sources: Vec<String>,
    pub users: i64,
    pub last_seen: String,
    pub last_seen_ago: String,
}

#[server(prefix = "/_fn", endpoint = "load_attributes")]
pub async fn load_attributes(sort: String) -> Result<Vec<AttributeLine>, ServerFnError> {
    use crate::model::time::{ago, display_date};
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let mut defs = state.store.definitions(account.workspace_id).await?;
    let (key, descending) = match sort.strip_prefix('-') {
        Some(k) => (k, true),
        None => (sort.as_str(), false),
    };
    match key {
        "users" => defs.sort_by_key(|d| d.users),
        "type" => defs.sort_by(|a, b| {
            a.attr_type
                .as_str()
                .cmp(b.attr_type.as_str())
                .then(a.name.cmp(&b.name))
        }),
        "last_seen" => defs.sort_by_key(|d| d.last_seen),
        _ => defs.sort_by_key(|d| d.name.to_lowercase()),
    }
    if descending {
        defs.reverse();
    }
    let now = chrono::Utc::now().timestamp_millis();
    Ok(defs
        .into_iter()
        .map(|d| {
            let last = chrono::DateTime::from_timestamp_millis(d.last_seen).unwrap_or_default();
            AttributeLine {
                name: d.name,
                attr_type: d.attr_type.as_str().into(),
                sources: d.sources,
                users: d.users,
                last_seen: display_date(&last),
                last_seen_ago: ago(d.last_seen, now),
            }
        })
        .collect())
}

const COLUMNS: &[(&str, Option<&str>)] = &[
    ("Name", Some("name")),
    ("Type", Some("type")),
    ("Sources", None),
    ("Users", Some("users")),
    ("Last received", Some("last_seen")),
    ("Values", None),
];

fn users_link(name: &str) -> String {
    format!("/users?has={}", encode(name))
}

/// One attribute's distribution, ready to draw.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttributeDetail {
    pub name: String,
    pub attr_type: String,
    pub users: i64,
    pub distribution: crate::model::distribution::Distribution,
}

#[server(prefix = "/_fn", endpoint = "load_distribution")]
pub async fn load_distribution(name: String) -> Result<Option<AttributeDetail>, ServerFnError> {
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let ws = account.workspace_id;
    let Some((t, distribution)) = state.store.distribution(ws, &name).await? else {
        return Ok(None);
    };
    let users = state
        .store
        .definitions(ws)
        .await?
        .into_iter()
        .find(|d| d.name == name)
        .map_or(0, |d| d.users);
    Ok(Some(AttributeDetail {
        name,
        attr_type: t.as_str().into(),
        users,
        distribution,
    }))
}

/// `/attributes/plan`: how the values of one attribute spread.
#[component]
pub fn AttributePage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.read().get("name").unwrap_or_default();
    let detail = Resource::new(name, load_distribution);
    view! {
        <Title text=move || format!("Attribute {}", name()) />
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Err(e) => view! { <p class="form-message" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(None) => view! {
                        <h1>"No such attribute"</h1>
                        <p>"No user has an attribute named " <code>{name()}</code> ". " <a href="/attributes">"See every attribute"</a></p>
                    }.into_any(),
                    Ok(Some(d)) => view! {
                        <header class="page-head">
                            <h1><a href="/attributes">"Attributes"</a> " / " <code>{d.name.clone()}</code></h1>
                        </header>
                        <p class="total">
                            {format!("{}, held by {} ", d.attr_type, super::users::thousands(d.users))}
                            {if d.users == 1 { "user" } else { "users" }} " · "
                            <a href=users_link(&d.name)>"See them"</a>
                        </p>
                        <section class="panel" aria-labelledby="dist-h">
                            <h2 id="dist-h">{if matches!(d.distribution, crate::model::distribution::Distribution::Top { .. }) { "Most frequent values" } else { "Distribution" }}</h2>
                            <super::chart::Chart distribution=d.distribution />
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn Attributes() -> impl IntoView {
    let query = use_query_map();
    let sort = move || query.read().get("sort").unwrap_or_else(|| "name".into());
    let lines = Resource::new(sort, load_attributes);
    view! {
        <Title text="Attributes" />
        <header class="page-head">
            <h1>"Attributes"</h1>
        </header>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                let current = sort();
                match lines.await {
                    Err(e) => view! { <p class="form-message" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(lines) if lines.is_empty() => view! {
                        <p>"No attributes yet: send some with the SDK or the REST API."</p>
                    }
                    .into_any(),
                    Ok(lines) => view! {
                        <p class="total">{format!("{} attributes", lines.len())}</p>
                        <table class="users attribute-keys">
                            <thead>
                                <tr>
                                    {COLUMNS.iter().map(|(label, key)| match key {
                                        None => view! { <th scope="col">{*label}</th> }.into_any(),
                                        Some(key) => {
                                            let (arrow, aria, to) = if current == *key {
                                                (" ↑", "ascending", format!("-{key}"))
                                            } else if current == format!("-{key}") {
                                                (" ↓", "descending", key.to_string())
                                            } else {
                                                ("", "none", key.to_string())
                                            };
                                            view! {
                                                <th scope="col" aria-sort=aria>
                                                    <a href=format!("/attributes?sort={to}")>{*label}{arrow}</a>
                                                </th>
                                            }
                                            .into_any()
                                        }
                                    }).collect_view()}
                                </tr>
                            </thead>
                            <tbody>
                                {lines.into_iter().map(|l| view! {
                                    <tr data-attribute=l.name.clone()>
                                        <th scope="row"><a href=users_link(&l.name)><code>{l.name.clone()}</code></a></th>
                                        <td class="muted">{l.attr_type}</td>
                                        <td>{l.sources.into_iter().map(|s| view! { <Source source=s /> }).collect_view()}</td>
                                        <td class="num">{l.users}</td>
                                        <td><a href=format!("/attributes/{}", encode(&l.name)) aria-label=format!("Distribution of {}", l.name)>"Chart"</a></td>
                                        <td><time title=l.last_seen>{l.last_seen_ago}</time></td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }
                    .into_any(),
                }
            })}
        </Suspense>
    }
}
