//! The write load the benchmarks drive over HTTP: identify calls from
//! keep-alive clients and batch calls, with the CPU each side used.

use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const BATCH: u64 = 1000;
pub const ATTRS_PER_BATCH_USER: u64 = 10;
pub const ATTRS_PER_IDENTIFY: u64 = 5;

/// CPU seconds (user + system) a process has used.
pub fn cpu_seconds(pid: &str) -> f64 {
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
pub fn thread_cpu(pid: u32) -> std::collections::BTreeMap<String, f64> {
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
pub fn busiest(
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

/// A small deterministic generator (no dependency needed).
pub struct Rng(u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

pub const PLANS: &[&str] = &["Free", "Starter", "Pro", "Enterprise"];
pub const ROLES: &[&str] = &["admin", "member", "viewer", "owner", "billing"];
pub const COUNTRIES: &[&str] = &["FR", "DE", "US", "GB", "ES", "JP", "BR", "IN"];
pub const FEATURES: &[&str] = &[
    "reports",
    "export",
    "sso",
    "api",
    "tours",
    "surveys",
    "checklists",
];

pub fn date(seed: u64) -> String {
    // Days over two years before 2026-01-01.
    let day = seed % 730;
    let d =
        chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Duration::days(day as i64);
    format!("{d}T{:02}:{:02}:00Z", seed % 24, seed % 60)
}

pub fn features(seed: u64) -> Vec<&'static str> {
    FEATURES
        .iter()
        .enumerate()
        .filter(|(i, _)| (seed >> i) & 1 == 1)
        .map(|(_, f)| *f)
        .collect()
}

/// One identify of (a): 5 attributes of every type.
pub fn identify_body(user: &str, seed: u64) -> Value {
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
pub fn batch_user(u: u64, round: u64) -> Value {
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
pub struct Tally {
    pub ok: u64,
    pub errors: u64,
    pub latencies_us: Vec<u64>,
    pub first_error: Option<String>,
    /// (when, users written) per batch call.
    pub done: Vec<(Instant, u64)>,
}

pub struct IdentifyResult {
    pub clients: usize,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub server_cpu: f64,
    pub client_cpu: f64,
    pub threads: String,
}

/// (a): `clients` tasks, each one keep-alive connection, identify in a loop.
pub async fn identify_run(
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

pub struct BatchResult {
    pub what: &'static str,
    pub users: u64,
    pub seconds: f64,
    pub attr_writes_per_sec: f64,
    pub users_per_sec: f64,
    /// Attribute writes/s over the first and the last quarter of the pass.
    pub quarters: (f64, f64),
    pub p50_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub server_cpu: f64,
    pub client_cpu: f64,
    pub threads: String,
}

/// (b): batches of `BATCH` users; `round` 0 creates users 0..users, a later
/// round rewrites them (for at most `limit` seconds).
pub async fn batch_run(
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
