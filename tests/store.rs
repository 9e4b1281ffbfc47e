//! The store and its writer, on SQLite and (when configured) PostgreSQL.

mod common;

use serde_json::json;
use userdeck::model::attribute::{AttrType, AttrValue};
use userdeck::model::profile::{Identify, ProfileUpdate};
use userdeck::server::store::bulk::{NewAttribute, NewUser};
use userdeck::server::store::list::{ListQuery, Sort};
use userdeck::server::store::users::{UserKey, Who};
use userdeck::server::store::writer::{WriteError, WriteOp, WriteOutcome, Writer};
use userdeck::server::store::Store;

fn identify(ws: i64, body: serde_json::Value) -> WriteOp {
    WriteOp::Identify {
        workspace: ws,
        input: Identify::from_json(&body).expect("valid identify"),
    }
}

async fn users_of(store: &Store, ws: i64, name: &str) -> i64 {
    store
        .definitions(ws)
        .await
        .unwrap()
        .iter()
        .find(|d| d.name == name)
        .map_or(0, |d| d.users)
}

fn new_user(i: u32, attrs: Vec<NewAttribute>) -> NewUser {
    NewUser {
        jimer_id: format!("j_bulk{i:08}"),
        user_id: Some(format!("bulk-{i:05}")),
        name: Some(format!("Person {i}")),
        email: Some(format!("p{i}@example.com")),
        language: Some("en".into()),
        first_seen: Some(1_700_000_000_000 + i64::from(i)),
        last_activity: Some(1_700_000_100_000 + i64::from(i % 7) * 1000),
        sessions: i64::from(i % 5),
        created: 1_700_000_000_000 + i64::from(i),
        tags: vec![],
        attributes: attrs,
    }
}

#[tokio::test]
async fn migrations_are_idempotent_and_the_workspace_is_stable() {
    for db in common::databases().await {
        let ws = db.store.default_workspace().await.unwrap();
        let again = Store::open(&db.url).await.unwrap();
        assert_eq!(again.default_workspace().await.unwrap(), ws, "{}", db.name);
        assert!(
            ws.sdk_key.starts_with("pk_") && ws.secret_key.starts_with("sk_"),
            "{}",
            db.name
        );
        assert!(again.ping().await);
    }
}

#[tokio::test]
async fn identify_creates_updates_and_reads_back() {
    for db in common::databases().await {
        let (s, n) = (&db.store, db.name);
        let ws = s.default_workspace().await.unwrap().id;
        let w = Writer::start(s.clone());
        let out = w
            .write(identify(ws, json!({"user_id": "u1", "name": "Sam", "attributes": {"plan": "Pro", "seats": 3, "signup": "2024-06-15"}})))
            .await
            .unwrap();
        let WriteOutcome::User(u) = out else {
            panic!("{n}: {out:?}")
        };
        assert_eq!(u.attributes.len(), 3, "{n}");
        let read = s.user(ws, Who::UserId("u1")).await.unwrap().unwrap();
        assert_eq!(
            &read,
            u.as_ref(),
            "{n}: what identify answers is what is stored"
        );
        let signup = read.attributes.iter().find(|a| a.name == "signup").unwrap();
        assert_eq!(signup.attr_type, AttrType::Date, "{n}");

        // Update: convert "5" to the number key, remove plan, keep signup.
        w.write(identify(
            ws,
            json!({"user_id": "u1", "attributes": {"seats": "5", "plan": null}}),
        ))
        .await
        .unwrap();
        let read = s.user(ws, Who::UserId("u1")).await.unwrap().unwrap();
        let names: Vec<_> = read
            .attributes
            .iter()
            .map(|a| (a.name.as_str(), a.value.clone()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("seats", AttrValue::Number(5.0)),
                ("signup", AttrValue::Date(signup.value.clone().date()))
            ],
            "{n}"
        );
        assert_eq!(
            users_of(s, ws, "plan").await,
            0,
            "{n}: plan was removed from its only user"
        );
        assert_eq!(users_of(s, ws, "seats").await, 1, "{n}");
    }
}

trait DateOf {
    fn date(self) -> chrono::DateTime<chrono::Utc>;
}
impl DateOf for AttrValue {
    fn date(self) -> chrono::DateTime<chrono::Utc> {
        match self {
            AttrValue::Date(d) => d,
            other => panic!("not a date: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_rejected_change_leaves_nothing_even_inside_a_group() {
    for db in common::databases().await {
        let (s, n) = (&db.store, db.name);
        let ws = s.default_workspace().await.unwrap().id;
        let w = Writer::start(s.clone());
        w.write(identify(
            ws,
            json!({"user_id": "a", "attributes": {"seats": 3}}),
        ))
        .await
        .unwrap();
        // Sent together, so they share one transaction.
        let results = w
            .write_many(vec![
                identify(ws, json!({"user_id": "b", "attributes": {"plan": "Pro"}})),
                identify(ws, json!({"user_id": "c", "name": "C", "attributes": {"color": "red", "seats": "many"}})),
                identify(ws, json!({"user_id": "a", "attributes": {"plan": "Free"}})),
            ])
            .await;
        assert!(results[0].is_ok() && results[2].is_ok(), "{n}: {results:?}");
        match &results[1] {
            Err(WriteError::Rejected(e)) => assert_eq!(e.code, "type_conflict", "{n}"),
            other => panic!("{n}: {other:?}"),
        }
        assert!(
            s.user(ws, Who::UserId("c")).await.unwrap().is_none(),
            "{n}: the rejected user was not created"
        );
        assert!(
            s.definitions(ws)
                .await
                .unwrap()
                .iter()
                .all(|d| d.name != "color"),
            "{n}: no definition for color"
        );
        assert_eq!(users_of(s, ws, "plan").await, 2, "{n}");
    }
}

#[tokio::test]
async fn sessions_and_folding_an_anonymous_visitor_into_a_user() {
    for db in common::databases().await {
        let (s, n) = (&db.store, db.name);
        let ws = s.default_workspace().await.unwrap().id;
        let w = Writer::start(s.clone());
        let visit = |j: &str| WriteOp::Visit {
            workspace: ws,
            jimer_id: j.into(),
        };
        w.write(visit("j_anon0001")).await.unwrap();
        w.write(visit("j_anon0001")).await.unwrap();
        let anon = s
            .user(ws, Who::JimerId("j_anon0001"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            anon.sessions, 1,
            "{n}: two page loads in a row are one session"
        );
        assert!(
            anon.first_seen.is_some() && anon.last_activity.is_some() && anon.user_id.is_none(),
            "{n}"
        );

        // 31 minutes of inactivity later, a new session.
        sqlx::query("UPDATE users SET last_activity = last_activity - $1 WHERE jimer_id = $2")
            .bind(31 * 60 * 1000_i64)
            .bind("j_anon0001")
            .execute(&s.pool)
            .await
            .unwrap();
        w.write(visit("j_anon0001")).await.unwrap();
        assert_eq!(
            s.user(ws, Who::JimerId("j_anon0001"))
                .await
                .unwrap()
                .unwrap()
                .sessions,
            2,
            "{n}"
        );

        let update = ProfileUpdate::from_object(
            json!({"attributes": {"plan": "Pro", "color": "blue"}})
                .as_object()
                .unwrap(),
            &[],
        )
        .unwrap();
        w.write(WriteOp::SdkUpdate {
            workspace: ws,
            jimer_id: "j_anon0001".into(),
            update,
        })
        .await
        .unwrap();
        w.write(identify(ws, json!({"user_id": "known", "email": "k@example.com", "attributes": {"company": "Acme", "color": "green"}})))
            .await
            .unwrap();
        let known = s.user(ws, Who::UserId("known")).await.unwrap().unwrap();

        let out = w
            .write(WriteOp::SdkIdentify {
                workspace: ws,
                jimer_id: "j_anon0001".into(),
                user_id: "known".into(),
            })
            .await
            .unwrap();
        assert_eq!(
            out,
            WriteOutcome::Linked {
                jimer_id: known.jimer_id.clone(),
                user_id: Some("known".into())
            },
            "{n}"
        );
        assert!(
            s.user(ws, Who::JimerId("j_anon0001"))
                .await
                .unwrap()
                .is_none(),
            "{n}: the anonymous profile is gone"
        );
        let merged = s.user(ws, Who::UserId("known")).await.unwrap().unwrap();
        let value = |k: &str| {
            merged
                .attributes
                .iter()
                .find(|a| a.name == k)
                .map(|a| a.value.clone())
        };
        assert_eq!(
            value("company"),
            Some(AttrValue::String("Acme".into())),
            "{n}"
        );
        assert_eq!(value("plan"), Some(AttrValue::String("Pro".into())), "{n}");
        assert_eq!(
            value("color"),
            Some(AttrValue::String("green".into())),
            "{n}: the newer value wins"
        );
        assert_eq!(merged.sessions, 2, "{n}: sessions add up");
        assert_eq!(merged.first_seen, anon.first_seen, "{n}");
        assert_eq!(
            users_of(s, ws, "color").await,
            1,
            "{n}: counts follow the fold"
        );
        assert_eq!(users_of(s, ws, "plan").await, 1, "{n}");

        // A first identify of a new visitor just names the profile.
        w.write(visit("j_fresh0001")).await.unwrap();
        let out = w
            .write(WriteOp::SdkIdentify {
                workspace: ws,
                jimer_id: "j_fresh0001".into(),
                user_id: "newbie".into(),
            })
            .await
            .unwrap();
        assert_eq!(
            out,
            WriteOutcome::Linked {
                jimer_id: "j_fresh0001".into(),
                user_id: Some("newbie".into())
            },
            "{n}"
        );
        // Folding deleted the anonymous profiles: the kept count agrees.
        let counted: i64 = sqlx::query_scalar("SELECT users_count FROM workspaces WHERE id = $1")
            .bind(ws)
            .fetch_one(&s.pool)
            .await
            .unwrap();
        let real: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE workspace_id = $1")
            .bind(ws)
            .fetch_one(&s.pool)
            .await
            .unwrap();
        assert_eq!(counted, real, "{n}");
    }
}

#[tokio::test]
async fn bulk_insert_list_pages_search_and_delete() {
    for db in common::databases().await {
        let (s, n) = (&db.store, db.name);
        let ws = s.default_workspace().await.unwrap().id;
        let users: Vec<NewUser> = (0..120)
            .map(|i| {
                new_user(
                    i,
                    vec![NewAttribute {
                        name: "plan".into(),
                        value: AttrValue::String(if i % 2 == 0 { "Pro" } else { "Free" }.into()),
                        source: if i % 3 == 0 { "hubspot" } else { "custom" },
                        updated_at: 1_700_000_000_000,
                    }],
                )
            })
            .collect();
        s.insert_users(ws, &users).await.unwrap();
        let defs = s.definitions(ws).await.unwrap();
        assert_eq!(defs[0].users, 120, "{n}");
        assert_eq!(
            defs[0].sources,
            vec!["custom".to_string(), "hubspot".to_string()],
            "{n}"
        );

        for sort in [
            "-last_activity",
            "created",
            "-name",
            "sessions",
            "user_id",
            "-email",
            "first_seen",
        ] {
            let sort = Sort::parse(sort).unwrap();
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let page = s
                    .list_users(
                        ws,
                        &ListQuery {
                            sort: sort.clone(),
                            limit: 25,
                            cursor: cursor.take(),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                assert_eq!(page.total, 120, "{n}");
                seen.extend(page.users.iter().map(|u| u.user_id.clone().unwrap()));
                match page.next_cursor {
                    Some(c) => {
                        cursor =
                            Some(userdeck::server::store::list::Cursor::decode(&c, &sort).unwrap())
                    }
                    None => break,
                }
            }
            let mut unique = seen.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), 120, "{n} {sort:?}: every user exactly once");
        }

        let page = s
            .list_users(
                ws,
                &ListQuery {
                    search: Some("PERSON 11".into()),
                    limit: 50,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(page.total, 11, "{n}: Person 11 and Person 110..119");
        let page = s
            .list_users(
                ws,
                &ListQuery {
                    search: Some("bulk-00007".into()),
                    limit: 50,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(page.total, 1, "{n}: exact user id");

        let w = Writer::start(s.clone());
        let out = w
            .write(WriteOp::DeleteUser {
                workspace: ws,
                user: UserKey::UserId("bulk-00000".into()),
            })
            .await
            .unwrap();
        assert_eq!(out, WriteOutcome::Deleted(true), "{n}");
        let out = w
            .write(WriteOp::DeleteUser {
                workspace: ws,
                user: UserKey::UserId("bulk-00000".into()),
            })
            .await
            .unwrap();
        assert_eq!(out, WriteOutcome::Deleted(false), "{n}");
        for (has, total) in [("plan", 119), ("no_such_attribute", 0)] {
            let q = ListQuery {
                has: Some(has.into()),
                limit: 10,
                ..Default::default()
            };
            assert_eq!(
                s.list_users(ws, &q).await.unwrap().total,
                total,
                "{n}: users with {has}"
            );
        }
        assert_eq!(users_of(s, ws, "plan").await, 119, "{n}");
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM attributes")
            .fetch_one(&s.pool)
            .await
            .unwrap();
        assert_eq!(left, 119, "{n}: the deleted user's attributes are gone");
    }
}

#[tokio::test]
async fn remove_unspecified_keeps_synced_values() {
    for db in common::databases().await {
        let (s, n) = (&db.store, db.name);
        let ws = s.default_workspace().await.unwrap().id;
        let mut u = new_user(1, vec![]);
        u.attributes = vec![
            NewAttribute {
                name: "crm_stage".into(),
                value: AttrValue::String("lead".into()),
                source: "hubspot",
                updated_at: 1,
            },
            NewAttribute {
                name: "plan".into(),
                value: AttrValue::String("Pro".into()),
                source: "custom",
                updated_at: 1,
            },
            NewAttribute {
                name: "seats".into(),
                value: AttrValue::Number(2.0),
                source: "custom",
                updated_at: 1,
            },
        ];
        s.insert_users(ws, &[u]).await.unwrap();
        let w = Writer::start(s.clone());
        w.write(identify(ws, json!({"user_id": "bulk-00001", "attributes": {"seats": 4}, "remove_unspecified": true})))
            .await
            .unwrap();
        let user = s
            .user(ws, Who::UserId("bulk-00001"))
            .await
            .unwrap()
            .unwrap();
        let names: Vec<_> = user.attributes.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, vec!["crm_stage", "seats"], "{n}");
        assert_eq!(
            user.name.as_deref(),
            Some("Person 1"),
            "{n}: native fields are untouched"
        );
    }
}

#[tokio::test]
async fn changes_to_new_profiles_within_one_group() {
    for db in common::databases().await {
        let (s, n) = (&db.store, db.name);
        let ws = s.default_workspace().await.unwrap().id;
        let w = Writer::start(s.clone());
        // Sent together: one group, where x and y are created, changed and
        // deleted before anything of them reaches the database.
        let results = w
            .write_many(vec![
                identify(ws, json!({"user_id": "x", "attributes": {"a": 1}})),
                identify(
                    ws,
                    json!({"user_id": "x", "name": "Xavier", "attributes": {"b": "two"}}),
                ),
                identify(ws, json!({"user_id": "y", "attributes": {"c": true}})),
                WriteOp::DeleteUser {
                    workspace: ws,
                    user: UserKey::UserId("y".into()),
                },
                WriteOp::Visit {
                    workspace: ws,
                    jimer_id: "j_groupvisit1".into(),
                },
                WriteOp::SdkUpdate {
                    workspace: ws,
                    jimer_id: "j_groupvisit1".into(),
                    update: ProfileUpdate::from_object(
                        json!({"attributes": {"d": "dee"}}).as_object().unwrap(),
                        &[],
                    )
                    .unwrap(),
                },
                WriteOp::SdkIdentify {
                    workspace: ws,
                    jimer_id: "j_groupvisit1".into(),
                    user_id: "x".into(),
                },
            ])
            .await;
        assert!(results.iter().all(Result::is_ok), "{n}: {results:?}");
        assert_eq!(
            results[3].as_ref().unwrap(),
            &WriteOutcome::Deleted(true),
            "{n}"
        );
        let x = s.user(ws, Who::UserId("x")).await.unwrap().unwrap();
        let names: Vec<_> = x.attributes.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, vec!["a", "b", "d"], "{n}");
        assert_eq!(x.name.as_deref(), Some("Xavier"), "{n}");
        assert_eq!(x.sessions, 1, "{n}: the folded visitor's session");
        assert!(s.user(ws, Who::UserId("y")).await.unwrap().is_none(), "{n}");
        assert!(
            s.user(ws, Who::JimerId("j_groupvisit1"))
                .await
                .unwrap()
                .is_none(),
            "{n}"
        );
        for (name, users) in [("a", 1), ("b", 1), ("c", 0), ("d", 1)] {
            assert_eq!(users_of(s, ws, name).await, users, "{n}: users of {name}");
        }
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&s.pool)
            .await
            .unwrap();
        assert_eq!(rows, 1, "{n}: only x is stored");
    }
}
