//! Runs of a pull sync: one at a time per sync, its progress in memory for
//! the dashboard to poll, its end (counts, status, cursor) stored. The
//! schedule starts each switched-on sync when its interval is due.
//!
//! A run reads page after page, writes each page's updates through the
//! writer (existing users only: a record naming no user is counted as not
//! matched, never creates one), and moves the cursor to the newest
//! modification it read only when it ends well; a failed run leaves the
//! cursor, so the next one reads again what this one may have missed
//! (rewriting the same values is harmless).

use super::http::Client;
use super::{hubspot, record_update, salesforce, Next, Page, Request, Target, Tool};
use crate::model::attribute::AttrType;
use crate::server::store::now_ms;
use crate::server::store::syncs::{RunCounts, Sync};
use crate::server::store::users::UserKey;
use crate::server::store::writer::{WriteOp, WriteOutcome};
use crate::server::AppState;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Most pages one run reads (a million HubSpot records, 20 million
/// Salesforce ones); past that the run stops as failed.
const MAX_PAGES: usize = 10_000;
/// Most log lines one run writes about single records (the rest counted).
const MAX_RECORD_LINES: usize = 50;
/// How long a run holds its sync in the database without news; renewed at
/// every page, so only a server that died mid-run lets it lapse.
const LEASE_MS: i64 = 10 * 60 * 1000;
/// How often the schedule looks for due syncs.
const TICK: Duration = Duration::from_secs(20);

/// A run going on, as the dashboard shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    pub full: bool,
    pub started_at: i64,
    pub read: i64,
    /// The records the query has in all, when the tool says.
    pub total: Option<i64>,
}

/// The runs going on in this server, by (workspace, kind).
#[derive(Debug, Default)]
pub struct Runs(Mutex<HashMap<(i64, String), Progress>>);

impl Runs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(i64, String), Progress>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn progress(&self, workspace: i64, kind: &str) -> Option<Progress> {
        self.lock().get(&(workspace, kind.to_string())).cloned()
    }

    fn update(&self, key: &(i64, String), f: impl FnOnce(&mut Progress)) {
        if let Some(p) = self.lock().get_mut(key) {
            f(p);
        }
    }
}

/// The claim on a sync for one run; dropping it (even by a panic) frees it.
pub struct Claim {
    runs: Arc<Runs>,
    key: (i64, String),
    tool: Tool,
    full: bool,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.runs.lock().remove(&self.key);
    }
}

/// Claims the sync for a run, or says why it cannot run now.
pub fn claim(state: &AppState, workspace: i64, kind: &str, full: bool) -> Result<Claim, String> {
    let tool = Tool::parse(kind).ok_or_else(|| format!("no sync is called {kind:?}"))?;
    let key = (workspace, kind.to_string());
    let mut runs = state.pulls.lock();
    if runs.contains_key(&key) {
        return Err(format!(
            "a {} sync is running already: wait for it to end",
            tool.label()
        ));
    }
    runs.insert(
        key.clone(),
        Progress {
            full,
            started_at: now_ms(),
            ..Default::default()
        },
    );
    Ok(Claim {
        runs: state.pulls.clone(),
        key,
        tool,
        full,
    })
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub counts: RunCounts,
    pub error: Option<String>,
}

/// Claims and runs a sync to its end.
pub async fn run_now(
    state: &AppState,
    workspace: i64,
    kind: &str,
    full: bool,
) -> Result<Report, String> {
    let claim = claim(state, workspace, kind, full)?;
    run(state, claim).await
}

/// Runs a claimed sync; its end is stored. Err only when it could not start
/// (never set up, or the database failed).
pub async fn run(state: &AppState, claim: Claim) -> Result<Report, String> {
    let (workspace, kind) = (claim.key.0, claim.tool.kind());
    let sync = state
        .store
        .sync(workspace, kind)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("set the {} sync up first", claim.tool.label()))?;
    let held = state
        .store
        .claim_sync(workspace, kind, LEASE_MS)
        .await
        .map_err(|e| e.to_string())?;
    if !held {
        return Err(format!(
            "a {} sync is running on another userdeck server sharing this database (or a server stopped during a run: its hold ends within {} minutes)",
            claim.tool.label(),
            LEASE_MS / 60_000
        ));
    }
    let mut run = Run {
        state,
        claim: &claim,
        counts: RunCounts::default(),
        lines: Vec::new(),
        more_lines: 0,
        unmatched: Vec::new(),
        newest: None,
    };
    let outcome = run.pages(&sync).await;
    let Run {
        counts,
        mut lines,
        more_lines,
        unmatched,
        newest,
        ..
    } = run;
    if more_lines > 0 {
        lines.push(format!("… and {more_lines} more values left out"));
    }
    if counts.not_matched > 0 {
        lines.push(format!(
            "{} records matched no user by {} (for example {}): userdeck updates existing users only",
            counts.not_matched,
            sync.config.match_to.as_str(),
            unmatched.join(", ")
        ));
    }
    if let Err(e) = &outcome {
        lines.push(format!("the run stopped: {e}"));
    }
    let store = &state.store;
    let cursor = outcome.as_ref().map(|_| newest).map_err(String::as_str);
    let stored = async {
        store.append_log(workspace, kind, &lines).await?;
        store
            .sync_finished(workspace, kind, claim.full, counts, cursor)
            .await
    };
    stored.await.map_err(|e| e.to_string())?;
    Ok(Report {
        counts,
        error: outcome.err(),
    })
}

struct Run<'a> {
    state: &'a AppState,
    claim: &'a Claim,
    counts: RunCounts,
    lines: Vec<String>,
    more_lines: usize,
    /// A few records that matched no one, for the log.
    unmatched: Vec<String>,
    /// The newest modification read (ms).
    newest: Option<i64>,
}

impl Run<'_> {
    async fn pages(&mut self, sync: &Sync) -> Result<(), String> {
        let config = &sync.config;
        let tool = self.claim.tool;
        let client = Client::new(tool, &config.token)?;
        let fields = super::fields_read(config);
        let mut since = if self.claim.full {
            None
        } else {
            sync.cursor_ms
        };
        if tool == Tool::HubSpot && since.is_none() {
            // HubSpot's list does not say how many records there are; its
            // search does. Without the count the bar has no end, nothing worse.
            let count = client.send(&hubspot::count_request(config)).await;
            if let Some(total) = count.ok().as_ref().and_then(hubspot::total) {
                self.claim
                    .runs
                    .update(&self.claim.key, |p| p.total = Some(total));
            }
        }
        let mut next: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let req: Request = match tool {
                Tool::HubSpot => hubspot::request(config, &fields, since, next.as_deref()),
                Tool::Salesforce => salesforce::request(config, &fields, since, next.as_deref())?,
            };
            let body = client.send(&req).await?;
            let page: Page = match tool {
                Tool::HubSpot => hubspot::parse_page(&body, since.is_some())?,
                Tool::Salesforce => salesforce::parse_page(&body)?,
            };
            self.apply(sync, &page).await?;
            self.state
                .store
                .renew_sync(self.claim.key.0, tool.kind(), LEASE_MS)
                .await
                .map_err(|e| e.to_string())?;
            match page.next {
                None => return Ok(()),
                Some(Next::Page(token)) => next = Some(token),
                Some(Next::Restart) => {
                    // Every record of the window has the same date: going on
                    // would read the same window again.
                    if self.newest.is_none() || self.newest == since {
                        return Err(format!("more than 10,000 {} records changed at the same moment; HubSpot's search cannot page past them: run a Full sync", config.object));
                    }
                    since = self.newest;
                    next = None;
                }
            }
        }
        Err(format!(
            "the run read {MAX_PAGES} pages and stopped: run it again to go on from there"
        ))
    }

    /// Writes one page's updates; counts and notes what happened.
    async fn apply(&mut self, sync: &Sync, page: &Page) -> Result<(), String> {
        let (workspace, kind) = (self.claim.key.0, self.claim.tool.kind());
        let store = &self.state.store;
        // Types of the attributes, fresh per page: a value its attribute's
        // type cannot take is left out alone, the record's others written.
        let types: HashMap<String, AttrType> = store
            .definitions(workspace)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|d| (d.name, d.attr_type))
            .collect();
        let mut ops = Vec::new();
        let mut whom = Vec::new();
        for record in &page.records {
            self.counts.read += 1;
            self.newest = self.newest.max(record.modified_ms);
            let mut notes = Vec::new();
            let found = record_update(&sync.config, kind, record, &types, &mut notes);
            self.counts.errors += notes.len() as i64;
            self.note(notes);
            let Some((target, update)) = found else {
                self.not_matched(&record.id);
                continue;
            };
            let user = match &target {
                Target::UserId(id) => UserKey::UserId(id.clone()),
                Target::Email(email) => match store
                    .jimer_id_by_email(workspace, email)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    Some(jimer) => UserKey::JimerId(jimer),
                    None => {
                        self.not_matched(email);
                        continue;
                    }
                },
            };
            ops.push(WriteOp::Update {
                workspace,
                user,
                update,
            });
            whom.push((record.id.clone(), target));
        }
        let outcomes = self.state.writer.write_many(ops).await;
        for (outcome, (id, target)) in outcomes.into_iter().zip(whom) {
            match outcome {
                Ok(WriteOutcome::Missing) => {
                    self.not_matched(match &target {
                        Target::Email(s) | Target::UserId(s) => s,
                    });
                }
                Ok(_) => self.counts.updated += 1,
                Err(e) => {
                    self.counts.errors += 1;
                    self.note(vec![format!("record {id}: {e}; nothing of it applied")]);
                }
            }
        }
        let read = self.counts.read;
        self.claim.runs.update(&self.claim.key, |p| {
            p.read = read;
            p.total = page.total.or(p.total);
        });
        Ok(())
    }

    fn not_matched(&mut self, who: &str) {
        self.counts.not_matched += 1;
        if self.unmatched.len() < 3 {
            self.unmatched.push(format!("{who:?}"));
        }
    }

    fn note(&mut self, notes: Vec<String>) {
        for n in notes {
            if self.lines.len() < MAX_RECORD_LINES {
                self.lines.push(n);
            } else {
                self.more_lines += 1;
            }
        }
    }
}

/// Starts the schedule: every `TICK`, each switched-on sync whose interval
/// has passed runs incrementally (a sync already running is left alone).
pub fn start_schedule(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let due = match state.store.due_syncs(now_ms()).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!("cannot read the syncs that are due: {e}");
                    continue;
                }
            };
            for (workspace, kind) in due {
                let Ok(claim) = claim(&state, workspace, &kind, false) else {
                    continue;
                };
                let state = state.clone();
                tokio::spawn(async move {
                    match run(&state, claim).await {
                        Ok(r) => tracing::info!("{kind} sync of workspace {workspace}: {:?}", r),
                        Err(e) => tracing::warn!(
                            "{kind} sync of workspace {workspace} could not run: {e}"
                        ),
                    }
                });
            }
        }
    });
}
