//! Segment count benchmark (issues 4 and 7): prints figures, asserts
//! nothing about speed.
//!
//!   scripts/build --release                      # the server under test
//!   cargo bench --features ssr --bench segments
//!   scripts/with-postgres cargo bench --features ssr --bench segments   # + PostgreSQL
//!
//! On the demo users of the dashboard benchmark (the same SQLite file in
//! `target/bench/`, made once with `userdeck demo`), it starts the release
//! binary (with the segment index, then without it: the SQL path; the
//! index's load time and size and the server's memory are noted) and times
//! `POST /api/v1/segments/count` over loopback for three
//! conditions of 1, 3 and 6 rules (strings, numbers, dates, arrays). With
//! USERDECK_TEST_POSTGRES_URL set it does the same on PostgreSQL, copying the
//! SQLite rows there first when that database has no users. Then
//! `benches/reference/segment_counts.py` counts the same conditions on the same
//! data with two plain designs: SQLite with one JSON column (`json_extract`)
//! and a DuckDB columnar table. Every engine must find the same counts; the
//! table says when one does not. Last, write throughput with the index on
//! and off: identify and batch calls on fresh copies of the demo file.
//!
//! Knobs (environment):
//!   USERDECK_BIN           server binary (default target/release/userdeck)
//!   USERDECK_BENCH_USERS   demo users (default 1000000)
//!   USERDECK_BENCH_RUNS    timed requests per condition (default 5)
//!   USERDECK_BENCH_PYTHON  Python with `duckdb` (default target/bench/venv/bin/python
//!                          when present, else python3; `pip install duckdb`)
//!   USERDECK_BENCH_WRITE_PAIRS    write runs with the index on and off, in turn (default
//!                          2; 0 skips them), each on a fresh copy of the demo file
//!   USERDECK_BENCH_WRITE_SECONDS  measured identify seconds per write run (default 10)
//!   USERDECK_BENCH_PG_LOAD how an empty PostgreSQL is filled: `copy` (default: the
//!                          SQLite rows, so both hold the same users) or `demo`
//!                          (`userdeck demo` against PostgreSQL: demo times are
//!                          relative to when it runs, so date rules may count a
//!                          few users more or less than on SQLite)

mod support;

use futures_util::TryStreamExt;
use serde_json::{json, Value};
use sqlx::{Row, TypeInfo, ValueRef};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};
use support::{load, machine, Server};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The three segments: each adds rules to the one before. Values were
/// chosen on the demo data (src/server/demo.rs) so each step keeps a
/// sensible share of users; the odd cases in the country list check that
/// every engine ignores case.
fn conditions() -> Vec<(&'static str, Vec<(&'static str, Value)>)> {
    let plan = (
        "plan is \"Pro\" (string)",
        json!({"attribute": "plan", "op": "is", "value": "Pro"}),
    );
    let mrr = (
        "mrr > 500 (number)",
        json!({"attribute": "mrr", "op": "gt", "value": 500}),
    );
    let login = (
        "last_login less than 30 days ago (date)",
        json!({"attribute": "last_login", "op": "days_ago_lt", "value": 30}),
    );
    let exports = (
        "features_used contains \"exports\" (array)",
        json!({"attribute": "features_used", "op": "contains", "value": "exports"}),
    );
    let country = (
        "country in [United States, germany, FRANCE, United Kingdom] (string)",
        json!({"attribute": "country", "op": "in",
               "value": ["United States", "germany", "FRANCE", "United Kingdom"]}),
    );
    let renewal = (
        "renewal_date in the next 90 days (date)",
        json!({"attribute": "renewal_date", "op": "days_ahead_lt", "value": 90}),
    );
    vec![
        ("1 rule", vec![plan.clone()]),
        ("3 rules", vec![plan.clone(), mrr.clone(), login.clone()]),
        ("6 rules", vec![plan, mrr, login, exports, country, renewal]),
    ]
}

/// A condition's API form: one rule alone, several under `all`.
fn condition_json(rules: &[(&str, Value)]) -> Value {
    match rules {
        [(_, one)] => one.clone(),
        _ => json!({"all": rules.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>()}),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// One engine's figures for one condition.
#[derive(Clone, Debug)]
struct Figures {
    times_ms: Vec<f64>,
    count: i64,
    /// The instant its date rules counted at (ms): the count agrees with
    /// another engine's only at the same instant.
    now: i64,
}

impl Figures {
    fn median(&self) -> f64 {
        median(self.times_ms.clone())
    }

    fn min(&self) -> f64 {
        self.times_ms.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

struct Engine {
    name: String,
    figures: Vec<Figures>,
    /// The 1-minute load average when it started: above the CPU count,
    /// something else competed for the CPUs.
    load: f64,
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// Times `POST /api/v1/segments/count` for each condition: a warm-up, then
/// `runs` requests. The count is the warm-up's, made at the instant read
/// right before it (the server reads its clock a few ms later); a later
/// count that differs (a date crossed a boundary meanwhile) is reported.
async fn time_server(
    base: &str,
    key: &str,
    conds: &[Value],
    runs: usize,
    notes: &mut Vec<String>,
) -> Vec<Figures> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let post = |cond: &Value| {
        let req = http
            .post(format!("{base}/api/v1/segments/count"))
            .bearer_auth(key)
            .json(&json!({ "condition": cond }));
        async move {
            let t = Instant::now();
            let res = req.send().await.expect("POST /api/v1/segments/count");
            let status = res.status();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            let took = t.elapsed().as_secs_f64() * 1000.0;
            assert!(status.is_success(), "segments/count: {status} {body}");
            (took, body["count"].as_i64().expect("a count"))
        }
    };
    let mut out = Vec::new();
    for (i, cond) in conds.iter().enumerate() {
        let now = now_ms();
        let (_, count) = post(cond).await;
        let mut times_ms = Vec::with_capacity(runs);
        let mut later = Vec::new();
        for _ in 0..runs {
            let (took, n) = post(cond).await;
            if n != count && !later.contains(&n) {
                later.push(n);
            }
            times_ms.push(took);
        }
        if !later.is_empty() {
            notes.push(format!(
                "condition {}: the count went from {count} to {later:?} during the runs \
                 (dates crossed a boundary as the clock moved)",
                i + 1
            ));
        }
        out.push(Figures {
            times_ms,
            count,
            now,
        });
    }
    out
}

fn slow_statements(problems: &[String]) -> usize {
    problems
        .iter()
        .filter(|p| p.contains("slow statement"))
        .count()
}

/// What every server run shares.
struct Bench<'a> {
    bin: &'a Path,
    dir: &'a Path,
    conds: &'a [Value],
    runs: usize,
}

/// Starts the server on `db_url` (with the segment index or not), times
/// the conditions, stops it.
async fn run_server(
    b: &Bench<'_>,
    name: &str,
    db_url: &str,
    key: &str,
    index: bool,
) -> (Engine, Vec<String>) {
    let Bench {
        bin,
        dir,
        conds,
        runs,
    } = *b;
    let envs = [
        ("RUST_LOG", "warn,userdeck=info"),
        ("USERDECK_SEGMENT_INDEX", if index { "on" } else { "off" }),
    ];
    let server = Server::start(bin, db_url, dir, &envs).await;
    let mut mine = Vec::new();
    if index {
        let waited = server.wait_for_index().await;
        mine.push(format!(
            "served at once; the index was ready {waited:.1} s later"
        ));
    }
    let load = load_average();
    for line in server.log_lines("segment index: ") {
        if let Some((_, what)) = line.split_once("segment index: ") {
            if what.contains("loaded") {
                mine.push(format!("index {what}"));
            }
        }
    }
    // Slow statements of the index's load are not the counts'.
    let slow_before = slow_statements(&server.problems());
    let figures = time_server(&server.base, key, conds, runs, &mut mine).await;
    if let Some(rss) = server.rss_mib() {
        mine.push(format!(
            "server resident memory after the counts: {rss} MiB"
        ));
    }
    // sqlx warns of every statement over 1 s: one line says how many.
    let problems = server.problems();
    let slow = slow_statements(&problems) - slow_before;
    if slow > 0 {
        mine.push(format!(
            "{slow} of {} counts ran over 1 s (sqlx slow-statement warnings)",
            conds.len() * (runs + 1)
        ));
    }
    for p in problems.iter().filter(|p| !p.contains("slow statement")) {
        mine.push(format!("server: {p}"));
    }
    server.stop();
    let notes = mine.into_iter().map(|n| format!("{name}: {n}")).collect();
    let engine = Engine {
        name: name.into(),
        figures,
        load,
    };
    (engine, notes)
}

// ---------------------------------------------------------------------------
// Writes with the index on and off

/// One write run on a fresh copy of the demo database.
struct WriteRun {
    index: bool,
    identify: load::IdentifyResult,
    /// Attribute writes/s of a batch pass creating users.
    batch: f64,
}

/// Identify calls (16 keep-alive clients, half new users, half updates) and
/// a pass of batch calls creating 20,000 users, on a copy of the demo
/// database (the counted file stays as it was), with the index on and off
/// in turn. The index is loaded before the writes start.
async fn write_runs(b: &Bench<'_>, db: &Path, key: &str, pairs: usize) -> Vec<WriteRun> {
    let copy = b.dir.join("writes.db");
    let url = format!("sqlite://{}", copy.display());
    let seconds: f64 = env_or("USERDECK_BENCH_WRITE_SECONDS", 10.0);
    let remove_copy = || {
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", copy.display()));
        }
    };
    let mut out = Vec::new();
    for _ in 0..pairs {
        for index in [true, false] {
            remove_copy();
            std::fs::copy(db, &copy).expect("copy the demo database");
            let envs = [
                ("RUST_LOG", "warn,userdeck=info"),
                ("USERDECK_SEGMENT_INDEX", if index { "on" } else { "off" }),
            ];
            let server = Server::start(b.bin, &url, b.dir, &envs).await;
            if index {
                server.wait_for_index().await;
            }
            eprintln!("writes, index {} ...", if index { "on" } else { "off" });
            let identify =
                load::identify_run(&server.base, key, server.pid(), 16, 2.0, seconds).await;
            let batch = load::batch_run(&server.base, key, server.pid(), 4, 20_000, 0, None).await;
            server.stop();
            out.push(WriteRun {
                index,
                identify,
                batch: batch.attr_writes_per_sec,
            });
        }
    }
    remove_copy();
    out
}

fn print_writes(runs: &[WriteRun], users: u64) {
    println!("\nwrites on a copy of the {users} users (the index loaded first), in turn:");
    println!(
        "{:<6} | {:>10} {:>7} {:>7} | {:>24}",
        "index", "identify/s", "p50 ms", "p99 ms", "batch attribute writes/s"
    );
    for r in runs {
        println!(
            "{:<6} | {:>10.0} {:>7.1} {:>7.1} | {:>24.0}",
            if r.index { "on" } else { "off" },
            r.identify.per_sec,
            r.identify.p50_ms,
            r.identify.p99_ms,
            r.batch
        );
    }
    let of = |index: bool, f: fn(&WriteRun) -> f64| {
        median(runs.iter().filter(|r| r.index == index).map(f).collect())
    };
    let change = |f: fn(&WriteRun) -> f64| {
        let (on, off) = (of(true, f), of(false, f));
        format!("{on:.0} vs {off:.0} ({:+.1}%)", (on / off - 1.0) * 100.0)
    };
    println!(
        "index on vs off (medians): identify/s {}; batch attribute writes/s {}",
        change(|r| r.identify.per_sec),
        change(|r| r.batch)
    );
    for r in runs.iter().filter(|r| r.identify.errors > 0) {
        println!(
            "  {} identify errors, first: {}",
            r.identify.errors,
            r.identify.first_error.as_deref().unwrap_or("?")
        );
    }
}

// ---------------------------------------------------------------------------
// PostgreSQL

/// Tables copied from the SQLite demo: what a count reads, and the workspace.
const COPIED: &[&str] = &[
    "workspaces",
    "users",
    "attribute_definitions",
    "attribute_sources",
    "attributes",
];

/// One SQLite value as a CSV field for `COPY ... (FORMAT csv)`: NULL is an
/// empty unquoted field, text is always quoted.
fn csv_field(row: &sqlx::sqlite::SqliteRow, i: usize, out: &mut Vec<u8>) -> Result<(), String> {
    let raw = row.try_get_raw(i).map_err(|e| e.to_string())?;
    if raw.is_null() {
        return Ok(());
    }
    let kind = raw.type_info().name().to_string();
    match kind.as_str() {
        "INTEGER" => write!(out, "{}", row.get::<i64, _>(i)).unwrap(),
        "REAL" => write!(out, "{}", row.get::<f64, _>(i)).unwrap(),
        "TEXT" => {
            let s: String = row.get(i);
            out.push(b'"');
            out.extend_from_slice(s.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        }
        other => return Err(format!("cannot copy a {other} value")),
    }
    Ok(())
}

/// Fills PostgreSQL with the SQLite demo's rows, so both hold the same
/// users (the demo's times are relative to when it was made). The schema
/// comes from the binary's own migrations (`userdeck demo --users 0`).
async fn copy_to_postgres(bin: &Path, sqlite_url: &str, pg_url: &str) -> Result<(), String> {
    let ok = Command::new(bin)
        .args(["demo", "--users", "0", "--database-url", pg_url])
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return Err("`userdeck demo --users 0` (the schema) failed on PostgreSQL".into());
    }
    let lite = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&format!("{sqlite_url}?mode=ro"))
        .await
        .map_err(|e| e.to_string())?;
    let pg = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(pg_url)
        .await
        .map_err(|e| e.to_string())?;
    let mut conn = pg.acquire().await.map_err(|e| e.to_string())?;
    let e = |e: sqlx::Error| e.to_string();
    // The rows come from a database that kept the same foreign keys: skip
    // the per-row checks.
    sqlx::raw_sql(
        "SET session_replication_role = replica; \
         TRUNCATE workspaces, users, attributes, attribute_definitions, attribute_sources, \
         accounts, sessions, segments, invites CASCADE",
    )
    .execute(&mut *conn)
    .await
    .map_err(e)?;
    for table in COPIED {
        let t = Instant::now();
        let pg_cols: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&mut *conn)
        .await
        .map_err(e)?;
        let lite_cols: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info(?1)")
            .bind(table)
            .fetch_all(&lite)
            .await
            .map_err(e)?;
        let cols: Vec<String> = pg_cols
            .into_iter()
            .filter(|c| lite_cols.contains(c))
            .map(|c| format!("\"{c}\""))
            .collect();
        let cols = cols.join(", ");
        let mut copy = conn
            .copy_in_raw(&format!("COPY {table} ({cols}) FROM STDIN (FORMAT csv)"))
            .await
            .map_err(e)?;
        let select = format!("SELECT {cols} FROM {table}");
        let mut rows = sqlx::query(&select).fetch(&lite);
        let mut buf = Vec::with_capacity(1 << 21);
        let mut n = 0u64;
        while let Some(row) = rows.try_next().await.map_err(e)? {
            for i in 0..row.len() {
                if i > 0 {
                    buf.push(b',');
                }
                csv_field(&row, i, &mut buf)?;
            }
            buf.push(b'\n');
            n += 1;
            if buf.len() >= 1 << 20 {
                copy.send(std::mem::take(&mut buf)).await.map_err(e)?;
            }
        }
        copy.send(buf).await.map_err(e)?;
        copy.finish().await.map_err(e)?;
        eprintln!("  {table}: {n} rows in {:.0} s", t.elapsed().as_secs_f64());
    }
    // Identity columns continue after the copied ids.
    sqlx::raw_sql(
        "SET session_replication_role = DEFAULT; \
         SELECT setval(pg_get_serial_sequence('workspaces', 'id'), (SELECT MAX(id) FROM workspaces)); \
         SELECT setval(pg_get_serial_sequence('users', 'id'), COALESCE((SELECT MAX(id) FROM users), 1))",
    )
    .execute(&mut *conn)
    .await
    .map_err(e)?;
    Ok(())
}

/// Users in PostgreSQL (0 without the schema).
async fn pg_users(pg: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users")
        .fetch_one(pg)
        .await
        .unwrap_or(0)
}

/// Makes sure PostgreSQL holds the demo; a line saying how.
async fn prepare_postgres(
    bin: &Path,
    sqlite_url: &str,
    pg_url: &str,
    users: u64,
) -> Result<String, String> {
    let pg = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(pg_url)
        .await
        .map_err(|e| format!("cannot connect to {pg_url}: {e}"))?;
    let had = pg_users(&pg).await;
    let how = if had > 0 {
        format!("{had} users already there (not reloaded)")
    } else {
        let mode = std::env::var("USERDECK_BENCH_PG_LOAD").unwrap_or_else(|_| "copy".into());
        let t = Instant::now();
        if mode == "demo" {
            println!("making {users} demo users in PostgreSQL with `userdeck demo` ...");
            let ok = Command::new(bin)
                .args([
                    "demo",
                    "--users",
                    &users.to_string(),
                    "--database-url",
                    pg_url,
                ])
                .env("RUST_LOG", "warn")
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return Err("userdeck demo failed on PostgreSQL".into());
            }
        } else {
            println!("copying the SQLite demo's rows to PostgreSQL ...");
            copy_to_postgres(bin, sqlite_url, pg_url).await?;
        }
        let load = t.elapsed().as_secs_f64();
        // What autovacuum would do soon after a bulk load: statistics for
        // the planner, the visibility map for index-only scans.
        let t = Instant::now();
        sqlx::raw_sql("VACUUM ANALYZE")
            .execute(&pg)
            .await
            .map_err(|e| e.to_string())?;
        let vacuum = t.elapsed().as_secs_f64();
        let how = if mode == "demo" {
            "made by `userdeck demo`"
        } else {
            "copied from the SQLite demo"
        };
        format!("{how} in {load:.0} s, then VACUUM ANALYZE in {vacuum:.0} s")
    };
    let settings: Vec<String> = sqlx::query_scalar(
        "SELECT name || ' ' || current_setting(name) FROM pg_settings \
         WHERE name IN ('fsync', 'shared_buffers', 'work_mem', 'max_parallel_workers_per_gather') \
         ORDER BY name",
    )
    .fetch_all(&pg)
    .await
    .unwrap_or_default();
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&pg)
        .await
        .unwrap_or_default();
    let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&pg)
        .await
        .unwrap_or(0);
    Ok(format!(
        "PostgreSQL {version} ({} MiB; {}): {how}",
        size >> 20,
        settings.join(", ")
    ))
}

async fn secret_key(url: &str) -> String {
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    sqlx::query_scalar::<_, String>("SELECT secret_key FROM workspaces ORDER BY id LIMIT 1")
        .fetch_one(&pool)
        .await
        .expect("a workspace")
}

// ---------------------------------------------------------------------------
// The references

struct Reference {
    engines: Vec<Engine>,
    /// DuckDB's counts at other instants: ((now, condition), count).
    checks: Vec<((i64, usize), i64)>,
    notes: Vec<String>,
}

/// Runs the references at `nows` (one instant per condition) and has
/// DuckDB count `checks` (instant, condition) too.
fn run_reference(
    python: &str,
    script: &Path,
    db: &Path,
    nows: &[i64],
    checks: &[(i64, usize)],
    conds: &[Value],
    runs: usize,
) -> Result<Reference, String> {
    let mut child = Command::new(python)
        .arg(script)
        .arg(db)
        .arg(nows[0].to_string())
        .args(["--runs", &runs.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    let checks: Vec<Value> = checks
        .iter()
        .map(|(now, i)| json!({"now": now, "condition": i}))
        .collect();
    let input = json!({"conditions": conds, "nows": nows, "checks": checks});
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("{} failed ({})", script.display(), out.status));
    }
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let engines = v["engines"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| Engine {
            name: e["name"].as_str().unwrap_or("?").to_string(),
            load: f64::NAN,
            figures: e["results"]
                .as_array()
                .into_iter()
                .flatten()
                .zip(nows)
                .map(|(r, &now)| Figures {
                    now,
                    count: r["count"].as_i64().unwrap_or(-1),
                    times_ms: r["times_ms"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_f64)
                        .collect(),
                })
                .collect(),
        })
        .collect();
    let checks = v["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let at = c["now"].as_i64().unwrap_or(0);
            let i = c["condition"].as_u64().unwrap_or(0) as usize;
            ((at, i), c["count"].as_i64().unwrap_or(-1))
        })
        .collect();
    let notes = v["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect();
    Ok(Reference {
        engines,
        checks,
        notes,
    })
}

fn python() -> String {
    if let Ok(p) = std::env::var("USERDECK_BENCH_PYTHON") {
        return p;
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench/venv/bin/python");
    if venv.exists() {
        venv.display().to_string()
    } else {
        "python3".into()
    }
}

// ---------------------------------------------------------------------------

fn main() -> ExitCode {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!(
            "segments: a benchmark; run it with `cargo bench --features ssr --bench segments`"
        );
        return ExitCode::SUCCESS;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let Some(bin) = support::server_binary() else {
        return ExitCode::FAILURE;
    };
    let users: u64 = env_or("USERDECK_BENCH_USERS", 1_000_000);
    let runs: usize = env_or("USERDECK_BENCH_RUNS", 5).max(1);
    let dir = root.join("target/bench");
    // The dashboard benchmark's file: made once, shared.
    let Some((db, made)) = support::demo_database(&bin, &dir, users) else {
        return ExitCode::FAILURE;
    };
    let url = format!("sqlite://{}", db.display());
    let conds = conditions();
    let cond_json: Vec<Value> = conds.iter().map(|(_, r)| condition_json(r)).collect();
    let pg_url = std::env::var("USERDECK_TEST_POSTGRES_URL").ok();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut notes = Vec::new();
    let bench = Bench {
        bin: &bin,
        dir: &dir,
        conds: &cond_json,
        runs,
    };
    let (mut engines, pg_line, writes) = rt.block_on(async {
        sqlx::any::install_default_drivers();
        let key = secret_key(&url).await;
        let mut engines = Vec::new();
        for (name, index) in [
            ("userdeck, segment index (in memory)", true),
            ("userdeck on SQLite, SQL (index off)", false),
        ] {
            eprintln!("timing {name} ...");
            let (engine, n) = run_server(&bench, name, &url, &key, index).await;
            engines.push(engine);
            notes.extend(n);
        }
        let mut pg_line = None;
        if let Some(pg_url) = &pg_url {
            match prepare_postgres(&bin, &url, pg_url, users).await {
                Ok(line) => {
                    eprintln!("timing userdeck on PostgreSQL ...");
                    let key = secret_key(pg_url).await;
                    let (engine, n) = run_server(
                        &bench,
                        "userdeck on PostgreSQL, SQL (index off)",
                        pg_url,
                        &key,
                        false,
                    )
                    .await;
                    engines.push(engine);
                    notes.extend(n);
                    pg_line = Some(line);
                }
                Err(e) => pg_line = Some(format!("PostgreSQL skipped: {e}")),
            }
        }
        let pairs: usize = env_or("USERDECK_BENCH_WRITE_PAIRS", 2);
        let writes = write_runs(&bench, &db, &key, pairs).await;
        (engines, pg_line, writes)
    });

    // The references count each condition at the instant the SQLite
    // server was asked it; DuckDB also counts at the PostgreSQL run's
    // instants, so that every count can be compared exactly.
    let sqlite_nows: Vec<i64> = engines[0].figures.iter().map(|f| f.now).collect();
    let checks: Vec<(i64, usize)> = engines[1..]
        .iter()
        .flat_map(|e| e.figures.iter().enumerate().map(|(i, f)| (f.now, i)))
        .collect();
    eprintln!("timing the references ...");
    let reference_load = load_average();
    let script = root.join("benches/reference/segment_counts.py");
    let reference = match run_reference(
        &python(),
        &script,
        &db,
        &sqlite_nows,
        &checks,
        &cond_json,
        runs,
    ) {
        Ok(r) => Some(r),
        Err(e) => {
            println!("references skipped: {e} (is `duckdb` installed? see USERDECK_BENCH_PYTHON)");
            None
        }
    };
    let server_engines = engines.len();
    if let Some(r) = &reference {
        engines.extend(r.engines.iter().map(|e| Engine {
            name: e.name.clone(),
            figures: e.figures.clone(),
            load: reference_load,
        }));
    }

    // The figures.
    let db_mib = std::fs::metadata(&db).map_or(0, |m| m.len()) >> 20;
    println!(
        "\nuserdeck segment counts, {users} demo users, release build\n{}",
        machine()
    );
    if let Some(s) = made {
        println!("demo database made in this run in {s:.0} s");
    }
    println!("SQLite: {} ({db_mib} MiB)", db.display());
    match &pg_line {
        Some(l) => println!("{l}"),
        None => println!(
            "PostgreSQL: not run (set USERDECK_TEST_POSTGRES_URL, e.g. with scripts/with-postgres)"
        ),
    }
    for n in reference.iter().flat_map(|r| &r.notes) {
        println!("references: {n}");
    }
    println!(
        "userdeck: POST /api/v1/segments/count over loopback (HTTP, parsing, SQL); \
         references: the query alone from Python.\nMedian and fastest of {runs} runs after a warm-up, in ms.\n"
    );
    for (label, rules) in &conds {
        let list: Vec<&str> = rules.iter().map(|(d, _)| *d).collect();
        println!("  {label:<8} {}", list.join(", "));
    }
    print!("\n{:<44}", "");
    for (label, _) in &conds {
        print!(" | {label:^26}");
    }
    print!(" | load");
    print!("\n{:<44}", "engine");
    for _ in &conds {
        print!(" | {:>8} {:>8} {:>8}", "median", "min", "count");
    }
    println!(" |  avg");
    for e in &engines {
        print!("{:<44}", e.name);
        for f in &e.figures {
            print!(" | {:>8.1} {:>8.1} {:>8}", f.median(), f.min(), f.count);
        }
        println!(" | {:>4.1}", e.load);
    }
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "(load avg: the 1-minute load average as the engine started; above {cpus}, \
         other work competed for the {cpus} CPUs)"
    );
    for n in &notes {
        println!("{n}");
    }

    // Every count must agree with DuckDB's at the same instant.
    let mut mismatches = Vec::new();
    if let Some(r) = &reference {
        let duckdb = r.engines.last();
        let duck_at = |now: i64, i: usize| -> Option<i64> {
            match duckdb.and_then(|e| e.figures.get(i)) {
                Some(f) if f.now == now => Some(f.count),
                _ => r
                    .checks
                    .iter()
                    .find(|(key, _)| *key == (now, i))
                    .map(|(_, c)| *c),
            }
        };
        for e in &engines {
            for (i, f) in e.figures.iter().enumerate() {
                let want = duck_at(f.now, i);
                if want != Some(f.count) {
                    mismatches.push(format!(
                        "{}: {} counted {}, DuckDB {} (now = {} ms)",
                        conds[i].0,
                        e.name,
                        f.count,
                        want.map_or("-".into(), |c| c.to_string()),
                        f.now
                    ));
                }
            }
        }
    }
    let instants = |e: &Engine| {
        let n: Vec<String> = e.figures.iter().map(|f| f.now.to_string()).collect();
        n.join(", ")
    };
    println!(
        "\n\"now\" of the date rules (ms, per condition): {} {}",
        engines[0].name,
        instants(&engines[0])
    );
    for e in &engines[1..server_engines] {
        println!("  {} {}", e.name, instants(e));
    }
    println!(
        "  read right before each warm-up request (the server reads its clock a few ms later); \
         the references count at the SQLite run's{}",
        if server_engines > 1 {
            ", and DuckDB, untimed, at the PostgreSQL run's too"
        } else {
            ""
        }
    );
    if reference.is_none() {
        println!("counts not cross-checked (no references)");
    } else if mismatches.is_empty() {
        println!("counts: every engine agrees");
    } else {
        println!("COUNTS DIFFER:");
        for m in &mismatches {
            println!("  {m}");
        }
    }
    if !writes.is_empty() {
        print_writes(&writes, users);
    }
    ExitCode::SUCCESS
}
