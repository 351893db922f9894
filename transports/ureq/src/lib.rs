//! # d1-export-ureq
//!
//! A blocking driver for [`d1_export_core`] on [`ureq`]: a thin loop that executes the core's
//! outputs (send a request, wait, stream a download into a sink) and feeds back what happened.
//! Every protocol decision — pacing, retries, resume, validation — is the core's.
//!
//! - Sinks: a file path, written atomically ([`Client::export_to_path`]), or any
//!   [`Write`] ([`Client::export_to_writer`]).
//! - Events (log lines, parts, retries, download progress) go to a callback as they happen.
//! - Cancellation, per call: the `*_with_cancel` methods (exports, imports, lookups,
//!   listings, fleet runs) take a [`CancelToken`] that ends that call alone, from any thread,
//!   within milliseconds in every state — waiting between polls, a held long-poll, a connect
//!   in progress, a download's head or a stalled body read. [`Client::shutdown_token`] ends
//!   every call of the client and its clones.
//!
//! ## Threads
//!
//! ureq blocks in its reads, so a call's HTTP I/O runs on a helper thread and the caller's
//! thread only waits on channels and the cancel token:
//!
//! - One helper thread per call (an export, an import, a lookup), started at its first
//!   request and reused by every request, download and body read of that call; it ends with
//!   the call. [`Client::list_all_databases`] runs all its pages on one thread. A lookup
//!   therefore costs one short-lived thread; to make many, reuse a client from a few threads
//!   rather than expecting a shared pool.
//! - [`Client::export_all`] runs one loop on the caller's thread and a pool of
//!   `3 × concurrency + 1` I/O threads (at most 129) for the whole run.
//! - A cancelled call returns at once, but its helper thread cannot interrupt a blocking
//!   read: it lingers, detached, until the request in flight finishes or the read (or
//!   connect) timeout ends it — at most [`ClientConfig::read_timeout`] (90 s by default),
//!   holding one connection — then exits. Nothing it receives reaches the caller or a file.
//!   A program cancelling often can shorten that bound with a smaller read timeout (at
//!   least 60 s: the API holds a long-poll up to ~30 s).
//! - HTTP/1.1 over rustls, no redirects, no gzip, statuses as responses, a connect and a
//!   per-read timeout and no total timeout. The download never carries `Authorization`.
//! - One dependency is enough: every type the API takes or returns is re-exported here, and
//!   so is [`ureq`] itself (`d1_export_ureq::ureq::Agent::config_builder()`), so an agent
//!   brought to [`ClientBuilder::http_client`] is always of the matching version.
//!
//! ```no_run
//! use d1_export_ureq::{AccountId, CancelToken, Client, DatabaseId, DumpOptions, ErrorKind, Job};
//!
//! let client = Client::builder()
//!     .api_base("https://api.cloudflare.com/client/v4")
//!     .token(std::env::var("CLOUDFLARE_API_TOKEN")?)
//!     .build()?;
//! let job = Job {
//!     account: AccountId::new("0123456789abcdef0123456789abcdef")?,
//!     database: DatabaseId::new("0a1b2c3d-0000-4000-8000-00000000abcd")?,
//!     options: DumpOptions::default(),
//! };
//! let cancel = CancelToken::new(); // cancel() from another thread ends this export only
//! match client.export_to_path_with_cancel(&job, "backup.sql", &cancel, |e| eprintln!("{e:?}")) {
//!     Ok(outcome) => println!("{} bytes, sha256 {}", outcome.bytes, outcome.sha256),
//!     Err(e) if e.kind() == ErrorKind::AlreadyRunning => eprintln!("busy, later: {e}"),
//!     Err(e) => return Err(e.into()),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Bringing your own `ureq::Agent`
//!
//! [`ClientBuilder::http_client`] takes an agent (shared pool, custom roots, a proxy). Its
//! TLS, proxy, pool and timeout settings are used as they are; keep a connect timeout and a
//! per-read timeout (the API holds a long-poll up to ~30 s, so at least 60 s) and **no
//! global or per-call timeout** (it would kill long downloads; the core's deadline bounds a
//! run). What the protocol needs is set on every request regardless: statuses as responses
//! (`http_status_as_error(false)`), no redirects, no `Accept-Encoding`.

pub use d1_export_core::lookup::Page;
pub use d1_export_core::wire::DatabaseInfo;
pub use d1_export_core::{
    AccountId, Compatibility, Contents, DatabaseId, DownloadPolicy, DumpOptions, Event, Hint,
    ImportOutcome, Job, JobGonePolicy, Pacing, RateBudget, RetryPolicy, SetupError,
};
use d1_export_core::{Input, Machine, RequestId, TransportFailure};
use d1_export_transport::{classify_io, BuildClient, Flow, Runner, Sink, Step};
pub use d1_export_transport::{
    CancelToken, ClientBuilder, ClientConfig, DatabaseReport, DatabaseStatus, Error, ErrorKind,
    ExportOutcome, Feed, FleetHooks, FleetOptions, JitterSeed, NoHooks, Written,
};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;
/// The HTTP client crate this driver is built on, for [`ClientBuilder::http_client`].
pub use ureq;

mod fleet;
mod upload;

/// A blocking client: HTTP settings, the core's policies, an agent and a shutdown token.
///
/// Cheap to clone (clones share the agent's connection pool and the shutdown token) and to
/// share by reference across threads; each call runs one machine to its end.
#[derive(Debug, Clone)]
pub struct Client {
    config: ClientConfig,
    agent: ureq::Agent,
    shutdown: CancelToken,
}

impl BuildClient for Client {
    type Http = ureq::Agent;

    fn from_parts(config: ClientConfig, agent: Option<ureq::Agent>) -> Result<Self, Error> {
        let agent = agent.unwrap_or_else(|| agent_for(&config));
        Ok(Self {
            config,
            agent,
            shutdown: CancelToken::new(),
        })
    }
}

/// Our agent: the settings of `config`.
fn agent_for(config: &ClientConfig) -> ureq::Agent {
    let proxy = if config.proxy_from_env {
        ureq::Proxy::try_from_env()
    } else {
        None
    };
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .user_agent(config.user_agent.as_str())
        .accept_encoding("")
        .proxy(proxy)
        .timeout_global(None)
        .timeout_connect(Some(config.connect_timeout))
        .timeout_per_read(Some(config.read_timeout))
        .timeout_per_write(Some(config.read_timeout))
        .input_buffer_size(config.buffer_size.max(128 * 1024))
        .build()
        .new_agent()
}

impl Client {
    /// Builds a client with its own agent. Fails only on settings the HTTP stack refuses.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        Self::from_parts(config, None)
    }

    /// A builder: `Client::builder().api_base(url).token(token).build()?`.
    pub fn builder() -> ClientBuilder<Self> {
        ClientBuilder::new()
    }

    /// Replaces the shutdown token (to shut several clients down at once).
    #[must_use]
    pub fn with_shutdown_token(mut self, token: CancelToken) -> Self {
        self.shutdown = token;
        self
    }

    /// The client-wide shutdown token: cancelling it ends every running and later call of
    /// this client and its clones with [`Error::Cancelled`]. To cancel one call, give that
    /// call its own token (the `*_with_cancel` methods).
    pub fn shutdown_token(&self) -> CancelToken {
        self.shutdown.clone()
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Exports `job` to the file at `path`, atomically: the dump goes to a private temporary
    /// file in the same directory (created before any request, so a missing or read-only
    /// directory fails at once), which is flushed, synced and renamed over `path` only once
    /// the core has verified it whole. On any failure or cancellation the temporary file is
    /// removed and an existing `path` is left untouched.
    pub fn export_to_path(
        &self,
        job: &Job,
        path: impl AsRef<Path>,
        on_event: impl FnMut(&Event),
    ) -> Result<ExportOutcome, Error> {
        self.export_to_path_with_cancel(job, path, &CancelToken::new(), on_event)
    }

    /// [`export_to_path`](Self::export_to_path), ended early (with [`Error::Cancelled`], the
    /// temporary file removed) by cancelling `cancel`.
    pub fn export_to_path_with_cancel(
        &self,
        job: &Job,
        path: impl AsRef<Path>,
        cancel: &CancelToken,
        mut on_event: impl FnMut(&Event),
    ) -> Result<ExportOutcome, Error> {
        let export = self.config.export(job)?;
        let mut sink = Sink::file(path.as_ref())?;
        let outcome = self.run(export, &mut sink, cancel, &mut on_event)?;
        let outcome = ExportOutcome::new(outcome, &sink.digest())?;
        sink.commit()?;
        Ok(outcome)
    }

    /// Exports `job` into `writer` (stdout, a pipe, a compressor). The writer is flushed at
    /// the end. A resumed download appends; a download the server restarts from the
    /// beginning after bytes were written cannot be rewound and ends the run with an error.
    pub fn export_to_writer<W: Write>(
        &self,
        job: &Job,
        writer: W,
        on_event: impl FnMut(&Event),
    ) -> Result<ExportOutcome, Error> {
        self.export_to_writer_with_cancel(job, writer, &CancelToken::new(), on_event)
    }

    /// [`export_to_writer`](Self::export_to_writer), ended early by cancelling `cancel`.
    pub fn export_to_writer_with_cancel<W: Write>(
        &self,
        job: &Job,
        writer: W,
        cancel: &CancelToken,
        mut on_event: impl FnMut(&Event),
    ) -> Result<ExportOutcome, Error> {
        let export = self.config.export(job)?;
        let mut sink = Sink::stream(writer);
        let outcome = self.run(export, &mut sink, cancel, &mut on_event)?;
        let outcome = ExportOutcome::new(outcome, &sink.digest())?;
        sink.commit()?;
        Ok(outcome)
    }

    /// Exports `job` into a [`Feed`] (a compressing or uploading
    /// destination, see the `d1-export-sinks` crate) and commits it once the core verified the
    /// dump whole; a download the core restarts from byte 0 restarts the feed. The outcome's
    /// `written` describes the file as the destination wrote it.
    pub fn export_to_feed(
        &self,
        job: &Job,
        feed: Feed,
        cancel: &CancelToken,
        mut on_event: impl FnMut(&Event),
    ) -> Result<ExportOutcome, Error> {
        let export = self.config.export(job)?;
        let mut sink = Sink::feed(feed);
        let outcome = self.run(export, &mut sink, cancel, &mut on_event)?;
        sink.finish(outcome)
    }

    /// Finds a database by name, or checks an id (`GET …/d1/database/{name}`), with the
    /// core's retries.
    pub fn find_database(
        &self,
        account: &AccountId,
        name_or_id: &str,
    ) -> Result<DatabaseInfo, Error> {
        self.find_database_with_cancel(account, name_or_id, &CancelToken::new())
    }

    /// [`find_database`](Self::find_database), ended early (with [`Error::Cancelled`]) by
    /// cancelling `cancel`, mid-request or mid-back-off.
    pub fn find_database_with_cancel(
        &self,
        account: &AccountId,
        name_or_id: &str,
        cancel: &CancelToken,
    ) -> Result<DatabaseInfo, Error> {
        let call = self.config.find_database(account, name_or_id)?;
        self.lookup(call, cancel, &mut self.io())
    }

    /// One page of the account's databases (`page` from 1), with the core's retries.
    pub fn list_databases(
        &self,
        account: &AccountId,
        page: u32,
        per_page: u32,
    ) -> Result<Page, Error> {
        self.list_databases_with_cancel(account, page, per_page, &CancelToken::new())
    }

    /// [`list_databases`](Self::list_databases), ended early by cancelling `cancel`.
    pub fn list_databases_with_cancel(
        &self,
        account: &AccountId,
        page: u32,
        per_page: u32,
        cancel: &CancelToken,
    ) -> Result<Page, Error> {
        let call = self.config.list_databases(account, page, per_page)?;
        self.lookup(call, cancel, &mut self.io())
    }

    /// The database's current time-travel bookmark (`GET …/time_travel/bookmark`), with the
    /// core's retries; no export is started.
    pub fn current_bookmark(
        &self,
        account: &AccountId,
        database: &DatabaseId,
    ) -> Result<String, Error> {
        self.current_bookmark_with_cancel(account, database, &CancelToken::new())
    }

    /// [`current_bookmark`](Self::current_bookmark), ended early by cancelling `cancel`.
    pub fn current_bookmark_with_cancel(
        &self,
        account: &AccountId,
        database: &DatabaseId,
        cancel: &CancelToken,
    ) -> Result<String, Error> {
        let call = self.config.current_bookmark(account, database)?;
        self.lookup(call, cancel, &mut self.io())
    }

    /// A call's I/O thread (started at its first request).
    fn io(&self) -> Io {
        Io::new(self.agent.clone(), self.config.buffer_size)
    }

    /// Runs a lookup on `io`'s thread (several lookups of one call share it).
    fn lookup<M: Machine>(
        &self,
        call: M,
        cancel: &CancelToken,
        io: &mut Io,
    ) -> Result<M::Outcome, Error> {
        let mut none = Sink::<io::Sink>::None;
        self.run_on(io, Runner::new(call), &mut none, cancel, &mut |_| {})
    }

    /// The one driving loop, for every machine: the [`Runner`] decides, this does the I/O.
    fn run<M: Machine, W: Write>(
        &self,
        machine: M,
        sink: &mut Sink<W>,
        cancel: &CancelToken,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<M::Outcome, Error> {
        self.run_with(Runner::new(machine), sink, cancel, on_event)
    }

    /// [`run`](Self::run) with a runner set up (an import's file to upload).
    fn run_with<M: Machine, W: Write>(
        &self,
        runner: Runner<M>,
        sink: &mut Sink<W>,
        cancel: &CancelToken,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<M::Outcome, Error> {
        self.run_on(&mut self.io(), runner, sink, cancel, on_event)
    }

    /// [`run_with`](Self::run_with) on a given I/O thread.
    fn run_on<M: Machine, W: Write>(
        &self,
        io: &mut Io,
        mut runner: Runner<M>,
        sink: &mut Sink<W>,
        cancel: &CancelToken,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<M::Outcome, Error> {
        let call = self.shutdown.joined(cancel);
        loop {
            match runner.next(call.is_cancelled())? {
                Step::Event(event) => on_event(&event),
                Step::Done(result) => return result,
                Step::Send { id, request, limit } => {
                    let input = io.call(Task::Send { id, request, limit }, &call);
                    runner.feed(input)?;
                }
                Step::Download { id, request } => {
                    let input = io.call(Task::Download { id, request }, &call);
                    runner.feed(input)?;
                }
                Step::WriteBody { id, start_at } => {
                    sink.place(start_at)?;
                    if let Some(input) = io.stream(id, sink, &mut runner, &call, on_event)? {
                        runner.feed(input)?;
                    }
                }
                Step::Upload {
                    id,
                    request,
                    source,
                    length,
                    limit,
                } => {
                    let input = upload::upload(
                        &self.agent,
                        id,
                        request,
                        &source,
                        length,
                        limit,
                        self.config.buffer_size,
                        &mut runner,
                        &call,
                        on_event,
                    )?;
                    runner.feed(input.unwrap_or(Input::Cancel))?;
                }
                Step::Wait(at) => {
                    let input = if call.wait_until(at) {
                        Input::Cancel
                    } else {
                        Input::Tick
                    };
                    runner.feed(input)?;
                }
            }
        }
    }
}

/// How often a wait for the I/O thread looks at the cancel token.
const CANCEL_POLL: Duration = Duration::from_millis(20);
/// Body buffers in flight between the I/O thread and the sink.
const BODY_DEPTH: usize = 4;

/// What the I/O thread is asked to do.
enum Task {
    Send {
        id: RequestId,
        request: http::Request<Vec<u8>>,
        limit: usize,
    },
    Download {
        id: RequestId,
        request: http::Request<()>,
    },
    /// Stream the held body into `to`, in buffers from `spare` (or new ones).
    Stream { to: mpsc::SyncSender<Piece> },
}

/// A piece of a body.
enum Piece {
    Data(Vec<u8>, usize),
    End,
    Failed(TransportFailure),
}

/// A call's HTTP I/O on one helper thread (started at the first request), so the caller's
/// thread only ever waits on channels and the cancel token: a cancel ends the call at once
/// whatever the network does. Dropping it ends the thread once its current request is over.
struct Io {
    agent: ureq::Agent,
    buffer_size: usize,
    thread: Option<Channels>,
}

/// The caller's ends of the I/O thread's channels.
struct Channels {
    tasks: mpsc::Sender<Task>,
    done: mpsc::Receiver<Input>,
    spare: mpsc::Sender<Vec<u8>>,
}

impl Io {
    fn new(agent: ureq::Agent, buffer_size: usize) -> Self {
        Self {
            agent,
            buffer_size,
            thread: None,
        }
    }

    fn start(&mut self) -> io::Result<&Channels> {
        if self.thread.is_none() {
            let (jobs, job_rx) = mpsc::channel();
            let (done_tx, done) = mpsc::channel();
            let (spare, spare_rx) = mpsc::channel();
            let worker = Worker {
                agent: self.agent.clone(),
                buffer_size: self.buffer_size,
                held: None,
                spare: spare_rx,
            };
            std::thread::Builder::new()
                .name("d1-export-io".into())
                .spawn(move || worker.serve(&job_rx, &done_tx))?;
            self.thread = Some(Channels {
                tasks: jobs,
                done,
                spare,
            });
        }
        self.thread
            .as_ref()
            .ok_or_else(|| io::Error::other("no I/O thread"))
    }

    /// Runs a request on the I/O thread; `Input::Cancel` if the token is cancelled first.
    fn call(&mut self, job: Task, cancel: &CancelToken) -> Input {
        let id = match &job {
            Task::Send { id, .. } | Task::Download { id, .. } => *id,
            Task::Stream { .. } => unreachable!("streams go through Io::stream"),
        };
        let failed = Input::Failed {
            id,
            failure: TransportFailure::Other,
        };
        let Ok(channels) = self.start() else {
            return failed;
        };
        if channels.tasks.send(job).is_err() {
            return failed;
        }
        match wait(&channels.done, cancel) {
            Waited::Got(input) => input,
            Waited::Cancelled => {
                // The thread is busy with the abandoned request: the next call gets a new one.
                self.thread = None;
                Input::Cancel
            }
            Waited::Gone => failed,
        }
    }

    /// Streams the held body of `id` into the sink, reporting progress; the final input
    /// (`None` when the run ended meanwhile: the loop feeds the cancel or sees the end).
    fn stream<M: Machine, W: Write>(
        &mut self,
        id: RequestId,
        sink: &mut Sink<W>,
        runner: &mut Runner<M>,
        cancel: &CancelToken,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<Option<Input>, Error> {
        let (to, pieces) = mpsc::sync_channel(BODY_DEPTH);
        let started = self.start().ok().and_then(|c| {
            c.tasks
                .send(Task::Stream { to })
                .ok()
                .map(|()| c.spare.clone())
        });
        let Some(spare) = started else {
            return Ok(Some(Input::DownloadFailed {
                id,
                written: 0,
                failure: TransportFailure::Other,
            }));
        };
        let mut written = 0u64;
        loop {
            let piece = match wait(&pieces, cancel) {
                Waited::Got(piece) => piece,
                Waited::Cancelled => {
                    self.thread = None;
                    return Ok(None);
                }
                Waited::Gone => Piece::Failed(TransportFailure::Other),
            };
            return Ok(Some(match piece {
                Piece::Data(buf, n) => {
                    sink.write(&buf[..n])?;
                    written += n as u64;
                    let _ = spare.send(buf);
                    match runner.progress(id, written, on_event)? {
                        Flow::Continue => continue,
                        // Dropping `pieces` tells the thread to drop the body.
                        Flow::Stop => return Ok(None),
                    }
                }
                Piece::End => Input::DownloadEnded { id, written },
                Piece::Failed(failure) => Input::DownloadFailed {
                    id,
                    written,
                    failure,
                },
            }));
        }
    }
}

enum Waited<T> {
    Got(T),
    Cancelled,
    Gone,
}

/// Waits for the I/O thread, looking at the cancel token every [`CANCEL_POLL`].
fn wait<T>(from: &mpsc::Receiver<T>, cancel: &CancelToken) -> Waited<T> {
    loop {
        if cancel.is_cancelled() {
            return Waited::Cancelled;
        }
        match from.recv_timeout(CANCEL_POLL) {
            Ok(v) => return Waited::Got(v),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return Waited::Gone,
        }
    }
}

/// The I/O thread's side.
struct Worker {
    agent: ureq::Agent,
    buffer_size: usize,
    /// The body of the last download head, until streamed or replaced.
    held: Option<ureq::Body>,
    spare: mpsc::Receiver<Vec<u8>>,
}

impl Worker {
    fn serve(mut self, jobs: &mpsc::Receiver<Task>, done: &mpsc::Sender<Input>) {
        for job in jobs {
            let body = self.held.take();
            let input = match job {
                Task::Send { id, request, limit } => self.send(id, request, limit),
                Task::Download { id, request } => self.download(id, request),
                Task::Stream { to } => {
                    match body {
                        Some(body) => self.stream(body, &to),
                        None => drop(to.send(Piece::Failed(TransportFailure::Other))),
                    }
                    continue;
                }
            };
            if done.send(input).is_err() {
                return;
            }
        }
    }

    /// What the protocol needs of every request, whoever configured the agent.
    fn configure<B: ureq::AsSendBody>(&self, request: http::Request<B>) -> http::Request<B> {
        self.agent
            .configure_request(request)
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .accept_encoding("")
            .build()
    }

    /// Sends an API request and reads its reply up to the cap (plus one byte, so the core
    /// sees an over-long reply as such).
    fn send(&self, id: RequestId, request: http::Request<Vec<u8>>, limit: usize) -> Input {
        let result = if request.body().is_empty() {
            self.agent.run(self.configure(request.map(|_| ())))
        } else {
            self.agent.run(self.configure(request))
        };
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                return Input::Failed {
                    id,
                    failure: classify(e),
                }
            }
        };
        let (parts, body) = response.into_parts();
        let mut buf = Vec::new();
        // The status first: a 429 or 5xx body is not read at all.
        let cap = u64::try_from(d1_export_core::reply_read_limit(parts.status, limit))
            .unwrap_or(u64::MAX);
        let read = body
            .into_with_config()
            .limit(u64::MAX)
            .reader()
            .take(cap)
            .read_to_end(&mut buf);
        match read {
            Ok(_) => Input::Reply {
                id,
                response: http::Response::from_parts(parts, buf),
            },
            Err(e) => Input::Failed {
                id,
                failure: classify(ureq::Error::from(e)),
            },
        }
    }

    fn download(&mut self, id: RequestId, request: http::Request<()>) -> Input {
        match self.agent.run(self.configure(request)) {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                self.held = Some(body);
                Input::DownloadHead {
                    id,
                    head: http::Response::from_parts(parts, ()),
                }
            }
            Err(e) => Input::Failed {
                id,
                failure: classify(e),
            },
        }
    }

    /// Reads the body into buffers and hands them over until it ends, breaks, or the other
    /// side stops listening.
    fn stream(&self, body: ureq::Body, to: &mpsc::SyncSender<Piece>) {
        let mut reader = body.into_with_config().limit(u64::MAX).reader();
        loop {
            let mut buf = self.spare.try_recv().unwrap_or_default();
            buf.resize(self.buffer_size, 0);
            let piece = match reader.read(&mut buf) {
                Ok(0) => Piece::End,
                Ok(n) => Piece::Data(buf, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Piece::Failed(classify(ureq::Error::from(e))),
            };
            let last = !matches!(piece, Piece::Data(..));
            if to.send(piece).is_err() || last {
                return;
            }
        }
    }
}

/// The class of a ureq error.
fn classify(error: ureq::Error) -> TransportFailure {
    match error {
        ureq::Error::Timeout(_) => TransportFailure::Timeout,
        ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::Tls(_)
        | ureq::Error::Rustls(_) => TransportFailure::Connect,
        ureq::Error::Io(e) => classify_io(e.kind()),
        ureq::Error::BodyExceedsLimit(_) => TransportFailure::BodyTooLarge,
        _ => TransportFailure::Other,
    }
}
