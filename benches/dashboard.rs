//! Dashboard benchmark: prints figures, asserts nothing about speed.
//!
//!   scripts/build --release                      # the server under test
//!   cargo bench --features ssr --bench dashboard
//!
//! On a SQLite database of demo users (made once with `userdeck demo` and
//! kept in `target/bench/`, so later runs start at once), it starts the
//! release binary, signs in like a browser and times whole server-rendered
//! pages over loopback: the Users list (50 rows) in several sorts and its
//! second page, a profile, searches of several kinds, the Attributes page and
//! distribution charts, and the full CSV export.
//!
//! Knobs (environment):
//!   USERDECK_BIN          server binary (default target/release/userdeck)
//!   USERDECK_BENCH_USERS  demo users (default 1000000)
//!   USERDECK_BENCH_RUNS   timed requests per page (default 15)
//!   USERDECK_BENCH_EXPORT 0 to skip the full CSV export (default 1)

mod support;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use support::{machine, Server};

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "bench password 1";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Site {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl Site {
    async fn get(&self, path: &str) -> (Duration, String) {
        let t = Instant::now();
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        let took = t.elapsed();
        assert!(status.is_success(), "GET {path}: {status}");
        (took, body)
    }

    /// Median, 90th percentile and fastest of `runs` requests (after one warm-up).
    async fn time(&self, label: &str, path: &str, runs: usize) -> String {
        let (_, body) = self.get(path).await;
        let mut times: Vec<f64> = Vec::with_capacity(runs);
        for _ in 0..runs {
            times.push(ms(self.get(path).await.0));
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let total = body
            .split("data-total=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map(|t| format!("  ({t} users)"))
            .unwrap_or_default();
        let line = format!(
            "  {label:<44} p50 {:>7.1} ms   p90 {:>7.1} ms   min {:>7.1} ms{total}",
            times[runs / 2],
            times[runs * 9 / 10],
            times[0]
        );
        println!("{line}");
        line
    }
}

/// The first `href` after `marker` in a page.
fn href_after(body: &str, marker: &str) -> Option<String> {
    let rest = body.split(marker).nth(1)?;
    let start = rest.find("href=\"")? + 6;
    let end = rest[start..].find('"')?;
    Some(rest[start..start + end].replace("&amp;", "&"))
}

fn main() -> ExitCode {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!(
            "dashboard: a benchmark; run it with `cargo bench --features ssr --bench dashboard`"
        );
        return ExitCode::SUCCESS;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let Some(bin) = support::server_binary() else {
        return ExitCode::FAILURE;
    };
    let users: u64 = env_or("USERDECK_BENCH_USERS", 1_000_000);
    let runs: usize = env_or("USERDECK_BENCH_RUNS", 15).max(2);
    let dir = root.join("target/bench");
    let Some((db, made)) = support::demo_database(&bin, &dir, users) else {
        return ExitCode::FAILURE;
    };
    if let Some(s) = made {
        println!("  done in {s:.0} s");
    }
    let url = format!("sqlite://{}", db.display());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let server = Server::start(
            &bin,
            &url,
            &dir,
            &[
                ("USERDECK_ADMIN_EMAIL", EMAIL),
                ("USERDECK_ADMIN_PASSWORD", PASSWORD),
                ("RUST_LOG", "warn"),
            ],
        )
        .await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(600))
            .build()
            .unwrap();
        let res = http
            .post(format!("{}/sign-in", server.base))
            .header("origin", &server.base)
            .form(&[("email", EMAIL), ("password", PASSWORD), ("next", "/users")])
            .send()
            .await
            .unwrap();
        let cookie = res
            .headers()
            .get("set-cookie")
            .and_then(|c| c.to_str().ok())
            .and_then(|c| c.split(';').next())
            .map(str::to_string)
            .expect(
                "signed in (a database made by another run may hold another account: delete it)",
            );
        let site = Site {
            http,
            base: server.base.clone(),
            cookie,
        };
        let db_mib = std::fs::metadata(&db).map_or(0, |m| m.len()) / (1 << 20);
        println!(
            "\nuserdeck dashboard, {users} demo users in SQLite ({db_mib} MiB), release build\n{}\n\
             whole server-rendered pages over loopback, {runs} runs each after a warm-up\n",
            machine()
        );
        let (_, first) = site.get("/users").await;
        let next = href_after(&first, "aria-label=\"Pages\"").expect("a next page link");
        let profile = href_after(&first, "class=\"who\"").unwrap_or_else(|| {
            let i = first.find("/users/j_").expect("a profile link");
            first[i..].split('"').next().unwrap().to_string()
        });
        println!("Users list (50 rows) and profile");
        site.time("users, by last activity", "/users", runs).await;
        site.time("users, page 2", &next, runs).await;
        for sort in ["name", "-email", "-sessions", "created"] {
            site.time(
                &format!("users, sort={sort}"),
                &format!("/users?sort={sort}"),
                runs,
            )
            .await;
        }
        site.time("users who have `plan`", "/users?has=plan", runs)
            .await;
        site.time("profile", &profile, runs).await;
        println!("\nSearch (the Users list with q=)");
        for (label, q) in [
            ("a name (taylor)", "taylor"),
            ("a full name (sam taylor)", "sam%20taylor"),
            ("part of a name (sam)", "sam"),
            ("an email domain (gmail)", "gmail"),
            ("nobody (zzqx)", "zzqx"),
            ("an exact user id (user-000123)", "user-000123"),
            ("two characters (ab): a scan", "ab"),
        ] {
            site.time(&format!("search {label}"), &format!("/users?q={q}"), runs)
                .await;
        }
        println!("\nAttributes");
        site.time("attributes page", "/attributes", runs).await;
        for name in ["plan", "mrr", "last_login", "features_used"] {
            site.time(
                &format!("chart of {name}"),
                &format!("/attributes/{name}"),
                runs.min(5),
            )
            .await;
        }
        if env_or("USERDECK_BENCH_EXPORT", 1) == 1 {
            let t = Instant::now();
            let (took, body) = site.get("/users/export.csv").await;
            let rows = body.lines().count().saturating_sub(1);
            println!(
                "\nCSV export of every user: {rows} rows, {:.0} MiB in {:.1} s ({:.0} rows/s)",
                body.len() as f64 / (1 << 20) as f64,
                took.as_secs_f64(),
                rows as f64 / t.elapsed().as_secs_f64()
            );
        }
        for p in server.problems() {
            println!("server: {p}");
        }
        server.stop();
    });
    ExitCode::SUCCESS
}
