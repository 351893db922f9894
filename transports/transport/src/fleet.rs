//! Fleet export: every database of an account into one directory, under one request budget.
//! What both drivers share: [`FleetRun`] (listing, selection, naming, skip-unchanged and the
//! reports, around the core's [`Fleet`], which owns the budget and every protocol decision),
//! the per-database report and the include/exclude globs. A driver only executes the run's
//! [`FleetStep`]s: requests (many in flight), bodies into per-database sinks, waits.

use crate::cancel::CancelToken;
use crate::drive::ExportOutcome;
use crate::error::Error;
use d1_export_core::wire::DatabaseInfo;
use d1_export_core::{
    AccountId, Config, DatabaseId, DumpOptions, Event, Finished, Fleet, FleetInput, FleetOutput,
    Input, Job, Outcome, Output, RateBudget, RequestId, Task, TaskKey,
};
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// What to export and how.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// The dump options, the same for every database.
    pub dump: DumpOptions,
    /// Exports running at once (at least 1).
    pub concurrency: usize,
    /// Only databases whose name matches one of these globs (see [`NameFilter`]); empty: all.
    pub include: Vec<String>,
    /// No database whose name matches one of these globs (see [`NameFilter`]).
    pub exclude: Vec<String>,
    /// Skip a database whose current bookmark equals the one its previous export recorded.
    pub skip_unchanged: bool,
    /// Page size of the database list.
    pub per_page: u32,
    /// The API's request budget, shared by every request of the run (listing included).
    pub budget: RateBudget,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            dump: DumpOptions::default(),
            concurrency: 4,
            include: Vec::new(),
            exclude: Vec::new(),
            skip_unchanged: false,
            per_page: 100,
            budget: RateBudget::cloudflare(),
        }
    }
}

impl FleetOptions {
    /// The databases to export, in listing order: selected by the globs, each once.
    pub fn select(&self, listed: Vec<DatabaseInfo>) -> Vec<DatabaseInfo> {
        let filter = self.filter();
        let mut seen = std::collections::HashSet::new();
        listed
            .into_iter()
            .filter(|d| filter.selects(&d.name) && seen.insert(d.uuid.clone()))
            .collect()
    }

    /// Whether a database of this name is selected by the globs.
    pub fn selects(&self, name: &str) -> bool {
        self.filter().selects(name)
    }

    /// The include and exclude globs, compiled once.
    pub fn filter(&self) -> NameFilter {
        NameFilter::new(&self.include, &self.exclude)
    }
}

/// Database names selected by include and exclude globs, compiled with `globset`: `*` any
/// run of characters, `?` one character, `[a-z]` a class, `{prod,staging}` alternatives,
/// `\` escapes; case-sensitive. A name is selected when it matches an include glob (or there
/// is none) and no exclude glob. A pattern that is not a valid glob (check patterns first
/// with [`check_glob`]) is matched as literal text.
#[derive(Debug, Clone)]
pub struct NameFilter {
    include: Option<GlobSet>,
    exclude: GlobSet,
}

impl NameFilter {
    /// Compiles the globs.
    pub fn new(include: &[String], exclude: &[String]) -> Self {
        Self {
            include: (!include.is_empty()).then(|| glob_set(include)),
            exclude: glob_set(exclude),
        }
    }

    /// Whether a database of this name is selected.
    pub fn selects(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|set| set.is_match(name)) && !self.exclude.is_match(name)
    }
}

/// Whether `pattern` is a valid glob for [`NameFilter`]; the error says what is wrong.
pub fn check_glob(pattern: &str) -> Result<(), globset::Error> {
    Glob::new(pattern).map(|_| ())
}

fn glob(pattern: &str) -> Glob {
    Glob::new(pattern)
        .or_else(|_| Glob::new(&globset::escape(pattern)))
        .expect("an escaped pattern is a valid glob")
}

fn glob_set(patterns: &[String]) -> GlobSet {
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        set.add(glob(p));
    }
    // Globs that compiled one by one also compile as a set.
    set.build().unwrap_or_else(|_| GlobSet::empty())
}

/// How one database ended.
#[derive(Debug)]
pub enum DatabaseStatus {
    /// Exported and verified.
    Exported(ExportOutcome),
    /// Unchanged since the previous export (same bookmark): not exported again.
    Skipped {
        /// The bookmark, the same as the previous export's.
        bookmark: String,
    },
    /// Failed; the other databases go on.
    Failed(Error),
}

/// One database's result.
#[derive(Debug)]
pub struct DatabaseReport {
    /// The database.
    pub database: DatabaseInfo,
    /// Where its dump is (or would be).
    pub path: PathBuf,
    /// How it ended.
    pub status: DatabaseStatus,
    /// When its export started.
    pub started: SystemTime,
    /// How long it took.
    pub elapsed: Duration,
}

/// What the caller of a fleet export is told, and asked.
pub trait FleetHooks {
    /// An event of one database's export.
    fn on_event(&self, database: &DatabaseInfo, event: &Event) {
        let _ = (database, event);
    }

    /// The bookmark the previous export of `database` to `path` recorded (read from its
    /// manifest), for `skip_unchanged`.
    fn previous_bookmark(&self, database: &DatabaseInfo, path: &Path) -> Option<String> {
        let _ = (database, path);
        None
    }

    /// Where the dump for `path` goes when not to that file: a [`Feed`](crate::Feed)
    /// (compressed, uploaded, named by time). `None` (the default): the file at `path`. Keep
    /// it quick: the async driver calls it on its runtime.
    fn open_feed(&self, path: &Path) -> Option<Result<crate::Feed, Error>> {
        let _ = path;
        None
    }

    /// One database is done (exported, skipped or failed).
    fn on_done(&self, report: &DatabaseReport) {
        let _ = report;
    }
}

/// Hooks behind a reference (`export_all(…, &hooks)`, not spawnable) work as the hooks.
impl<H: FleetHooks + ?Sized> FleetHooks for &H {
    fn on_event(&self, database: &DatabaseInfo, event: &Event) {
        (**self).on_event(database, event);
    }
    fn previous_bookmark(&self, database: &DatabaseInfo, path: &Path) -> Option<String> {
        (**self).previous_bookmark(database, path)
    }
    fn open_feed(&self, path: &Path) -> Option<Result<crate::Feed, Error>> {
        (**self).open_feed(path)
    }
    fn on_done(&self, report: &DatabaseReport) {
        (**self).on_done(report);
    }
}

/// Shared hooks (an `Arc` kept by the caller to read what they gathered) work as the hooks.
impl<H: FleetHooks + ?Sized> FleetHooks for std::sync::Arc<H> {
    fn on_event(&self, database: &DatabaseInfo, event: &Event) {
        (**self).on_event(database, event);
    }
    fn previous_bookmark(&self, database: &DatabaseInfo, path: &Path) -> Option<String> {
        (**self).previous_bookmark(database, path)
    }
    fn open_feed(&self, path: &Path) -> Option<Result<crate::Feed, Error>> {
        (**self).open_feed(path)
    }
    fn on_done(&self, report: &DatabaseReport) {
        (**self).on_done(report);
    }
}

/// Every database of an account, page after page: what both drivers' `list_all_databases`
/// share. Ask for [`next_page`](Self::next_page) until it is `None`, [`add`](Self::add)ing
/// each page as it comes.
#[derive(Debug, Clone)]
pub struct AllDatabases {
    per_page: u32,
    next: Option<u32>,
    databases: Vec<DatabaseInfo>,
}

impl AllDatabases {
    /// A listing in pages of `per_page`, starting at page 1.
    pub fn new(per_page: u32) -> Self {
        Self {
            per_page,
            next: Some(1),
            databases: Vec::new(),
        }
    }

    /// The page size.
    pub fn per_page(&self) -> u32 {
        self.per_page
    }

    /// The page to fetch next; `None` once the listing is complete.
    pub fn next_page(&self) -> Option<u32> {
        self.next
    }

    /// Takes the page just fetched (the one [`next_page`](Self::next_page) named).
    pub fn add(&mut self, listing: d1_export_core::lookup::Page) {
        let Some(page) = self.next else { return };
        self.next = listing.next_page(page, self.per_page);
        self.databases.extend(listing.databases);
    }

    /// The databases listed, in listing order.
    pub fn into_databases(self) -> Vec<DatabaseInfo> {
        self.databases
    }
}

/// Hooks that do nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHooks;

impl FleetHooks for NoHooks {}

/// What a driver does next for a [`FleetRun`].
#[derive(Debug)]
pub enum FleetStep {
    /// Send this API request (others may be in flight); feed the reply (read up to `limit`
    /// bytes plus one) or the failure tagged with `key`.
    Send {
        /// Whose request.
        key: TaskKey,
        /// The request's id.
        id: RequestId,
        /// The request, token included.
        request: http::Request<Vec<u8>>,
        /// The largest reply body accepted.
        limit: usize,
    },
    /// Send this download request (no `Authorization`); feed the head, keep the body.
    Download {
        /// Whose download.
        key: TaskKey,
        /// The request's id.
        id: RequestId,
        /// The GET of the signed URL (a credential: do not log it).
        request: http::Request<()>,
    },
    /// Stream the held body of `key` into its sink (created beside `path` on first use),
    /// its first byte at `start_at`; feed progress, then the end or the failure.
    WriteBody {
        /// Whose body.
        key: TaskKey,
        /// The download's id.
        id: RequestId,
        /// Where the body's first byte goes.
        start_at: u64,
        /// The dump's destination.
        path: PathBuf,
    },
    /// The export of `key` is verified whole: flush, sync and rename its sink to `path`, then
    /// report with [`FleetRun::persisted`].
    Persist {
        /// Whose file.
        key: TaskKey,
        /// The destination.
        path: PathBuf,
        /// What the core verified.
        outcome: Outcome,
    },
    /// The task of `key` ended without a file: drop its sink and any held body.
    Discard {
        /// Whose sink.
        key: TaskKey,
    },
    /// Nothing to do before then unless an answer comes first; then feed a tick.
    WaitUntil(Instant),
    /// The run is over: the reports in listing order, or the listing's failure.
    Done(Result<Vec<DatabaseReport>, Error>),
}

/// What a task of the run is for.
#[derive(Debug, Clone, Copy)]
enum Purpose {
    List { page: u32 },
    Check { database: usize },
    Export { database: usize },
}

/// One selected database, as the run goes.
#[derive(Debug)]
struct Entry {
    info: DatabaseInfo,
    path: PathBuf,
    started: Option<(SystemTime, Instant)>,
    report: Option<DatabaseReport>,
}

/// A fleet export as a sans-IO run: lists the account's databases page by page, selects,
/// names, checks bookmarks for skip-unchanged, exports through the core's [`Fleet`] and keeps
/// the reports. Both drivers run it the same way; see [`FleetStep`].
#[derive(Debug)]
pub struct FleetRun {
    fleet: Fleet,
    account: AccountId,
    dir: PathBuf,
    options: FleetOptions,
    tasks: HashMap<TaskKey, Purpose>,
    entries: Vec<Entry>,
    seen: std::collections::HashSet<String>,
    /// Bookmark checks waiting for room (at most `concurrency` run at once).
    checks: VecDeque<(usize, String)>,
    previous: HashMap<usize, String>,
    checking: usize,
    listing: bool,
    failed: Option<Error>,
    /// Why the driver ended a task (a sink that failed), reported instead of the cancel.
    aborted: HashMap<TaskKey, Error>,
    steps: VecDeque<FleetStep>,
    over: bool,
    /// The tokens that cancel the whole run (a call's own, the client's shutdown).
    cancel: Option<CancelToken>,
    cancel_fed: bool,
}

impl FleetRun {
    /// A run exporting the selected databases of `account` into `dir`, with `config`'s
    /// policies. Starts by listing (under the budget like every request).
    pub fn new(
        config: Config,
        account: AccountId,
        dir: &Path,
        options: FleetOptions,
        now: Instant,
    ) -> Result<Self, Error> {
        let fleet = Fleet::new(config, options.budget.clone(), now)
            .with_concurrency(options.concurrency.max(1));
        let mut run = Self {
            fleet,
            account,
            dir: dir.to_owned(),
            options,
            tasks: HashMap::new(),
            entries: Vec::new(),
            seen: std::collections::HashSet::new(),
            checks: VecDeque::new(),
            previous: HashMap::new(),
            checking: 0,
            listing: true,
            failed: None,
            aborted: HashMap::new(),
            steps: VecDeque::new(),
            over: false,
            cancel: None,
            cancel_fed: false,
        };
        run.list(1)?;
        Ok(run)
    }

    /// Cancels the run once `token` is cancelled (checked at every [`poll`](Self::poll)); a
    /// driver wakes its waits on [`cancel_token`](Self::cancel_token). Each cancel of the run
    /// is fed once.
    #[must_use]
    pub fn cancelled_by(mut self, token: CancelToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// The token given to [`cancelled_by`](Self::cancelled_by), until its cancel was fed.
    pub fn cancel_token(&self) -> Option<&CancelToken> {
        self.cancel.as_ref().filter(|_| !self.cancel_fed)
    }

    /// The most I/O jobs in flight at once (a blocking driver's pool size): a request or a
    /// body of each running export and each bookmark check, a list page, and the files being
    /// synced.
    pub fn most_in_flight(&self) -> usize {
        3 * self.options.concurrency.max(1) + 1
    }

    fn list(&mut self, page: u32) -> Result<(), Error> {
        let key = self.fleet.push(Task::ListDatabases {
            account: self.account.clone(),
            page,
            per_page: self.options.per_page,
        })?;
        self.tasks.insert(key, Purpose::List { page });
        Ok(())
    }

    /// Feeds what happened to the task of `key` (or, without a key, a tick).
    pub fn handle_input(
        &mut self,
        now: Instant,
        key: Option<TaskKey>,
        input: Input,
    ) -> Result<(), Error> {
        let input = match (key, input) {
            (Some(key), input) => FleetInput::Task { key, input },
            (None, Input::Cancel) => FleetInput::Cancel,
            (None, _) => FleetInput::Tick,
        };
        self.fleet
            .handle_input(now, input)
            .map_err(|e| Error::Internal(format!("driver bug: {e}")))
    }

    /// Cancels everything: every task ends, the run reports what finished.
    pub fn cancel(&mut self, now: Instant) {
        self.checks.clear();
        let _ = self.fleet.handle_input(now, FleetInput::Cancel);
    }

    /// The driver cannot go on with the task of `key` (its sink failed): the task ends, and
    /// its database is reported failed with `error`.
    pub fn abort(&mut self, now: Instant, key: TaskKey, error: Error) {
        self.aborted.insert(key, error);
        let _ = self.fleet.handle_input(
            now,
            FleetInput::Task {
                key,
                input: Input::Cancel,
            },
        );
    }

    /// The sink of `key` was persisted (or failed to be): its database's report.
    pub fn persisted(
        &mut self,
        key: TaskKey,
        result: Result<ExportOutcome, Error>,
        hooks: &impl FleetHooks,
    ) {
        if let Some(Purpose::Export { database }) = self.tasks.remove(&key) {
            let status = match result {
                Ok(outcome) => DatabaseStatus::Exported(outcome),
                Err(e) => DatabaseStatus::Failed(e),
            };
            self.report(database, status, hooks);
        }
    }

    fn report(&mut self, database: usize, status: DatabaseStatus, hooks: &impl FleetHooks) {
        let entry = &mut self.entries[database];
        let (started, clock) = entry
            .started
            .unwrap_or_else(|| (SystemTime::now(), Instant::now()));
        let report = DatabaseReport {
            database: entry.info.clone(),
            path: entry.path.clone(),
            status,
            started,
            elapsed: clock.elapsed(),
        };
        hooks.on_done(&report);
        entry.report = Some(report);
    }

    fn select(&mut self, page: u32, listed: Vec<DatabaseInfo>, hooks: &impl FleetHooks) {
        for info in listed {
            if !self.options.selects(&info.name) || !self.seen.insert(info.uuid.clone()) {
                continue;
            }
            let path = self.dir.join(dump_file_name(&info));
            let database = self.entries.len();
            self.entries.push(Entry {
                info,
                path,
                started: None,
                report: None,
            });
            let entry = &self.entries[database];
            let previous = if self.options.skip_unchanged {
                hooks.previous_bookmark(&entry.info, &entry.path)
            } else {
                None
            };
            match previous {
                Some(previous) => self.checks.push_back((database, previous)),
                None => self.export(database, hooks),
            }
        }
        let _ = page;
    }

    fn job(&self, database: usize) -> Result<Job, Error> {
        let id = DatabaseId::new(&self.entries[database].info.uuid)
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(Job {
            account: self.account.clone(),
            database: id,
            options: self.options.dump.clone(),
        })
    }

    fn export(&mut self, database: usize, hooks: &impl FleetHooks) {
        let pushed = self
            .job(database)
            .and_then(|job| self.fleet.push(Task::Export(job)).map_err(Error::from));
        match pushed {
            Ok(key) => {
                self.tasks.insert(key, Purpose::Export { database });
            }
            Err(e) => self.report(database, DatabaseStatus::Failed(e), hooks),
        }
    }

    fn start_checks(&mut self, hooks: &impl FleetHooks) {
        while self.checking < self.options.concurrency.max(1) {
            let Some((database, previous)) = self.checks.pop_front() else {
                return;
            };
            let pushed = self.job(database).and_then(|job| {
                self.fleet
                    .push(Task::CurrentBookmark {
                        account: job.account,
                        database: job.database,
                    })
                    .map_err(Error::from)
            });
            match pushed {
                Ok(key) => {
                    self.checking += 1;
                    self.previous.insert(database, previous);
                    self.tasks.insert(key, Purpose::Check { database });
                }
                Err(e) => self.report(database, DatabaseStatus::Failed(e), hooks),
            }
        }
    }

    fn finished(
        &mut self,
        key: TaskKey,
        result: Result<Finished, d1_export_core::Error>,
        hooks: &impl FleetHooks,
    ) {
        let Some(purpose) = self.tasks.get(&key).copied() else {
            return;
        };
        match (purpose, result) {
            (Purpose::List { page }, Ok(Finished::Page(listing))) => {
                self.tasks.remove(&key);
                let next = listing.next_page(page, self.options.per_page);
                self.select(page, listing.databases, hooks);
                match next.filter(|_| self.failed.is_none()) {
                    Some(n) => {
                        if let Err(e) = self.list(n) {
                            self.fail(e);
                        }
                    }
                    None => self.listing = false,
                }
            }
            (Purpose::List { .. }, other) => {
                self.tasks.remove(&key);
                let error = match other {
                    Err(e) => Error::from(e),
                    Ok(_) => Error::Internal("a list page ended without a page".to_owned()),
                };
                self.fail(error);
            }
            (Purpose::Check { database }, result) => {
                self.tasks.remove(&key);
                self.checking -= 1;
                let previous = self.previous.remove(&database);
                match result {
                    Ok(Finished::Bookmark(current)) if Some(&current) == previous.as_ref() => {
                        let status = DatabaseStatus::Skipped { bookmark: current };
                        self.report(database, status, hooks);
                    }
                    Ok(_) if self.failed.is_none() => self.export(database, hooks),
                    Ok(_) => self.report(database, DatabaseStatus::Failed(Error::Cancelled), hooks),
                    Err(e) => self.report(database, DatabaseStatus::Failed(e.into()), hooks),
                }
            }
            (Purpose::Export { database }, Ok(Finished::Exported(outcome))) => {
                let path = self.entries[database].path.clone();
                self.steps
                    .push_back(FleetStep::Persist { key, path, outcome });
            }
            (Purpose::Export { database }, other) => {
                self.tasks.remove(&key);
                self.steps.push_back(FleetStep::Discard { key });
                let aborted = self.aborted.remove(&key);
                let error = match other {
                    Err(_) if aborted.is_some() => aborted.unwrap_or(Error::Cancelled),
                    Err(e) => Error::from(e),
                    Ok(_) => Error::Internal("an export ended without a file".to_owned()),
                };
                self.report(database, DatabaseStatus::Failed(error), hooks);
            }
        }
    }

    fn fail(&mut self, error: Error) {
        if self.failed.is_none() {
            self.failed = Some(error);
        }
        self.listing = false;
        self.checks.clear();
        let _ = self.fleet.handle_input(Instant::now(), FleetInput::Cancel);
    }

    /// The next thing to do. Events and reports go to `hooks` on the way.
    pub fn poll(&mut self, hooks: &impl FleetHooks) -> FleetStep {
        if !self.cancel_fed && self.cancel.as_ref().is_some_and(CancelToken::is_cancelled) {
            self.cancel_fed = true;
            self.cancel(Instant::now());
        }
        loop {
            if let Some(step) = self.steps.pop_front() {
                return step;
            }
            if self.over {
                return FleetStep::WaitUntil(far_future());
            }
            self.start_checks(hooks);
            match self.fleet.poll_output() {
                FleetOutput::Task { key, output } => {
                    if let Some(step) = self.on_output(key, output, hooks) {
                        return step;
                    }
                }
                FleetOutput::WaitUntil(at) => {
                    crate::trace::wait(at);
                    return FleetStep::WaitUntil(at);
                }
                FleetOutput::Idle => {
                    if !self.checks.is_empty() || self.listing {
                        // Only reachable if a push failed; nothing is running to wait for.
                        self.checks.clear();
                        self.listing = false;
                    }
                    if !self.tasks.is_empty() {
                        // Exports whose sinks are being persisted.
                        return FleetStep::WaitUntil(far_future());
                    }
                    self.over = true;
                    return FleetStep::Done(self.reports());
                }
            }
        }
    }

    fn on_output(
        &mut self,
        key: TaskKey,
        output: Output<Finished>,
        hooks: &impl FleetHooks,
    ) -> Option<FleetStep> {
        if let Some(Purpose::Export { database }) = self.tasks.get(&key).copied() {
            let entry = &mut self.entries[database];
            entry
                .started
                .get_or_insert_with(|| (SystemTime::now(), Instant::now()));
            if let Output::Event(event) = &output {
                tracing::debug_span!(target: crate::trace::TARGET, "fleet", database = ?entry.info.name)
                    .in_scope(|| crate::trace::event(event));
                hooks.on_event(&entry.info, event);
            }
            if let Output::WriteBody { id, start_at } = output {
                let path = entry.path.clone();
                return Some(FleetStep::WriteBody {
                    key,
                    id,
                    start_at,
                    path,
                });
            }
        }
        match output {
            Output::Send { id, request } => Some(FleetStep::Send {
                key,
                id,
                request,
                limit: self.fleet.reply_limit(),
            }),
            Output::Download { id, request } => Some(FleetStep::Download { key, id, request }),
            Output::Done(result) => {
                self.finished(key, result, hooks);
                None
            }
            Output::Upload { .. } => {
                self.fail(Error::Internal(format!(
                    "{key}: an upload in an export fleet"
                )));
                None
            }
            Output::WriteBody { .. }
            | Output::KeepStreaming { .. }
            | Output::Event(_)
            | Output::WaitUntil(_) => None,
        }
    }

    fn reports(&mut self) -> Result<Vec<DatabaseReport>, Error> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        Ok(self
            .entries
            .drain(..)
            .map(|e| {
                e.report.unwrap_or_else(|| DatabaseReport {
                    started: e.started.map_or_else(SystemTime::now, |s| s.0),
                    elapsed: e.started.map(|s| s.1.elapsed()).unwrap_or_default(),
                    status: DatabaseStatus::Failed(Error::Cancelled),
                    database: e.info,
                    path: e.path,
                })
            })
            .collect())
    }
}

fn far_future() -> Instant {
    let now = Instant::now();
    now.checked_add(Duration::from_secs(86_400 * 365))
        .unwrap_or(now)
}

/// `<name>-<uuid>.sql`, the name reduced to `[A-Za-z0-9_-]` (others become `_`) so no
/// database name can escape the directory.
pub fn dump_file_name(database: &DatabaseInfo) -> String {
    let name: String = database
        .name
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let uuid: String = database
        .uuid
        .chars()
        .filter(|c| c.is_ascii_hexdigit() || *c == '-')
        .take(36)
        .collect();
    format!("{name}-{uuid}.sql")
}

/// Whether `text` matches the glob `pattern`, as [`NameFilter`] matches it.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    glob(pattern).compile_matcher().is_match(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (p, t, want) in [
            ("*", "anything", true),
            ("prod-*", "prod-eu", true),
            ("prod-*", "staging-eu", false),
            ("*-eu", "prod-eu", true),
            ("db?", "db1", true),
            ("db?", "db12", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("", "", true),
            ("", "x", false),
            // Beyond `*` and `?`: classes, alternatives, escapes; a path separator is just a
            // character in a database name.
            ("db[0-9]", "db7", true),
            ("db[0-9]", "dbx", false),
            ("{prod,staging}-*", "staging-eu", true),
            ("{prod,staging}-*", "dev-eu", false),
            ("a\\*", "a*", true),
            ("a\\*", "ab", false),
            ("*", "a/b", true),
            ("Prod-*", "prod-eu", false),
            // Not a glob (an unclosed class): literal text.
            ("db[", "db[", true),
            ("db[", "db1", false),
        ] {
            assert_eq!(glob_match(p, t), want, "{p} {t}");
        }
        let o = FleetOptions {
            include: vec!["prod-*".into()],
            exclude: vec!["*-old".into()],
            ..FleetOptions::default()
        };
        assert!(o.selects("prod-eu"));
        assert!(!o.selects("prod-old"));
        assert!(!o.selects("dev"));
        assert!(FleetOptions::default().selects("anything"));
        let several = NameFilter::new(&["a*".into(), "b*".into()], &["*z".into(), "ab".into()]);
        let picked: Vec<&str> = ["a1", "b1", "c1", "az", "ab", "bz"]
            .into_iter()
            .filter(|n| several.selects(n))
            .collect();
        assert_eq!(picked, ["a1", "b1"]);
        assert!(check_glob("db[0-9]").is_ok());
        assert!(check_glob("db[").is_err());
        assert!(check_glob("{a,b").is_err());
    }

    #[test]
    fn file_names_cannot_escape() {
        let db = DatabaseInfo {
            uuid: "0a1b2c3d-0000-4000-8000-00000000abcd".into(),
            name: "../../etc/passwd".into(),
        };
        assert_eq!(
            dump_file_name(&db),
            "______etc_passwd-0a1b2c3d-0000-4000-8000-00000000abcd.sql"
        );
        let db = DatabaseInfo {
            uuid: "../x".into(),
            name: "ok".into(),
        };
        assert_eq!(
            dump_file_name(&db),
            "ok-.sql",
            "the uuid loses its dots and slash"
        );
    }
}
