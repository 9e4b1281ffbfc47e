//! Storage: every SQL statement of userdeck lives under this module.
//!
//! One code path serves SQLite (embedded default) and PostgreSQL (scale-out)
//! through sqlx's `Any` driver; SQL is written to run on both, and the few
//! places where they differ ask `Dialect`. Times are stored as milliseconds
//! since the epoch, which both engines and the `Any` driver handle alike.

pub mod accounts;
pub mod bulk;
pub mod conditions;
pub mod contents;
pub mod definitions;
pub mod distribution;
pub mod imports;
pub mod integrations;
pub mod list;
pub mod segments;
pub mod snapshot;
pub mod syncs;
pub mod users;
pub mod workspace;
pub mod writer;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{AnyPool, Executor};
use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Placeholders for parameters `first..first + n`. SQLite looks numbered
    /// parameters up by name, one list walk per bind, which makes long
    /// statements quadratic; its plain `?` binds in order at no cost. A
    /// statement that uses these must use them for all its parameters.
    pub fn params(self, first: usize, n: usize) -> String {
        (first..first + n)
            .map(|i| match self {
                Dialect::Sqlite => "?".to_string(),
                Dialect::Postgres => format!("${i}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `(p, ..), (p, ..)`: `rows` tuples of `cols` parameters from `first`.
    pub fn values(self, first: usize, rows: usize, cols: usize) -> String {
        (0..rows)
            .map(|r| format!("({})", self.params(first + r * cols, cols)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "unsupported database URL {0:?}: use sqlite://path/to/file.db or postgres://user@host/db"
    )]
    BadUrl(String),
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    #[error("the writer has stopped")]
    WriterGone,
    #[error("attribute `{0}` was given a type by another server at the same moment; retry")]
    Raced(String),
}

#[derive(Clone, Debug)]
pub struct Store {
    pub pool: AnyPool,
    pub dialect: Dialect,
    /// The in-memory segment index, when loaded (`load_index`): conditions
    /// are then decided there, not in SQL.
    pub index: Option<std::sync::Arc<crate::server::index::SegmentIndex>>,
}

impl Store {
    /// The segment index, once it holds every user.
    pub(crate) fn ready_index(&self) -> Option<&crate::server::index::SegmentIndex> {
        self.index.as_deref().filter(|i| i.is_ready())
    }
}

const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "accounts",
        include_str!("../../../migrations/sqlite/0002_accounts.sql"),
    ),
    (
        3,
        "dashboard",
        include_str!("../../../migrations/sqlite/0003_dashboard.sql"),
    ),
    (
        4,
        "segments",
        include_str!("../../../migrations/sqlite/0004_segments.sql"),
    ),
    (
        5,
        "contents",
        include_str!("../../../migrations/sqlite/0005_contents.sql"),
    ),
    (
        6,
        "integrations",
        include_str!("../../../migrations/sqlite/0006_integrations.sql"),
    ),
    (
        7,
        "imports",
        include_str!("../../../migrations/sqlite/0007_imports.sql"),
    ),
    (
        8,
        "syncs",
        include_str!("../../../migrations/sqlite/0008_syncs.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "accounts",
        include_str!("../../../migrations/postgres/0002_accounts.sql"),
    ),
    (
        3,
        "dashboard",
        include_str!("../../../migrations/postgres/0003_dashboard.sql"),
    ),
    (
        4,
        "segments",
        include_str!("../../../migrations/postgres/0004_segments.sql"),
    ),
    (
        5,
        "contents",
        include_str!("../../../migrations/postgres/0005_contents.sql"),
    ),
    (
        6,
        "integrations",
        include_str!("../../../migrations/postgres/0006_integrations.sql"),
    ),
    (
        7,
        "imports",
        include_str!("../../../migrations/postgres/0007_imports.sql"),
    ),
    (
        8,
        "syncs",
        include_str!("../../../migrations/postgres/0008_syncs.sql"),
    ),
];

/// The migrations embedded in the binary, in the form `sqlx migrate` uses,
/// so the `_sqlx_migrations` table is the usual one.
#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> BoxFuture<'s, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|(v, d, sql)| {
                    Migration::new(
                        *v,
                        Cow::Borrowed(d),
                        MigrationType::Simple,
                        Cow::Borrowed(sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

impl Store {
    /// Opens (creating if needed) and migrates the database at `url`:
    /// `sqlite://file.db`, `sqlite::memory:` is not supported (each pooled
    /// connection would see its own database), or `postgres://...`.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (dialect, url) = if url.starts_with("sqlite:") {
            // Create the file on first use.
            let url = if url.contains("mode=") {
                url.to_string()
            } else if url.contains('?') {
                format!("{url}&mode=rwc")
            } else {
                format!("{url}?mode=rwc")
            };
            (Dialect::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Dialect::Postgres, url.to_string())
        } else {
            return Err(StoreError::BadUrl(url.to_string()));
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(if dialect == Dialect::Sqlite { 8 } else { 16 })
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        // WAL lets readers run beside the one writer; FULL
                        // makes every acknowledged commit durable (group
                        // commit keeps the fsyncs few). Temporary b-trees
                        // (a segment rule's users) stay in memory: a
                        // 6-rule count at 1M users went 3.0 -> 2.2 s.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let store = Store {
            pool,
            dialect,
            index: None,
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let source = match self.dialect {
            Dialect::Sqlite => Embedded(SQLITE_MIGRATIONS),
            Dialect::Postgres => Embedded(POSTGRES_MIGRATIONS),
        };
        let migrator = Migrator::new(source).await?;
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// True when the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query_scalar::<_, i64>("SELECT 1")
            .fetch_one(&self.pool)
            .await
            .is_ok()
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) fn to_time(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds a nullable DOUBLE PRECISION. sqlx 0.8.6's `Any` driver swaps the
/// types of null floats (a null f64 goes to PostgreSQL as a float4, which
/// then breaks the cached statement for real f64 values), so a null is sent
/// as a null f32, which it maps to float8.
pub(crate) fn bind_num(q: AnyQuery<'_>, v: Option<f64>) -> AnyQuery<'_> {
    match v {
        Some(x) => q.bind(x),
        None => q.bind(None::<f32>),
    }
}

/// A parameter of a statement built at run time.
#[derive(Clone, Debug)]
pub(crate) enum Bind {
    Int(i64),
    Num(f64),
    Text(String),
}

type AnyScalar<'q, T> = sqlx::query::QueryScalar<'q, sqlx::Any, T, sqlx::any::AnyArguments<'q>>;

impl Bind {
    pub(crate) fn bind<'q>(&self, q: AnyQuery<'q>) -> AnyQuery<'q> {
        match self {
            Bind::Int(i) => q.bind(*i),
            Bind::Num(n) => q.bind(*n),
            Bind::Text(t) => q.bind(t.clone()),
        }
    }

    pub(crate) fn bind_scalar<'q, T>(&self, q: AnyScalar<'q, T>) -> AnyScalar<'q, T> {
        match self {
            Bind::Int(i) => q.bind(*i),
            Bind::Num(n) => q.bind(*n),
            Bind::Text(t) => q.bind(t.clone()),
        }
    }
}
