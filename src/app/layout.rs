use leptos::prelude::*;
use leptos_router::components::{Outlet, A};

/// The navigation every page shares.
pub const NAV: &[(&str, &str)] = &[
    ("/users", "Users"),
    ("/segments", "Segments"),
    ("/attributes", "Attributes"),
    ("/personalization", "Personalization"),
    ("/imports", "Imports"),
    ("/settings", "Settings"),
];

/// Who is signed in, and to which workspace.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Me {
    pub workspace: String,
    pub email: String,
}

#[server(prefix = "/_fn", endpoint = "load_me")]
pub async fn load_me() -> Result<Me, ServerFnError> {
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let ws = crate::server::dashboard::workspace_of(&state, &account).await?;
    Ok(Me {
        workspace: ws.name,
        email: account.email,
    })
}

#[component]
pub fn Layout() -> impl IntoView {
    let me = Resource::new(|| (), |_| load_me());
    view! {
        <div class="frame">
            <nav class="sidebar" aria-label="Main">
                <a class="brand" href="/users">
                    <img src="/logo.svg" alt="" width="22" height="22" />
                    <span>"userdeck"</span>
                </a>
                <ul>
                    {NAV
                        .iter()
                        .map(|(href, label)| {
                            view! {
                                <li>
                                    <A href=*href>{*label}</A>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
                <Suspense>
                    {move || Suspend::new(async move {
                        me.await.ok().map(|m| view! {
                            <p class="who-am-i">
                                <span class="workspace" title="Workspace">{m.workspace}</span>
                                <span class="account" title="Signed in as">{m.email}</span>
                            </p>
                        })
                    })}
                </Suspense>
                <form class="sign-out" method="post" action="/sign-out">
                    <button type="submit">"Sign out"</button>
                </form>
            </nav>
            <main class="content">
                <Outlet />
            </main>
        </div>
    }
}
