//! Settings: the workspace's keys (copy, rotate), the install snippet,
//! identify verification and the dashboard accounts.

use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettingsData {
    pub workspace: String,
    pub sdk_key: String,
    pub secret_key: String,
    pub identify_secret: String,
    pub identify_verification: bool,
    pub accounts: Vec<String>,
    pub account: String,
    pub base_url: String,
    pub invites: Vec<PendingInvite>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingInvite {
    pub email: String,
    pub invited_by: String,
    pub link: String,
    pub expires: String,
}

#[server(prefix = "/_fn", endpoint = "load_settings")]
pub async fn load_settings() -> Result<SettingsData, ServerFnError> {
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let ws = crate::server::dashboard::workspace_of(&state, &account).await?;
    let base = crate::server::dashboard::base_url().await;
    Ok(SettingsData {
        workspace: ws.name,
        sdk_key: ws.sdk_key,
        secret_key: ws.secret_key,
        identify_secret: ws.identify_secret,
        identify_verification: ws.identify_verification,
        accounts: state.store.account_emails(account.workspace_id).await?,
        account: account.email,
        invites: state
            .store
            .invites(account.workspace_id)
            .await?
            .into_iter()
            .map(|i| PendingInvite {
                link: format!("{base}/invite?token={}", i.token),
                expires: crate::model::time::display_date(
                    &chrono::DateTime::from_timestamp_millis(i.expires_at).unwrap_or_default(),
                ),
                email: i.email,
                invited_by: i.invited_by,
            })
            .collect(),
        base_url: base,
    })
}

/// Invites a colleague: their link appears under "Accounts" to send them.
#[server(prefix = "/_fn", endpoint = "invite")]
pub async fn invite(email: String) -> Result<(), ServerFnError> {
    use crate::server::store::accounts::AccountError;
    let (state, account) = crate::server::dashboard::signed_in().await?;
    match state
        .store
        .create_invite(account.workspace_id, &email, &account.email)
        .await
    {
        Ok(_) => Ok(()),
        Err(AccountError::Exists) => Err(ServerFnError::new(format!(
            "{} has an account already",
            email.trim()
        ))),
        Err(e) => Err(ServerFnError::new(e.to_string())),
    }
}

#[server(prefix = "/_fn", endpoint = "revoke_invite")]
pub async fn revoke_invite(email: String) -> Result<(), ServerFnError> {
    let (state, account) = crate::server::dashboard::signed_in().await?;
    state
        .store
        .revoke_invite(account.workspace_id, &email)
        .await?;
    Ok(())
}

/// Removes a colleague's account; nobody can remove their own.
#[server(prefix = "/_fn", endpoint = "remove_account")]
pub async fn remove_account(email: String, confirm: Option<String>) -> Result<(), ServerFnError> {
    let (state, account) = crate::server::dashboard::signed_in().await?;
    if confirm.as_deref() != Some("yes") {
        return Err(ServerFnError::new("tick the box to confirm the removal"));
    }
    if email.trim().eq_ignore_ascii_case(&account.email) {
        return Err(ServerFnError::new(
            "you cannot remove your own account; ask a colleague",
        ));
    }
    if !state
        .store
        .remove_account(account.workspace_id, &email)
        .await?
    {
        return Err(ServerFnError::new(format!(
            "no account is {}",
            email.trim()
        )));
    }
    Ok(())
}

/// Replaces a key. `confirm` is the "I understand" box of the form.
#[server(prefix = "/_fn", endpoint = "rotate_key")]
pub async fn rotate_key(key: String, confirm: Option<String>) -> Result<(), ServerFnError> {
    use crate::server::store::workspace::KeyName;
    let (state, account) = crate::server::dashboard::signed_in().await?;
    if confirm.as_deref() != Some("yes") {
        return Err(ServerFnError::new("tick the box to confirm the rotation"));
    }
    let key = match key.as_str() {
        "sdk_key" => KeyName::Sdk,
        "secret_key" => KeyName::Secret,
        "identify_secret" => KeyName::IdentifySecret,
        _ => return Err(ServerFnError::new("no such key")),
    };
    state.store.rotate_key(account.workspace_id, key).await?;
    state.keys.clear();
    Ok(())
}

#[server(prefix = "/_fn", endpoint = "set_verification")]
pub async fn set_verification(on: String) -> Result<(), ServerFnError> {
    let (state, account) = crate::server::dashboard::signed_in().await?;
    state
        .store
        .set_identify_verification(account.workspace_id, on == "true")
        .await?;
    state.keys.clear();
    Ok(())
}

/// Copies `text` to the clipboard (a no-op before the wasm has loaded).
fn copy(text: String) {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().navigator().clipboard().write_text(&text);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = text;
}

#[component]
fn KeyRow(
    label: &'static str,
    name: &'static str,
    value: String,
    help: &'static str,
    rotate: ServerAction<RotateKey>,
) -> impl IntoView {
    let copied = RwSignal::new(false);
    let to_copy = value.clone();
    view! {
        <div class="key-row">
            <dt>{label}</dt>
            <dd>
                <div class="key-value">
                    <code data-key=name>{value}</code>
                    <button
                        type="button"
                        aria-label=format!("Copy the {label}")
                        on:click=move |_| {
                            copy(to_copy.clone());
                            copied.set(true);
                        }
                    >
                        {move || if copied.get() { "Copied" } else { "Copy" }}
                    </button>
                </div>
                <p class="help">{help}</p>
                <ActionForm action=rotate attr:class="rotate">
                    <input type="hidden" name="key" value=name />
                    <label>
                        <input type="checkbox" name="confirm" value="yes" required />
                        " I understand that whatever uses the current one stops working"
                    </label>
                    <button type="submit">{format!("Rotate the {label}")}</button>
                </ActionForm>
            </dd>
        </div>
    }
}

fn snippet(base_url: &str, sdk_key: &str) -> String {
    format!(
        "<script>\n  window.userdeck = window.userdeck || [];\n  window.USERDECK_KEY = \"{sdk_key}\";\n</script>\n<script async src=\"{base_url}/sdk.js\"></script>"
    )
}

#[component]
pub fn Settings() -> impl IntoView {
    let rotate = ServerAction::<RotateKey>::new();
    let verify = ServerAction::<SetVerification>::new();
    let invite = ServerAction::<Invite>::new();
    let revoke = ServerAction::<RevokeInvite>::new();
    let remove = ServerAction::<RemoveAccount>::new();
    let data = Resource::new(
        move || {
            (
                rotate.version().get(),
                verify.version().get(),
                invite.version().get(),
                revoke.version().get(),
                remove.version().get(),
            )
        },
        |_| load_settings(),
    );
    let rotate_error = move || {
        rotate
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| view! { <p class="form-message" role="alert">{e.to_string()}</p> })
    };
    let account_error = move || {
        super::alerts([
            invite.value().get().and_then(|r| r.err()),
            remove.value().get().and_then(|r| r.err()),
        ])
    };
    view! {
        <Title text="Settings" />
        <header class="page-head">
            <h1>"Settings"</h1>
        </header>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <p class="form-message" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(d) => {
                        let code = snippet(&d.base_url, &d.sdk_key);
                        let on = d.identify_verification;
                        view! {
                            <section class="panel" aria-labelledby="keys-h">
                                <h2 id="keys-h">"Keys of " {d.workspace.clone()}</h2>
                                {rotate_error}
                                <dl class="keys">
                                    <KeyRow label="SDK key" name="sdk_key" value=d.sdk_key.clone()
                                        help="Public: goes in your pages' install snippet." rotate />
                                    <KeyRow label="secret key" name="secret_key" value=d.secret_key.clone()
                                        help="Private: for the REST API from your servers. Never put it in a page." rotate />
                                    <KeyRow label="identify secret" name="identify_secret" value=d.identify_secret.clone()
                                        help="Private: your server signs user ids with it (HMAC-SHA256) when identify verification is on." rotate />
                                </dl>
                            </section>
                            <section class="panel" aria-labelledby="snippet-h">
                                <h2 id="snippet-h">"Install snippet"</h2>
                                <p class="help">"Put this in every page of your app, before the closing </head> tag."</p>
                                <pre><code data-snippet="">{code}</code></pre>
                            </section>
                            <section class="panel" aria-labelledby="verify-h">
                                <h2 id="verify-h">"Identify verification"</h2>
                                <p data-verification=if on { "on" } else { "off" }>
                                    {if on {
                                        "On: SDK identify calls must carry userHash = hex(HMAC-SHA256(identify secret, user id))."
                                    } else {
                                        "Off: any visitor can claim any user id from a browser."
                                    }}
                                </p>
                                <ActionForm action=verify>
                                    <input type="hidden" name="on" value=if on { "false" } else { "true" } />
                                    <button type="submit">
                                        {if on { "Turn verification off" } else { "Turn verification on" }}
                                    </button>
                                </ActionForm>
                            </section>
                            <section class="panel" aria-labelledby="accounts-h">
                                <h2 id="accounts-h">"Accounts"</h2>
                                {account_error}
                                <ul class="accounts">
                                    {d.accounts.clone().into_iter().map(|email| {
                                        let me = email == d.account;
                                        let (shown, in_form, in_label) = (email.clone(), email.clone(), email.clone());
                                        view! {
                                            <li data-account=email.clone()>
                                                <span>{shown} {me.then_some(" (you)")}</span>
                                                {(!me).then(move || view! {
                                                    <details>
                                                        <summary>"Remove"</summary>
                                                        <ActionForm action=remove>
                                                            <input type="hidden" name="email" value=in_form />
                                                            <label>
                                                                <input type="checkbox" name="confirm" value="yes" required />
                                                                {format!(" Yes, {in_label} can no longer sign in")}
                                                            </label>
                                                            <button type="submit" class="danger">"Remove account"</button>
                                                        </ActionForm>
                                                    </details>
                                                })}
                                            </li>
                                        }
                                    }).collect_view()}
                                </ul>
                                {(!d.invites.is_empty()).then(|| view! {
                                    <h3>"Invitations waiting"</h3>
                                    <ul class="invites">
                                        {d.invites.clone().into_iter().map(|i| {
                                            let link = i.link.clone();
                                            let copied = RwSignal::new(false);
                                            let copy_label = format!("Copy the invitation link for {}", i.email);
                                            let note = format!("invited by {}, until {}", i.invited_by, i.expires);
                                            let revoke_email = i.email.clone();
                                            view! {
                                                <li data-invite=i.email.clone()>
                                                    <span>{i.email.clone()}</span>
                                                    <span class="help">{note}</span>
                                                    <div class="key-value">
                                                        <code data-invite-link="">{i.link.clone()}</code>
                                                        <button type="button" aria-label=copy_label
                                                            on:click=move |_| { copy(link.clone()); copied.set(true); }>
                                                            {move || if copied.get() { "Copied" } else { "Copy" }}
                                                        </button>
                                                    </div>
                                                    <ActionForm action=revoke>
                                                        <input type="hidden" name="email" value=revoke_email />
                                                        <button type="submit">"Revoke"</button>
                                                    </ActionForm>
                                                </li>
                                            }
                                        }).collect_view()}
                                    </ul>
                                })}
                                <ActionForm action=invite attr:class="invite">
                                    <label>
                                        "Invite a colleague by email"
                                        <input type="email" name="email" required placeholder="colleague@example.com" />
                                    </label>
                                    <button type="submit">"Create invitation link"</button>
                                </ActionForm>
                                <p class="help">"userdeck sends no email: send the link yourself. It works once, for 7 days."</p>
                            </section>
                            <super::integrations::Integrations />
                            <super::syncs::Syncs />
                        }
                        .into_any()
                    }
                }
            })}
        </Suspense>
    }
}
