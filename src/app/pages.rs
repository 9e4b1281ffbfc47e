//! Pages. Until a page's issue lands it says so plainly, with what works today.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
fn Coming(title: &'static str, what: &'static str) -> impl IntoView {
    view! {
        <Title text=title />
        <header class="page-head">
            <h1>{title}</h1>
        </header>
        <section class="notice" role="status">
            <p>
                <strong>"Coming soon. "</strong>
                {what}
            </p>
            <p>
                "Profiles are collected already: send them with the JavaScript SDK ("
                <code>"/sdk.js"</code> ") or the REST API (" <code>"/api/v1"</code>
                "), and read them back with " <code>"GET /api/v1/users"</code> "."
            </p>
        </section>
    }
}

#[component]
pub fn Personalization() -> impl IntoView {
    view! { <Coming title="Personalization" what="Content with dynamic variables and a per-user preview." /> }
}

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(axum::http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <Title text="Not found" />
        <header class="page-head">
            <h1>"Page not found"</h1>
        </header>
        <p>"There is nothing at this address. " <a href="/users">"Go to Users"</a></p>
    }
}
