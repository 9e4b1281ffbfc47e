//! Dashboard sign-in: first-run setup, sign-in, throttling, sessions,
//! sign-out, and pages refused without a session.

mod common;

use axum::http::StatusCode;
use common::site::{session_of, Site, SAME};

#[tokio::test]
async fn pages_need_a_session_and_sign_in_brings_you_back() {
    for db in common::databases().await {
        let n = db.name;
        let ws = db.store.default_workspace().await.unwrap();
        db.store
            .create_account(ws.id, "Admin@Example.com", "correct horse battery")
            .await
            .unwrap();
        let site = Site::new(&db).await;

        let a = site.get("/settings?tab=keys", None).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{n}");
        assert_eq!(
            a.location.as_deref(),
            Some("/sign-in?next=/settings%3Ftab%3Dkeys"),
            "{n}"
        );
        let page = site.get("/sign-in?next=/settings", None).await;
        assert_eq!(page.status, StatusCode::OK, "{n}");
        assert!(
            page.body.contains(r#"action="/sign-in""#)
                && page.body.contains(r#"value="/settings""#),
            "{n}"
        );

        // Wrong password, unknown account: the same answer.
        for form in [
            "email=admin%40example.com&password=wrong+password",
            "email=nobody%40example.com&password=whatever+it+is",
        ] {
            let a = site.post("/sign-in", form, SAME, None).await;
            assert_eq!(a.status, StatusCode::SEE_OTHER, "{n}");
            assert!(
                a.location
                    .as_deref()
                    .unwrap()
                    .starts_with("/sign-in?error=invalid"),
                "{n}: {:?}",
                a.location
            );
            assert!(a.cookie.is_none(), "{n}");
        }

        // Emails compare without case; `next` brings you back, but only on this site.
        let a = site
            .post(
                "/sign-in",
                "email=ADMIN%40example.com&password=correct+horse+battery&next=/settings",
                SAME,
                None,
            )
            .await;
        assert_eq!(a.location.as_deref(), Some("/settings"), "{n}");
        let session = session_of(&a);
        let page = site.get("/settings", Some(&session)).await;
        assert_eq!(page.status, StatusCode::OK, "{n}");
        assert!(page.body.contains("Sign out"), "{n}");
        let a = site
            .post(
                "/sign-in",
                "email=admin%40example.com&password=correct+horse+battery&next=//evil.example",
                SAME,
                None,
            )
            .await;
        assert_eq!(
            a.location.as_deref(),
            Some("/users"),
            "{n}: never another host"
        );

        // Sign-out ends the session on the server, not only in the browser.
        let a = site.post("/sign-out", "", SAME, Some(&session)).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{n}");
        assert!(a.cookie.as_deref().unwrap().contains("Max-Age=0"), "{n}");
        assert_eq!(
            site.get("/settings", Some(&session)).await.status,
            StatusCode::SEE_OTHER,
            "{n}"
        );
        assert_eq!(
            site.get("/users", Some("userdeck_session=forged"))
                .await
                .status,
            StatusCode::SEE_OTHER,
            "{n}"
        );
    }
}

#[tokio::test]
async fn forms_from_other_sites_are_refused() {
    for db in common::databases().await {
        let n = db.name;
        let ws = db.store.default_workspace().await.unwrap();
        db.store
            .create_account(ws.id, "a@example.com", "correct horse battery")
            .await
            .unwrap();
        let site = Site::new(&db).await;
        let form = "email=a%40example.com&password=correct+horse+battery";
        let a = site
            .post("/sign-in", form, Some("https://evil.example"), None)
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{n}");
        assert!(a.cookie.is_none(), "{n}");
        let a = site
            .post("/sign-out", "", Some("https://evil.example"), None)
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{n}");
    }
}

#[tokio::test]
async fn sign_in_attempts_are_throttled_per_account() {
    for db in common::databases().await {
        let n = db.name;
        let ws = db.store.default_workspace().await.unwrap();
        db.store
            .create_account(ws.id, "t@example.com", "correct horse battery")
            .await
            .unwrap();
        let site = Site::new(&db).await;
        for _ in 0..10 {
            let a = site
                .post(
                    "/sign-in",
                    "email=t%40example.com&password=bad+guess+here",
                    SAME,
                    None,
                )
                .await;
            assert!(a.location.unwrap().contains("error=invalid"), "{n}");
        }
        // The right password is refused too, until the throttle lets go.
        let a = site
            .post(
                "/sign-in",
                "email=t%40example.com&password=correct+horse+battery",
                SAME,
                None,
            )
            .await;
        assert!(a.location.unwrap().contains("error=throttled"), "{n}");
        assert!(a.cookie.is_none(), "{n}");
    }
}

#[tokio::test]
async fn first_run_setup_creates_the_first_account_once() {
    for db in common::databases().await {
        let n = db.name;
        let site = Site::new(&db).await;
        *site.state.setup_token.lock().unwrap() = Some("one-time-token".into());

        let page = site.get("/setup?token=one-time-token", None).await;
        assert_eq!(
            page.status,
            StatusCode::OK,
            "{n}: the setup page needs no session"
        );
        assert!(page.body.contains(r#"value="one-time-token""#), "{n}");

        let a = site
            .post(
                "/setup",
                "token=wrong&email=x%40example.com&password=long+enough+pw",
                SAME,
                None,
            )
            .await;
        assert_eq!(
            a.location.as_deref(),
            Some("/sign-in?error=setup_done"),
            "{n}"
        );
        assert_eq!(
            db.store.account_count().await.unwrap(),
            0,
            "{n}: a wrong token creates nothing"
        );

        let a = site
            .post(
                "/setup",
                "token=one-time-token&email=x%40example.com&password=short",
                SAME,
                None,
            )
            .await;
        assert!(
            a.location.unwrap().contains("10%20characters"),
            "{n}: the password rule is explained"
        );
        assert_eq!(db.store.account_count().await.unwrap(), 0, "{n}");

        let a = site
            .post(
                "/setup",
                "token=one-time-token&email=x%40example.com&password=long+enough+pw",
                SAME,
                None,
            )
            .await;
        assert_eq!(a.location.as_deref(), Some("/users"), "{n}");
        let session = session_of(&a);
        assert_eq!(
            site.get("/users", Some(&session)).await.status,
            StatusCode::OK,
            "{n}"
        );

        // The link works once.
        let a = site
            .post(
                "/setup",
                "token=one-time-token&email=y%40example.com&password=long+enough+pw",
                SAME,
                None,
            )
            .await;
        assert_eq!(
            a.location.as_deref(),
            Some("/sign-in?error=setup_done"),
            "{n}"
        );
        assert_eq!(db.store.account_count().await.unwrap(), 1, "{n}");
    }
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_hashes() {
    for db in common::databases().await {
        let ws = db.store.default_workspace().await.unwrap();
        db.store
            .create_account(ws.id, "h@example.com", "correct horse battery")
            .await
            .unwrap();
        let hash: String = sqlx::query_scalar("SELECT password_hash FROM accounts")
            .fetch_one(&db.store.pool)
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"), "{}: {hash}", db.name);
        assert!(!hash.contains("correct horse"), "{}", db.name);
        let again = db
            .store
            .create_account(ws.id, "H@example.com", "another password")
            .await;
        assert!(
            again.is_err(),
            "{}: one account per email, whatever its case",
            db.name
        );
    }
}

#[tokio::test]
async fn server_functions_need_a_session_and_the_same_origin() {
    for db in common::databases().await {
        let n = db.name;
        let ws = db.store.default_workspace().await.unwrap();
        db.store
            .create_account(ws.id, "s@example.com", "correct horse battery")
            .await
            .unwrap();
        let site = Site::new(&db).await;
        let a = site
            .post(
                "/sign-in",
                "email=s%40example.com&password=correct+horse+battery",
                SAME,
                None,
            )
            .await;
        let session = session_of(&a);

        // Without a session: nothing changes.
        let a = site
            .post("/_fn/set_verification", "on=true", SAME, None)
            .await;
        assert_ne!(a.status, StatusCode::OK, "{n}");
        assert!(
            !db.store
                .default_workspace()
                .await
                .unwrap()
                .identify_verification,
            "{n}"
        );
        // From another site, even with the session cookie: refused.
        let a = site
            .post(
                "/_fn/set_verification",
                "on=true",
                Some("https://evil.example"),
                Some(&session),
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{n}");
        assert!(
            !db.store
                .default_workspace()
                .await
                .unwrap()
                .identify_verification,
            "{n}"
        );
        // Signed in, from the dashboard: done.
        let a = site
            .post("/_fn/set_verification", "on=true", SAME, Some(&session))
            .await;
        assert!(
            a.status.is_success() || a.status.is_redirection(),
            "{n}: {} {}",
            a.status,
            a.body
        );
        assert!(
            db.store
                .default_workspace()
                .await
                .unwrap()
                .identify_verification,
            "{n}"
        );
    }
}
