//! The Users list: search, sort and pages, all in the URL (reload, back and
//! shared links work), rendered whole on the server so it works without the
//! wasm too.

use super::profile::{Shown, Value};
use super::user_actions::{AddTag, DeleteUser, DeleteUserForm, RemovableTag, RetagUser};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

/// One row of the list, ready to show (times made readable on the server, so
/// the page and its hydration agree).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserListRow {
    pub jimer_id: String,
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub last_activity: Option<String>,
    pub last_activity_ago: Option<String>,
    pub sessions: i64,
    pub tags: Vec<String>,
    /// One value per chosen attribute column (None: the user lacks it).
    pub values: Vec<Option<Shown>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserListPage {
    pub rows: Vec<UserListRow>,
    pub next_cursor: Option<String>,
    pub total: i64,
    /// The attribute columns this account shows, and those it could add.
    pub columns: Vec<String>,
    pub addable: Vec<String>,
    /// The name of the segment the list is filtered by.
    pub segment: Option<String>,
}

/// Adds or removes one attribute column of the signed-in account's list.
#[server(prefix = "/_fn", endpoint = "set_columns")]
pub async fn set_columns(add: Option<String>, remove: Option<String>) -> Result<(), ServerFnError> {
    use crate::server::store::accounts::MAX_COLUMNS;
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let mut columns = state.store.user_columns(account.id).await?;
    if let Some(name) = add.filter(|a| !a.is_empty()) {
        let known = state.store.definitions(account.workspace_id).await?;
        if !known.iter().any(|d| d.name == name) {
            return Err(ServerFnError::new(format!(
                "no attribute is named {name:?}; pick one from the list"
            )));
        }
        if !columns.contains(&name) {
            if columns.len() >= MAX_COLUMNS {
                return Err(ServerFnError::new(format!(
                    "the list shows at most {MAX_COLUMNS} attribute columns; remove one first"
                )));
            }
            columns.push(name);
        }
    }
    if let Some(name) = remove {
        columns.retain(|c| *c != name);
    }
    state.store.set_user_columns(account.id, &columns).await?;
    Ok(())
}

#[server(prefix = "/_fn", endpoint = "list_users")]
pub async fn list_users(
    q: Option<String>,
    has: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
    segment: Option<String>,
    filter: Option<String>,
) -> Result<UserListPage, ServerFnError> {
    use crate::model::time::ago;
    use crate::server::store::list::{Cursor, ListQuery, Sort, SORT_KEYS};
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let sort = match sort.as_deref().filter(|s| !s.is_empty()) {
        None => Sort::default(),
        Some(s) => Sort::parse(s).ok_or_else(|| {
            ServerFnError::new(format!(
                "cannot sort by {s:?}; use one of {}",
                SORT_KEYS.join(", ")
            ))
        })?,
    };
    let cursor = match cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(Cursor::decode(c, &sort).ok_or_else(|| {
            ServerFnError::new("this page link is out of date; start from the first page")
        })?),
    };
    let search = q.filter(|q| !q.trim().is_empty());
    if search
        .as_ref()
        .is_some_and(|q| q.chars().count() > 200 || q.chars().any(char::is_control))
    {
        return Err(ServerFnError::new("search for at most 200 characters"));
    }
    let columns = state.store.user_columns(account.id).await?;
    let condition = crate::server::dashboard::view_condition(
        &state,
        account.workspace_id,
        segment.as_deref(),
        filter.as_deref(),
    )
    .await
    .map_err(ServerFnError::new)?;
    let segment = match segment.as_deref().and_then(|s| s.parse::<i64>().ok()) {
        Some(id) => state
            .store
            .segment(account.workspace_id, id)
            .await?
            .map(|s| s.name),
        None => None,
    };
    let query = ListQuery {
        search,
        has: has.filter(|h| !h.is_empty()),
        sort,
        limit: 50,
        cursor,
        skip_total: false,
        attributes: Some(columns.clone()),
        condition,
    };
    let page = state.store.list_users(account.workspace_id, &query).await?;
    let addable = state
        .store
        .definitions(account.workspace_id)
        .await?
        .into_iter()
        .map(|d| d.name)
        .filter(|n| !columns.contains(n))
        .collect();
    let now = chrono::Utc::now().timestamp_millis();
    let rows = page
        .users
        .into_iter()
        .map(|u| UserListRow {
            last_activity: u
                .last_activity
                .map(|t| crate::model::attribute::format_date(&t)),
            last_activity_ago: u.last_activity.map(|t| ago(t.timestamp_millis(), now)),
            jimer_id: u.jimer_id,
            user_id: u.user_id,
            name: u.name,
            email: u.email,
            values: columns
                .iter()
                .map(|c| {
                    u.attributes
                        .iter()
                        .find(|a| a.name == *c)
                        .map(|a| Shown::of(&a.value))
                })
                .collect(),
            sessions: u.sessions,
            tags: u.tags,
        })
        .collect();
    Ok(UserListPage {
        rows,
        next_cursor: page.next_cursor,
        total: page.total,
        columns,
        addable,
        segment,
    })
}

/// Columns that sort, with the `sort` key each uses.
const SORTABLE: &[(&str, &str)] = &[
    ("Name / ID", "name"),
    ("Email", "email"),
    ("Last activity", "last_activity"),
    ("Sessions", "sessions"),
];

/// Percent-encodes a URL query value or path segment.
pub(super) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What a Users view is: its URL parameters.
#[derive(Clone, Debug, Default, PartialEq)]
struct ViewParams {
    q: String,
    has: String,
    segment: String,
    filter: String,
    sort: String,
}

impl ViewParams {
    fn href(&self, cursor: Option<&str>) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("q", &self.q),
            ("has", &self.has),
            ("segment", &self.segment),
            ("filter", &self.filter),
            ("sort", &self.sort),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", encode(v)));
            }
        }
        if let Some(c) = cursor {
            parts.push(format!("cursor={}", encode(c)));
        }
        if parts.is_empty() {
            "/users".into()
        } else {
            format!("/users?{}", parts.join("&"))
        }
    }

    fn sorted(&self, sort: &str) -> ViewParams {
        ViewParams {
            sort: sort.to_string(),
            ..self.clone()
        }
    }

    /// The same view without its attribute, segment and condition filters.
    fn unfiltered(&self) -> ViewParams {
        ViewParams {
            q: self.q.clone(),
            sort: self.sort.clone(),
            ..Default::default()
        }
    }
}

/// The arrow, `aria-sort` and next `sort` of a column's header: a click
/// sorts descending first, then flips.
fn sort_state(current: &str, key: &str) -> (&'static str, &'static str, String) {
    if current == key {
        (" ↑", "ascending", format!("-{key}"))
    } else if current == format!("-{key}") || (current.is_empty() && key == "last_activity") {
        (" ↓", "descending", key.to_string())
    } else {
        ("", "none", format!("-{key}"))
    }
}

/// The CSV export of the view (every page of it, not only the one shown).
fn export_href(v: &ViewParams) -> String {
    v.href(None).replacen("/users", "/users/export.csv", 1)
}

/// `1,000,000`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// The short form of a jimer id shown for anonymous visitors.
fn short_jimer(j: &str) -> String {
    j.chars().take(9).collect()
}

#[component]
fn Row(
    row: UserListRow,
    retag: ServerAction<RetagUser>,
    delete: ServerAction<DeleteUser>,
) -> impl IntoView {
    let who = match (&row.name, &row.user_id) {
        (Some(name), _) => name.clone(),
        (None, Some(id)) => id.clone(),
        (None, None) => "Anonymous".into(),
    };
    let sub = match &row.user_id {
        Some(id) => id.clone(),
        None => short_jimer(&row.jimer_id),
    };
    let jimer = row.jimer_id.clone();
    view! {
        <tr data-jimer=row.jimer_id.clone()>
            <td>
                <a class="who" href=format!("/users/{}", row.jimer_id)>{who.clone()}</a>
                <span class="sub">{sub}</span>
            </td>
            <td>{row.email.clone().unwrap_or_default()}</td>
            <td>
                {match (row.last_activity_ago.clone(), row.last_activity.clone()) {
                    (Some(ago), Some(exact)) => view! { <time datetime=exact.clone() title=exact>{ago}</time> }.into_any(),
                    _ => view! { <span class="muted">"Never seen"</span> }.into_any(),
                }}
            </td>
            <td class="num">{row.sessions}</td>
            <td class="tags">
                {row.tags.iter().map(|t| view! { <RemovableTag jimer_id=jimer.clone() tag=t.clone() action=retag /> }).collect_view()}
            </td>
            {row.values.into_iter().map(|v| view! {
                <td>{match v {
                    Some(v) => view! { <Value value=v /> }.into_any(),
                    None => view! { <span class="muted">"—"</span> }.into_any(),
                }}</td>
            }).collect_view()}
            <td class="row-actions">
                <details>
                    <summary aria-label=format!("Actions for {who}")>"⋯"</summary>
                    <div class="menu">
                        <AddTag jimer_id=jimer.clone() who=who.clone() action=retag />
                        <DeleteUserForm jimer_id=jimer who=who back=None action=delete />
                    </div>
                </details>
            </td>
        </tr>
    }
}

/// "Columns": add an attribute column, from the workspace's keys.
#[component]
fn AddColumn(addable: Vec<String>, action: ServerAction<SetColumns>) -> impl IntoView {
    view! {
        <details class="columns-menu">
            <summary>"Columns"</summary>
            <div class="menu">
                <ActionForm action>
                    <label>
                        "Add the column"
                        <select name="add" required>
                            <option value="">"Choose an attribute"</option>
                            {addable.into_iter().map(|a| view! { <option value=a.clone()>{a.clone()}</option> }).collect_view()}
                        </select>
                    </label>
                    <button type="submit">"Add column"</button>
                </ActionForm>
            </div>
        </details>
    }
}

/// The ad-hoc filter: the condition builder over the list, applied by link.
#[component]
fn FilterPanel(view_params: ViewParams) -> impl IntoView {
    use super::builder::{builder_choices, Builder, GroupDraft};
    let choices = Resource::new(|| (), |_| builder_choices());
    let initial: serde_json::Value = serde_json::from_str(&view_params.filter)
        .unwrap_or_else(|_| serde_json::json!({"all": []}));
    let open = !view_params.filter.is_empty();
    view! {
        <details class="filter-panel" open=open>
            <summary>"Filter by conditions"</summary>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || {
                    let initial = initial.clone();
                    let view_params = view_params.clone();
                    Suspend::new(async move {
                        match choices.await {
                            Err(e) => view! { <p class="form-message" role="alert">{e.to_string()}</p> }.into_any(),
                            Ok(c) => {
                                let root = GroupDraft::from_json(&initial);
                                let for_json = c.clone();
                                let json = Memo::new(move |_| root.to_json(&for_json));
                                let apply = move || {
                                    ViewParams {
                                        filter: json.get().0.to_string(),
                                        segment: String::new(),
                                        ..view_params.clone()
                                    }
                                    .href(None)
                                };
                                view! {
                                    <Builder root choices=c json />
                                    <div class="form-actions">
                                        <a class="button primary" href=apply>"Apply filter"</a>
                                        <a class="button" href=move || format!("/segments/new?filter={}", encode(&json.get().0.to_string()))>"Save as segment"</a>
                                    </div>
                                }.into_any()
                            }
                        }
                    })
                }}
            </Suspense>
        </details>
    }
}

#[component]
pub fn Users() -> impl IntoView {
    let query = use_query_map();
    let param = move |k: &str| query.read().get(k).unwrap_or_default();
    let view_params = move || ViewParams {
        q: param("q"),
        has: param("has"),
        segment: param("segment"),
        filter: param("filter"),
        sort: param("sort"),
    };
    let retag = ServerAction::<RetagUser>::new();
    let delete = ServerAction::<DeleteUser>::new();
    let columns = ServerAction::<SetColumns>::new();
    let page = Resource::new(
        move || {
            (
                view_params(),
                param("cursor"),
                (
                    retag.version().get(),
                    delete.version().get(),
                    columns.version().get(),
                ),
            )
        },
        |(v, cursor, _)| {
            list_users(
                Some(v.q),
                Some(v.has),
                Some(v.sort),
                Some(cursor),
                Some(v.segment),
                Some(v.filter),
            )
        },
    );
    let errors = move || {
        super::alerts([
            retag.value().get().and_then(|r| r.err()),
            delete.value().get().and_then(|r| r.err()),
            columns.value().get().and_then(|r| r.err()),
        ])
    };
    view! {
        <Title text="Users" />
        <header class="page-head">
            <h1>"Users"</h1>
            <form class="search" method="get" action="/users" role="search">
                <label class="visually-hidden" for="user-search">"Search users"</label>
                <input id="user-search" type="search" name="q" value=move || param("q")
                    placeholder="Search name, email, user id or jimer id" />
                {["sort", "has", "segment", "filter"].into_iter().map(|k| view! {
                    <input type="hidden" name=k value=move || param(k) disabled=move || param(k).is_empty() />
                }).collect_view()}
                <button type="submit">"Search"</button>
            </form>
            <a class="button" download="" href=move || export_href(&view_params())>"Export CSV"</a>
        </header>
        {move || view! { <FilterPanel view_params=view_params() /> }}
        {errors}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                let v = view_params();
                match page.await {
                    Err(e) => view! { <p class="form-message" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(p) => {
                        let next = p.next_cursor.clone().map(|c| v.href(Some(&c)));
                        let first = (!param("cursor").is_empty()).then(|| v.href(None));
                        let count = if p.total == 1 { "1 user".to_string() } else { format!("{} users", thousands(p.total)) };
                        let all = v.unfiltered().href(None);
                        let filtered = match (&p.segment, v.has.is_empty(), v.filter.is_empty()) {
                            (Some(name), _, _) => Some(view! { " in the segment " <strong>{name.clone()}</strong> }.into_any()),
                            (None, false, _) => Some(view! { " with the attribute " <code>{v.has.clone()}</code> }.into_any()),
                            (None, true, false) => Some(view! { " matching the filter" }.into_any()),
                            _ => None,
                        };
                        view! {
                            <p class="total" data-total=p.total>
                                {count}
                                {filtered.map(|f| view! { {f} " " <a href=all.clone()>"Show all users"</a> })}
                            </p>
                            <table class="users">
                                <thead>
                                    <tr>
                                        {SORTABLE.iter().map(|(label, key)| {
                                            let (arrow, aria, to) = sort_state(&v.sort, key);
                                            view! {
                                                <th scope="col" aria-sort=aria>
                                                    <a href=v.sorted(&to).href(None)>{*label}{arrow}</a>
                                                </th>
                                            }
                                        }).collect_view()}
                                        <th scope="col">"Tags"</th>
                                        {p.columns.clone().into_iter().map(|c| {
                                            let (arrow, aria, to) = sort_state(&v.sort, &format!("attr:{c}"));
                                            view! {
                                            <th scope="col" class="attr-col" aria-sort=aria>
                                                <a href=v.sorted(&to).href(None)><code>{c.clone()}</code>{arrow}</a>
                                                <ActionForm action=columns>
                                                    <input type="hidden" name="remove" value=c.clone() />
                                                    <button type="submit" class="chip-remove" aria-label=format!("Remove the column {c}")>"×"</button>
                                                </ActionForm>
                                            </th>
                                        }}).collect_view()}
                                        <th scope="col"><AddColumn addable=p.addable.clone() action=columns /></th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {p.rows.into_iter().map(|row| view! { <Row row retag delete /> }).collect_view()}
                                </tbody>
                            </table>
                            <nav class="pager" aria-label="Pages">
                                {first.map(|h| view! { <a href=h>"First page"</a> })}
                                {next.map(|h| view! { <a href=h rel="next">"Next page"</a> })}
                            </nav>
                        }
                        .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_grouped() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
        assert_eq!(super::thousands(1_000_000), "1,000,000");
        assert_eq!(super::thousands(-12345), "-12,345");
    }
}
