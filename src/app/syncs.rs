//! Settings > Integrations > Pull from your CRM: HubSpot and Salesforce.
//! Each tool's card sets up where and what to read (base URL, token, object,
//! the field that names the user, the field mapping, the interval), starts
//! a sync or a full sync, shows the run's progress while it goes (polled
//! every half second) and how the last one went, with its log.

// `save_sync` takes one argument per field of its form (what ActionForm
// sends); the lint must be allowed for the whole module, as the server
// macro's browser-side stub does not carry an item's own allow.
#![allow(clippy::too_many_arguments)]

use leptos::form::ActionForm;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MappingRow {
    pub remote: String,
    pub attribute: String,
    #[serde(rename = "type")]
    pub as_type: String,
}

/// A sync's settings as the form shows them (the token only as a hint).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncView {
    pub kind: String,
    pub label: String,
    pub enabled: bool,
    pub base_url: String,
    pub api_version: String,
    /// `••••abcd` when a token is saved.
    pub token_hint: Option<String>,
    pub object: String,
    pub match_field: String,
    pub match_to: String,
    pub mapping: Vec<MappingRow>,
    pub interval_minutes: i64,
    pub runs: RunsView,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProgressView {
    pub full: bool,
    pub read: i64,
    pub total: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LastRunView {
    pub when: String,
    pub full: bool,
    pub ok: bool,
    pub error: Option<String>,
    pub read: i64,
    pub updated: i64,
    pub not_matched: i64,
    pub errors: i64,
}

/// A sync's runs: the one going on, the last one, the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunsView {
    pub saved: bool,
    pub running: Option<ProgressView>,
    /// A run holds the sync on another server sharing the database.
    pub elsewhere: bool,
    /// When the schedule starts the next sync, if it is switched on.
    pub next: Option<String>,
    pub last: Option<LastRunView>,
    pub log: Vec<(String, String)>,
}

#[cfg(feature = "ssr")]
fn hint(token: &str) -> Option<String> {
    let n = token.chars().count();
    (n > 0).then(|| {
        let tail: String = if n >= 12 {
            token.chars().skip(n - 4).collect()
        } else {
            String::new()
        };
        format!("••••••••{tail}")
    })
}

#[server(prefix = "/_fn", endpoint = "load_syncs")]
pub async fn load_syncs() -> Result<Vec<SyncView>, ServerFnError> {
    use crate::server::integrations::pull::Tool;
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let mut out = Vec::new();
    for tool in [Tool::HubSpot, Tool::Salesforce] {
        let c = match state.store.sync(account.workspace_id, tool.kind()).await? {
            Some(s) => s.config,
            None => tool.defaults(),
        };
        out.push(SyncView {
            kind: c.kind,
            label: tool.label().into(),
            enabled: c.enabled,
            base_url: c.base_url,
            api_version: c.api_version,
            token_hint: hint(&c.token),
            object: c.object,
            match_field: c.match_field,
            match_to: c.match_to.as_str().into(),
            mapping: c
                .mapping
                .into_iter()
                .map(|m| MappingRow {
                    remote: m.remote,
                    attribute: m.attribute,
                    as_type: m.as_type,
                })
                .collect(),
            interval_minutes: c.interval_minutes,
            runs: runs_of(&state, account.workspace_id, tool.kind()).await?,
        });
    }
    Ok(out)
}

/// Saves a sync's settings; a refusal says what to fix, and nothing is
/// changed. Answers the saved token's hint and whether the sync is on.
#[server(prefix = "/_fn", endpoint = "save_sync")]
pub async fn save_sync(
    kind: String,
    enabled: Option<String>,
    base_url: String,
    api_version: Option<String>,
    token: String,
    object: String,
    match_field: String,
    match_to: String,
    mapping: String,
    interval_minutes: String,
) -> Result<Result<(String, bool), String>, ServerFnError> {
    use crate::server::integrations::pull::{check_settings, SettingsInput, Tool};
    use crate::server::store::syncs::FieldMap;
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let ws = account.workspace_id;
    let tool = Tool::parse(&kind)
        .ok_or_else(|| ServerFnError::new(format!("no sync is called {kind:?}")))?;
    let mapping: Vec<FieldMap> = match serde_json::from_str(&mapping) {
        Ok(m) => m,
        Err(e) => {
            return Ok(Err(format!(
                "the field mapping was not sent whole ({e}); reload the page"
            )))
        }
    };
    let saved = state.store.sync(ws, tool.kind()).await?;
    let input = SettingsInput {
        enabled: enabled.is_some_and(|e| !e.is_empty()),
        base_url,
        api_version: api_version.unwrap_or_default(),
        token,
        object,
        match_field,
        match_to,
        mapping,
        interval_minutes,
    };
    let config = match check_settings(
        tool,
        &input,
        saved.as_ref().map(|s| s.config.token.as_str()),
    ) {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    state.store.save_sync(ws, &config).await?;
    Ok(Ok((
        hint(&config.token).unwrap_or_default(),
        config.enabled,
    )))
}

/// Starts a sync (from the cursor) or a full sync (from scratch) in the
/// background; the card polls its progress.
#[server(prefix = "/_fn", endpoint = "start_sync")]
pub async fn start_sync(kind: String, full: String) -> Result<Result<(), String>, ServerFnError> {
    use crate::server::integrations::pull::run;
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let ws = account.workspace_id;
    if state.store.sync(ws, &kind).await?.is_none() {
        return Ok(Err("save the settings first".into()));
    }
    let claim = match run::claim(&state, ws, &kind, full == "true") {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    tokio::spawn(async move {
        if let Err(e) = run::run(&state, claim).await {
            tracing::warn!("{kind} sync of workspace {ws} could not run: {e}");
        }
    });
    Ok(Ok(()))
}

#[server(prefix = "/_fn", endpoint = "sync_runs")]
pub async fn sync_runs(kind: String) -> Result<RunsView, ServerFnError> {
    let (state, account) = crate::server::dashboard::signed_in().await?;
    runs_of(&state, account.workspace_id, &kind).await
}

#[cfg(feature = "ssr")]
async fn runs_of(
    state: &crate::server::AppState,
    ws: i64,
    kind: &str,
) -> Result<RunsView, ServerFnError> {
    use crate::model::time::ago;
    let now = crate::server::store::now_ms();
    let sync = state.store.sync(ws, kind).await?;
    let last = sync.as_ref().and_then(|s| {
        let l = &s.last;
        Some(LastRunView {
            when: ago(l.finished_at?, now),
            full: l.full,
            ok: l.status.as_deref() == Some("ok"),
            error: l.error.clone(),
            read: l.counts.read,
            updated: l.counts.updated,
            not_matched: l.counts.not_matched,
            errors: l.counts.errors,
        })
    });
    let running = state.pulls.progress(ws, kind).map(|p| ProgressView {
        full: p.full,
        read: p.read,
        total: p.total,
    });
    let elsewhere = running.is_none() && state.store.sync_running(ws, kind).await?;
    let next = sync.as_ref().filter(|s| s.config.enabled).map(|s| {
        let due = s
            .last
            .started_at
            .map_or(now, |t| t + s.config.interval_minutes * 60_000);
        match (due - now + 59_999) / 60_000 {
            m if m <= 0 => "any moment now".to_string(),
            1 => "in 1 minute".to_string(),
            m => format!("in {m} minutes"),
        }
    });
    Ok(RunsView {
        saved: sync.is_some(),
        running,
        elsewhere,
        next,
        last,
        log: state
            .store
            .integration_log(ws, kind, 30)
            .await?
            .into_iter()
            .map(|(at, m)| (ago(at, now), m))
            .collect(),
    })
}

#[component]
pub fn Syncs() -> impl IntoView {
    let list = Resource::new(|| (), |_| load_syncs());
    view! {
        <section class="panel" aria-labelledby="syncs-h" id="syncs">
            <h2 id="syncs-h">"Pull from your CRM"</h2>
            <p class="help">"userdeck reads fields of your CRM's records and writes them as attributes of the users they name, by email or by your user id. Only existing users are updated; records that name no user are counted as not matched. Values show the tool's logo in a profile's Source column."</p>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Err(e) => view! { <p class="form-message" role="alert">{e.to_string()}</p> }.into_any(),
                        Ok(items) => view! {
                            <div class="syncs">
                                {items.into_iter().map(|s| view! { <SyncCard sync=s /> }).collect_view()}
                            </div>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// A refusal as its own words (`super::refusal` would show it as a
/// ServerFnError, prefixed "error running server function"), or a failure.
fn refusal_alert<T>(answer: Option<super::Refusable<T>>) -> impl IntoView {
    let message = match answer? {
        Ok(Ok(_)) => return None,
        Ok(Err(refused)) => refused,
        Err(e) => e.to_string(),
    };
    Some(view! { <p class="form-message" role="alert">{message}</p> })
}

/// The types a mapping row can read values as: (value, label).
const READ_AS: &[(&str, &str)] = &[
    ("", "as sent"),
    ("string", "text"),
    ("number", "number"),
    ("boolean", "boolean"),
    ("date", "date"),
];

/// Rows of the mapping editor, each with a key for `<For>`.
type Row = (u64, RwSignal<String>, RwSignal<String>, RwSignal<String>);

#[component]
fn SyncCard(sync: SyncView) -> impl IntoView {
    let save = ServerAction::<SaveSync>::new();
    let kind = sync.kind.clone();
    let hubspot = kind == "hubspot";
    let token_hint = RwSignal::new(sync.token_hint.clone());
    let on = RwSignal::new(sync.enabled);
    // What is typed in the token box; emptied once saved, so the token does
    // not stay on the page.
    let token_box = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(Ok(Ok((h, enabled)))) = save.value().get() {
            token_hint.set(Some(h));
            on.set(enabled);
            token_box.set(String::new());
        }
    });
    let next_key = StoredValue::new(0u64);
    let new_row = move |m: MappingRow| -> Row {
        let k = next_key.get_value();
        next_key.set_value(k + 1);
        (
            k,
            RwSignal::new(m.remote),
            RwSignal::new(m.attribute),
            RwSignal::new(m.as_type),
        )
    };
    let mut first: Vec<Row> = sync.mapping.iter().cloned().map(new_row).collect();
    if first.is_empty() {
        first.push(new_row(MappingRow {
            remote: String::new(),
            attribute: String::new(),
            as_type: String::new(),
        }));
    }
    let rows = RwSignal::new(first);
    let mapping_json = move || {
        let rows: Vec<MappingRow> = rows
            .get()
            .iter()
            .map(|(_, r, a, t)| MappingRow {
                remote: r.get(),
                attribute: a.get(),
                as_type: t.get(),
            })
            .collect();
        serde_json::to_string(&rows).unwrap_or_default()
    };
    let add = move |_| {
        let row = new_row(MappingRow {
            remote: String::new(),
            attribute: String::new(),
            as_type: String::new(),
        });
        rows.update(|r| r.push(row));
    };
    let heading = format!("{}-h", sync.kind);
    let label = sync.label.clone();
    let token_help = format!("{}-token-help", sync.kind);
    // The form's children own their copies.
    let (form_kind, form_label) = (kind.clone(), label.clone());
    let saved_message = move || {
        matches!(save.value().get(), Some(Ok(Ok(_))))
            .then(|| view! { <p class="form-message" role="status">"Saved."</p> })
    };
    let logo = format!("/sources/{}.svg", sync.kind);
    let objects: Vec<&'static str> = if hubspot {
        vec!["contacts", "companies", "deals"]
    } else {
        Vec::new()
    };
    let object_now = sync.object.clone();
    view! {
        <article class="sync" data-sync=kind.clone() aria-labelledby=heading.clone()>
            <div class="integration-head">
                <img src=logo alt="" width="20" height="20" />
                <h3 id=heading.clone()>{label.clone()}</h3>
                <span class=move || if on.get() { "status on" } else { "status" } data-on=move || on.get().to_string()>
                    {move || if on.get() { "On" } else { "Off" }}
                </span>
            </div>
            <ActionForm action=save attr:class="sync-form">
                <input type="hidden" name="kind" value=form_kind />
                <input type="hidden" name="mapping" value=mapping_json />
                <label class="check">
                    <input type="checkbox" name="enabled" value="on" checked=sync.enabled />
                    {format!(" Sync on an interval (switch on {form_label})")}
                </label>
                <div class="sync-grid">
                    <label>
                        {if hubspot { "Base URL" } else { "Instance URL" }}
                        <input type="url" name="base_url" value=sync.base_url.clone()
                            placeholder=if hubspot { "https://api.hubapi.com" } else { "https://yourco.my.salesforce.com" } />
                    </label>
                    {(!hubspot).then(|| view! {
                        <label>
                            "API version"
                            <input type="text" name="api_version" value=sync.api_version.clone() placeholder="v60.0" size="6" />
                        </label>
                    })}
                    <div class="field">
                        <label>
                            {if hubspot { "Private app access token" } else { "OAuth access token" }}
                            <input type="password" name="token" autocomplete="off" aria-describedby=token_help.clone()
                                prop:value=move || token_box.get() on:input=move |ev| token_box.set(event_target_value(&ev))
                                placeholder=move || if token_hint.get().is_some() { "saved: leave empty to keep it" } else { "paste the token" } />
                        </label>
                        <span class="help" id=token_help data-token-hint="">
                            {move || token_hint.get().map(|h| format!("Saved token: {h}")).unwrap_or_else(|| "No token saved yet.".into())}
                        </span>
                    </div>
                    <label>
                        "Object"
                        {if hubspot {
                            view! {
                                <select name="object">
                                    {objects.into_iter().map(|o| view! { <option value=o selected=o == object_now>{o}</option> }).collect_view()}
                                </select>
                            }.into_any()
                        } else {
                            view! {
                                <input type="text" name="object" value=sync.object.clone() list="salesforce-objects" placeholder="Contact" />
                                <datalist id="salesforce-objects">
                                    <option value="Contact" /><option value="Lead" /><option value="Account" />
                                </datalist>
                            }.into_any()
                        }}
                    </label>
                    <label>
                        "Interval (minutes)"
                        <input type="number" name="interval_minutes" min="5" max="10080" value=sync.interval_minutes.to_string() />
                    </label>
                </div>
                <fieldset class="sync-match">
                    <legend>"Match records to users"</legend>
                    <label>
                        "Remote field"
                        <input type="text" name="match_field" value=sync.match_field.clone()
                            placeholder=if hubspot { "email" } else { "Email" } />
                    </label>
                    <label>
                        "is the user's"
                        <select name="match_to">
                            <option value="email" selected=sync.match_to == "email">"email"</option>
                            <option value="user_id" selected=sync.match_to == "user_id">"user id"</option>
                        </select>
                    </label>
                </fieldset>
                <fieldset class="sync-mapping">
                    <legend>"Fields → attributes"</legend>
                    <table>
                        <thead><tr><th scope="col">"Remote field"</th><th scope="col">"Attribute"</th><th scope="col">"Read as"</th><th></th></tr></thead>
                        <tbody>
                            <For each=move || rows.get() key=|r| r.0 let((key, remote, attribute, as_type))>
                                {
                                    let n = move || rows.with(|rs| rs.iter().position(|r| r.0 == key).map_or(0, |i| i + 1));
                                    view! {
                                        <tr data-row="">
                                            <td><input type="text" aria-label=move || format!("Remote field {}", n())
                                                prop:value=move || remote.get() on:input=move |ev| remote.set(event_target_value(&ev))
                                                placeholder=if hubspot { "lifecyclestage" } else { "Plan__c" } /></td>
                                            <td><input type="text" aria-label=move || format!("Attribute {}", n())
                                                prop:value=move || attribute.get() on:input=move |ev| attribute.set(event_target_value(&ev))
                                                placeholder="plan" /></td>
                                            <td>
                                                <select aria-label=move || format!("Read as {}", n())
                                                    on:change=move |ev| as_type.set(event_target_value(&ev))>
                                                    {READ_AS.iter().map(|(v, l)| view! {
                                                        <option value=*v selected=move || as_type.get() == *v>{*l}</option>
                                                    }).collect_view()}
                                                </select>
                                            </td>
                                            <td><button type="button" aria-label=move || format!("Remove row {}", n())
                                                on:click=move |_| rows.update(|r| r.retain(|x| x.0 != key))>"Remove"</button></td>
                                        </tr>
                                    }
                                }
                            </For>
                        </tbody>
                    </table>
                    <button type="button" on:click=add>"Add a field"</button>
                    <p class="help">{if hubspot {
                        "Use HubSpot's internal property names (the property's settings show them). HubSpot sends every value as text: read numbers, booleans and dates as such. A field emptied in HubSpot removes the attribute."
                    } else {
                        "Use API names (Email, Plan__c, Account.Name). A field emptied in Salesforce removes the attribute."
                    }}</p>
                </fieldset>
                {move || refusal_alert(save.value().get())}
                {saved_message}
                <button type="submit">{format!("Save {form_label}")}</button>
            </ActionForm>
            <Runs kind=kind.clone() label=label.clone() initial=sync.runs.clone() saves=save.version() />
        </article>
    }
}

/// The run buttons, the progress of the run going on, the last run, the log.
/// The server renders the state of the page load; in the browser a fetch
/// follows each start, and polling follows a run until it ends (no
/// Suspense: the card keeps its place while it refreshes).
#[component]
fn Runs(
    kind: String,
    label: String,
    initial: RunsView,
    /// The settings' saves: the next run's time follows them.
    saves: RwSignal<usize>,
) -> impl IntoView {
    const POLL: std::time::Duration = std::time::Duration::from_millis(500);
    let start = ServerAction::<StartSync>::new();
    let runs = RwSignal::new(initial);
    let tick = RwSignal::new(0u64);
    let k = kind.clone();
    Effect::new(move |first: Option<()>| {
        tick.track();
        if first.is_none() {
            // The page came with a run going on: follow it.
            if runs.get_untracked().running.is_some() {
                set_timeout(move || tick.update(|t| *t += 1), POLL);
            }
            return;
        }
        let k = k.clone();
        leptos::task::spawn_local(async move {
            match sync_runs(k).await {
                Ok(r) => {
                    let going = r.running.is_some();
                    runs.set(r);
                    if going {
                        set_timeout(move || tick.update(|t| *t += 1), POLL);
                    }
                }
                // The server is away for a moment: try again a bit later.
                Err(_) => set_timeout(move || tick.update(|t| *t += 1), POLL * 4),
            }
        });
    });
    Effect::new(move |_| {
        if start.version().get() + saves.get() > 0 {
            tick.update(|t| *t += 1);
        }
    });
    let (k1, k2) = (kind.clone(), kind);
    view! {
        <div class="sync-runs">
            <div class="sync-buttons">
                <ActionForm action=start>
                    <input type="hidden" name="kind" value=k1 />
                    <input type="hidden" name="full" value="false" />
                    <button type="submit">"Sync now"</button>
                </ActionForm>
                <ActionForm action=start>
                    <input type="hidden" name="kind" value=k2 />
                    <input type="hidden" name="full" value="true" />
                    <button type="submit">"Full sync"</button>
                </ActionForm>
                <span class="help">"Sync now reads what changed since the last good run; Full sync reads every record again."</span>
            </div>
            {move || refusal_alert(start.value().get())}
            {move || runs_view(runs.get(), &label)}
        </div>
    }
}

fn runs_view(r: RunsView, label: &str) -> impl IntoView {
    let running = r.running.map(|p| {
        let what = if p.full { "Full sync" } else { "Sync" };
        let text = match p.total {
            Some(t) => format!(
                "{what} running: {} of {} records read",
                super::users::thousands(p.read),
                super::users::thousands(t)
            ),
            None => format!(
                "{what} running: {} records read",
                super::users::thousands(p.read)
            ),
        };
        let bar = match p.total {
            Some(t) => view! { <progress aria-label="Records read" max=t.max(1) value=p.read.min(t)></progress> }.into_any(),
            None => view! { <progress aria-label="Records read"></progress> }.into_any(),
        };
        view! {
            <div class="sync-progress" data-running="" role="status">
                {bar}
                <span>{text}</span>
            </div>
        }
    });
    let last = r.last.map(|l| {
        let what = if l.full { "Full sync" } else { "Sync" };
        let outcome = if l.ok { "done" } else { "failed" };
        view! {
            <div class="sync-last" data-last-status=if l.ok { "ok" } else { "failed" }>
                <p>
                    <strong>{format!("{what} {outcome}")}</strong>
                    <span class="muted">{format!(" {}", l.when)}</span>
                </p>
                {l.error.map(|e| view! { <p class="form-message" role="alert" data-sync-error="">{e}</p> })}
                <dl class="sync-counts">
                    <div><dt>"Read"</dt><dd data-count="read">{l.read}</dd></div>
                    <div><dt>"Updated"</dt><dd data-count="updated">{l.updated}</dd></div>
                    <div><dt>"Not matched"</dt><dd data-count="not_matched">{l.not_matched}</dd></div>
                    <div><dt>"Errors"</dt><dd data-count="errors">{l.errors}</dd></div>
                </dl>
            </div>
        }
    });
    let elsewhere = r.elsewhere.then(|| {
        view! { <p class="help" data-running-elsewhere="">"A run is going on on another userdeck server sharing this database."</p> }
    });
    let next = r.next.filter(|_| running.is_none()).map(|n| {
        view! { <p class="help" data-next-sync="">{format!("Next sync on the interval: {n}.")}</p> }
    });
    let never = (r.saved && running.is_none() && last.is_none())
        .then(|| view! { <p class="help">{format!("{label} has not synced yet.")}</p> });
    let log = (!r.log.is_empty()).then(|| {
        view! {
            <details class="integration-log">
                <summary>{format!("Log ({})", r.log.len())}</summary>
                <ul>
                    {r.log.into_iter().map(|(at, m)| view! { <li><span class="muted">{at}</span> " " {m}</li> }).collect_view()}
                </ul>
            </details>
        }
    });
    view! { {running} {elsewhere} {last} {never} {next} {log} }
}
