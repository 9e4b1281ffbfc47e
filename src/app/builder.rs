//! The condition builder: nested all / any / none groups of rules and
//! segment references, edited in place, with the live count and the first
//! matching users beside it. It edits a draft (signals per field, so typing
//! re-renders nothing but the preview) and turns it into the condition JSON
//! of API.md; the server checks that JSON and its errors come back to the
//! rule they name.

use crate::model::attribute::AttrType;
use crate::model::condition::{Arity, Op, OPS};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use std::sync::atomic::{AtomicU64, Ordering};

/// An attribute the builder offers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttrChoice {
    pub name: String,
    pub attr_type: AttrType,
    /// `Profile` for native fields, else the sources (`custom`, `hubspot`...).
    pub source: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentChoice {
    pub id: i64,
    pub name: String,
}

/// What a builder offers to choose from.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct Choices {
    pub attributes: Vec<AttrChoice>,
    pub segments: Vec<SegmentChoice>,
    /// Users in the workspace, shown beside the live count.
    pub total: i64,
}

impl Choices {
    fn type_of(&self, name: &str) -> Option<AttrType> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.attr_type)
    }
}

/// The live count of a condition and its first users, or why it is wrong.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preview {
    pub count: i64,
    pub users: Vec<PreviewUser>,
    /// Where the condition is wrong (`all[1].value`) and what is wrong.
    pub error: Option<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PreviewUser {
    pub jimer_id: String,
    pub label: String,
    pub sub: String,
}

/// What the builder offers: every attribute (native first) and segment.
#[server(prefix = "/_fn", endpoint = "builder_choices")]
pub async fn builder_choices() -> Result<Choices, ServerFnError> {
    use crate::model::attribute::NATIVE_FIELDS;
    use crate::model::condition::native_type;
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let ws = account.workspace_id;
    let mut attributes: Vec<AttrChoice> = NATIVE_FIELDS
        .iter()
        .filter_map(|n| {
            Some(AttrChoice {
                name: n.to_string(),
                attr_type: native_type(n)?,
                source: "Profile".into(),
            })
        })
        .collect();
    for d in state.store.definitions(ws).await? {
        attributes.push(AttrChoice {
            source: d.sources.join(", "),
            name: d.name,
            attr_type: d.attr_type,
        });
    }
    let segments = state
        .store
        .segments(ws)
        .await?
        .into_iter()
        .map(|s| SegmentChoice {
            id: s.id,
            name: s.name,
        })
        .collect();
    let total = state.store.users_count(ws).await?;
    Ok(Choices {
        attributes,
        segments,
        total,
    })
}

/// Counts the users a condition (JSON) matches now, with the first ten.
#[server(prefix = "/_fn", endpoint = "preview_condition")]
pub async fn preview_condition(condition: String) -> Result<Preview, ServerFnError> {
    use crate::model::condition::Condition;
    use crate::server::store::list::ListQuery;
    use crate::server::store::segments::SegmentStoreError;
    let (state, account) = crate::server::dashboard::signed_in().await?;
    let ws = account.workspace_id;
    let wrong = |path: &str, message: String| {
        Ok(Preview {
            count: 0,
            users: Vec::new(),
            error: Some((path.to_string(), message)),
        })
    };
    if condition.len() > 64 * 1024 {
        return wrong("condition", "the condition is too long".into());
    }
    let json: Json = serde_json::from_str(&condition)
        .map_err(|e| ServerFnError::new(format!("the condition is not JSON: {e}")))?;
    let parsed = match Condition::parse(&json) {
        Ok(c) => c,
        Err(e) => return wrong(&e.path, e.message),
    };
    let filter = match state
        .store
        .filter(ws, &parsed, crate::server::store::now_ms())
        .await
    {
        Ok(f) => std::sync::Arc::new(f),
        Err(SegmentStoreError::Invalid(e)) => return wrong(&e.path, e.message),
        Err(e) => return Err(ServerFnError::new(e.to_string())),
    };
    let page = state
        .store
        .list_users(
            ws,
            &ListQuery {
                limit: 10,
                attributes: Some(Vec::new()),
                condition: Some(filter),
                ..Default::default()
            },
        )
        .await?;
    Ok(Preview {
        count: page.total,
        users: page
            .users
            .into_iter()
            .map(|u| PreviewUser {
                label: u
                    .name
                    .clone()
                    .or_else(|| u.user_id.clone())
                    .unwrap_or_else(|| "Anonymous".into()),
                sub: u.email.clone().or(u.user_id.clone()).unwrap_or_default(),
                jimer_id: u.jimer_id,
            })
            .collect(),
        error: None,
    })
}

static KEYS: AtomicU64 = AtomicU64::new(1);

fn key() -> u64 {
    KEYS.fetch_add(1, Ordering::Relaxed)
}

/// One editable rule; its value is kept as typed (text) until the JSON is made.
#[derive(Clone, Copy)]
pub struct RuleDraft {
    key: u64,
    attribute: RwSignal<String>,
    op: RwSignal<String>,
    value: RwSignal<String>,
    /// The high end of `between`.
    high: RwSignal<String>,
    list: RwSignal<Vec<String>>,
    case_sensitive: RwSignal<bool>,
}

#[derive(Clone, Copy)]
pub struct SegmentDraft {
    key: u64,
    id: RwSignal<String>,
    member: RwSignal<bool>,
}

#[derive(Clone, Copy)]
pub struct GroupDraft {
    key: u64,
    /// `all`, `any` or `none`.
    kind: RwSignal<String>,
    items: RwSignal<Vec<Item>>,
}

#[derive(Clone, Copy)]
pub enum Item {
    Rule(RuleDraft),
    Segment(SegmentDraft),
    Group(GroupDraft),
}

impl Item {
    fn key(&self) -> u64 {
        match self {
            Item::Rule(r) => r.key,
            Item::Segment(s) => s.key,
            Item::Group(g) => g.key,
        }
    }
}

fn text_of(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

impl RuleDraft {
    fn new(attribute: &str, op: &str) -> RuleDraft {
        RuleDraft {
            key: key(),
            attribute: RwSignal::new(attribute.into()),
            op: RwSignal::new(op.into()),
            value: RwSignal::new(String::new()),
            high: RwSignal::new(String::new()),
            list: RwSignal::new(Vec::new()),
            case_sensitive: RwSignal::new(false),
        }
    }

    fn from_json(o: &Json) -> RuleDraft {
        let r = RuleDraft::new(
            o["attribute"].as_str().unwrap_or_default(),
            o["op"].as_str().unwrap_or("is"),
        );
        match &o["value"] {
            Json::Array(items) if o["op"] == "between" => {
                r.value.set(items.first().map(text_of).unwrap_or_default());
                r.high.set(items.get(1).map(text_of).unwrap_or_default());
            }
            Json::Array(items) => r.list.set(items.iter().map(text_of).collect()),
            v => r.value.set(text_of(v)),
        }
        r.case_sensitive
            .set(o["case_sensitive"].as_bool().unwrap_or(false));
        r
    }

    /// The rule's JSON, its value read for the attribute's type (what does
    /// not read is sent as typed, so the server names the problem).
    fn to_json(self, t: Option<AttrType>) -> Json {
        let op = self.op.get();
        let mut o = json!({"attribute": self.attribute.get(), "op": op});
        let numeric = t == Some(AttrType::Number);
        let scalar = |s: String| -> Json {
            let s = s.trim().to_string();
            match t {
                Some(AttrType::Number) => s.parse::<f64>().map_or(Json::String(s), number),
                Some(AttrType::Boolean) => match s.as_str() {
                    "true" => json!(true),
                    "false" => json!(false),
                    _ => Json::String(s),
                },
                _ => Json::String(s),
            }
        };
        let value = match Op::parse(&op).map(Op::arity) {
            None | Some(Arity::None) => None,
            Some(Arity::One) => Some(scalar(self.value.get())),
            Some(Arity::Days) => {
                let s = self.value.get().trim().to_string();
                Some(s.parse::<i64>().map_or(Json::String(s), |n| json!(n)))
            }
            Some(Arity::Range) => Some(json!([scalar(self.value.get()), scalar(self.high.get())])),
            Some(Arity::List) => Some(Json::Array(
                self.list
                    .get()
                    .into_iter()
                    .map(|s| if numeric { scalar(s) } else { Json::String(s) })
                    .collect(),
            )),
        };
        if let Some(v) = value {
            o["value"] = v;
        }
        if self.case_sensitive.get() && matches!(t, Some(AttrType::String | AttrType::Array)) {
            o["case_sensitive"] = json!(true);
        }
        o
    }
}

/// A number as JSON: whole numbers without a fraction (`10`, not `10.0`).
fn number(n: f64) -> Json {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        json!(n as i64)
    } else {
        json!(n)
    }
}

impl GroupDraft {
    pub fn new(kind: &str, items: Vec<Item>) -> GroupDraft {
        GroupDraft {
            key: key(),
            kind: RwSignal::new(kind.into()),
            items: RwSignal::new(items),
        }
    }

    /// A draft of a condition; anything that is not a group becomes the one
    /// item of an `all` group.
    pub fn from_json(c: &Json) -> GroupDraft {
        for kind in ["all", "any", "none"] {
            if let Some(items) = c.get(kind).and_then(Json::as_array) {
                return GroupDraft::new(kind, items.iter().map(item_from_json).collect());
            }
        }
        let items = if c.is_object() && !c.as_object().is_some_and(|o| o.is_empty()) {
            vec![item_from_json(c)]
        } else {
            Vec::new()
        };
        GroupDraft::new("all", items)
    }

    /// The condition JSON, and the path (`all[1]`) of every rule in it.
    pub fn to_json(self, choices: &Choices) -> (Json, Vec<(u64, String)>) {
        let mut paths = Vec::new();
        let j = group_json(self, "", choices, &mut paths);
        (j, paths)
    }
}

fn item_from_json(c: &Json) -> Item {
    if c.get("segment").is_some() {
        return Item::Segment(SegmentDraft {
            key: key(),
            id: RwSignal::new(text_of(&c["segment"])),
            member: RwSignal::new(c["op"] != "not_in"),
        });
    }
    if c.get("attribute").is_some() {
        return Item::Rule(RuleDraft::from_json(c));
    }
    Item::Group(GroupDraft::from_json(c))
}

fn group_json(
    g: GroupDraft,
    path: &str,
    choices: &Choices,
    paths: &mut Vec<(u64, String)>,
) -> Json {
    let kind = g.kind.get();
    let items: Vec<Json> = g
        .items
        .get()
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let at = if path.is_empty() {
                format!("{kind}[{i}]")
            } else {
                format!("{path}.{kind}[{i}]")
            };
            paths.push((item.key(), at.clone()));
            match item {
                Item::Rule(r) => r.to_json(choices.type_of(&r.attribute.get())),
                Item::Segment(s) => json!({
                    "segment": s.id.get().parse::<i64>().map_or(json!(s.id.get()), |n| json!(n)),
                    "op": if s.member.get() { "in" } else { "not_in" },
                }),
                Item::Group(inner) => group_json(inner, &at, choices, paths),
            }
        })
        .collect();
    json!({ kind: items })
}

/// The type's icon in the attribute picker.
fn type_icon(t: AttrType) -> &'static str {
    match t {
        AttrType::String => "Aa",
        AttrType::Number => "#",
        AttrType::Boolean => "✓",
        AttrType::Date => "◷",
        AttrType::Array => "[ ]",
    }
}

/// The builder: the draft `root` as nested groups, with the live preview.
/// `json` is the draft's condition (see `GroupDraft::to_json`).
#[component]
pub fn Builder(
    root: GroupDraft,
    choices: Choices,
    json: Memo<(Json, Vec<(u64, String)>)>,
) -> impl IntoView {
    let choices = StoredValue::new(choices);
    // The preview follows the draft a moment after the last change.
    let settled = RwSignal::new(json.get_untracked().0.to_string());
    let timer: StoredValue<Option<TimeoutHandle>> = StoredValue::new(None);
    Effect::new(move |first: Option<()>| {
        let now = json.get().0.to_string();
        if first.is_none() {
            return;
        }
        if let Some(t) = timer.get_value() {
            t.clear();
        }
        let handle = set_timeout_with_handle(
            move || settled.set(now),
            std::time::Duration::from_millis(250),
        )
        .ok();
        timer.set_value(handle);
    });
    let preview = Resource::new(move || settled.get(), preview_condition);
    let error = Memo::new(move |_| preview.get().and_then(|p| p.ok()).and_then(|p| p.error));
    let ctx = Ctx {
        choices,
        json,
        error,
    };
    let total = choices.with_value(|c| c.total);
    view! {
        <div class="builder">
            <div class="builder-tree">{group_view(root, None, ctx)}</div>
            <aside class="preview" aria-live="polite">
                <Suspense fallback=|| view! { <p class="muted">"Counting…"</p> }>
                    {move || Suspend::new(async move {
                        match preview.await {
                            Err(e) => view! { <p class="form-message" role="alert">{e.to_string()}</p> }.into_any(),
                            Ok(p) => {
                                let whole = if p.error.is_some() { "—".to_string() } else { super::users::thousands(p.count) };
                                view! {
                                    <p class="live-count">
                                        <strong data-count=p.count>{whole}</strong>
                                        " of " {super::users::thousands(total)} " users"
                                    </p>
                                    {p.error.clone().map(|(_, m)| view! { <p class="form-message" role="alert">{m}</p> })}
                                    <ul class="preview-users">
                                        {p.users.into_iter().map(|u| view! {
                                            <li><a href=format!("/users/{}", u.jimer_id)>{u.label}</a> <span class="sub">{u.sub}</span></li>
                                        }).collect_view()}
                                    </ul>
                                }.into_any()
                            }
                        }
                    })}
                </Suspense>
            </aside>
        </div>
    }
}

#[derive(Clone, Copy)]
struct Ctx {
    choices: StoredValue<Choices>,
    json: Memo<(Json, Vec<(u64, String)>)>,
    error: Memo<Option<(String, String)>>,
}

impl Ctx {
    /// The server's message for the item `key`, when it names that item.
    fn error_of(self, key: u64) -> Option<String> {
        let (path, message) = self.error.get()?;
        let mine = self.json.with(|(_, paths)| {
            paths
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, p)| p.clone())
        })?;
        let inner = path == mine
            || path
                .strip_prefix(&mine)
                .is_some_and(|rest| rest.starts_with('.') && !rest.contains('['));
        inner.then_some(message)
    }
}

/// Moves item `key` of `items` one place up (-1) or down (+1).
fn shift(items: RwSignal<Vec<Item>>, key: u64, by: isize) {
    items.update(|v| {
        if let Some(i) = v.iter().position(|x| x.key() == key) {
            let j = i as isize + by;
            if (0..v.len() as isize).contains(&j) {
                v.swap(i, j as usize);
            }
        }
    });
}

fn group_view(g: GroupDraft, parent: Option<RwSignal<Vec<Item>>>, ctx: Ctx) -> AnyView {
    let items = g.items;
    let add = move |item: Item| items.update(|v| v.push(item));
    let first_attribute = move || {
        ctx.choices
            .with_value(|c| c.attributes.first().map(|a| a.name.clone()))
            .unwrap_or_default()
    };
    view! {
        <fieldset class="group" data-kind=move || g.kind.get()>
            <legend>
                <select aria-label="How the rules combine" on:change=move |ev| g.kind.set(event_target_value(&ev))>
                    {[("all", "All of these"), ("any", "Any of these"), ("none", "None of these")].into_iter().map(|(k, label)| view! {
                        <option value=k selected=move || g.kind.get() == k>{label}</option>
                    }).collect_view()}
                </select>
            </legend>
            <ol class="items">
                <For each=move || items.get() key=|i| i.key() let:item>
                    <li class="item">
                        {item_view(item, items, ctx)}
                        <span class="item-actions">
                            <button type="button" class="icon" aria-label="Move up" on:click=move |_| shift(items, item.key(), -1)>"↑"</button>
                            <button type="button" class="icon" aria-label="Move down" on:click=move |_| shift(items, item.key(), 1)>"↓"</button>
                            <button type="button" class="icon" aria-label="Remove" on:click=move |_| items.update(|v| v.retain(|x| x.key() != item.key()))>"×"</button>
                        </span>
                    </li>
                </For>
            </ol>
            <p class="muted empty-group" hidden=move || !items.with(Vec::is_empty)>
                {move || match g.kind.get().as_str() {
                    "any" => "An empty “any” group matches nobody.",
                    _ => "An empty group matches everyone.",
                }}
            </p>
            <div class="group-actions">
                <button type="button" on:click=move |_| add(Item::Rule(RuleDraft::new(&first_attribute(), "is_set")))>"+ Rule"</button>
                <button type="button" on:click=move |_| add(Item::Group(GroupDraft::new("any", vec![Item::Rule(RuleDraft::new(&first_attribute(), "is_set"))])))>"+ Group"</button>
                <button type="button" on:click=move |_| add(Item::Segment(SegmentDraft {
                    key: key(),
                    id: RwSignal::new(ctx.choices.with_value(|c| c.segments.first().map(|s| s.id.to_string())).unwrap_or_default()),
                    member: RwSignal::new(true),
                }))>"+ Segment"</button>
                {parent.map(|p| view! {
                    <button type="button" class="danger-link" on:click=move |_| p.update(|v| v.retain(|x| x.key() != g.key))>"Remove group"</button>
                })}
            </div>
        </fieldset>
    }
    .into_any()
}

fn item_view(item: Item, siblings: RwSignal<Vec<Item>>, ctx: Ctx) -> AnyView {
    match item {
        Item::Group(g) => group_view(g, Some(siblings), ctx),
        Item::Segment(s) => view! {
            <div class="rule">
                <span class="rule-word">"In segment"</span>
                <select aria-label="Membership" on:change=move |ev| s.member.set(event_target_value(&ev) == "in")>
                    <option value="in" selected=move || s.member.get()>"is in"</option>
                    <option value="not_in" selected=move || !s.member.get()>"is not in"</option>
                </select>
                <select aria-label="Segment" on:change=move |ev| s.id.set(event_target_value(&ev))>
                    {ctx.choices.with_value(|c| c.segments.clone()).into_iter().map(|c| {
                        let id = c.id.to_string();
                        let sel = id.clone();
                        view! { <option value=id selected=move || s.id.get() == sel>{c.name}</option> }
                    }).collect_view()}
                </select>
                {move || ctx.error_of(s.key).map(|m| view! { <p class="rule-error" role="alert">{m}</p> })}
            </div>
        }
        .into_any(),
        Item::Rule(r) => rule_view(r, ctx),
    }
}

fn rule_view(r: RuleDraft, ctx: Ctx) -> AnyView {
    let t = move || ctx.choices.with_value(|c| c.type_of(&r.attribute.get()));
    let arity = move || Op::parse(&r.op.get()).map(Op::arity);
    let choose = move |name: String| {
        let new_type = ctx.choices.with_value(|c| c.type_of(&name));
        r.attribute.set(name);
        // Keep the operator when it fits the new type.
        let fits = Op::parse(&r.op.get())
            .zip(new_type)
            .is_some_and(|(op, t)| op.types().contains(&t));
        if !fits {
            r.op.set("is_set".into());
        }
    };
    let input_type = move || match (t(), arity()) {
        (_, Some(Arity::Days)) => "number",
        (Some(AttrType::Number), _) => "number",
        (Some(AttrType::Date), _) => "date",
        _ => "text",
    };
    view! {
        <div class="rule" data-attribute=move || r.attribute.get()>
            <AttributePicker current=r.attribute choices=ctx.choices on_choose=choose />
            <select aria-label="Operator" class="op" on:change=move |ev| r.op.set(event_target_value(&ev))>
                {move || {
                    let ty = t().unwrap_or(AttrType::String);
                    OPS.iter().filter(|(_, o)| o.types().contains(&ty)).map(|(name, o)| {
                        let name = *name;
                        view! { <option value=name selected=move || r.op.get() == name>{o.label(ty)}</option> }
                    }).collect_view()
                }}
            </select>
            {move || match (arity(), t()) {
                (Some(Arity::One), Some(AttrType::Boolean)) => view! {
                    <select aria-label="Value" on:change=move |ev| r.value.set(event_target_value(&ev))>
                        <option value="" selected=move || r.value.get().is_empty()>"Choose"</option>
                        <option value="true" selected=move || r.value.get() == "true">"true"</option>
                        <option value="false" selected=move || r.value.get() == "false">"false"</option>
                    </select>
                }.into_any(),
                (Some(Arity::One), _) => view! {
                    <input aria-label="Value" type=input_type step="any" bind:value=r.value />
                }.into_any(),
                (Some(Arity::Days), _) => view! {
                    <input aria-label="Days" type="number" min="0" max="36500" class="days" bind:value=r.value />
                    <span class="rule-word">"days"</span>
                }.into_any(),
                (Some(Arity::Range), _) => view! {
                    <input aria-label="From" type=input_type step="any" bind:value=r.value />
                    <span class="rule-word">"and"</span>
                    <input aria-label="To" type=input_type step="any" bind:value=r.high />
                }.into_any(),
                (Some(Arity::List), _) => view! { <Chips list=r.list /> }.into_any(),
                _ => ().into_any(),
            }}
            {move || matches!(t(), Some(AttrType::String | AttrType::Array)).then(|| view! {
                <label class="case">
                    <input type="checkbox" bind:checked=r.case_sensitive />
                    "Match case"
                </label>
            })}
            {move || ctx.error_of(r.key).map(|m| view! { <p class="rule-error" role="alert">{m}</p> })}
        </div>
    }
    .into_any()
}

/// A list value as chips: Enter or a comma adds what was typed.
#[component]
fn Chips(list: RwSignal<Vec<String>>) -> impl IntoView {
    let typed = RwSignal::new(String::new());
    let push = move || {
        let v = typed
            .get_untracked()
            .trim()
            .trim_end_matches(',')
            .to_string();
        if !v.is_empty() {
            list.update(|l| {
                if !l.contains(&v) {
                    l.push(v)
                }
            });
        }
        typed.set(String::new());
    };
    view! {
        <span class="chips">
            {move || list.get().into_iter().map(|c| {
                let gone = c.clone();
                view! {
                    <span class="chip">{c.clone()}
                        <button type="button" class="chip-remove" aria-label=format!("Remove {c}")
                            on:click=move |_| list.update(|l| l.retain(|x| *x != gone))>"×"</button>
                    </span>
                }
            }).collect_view()}
            <input aria-label="Add a value" placeholder="Type a value, Enter" bind:value=typed
                on:keydown=move |ev| {
                    if ev.key() == "Enter" || ev.key() == "," {
                        ev.prevent_default();
                        push();
                    }
                }
                on:blur=move |_| push() />
        </span>
    }
}

/// Picks an attribute: grouped by source, with type icons and a search box.
#[component]
fn AttributePicker(
    current: RwSignal<String>,
    choices: StoredValue<Choices>,
    on_choose: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let search = RwSignal::new(String::new());
    let open = RwSignal::new(false);
    let label = move || {
        let name = current.get();
        match choices.with_value(|c| c.type_of(&name)) {
            Some(t) => format!("{} {name}", type_icon(t)),
            None if name.is_empty() => "Choose an attribute".into(),
            None => format!("? {name}"),
        }
    };
    let groups = move || {
        let q = search.get().to_lowercase();
        let mut groups: Vec<(String, Vec<AttrChoice>)> = Vec::new();
        choices.with_value(|c| {
            for a in c
                .attributes
                .iter()
                .filter(|a| a.name.to_lowercase().contains(&q))
            {
                match groups.iter_mut().find(|(s, _)| *s == a.source) {
                    Some((_, list)) => list.push(a.clone()),
                    None => groups.push((a.source.clone(), vec![a.clone()])),
                }
            }
        });
        groups
    };
    view! {
        <span class="picker">
            <button type="button" class="picker-button" aria-haspopup="listbox" aria-expanded=move || open.get().to_string()
                on:click=move |_| open.update(|o| *o = !*o)>{label}</button>
            <Show when=move || open.get()>
                <div class="picker-panel" role="dialog" aria-label="Attributes"
                    on:keydown=move |ev| if ev.key() == "Escape" { open.set(false) }>
                    <input type="search" aria-label="Search attributes" placeholder="Search attributes" bind:value=search autofocus />
                    {move || groups().into_iter().map(|(source, list)| view! {
                        <p class="picker-source">{source}</p>
                        <ul role="listbox">
                            {list.into_iter().map(|a| {
                                let name = a.name.clone();
                                view! {
                                    <li role="option" aria-selected=move || (current.get() == a.name).to_string()>
                                        <button type="button" on:click=move |_| { on_choose(name.clone()); open.set(false); search.set(String::new()); }>
                                            <span class="type-icon" title=a.attr_type.as_str()>{type_icon(a.attr_type)}</span>
                                            {a.name.clone()}
                                        </button>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }).collect_view()}
                </div>
            </Show>
        </span>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choices() -> Choices {
        let a = |name: &str, attr_type| AttrChoice {
            name: name.into(),
            attr_type,
            source: "custom".into(),
        };
        Choices {
            attributes: vec![
                a("plan", AttrType::String),
                a("mrr", AttrType::Number),
                a("active", AttrType::Boolean),
                a("renews", AttrType::Date),
                a("features", AttrType::Array),
            ],
            segments: vec![SegmentChoice {
                id: 4,
                name: "Pro".into(),
            }],
            total: 0,
        }
    }

    #[test]
    fn a_saved_condition_comes_back_unchanged_from_the_draft() {
        let owner = Owner::new();
        owner.set();
        let c = json!({"any": [
            {"attribute": "plan", "op": "in", "value": ["Pro", "Team"], "case_sensitive": true},
            {"all": [
                {"attribute": "mrr", "op": "between", "value": [10, 99.5]},
                {"attribute": "active", "op": "is", "value": true},
                {"attribute": "renews", "op": "days_ago_lt", "value": 30},
                {"none": []},
            ]},
            {"attribute": "features", "op": "contains", "value": "export"},
            {"attribute": "mrr", "op": "in", "value": [0, 120]},
            {"attribute": "plan", "op": "is_set"},
            {"segment": 4, "op": "not_in"},
        ]});
        let (back, paths) = GroupDraft::from_json(&c).to_json(&choices());
        assert_eq!(back, c);
        let at: Vec<&str> = paths.iter().map(|(_, p)| p.as_str()).collect();
        assert_eq!(
            at,
            [
                "any[0]",
                "any[1]",
                "any[1].all[0]",
                "any[1].all[1]",
                "any[1].all[2]",
                "any[1].all[3]",
                "any[2]",
                "any[3]",
                "any[4]",
                "any[5]"
            ]
        );
        // A bare rule becomes the one rule of an "all" group.
        let rule = json!({"attribute": "plan", "op": "is", "value": "Pro"});
        assert_eq!(
            GroupDraft::from_json(&rule).to_json(&choices()).0,
            json!({"all": [rule]})
        );
    }

    #[test]
    fn values_are_typed_and_what_does_not_read_is_sent_as_typed() {
        let owner = Owner::new();
        owner.set();
        let r = RuleDraft::new("mrr", "gt");
        r.value.set(" 12.5 ".into());
        assert_eq!(r.to_json(Some(AttrType::Number))["value"], json!(12.5));
        r.value.set("twelve".into());
        assert_eq!(r.to_json(Some(AttrType::Number))["value"], json!("twelve"));
        let d = RuleDraft::new("renews", "days_ago_gt");
        d.value.set("7".into());
        assert_eq!(d.to_json(Some(AttrType::Date))["value"], json!(7));
        let s = RuleDraft::new("plan", "is_set");
        s.value.set("left over".into());
        assert!(s.to_json(Some(AttrType::String)).get("value").is_none());
    }
}
