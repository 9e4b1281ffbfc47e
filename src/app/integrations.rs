//! Settings > Integrations: the tools that push profiles to userdeck.
//! Each is switched on here, has its own key and address, and shows what
//! it received and the log of what it could not apply.

use leptos::form::ActionForm;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntegrationView {
    pub kind: String,
    pub label: String,
    pub enabled: bool,
    pub key: String,
    /// Where the tool's client should send (its `host` option).
    pub address: String,
    pub received: i64,
    pub rejected: i64,
    pub last_received: Option<String>,
    pub log: Vec<(String, String)>,
}

#[server(prefix = "/_fn", endpoint = "load_integrations")]
pub async fn load_integrations() -> Result<Vec<IntegrationView>, ServerFnError> {
    use crate::model::time::ago;
    use crate::server::store::integrations::RECEIVERS;
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let ws = account.workspace_id;
    let base = crate::server::dashboard::base_url().await;
    let now = crate::server::store::now_ms();
    let mut out = Vec::new();
    for i in state.store.integrations(ws).await? {
        let log = state
            .store
            .integration_log(ws, &i.kind, 20)
            .await?
            .into_iter()
            .map(|(at, m)| (ago(at, now), m))
            .collect();
        out.push(IntegrationView {
            label: RECEIVERS
                .iter()
                .find(|(k, _)| *k == i.kind)
                .map_or(i.kind.clone(), |(_, l)| l.to_string()),
            address: format!("{base}/integrations/{}", i.kind),
            last_received: i.last_received_at.map(|t| ago(t, now)),
            kind: i.kind,
            enabled: i.enabled,
            key: i.key,
            received: i.received,
            rejected: i.rejected,
            log,
        });
    }
    Ok(out)
}

#[server(prefix = "/_fn", endpoint = "switch_integration")]
pub async fn switch_integration(kind: String, on: String) -> Result<(), ServerFnError> {
    use crate::server::store::integrations::RECEIVERS;
    let (state, account) = crate::server::dashboard::signed_in().await?;
    if !RECEIVERS.iter().any(|(k, _)| *k == kind) {
        return Err(ServerFnError::new(format!(
            "no integration is called {kind:?}"
        )));
    }
    state
        .store
        .set_integration(account.workspace_id, &kind, on == "on")
        .await?;
    Ok(())
}

/// How to point each tool's client at userdeck.
fn how_to(kind: &str) -> &'static str {
    match kind {
        "segment" => "Segment: new Analytics({ writeKey: <key>, host: <this server>, path: \"/integrations/segment/v1/batch\" }) in @segment/analytics-node, or <address>/v1/identify and /v1/batch with the key as the Basic auth user. Identify calls' traits become attributes.",
        "posthog" => "PostHog: new PostHog(<key>, { host: <address> }) in posthog-node. $set, $set_once and $unset of every event apply to its distinct_id.",
        "mixpanel" => "Mixpanel: Mixpanel.init(<key>, { host: <address's host>, path: \"/integrations/mixpanel\", protocol: \"http\" or \"https\" }). people.set, set_once and unset apply to the distinct_id.",
        _ => "Amplitude: init(<key>, { serverUrl: <address>/2/httpapi }) in @amplitude/analytics-node. identify() user properties ($set, $setOnce, $unset) apply to the user_id.",
    }
}

#[component]
pub fn Integrations() -> impl IntoView {
    let switch = ServerAction::<SwitchIntegration>::new();
    let list = Resource::new(move || switch.version().get(), |_| load_integrations());
    view! {
        <section class="panel" aria-labelledby="integrations-h" id="integrations">
            <h2 id="integrations-h">"Integrations"</h2>
            <p class="help">"Tools that send user properties to userdeck. Values they set show their logo in a profile's Source column; a user is matched on user id, or on email when only that is sent."</p>
            {move || super::alerts([switch.value().get().and_then(|r| r.err())])}
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Err(e) => view! { <p class="form-message" role="alert">{e.to_string()}</p> }.into_any(),
                        Ok(items) => view! {
                            <ul class="integrations">
                                {items.into_iter().map(|i| {
                                    let toggle = if i.enabled { "off" } else { "on" };
                                    let label = format!("{} {}", if i.enabled { "Switch off" } else { "Switch on" }, i.label);
                                    let help = how_to(&i.kind);
                                    let logo = format!("/sources/{}.svg", i.kind);
                                    let kind = i.kind.clone();
                                    view! {
                                        <li class="integration" data-integration=i.kind.clone() data-enabled=i.enabled.to_string()>
                                            <div class="integration-head">
                                                <img src=logo alt="" width="20" height="20" />
                                                <strong>{i.label.clone()}</strong>
                                                <span class=if i.enabled { "status on" } else { "status" }>{if i.enabled { "On" } else { "Off" }}</span>
                                                <ActionForm action=switch>
                                                    <input type="hidden" name="kind" value=kind />
                                                    <input type="hidden" name="on" value=toggle />
                                                    <button type="submit">{label}</button>
                                                </ActionForm>
                                            </div>
                                            <dl class="keys">
                                                <div class="key-row"><dt>"Key"</dt><dd><code data-key="">{i.key.clone()}</code></dd></div>
                                                <div class="key-row"><dt>"Address"</dt><dd><code data-address="">{i.address.clone()}</code></dd></div>
                                                <div class="key-row"><dt>"Received"</dt><dd data-received=i.received>
                                                    {format!("{} profile updates, {} refused, last {}", super::users::thousands(i.received), super::users::thousands(i.rejected), i.last_received.clone().unwrap_or_else(|| "never".into()))}
                                                </dd></div>
                                            </dl>
                                            <p class="help">{help}</p>
                                            {(!i.log.is_empty()).then(|| view! {
                                                <details class="integration-log" open>
                                                    <summary>"Log"</summary>
                                                    <ul>
                                                        {i.log.into_iter().map(|(at, m)| view! { <li><span class="muted">{at}</span> " " {m}</li> }).collect_view()}
                                                    </ul>
                                                </details>
                                            })}
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
