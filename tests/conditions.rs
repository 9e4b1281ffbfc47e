//! Property test: random conditions over random users give the same users
//! through the store (counts and lists: SQL on SQLite and PostgreSQL, and
//! the in-memory segment index) as through the evaluator of
//! `model::condition`, also after random interleaved writes and deletes.
//!
//! The seed is printed; `USERDECK_PROPTEST_SEED=n` replays a run and
//! `USERDECK_PROPTEST_CASES=n` changes how many conditions each database gets.

mod common;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value as Json};
use std::collections::BTreeSet;
use std::sync::Arc;
use userdeck::model::attribute::{format_date, AttrType, AttrValue};
use userdeck::model::condition::{Condition, OPS};
use userdeck::model::profile::{Identify, User};
use userdeck::model::segment::SegmentInput;
use userdeck::model::template::{lacking_condition, Template};
use userdeck::server::store::bulk::{NewAttribute, NewUser};
use userdeck::server::store::list::ListQuery;
use userdeck::server::store::users::{UserKey, Who};
use userdeck::server::store::writer::{WriteOp, Writer};
use userdeck::server::store::Store;

const DAY: i64 = 86_400_000;

const STRINGS: &[&str] = &[
    "Pro",
    "pro",
    "PRO plan",
    "Free",
    "Enterprise",
    "",
    "Émile",
    "émile",
    "a%b_c",
    "v2",
];
const NEEDLES: &[&str] = &[
    "pro", "Pro", "P", "", "an", "émile", "É", "%", "_", "e", "plan", "o p",
];
const NUMBERS: &[f64] = &[0.0, 10.0, 99.5, 120.0, -3.0, 1e6];
const ELEMENTS: &[&str] = &["export", "API", "api", "sso", "Beta", "VIP", "nope"];
const VERSIONS: &[&str] = &["1.2.0", "v1.10.0", "2.0.0-rc.1", "2.0.0", "abc", "1.2"];
const REGEXES: &[&str] = &[
    "^pro",
    "plan$",
    "^[a-z]+$",
    "\\d",
    "É",
    "^$",
    "P.o",
    "(?i)émile",
];

/// The attributes the users may have, with their types.
const CUSTOM: &[(&str, AttrType)] = &[
    ("plan", AttrType::String),
    ("app", AttrType::String),
    ("mrr", AttrType::Number),
    ("renews", AttrType::Date),
    ("features", AttrType::Array),
    ("active", AttrType::Boolean),
];
const NATIVE: &[(&str, AttrType)] = &[
    ("user_id", AttrType::String),
    ("name", AttrType::String),
    ("email", AttrType::String),
    ("language", AttrType::String),
    ("first_seen", AttrType::Date),
    ("last_activity", AttrType::Date),
    ("created", AttrType::Date),
    ("sessions", AttrType::Number),
    ("tags", AttrType::Array),
    ("identified", AttrType::Boolean),
];

/// `make`'s value, with probability `p`.
fn some<T>(rng: &mut StdRng, p: f64, make: impl FnOnce(&mut StdRng) -> T) -> Option<T> {
    if rng.random_bool(p) {
        Some(make(rng))
    } else {
        None
    }
}

/// A time around `now`: whole days either way plus a part of a day.
fn around(rng: &mut StdRng, now: i64) -> i64 {
    now + rng.random_range(-40..40) * DAY + rng.random_range(0..DAY)
}

fn subset(rng: &mut StdRng, pool: &[&str], max: usize) -> Vec<String> {
    let n = rng.random_range(0..=max);
    (0..n)
        .map(|_| pool.choose(rng).unwrap().to_string())
        .collect()
}

fn random_user(rng: &mut StdRng, i: usize, now: i64) -> NewUser {
    let pick = |rng: &mut StdRng, pool: &[&str]| pool.choose(rng).unwrap().to_string();
    let mut attributes = Vec::new();
    for (name, t) in CUSTOM {
        if !rng.random_bool(0.75) {
            continue;
        }
        let value = match t {
            AttrType::String if *name == "app" => AttrValue::String(pick(rng, VERSIONS)),
            AttrType::String => AttrValue::String(pick(rng, STRINGS)),
            AttrType::Number => AttrValue::Number(*NUMBERS.choose(rng).unwrap()),
            AttrType::Date => {
                AttrValue::Date(chrono::DateTime::from_timestamp_millis(around(rng, now)).unwrap())
            }
            AttrType::Array => {
                let mut items = subset(rng, ELEMENTS, 3);
                items.dedup();
                AttrValue::Array(items)
            }
            AttrType::Boolean => AttrValue::Boolean(rng.random_bool(0.5)),
        };
        attributes.push(NewAttribute {
            name: name.to_string(),
            value,
            source: "custom",
            updated_at: now,
        });
    }
    let name = some(rng, 0.8, |r| pick(r, STRINGS)).filter(|n| !n.is_empty());
    let mut tags = subset(rng, &["beta", "VIP", "churn-risk"], 2);
    tags.sort();
    tags.dedup();
    NewUser {
        jimer_id: format!("j_prop{i:06}"),
        user_id: some(rng, 0.7, |_| format!("u{i}")),
        name,
        email: some(rng, 0.7, |r| {
            format!("{}{i}@Example.com", pick(r, &["sam", "Ana", "émile"]))
        }),
        language: some(rng, 0.6, |r| pick(r, &["en", "EN", "fr"])),
        first_seen: some(rng, 0.8, |r| around(r, now)),
        last_activity: some(rng, 0.8, |r| around(r, now)),
        sessions: rng.random_range(0..12),
        created: around(rng, now),
        tags,
        attributes,
    }
}

fn iso(rng: &mut StdRng, now: i64) -> Json {
    let t = chrono::DateTime::from_timestamp_millis(around(rng, now)).unwrap();
    if rng.random_bool(0.5) {
        json!(t.format("%Y-%m-%d").to_string())
    } else {
        json!(format_date(&t))
    }
}

fn number_or_date(rng: &mut StdRng, t: AttrType, now: i64) -> Json {
    match t {
        AttrType::Date => iso(rng, now),
        _ => json!(NUMBERS.choose(rng).unwrap()),
    }
}

/// A random rule that fits its attribute's type.
fn random_rule(rng: &mut StdRng, now: i64) -> Json {
    let (attribute, t) = if rng.random_bool(0.6) {
        *CUSTOM.choose(rng).unwrap()
    } else {
        *NATIVE.choose(rng).unwrap()
    };
    let ops: Vec<_> = OPS.iter().filter(|(_, o)| o.types().contains(&t)).collect();
    let (name, _) = ops.choose(rng).unwrap();
    let texts = |rng: &mut StdRng, pool: &[&str]| json!(subset(rng, pool, 3));
    let value = match *name {
        "is_set" | "is_not_set" | "is_empty" | "is_not_empty" => None,
        "is" | "is_not" => Some(match t {
            AttrType::String => json!(STRINGS.choose(rng).unwrap()),
            AttrType::Boolean => json!(rng.random_bool(0.5)),
            other => number_or_date(rng, other, now),
        }),
        "in" | "not_in" => Some(match t {
            AttrType::Number => {
                json!((0..rng.random_range(0..3))
                    .map(|_| *NUMBERS.choose(rng).unwrap())
                    .collect::<Vec<_>>())
            }
            _ => texts(rng, STRINGS),
        }),
        "contains" | "not_contains" if t == AttrType::Array => {
            Some(json!(ELEMENTS.choose(rng).unwrap()))
        }
        "contains" | "not_contains" | "starts_with" | "ends_with" => {
            Some(json!(NEEDLES.choose(rng).unwrap()))
        }
        "matches" => Some(json!(REGEXES.choose(rng).unwrap())),
        "gt" | "gte" | "lt" | "lte" => Some(number_or_date(rng, t, now)),
        "between" => Some(json!([
            number_or_date(rng, t, now),
            number_or_date(rng, t, now)
        ])),
        "days_ago_gt" | "days_ago_lt" | "days_ago_eq" | "days_ahead_lt" => {
            Some(json!(rng.random_range(0..45)))
        }
        "contains_any" | "contains_all" => Some(texts(rng, ELEMENTS)),
        v if v.starts_with("version_") => Some(json!(VERSIONS.choose(rng).unwrap())),
        other => panic!("no value generator for `{other}`"),
    };
    let mut rule = json!({"attribute": attribute, "op": name});
    if let Some(v) = value {
        rule["value"] = v;
    }
    if rng.random_bool(0.3) {
        rule["case_sensitive"] = json!(true);
    }
    rule
}

fn random_condition(rng: &mut StdRng, now: i64, depth: usize, segments: &[i64]) -> Json {
    let leaf = depth >= 3 || rng.random_bool(0.45);
    if leaf {
        if !segments.is_empty() && rng.random_bool(0.1) {
            let op = if rng.random_bool(0.5) { "in" } else { "not_in" };
            return json!({"segment": segments.choose(rng).unwrap(), "op": op});
        }
        return random_rule(rng, now);
    }
    let n = rng.random_range(0..4);
    let children: Vec<Json> = (0..n)
        .map(|_| random_condition(rng, now, depth + 1, segments))
        .collect();
    let group = ["all", "any", "none"].choose(rng).unwrap();
    json!({ *group: children })
}

async fn users_matching_sql(
    store: &Store,
    ws: i64,
    condition: &Json,
    now: i64,
) -> BTreeSet<String> {
    let checked = store
        .check_condition(ws, &Condition::parse(condition).unwrap(), None)
        .await
        .unwrap()
        .unwrap();
    let prepared = Arc::new(store.prepare(ws, checked, now).await.unwrap());
    let count = store.count_matching(&prepared).await.unwrap();
    let page = store
        .list_users(
            ws,
            &ListQuery {
                limit: 1000,
                condition: Some(prepared),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, count, "the list's total and the count agree");
    assert_eq!(page.users.len() as i64, count, "{condition}");
    page.users.into_iter().map(|u| u.jimer_id).collect()
}

/// Every user of the workspace (the tests hold fewer than 1000).
async fn all_users(store: &Store, ws: i64) -> Vec<User> {
    store
        .list_users(
            ws,
            &ListQuery {
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .users
}

/// Checks that the store (count and list) and the evaluator find the same
/// users for `condition`; panics naming a few users they disagree on.
/// Answers None for a condition that does not check, else whether it kept
/// some users but not all.
async fn agree(
    store: &Store,
    ws: i64,
    everyone: &[User],
    condition: &Json,
    now: i64,
    what: &str,
) -> Option<bool> {
    let parsed = Condition::parse(condition).unwrap();
    let rust = store
        .check_condition(ws, &parsed, None)
        .await
        .unwrap()
        .ok()?;
    let want: BTreeSet<String> = everyone
        .iter()
        .filter(|u| rust.matches(u, now))
        .map(|u| u.jimer_id.clone())
        .collect();
    let got = users_matching_sql(store, ws, condition, now).await;
    if got != want {
        let show = |ids: Vec<&String>| {
            ids.iter()
                .map(|j| {
                    let u = everyone.iter().find(|u| &u.jimer_id == *j).unwrap();
                    serde_json::to_string(u).unwrap()
                })
                .collect::<Vec<_>>()
        };
        panic!(
            "{what}: the store and the evaluator disagree on\n{condition}\nstore only: {:?}\nevaluator only: {:?}",
            show(got.difference(&want).take(3).collect()),
            show(want.difference(&got).take(3).collect())
        );
    }
    let count = store.count_checked(ws, rust.clone(), now).await.unwrap();
    assert_eq!(
        count,
        want.len() as i64,
        "{what}: the count of\n{condition}"
    );
    if let Some(index) = store.index.as_deref().filter(|i| i.is_ready()) {
        // Each user's own decision (a user's segments) from their slot.
        let uids: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, jimer_id FROM users WHERE workspace_id = $1")
                .bind(ws)
                .fetch_all(&store.pool)
                .await
                .unwrap();
        let one_by_one: BTreeSet<String> = index.read(ws, |w| {
            uids.iter()
                .filter(|(uid, _)| w.slot(*uid).is_some_and(|s| w.decide(s, rust.root(), now)))
                .map(|(_, j)| j.clone())
                .collect()
        });
        assert_eq!(
            one_by_one, want,
            "{what}: the index's decision user by user on\n{condition}"
        );
    }
    Some(!want.is_empty() && want.len() < everyone.len())
}

/// Each user's saved segments (`segments_of`: the index when it is ready)
/// are those whose condition the evaluator says they match.
async fn segments_agree(store: &Store, ws: i64, everyone: &[User], now: i64, what: &str) {
    let saved = store.segments(ws).await.unwrap();
    let mut checked = Vec::new();
    for s in &saved {
        if let Ok(c) = store.check_condition(ws, &s.condition, None).await.unwrap() {
            checked.push((s.name.clone(), c));
        }
    }
    let mut memberships = 0;
    for u in everyone {
        let want: Vec<String> = checked
            .iter()
            .filter(|(_, c)| c.matches(u, now))
            .map(|(name, _)| name.clone())
            .collect();
        let got: Vec<String> = store
            .segments_of(ws, Who::JimerId(&u.jimer_id), now)
            .await
            .unwrap()
            .expect("a stored user")
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(got, want, "{what}: the segments of {}", u.jimer_id);
        memberships += want.len();
    }
    assert!(
        store
            .segments_of(ws, Who::JimerId("j_nobody"), now)
            .await
            .unwrap()
            .is_none(),
        "{what}: no segments for an unknown user"
    );
    println!(
        "{what}: {} users' segments agreed ({memberships} memberships of {} segments)",
        everyone.len(),
        saved.len()
    );
}

#[tokio::test]
async fn sql_and_the_evaluator_agree_on_random_conditions() {
    let seed = std::env::var("USERDECK_PROPTEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random::<u64>());
    let cases: usize = std::env::var("USERDECK_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    println!(
        "seed {seed} (USERDECK_PROPTEST_SEED={seed} replays it), {cases} conditions per database"
    );
    for db in common::databases().await {
        let (s, n) = (&db.store, db.name);
        let mut rng = StdRng::seed_from_u64(seed);
        let ws = s.default_workspace().await.unwrap().id;
        let now = 1_790_000_000_000 + rng.random_range(0..DAY);
        let users: Vec<NewUser> = (0..300).map(|i| random_user(&mut rng, i, now)).collect();
        s.insert_users(ws, &users).await.unwrap();
        let everyone = all_users(s, ws).await;
        assert_eq!(everyone.len(), 300);

        // Saved segments for conditions to refer to (the second uses the first).
        let mut segments = Vec::new();
        for i in 0..3 {
            let condition = random_condition(&mut rng, now, 1, &segments);
            let input =
                SegmentInput::from_json(&json!({"name": format!("s{i}"), "condition": condition}));
            let Ok(input) = input else { continue };
            if let Ok(saved) = s.save_segment(ws, None, &input).await {
                segments.push(saved.id);
            }
        }

        let (mut checked, mut matched) = (0, 0);
        for case in 0..cases {
            let condition = random_condition(&mut rng, now, 0, &segments);
            let what = format!("{n}, seed {seed}, case {case}");
            let Some(some) = agree(s, ws, &everyone, &condition, now, &what).await else {
                continue;
            };
            checked += 1;
            matched += usize::from(some);
        }
        println!("{n}: {checked} conditions agreed ({matched} matched some users but not all)");
        segments_agree(s, ws, &everyone, now, n).await;

        // Who lacks a template variable: SQL (the editor's coverage figures)
        // and the renderer (what each user sees) agree.
        let types = |name: &str| CUSTOM.iter().find(|(c, _)| *c == name).map(|(_, t)| *t);
        for var in [
            "plan",
            "features",
            "mrr",
            "active",
            "firstName",
            "lastName",
            "email",
            "tags",
            "shoe",
        ] {
            let template = Template::parse(&format!("{{{var}}}")).unwrap();
            let want = everyone
                .iter()
                .filter(|u| {
                    !template
                        .render(u, &|x| types(x).is_some())
                        .missing
                        .is_empty()
                        || !template
                            .render(u, &|x| types(x).is_some())
                            .unknown
                            .is_empty()
                })
                .count() as i64;
            let got = match lacking_condition(var, &types) {
                None => everyone.len() as i64,
                Some(c) => {
                    let f = s
                        .filter(ws, &Condition::parse(&c).unwrap(), now)
                        .await
                        .unwrap();
                    s.count_matching(&f).await.unwrap()
                }
            };
            assert_eq!(got, want, "{n}: users lacking {{{var}}}");
        }
        assert!(
            checked >= cases * 9 / 10,
            "{n}: most random conditions are valid"
        );
        assert!(
            matched >= checked / 4,
            "{n}: the conditions tell users apart"
        );

        // Random writes and deletes through the writer, in groups as they
        // come (the index follows each committed group), then random
        // conditions again over the users as they are now.
        let writer = Writer::start(s.clone());
        let mut writes = 0;
        for _ in 0..40 {
            let ops: Vec<WriteOp> = (0..rng.random_range(1..25))
                .map(|_| random_write(&mut rng, ws, now))
                .collect();
            writes += ops.len();
            writer.write_many(ops).await;
        }
        let everyone = all_users(s, ws).await;
        for case in 0..cases / 4 {
            let condition = random_condition(&mut rng, now, 0, &segments);
            let what = format!("{n}, seed {seed}, case {case} after {writes} writes");
            agree(s, ws, &everyone, &condition, now, &what).await;
        }
        println!(
            "{n}: {} users after {writes} random writes and deletes agreed",
            everyone.len()
        );
        segments_agree(s, ws, &everyone, now, &format!("{n} after writes")).await;
    }
}

/// A random change through the writer: identify (attributes set, changed or
/// removed), a page load, tags, or a delete, of an existing user or a new one.
fn random_write(rng: &mut StdRng, ws: i64, now: i64) -> WriteOp {
    let i = rng.random_range(0..360);
    let jimer = format!("j_prop{i:06}");
    match rng.random_range(0..10) {
        0 => WriteOp::DeleteUser {
            workspace: ws,
            user: UserKey::JimerId(jimer),
        },
        1 => WriteOp::Visit {
            workspace: ws,
            jimer_id: jimer,
        },
        2 => WriteOp::Retag {
            workspace: ws,
            user: UserKey::JimerId(jimer),
            add: subset(rng, &["beta", "VIP", "new"], 2),
            remove: subset(rng, &["beta", "churn-risk"], 1),
        },
        _ => {
            let fresh = random_user(rng, i, now);
            let mut attributes = serde_json::Map::new();
            for a in fresh.attributes {
                attributes.insert(a.name, a.value.to_json());
            }
            for (name, _) in CUSTOM {
                if rng.random_bool(0.1) {
                    attributes.insert(name.to_string(), Json::Null);
                }
            }
            let input = Identify::from_json(&json!({
                "user_id": format!("u{i}"),
                "name": fresh.name,
                "email": fresh.email,
                "attributes": attributes,
            }))
            .unwrap();
            WriteOp::Identify {
                workspace: ws,
                input,
            }
        }
    }
}

/// The index is filled in the background while the writer goes on: users the
/// writer changes during the load must end as the database has them.
#[tokio::test]
async fn the_index_filled_during_writes_ends_as_the_database() {
    let seed = rand::rng().random::<u64>();
    println!("seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let db = common::sqlite().await;
    let sql = db.store.clone();
    let ws = sql.default_workspace().await.unwrap().id;
    let now = 1_790_000_000_000 + rng.random_range(0..DAY);
    let users: Vec<NewUser> = (0..300).map(|i| random_user(&mut rng, i, now)).collect();
    sql.insert_users(ws, &users).await.unwrap();
    // 40,000 more plain users so the load takes a while.
    let filler: Vec<NewUser> = (300..40_300)
        .map(|i| NewUser {
            jimer_id: format!("j_fill{i:06}"),
            sessions: 1,
            created: now,
            ..random_user(&mut rng, i, now)
        })
        .collect();
    for chunk in filler.chunks(5000) {
        sql.insert_users(ws, chunk).await.unwrap();
    }
    let mut indexed = sql.clone();
    indexed.attach_index();
    let writer = Writer::start(indexed.clone());
    let fill = tokio::spawn({
        let indexed = indexed.clone();
        async move { indexed.fill_index().await.unwrap() }
    });
    let mut writes = 0;
    while !fill.is_finished() || writes < 200 {
        let ops: Vec<WriteOp> = (0..rng.random_range(1..20))
            .map(|_| random_write(&mut rng, ws, now))
            .collect();
        writes += ops.len();
        writer.write_many(ops).await;
    }
    fill.await.unwrap();
    assert!(indexed.index.as_ref().unwrap().is_ready());
    let mut checked = 0;
    for _ in 0..150 {
        let condition = random_condition(&mut rng, now, 0, &[]);
        let parsed = Condition::parse(&condition).unwrap();
        let Ok(c) = sql.check_condition(ws, &parsed, None).await.unwrap() else {
            continue;
        };
        let from_sql = sql.prepare(ws, c.clone(), now).await.unwrap();
        let from_index = indexed.prepare(ws, c, now).await.unwrap();
        assert_eq!(
            indexed.count_matching(&from_index).await.unwrap(),
            sql.count_matching(&from_sql).await.unwrap(),
            "seed {seed}, after {writes} writes during the load: {condition}"
        );
        checked += 1;
    }
    println!("{checked} conditions agreed after {writes} writes during the load");
}
