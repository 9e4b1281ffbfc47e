//! CSV import on SQLite and PostgreSQL: checked rows written with the
//! source `import`, users created or updated (by user id) or updated (by
//! email), and nothing of a bad row written.

mod common;

use serde_json::json;
use userdeck::model::attribute::AttrValue;
use userdeck::model::profile::Identify;
use userdeck::server::import::{apply, check, read_csv, Identifier, Mapping};
use userdeck::server::store::users::Who;
use userdeck::server::store::writer::{WriteOp, Writer};

#[tokio::test]
async fn an_import_creates_updates_and_leaves_bad_rows_out() {
    for db in common::databases().await {
        let (s, n) = (&db.store, db.name);
        let ws = s.default_workspace().await.unwrap().id;
        let w = Writer::start(s.clone());
        w.write(WriteOp::Identify {
            workspace: ws,
            input: Identify::from_json(
                &json!({"user_id": "old", "email": "old@example.com", "attributes": {"seats": 1}}),
            )
            .unwrap(),
        })
        .await
        .unwrap();
        let table = read_csv(
            "\u{feff}user_id;seats;plan\nold;5;Pro\nnew;2;Free\n;9;x\nnew2;lots;Team\n".as_bytes(),
        )
        .unwrap();
        let mapping = Mapping {
            identifier_column: 0,
            identifier: Identifier::UserId,
            columns: vec![(1, "seats".into()), (2, "plan".into())],
        };
        let types = s.definitions(ws).await.unwrap();
        let existing = |name: &str| types.iter().find(|d| d.name == name).map(|d| d.attr_type);
        let checked = check(&table, &mapping, &existing).unwrap();
        assert_eq!(
            checked.bad.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            [4, 5],
            "{n}"
        );
        assert!(checked.bad[1].1.contains("\"lots\" is not a number"), "{n}");
        let seen = std::sync::Mutex::new(Vec::new());
        let out = apply(s, &w, ws, checked.changes, &|done| {
            seen.lock().unwrap().push(done)
        })
        .await
        .unwrap();
        assert_eq!(
            (out.created, out.updated, out.rejected.len()),
            (1, 1, 0),
            "{n}"
        );
        assert_eq!(*seen.lock().unwrap(), [2], "{n}: progress");
        let old = s.user(ws, Who::UserId("old")).await.unwrap().unwrap();
        let seats = old.attributes.iter().find(|a| a.name == "seats").unwrap();
        assert_eq!(
            (seats.value.clone(), seats.source.as_str()),
            (AttrValue::Number(5.0), "import"),
            "{n}"
        );
        assert!(
            s.user(ws, Who::UserId("new2")).await.unwrap().is_none(),
            "{n}: a bad row writes nothing"
        );

        // By email: existing users only.
        let table =
            read_csv(b"email,plan\nOLD@example.com,Team\nnobody@example.com,Team\n").unwrap();
        let mapping = Mapping {
            identifier_column: 0,
            identifier: Identifier::Email,
            columns: vec![(1, "plan".into())],
        };
        let checked = check(&table, &mapping, &existing).unwrap();
        let out = apply(s, &w, ws, checked.changes, &|_| {}).await.unwrap();
        assert_eq!((out.created, out.updated), (0, 1), "{n}");
        assert_eq!(out.rejected.len(), 1, "{n}");
        assert!(out.rejected[0].1.contains("nobody@example.com"), "{n}");
        let old = s.user(ws, Who::UserId("old")).await.unwrap().unwrap();
        let plan = old.attributes.iter().find(|a| a.name == "plan").unwrap();
        assert_eq!(plan.value, AttrValue::String("Team".into()), "{n}");
    }
}

#[tokio::test]
async fn the_history_keeps_each_import_and_marks_the_cut_ones() {
    use userdeck::server::store::imports::{ImportEnd, KEEP_REJECTIONS};
    for db in common::databases().await {
        let (s, n) = (&db.store, db.name);
        let ws = s.default_workspace().await.unwrap().id;
        let first = s
            .start_import(ws, "ana@example.com", "people.csv", "user_id", 1500)
            .await
            .unwrap();
        let second = s
            .start_import(ws, "bo@example.com", "more.csv", "email", 3)
            .await
            .unwrap();
        let rejections: Vec<(usize, String)> =
            (2..1502).map(|l| (l, format!("line {l} is bad"))).collect();
        s.finish_import(
            first,
            &ImportEnd {
                created: 0,
                updated: 0,
                rejections,
                error: None,
            },
        )
        .await
        .unwrap();
        // The server stops while the second runs.
        assert_eq!(s.interrupt_running_imports().await.unwrap(), 1, "{n}");
        let list = s.imports(ws, 10).await.unwrap();
        let ids: Vec<i64> = list.iter().map(|i| i.id).collect();
        assert_eq!(ids, [second, first], "{n}: newest first");
        assert_eq!(list[0].status, "interrupted", "{n}");
        assert!(list[0].finished_at.is_some(), "{n}");
        let done = s.import(ws, first).await.unwrap().unwrap();
        assert_eq!(
            (
                done.status.as_str(),
                done.account_email.as_str(),
                done.rows,
                done.rejected
            ),
            ("done", "ana@example.com", 1500, 1500),
            "{n}"
        );
        assert_eq!(
            done.rejections.len(),
            KEEP_REJECTIONS,
            "{n}: the first thousand kept"
        );
        assert_eq!(done.rejections[0], (2, "line 2 is bad".into()), "{n}");
        assert!(
            s.import(ws + 1, first).await.unwrap().is_none(),
            "{n}: another workspace's"
        );
    }
}
