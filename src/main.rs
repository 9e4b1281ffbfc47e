//! The userdeck binary: `serve`, `keys`, `demo`.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::process::ExitCode;
use userdeck::server::store::Store;
use userdeck::server::{demo, http, AppState, Settings};

#[derive(Parser)]
#[command(
    name = "userdeck",
    version,
    about = "User profiles, attributes and segments in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct Db {
    /// sqlite://file.db (created on first use) or postgres://user@host/db
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://userdeck.db")]
    database_url: String,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the dashboard, the REST API and the SDK.
    Serve {
        #[arg(long, env = "USERDECK_ADDR", default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
        #[command(flatten)]
        db: Db,
        /// Fill an empty database with demo users first.
        #[arg(long)]
        demo: bool,
        /// How many demo users `--demo` creates.
        #[arg(long, default_value_t = 5000)]
        demo_users: u64,
        /// SDK requests per second allowed per SDK key (bursts of twice that).
        #[arg(long, env = "USERDECK_SDK_RATE_LIMIT", default_value_t = Settings::default().sdk_rate_limit)]
        sdk_rate_limit: u32,
        /// Decide segments in the in-memory index (`on`), or in SQL (`off`:
        /// for several servers sharing one PostgreSQL database).
        #[arg(long, env = "USERDECK_SEGMENT_INDEX", default_value = "on", value_parser = ["on", "off"])]
        segment_index: String,
    },
    /// Print the workspace's keys as JSON.
    Keys {
        #[command(flatten)]
        db: Db,
        /// Switch identify verification on or off first.
        #[arg(long, value_parser = ["on", "off"])]
        identify_verification: Option<String>,
    },
    /// Add deterministic synthetic users.
    Demo {
        #[command(flatten)]
        db: Db,
        #[arg(long, default_value_t = 10_000)]
        users: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Serve {
            addr,
            db,
            demo,
            demo_users,
            sdk_rate_limit,
            segment_index,
        } => {
            let mut store = Store::open(&db.database_url).await?;
            let ws = store.default_workspace().await?;
            if demo && store.list_users(ws.id, &Default::default()).await?.total == 0 {
                tracing::info!("filling the empty database with {demo_users} demo users");
                demo::fill(&store, ws.id, demo_users, 42, false).await?;
            }
            if segment_index == "on" {
                // Filled in the background: conditions go to SQL until then.
                store.attach_index();
                let filler = store.clone();
                tokio::spawn(async move {
                    if let Err(e) = filler.fill_index().await {
                        tracing::error!("the segment index could not be loaded ({e}); segments are counted in SQL");
                    }
                });
            }
            if !userdeck::server::assets::has_wasm() {
                tracing::warn!(
                    "this binary was built without the browser bundle; build it with scripts/build"
                );
            }
            let cut = store.interrupt_running_imports().await?;
            if cut > 0 {
                tracing::warn!("{cut} CSV import(s) were cut short by the last stop; see Imports");
            }
            let state = AppState::new(store.clone(), &Settings { sdk_rate_limit });
            let listener = tokio::net::TcpListener::bind(addr).await?;
            let url = format!("http://{}", listener.local_addr()?);
            tracing::info!(
                "userdeck is serving {url} (database {})",
                redact(&db.database_url)
            );
            first_account(&store, &state, &url, ws.id).await?;
            // HubSpot and Salesforce syncs, each on its interval.
            userdeck::server::integrations::pull::run::start_schedule(state.clone());
            println!("userdeck: open {url}");
            let app = http::router(state).into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await?;
        }
        Command::Keys {
            db,
            identify_verification,
        } => {
            let store = Store::open(&db.database_url).await?;
            let mut ws = store.default_workspace().await?;
            if let Some(v) = identify_verification {
                ws.identify_verification = v == "on";
                store
                    .set_identify_verification(ws.id, ws.identify_verification)
                    .await?;
            }
            println!("{}", serde_json::to_string_pretty(&ws)?);
        }
        Command::Demo { db, users, seed } => {
            let store = Store::open(&db.database_url).await?;
            let ws = store.default_workspace().await?;
            let started = std::time::Instant::now();
            demo::fill(&store, ws.id, users, seed, true).await?;
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "added {users} demo users in {secs:.1} s ({:.0} users/s)",
                users as f64 / secs.max(1e-9)
            );
        }
    }
    Ok(())
}

/// With no account yet: create it from USERDECK_ADMIN_EMAIL and
/// USERDECK_ADMIN_PASSWORD, or print a one-time setup link.
async fn first_account(
    store: &Store,
    state: &AppState,
    url: &str,
    workspace: i64,
) -> Result<(), Box<dyn std::error::Error>> {
    if store.account_count().await? > 0 {
        return Ok(());
    }
    match (
        std::env::var("USERDECK_ADMIN_EMAIL"),
        std::env::var("USERDECK_ADMIN_PASSWORD"),
    ) {
        (Ok(email), Ok(password)) => {
            let account = store.create_account(workspace, &email, &password).await?;
            tracing::info!(
                "created the account {} from USERDECK_ADMIN_EMAIL",
                account.email
            );
        }
        _ => {
            let token = hex::encode(rand::random::<[u8; 24]>());
            *state.setup_token.lock().unwrap_or_else(|e| e.into_inner()) = Some(token.clone());
            tracing::info!("no account yet: create the first one at {url}/setup?token={token}");
            println!("userdeck: create the first account at {url}/setup?token={token}");
        }
    }
    Ok(())
}

/// The database URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
