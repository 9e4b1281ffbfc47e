//! Personalization: named pieces of content (title, body, button label,
//! link) whose fields are templates, and their editor: variables as chips
//! with their fallbacks, a variable picker with example values, a preview
//! for a chosen user rendered in the browser by the same code the API runs
//! (`model::template`), and warnings about variables users lack.

use crate::model::attribute::{AttrType, AttrValue};
use crate::model::content::{ContentInput, FIELDS};
use crate::model::profile::{Attribute, User};
use crate::model::template::{Part, Piece, Template};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContentRow {
    pub id: i64,
    pub name: String,
    pub title: String,
    pub updated: String,
}

/// A variable the picker offers, with an example value from the workspace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VarChoice {
    pub name: String,
    /// `Profile`, `Derived from name`, or the attribute's sources.
    pub source: String,
    pub example: Option<String>,
}

/// A user as the preview needs them (the browser renders the templates).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub jimer_id: String,
    pub label: String,
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub language: Option<String>,
    pub first_seen: Option<i64>,
    pub last_activity: Option<i64>,
    pub sessions: i64,
    pub created: i64,
    pub tags: Vec<String>,
    /// (name, type, stored text).
    pub attributes: Vec<(String, AttrType, String)>,
}

impl Sample {
    fn to_user(&self) -> User {
        let time = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
        User {
            jimer_id: self.jimer_id.clone(),
            user_id: self.user_id.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
            language: self.language.clone(),
            first_seen: self.first_seen.map(time),
            last_activity: self.last_activity.map(time),
            sessions: self.sessions,
            created: time(self.created),
            tags: self.tags.clone(),
            attributes: self
                .attributes
                .iter()
                .filter_map(|(name, t, text)| {
                    Some(Attribute {
                        name: name.clone(),
                        value: AttrValue::from_stored(*t, text)?,
                        attr_type: *t,
                        source: String::new(),
                        updated_at: time(0),
                    })
                })
                .collect(),
        }
    }

    #[cfg(feature = "ssr")]
    fn of(u: &User) -> Sample {
        Sample {
            jimer_id: u.jimer_id.clone(),
            label: u
                .name
                .clone()
                .or(u.email.clone())
                .or(u.user_id.clone())
                .unwrap_or_else(|| "Anonymous".into()),
            user_id: u.user_id.clone(),
            name: u.name.clone(),
            email: u.email.clone(),
            language: u.language.clone(),
            first_seen: u.first_seen.map(|t| t.timestamp_millis()),
            last_activity: u.last_activity.map(|t| t.timestamp_millis()),
            sessions: u.sessions,
            created: u.created.timestamp_millis(),
            tags: u.tags.clone(),
            attributes: u
                .attributes
                .iter()
                .map(|a| (a.name.clone(), a.attr_type, a.value.to_text()))
                .collect(),
        }
    }
}

/// Users to preview with: a search and/or a segment, a page at a time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Samples {
    pub users: Vec<Sample>,
    pub total: i64,
}

/// How many users of the scope (workspace or segment) lack each variable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    pub name: String,
    pub lacking: i64,
    pub total: i64,
}

#[server(prefix = "/_fn", endpoint = "list_contents")]
pub async fn list_contents() -> Result<Vec<ContentRow>, ServerFnError> {
    let (state, account) = crate::server::dashboard::signed_in().await?;
    Ok(state
        .store
        .contents(account.workspace_id)
        .await?
        .into_iter()
        .map(|c| ContentRow {
            id: c.id,
            name: c.input.name,
            title: c.input.title,
            updated: crate::model::time::ago(c.updated_at, crate::server::store::now_ms()),
        })
        .collect())
}

#[server(prefix = "/_fn", endpoint = "load_content")]
pub async fn load_content(id: i64) -> Result<ContentInput, ServerFnError> {
    let (state, account) = crate::server::dashboard::signed_in().await?;
    state
        .store
        .content(account.workspace_id, id)
        .await?
        .map(|c| c.input)
        .ok_or_else(|| ServerFnError::new(format!("no content has the id {id}")))
}

/// Saves; a refusal (bad template, name taken) is the answer's `Err`, so
/// the editor shows it beside the form.
#[server(prefix = "/_fn", endpoint = "save_content")]
pub async fn save_content(
    id: Option<String>,
    name: String,
    title: String,
    body: String,
    button: String,
    link: String,
) -> Result<Result<i64, String>, ServerFnError> {
    use crate::server::store::contents::ContentError;
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let id = match id.as_deref().filter(|i| !i.is_empty()) {
        None => None,
        Some(i) => Some(
            i.parse::<i64>()
                .map_err(|_| ServerFnError::new("no such content"))?,
        ),
    };
    let input = ContentInput {
        name,
        title,
        body,
        button,
        link,
    };
    match state
        .store
        .save_content(account.workspace_id, id, &input)
        .await
    {
        Ok(id) => Ok(Ok(id)),
        Err(ContentError::Store(e)) => Err(ServerFnError::new(e.to_string())),
        Err(refused) => Ok(Err(refused.to_string())),
    }
}

#[server(prefix = "/_fn", endpoint = "remove_content")]
pub async fn remove_content(id: i64) -> Result<(), ServerFnError> {
    let (state, account) = crate::server::dashboard::signed_in().await?;
    state
        .store
        .delete_content(account.workspace_id, id)
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))
}

/// Every variable: native fields, the derived ones, and the workspace's
/// attributes, each with an example value.
#[server(prefix = "/_fn", endpoint = "template_variables")]
pub async fn template_variables() -> Result<Vec<VarChoice>, ServerFnError> {
    use crate::model::attribute::NATIVE_FIELDS;
    use crate::model::template::{format_value, variable, Lang, DERIVED};
    use crate::server::store::list::ListQuery;
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let ws = account.workspace_id;
    let defs = state.store.definitions(ws).await?;
    // Examples from the most recent users who have each variable.
    let recent = state
        .store
        .list_users(
            ws,
            &ListQuery {
                limit: 200,
                skip_total: true,
                ..Default::default()
            },
        )
        .await?
        .users;
    let example = |name: &str| {
        recent.iter().find_map(|u| {
            variable(u, name)
                .map(|v| format_value(&v, Lang::En))
                .filter(|v| !v.is_empty())
        })
    };
    let mut out: Vec<VarChoice> = DERIVED
        .iter()
        .map(|n| VarChoice {
            name: n.to_string(),
            source: "Derived from name".into(),
            example: example(n),
        })
        .collect();
    out.extend(NATIVE_FIELDS.iter().map(|n| VarChoice {
        name: n.to_string(),
        source: "Profile".into(),
        example: example(n),
    }));
    out.extend(defs.into_iter().map(|d| VarChoice {
        example: example(&d.name),
        source: d.sources.join(", "),
        name: d.name,
    }));
    Ok(out)
}

/// Users to preview with: matching `q` (name, email, id), in `segment` if
/// given, or one random member of the segment.
#[server(prefix = "/_fn", endpoint = "preview_samples")]
pub async fn preview_samples(
    q: String,
    segment: String,
    random: bool,
) -> Result<Samples, ServerFnError> {
    use crate::server::store::list::ListQuery;
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let ws = account.workspace_id;
    let condition = crate::server::dashboard::view_condition(&state, ws, Some(&segment), None)
        .await
        .map_err(ServerFnError::new)?;
    let search = Some(q.trim().to_string()).filter(|q| !q.is_empty() && q.chars().count() <= 200);
    let query = ListQuery {
        search,
        limit: 20,
        condition,
        ..Default::default()
    };
    if random {
        use crate::server::store::users::Who;
        let picked = state
            .store
            .random_match(ws, query.condition.as_deref())
            .await?;
        let user = match picked {
            Some(j) => state.store.user(ws, Who::JimerId(&j)).await?,
            None => None,
        };
        return Ok(Samples {
            total: i64::from(user.is_some()),
            users: user.iter().map(Sample::of).collect(),
        });
    }
    let page = state.store.list_users(ws, &query).await?;
    Ok(Samples {
        users: page.users.iter().map(Sample::of).collect(),
        total: page.total,
    })
}

/// For each variable (`names`, one per line), how many users of the
/// workspace (or of `segment`) lack it.
#[server(prefix = "/_fn", endpoint = "template_coverage")]
pub async fn template_coverage(
    names: String,
    segment: String,
) -> Result<Vec<Coverage>, ServerFnError> {
    use crate::model::condition::Condition;
    use crate::model::template::lacking_condition;
    use serde_json::json;
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let ws = account.workspace_id;
    let types: std::collections::HashMap<String, AttrType> = state
        .store
        .definitions(ws)
        .await?
        .into_iter()
        .map(|d| (d.name, d.attr_type))
        .collect();
    let segment_id: Option<i64> = segment.parse().ok();
    let scoped = |c: serde_json::Value| match segment_id {
        Some(id) => json!({"all": [{"segment": id, "op": "in"}, c]}),
        None => c,
    };
    let now = crate::server::store::now_ms();
    let count = |c: serde_json::Value| {
        let state = state.clone();
        async move {
            let c = Condition::parse(&c).map_err(|e| ServerFnError::new(e.to_string()))?;
            state
                .store
                .count_where(ws, &c, now)
                .await
                .map_err(|e| ServerFnError::new(e.to_string()))
        }
    };
    let total = count(scoped(json!({"all": []}))).await?;
    let mut out = Vec::new();
    for name in names.lines().filter(|n| !n.is_empty()).take(50) {
        let lacking = match lacking_condition(name, &|n| types.get(n).copied()) {
            Some(c) => count(scoped(c)).await?,
            None => total,
        };
        out.push(Coverage {
            name: name.to_string(),
            lacking,
            total,
        });
    }
    Ok(out)
}

#[component]
pub fn Personalization() -> impl IntoView {
    let remove = ServerAction::<RemoveContent>::new();
    let rows = Resource::new(move || remove.version().get(), |_| list_contents());
    view! {
        <Title text="Personalization" />
        <header class="page-head">
            <h1>"Personalization"</h1>
            <a class="button primary" href="/personalization/new">"New content"</a>
        </header>
        {move || super::alerts([remove.value().get().and_then(|r| r.err())])}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match rows.await {
                    Err(e) => view! { <p class="form-message" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(rows) if rows.is_empty() => view! {
                        <section class="notice">
                            <p>"No content yet. Write a title, a body, a button label and a link with variables such as "
                                <code>"{firstName|there}"</code> ", and see it as each user will."</p>
                            <p><a href="/personalization/new">"Write the first one"</a></p>
                        </section>
                    }.into_any(),
                    Ok(rows) => view! {
                        <table class="contents">
                            <thead><tr>
                                <th scope="col">"Content"</th>
                                <th scope="col">"Updated"</th>
                                <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                            </tr></thead>
                            <tbody>
                                {rows.into_iter().map(|c| {
                                    let label = format!("Delete {}", c.name);
                                    view! {
                                        <tr data-content=c.name.clone()>
                                            <td><a class="who" href=format!("/personalization/{}", c.id)>{c.name.clone()}</a>
                                                <span class="sub">{c.title.clone()}</span></td>
                                            <td class="muted">{c.updated.clone()}</td>
                                            <td class="row-actions">
                                                <a href=format!("/personalization/{}", c.id)>"Edit"</a>
                                                <ActionForm action=remove>
                                                    <input type="hidden" name="id" value=c.id />
                                                    <button type="submit" class="link danger-link" aria-label=label>"Delete"</button>
                                                </ActionForm>
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// `/personalization/new` and `/personalization/<id>`.
#[component]
pub fn ContentEditor() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|i| i.parse::<i64>().ok());
    let data = Resource::new(id, |id| async move {
        let vars = template_variables().await?;
        let segments = super::builder::builder_choices().await?.segments;
        let content = match id {
            Some(id) => load_content(id).await?,
            None => ContentInput::default(),
        };
        Ok::<_, ServerFnError>((vars, segments, content))
    });
    view! {
        <Title text="Content" />
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <p class="form-message" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok((vars, segments, content)) => view! { <EditContent id=id() vars segments content /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Where the template source is at `utf16` code units (a textarea's caret).
fn byte_at_utf16(s: &str, utf16: u32) -> usize {
    let mut units = 0u32;
    for (i, c) in s.char_indices() {
        if units >= utf16 {
            return i;
        }
        units += c.len_utf16() as u32;
    }
    s.len()
}

/// The same template with the fallback of its `k`-th variable replaced.
fn with_fallback(source: &str, k: usize, fallback: &str) -> Option<String> {
    let mut t = Template::parse(source).ok()?;
    let var = t
        .parts
        .iter_mut()
        .filter(|p| matches!(p, Part::Var { .. }))
        .nth(k)?;
    if let Part::Var { fallback: f, .. } = var {
        *f = (!fallback.is_empty()).then(|| fallback.to_string());
    }
    Some(t.source())
}

#[component]
fn EditContent(
    id: Option<i64>,
    vars: Vec<VarChoice>,
    segments: Vec<super::builder::SegmentChoice>,
    content: ContentInput,
) -> impl IntoView {
    let name = RwSignal::new(content.name.clone());
    let fields: Vec<(&'static str, &'static str, RwSignal<String>)> = FIELDS
        .iter()
        .map(|(key, label)| (*key, *label, RwSignal::new(content.field(key).to_string())))
        .collect();
    let sources = StoredValue::new(fields.clone());
    let refs: Vec<NodeRef<leptos::html::Textarea>> =
        fields.iter().map(|_| NodeRef::new()).collect();
    let refs = StoredValue::new(refs);
    let focused = RwSignal::new(1usize); // the body
    let known_names = StoredValue::new(
        vars.iter()
            .map(|v| v.name.clone())
            .collect::<std::collections::HashSet<_>>(),
    );
    // Puts `{name}` at the caret of the field last focused.
    let insert = move |var: String| {
        let k = focused.get_untracked();
        let (_, _, signal) = sources.with_value(|f| f[k]);
        let chip = format!("{{{var}}}");
        let el = refs.with_value(|r| r[k].get_untracked());
        let mut text = signal.get_untracked();
        let at = el
            .as_ref()
            .and_then(|e| e.selection_start().ok().flatten())
            .map(|u| byte_at_utf16(&text, u))
            .unwrap_or(text.len());
        text.insert_str(at, &chip);
        signal.set(text.clone());
        if let Some(e) = el {
            e.set_value(&text);
            let caret = text[..at + chip.len()].encode_utf16().count() as u32;
            let _ = e.set_selection_range(caret, caret);
            let _ = e.focus();
        }
    };

    // The preview's user.
    let q = RwSignal::new(String::new());
    let segment = RwSignal::new(String::new());
    let random = RwSignal::new(0u32);
    let samples = Resource::new(
        move || (q.get(), segment.get(), random.get()),
        |(q, segment, random)| preview_samples(q, segment, random > 0),
    );
    let index = RwSignal::new(0usize);
    let variables = Memo::new(move |_| {
        let mut names: Vec<String> = Vec::new();
        sources.with_value(|f| {
            for (_, _, s) in f {
                if let Ok(t) = Template::parse(&s.get()) {
                    for n in t.variables() {
                        if !names.iter().any(|x| x == n) {
                            names.push(n.to_string());
                        }
                    }
                }
            }
        });
        names
    });
    let coverage = Resource::new(
        move || (variables.get(), segment.get()),
        |(names, segment)| template_coverage(names.join("\n"), segment),
    );
    let save = ServerAction::<SaveContent>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(Ok(_))) = save.value().get() {
            navigate("/personalization", Default::default());
        }
    });
    let vars = StoredValue::new(vars);
    let pick = RwSignal::new(String::new());
    view! {
        <header class="page-head">
            <h1>{if id.is_some() { "Edit content" } else { "New content" }}</h1>
        </header>
        <div class="content-editor">
            <ActionForm action=save attr:class="content-form">
                <input type="hidden" name="id" value=id.map(|i| i.to_string()).unwrap_or_default() />
                <label class="field">"Name" <input name="name" required maxlength="100" bind:value=name /></label>
                {fields.iter().enumerate().map(|(k, (key, label, signal))| {
                    let signal = *signal;
                    let node = refs.with_value(|r| r[k]);
                    view! {
                        <div class="field">
                            <label>
                                {*label}
                                <textarea name=*key node_ref=node rows=if *key == "body" { 5 } else { 1 }
                                    bind:value=signal on:focus=move |_| focused.set(k)>{signal.get_untracked()}</textarea>
                            </label>
                            <TemplateChips source=signal />
                        </div>
                    }
                }).collect_view()}
                {move || super::alerts([super::refusal(save.value().get())])}
                <div class="form-actions"><button type="submit" class="primary">"Save content"</button></div>
            </ActionForm>
            <aside class="variables">
                <h2>"Variables"</h2>
                <input type="search" aria-label="Search variables" placeholder="Search variables" bind:value=pick />
                <ul class="variable-list">
                    {move || {
                        let q = pick.get().to_lowercase();
                        vars.with_value(|v| v.iter().filter(|v| v.name.to_lowercase().contains(&q)).cloned().collect::<Vec<_>>())
                            .into_iter()
                            .map(|v| {
                                let name = v.name.clone();
                                view! {
                                    <li>
                                        <button type="button" class="variable" on:click=move |_| insert(name.clone())
                                            aria-label=format!("Insert {}", v.name)>
                                            <span class="var-chip">{v.name.clone()}</span>
                                            <span class="sub">{v.example.clone().unwrap_or_else(|| "—".into())}</span>
                                        </button>
                                        <span class="muted source-label">{v.source.clone()}</span>
                                    </li>
                                }
                            })
                            .collect_view()
                    }}
                </ul>
            </aside>
            <section class="content-preview" aria-label="Preview">
                <h2>"Preview"</h2>
                <div class="preview-who">
                    <input type="search" aria-label="Preview as" placeholder="Name, email or user id" bind:value=q on:input=move |_| { index.set(0); random.set(0); } />
                    <select aria-label="Segment" on:change=move |ev| { segment.set(event_target_value(&ev)); index.set(0); }>
                        <option value="">"All users"</option>
                        {segments.into_iter().map(|s| view! { <option value=s.id.to_string()>{s.name}</option> }).collect_view()}
                    </select>
                    <button type="button" on:click=move |_| { random.update(|r| *r += 1); index.set(0); }>"Random member"</button>
                </div>
                <Suspense fallback=|| view! { <p class="muted">"Loading users…"</p> }>
                    {move || Suspend::new(async move {
                        let s = match samples.await {
                            Ok(s) => s,
                            Err(e) => return view! { <p class="form-message" role="alert">{e.to_string()}</p> }.into_any(),
                        };
                        if s.users.is_empty() {
                            return view! { <p class="muted">"No user matches."</p> }.into_any();
                        }
                        let users = StoredValue::new(s.users);
                        let count = users.with_value(Vec::len);
                        let current = move || users.with_value(|u| u[index.get().min(count - 1)].clone());
                        let last = move || index.get() + 1 >= count;
                        view! {
                            <p class="preview-as">
                                <button type="button" class="icon" aria-label="Previous user" disabled=move || index.get() == 0
                                    on:click=move |_| index.update(|i| *i = i.saturating_sub(1))>"‹"</button>
                                " " <strong data-jimer=move || current().jimer_id>{move || current().label}</strong> " "
                                <span class="muted">{move || format!("{} of {}", index.get() + 1, count)}</span> " "
                                <button type="button" class="icon" aria-label="Next user" disabled=last
                                    on:click=move |_| index.update(|i| *i = (*i + 1).min(count - 1))>"›"</button>
                            </p>
                            <Rendered sources user=Signal::derive(move || current().to_user()) known=known_names />
                        }.into_any()
                    })}
                </Suspense>
                <h3>"Who lacks each variable"</h3>
                <Suspense fallback=|| view! { <p class="muted">"Counting…"</p> }>
                    {move || Suspend::new(async move {
                        match coverage.await {
                            Err(e) => view! { <p class="form-message" role="alert">{e.to_string()}</p> }.into_any(),
                            Ok(rows) if rows.is_empty() => view! { <p class="muted">"No variables yet."</p> }.into_any(),
                            Ok(rows) => view! {
                                <table class="coverage">
                                    <thead><tr><th scope="col">"Variable"</th><th scope="col" class="num">"Users lacking it"</th></tr></thead>
                                    <tbody>
                                        {rows.into_iter().map(|c| {
                                            let share = if c.total > 0 { c.lacking as f64 * 100.0 / c.total as f64 } else { 0.0 };
                                            view! {
                                                <tr data-variable=c.name.clone() data-lacking=c.lacking>
                                                    <th scope="row"><span class="var-chip">{c.name.clone()}</span></th>
                                                    <td class="num">{format!("{share:.0}% ({} of {})", super::users::thousands(c.lacking), super::users::thousands(c.total))}</td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            }.into_any(),
                        }
                    })}
                </Suspense>
            </section>
        </div>
    }
}

/// The template's variables as chips, each with its fallback editable in place.
#[component]
fn TemplateChips(source: RwSignal<String>) -> impl IntoView {
    view! {
        <p class="chips-line">
            {move || match Template::parse(&source.get()) {
                Err(e) => view! { <span class="form-message" role="alert">{e.to_string()}</span> }.into_any(),
                Ok(t) => {
                    let mut k = 0;
                    t.parts.into_iter().map(|p| match p {
                        Part::Text(text) => view! { <span class="chips-text">{text}</span> }.into_any(),
                        Part::Var { name, fallback } => {
                            let at = k;
                            k += 1;
                            view! {
                                <span class="var-chip" data-variable=name.clone()>
                                    {name.clone()}
                                    <input class="fallback" aria-label=format!("Fallback of {name}") placeholder="fallback"
                                        prop:value=fallback.clone().unwrap_or_default()
                                        on:change=move |ev| {
                                            if let Some(s) = with_fallback(&source.get_untracked(), at, &event_target_value(&ev)) {
                                                source.set(s);
                                            }
                                        } />
                                </span>
                            }.into_any()
                        }
                    }).collect_view().into_any()
                }
            }}
        </p>
    }
}

/// The content rendered for `user`: lacking variables marked, all as text.
#[component]
fn Rendered(
    sources: StoredValue<Vec<(&'static str, &'static str, RwSignal<String>)>>,
    user: Signal<User>,
    known: StoredValue<std::collections::HashSet<String>>,
) -> impl IntoView {
    let fields = sources.get_value();
    view! {
        <div class="rendered">
            {fields.into_iter().map(|(key, label, signal)| {
                let pieces = move || {
                    let src = signal.get();
                    let u = user.get();
                    Template::parse(&src).map(|t| known.with_value(|k| t.pieces(&u, &|n| k.contains(n))))
                };
                view! {
                    <div class=format!("rendered-{key}") data-field=key>
                        <span class="rendered-label">{label}</span>
                        <p class="rendered-text">
                            {move || match pieces() {
                                Err(_) => view! { <span class="muted">"(fix the template)"</span> }.into_any(),
                                Ok(pieces) => pieces.into_iter().map(|p| match p {
                                    Piece::Text(t) => view! { <span>{t}</span> }.into_any(),
                                    Piece::Value { text, .. } => view! { <span class="value">{text}</span> }.into_any(),
                                    Piece::Lacking { name, fallback, known } => {
                                        let why = if known {
                                            format!("this user has no {name}: {}", if fallback.is_empty() { "nothing shown".to_string() } else { "the fallback is shown".to_string() })
                                        } else {
                                            format!("no user has {name}")
                                        };
                                        let class = if known { "lacking" } else { "lacking unknown" };
                                        view! { <mark class=class title=why.clone() data-variable=name>{if fallback.is_empty() { "\u{a0}".to_string() } else { fallback }}</mark> }.into_any()
                                    }
                                }).collect_view().into_any(),
                            }}
                        </p>
                    </div>
                }
            }).collect_view()}
            <ul class="warnings">
                {move || {
                    let u = user.get();
                    let mut lines = Vec::new();
                    sources.with_value(|f| for (_, _, s) in f {
                        if let Ok(t) = Template::parse(&s.get()) {
                            let r = known.with_value(|k| t.render(&u, &|n| k.contains(n)));
                            for n in r.unknown { let l = format!("Unknown variable {{{n}}}: no user has it"); if !lines.contains(&l) { lines.push(l); } }
                            for n in r.missing { let l = format!("This user lacks {{{n}}}"); if !lines.contains(&l) { lines.push(l); } }
                        }
                    });
                    lines.into_iter().map(|l| view! { <li>{l}</li> }).collect_view()
                }}
            </ul>
        </div>
    }
}
