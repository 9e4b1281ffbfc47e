//! Pages of their own: the not-found page.

use leptos::prelude::*;
use leptos_meta::Title;

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
