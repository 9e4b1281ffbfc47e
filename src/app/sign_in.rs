//! The sign-in and first-run setup pages: plain forms posted to the server
//! (`/sign-in`, `/setup`), so they work with or without the wasm.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// What the server's redirect says went wrong, in words.
fn message(code: &str) -> String {
    match code {
        "invalid" => "That email and password do not match an account.".into(),
        "throttled" => "Too many attempts. Wait a minute and try again.".into(),
        "unavailable" => "The server could not check that right now. Try again.".into(),
        "signed_out" => "You are signed out.".into(),
        "setup_done" => "The first account exists already: sign in with it.".into(),
        "invite_gone" => {
            "This invitation link has expired, was revoked or was used already. Ask for a new one."
                .into()
        }
        "invite_used" => "Your account exists already: sign in with it.".into(),
        other => other.to_string(),
    }
}

#[component]
fn Notice() -> impl IntoView {
    let query = use_query_map();
    let error = move || query.read().get("error").map(|e| message(&e));
    view! {
        {move || {
            error()
                .map(|m| {
                    view! {
                        <p class="form-message" role="alert">
                            {m}
                        </p>
                    }
                })
        }}
    }
}

#[component]
pub fn SignIn() -> impl IntoView {
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_else(|| "/users".into());
    view! {
        <Title text="Sign in" />
        <main class="auth">
            <form class="auth-card" method="post" action="/sign-in">
                <h1>
                    <img src="/logo.svg" alt="" width="24" height="24" />
                    " Sign in to userdeck"
                </h1>
                <Notice />
                <input type="hidden" name="next" value=next />
                <label>
                    "Email" <input type="email" name="email" autocomplete="username" required />
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" required />
                </label>
                <button type="submit">"Sign in"</button>
            </form>
        </main>
    }
}

/// The password box of the forms that create an account.
#[component]
fn NewPassword() -> impl IntoView {
    view! {
        <label>
            "Password (10 characters or more)"
            <input type="password" name="password" autocomplete="new-password" minlength="10" required />
        </label>
    }
}

#[component]
pub fn Setup() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    view! {
        <Title text="Set up" />
        <main class="auth">
            <form class="auth-card" method="post" action="/setup">
                <h1>
                    <img src="/logo.svg" alt="" width="24" height="24" />
                    " Welcome to userdeck"
                </h1>
                <p>
                    "Create the first account. The link to this page is printed in the server's log when no account exists."
                </p>
                <Notice />
                <input type="hidden" name="token" value=token />
                <label>
                    "Email" <input type="email" name="email" autocomplete="username" required />
                </label>
                <NewPassword />
                <button type="submit">"Create account"</button>
            </form>
        </main>
    }
}

/// An invitation link from Settings: the invited person chooses a password.
#[component]
pub fn AcceptInvite() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    view! {
        <Title text="Join" />
        <main class="auth">
            <form class="auth-card" method="post" action="/invite">
                <h1>
                    <img src="/logo.svg" alt="" width="24" height="24" />
                    " Join userdeck"
                </h1>
                <p>"You were invited. Choose a password to create your account; your email is the one the invitation was made for."</p>
                <Notice />
                <input type="hidden" name="token" value=token />
                <NewPassword />
                <button type="submit">"Create account"</button>
            </form>
        </main>
    }
}
