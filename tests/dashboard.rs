//! The dashboard's actions over HTTP, as the browser's forms send them (the
//! Playwright tests drive the same through Chromium): search at both index
//! paths, tags, delete with confirmation, attribute columns, the CSV export,
//! invitations, and attribute distributions; on SQLite and PostgreSQL.

mod common;

use common::site::{session_of, Site, SAME};
use serde_json::json;
use userdeck::model::distribution::Distribution;
use userdeck::model::profile::Identify;
use userdeck::server::store::list::{Cursor, ListQuery, Sort};
use userdeck::server::store::users::Who;
use userdeck::server::store::writer::WriteOp;

async fn load(site: &Site, ws: i64, bodies: Vec<serde_json::Value>) {
    let ops = bodies
        .into_iter()
        .map(|b| WriteOp::Identify {
            workspace: ws,
            input: Identify::from_json(&b).expect("valid identify"),
        })
        .collect();
    for r in site.state.writer.write_many(ops).await {
        r.expect("written");
    }
}

/// A signed-in site with a few users.
async fn signed_in(db: &common::TestDb) -> (Site, String, i64) {
    let ws = db.store.default_workspace().await.unwrap().id;
    db.store
        .create_account(ws, "owner@example.com", "correct horse battery")
        .await
        .unwrap();
    let site = Site::new(db).await;
    let a = site
        .post(
            "/sign-in",
            "email=owner%40example.com&password=correct+horse+battery",
            SAME,
            None,
        )
        .await;
    let session = session_of(&a);
    load(
        &site,
        ws,
        vec![
            json!({"user_id": "u1", "name": "Sam Taylor", "email": "sam@acme.io",
                   "attributes": {"plan": "Pro", "mrr": 120, "signup": "2026-01-05", "features": ["export", "api"], "beta": true}}),
            json!({"user_id": "u2", "name": "Samira Zhou", "email": "samira@globex.com",
                   "attributes": {"plan": "Free", "mrr": 0, "signup": "2026-03-20", "features": ["export"], "beta": false}}),
            json!({"user_id": "u3", "name": "Léa Müller", "email": "lea@acme.io",
                   "attributes": {"plan": "Pro", "mrr": 480, "signup": "2026-06-30", "company": "=HYPERLINK(\"http://evil\")"}}),
            json!({"user_id": "sam", "name": "Other", "email": "o@x.org"}),
        ],
    )
    .await;
    (site, session, ws)
}

async fn total(db: &common::TestDb, ws: i64, search: &str) -> (i64, Vec<String>) {
    let page = db
        .store
        .list_users(
            ws,
            &ListQuery {
                search: Some(search.into()),
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut ids: Vec<String> = page
        .users
        .iter()
        .filter_map(|u| u.user_id.clone())
        .collect();
    ids.sort();
    (page.total, ids)
}

#[tokio::test]
async fn search_finds_substrings_and_exact_ids_and_follows_changes() {
    for db in common::databases().await {
        let n = db.name;
        let (site, _, ws) = signed_in(&db).await;
        // Three characters or more go through the trigram index; fewer scan.
        assert_eq!(
            total(&db, ws, "sam").await,
            (3, vec!["sam".into(), "u1".into(), "u2".into()]),
            "{n}: two names and the user whose id is sam"
        );
        assert_eq!(
            total(&db, ws, "SAM").await,
            (2, vec!["u1".into(), "u2".into()]),
            "{n}: names ignore case, ids do not"
        );
        assert_eq!(total(&db, ws, "acme").await.0, 2, "{n}");
        assert_eq!(total(&db, ws, "lé").await, (1, vec!["u3".into()]), "{n}");
        assert_eq!(
            total(&db, ws, "LÉA MÜ").await,
            (1, vec!["u3".into()]),
            "{n}"
        );
        assert_eq!(
            total(&db, ws, "u2").await,
            (1, vec!["u2".into()]),
            "{n}: exact user id"
        );
        assert_eq!(
            total(&db, ws, "\"%_").await.0,
            0,
            "{n}: quotes and wildcards are text"
        );
        // A rename moves the user in the index; a delete takes them out.
        load(
            &site,
            ws,
            vec![json!({"user_id": "u2", "name": "Zoe Zhou", "email": "zoe@globex.com"})],
        )
        .await;
        assert_eq!(total(&db, ws, "samira").await.0, 0, "{n}");
        assert_eq!(total(&db, ws, "zoe z").await.0, 1, "{n}");
        let all = db
            .store
            .list_users(
                ws,
                &ListQuery {
                    limit: 1,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(all.total, 4, "{n}");
        site.state
            .writer
            .write(WriteOp::DeleteUser {
                workspace: ws,
                user: userdeck::server::store::users::UserKey::UserId("u1".into()),
            })
            .await
            .unwrap();
        assert_eq!(total(&db, ws, "sam t").await.0, 0, "{n}");
        let all = db
            .store
            .list_users(
                ws,
                &ListQuery {
                    limit: 1,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(all.total, 3, "{n}: the kept count follows deletes");
    }
}

#[tokio::test]
async fn tags_are_added_and_removed_and_bad_ones_change_nothing() {
    for db in common::databases().await {
        let n = db.name;
        let (site, session, ws) = signed_in(&db).await;
        let jimer = db
            .store
            .user(ws, Who::UserId("u1"))
            .await
            .unwrap()
            .unwrap()
            .jimer_id;
        let tags = || async {
            db.store
                .user(ws, Who::UserId("u1"))
                .await
                .unwrap()
                .unwrap()
                .tags
        };
        for t in ["beta", "VIP", "Beta"] {
            let a = site
                .post(
                    "/_fn/retag_user",
                    &format!("jimer_id={jimer}&add={t}"),
                    SAME,
                    Some(&session),
                )
                .await;
            assert!(
                a.status.is_success() || a.status.is_redirection(),
                "{n}: {} {}",
                a.status,
                a.body
            );
        }
        assert_eq!(
            tags().await,
            vec!["beta", "VIP"],
            "{n}: tags compare without case"
        );
        let long = "x".repeat(41);
        let a = site
            .post(
                "/_fn/retag_user",
                &format!("jimer_id={jimer}&add={long}"),
                SAME,
                Some(&session),
            )
            .await;
        assert!(a.body.contains("at most 40 characters"), "{n}: {}", a.body);
        assert_eq!(tags().await, vec!["beta", "VIP"], "{n}");
        site.post(
            "/_fn/retag_user",
            &format!("jimer_id={jimer}&remove=vip"),
            SAME,
            Some(&session),
        )
        .await;
        assert_eq!(tags().await, vec!["beta"], "{n}");
        let a = site
            .post(
                "/_fn/retag_user",
                "jimer_id=j_nobody&add=x",
                SAME,
                Some(&session),
            )
            .await;
        assert!(a.body.contains("does not exist"), "{n}: {}", a.body);
    }
}

#[tokio::test]
async fn delete_needs_its_box_ticked() {
    for db in common::databases().await {
        let n = db.name;
        let (site, session, ws) = signed_in(&db).await;
        let jimer = db
            .store
            .user(ws, Who::UserId("u2"))
            .await
            .unwrap()
            .unwrap()
            .jimer_id;
        let a = site
            .post(
                "/_fn/delete_user",
                &format!("jimer_id={jimer}"),
                SAME,
                Some(&session),
            )
            .await;
        assert!(a.body.contains("tick the box"), "{n}: {}", a.body);
        assert!(
            db.store
                .user(ws, Who::UserId("u2"))
                .await
                .unwrap()
                .is_some(),
            "{n}"
        );
        let a = site
            .post(
                "/_fn/delete_user",
                &format!("jimer_id={jimer}&confirm=yes&back=%2Fusers"),
                SAME,
                Some(&session),
            )
            .await;
        assert!(
            a.status.is_success() || a.status.is_redirection(),
            "{n}: {}",
            a.body
        );
        assert!(
            db.store
                .user(ws, Who::UserId("u2"))
                .await
                .unwrap()
                .is_none(),
            "{n}"
        );
        assert_eq!(total(&db, ws, "samira").await.0, 0, "{n}");
        // Where to go next stays on this site.
        let jimer = db
            .store
            .user(ws, Who::UserId("u3"))
            .await
            .unwrap()
            .unwrap()
            .jimer_id;
        let a = site
            .post(
                "/_fn/delete_user",
                &format!("jimer_id={jimer}&confirm=yes&back=%2F%2Fevil.example"),
                SAME,
                Some(&session),
            )
            .await;
        assert_eq!(a.location.as_deref(), Some("/users"), "{n}: {}", a.status);
        assert!(
            db.store
                .user(ws, Who::UserId("u3"))
                .await
                .unwrap()
                .is_none(),
            "{n}"
        );
    }
}

#[tokio::test]
async fn columns_are_remembered_and_the_export_follows_the_view() {
    for db in common::databases().await {
        let n = db.name;
        let (site, session, _) = signed_in(&db).await;
        let a = site
            .post("/_fn/set_columns", "add=no_such_key", SAME, Some(&session))
            .await;
        assert!(a.body.contains("no attribute is named"), "{n}: {}", a.body);
        for c in ["plan", "company", "features"] {
            site.post(
                "/_fn/set_columns",
                &format!("add={c}"),
                SAME,
                Some(&session),
            )
            .await;
        }
        site.post("/_fn/set_columns", "remove=features", SAME, Some(&session))
            .await;
        let page = site.get("/users", Some(&session)).await;
        assert!(
            page.body.contains("Remove the column plan")
                && page.body.contains("Remove the column company"),
            "{n}"
        );
        assert!(!page.body.contains("Remove the column features"), "{n}");

        let csv = site
            .get("/users/export.csv?q=acme&sort=name", Some(&session))
            .await;
        assert_eq!(csv.status, 200, "{n}: {}", csv.body);
        let lines: Vec<&str> = csv.body.lines().collect();
        assert_eq!(
            lines[0],
            "jimer_id,user_id,name,email,language,first_seen,last_activity,sessions,created,tags,plan,company",
            "{n}"
        );
        assert_eq!(
            lines.len(),
            3,
            "{n}: header and the two acme users: {lines:?}"
        );
        assert!(
            lines[1].contains("Léa Müller") && lines[2].contains("Sam Taylor"),
            "{n}: sorted by name"
        );
        assert!(
            lines[1].ends_with(",Pro,\"'=HYPERLINK(\"\"http://evil\"\")\""),
            "{n}: a formula stays text: {}",
            lines[1]
        );
        let all = site.get("/users/export.csv", Some(&session)).await;
        assert_eq!(all.body.lines().count(), 5, "{n}");
        let none = site.get("/users/export.csv", None).await;
        assert_ne!(none.status, 200, "{n}: the export needs a session");
        let bad = site
            .get("/users/export.csv?sort=shoe_size", Some(&session))
            .await;
        assert_eq!(bad.status, 400, "{n}");
    }
}

#[tokio::test]
async fn an_invitation_creates_one_account() {
    for db in common::databases().await {
        let n = db.name;
        let (site, session, ws) = signed_in(&db).await;
        let a = site
            .post(
                "/_fn/invite",
                "email=owner%40example.com",
                SAME,
                Some(&session),
            )
            .await;
        assert!(a.body.contains("has an account already"), "{n}: {}", a.body);
        site.post(
            "/_fn/invite",
            "email=New%40Example.com",
            SAME,
            Some(&session),
        )
        .await;
        let invites = db.store.invites(ws).await.unwrap();
        assert_eq!(invites.len(), 1, "{n}");
        assert_eq!(
            (invites[0].email.as_str(), invites[0].invited_by.as_str()),
            ("new@example.com", "owner@example.com")
        );
        let settings = site.get("/settings", Some(&session)).await;
        assert!(
            settings
                .body
                .contains(&format!("/invite?token={}", invites[0].token)),
            "{n}: the link is shown"
        );

        // The invited person needs no session to open the page.
        let token = invites[0].token.clone();
        let page = site.get(&format!("/invite?token={token}"), None).await;
        assert_eq!(page.status, 200, "{n}");
        let short = site
            .post(
                "/invite",
                &format!("token={token}&password=short"),
                SAME,
                None,
            )
            .await;
        assert!(short.location.unwrap_or_default().contains("error="), "{n}");
        let ok = site
            .post(
                "/invite",
                &format!("token={token}&password=a+long+enough+one"),
                SAME,
                None,
            )
            .await;
        assert_eq!(ok.location.as_deref(), Some("/users"), "{n}");
        session_of(&ok);
        assert!(
            db.store
                .authenticate("new@example.com", "a long enough one")
                .await
                .unwrap()
                .is_some(),
            "{n}"
        );
        let again = site
            .post(
                "/invite",
                &format!("token={token}&password=another+long+one"),
                SAME,
                None,
            )
            .await;
        assert!(
            again.location.unwrap_or_default().contains("invite_gone"),
            "{n}: used once"
        );

        // Accounts can be removed, but not one's own.
        let a = site
            .post(
                "/_fn/remove_account",
                "email=owner%40example.com&confirm=yes",
                SAME,
                Some(&session),
            )
            .await;
        assert!(a.body.contains("cannot remove your own"), "{n}: {}", a.body);
        site.post(
            "/_fn/remove_account",
            "email=new%40example.com&confirm=yes",
            SAME,
            Some(&session),
        )
        .await;
        assert!(
            db.store
                .authenticate("new@example.com", "a long enough one")
                .await
                .unwrap()
                .is_none(),
            "{n}"
        );
    }
}

#[tokio::test]
async fn distributions_count_values_elements_and_bins() {
    for db in common::databases().await {
        let n = db.name;
        let (_, _, ws) = signed_in(&db).await;
        let top = |d: Distribution| match d {
            Distribution::Top { bars, others } => (
                bars.into_iter()
                    .map(|b| (b.label, b.count))
                    .collect::<Vec<_>>(),
                others,
            ),
            other => panic!("{n}: {other:?}"),
        };
        let (_, plan) = db.store.distribution(ws, "plan").await.unwrap().unwrap();
        assert_eq!(
            top(plan),
            (vec![("Pro".into(), 2), ("Free".into(), 1)], 0),
            "{n}"
        );
        let (_, features) = db
            .store
            .distribution(ws, "features")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            top(features),
            (vec![("export".into(), 2), ("api".into(), 1)], 0),
            "{n}: array elements"
        );
        let (_, beta) = db.store.distribution(ws, "beta").await.unwrap().unwrap();
        assert_eq!(top(beta).0.len(), 2, "{n}");
        let (_, mrr) = db.store.distribution(ws, "mrr").await.unwrap().unwrap();
        let Distribution::Histogram { bars } = mrr else {
            panic!("{n}")
        };
        assert_eq!(bars.iter().map(|b| b.count).sum::<i64>(), 3, "{n}");
        assert_eq!(
            (bars[0].label.as_str(), bars[0].count),
            ("0 – 50", 1),
            "{n}"
        );
        assert_eq!(
            bars.last().map(|b| b.count),
            Some(1),
            "{n}: 480 in the last bin"
        );
        let (_, signup) = db.store.distribution(ws, "signup").await.unwrap().unwrap();
        let Distribution::Histogram { bars } = signup else {
            panic!("{n}")
        };
        assert_eq!(bars.iter().map(|b| b.count).sum::<i64>(), 3, "{n}");
        assert!(
            db.store
                .distribution(ws, "nothing")
                .await
                .unwrap()
                .is_none(),
            "{n}"
        );
    }
}

#[tokio::test]
async fn attribute_columns_sort_the_users_who_have_them() {
    for db in common::databases().await {
        let n = db.name;
        let (_, _, ws) = signed_in(&db).await;
        // Pages of one user each, so every page boundary is crossed.
        let walk = |sort: &'static str, search: Option<&'static str>| {
            let store = db.store.clone();
            async move {
                let sort = Sort::parse(sort).unwrap();
                let (mut ids, mut cursor) = (Vec::new(), None);
                let mut total: i64;
                loop {
                    let page = store
                        .list_users(
                            ws,
                            &ListQuery {
                                search: search.map(str::to_string),
                                sort: sort.clone(),
                                limit: 1,
                                cursor: cursor.take(),
                                ..Default::default()
                            },
                        )
                        .await
                        .unwrap();
                    total = page.total;
                    ids.extend(page.users.iter().filter_map(|u| u.user_id.clone()));
                    match page.next_cursor {
                        Some(c) => cursor = Some(Cursor::decode(&c, &sort).unwrap()),
                        None => break,
                    }
                }
                (total, ids)
            }
        };
        assert_eq!(
            walk("attr:mrr", None).await,
            (3, vec!["u2".into(), "u1".into(), "u3".into()]),
            "{n}"
        );
        assert_eq!(
            walk("-attr:mrr", None).await,
            (3, vec!["u3".into(), "u1".into(), "u2".into()]),
            "{n}"
        );
        assert_eq!(
            walk("-attr:signup", None).await.1,
            vec!["u3", "u2", "u1"],
            "{n}: dates"
        );
        let by_plan = walk("attr:plan", None).await.1;
        assert_eq!(by_plan[0], "u2", "{n}: Free first");
        assert_eq!(by_plan.len(), 3, "{n}: then both Pro users");
        assert_eq!(walk("attr:plan", Some("acme")).await.0, 2, "{n}");
        assert_eq!(walk("attr:no_such_key", None).await, (0, vec![]), "{n}");
        assert!(Sort::parse("attr:").is_none());
    }
}
