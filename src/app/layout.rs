use leptos::prelude::*;
use leptos_router::components::{Outlet, A};

/// The navigation every page shares.
pub const NAV: &[(&str, &str)] = &[
    ("/users", "Users"),
    ("/segments", "Segments"),
    ("/attributes", "Attributes"),
    ("/personalization", "Personalization"),
    ("/settings", "Settings"),
];

#[component]
pub fn Layout() -> impl IntoView {
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
