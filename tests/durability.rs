//! Crash durability: SIGKILL the real server while clients write, restart it
//! on the same database, and find every write that was acknowledged.
//!
//! Eight clients send `POST /api/v1/identify` (new users and repeated updates
//! of a few "hot" users) and now and then a `POST /api/v1/batch`; every
//! write carries a counter that only grows per client. Each write that got a
//! 200 is recorded. After ~1.5 s (longer, up to 6 s, if fewer than 300
//! writes were acknowledged by then) the server is killed with SIGKILL (no
//! graceful shutdown), restarted, and every acknowledged write must be there:
//! the user exists, its `counter` is at least the acknowledged one (a later,
//! unanswered write of the same client may have landed too, never one that
//! was not sent), and the rest of that write (name, `label`) agrees with the
//! counter, so no write is half-applied. Two kill cycles run on the same
//! database, so the second also writes on a database that recovered from a crash.
//!
//! SIGKILL leaves the operating system's page cache intact, so this proves
//! the server answers only after its commit; it does not prove that the
//! commit reached the disk (a power cut would; SQLite's synchronous=FULL is
//! what covers that).
//!
//! Runs on SQLite, and on PostgreSQL when USERDECK_TEST_POSTGRES_URL is set
//! (`scripts/with-postgres cargo test --features ssr --test durability`).
#![cfg(feature = "ssr")]

mod common;

use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_userdeck");
const CLIENTS: usize = 8;
/// How long clients write before the kill.
const WRITE_FOR: Duration = Duration::from_millis(1500);
/// Acknowledged writes per cycle worth checking; fewer fail the test.
const ENOUGH: u64 = 300;
const AT_LEAST: u64 = 100;
/// The longest clients write before the kill, when ENOUGH takes a while.
const MAX_WRITE_FOR: Duration = Duration::from_secs(6);
/// Kill/restart cycles on the same database.
const CYCLES: usize = 2;
/// Hot users per client: updated over and over.
const HOT_USERS: u64 = 4;
/// Users per batch call; every 10th request of a client is a batch.
const BATCH_SIZE: u64 = 10;
/// The whole run on one database must stay under this.
const BUDGET: Duration = Duration::from_secs(30);

/// A running `userdeck serve`.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Server {
    /// Starts the server on a free loopback port and waits for `/healthz`.
    async fn start(db_url: &str, dir: &Path, label: &str) -> Server {
        let log = dir.join(format!("server-{label}.log"));
        let mut last_failure = String::new();
        for attempt in 0..3 {
            let port = free_port();
            let addr = format!("127.0.0.1:{port}");
            let out = std::fs::File::create(&log).expect("server log file");
            let err = out.try_clone().expect("server log file");
            let mut child = Command::new(BIN)
                .args(["serve", "--addr", &addr, "--database-url", db_url])
                .env("RUST_LOG", "info,sqlx=warn")
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .expect("start userdeck serve");
            let base = format!("http://{addr}");
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Some(status) = child.try_wait().expect("poll server") {
                    last_failure = format!(
                        "attempt {attempt}: server exited with {status}:\n{}",
                        tail(&log)
                    );
                    break;
                }
                if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
                    if r.status() == 200 {
                        return Server { child, base, log };
                    }
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "server did not answer /healthz within 20 s:\n{}",
                        tail(&log)
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        panic!("could not start the server: {last_failure}");
    }

    /// SIGKILL: no graceful shutdown, no flush, no checkpoint.
    fn kill(mut self) -> PathBuf {
        self.child.kill().expect("SIGKILL the server");
        let status = self.child.wait().expect("reap the server");
        assert!(
            !status.success(),
            "the server should have died from SIGKILL, got {status}"
        );
        self.log.clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .unwrap()
        .port()
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// The workspace's secret key, from `userdeck keys`.
fn secret_key(db_url: &str) -> String {
    let out = Command::new(BIN)
        .args(["keys", "--database-url", db_url])
        .output()
        .expect("run userdeck keys");
    assert!(
        out.status.success(),
        "userdeck keys failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "userdeck keys printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    keys["secret_key"]
        .as_str()
        .expect("secret_key in the output of userdeck keys")
        .to_string()
}

/// What the clients know about one user.
#[derive(Clone, Copy, Debug, Default)]
struct Known {
    /// Highest counter acknowledged with a 200.
    acked: Option<u64>,
    /// Highest counter sent (answered or not).
    sent: u64,
}

#[derive(Default)]
struct Ledger {
    users: HashMap<String, Known>,
    acked_writes: u64,
    unanswered: u64,
    /// Answers other than 200 to valid writes: always a server problem.
    bad_answers: Vec<String>,
}

impl Ledger {
    fn sent(&mut self, user: &str, counter: u64) {
        let k = self.users.entry(user.to_string()).or_default();
        k.sent = k.sent.max(counter);
    }
    fn acked(&mut self, user: &str, counter: u64) {
        let k = self.users.entry(user.to_string()).or_default();
        k.acked = Some(k.acked.map_or(counter, |a| a.max(counter)));
        self.acked_writes += 1;
    }
}

fn identify_body(user: &str, counter: u64, client: usize) -> Value {
    json!({
        "user_id": user,
        "name": format!("Name {counter}"),
        "attributes": {
            "counter": counter,
            "label": format!("v{counter}"),
            "client": format!("c{client}"),
            "even": counter.is_multiple_of(2),
        }
    })
}

/// One client: sequential writes until `stop`, or until the server is gone.
async fn client(
    base: String,
    key: String,
    client: usize,
    cycle: usize,
    stop: Arc<AtomicBool>,
    ledger: Arc<Mutex<Ledger>>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    // Counters grow across cycles, so a later cycle's values are always higher.
    let mut counter = (cycle as u64) * 1_000_000;
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        counter += 1;
        if i.is_multiple_of(10) {
            let users: Vec<String> = (0..BATCH_SIZE)
                .map(|j| format!("c{client}-b{counter}-{j}"))
                .collect();
            let batch: Vec<Value> = users
                .iter()
                .map(|u| identify_body(u, counter, client))
                .collect();
            {
                let mut l = ledger.lock().unwrap();
                for u in &users {
                    l.sent(u, counter);
                }
            }
            match http
                .post(format!("{base}/api/v1/batch"))
                .bearer_auth(&key)
                .json(&json!({ "batch": batch }))
                .send()
                .await
            {
                Ok(r) if r.status() == 200 => match r.json::<Value>().await {
                    Ok(answer) => {
                        let results = answer["results"].as_array().cloned().unwrap_or_default();
                        let mut l = ledger.lock().unwrap();
                        if results.len() != users.len() {
                            l.bad_answers.push(format!(
                                "batch answered {} results for {} items: {answer}",
                                results.len(),
                                users.len()
                            ));
                        }
                        for (u, res) in users.iter().zip(&results) {
                            if res["ok"] == json!(true) {
                                l.acked(u, counter);
                            } else {
                                l.bad_answers.push(format!("batch item {u}: {res}"));
                            }
                        }
                    }
                    // The answer was cut off by the kill: not acknowledged.
                    Err(_) => {
                        ledger.lock().unwrap().unanswered += 1;
                        break;
                    }
                },
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    ledger
                        .lock()
                        .unwrap()
                        .bad_answers
                        .push(format!("batch: {status} {text}"));
                }
                Err(_) => {
                    ledger.lock().unwrap().unanswered += 1;
                    break;
                }
            }
        } else {
            // Odd steps create a user; even steps update one of the hot users.
            let user = if i % 2 == 1 {
                format!("c{client}-n{counter}")
            } else {
                format!("c{client}-hot{}", (i / 2) % HOT_USERS)
            };
            ledger.lock().unwrap().sent(&user, counter);
            match http
                .post(format!("{base}/api/v1/identify"))
                .bearer_auth(&key)
                .json(&identify_body(&user, counter, client))
                .send()
                .await
            {
                Ok(r) if r.status() == 200 => match r.json::<Value>().await {
                    Ok(u) => {
                        let mut l = ledger.lock().unwrap();
                        if u["user_id"] != json!(user) {
                            l.bad_answers
                                .push(format!("identify {user} answered another user: {u}"));
                        }
                        l.acked(&user, counter);
                    }
                    Err(_) => {
                        ledger.lock().unwrap().unanswered += 1;
                        break;
                    }
                },
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    ledger
                        .lock()
                        .unwrap()
                        .bad_answers
                        .push(format!("identify {user}: {status} {text}"));
                }
                Err(_) => {
                    ledger.lock().unwrap().unanswered += 1;
                    break;
                }
            }
        }
    }
}

/// Checks every user of the ledger against the restarted server; returns
/// (acknowledged users found, unacknowledged-only users found).
async fn verify(base: &str, key: &str, users: Vec<(String, Known)>, db: &str) -> (usize, usize) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let chunks: Vec<Vec<(String, Known)>> = users
        .chunks(users.len().div_ceil(8).max(1))
        .map(|c| c.to_vec())
        .collect();
    let mut tasks = Vec::new();
    for chunk in chunks {
        let http = http.clone();
        let (base, key) = (base.to_string(), key.to_string());
        tasks.push(tokio::spawn(async move {
            let mut problems = Vec::new();
            let (mut found_acked, mut found_extra) = (0, 0);
            for (user, known) in chunk {
                let r = http
                    .get(format!("{base}/api/v1/users/{user}"))
                    .bearer_auth(&key)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("GET user {user} after restart: {e}"));
                let status = r.status();
                if status == 404 {
                    if let Some(a) = known.acked {
                        problems.push(format!(
                            "LOST: {user} was acknowledged with counter {a} but is gone"
                        ));
                    }
                    continue;
                }
                if status != 200 {
                    problems.push(format!(
                        "GET {user}: {status} {}",
                        r.text().await.unwrap_or_default()
                    ));
                    continue;
                }
                let u: Value = r.json().await.expect("user JSON");
                let attr = |name: &str| {
                    u["attributes"]
                        .as_array()
                        .and_then(|a| a.iter().find(|x| x["name"] == name))
                        .map(|x| x["value"].clone())
                };
                let Some(counter) = attr("counter").and_then(|v| v.as_f64()) else {
                    problems.push(format!("{user} has no numeric counter: {u}"));
                    continue;
                };
                let counter = counter as u64;
                match known.acked {
                    Some(a) if counter < a => problems.push(format!(
                        "LOST UPDATE: {user} has counter {counter}, but {a} was acknowledged"
                    )),
                    _ if counter > known.sent => problems.push(format!(
                        "{user} has counter {counter}, which was never sent (last sent {})",
                        known.sent
                    )),
                    _ => {}
                }
                // The rest of the write that set this counter must be there too.
                if attr("label") != Some(json!(format!("v{counter}")))
                    || u["name"] != json!(format!("Name {counter}"))
                {
                    problems.push(format!(
                        "HALF-APPLIED: {user} has counter {counter} with label {:?} and name {}",
                        attr("label"),
                        u["name"]
                    ));
                }
                if attr("even") != Some(json!(counter.is_multiple_of(2))) {
                    problems.push(format!(
                        "HALF-APPLIED: {user} has counter {counter} with even = {:?}",
                        attr("even")
                    ));
                }
                if known.acked.is_some() {
                    found_acked += 1;
                } else {
                    found_extra += 1;
                }
            }
            (problems, found_acked, found_extra)
        }));
    }
    let (mut problems, mut found_acked, mut found_extra) = (Vec::new(), 0, 0);
    for t in tasks {
        let (p, a, e) = t.await.expect("verify task");
        problems.extend(p);
        found_acked += a;
        found_extra += e;
    }
    assert!(
        problems.is_empty(),
        "[{db}] {} problem(s) after restart, e.g.:\n{}",
        problems.len(),
        problems
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    (found_acked, found_extra)
}

async fn crash_and_recover(db_url: &str, dir: &Path, db: &str) {
    let started = Instant::now();
    let key = secret_key(db_url);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut total_acked = 0;
    for cycle in 0..CYCLES {
        let server = Server::start(db_url, dir, &format!("{cycle}")).await;
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                tokio::spawn(client(
                    server.base.clone(),
                    key.clone(),
                    c,
                    cycle,
                    stop.clone(),
                    ledger.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(WRITE_FOR).await;
        // On a loaded machine, write a little longer so the kill has enough
        // acknowledged writes to check (never past MAX_WRITE_FOR).
        let writing = Instant::now();
        while ledger.lock().unwrap().acked_writes - total_acked < ENOUGH
            && writing.elapsed() < MAX_WRITE_FOR - WRITE_FOR
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Kill while the clients are still writing; only then tell them to stop.
        let log = server.kill();
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.await.expect("client task");
        }
        let (acked_now, unanswered, bad) = {
            let mut l = ledger.lock().unwrap();
            let acked_now = l.acked_writes - total_acked;
            total_acked = l.acked_writes;
            (acked_now, l.unanswered, std::mem::take(&mut l.bad_answers))
        };
        assert!(
            bad.is_empty(),
            "[{db}] the server refused {} valid write(s) before the kill, e.g.:\n{}\nserver log:\n{}",
            bad.len(),
            bad.iter().take(10).cloned().collect::<Vec<_>>().join("\n"),
            tail(&log)
        );
        assert!(
            acked_now > AT_LEAST,
            "[{db}] cycle {cycle}: only {acked_now} writes were acknowledged in {MAX_WRITE_FOR:?}; the test proves nothing. Server log:\n{}",
            tail(&log)
        );

        // Restart on the same database and look for every acknowledged write.
        let server = Server::start(db_url, dir, &format!("{cycle}-restart")).await;
        let snapshot: Vec<(String, Known)> = ledger
            .lock()
            .unwrap()
            .users
            .iter()
            .map(|(u, k)| (u.clone(), *k))
            .collect();
        let users = snapshot.len();
        let acked_users = snapshot.iter().filter(|(_, k)| k.acked.is_some()).count();
        let (found_acked, found_extra) = verify(&server.base, &key, snapshot, db).await;
        assert_eq!(
            found_acked, acked_users,
            "[{db}] every acknowledged user must be found"
        );
        eprintln!(
            "[{db}] cycle {cycle}: {acked_now} writes acknowledged this cycle ({total_acked} in all), {unanswered} requests cut off by kills so far; \
             after restart all {acked_users} acknowledged users of {users} were intact, plus {found_extra} written but unanswered"
        );
        drop(server);
    }
    assert!(
        started.elapsed() < BUDGET,
        "[{db}] the crash test took {:?}, more than its {BUDGET:?} budget",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    crash_and_recover(&url, dir.path(), "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill_postgres() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    // The test's own pool is not needed: the server opens the database itself.
    pg.store.pool.close().await;
    let dir = tempfile::tempdir().expect("temp dir");
    crash_and_recover(&pg.url, dir.path(), "postgres").await;
}
