//! The Users list: search, sort and pages, all in the URL (reload, back and
//! shared links work), rendered whole on the server so it works without the
//! wasm too.

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
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserListPage {
    pub rows: Vec<UserListRow>,
    pub next_cursor: Option<String>,
    pub total: i64,
}

#[server(prefix = "/_fn", endpoint = "list_users")]
pub async fn list_users(
    q: Option<String>,
    has: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
) -> Result<UserListPage, ServerFnError> {
    use crate::model::time::ago;
    use crate::server::store::users::{Cursor, ListQuery, Sort, SORT_KEYS};
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
        Some(c) => Some(Cursor::decode(c, sort).ok_or_else(|| {
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
    let query = ListQuery {
        search,
        has: has.filter(|h| !h.is_empty()),
        sort,
        limit: 50,
        cursor,
        skip_total: false,
    };
    let page = state.store.list_users(account.workspace_id, &query).await?;
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
            sessions: u.sessions,
            tags: u.tags,
        })
        .collect();
    Ok(UserListPage {
        rows,
        next_cursor: page.next_cursor,
        total: page.total,
    })
}

/// Columns that sort, with the `sort` key each uses.
const SORTABLE: &[(&str, &str)] = &[
    ("Name / ID", "name"),
    ("Email", "email"),
    ("Last activity", "last_activity"),
    ("Sessions", "sessions"),
];

fn encode(s: &str) -> String {
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

fn href(q: &str, has: &str, sort: &str, cursor: Option<&str>) -> String {
    let mut parts = Vec::new();
    if !q.is_empty() {
        parts.push(format!("q={}", encode(q)));
    }
    if !has.is_empty() {
        parts.push(format!("has={}", encode(has)));
    }
    if !sort.is_empty() {
        parts.push(format!("sort={}", encode(sort)));
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

/// `1,000,000`.
fn thousands(n: i64) -> String {
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
fn Row(row: UserListRow) -> impl IntoView {
    let who = match (&row.name, &row.user_id) {
        (Some(name), _) => name.clone(),
        (None, Some(id)) => id.clone(),
        (None, None) => "Anonymous".into(),
    };
    let sub = match &row.user_id {
        Some(id) => id.clone(),
        None => short_jimer(&row.jimer_id),
    };
    view! {
        <tr>
            <td>
                <a class="who" href=format!("/users/{}", row.jimer_id)>{who}</a>
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
            <td>
                {row.tags.iter().map(|t| view! { <span class="chip">{t.clone()}</span> }).collect_view()}
            </td>
        </tr>
    }
}

#[component]
pub fn Users() -> impl IntoView {
    let query = use_query_map();
    let param = move |k: &str| query.read().get(k).unwrap_or_default();
    let page = Resource::new(
        move || (param("q"), param("has"), param("sort"), param("cursor")),
        |(q, has, sort, cursor)| list_users(Some(q), Some(has), Some(sort), Some(cursor)),
    );
    view! {
        <Title text="Users" />
        <header class="page-head">
            <h1>"Users"</h1>
            <form class="search" method="get" action="/users" role="search">
                <label class="visually-hidden" for="user-search">"Search users"</label>
                <input id="user-search" type="search" name="q" value=move || param("q")
                    placeholder="Search name, email, user id or jimer id" />
                <input type="hidden" name="sort" value=move || param("sort") />
                <input type="hidden" name="has" value=move || param("has") />
                <button type="submit">"Search"</button>
            </form>
        </header>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                let (q, has, sort) = (param("q"), param("has"), param("sort"));
                match page.await {
                    Err(e) => view! { <p class="form-message" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(p) => {
                        let next = p.next_cursor.clone().map(|c| href(&q, &has, &sort, Some(&c)));
                        let first = (!param("cursor").is_empty()).then(|| href(&q, &has, &sort, None));
                        let count = if p.total == 1 { "1 user".to_string() } else { format!("{} users", thousands(p.total)) };
                        view! {
                            <p class="total" data-total=p.total>
                                {count}
                                {(!has.is_empty()).then(|| view! {
                                    " with the attribute " <code>{has.clone()}</code> " "
                                    <a href=href(&q, "", &sort, None)>"Show all users"</a>
                                })}
                            </p>
                            <table class="users">
                                <thead>
                                    <tr>
                                        {SORTABLE.iter().map(|(label, key)| {
                                            let (arrow, aria, to) = if sort == *key {
                                                (" ↑", "ascending", format!("-{key}"))
                                            } else if sort == format!("-{key}") || (sort.is_empty() && *key == "last_activity") {
                                                (" ↓", "descending", key.to_string())
                                            } else {
                                                ("", "none", format!("-{key}"))
                                            };
                                            view! {
                                                <th scope="col" aria-sort=aria>
                                                    <a href=href(&q, &has, &to, None)>{*label}{arrow}</a>
                                                </th>
                                            }
                                        }).collect_view()}
                                        <th scope="col">"Tags"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {p.rows.into_iter().map(|row| view! { <Row row /> }).collect_view()}
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
