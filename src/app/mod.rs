//! The dashboard: the HTML shell, the layout and its pages.

mod attributes;
mod builder;
mod chart;
mod imports;
mod integrations;
mod layout;
mod pages;
mod personalization;
mod profile;
mod segments;
mod settings;
mod sign_in;
mod syncs;
mod user_actions;
mod users;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{ParentRoute, Redirect, Route, Router, Routes},
    path, SsrMode,
};

/// The errors of the last runs of a page's actions, as alerts.
fn alerts(errors: impl IntoIterator<Item = Option<ServerFnError>>) -> impl IntoView {
    errors
        .into_iter()
        .flatten()
        .map(|e| view! { <p class="form-message" role="alert">{e.to_string()}</p> })
        .collect_view()
}

/// The answer of an action that can refuse: a refusal (bad input, a name
/// taken) is a value shown beside the form, not a failed request.
pub type Refusable<T> = Result<Result<T, String>, ServerFnError>;

/// A refusal or a failure of the last run, as an error to show.
fn refusal<T>(answer: Option<Refusable<T>>) -> Option<ServerFnError> {
    match answer? {
        Ok(Ok(_)) => None,
        Ok(Err(refused)) => Some(ServerFnError::new(refused)),
        Err(e) => Some(e),
    }
}

/// The whole HTML document the server sends.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Marks the page once the wasm has taken over, for tests and debugging.
    #[cfg(feature = "hydrate")]
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Stylesheet id="userdeck-css" href="/userdeck.css" />
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg" />
        <Title formatter=|page: String| format!("{page} · userdeck") />
        <Router>
            <Routes fallback=pages::NotFound>
                <Route path=path!("/sign-in") view=sign_in::SignIn />
                <Route path=path!("/setup") view=sign_in::Setup />
                <Route path=path!("/invite") view=sign_in::AcceptInvite />
                <ParentRoute path=path!("") view=layout::Layout>
                    <Route path=path!("") view=|| view! { <Redirect path="/users" /> } />
                    <Route path=path!("users") view=users::Users ssr=SsrMode::Async />
                    <Route path=path!("users/:jimer") view=profile::Profile ssr=SsrMode::Async />
                    <Route path=path!("segments") view=segments::Segments ssr=SsrMode::Async />
                    <Route path=path!("segments/new") view=segments::SegmentEditor ssr=SsrMode::Async />
                    <Route path=path!("segments/:id") view=segments::SegmentEditor ssr=SsrMode::Async />
                    <Route path=path!("attributes") view=attributes::Attributes ssr=SsrMode::Async />
                    <Route path=path!("attributes/:name") view=attributes::AttributePage ssr=SsrMode::Async />
                    <Route path=path!("personalization") view=personalization::Personalization ssr=SsrMode::Async />
                    <Route path=path!("personalization/new") view=personalization::ContentEditor ssr=SsrMode::Async />
                    <Route path=path!("personalization/:id") view=personalization::ContentEditor ssr=SsrMode::Async />
                    // Data pages render whole on the server, so they work without the wasm.
                    <Route path=path!("imports") view=imports::Imports ssr=SsrMode::Async />
                    <Route path=path!("imports/new") view=imports::NewImport ssr=SsrMode::Async />
                    <Route path=path!("imports/:id") view=imports::ImportPage ssr=SsrMode::Async />
                    <Route path=path!("settings") view=settings::Settings ssr=SsrMode::Async />
                </ParentRoute>
            </Routes>
        </Router>
    }
}
