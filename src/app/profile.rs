//! A user's profile: the header of native fields, then Data > Attributes.
//! Every value a visitor sent is shown as text (Leptos escapes it).

use super::user_actions::{AddTag, DeleteUser, DeleteUserForm, RemovableTag, RetagUser};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

/// How a value shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Shown {
    Text(String),
    Chips(Vec<String>),
}

impl Shown {
    /// Numbers in their canonical text, dates readable, arrays as chips.
    pub fn of(value: &crate::model::attribute::AttrValue) -> Shown {
        use crate::model::attribute::{format_number, AttrValue};
        match value {
            AttrValue::String(s) => Shown::Text(s.clone()),
            AttrValue::Number(n) => Shown::Text(format_number(*n)),
            AttrValue::Boolean(b) => Shown::Text(b.to_string()),
            AttrValue::Date(d) => Shown::Text(crate::model::time::display_date(d)),
            AttrValue::Array(items) => Shown::Chips(items.clone()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttrLine {
    pub name: String,
    pub value: Shown,
    pub attr_type: String,
    /// `native`, `custom`, or an integration.
    pub source: String,
    pub updated: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileView {
    pub title: String,
    pub jimer_id: String,
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub facts: Vec<(String, String)>,
    pub tags: Vec<String>,
    pub attributes: Vec<AttrLine>,
    /// The segments the user is in now: (id, icon, name).
    pub segments: Vec<(i64, String, String)>,
}

#[server(prefix = "/_fn", endpoint = "load_profile")]
pub async fn load_profile(jimer_id: String) -> Result<Option<ProfileView>, ServerFnError> {
    use crate::model::time::{ago, display_date};
    use crate::server::store::users::Who;
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let Some(u) = state
        .store
        .user(account.workspace_id, Who::JimerId(&jimer_id))
        .await?
    else {
        return Ok(None);
    };
    let now = chrono::Utc::now().timestamp_millis();
    let segments = state
        .store
        .segments_of(account.workspace_id, Who::JimerId(&jimer_id), now)
        .await?
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.id, s.icon, s.name))
        .collect();
    let when = |d: Option<chrono::DateTime<chrono::Utc>>| match d {
        Some(d) => format!("{} ({})", display_date(&d), ago(d.timestamp_millis(), now)),
        None => "never".into(),
    };
    let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    let native = |name: &str, value: Shown, t: &str| AttrLine {
        name: name.into(),
        value,
        attr_type: t.into(),
        source: "native".into(),
        updated: None,
    };
    let mut attributes = vec![
        native("user_id", Shown::Text(text(&u.user_id)), "string"),
        native("jimer_id", Shown::Text(u.jimer_id.clone()), "string"),
        native("name", Shown::Text(text(&u.name)), "string"),
        native("email", Shown::Text(text(&u.email)), "string"),
        native("language", Shown::Text(text(&u.language)), "string"),
        native(
            "identified",
            Shown::Text(u.user_id.is_some().to_string()),
            "boolean",
        ),
        native("first_seen", Shown::Text(when(u.first_seen)), "date"),
        native("last_activity", Shown::Text(when(u.last_activity)), "date"),
        native("sessions", Shown::Text(u.sessions.to_string()), "number"),
        native("created", Shown::Text(when(Some(u.created))), "date"),
        native("tags", Shown::Chips(u.tags.clone()), "array"),
    ];
    attributes.extend(u.attributes.iter().map(|a| AttrLine {
        name: a.name.clone(),
        value: Shown::of(&a.value),
        attr_type: a.attr_type.as_str().into(),
        source: a.source.clone(),
        updated: Some(format!(
            "{} ({})",
            display_date(&a.updated_at),
            ago(a.updated_at.timestamp_millis(), now)
        )),
    }));
    let facts = vec![
        (
            "Identified".to_string(),
            if u.user_id.is_some() {
                "Yes"
            } else {
                "No, anonymous"
            }
            .to_string(),
        ),
        ("First seen".into(), when(u.first_seen)),
        ("Last activity".into(), when(u.last_activity)),
        ("Sessions".into(), u.sessions.to_string()),
        ("Created".into(), when(Some(u.created))),
    ];
    Ok(Some(ProfileView {
        title: u
            .name
            .clone()
            .or(u.user_id.clone())
            .unwrap_or_else(|| "Anonymous".into()),
        jimer_id: u.jimer_id,
        user_id: u.user_id,
        email: u.email,
        facts,
        tags: u.tags,
        attributes,
        segments,
    }))
}

/// Longest value shown unfolded.
const FOLD: usize = 120;

#[component]
pub(super) fn Value(value: Shown) -> impl IntoView {
    match value {
        Shown::Chips(items) if items.is_empty() => {
            view! { <span class="muted">"—"</span> }.into_any()
        }
        Shown::Chips(items) => items
            .into_iter()
            .map(|i| view! { <span class="chip">{i}</span> })
            .collect_view()
            .into_any(),
        Shown::Text(t) if t.chars().count() > FOLD => {
            let short: String = t.chars().take(FOLD).collect();
            view! {
                <details class="fold">
                    <summary>{short}"…"</summary>
                    <span class="full">{t}</span>
                </details>
            }
            .into_any()
        }
        Shown::Text(t) => view! { <span class="value">{t}</span> }.into_any(),
    }
}

/// Native label, userdeck mark, or the integration's logo.
#[component]
pub(super) fn Source(source: String) -> impl IntoView {
    const KNOWN: &[(&str, &str)] = &[
        ("custom", "userdeck (SDK or API)"),
        ("segment", "Segment"),
        ("posthog", "PostHog"),
        ("mixpanel", "Mixpanel"),
        ("amplitude", "Amplitude"),
        ("hubspot", "HubSpot"),
        ("salesforce", "Salesforce"),
        ("import", "CSV import"),
    ];
    if source == "native" {
        return view! { <span class="native">"Native"</span> }.into_any();
    }
    match KNOWN.iter().find(|(k, _)| *k == source) {
        Some((key, label)) => view! {
            <span class="source" data-source=*key>
                <img src=format!("/sources/{key}.svg") alt=*label title=*label width="16" height="16" />
            </span>
        }
        .into_any(),
        None => view! { <span class="source">{source}</span> }.into_any(),
    }
}

#[component]
pub fn Profile() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let jimer = move || params.read().get("jimer").unwrap_or_default();
    let filter = move || query.read().get("filter").unwrap_or_default();
    let retag = ServerAction::<RetagUser>::new();
    let delete = ServerAction::<DeleteUser>::new();
    let profile = Resource::new(
        move || (jimer(), retag.version().get()),
        |(jimer, _)| load_profile(jimer),
    );
    let errors = move || {
        super::alerts([
            retag.value().get().and_then(|r| r.err()),
            delete.value().get().and_then(|r| r.err()),
        ])
    };
    view! {
        {errors}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                let wanted = filter().to_lowercase();
                match profile.await {
                    Err(e) => view! { <p class="form-message" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(None) => view! {
                        <Title text="No such user" />
                        <header class="page-head"><h1>"No such user"</h1></header>
                        <p>"This user does not exist (any more). " <a href="/users">"Back to Users"</a></p>
                    }
                    .into_any(),
                    Ok(Some(p)) => {
                        let lines: Vec<AttrLine> = p
                            .attributes
                            .into_iter()
                            .filter(|a| wanted.is_empty() || a.name.to_lowercase().contains(&wanted))
                            .collect();
                        view! {
                            <Title text=p.title.clone() />
                            <p class="crumbs"><a href="/users">"Users"</a> " / "</p>
                            <header class="profile-head">
                                <h1>{p.title.clone()}</h1>
                                <p class="ids">
                                    {p.email.clone().map(|e| view! { <span>{e}</span> })}
                                    {p.user_id.clone().map(|u| view! { <code>{u}</code> })}
                                    <code>{p.jimer_id.clone()}</code>
                                </p>
                                <dl class="facts">
                                    {p.facts.into_iter().map(|(k, v)| view! { <div><dt>{k}</dt><dd>{v}</dd></div> }).collect_view()}
                                </dl>
                                <div class="tags" aria-label="Tags">
                                    {p.tags.into_iter().map(|t| view! { <RemovableTag jimer_id=p.jimer_id.clone() tag=t action=retag /> }).collect_view()}
                                    <AddTag jimer_id=p.jimer_id.clone() who=p.title.clone() action=retag />
                                </div>
                                <div class="in-segments">
                                    <h2>"Segments"</h2>
                                    {if p.segments.is_empty() {
                                        view! { <p class="muted">"In no segment."</p> }.into_any()
                                    } else {
                                        view! {
                                            <ul class="segment-list">
                                                {p.segments.into_iter().map(|(id, icon, name)| view! {
                                                    <li><a href=format!("/segments/{id}")><span aria-hidden="true">{icon}</span> {name}</a></li>
                                                }).collect_view()}
                                            </ul>
                                        }.into_any()
                                    }}
                                </div>
                            </header>
                            <nav class="tabs" aria-label="Profile">
                                <span class="tab" aria-current="page">"Data › Attributes"</span>
                            </nav>
                            <form class="search" method="get" role="search">
                                <label class="visually-hidden" for="attr-filter">"Filter attributes"</label>
                                <input id="attr-filter" type="search" name="filter" value=filter() placeholder="Filter attributes" />
                                <button type="submit">"Filter"</button>
                            </form>
                            <table class="attributes">
                                <thead>
                                    <tr>
                                        <th scope="col">"Name"</th>
                                        <th scope="col">"Value"</th>
                                        <th scope="col">"Type"</th>
                                        <th scope="col">"Source"</th>
                                        <th scope="col">"Updated"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {lines.into_iter().map(|a| {
                                        let name = a.name.clone();
                                        view! {
                                        <tr data-attribute=name>
                                            <th scope="row"><code>{a.name}</code></th>
                                            <td><Value value=a.value /></td>
                                            <td class="muted">{a.attr_type}</td>
                                            <td><Source source=a.source /></td>
                                            <td class="muted">{a.updated.unwrap_or_else(|| "—".into())}</td>
                                        </tr>
                                    }}).collect_view()}
                                </tbody>
                            </table>
                            <details class="danger-zone">
                                <summary>"Delete this user"</summary>
                                <DeleteUserForm jimer_id=p.jimer_id.clone() who=p.title.clone() back=Some("/users".to_string()) action=delete />
                            </details>
                        }
                        .into_any()
                    }
                }
            })}
        </Suspense>
    }
}
