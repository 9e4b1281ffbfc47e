//! CSV import benchmark: prints figures, asserts nothing about speed.
//!
//!   cargo bench --features ssr --bench import
//!
//! Makes a CSV of 100,000 rows (user id and 5 columns: text, number, date,
//! boolean, list) and imports it into a fresh SQLite database in a temp
//! folder through the same code the dashboard uses (read, check every row,
//! write through the writer), twice: first every user is new, then every
//! user exists. USERDECK_BENCH_ROWS changes the row count.

mod support;

use std::time::Instant;
use userdeck::server::import::{apply, check, read_csv, Identifier, Mapping};
use userdeck::server::store::writer::Writer;
use userdeck::server::store::Store;

fn csv(rows: usize, round: usize) -> String {
    let mut out = String::from("user_id,plan,seats,renews,vip,features\n");
    for i in 0..rows {
        let plan = ["Free", "Pro", "Team", "Enterprise"][(i + round) % 4];
        out.push_str(&format!(
            "user-{i:07},{plan},{},2026-{:02}-{:02},{},export|api\n",
            (i * 7 + round) % 500,
            i % 12 + 1,
            i % 28 + 1,
            i % 3 == 0
        ));
    }
    out
}

#[tokio::main]
async fn main() {
    let rows: usize = std::env::var("USERDECK_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    println!("CSV import, {rows} rows × 5 attributes, SQLite, release build");
    println!("{}", support::machine());
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("import.db").display());
    let store = Store::open(&url).await.expect("open");
    let ws = store.default_workspace().await.expect("workspace").id;
    let writer = Writer::start(store.clone());
    for (round, what) in [(0, "new users"), (1, "existing users")] {
        let text = csv(rows, round);
        let t = Instant::now();
        let table = read_csv(text.as_bytes()).expect("read");
        let read = t.elapsed();
        let defs = store.definitions(ws).await.expect("definitions");
        let existing = |n: &str| defs.iter().find(|d| d.name == n).map(|d| d.attr_type);
        let mapping = Mapping {
            identifier_column: 0,
            identifier: Identifier::UserId,
            columns: (1..6).map(|c| (c, table.headers[c].clone())).collect(),
        };
        let checked = check(&table, &mapping, &existing).expect("check");
        let checked_at = t.elapsed();
        assert!(checked.bad.is_empty());
        let out = apply(&store, &writer, ws, checked.changes, &|_| {})
            .await
            .expect("apply");
        let total = t.elapsed();
        println!(
            "  {what}: {:.1} s in all ({:.0} rows/s): read {:.2} s, check {:.2} s, write {:.1} s; {} created, {} updated, {} refused; {:.1} MiB of CSV",
            total.as_secs_f64(),
            rows as f64 / total.as_secs_f64(),
            read.as_secs_f64(),
            (checked_at - read).as_secs_f64(),
            (total - checked_at).as_secs_f64(),
            out.created,
            out.updated,
            out.rejected.len(),
            text.len() as f64 / 1048576.0
        );
    }
}
