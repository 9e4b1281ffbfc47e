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

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{machine, Server};

const BATCH: u64 = 1000;
const ATTRS_PER_BATCH_USER: u64 = 10;
const ATTRS_PER_IDENTIFY: u64 = 5;

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

/// CPU seconds (user + system) a process has used.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at state.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime, stime are fields 14 and 15 of stat; 11 and 12 after ")" (0-based).
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds per thread name of a process (digits at the end dropped, so
/// the tokio workers add up), to show where the server spends its time.
fn thread_cpu(pid: u32) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let tid = t.file_name().to_string_lossy().to_string();
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let name = comm
            .trim()
            .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '_');
        *out.entry(name.to_string()).or_insert(0.0) += cpu_seconds(&format!("{pid}/task/{tid}"));
    }
    out
}

/// The busiest thread groups between two `thread_cpu` readings, as text.
fn busiest(
    before: &std::collections::BTreeMap<String, f64>,
    after: &std::collections::BTreeMap<String, f64>,
) -> String {
    let mut d: Vec<(String, f64)> = after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v >= 0.05)
        .collect();
    d.sort_by(|a, b| b.1.total_cmp(&a.1));
    d.iter()
        .take(4)
        .map(|(k, v)| format!("{k} {v:.1}s"))
        .collect::<Vec<_>>()
        .join(", ")
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

// ---------------------------------------------------------------- workload

/// A small deterministic generator (no dependency needed).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const PLANS: &[&str] = &["Free", "Starter", "Pro", "Enterprise"];
const ROLES: &[&str] = &["admin", "member", "viewer", "owner", "billing"];
const COUNTRIES: &[&str] = &["FR", "DE", "US", "GB", "ES", "JP", "BR", "IN"];
const FEATURES: &[&str] = &[
    "reports",
    "export",
    "sso",
    "api",
    "tours",
    "surveys",
    "checklists",
];

fn date(seed: u64) -> String {
    // Days over two years before 2026-01-01.
    let day = seed % 730;
    let d =
        chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Duration::days(day as i64);
    format!("{d}T{:02}:{:02}:00Z", seed % 24, seed % 60)
}

fn features(seed: u64) -> Vec<&'static str> {
    FEATURES
        .iter()
        .enumerate()
        .filter(|(i, _)| (seed >> i) & 1 == 1)
        .map(|(_, f)| *f)
        .collect()
}

/// One identify of (a): 5 attributes of every type.
fn identify_body(user: &str, seed: u64) -> Value {
    json!({
        "user_id": user,
        "attributes": {
            "plan": PLANS[(seed % 4) as usize],
            "seats": seed % 500,
            "beta": seed.is_multiple_of(3),
            "last_login": date(seed),
            "features": features(seed),
        }
    })
}

/// One user of a (b) batch: name, email and 10 attributes. `round` changes
/// every value, so an update pass really rewrites them.
fn batch_user(u: u64, round: u64) -> Value {
    let s = u.wrapping_mul(2654435761).wrapping_add(round * 7919);
    json!({
        "user_id": format!("user-{u}"),
        "name": format!("User {u}"),
        "email": format!("user{u}@example.com"),
        "attributes": {
            "plan": PLANS[(s % 4) as usize],
            "role": ROLES[(s % 5) as usize],
            "country": COUNTRIES[(s % 8) as usize],
            "company": format!("Company {} {round}", u % 5000),
            "app_version": format!("{}.{}.{}", 1 + s % 4, s % 10, round),
            "seats": (s % 1000) + round,
            "score": ((s % 10_000) as f64) / 100.0 + round as f64,
            "beta": (s + round).is_multiple_of(2),
            "signup": date(s + round),
            "features": features(s + round),
        }
    })
}

#[derive(Default)]
struct Tally {
    ok: u64,
    errors: u64,
    latencies_us: Vec<u64>,
    first_error: Option<String>,
    /// (when, users written) per batch call.
    done: Vec<(Instant, u64)>,
}

struct IdentifyResult {
    clients: usize,
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: u64,
    first_error: Option<String>,
    server_cpu: f64,
    client_cpu: f64,
    threads: String,
}

/// (a): `clients` tasks, each one keep-alive connection, identify in a loop.
async fn identify_run(
    base: &str,
    key: &str,
    pid: u32,
    clients: usize,
    warmup: f64,
    seconds: f64,
) -> IdentifyResult {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let t0 = start + Duration::from_secs_f64(warmup);
    let t1 = t0 + Duration::from_secs_f64(seconds);
    // Unique per run, so each run's "new" users are new even on a reused database.
    let run_tag = format!(
        "{clients}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() % 1_000_000_000)
    );
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, stop, base, key) = (
            http.clone(),
            stop.clone(),
            base.to_string(),
            key.to_string(),
        );
        let tag = run_tag.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((c as u64 + 1) * 0x1000_0001));
            let mut tally = Tally::default();
            let mut created = 0u64;
            let url = format!("{base}/api/v1/identify");
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let seed = rng.next();
                // Odd requests create a user, even ones update one this client made.
                let user = if i % 2 == 1 || created == 0 {
                    created += 1;
                    format!("id-{tag}-{c}-{created}")
                } else {
                    format!("id-{tag}-{c}-{}", 1 + seed % created)
                };
                let body = serde_json::to_vec(&identify_body(&user, seed)).unwrap();
                let sent = Instant::now();
                let answer = http
                    .post(&url)
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let ok = match answer {
                    Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                    Ok(r) => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        tally.first_error.get_or_insert(format!("{status} {text}"));
                        false
                    }
                    Err(e) => {
                        tally.first_error.get_or_insert(e.to_string());
                        false
                    }
                };
                let done = Instant::now();
                if sent >= t0 && done <= t1 {
                    if ok {
                        tally.ok += 1;
                        tally.latencies_us.push((done - sent).as_micros() as u64);
                    } else {
                        tally.errors += 1;
                    }
                }
            }
            tally
        }));
    }
    let me = std::process::id().to_string();
    tokio::time::sleep_until(t0.into()).await;
    let (server_cpu0, client_cpu0, threads0) = (
        cpu_seconds(&pid.to_string()),
        cpu_seconds(&me),
        thread_cpu(pid),
    );
    tokio::time::sleep_until(t1.into()).await;
    let (server_cpu1, client_cpu1, threads1) = (
        cpu_seconds(&pid.to_string()),
        cpu_seconds(&me),
        thread_cpu(pid),
    );
    stop.store(true, Ordering::Relaxed);
    let mut all = Tally::default();
    for t in tasks {
        let t = t.await.expect("client task");
        all.ok += t.ok;
        all.errors += t.errors;
        all.latencies_us.extend(t.latencies_us);
        if all.first_error.is_none() {
            all.first_error = t.first_error;
        }
    }
    all.latencies_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((all.latencies_us.len() as f64 * p).ceil() as usize)
            .clamp(1, all.latencies_us.len())
            - 1;
        all.latencies_us[i] as f64 / 1000.0
    };
    IdentifyResult {
        clients,
        per_sec: all.ok as f64 / seconds,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: all
            .latencies_us
            .last()
            .map_or(f64::NAN, |m| *m as f64 / 1000.0),
        errors: all.errors,
        first_error: all.first_error,
        server_cpu: server_cpu1 - server_cpu0,
        client_cpu: client_cpu1 - client_cpu0,
        threads: busiest(&threads0, &threads1),
    }
}

struct BatchResult {
    what: &'static str,
    users: u64,
    seconds: f64,
    attr_writes_per_sec: f64,
    users_per_sec: f64,
    /// Attribute writes/s over the first and the last quarter of the pass.
    quarters: (f64, f64),
    p50_ms: f64,
    max_ms: f64,
    errors: u64,
    first_error: Option<String>,
    server_cpu: f64,
    client_cpu: f64,
    threads: String,
}

/// (b): batches of `BATCH` users; `round` 0 creates users 0..users, a later
/// round rewrites them (for at most `limit` seconds).
async fn batch_run(
    base: &str,
    key: &str,
    pid: u32,
    clients: usize,
    users: u64,
    round: u64,
    limit: Option<f64>,
) -> BatchResult {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let next = Arc::new(AtomicU64::new(0));
    let batches = users.div_ceil(BATCH);
    let deadline = limit.map(|s| Instant::now() + Duration::from_secs_f64(s));
    let me = std::process::id().to_string();
    let (server_cpu0, client_cpu0, threads0) = (
        cpu_seconds(&pid.to_string()),
        cpu_seconds(&me),
        thread_cpu(pid),
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, next, base, key) = (
            http.clone(),
            next.clone(),
            base.to_string(),
            key.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut written = 0u64;
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= batches {
                    break;
                }
                let ids = b * BATCH..((b + 1) * BATCH).min(users);
                let n = ids.end - ids.start;
                let items: Vec<Value> = ids.map(|u| batch_user(u, round)).collect();
                let body = serde_json::to_vec(&json!({ "batch": items })).unwrap();
                let sent = Instant::now();
                let answer = http
                    .post(format!("{base}/api/v1/batch"))
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                match answer {
                    Ok(r) if r.status() == 200 => match r.json::<Value>().await {
                        Ok(v) => {
                            let results = v["results"].as_array().cloned().unwrap_or_default();
                            let good =
                                results.iter().filter(|r| r["ok"] == json!(true)).count() as u64;
                            written += good;
                            tally.done.push((Instant::now(), good));
                            if good < n {
                                tally.errors += n - good;
                                let bad = results.iter().find(|r| r["ok"] != json!(true)).cloned();
                                tally.first_error.get_or_insert(format!(
                                    "batch item: {}",
                                    bad.unwrap_or(Value::Null)
                                ));
                            }
                        }
                        Err(e) => {
                            tally.errors += n;
                            tally.first_error.get_or_insert(e.to_string());
                        }
                    },
                    Ok(r) => {
                        tally.errors += n;
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        tally.first_error.get_or_insert(format!(
                            "{status} {}",
                            text.chars().take(300).collect::<String>()
                        ));
                    }
                    Err(e) => {
                        tally.errors += n;
                        tally.first_error.get_or_insert(e.to_string());
                    }
                }
                tally.latencies_us.push(sent.elapsed().as_micros() as u64);
            }
            tally.ok = written;
            tally
        }));
    }
    let mut all = Tally::default();
    for t in tasks {
        let t = t.await.expect("batch task");
        all.ok += t.ok;
        all.errors += t.errors;
        all.latencies_us.extend(t.latencies_us);
        all.done.extend(t.done);
        if all.first_error.is_none() {
            all.first_error = t.first_error;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let quarter = seconds / 4.0;
    let rate_between = |from: f64, to: f64| {
        let users: u64 = all
            .done
            .iter()
            .filter(|(t, _)| (from..to).contains(&(*t - started).as_secs_f64()))
            .map(|(_, n)| n)
            .sum();
        (users * ATTRS_PER_BATCH_USER) as f64 / quarter
    };
    let quarters = (
        rate_between(0.0, quarter),
        rate_between(3.0 * quarter, seconds + 1.0),
    );
    let (server_cpu1, client_cpu1, threads1) = (
        cpu_seconds(&pid.to_string()),
        cpu_seconds(&me),
        thread_cpu(pid),
    );
    all.latencies_us.sort_unstable();
    let p50 = all
        .latencies_us
        .get(all.latencies_us.len() / 2)
        .map_or(f64::NAN, |v| *v as f64 / 1000.0);
    let max = all
        .latencies_us
        .last()
        .map_or(f64::NAN, |v| *v as f64 / 1000.0);
    BatchResult {
        what: if round == 0 { "new users" } else { "updates" },
        users: all.ok,
        seconds,
        attr_writes_per_sec: (all.ok * ATTRS_PER_BATCH_USER) as f64 / seconds,
        users_per_sec: all.ok as f64 / seconds,
        quarters,
        p50_ms: p50,
        max_ms: max,
        errors: all.errors,
        first_error: all.first_error,
        server_cpu: server_cpu1 - server_cpu0,
        client_cpu: client_cpu1 - client_cpu0,
        threads: busiest(&threads0, &threads1),
    }
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
