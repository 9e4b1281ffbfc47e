//! Ingestion benchmark: prints figures, asserts nothing about speed.
//!
//!   cargo build --release --features ssr        # the server under test
//!   cargo bench --features ssr --bench ingest
//!   scripts/with-postgres cargo bench --features ssr --bench ingest   # + PostgreSQL
//!
//! It starts the real release binary (`USERDECK_BIN`, default
//! `target/release/userdeck`) on a fresh database and drives it over HTTP on
//! loopback:
//!
//!   (a) `POST /api/v1/identify` per second with N concurrent keep-alive
//!       clients (each request sets 5 attributes; half create a user, half
//!       update one), with p50/p99/max latency;
//!   (b) attribute writes per second through `POST /api/v1/batch`
//!       (1000 users × 10 attributes per call, a few concurrent clients):
//!       loading new users, then updating them;
//!   (c) database size per 100,000 users after that load (SQLite: .db + -wal
//!       after a checkpoint; PostgreSQL: pg_database_size).
//!
//! Knobs (environment):
//!   USERDECK_BIN                 server binary (default target/release/userdeck)
//!   USERDECK_BENCH_SECONDS       measured seconds per run (default 10)
//!   USERDECK_BENCH_WARMUP        warm-up seconds before each (a) run (default 2)
//!   USERDECK_BENCH_CLIENTS       concurrent identify clients, comma-separated (default 16,64)
//!   USERDECK_BENCH_USERS         users loaded through batch for (b) and (c) (default 100000)
//!   USERDECK_BENCH_BATCH_CLIENTS concurrent batch clients (default 4)
//!   USERDECK_BENCH_DB            sqlite,postgres (default: sqlite, plus postgres when
//!                                USERDECK_TEST_POSTGRES_URL is set)
//! A quick run: USERDECK_BENCH_SECONDS=2 USERDECK_BENCH_WARMUP=1 USERDECK_BENCH_USERS=10000
//!
//! The load generator runs on the same machine and competes with the server
//! for its cores; the CPU time each side used is printed with the figures.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;
use support::load::{
    batch_run, identify_run, BatchResult, IdentifyResult, ATTRS_PER_BATCH_USER, ATTRS_PER_IDENTIFY,
    BATCH,
};
use support::{machine, Server};

struct Knobs {
    bin: PathBuf,
    seconds: f64,
    warmup: f64,
    clients: Vec<usize>,
    users: u64,
    batch_clients: usize,
    dbs: Vec<String>,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a valid value")),
        Err(_) => default,
    }
}

fn knobs() -> Knobs {
    let bin = std::env::var_os("USERDECK_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
            target.join("release").join("userdeck")
        });
    let clients = std::env::var("USERDECK_BENCH_CLIENTS")
        .unwrap_or_else(|_| "16,64".into())
        .split(',')
        .map(|c| {
            c.trim()
                .parse()
                .expect("USERDECK_BENCH_CLIENTS: numbers separated by commas")
        })
        .collect();
    let pg = std::env::var("USERDECK_TEST_POSTGRES_URL").is_ok();
    let dbs = std::env::var("USERDECK_BENCH_DB")
        .unwrap_or_else(|_| {
            if pg {
                "sqlite,postgres".into()
            } else {
                "sqlite".into()
            }
        })
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    Knobs {
        bin,
        seconds: env_or("USERDECK_BENCH_SECONDS", 10.0),
        warmup: env_or("USERDECK_BENCH_WARMUP", 2.0),
        clients,
        users: env_or("USERDECK_BENCH_USERS", 100_000),
        batch_clients: env_or("USERDECK_BENCH_BATCH_CLIENTS", 4),
        dbs,
    }
}

// ---------------------------------------------------------------- machine

/// The 1-minute load average: other work on the machine skews the figures.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_string()
}

/// Peak resident memory of a process, in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

// ---------------------------------------------------------------- server

fn secret_key(bin: &Path, db_url: &str) -> String {
    let out = Command::new(bin)
        .args(["keys", "--database-url", db_url])
        .output()
        .expect("run userdeck keys");
    assert!(
        out.status.success(),
        "userdeck keys failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys: Value = serde_json::from_slice(&out.stdout).expect("userdeck keys prints JSON");
    keys["secret_key"].as_str().expect("secret_key").to_string()
}

// ---------------------------------------------------------------- databases

/// A fresh database to benchmark on, and how to measure and drop it.
enum Db {
    Sqlite {
        dir: tempfile::TempDir,
        path: PathBuf,
    },
    Postgres {
        admin: String,
        name: String,
        url: String,
    },
}

impl Db {
    async fn new(kind: &str, tag: &str) -> Db {
        match kind {
            "sqlite" => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("bench.db");
                Db::Sqlite { dir, path }
            }
            "postgres" => {
                use sqlx::Connection;
                let admin = std::env::var("USERDECK_TEST_POSTGRES_URL")
                    .expect("USERDECK_TEST_POSTGRES_URL must be set to benchmark PostgreSQL (scripts/with-postgres)");
                sqlx::any::install_default_drivers();
                let name = format!("ud_bench_{}_{tag}", std::process::id());
                let mut c = sqlx::AnyConnection::connect(&admin)
                    .await
                    .expect("connect to PostgreSQL");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut c)
                    .await
                    .expect("create database");
                let _ = c.close().await;
                let (base, _) = admin
                    .rsplit_once('/')
                    .expect("a database URL ends with /dbname");
                let url = format!("{base}/{name}");
                Db::Postgres { admin, name, url }
            }
            other => panic!("USERDECK_BENCH_DB: unknown database {other:?} (sqlite or postgres)"),
        }
    }

    fn url(&self) -> String {
        match self {
            Db::Sqlite { path, .. } => format!("sqlite://{}", path.display()),
            Db::Postgres { url, .. } => url.clone(),
        }
    }

    fn dir(&self) -> PathBuf {
        match self {
            Db::Sqlite { dir, .. } => dir.path().to_path_buf(),
            Db::Postgres { .. } => std::env::temp_dir(),
        }
    }

    /// Database size in bytes, and how it was measured.
    async fn size(&self) -> (u64, String) {
        use sqlx::{Connection, Row};
        sqlx::any::install_default_drivers();
        match self {
            Db::Sqlite { path, .. } => {
                let wal = PathBuf::from(format!("{}-wal", path.display()));
                let file = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                let before = file(path) + file(&wal);
                let mut note = format!("before checkpoint {}", mib(before));
                match sqlx::AnyConnection::connect(&self.url()).await {
                    Ok(mut c) => {
                        for _ in 0..20 {
                            match sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                                .fetch_one(&mut c)
                                .await
                            {
                                Ok(row) if row.try_get::<i64, _>(0).unwrap_or(1) == 0 => break,
                                Ok(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                                Err(e) => {
                                    note.push_str(&format!("; checkpoint failed: {e}"));
                                    break;
                                }
                            }
                        }
                        let _ = c.close().await;
                    }
                    Err(e) => note.push_str(&format!("; cannot open for checkpoint: {e}")),
                }
                let (db, w) = (file(path), file(&wal));
                (
                    db + w,
                    format!(
                        ".db {} + -wal {} after checkpoint ({note})",
                        mib(db),
                        mib(w)
                    ),
                )
            }
            Db::Postgres { url, .. } => {
                let mut c = sqlx::AnyConnection::connect(url)
                    .await
                    .expect("connect to PostgreSQL");
                let size: i64 = sqlx::query("SELECT pg_database_size(current_database())")
                    .fetch_one(&mut c)
                    .await
                    .and_then(|r| r.try_get(0))
                    .expect("pg_database_size");
                let _ = c.close().await;
                (size as u64, "pg_database_size".into())
            }
        }
    }

    /// PostgreSQL settings that change what a commit costs.
    async fn settings(&self) -> String {
        use sqlx::{Connection, Row};
        match self {
            Db::Sqlite { .. } => "WAL, synchronous=FULL (set by userdeck)".into(),
            Db::Postgres { url, .. } => {
                let mut c = sqlx::AnyConnection::connect(url)
                    .await
                    .expect("connect to PostgreSQL");
                let mut out = Vec::new();
                for s in ["fsync", "synchronous_commit"] {
                    let v: String = sqlx::query(&format!("SHOW {s}"))
                        .fetch_one(&mut c)
                        .await
                        .and_then(|r| r.try_get(0))
                        .unwrap_or_else(|_| "?".into());
                    out.push(format!("{s}={v}"));
                }
                let _ = c.close().await;
                out.join(", ")
            }
        }
    }

    async fn drop_db(self) {
        if let Db::Postgres { admin, name, .. } = self {
            use sqlx::Connection;
            if let Ok(mut c) = sqlx::AnyConnection::connect(&admin).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                    .execute(&mut c)
                    .await;
                let _ = c.close().await;
            }
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1024.0 / 1024.0)
}

// ---------------------------------------------------------------- report

struct Report {
    db: String,
    settings: String,
    identify: Vec<IdentifyResult>,
    batch: Vec<BatchResult>,
    loaded_users: u64,
    size: (u64, String),
    server_rss_mib: f64,
    log_problems: Vec<String>,
}

async fn bench_db(k: &Knobs, kind: &str) -> Report {
    eprintln!("== {kind}: (a) identify");
    let mut identify = Vec::new();
    let db_a = Db::new(kind, "a").await;
    let key = secret_key(&k.bin, &db_a.url());
    let server = Server::start(&k.bin, &db_a.url(), &db_a.dir(), &[]).await;
    let settings = db_a.settings().await;
    for &n in &k.clients {
        eprintln!(
            "   {n} clients: {:.0} s warm-up + {:.0} s measured",
            k.warmup, k.seconds
        );
        let r = identify_run(&server.base, &key, server.pid(), n, k.warmup, k.seconds).await;
        eprintln!(
            "   -> {:.0} identify/s, p50 {:.1} ms, p99 {:.1} ms, {} errors",
            r.per_sec, r.p50_ms, r.p99_ms, r.errors
        );
        identify.push(r);
    }
    let mut log_problems = server.problems();
    let mut server_rss_mib = peak_rss_mib(server.pid());
    server.stop();
    db_a.drop_db().await;

    eprintln!("== {kind}: (b) batch, (c) size: loading {} users", k.users);
    let db_b = Db::new(kind, "b").await;
    let key = secret_key(&k.bin, &db_b.url());
    let server = Server::start(&k.bin, &db_b.url(), &db_b.dir(), &[]).await;
    let load = batch_run(
        &server.base,
        &key,
        server.pid(),
        k.batch_clients,
        k.users,
        0,
        None,
    )
    .await;
    eprintln!(
        "   -> {:.0} attribute writes/s ({} users in {:.1} s)",
        load.attr_writes_per_sec, load.users, load.seconds
    );
    let loaded_users = load.users;
    let size = db_b.size().await;
    eprintln!("   -> size {} ({})", mib(size.0), size.1);
    eprintln!("   updates for at most {:.0} s", k.seconds);
    let update = batch_run(
        &server.base,
        &key,
        server.pid(),
        k.batch_clients,
        k.users,
        1,
        Some(k.seconds),
    )
    .await;
    eprintln!("   -> {:.0} attribute writes/s", update.attr_writes_per_sec);
    log_problems.extend(server.problems());
    server_rss_mib = server_rss_mib.max(peak_rss_mib(server.pid()));
    server.stop();
    db_b.drop_db().await;
    Report {
        db: kind.into(),
        settings,
        identify,
        batch: vec![load, update],
        loaded_users,
        size,
        server_rss_mib,
        log_problems,
    }
}

fn print_reports(k: &Knobs, reports: &[Report], load_before: &str) {
    let line = "-".repeat(100);
    println!();
    println!("userdeck ingestion benchmark");
    println!("{line}");
    println!("machine   {}", machine());
    println!("server    {}", k.bin.display());
    println!(
        "load      in this process on the same machine: it competes with the server for the cores \
         (CPU seconds of each side are shown)"
    );
    println!(
        "busy      1-minute load average {load_before} before the run, {} after (above 0 means other work shared the cores)",
        load_average()
    );
    println!(
        "settings  {:.0} s measured per identify run after {:.0} s warm-up; {} users loaded through batch; \
         {} batch clients",
        k.seconds, k.warmup, k.users, k.batch_clients
    );
    println!("{line}");
    for r in reports {
        println!("{} ({})", r.db, r.settings);
        println!(
            "  (a) identify over HTTP, {ATTRS_PER_IDENTIFY} attributes each, half new users, half updates, keep-alive"
        );
        println!(
            "      {:>8} {:>12} {:>9} {:>9} {:>9} {:>8} {:>12} {:>12}",
            "clients",
            "identify/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "errors",
            "server CPU",
            "client CPU"
        );
        for a in &r.identify {
            println!(
                "      {:>8} {:>12.0} {:>9.2} {:>9.2} {:>9.1} {:>8} {:>11.1}s {:>11.1}s",
                a.clients,
                a.per_sec,
                a.p50_ms,
                a.p99_ms,
                a.max_ms,
                a.errors,
                a.server_cpu,
                a.client_cpu
            );
            println!("      {:>8} server threads: {}", "", a.threads);
            if let Some(e) = &a.first_error {
                println!("      first error: {e}");
            }
        }
        println!("  (b) batch: {BATCH} users x {ATTRS_PER_BATCH_USER} attributes (+ name, email) per call");
        println!(
            "      {:>10} {:>9} {:>8} {:>14} {:>10} {:>12} {:>9} {:>8} {:>11} {:>11}",
            "pass",
            "users",
            "seconds",
            "attr writes/s",
            "users/s",
            "p50 ms/call",
            "max ms",
            "errors",
            "server CPU",
            "client CPU"
        );
        for b in &r.batch {
            println!(
                "      {:>10} {:>9} {:>8.1} {:>14.0} {:>10.0} {:>12.0} {:>9.0} {:>8} {:>10.1}s {:>10.1}s",
                b.what,
                b.users,
                b.seconds,
                b.attr_writes_per_sec,
                b.users_per_sec,
                b.p50_ms,
                b.max_ms,
                b.errors,
                b.server_cpu,
                b.client_cpu
            );
            println!(
                "      {:>10} first quarter {:.0} attr writes/s, last quarter {:.0}; server threads: {}",
                "", b.quarters.0, b.quarters.1, b.threads
            );
            if let Some(e) = &b.first_error {
                println!("      first error: {e}");
            }
        }
        let per_100k = if r.loaded_users > 0 {
            r.size.0 as f64 * 100_000.0 / r.loaded_users as f64
        } else {
            f64::NAN
        };
        println!(
            "  (c) size: {} for {} users x {ATTRS_PER_BATCH_USER} attributes = {:.1} MiB per 100,000 users ({})",
            mib(r.size.0),
            r.loaded_users,
            per_100k / 1024.0 / 1024.0,
            r.size.1
        );
        println!("      server peak RSS {:.0} MiB", r.server_rss_mib);
        if !r.log_problems.is_empty() {
            println!(
                "      server log: {} WARN/ERROR line(s), e.g.:",
                r.log_problems.len()
            );
            for l in r.log_problems.iter().take(5) {
                println!("        {}", l.chars().take(300).collect::<String>());
            }
        }
        println!("{line}");
    }
    println!(
        "aim (issue 2, SQLite, this machine): 10,000 identify/s and 100,000 attribute writes/s"
    );
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
    // without it, where a minutes-long benchmark has no place.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("ingest: a benchmark; run it with `cargo bench --features ssr --bench ingest`");
        return ExitCode::SUCCESS;
    }
    let k = knobs();
    if !k.bin.exists() {
        eprintln!(
            "the server binary {} does not exist: build it first with\n    cargo build --release --features ssr\n\
             (or scripts/build), or point USERDECK_BIN at a userdeck binary",
            k.bin.display()
        );
        return ExitCode::FAILURE;
    }
    let load_before = load_average();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let reports: Vec<Report> = rt.block_on(async {
        let mut out = Vec::new();
        for kind in &k.dbs {
            out.push(bench_db(&k, kind).await);
        }
        out
    });
    print_reports(&k, &reports, &load_before);
    ExitCode::SUCCESS
}
