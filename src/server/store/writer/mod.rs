//! The single writer: every change to profiles goes through here.
//!
//! Requests queue their change and wait; the writer takes every change that
//! is waiting (up to `MAX_GROUP`), applies them in one transaction, commits
//! once, then answers each (group commit: one fsync for many requests). A
//! group reads the profiles it touches in two statements, keeps them in
//! memory while its changes apply one after another, and writes attribute
//! values in a few multi-row statements at the end, so a change costs few
//! round trips to the database. Each change checks all it needs before it
//! writes anything, so a rejected change leaves no trace even inside a shared
//! transaction; if the database itself fails, the group is rolled back and
//! each change is retried alone, so one bad change never takes others down.

mod group;
mod ops;

use super::users::UserKey;
use super::{Dialect, Store, StoreError};
use crate::model::profile::{Identify, InputError, ProfileUpdate, User};
use crate::server::index::SegmentIndex;
use group::{Group, TypeCache};
use sqlx::{AnyConnection, Connection};
use tokio::sync::{mpsc, oneshot};

/// Most changes committed together.
const MAX_GROUP: usize = 512;
/// A visitor inactive this long starts a new session on their next call.
pub const SESSION_GAP_MS: i64 = 30 * 60 * 1000;

/// A change to profiles.
#[derive(Clone, Debug)]
pub enum WriteOp {
    /// REST identify: create or update the user with this user id.
    Identify {
        workspace: i64,
        input: Identify,
    },
    /// SDK page load: create the anonymous profile if new, count a session.
    Visit {
        workspace: i64,
        jimer_id: String,
    },
    /// SDK identify: link the visitor to a user id, folding an anonymous
    /// profile into the user's existing one.
    SdkIdentify {
        workspace: i64,
        jimer_id: String,
        user_id: String,
    },
    /// SDK attributes, name, email, language of the visitor's own profile.
    SdkUpdate {
        workspace: i64,
        jimer_id: String,
        update: ProfileUpdate,
    },
    DeleteUser {
        workspace: i64,
        user: UserKey,
    },
    /// Integrations and imports: change an existing user (no activity
    /// counted, nobody created); `Missing` when there is no such user.
    Update {
        workspace: i64,
        user: UserKey,
        update: ProfileUpdate,
    },
    /// Dashboard: add and remove tags.
    Retag {
        workspace: i64,
        user: UserKey,
        add: Vec<String>,
        remove: Vec<String>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum WriteOutcome {
    User(Box<User>),
    /// The profile the visitor now has.
    Linked {
        jimer_id: String,
        user_id: Option<String>,
    },
    Updated,
    /// `Update` found no such user.
    Missing,
    Deleted(bool),
    /// The user's tags now; None when there is no such user.
    Tags(Option<Vec<String>>),
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The change is not acceptable (nothing was written).
    #[error("{0}")]
    Rejected(InputError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Job {
    op: WriteOp,
    reply: oneshot::Sender<Result<WriteOutcome, WriteError>>,
}

/// The handle requests use to send changes to the writer task.
#[derive(Clone, Debug)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer task on its own database connection.
    pub fn start(store: Store) -> Writer {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(run(store, rx));
        Writer { tx }
    }

    /// Applies `op`; answers once it is committed (or rejected).
    pub async fn write(&self, op: WriteOp) -> Result<WriteOutcome, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { op, reply })
            .await
            .map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Applies several ops; they usually commit together. Answers in order.
    pub async fn write_many(&self, ops: Vec<WriteOp>) -> Vec<Result<WriteOutcome, WriteError>> {
        let mut answers = Vec::with_capacity(ops.len());
        for op in ops {
            let (reply, answer) = oneshot::channel();
            if self.tx.send(Job { op, reply }).await.is_err() {
                break;
            }
            answers.push(answer);
        }
        let mut out = Vec::with_capacity(answers.len());
        for a in answers {
            out.push(
                a.await
                    .unwrap_or_else(|_| Err(StoreError::WriterGone.into())),
            );
        }
        out
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Job>) {
    let mut types = TypeCache::default();
    let mut analyzed = Analyze::default();
    let mut conn = None;
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if conn.is_none() {
            match store.pool.acquire().await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::error!("writer cannot reach the database: {e}");
                    let msg = e.to_string();
                    for job in jobs {
                        let err = StoreError::Db(sqlx::Error::Protocol(msg.clone()));
                        let _ = job.reply.send(Err(err.into()));
                    }
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let count = jobs.len();
        let ops: Vec<&WriteOp> = jobs.iter().map(|j| &j.op).collect();
        let index = store.index.as_deref();
        match apply_group(c, store.dialect, &mut types, &ops, index).await {
            Ok(results) => {
                for (job, result) in jobs.into_iter().zip(results) {
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                // Types fixed inside the rolled-back transaction are gone.
                types.clear();
                tracing::warn!(
                    "group of {} changes rolled back ({e}); applying them one by one",
                    jobs.len()
                );
                for job in jobs {
                    let result =
                        match apply_group(c, store.dialect, &mut types, &[&job.op], index).await {
                            Ok(mut r) => r.pop().unwrap_or(Err(StoreError::WriterGone.into())),
                            Err(e) => {
                                types.clear();
                                Err(e.into())
                            }
                        };
                    let _ = job.reply.send(result);
                }
                // The connection may be what failed: take a fresh one next time.
                conn = None;
                continue;
            }
        }
        analyzed.after(c, store.dialect, count).await;
    }
}

/// Applies the ops in one transaction, then to the segment index (if any)
/// before anyone is answered. `Err` means the transaction was rolled back;
/// `Ok` holds each op's own answer, rejections included.
async fn apply_group(
    conn: &mut AnyConnection,
    dialect: Dialect,
    types: &mut TypeCache,
    ops: &[&WriteOp],
    index: Option<&SegmentIndex>,
) -> Result<Vec<Result<WriteOutcome, WriteError>>, StoreError> {
    let mut tx = conn.begin().await?;
    let mut group = Group::new(&mut tx, dialect, types);
    group.load(ops).await?;
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        match group.apply(op).await {
            Ok(outcome) => results.push(Ok(outcome)),
            Err(WriteError::Rejected(e)) => results.push(Err(WriteError::Rejected(e))),
            Err(WriteError::Store(e)) => return Err(e),
        }
    }
    group.flush().await?;
    let changes = match index {
        Some(index) => group.changes(!index.is_ready())?,
        None => Vec::new(),
    };
    tx.commit().await?;
    if let Some(index) = index {
        index.apply(&changes);
    }
    Ok(results)
}

/// PostgreSQL plans cached statements with the statistics it has; those of
/// an empty database make every later insert slow. Refresh them as the data
/// grows (after 1,000 changes, then 10,000, and so on).
#[derive(Default)]
struct Analyze {
    changes: usize,
    next: usize,
}

impl Analyze {
    async fn after(&mut self, conn: &mut AnyConnection, dialect: Dialect, changes: usize) {
        if dialect != Dialect::Postgres {
            return;
        }
        self.changes += changes;
        let next = self.next.max(1000);
        if self.changes >= next {
            self.next = next * 10;
            if let Err(e) = sqlx::query("ANALYZE users, attributes").execute(conn).await {
                tracing::warn!("ANALYZE failed: {e}");
            }
        }
    }
}
