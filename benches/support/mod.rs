//! What the benchmarks share: the machine's description and the release
//! server they start and stop.
#![allow(dead_code)]

pub mod load;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// CPUs, memory and kernel, for the figures' heading.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let mhz = cpuinfo
        .lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| format!(" @ {:.0} MHz", m.trim().parse::<f64>().unwrap_or(0.0)))
        .unwrap_or_default();
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{nproc} CPUs ({model}{mhz}), {:.1} GiB RAM, Linux {}",
        mem_kb as f64 / 1024.0 / 1024.0,
        kernel.trim()
    )
}

/// The release server under test (USERDECK_BIN or target/release/userdeck),
/// or None after saying how to build it.
pub fn server_binary() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = std::env::var("USERDECK_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target/release/userdeck"));
    if !bin.exists() {
        eprintln!(
            "the server binary {} does not exist: build it with scripts/build --release",
            bin.display()
        );
        return None;
    }
    Some(bin)
}

/// The SQLite file of `users` demo users in `dir` (the benchmarks share it),
/// made with `userdeck demo` the first time; answers its path and, when it
/// was made now, how long that took (s). None if the demo failed.
pub fn demo_database(bin: &Path, dir: &Path, users: u64) -> Option<(PathBuf, Option<f64>)> {
    std::fs::create_dir_all(dir).unwrap();
    let db = dir.join(format!("dashboard-{users}.db"));
    if db.exists() {
        return Some((db, None));
    }
    println!("making {users} demo users in {} (once) ...", db.display());
    let t = Instant::now();
    let url = format!("sqlite://{}", db.display());
    let ok = Command::new(bin)
        .args([
            "demo",
            "--users",
            &users.to_string(),
            "--database-url",
            &url,
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let _ = std::fs::remove_file(&db);
        eprintln!("userdeck demo failed");
        return None;
    }
    Some((db, Some(t.elapsed().as_secs_f64())))
}

pub struct Server {
    pub child: Child,
    pub base: String,
    pub log: PathBuf,
}

impl Server {
    /// Starts `bin serve` on a free port with `envs` set; waits for /healthz.
    pub async fn start(bin: &Path, db_url: &str, dir: &Path, envs: &[(&str, &str)]) -> Server {
        let log = dir.join("server.log");
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let addr = format!("127.0.0.1:{port}");
            let out = std::fs::File::create(&log).unwrap();
            let mut child = Command::new(bin)
                .args(["serve", "--addr", &addr, "--database-url", db_url])
                .envs(envs.iter().copied())
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let base = format!("http://{addr}");
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap();
            // Loading the segment index of a million users takes a while.
            let wait: u64 = std::env::var("USERDECK_BENCH_START_SECONDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(900);
            let deadline = Instant::now() + Duration::from_secs(wait);
            loop {
                if child.try_wait().unwrap().is_some() {
                    eprintln!(
                        "server exited at start (port {port} taken?):\n{}",
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
                    panic!(
                        "the server did not answer /healthz within {wait} s:\n{}",
                        tail(&log)
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        panic!("could not start the server");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident memory now, in MiB (Linux).
    pub fn rss_mib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb >> 10)
    }

    /// Waits until /healthz says the segment index is ready; answers the
    /// seconds waited.
    pub async fn wait_for_index(&self) -> f64 {
        let started = Instant::now();
        let http = reqwest::Client::new();
        loop {
            let ready = match http.get(format!("{}/healthz", self.base)).send().await {
                Ok(r) => r
                    .json::<serde_json::Value>()
                    .await
                    .is_ok_and(|j| j["segment_index"] == "ready"),
                Err(_) => false,
            };
            if ready {
                return started.elapsed().as_secs_f64();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Log lines that contain `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }

    /// Asks for a graceful stop (SIGINT), then insists.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Server log lines at WARN or ERROR level.
    pub fn problems(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("panicked"))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
