//! Test helpers: fresh databases on SQLite and, when configured, PostgreSQL.
#![allow(dead_code)]

pub mod site;

use sqlx::Connection;
use userdeck::server::store::Store;

/// A fresh, migrated database, and what keeps it alive.
pub struct TestDb {
    pub name: &'static str,
    pub url: String,
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
}

/// A new SQLite database in a temporary folder.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let store = Store::open(&url).await.expect("open sqlite");
    TestDb {
        name: "sqlite",
        url,
        store,
        _dir: Some(dir),
    }
}

/// A new PostgreSQL database on the server of USERDECK_TEST_POSTGRES_URL,
/// or None when that is not set (unless USERDECK_REQUIRE_POSTGRES is set:
/// then its absence fails the test, so CI cannot skip PostgreSQL silently).
pub async fn postgres() -> Option<TestDb> {
    let Ok(admin_url) = std::env::var("USERDECK_TEST_POSTGRES_URL") else {
        if std::env::var("USERDECK_REQUIRE_POSTGRES").is_ok() {
            panic!("USERDECK_REQUIRE_POSTGRES is set but USERDECK_TEST_POSTGRES_URL is not: run the tests through scripts/with-postgres");
        }
        eprintln!("skipping PostgreSQL: USERDECK_TEST_POSTGRES_URL is not set");
        return None;
    };
    sqlx::any::install_default_drivers();
    let name = format!("ud_{}", uuid_ish());
    let mut admin = sqlx::AnyConnection::connect(&admin_url)
        .await
        .expect("connect to PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create database");
    let _ = admin.close().await;
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("a database URL ends with /dbname");
    let url = format!("{base}/{name}");
    let store = Store::open(&url).await.expect("open postgres");
    Some(TestDb {
        name: "postgres",
        url,
        store,
        _dir: None,
    })
}

/// A new SQLite database whose store decides conditions in the in-memory
/// segment index (as `serve` does by default).
pub async fn sqlite_indexed() -> TestDb {
    let mut db = sqlite().await;
    db.store.load_index().await.expect("load the segment index");
    db.name = "sqlite+index";
    db
}

/// Every database the tests run on here: SQLite and, when configured,
/// PostgreSQL, each with and without the segment index.
pub async fn databases() -> Vec<TestDb> {
    let mut dbs = vec![sqlite().await, sqlite_indexed().await];
    if let Some(pg) = postgres().await {
        dbs.push(pg);
        if let Some(mut indexed) = postgres().await {
            indexed
                .store
                .load_index()
                .await
                .expect("load the segment index");
            indexed.name = "postgres+index";
            dbs.push(indexed);
        }
    }
    dbs
}

fn uuid_ish() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        t % 1_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}
