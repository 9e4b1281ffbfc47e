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
