//! # d1-export-reqwest
//!
//! An async driver for [`d1_export_core`] on [`reqwest`] and [`tokio`]: the same thin loop as
//! the blocking `d1-export-ureq` driver — execute the core's outputs, feed back what happened —
//! with every protocol decision (pacing, retries, resume, validation) left to the core.
//!
//! - Sinks: a file path, written atomically ([`Client::export_to_path`]), or any
//!   [`AsyncWrite`] ([`Client::export_to_writer`]). File I/O goes through `tokio::fs`, never
//!   blocking the runtime; the file is flushed and `sync_all`ed before the rename.
//! - Events (log lines, parts, retries, download progress) go to a callback as they happen.
//! - Spawnable: every method returns a `Send` future that owns what it needs (the client,
//!   the job, the ids, the path, the options and the cancel token are cloned before it
//!   starts), so `tokio::spawn(client.export_to_path(&job, &dest, |e| …))` compiles as
//!   written, with a `&str`, `&Path` or `&PathBuf` path alike. The lookups' futures are
//!   always `'static`; the others are `'static` whenever the callback, the writer or the
//!   fleet hooks they take are (those taking a path are [`CallFuture`]s, boxed so the path's
//!   type is not part of them) (pass hooks by value or in an `Arc` to spawn a
//!   fleet run). `tests/spawnable.rs` asserts this for every method at compile time.
//! - Cancellation, per call: dropping the future is safe (the temporary file is removed), and
//!   the `*_with_cancel` methods (exports, imports, lookups, listings, fleet runs) take a
//!   [`CancelToken`] that ends that call alone, at once, in any state. [`Client::shutdown_token`] ends every call of the client and its clones.
//! - HTTP/1.1 only over rustls, no redirects, no gzip, no retries of reqwest's own, no proxy
//!   unless asked, a connect and a per-read timeout and no total timeout. The download never
//!   carries `Authorization`.
//! - One dependency is enough: every type the API takes or returns is re-exported here, and
//!   so is [`reqwest`] itself (`d1_export_reqwest::reqwest::Client::builder()`), so a
//!   client brought to [`ClientBuilder::http_client`] is always of the matching version.
//!
//! ```no_run
//! use d1_export_reqwest::{AccountId, CancelToken, Client, DatabaseId, DumpOptions, ErrorKind, Job};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder()
//!     .api_base("https://api.cloudflare.com/client/v4")
//!     .token(std::env::var("CLOUDFLARE_API_TOKEN")?)
//!     .build()?;
//! let job = Job {
//!     account: AccountId::new("0123456789abcdef0123456789abcdef")?,
//!     database: DatabaseId::new("0a1b2c3d-0000-4000-8000-00000000abcd")?,
//!     options: DumpOptions::default(),
//! };
//! let cancel = CancelToken::new();
//! let task = tokio::spawn(client.export_to_path_with_cancel(&job, "x.sql", &cancel, |e| {
//!     eprintln!("{e:?}")
//! }));
//! // cancel.cancel() ends this export alone; the client's other exports go on.
//! match task.await? {
//!     Ok(outcome) => println!("{} bytes, sha256 {}", outcome.bytes, outcome.sha256),
//!     Err(e) if e.kind() == ErrorKind::Cancelled => eprintln!("cancelled"),
//!     Err(e) => return Err(e.into()),
//! }
//! # Ok(()) }
//! ```
//!
//! ## Bringing your own `reqwest::Client`
//!
//! [`ClientBuilder::http_client`] takes a `reqwest::Client` (shared pool, custom roots,
//! proxies), used as it is. It must be built with `redirect(Policy::none())` (a redirect
//! must not carry the token elsewhere), without automatic decompression (no `gzip`/`brotli`/
//! `deflate`/`zstd` features or with them disabled: the dump's bytes are verified as sent),
//! with a connect timeout and a `read_timeout` of at least 60 s (the API holds a long-poll up
//! to ~30 s), and **without** a total `timeout` (it would kill long downloads; the core's
//! deadline bounds a run). reqwest's own retries should be off (`retry::never()`): the core
//! retries.

pub use d1_export_core::lookup::Page;
pub use d1_export_core::wire::DatabaseInfo;
pub use d1_export_core::{
    AccountId, Compatibility, Contents, DatabaseId, DownloadPolicy, DumpOptions, Event, Hint,
    ImportOutcome, Job, JobGonePolicy, Pacing, RateBudget, RetryPolicy, SetupError,
};
use d1_export_core::{Input, Machine, RequestId, TransportFailure};
use d1_export_transport::{classify_chain, place, BuildClient, Digest, Flow, Runner, Sink, Step};
pub use d1_export_transport::{
    CancelToken, ClientBuilder, ClientConfig, DatabaseReport, DatabaseStatus, Error, ErrorKind,
    ExportOutcome, Feed, FleetHooks, FleetOptions, JitterSeed, NoHooks, Written,
};
/// The HTTP client crate this driver is built on, for [`ClientBuilder::http_client`].
pub use reqwest;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use tokio::io::{AsyncWrite, AsyncWriteExt};

mod fleet;
mod upload;

/// The future of a call that takes a path (and a callback or hooks): `Send`, owning
/// everything else it needs, and `'static` (spawnable) whenever the callback or hooks are.
/// Boxed so the path argument's type is not part of it: an `impl Future` would capture it,
/// and `export_to_path(&job, &dest, …)` with a borrowed `dest` would not spawn.
pub type CallFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// An async client: HTTP settings, the core's policies, a `reqwest::Client` and a shutdown
/// token.
///
/// Cheap to clone (the connection pool and the shutdown token are shared); each call runs
/// one machine to its end.
#[derive(Debug, Clone)]
pub struct Client {
    config: ClientConfig,
    http: reqwest::Client,
    shutdown: CancelToken,
}

impl BuildClient for Client {
    type Http = reqwest::Client;

    fn from_parts(config: ClientConfig, http: Option<reqwest::Client>) -> Result<Self, Error> {
        let http = match http {
            Some(http) => http,
            None => http_for(&config)?,
        };
        Ok(Self {
            config,
            http,
            shutdown: CancelToken::new(),
        })
    }
}

/// Our `reqwest::Client`: the settings of `config`.
fn http_for(config: &ClientConfig) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder()
        .http1_only()
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never())
        .user_agent(config.user_agent.as_str())
        .connect_timeout(config.connect_timeout)
        .read_timeout(config.read_timeout)
        .referer(false);
    if !config.proxy_from_env {
        builder = builder.no_proxy();
    }
    builder.build().map_err(|e| Error::Client(e.to_string()))
}

impl Client {
    /// Builds a client with its own `reqwest::Client`. Fails if the TLS stack cannot be set up.
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
    /// this client and its clones with [`Error::Cancelled`]. To cancel one call, drop its
    /// future or give it its own token (the `*_with_cancel` methods).
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
    /// the core has verified it whole. On any failure, cancellation, or if the future is
    /// dropped, the temporary file is removed and an existing `path` is left untouched.
    ///
    /// The future is `Send`, owns clones of `self`, `job` and `path`, and is `'static` when
    /// `on_event` is: `tokio::spawn(client.export_to_path(&job, &dest, |e| …))` works.
    pub fn export_to_path<'a, F>(
        &self,
        job: &Job,
        path: impl AsRef<Path>,
        on_event: F,
    ) -> CallFuture<'a, ExportOutcome>
    where
        F: FnMut(&Event) + Send + 'a,
    {
        self.export_to_path_with_cancel(job, path, &CancelToken::new(), on_event)
    }

    /// [`export_to_path`](Self::export_to_path), ended early (with [`Error::Cancelled`], the
    /// temporary file removed) by cancelling `cancel`.
    pub fn export_to_path_with_cancel<'a, F>(
        &self,
        job: &Job,
        path: impl AsRef<Path>,
        cancel: &CancelToken,
        mut on_event: F,
    ) -> CallFuture<'a, ExportOutcome>
    where
        F: FnMut(&Event) + Send + 'a,
    {
        let (this, job, cancel) = (self.clone(), job.clone(), cancel.clone());
        let dest: PathBuf = path.as_ref().to_owned();
        Box::pin(async move {
            let export = this.config.export(&job)?;
            let sink = tokio::task::spawn_blocking(move || Sink::file(&dest))
                .await
                .map_err(|e| Error::Internal(e.to_string()))??;
            let mut sink = AsyncSink::<tokio::io::Sink>::file(sink);
            let outcome = this.run(export, &mut sink, &cancel, &mut on_event).await?;
            sink.commit(outcome).await
        })
    }

    /// Exports `job` into `writer` (stdout, a pipe, a compressor; `&mut w` works too). The
    /// writer is flushed at the end. A resumed download appends; a download the server
    /// restarts from the beginning after bytes were written cannot be rewound and ends the run
    /// with an error. Bytes are hashed as they pass (on the runtime, a few hundred µs per MiB).
    pub fn export_to_writer<W, F>(
        &self,
        job: &Job,
        writer: W,
        on_event: F,
    ) -> impl Future<Output = Result<ExportOutcome, Error>> + Send
    where
        W: AsyncWrite + Unpin + Send,
        F: FnMut(&Event) + Send,
    {
        self.export_to_writer_with_cancel(job, writer, &CancelToken::new(), on_event)
    }

    /// [`export_to_writer`](Self::export_to_writer), ended early by cancelling `cancel`.
    pub fn export_to_writer_with_cancel<W, F>(
        &self,
        job: &Job,
        writer: W,
        cancel: &CancelToken,
        mut on_event: F,
    ) -> impl Future<Output = Result<ExportOutcome, Error>> + Send
    where
        W: AsyncWrite + Unpin + Send,
        F: FnMut(&Event) + Send,
    {
        let (this, job, cancel) = (self.clone(), job.clone(), cancel.clone());
        async move {
            let export = this.config.export(&job)?;
            let mut sink = AsyncSink::Stream {
                writer,
                digest: Digest::new(),
            };
            let outcome = this.run(export, &mut sink, &cancel, &mut on_event).await?;
            sink.commit(outcome).await
        }
    }

    /// Exports `job` into a [`Feed`] (a compressing or uploading
    /// destination, see the `d1-export-sinks` crate) and commits it once the core verified the
    /// dump whole; a download the core restarts from byte 0 restarts the feed. The feed is fed
    /// from the blocking pool, never the runtime. The outcome's `written` describes the file as
    /// the destination wrote it.
    pub fn export_to_feed<F>(
        &self,
        job: &Job,
        feed: Feed,
        cancel: &CancelToken,
        mut on_event: F,
    ) -> impl Future<Output = Result<ExportOutcome, Error>> + Send
    where
        F: FnMut(&Event) + Send,
    {
        let (this, job, cancel) = (self.clone(), job.clone(), cancel.clone());
        async move {
            let export = this.config.export(&job)?;
            let mut sink = AsyncSink::<tokio::io::Sink>::file(Sink::feed(feed));
            let outcome = this.run(export, &mut sink, &cancel, &mut on_event).await?;
            sink.commit(outcome).await
        }
    }

    /// Finds a database by name, or checks an id (`GET …/d1/database/{name}`), with the
    /// core's retries.
    pub fn find_database(
        &self,
        account: &AccountId,
        name_or_id: &str,
    ) -> impl Future<Output = Result<DatabaseInfo, Error>> + Send + 'static {
        self.find_database_with_cancel(account, name_or_id, &CancelToken::new())
    }

    /// [`find_database`](Self::find_database), ended early (with [`Error::Cancelled`]) by
    /// cancelling `cancel`, mid-request or mid-back-off.
    pub fn find_database_with_cancel(
        &self,
        account: &AccountId,
        name_or_id: &str,
        cancel: &CancelToken,
    ) -> impl Future<Output = Result<DatabaseInfo, Error>> + Send + 'static {
        let call = self.config.find_database(account, name_or_id);
        self.lookup(call, cancel)
    }

    /// One page of the account's databases (`page` from 1), with the core's retries.
    pub fn list_databases(
        &self,
        account: &AccountId,
        page: u32,
        per_page: u32,
    ) -> impl Future<Output = Result<Page, Error>> + Send + 'static {
        self.list_databases_with_cancel(account, page, per_page, &CancelToken::new())
    }

    /// [`list_databases`](Self::list_databases), ended early by cancelling `cancel`.
    pub fn list_databases_with_cancel(
        &self,
        account: &AccountId,
        page: u32,
        per_page: u32,
        cancel: &CancelToken,
    ) -> impl Future<Output = Result<Page, Error>> + Send + 'static {
        let call = self.config.list_databases(account, page, per_page);
        self.lookup(call, cancel)
    }

    /// The database's current time-travel bookmark (`GET …/time_travel/bookmark`), with the
    /// core's retries; no export is started.
    pub fn current_bookmark(
        &self,
        account: &AccountId,
        database: &DatabaseId,
    ) -> impl Future<Output = Result<String, Error>> + Send + 'static {
        self.current_bookmark_with_cancel(account, database, &CancelToken::new())
    }

    /// [`current_bookmark`](Self::current_bookmark), ended early by cancelling `cancel`.
    pub fn current_bookmark_with_cancel(
        &self,
        account: &AccountId,
        database: &DatabaseId,
        cancel: &CancelToken,
    ) -> impl Future<Output = Result<String, Error>> + Send + 'static {
        let call = self.config.current_bookmark(account, database);
        self.lookup(call, cancel)
    }

    fn lookup<M>(
        &self,
        call: Result<M, Error>,
        cancel: &CancelToken,
    ) -> impl Future<Output = Result<M::Outcome, Error>> + Send + 'static
    where
        M: Machine + Send + 'static,
        M::Outcome: Send,
    {
        let (this, cancel) = (self.clone(), cancel.clone());
        async move {
            let mut none = AsyncSink::<tokio::io::Sink>::None;
            this.run(call?, &mut none, &cancel, &mut |_: &Event| {})
                .await
        }
    }

    /// The one driving loop, for every machine: the [`Runner`] decides, this does the I/O.
    async fn run<M, W, F>(
        &self,
        machine: M,
        sink: &mut AsyncSink<W>,
        cancel: &CancelToken,
        on_event: &mut F,
    ) -> Result<M::Outcome, Error>
    where
        M: Machine,
        W: AsyncWrite + Unpin,
        F: FnMut(&Event),
    {
        self.run_with(Runner::new(machine), sink, cancel, on_event)
            .await
    }

    /// [`run`](Self::run) with a runner set up (an import's file to upload).
    async fn run_with<M, W, F>(
        &self,
        mut runner: Runner<M>,
        sink: &mut AsyncSink<W>,
        cancel: &CancelToken,
        on_event: &mut F,
    ) -> Result<M::Outcome, Error>
    where
        M: Machine,
        W: AsyncWrite + Unpin,
        F: FnMut(&Event),
    {
        let call = self.shutdown.joined(cancel);
        // The response whose head was fed, until `WriteBody` or any other step.
        let mut held: Option<reqwest::Response> = None;
        loop {
            let step = runner.next(call.is_cancelled())?;
            // An event (say, "the download restarts") may come between a head and its body.
            if !matches!(step, Step::WriteBody { .. } | Step::Event(_)) {
                held = None;
            }
            let input = match step {
                Step::Event(event) => {
                    on_event(&event);
                    continue;
                }
                Step::Done(result) => return result,
                Step::Send { id, request, limit } => {
                    or_cancel(&call, self.send(id, request, limit)).await
                }
                Step::Download { id, request } => {
                    match or_cancel(&call, self.download(request)).await {
                        Some(Ok(response)) => {
                            let head = head_of(&response);
                            held = Some(response);
                            Some(Input::DownloadHead { id, head })
                        }
                        Some(Err(failure)) => Some(Input::Failed { id, failure }),
                        None => None,
                    }
                }
                Step::WriteBody { id, start_at } => {
                    let response = held
                        .take()
                        .ok_or_else(|| Error::Internal(format!("no held body for {id}")))?;
                    sink.place(start_at).await?;
                    self.stream(&mut runner, id, response, sink, &call, on_event)
                        .await?
                }
                Step::Upload {
                    id,
                    request,
                    source,
                    length,
                    limit,
                } => {
                    self.upload(
                        id,
                        request,
                        &source,
                        length,
                        limit,
                        &mut runner,
                        &call,
                        on_event,
                    )
                    .await?
                }
                Step::Wait(at) => {
                    let at = tokio::time::Instant::from_std(at);
                    or_cancel(&call, tokio::time::sleep_until(at))
                        .await
                        .map(|()| Input::Tick)
                }
            };
            runner.feed(input.unwrap_or(Input::Cancel))?;
        }
    }

    /// Sends an API request and reads its reply up to the cap (plus one byte, so the core
    /// sees an over-long reply as such).
    async fn send(&self, id: RequestId, request: http::Request<Vec<u8>>, limit: usize) -> Input {
        let (parts, body) = request.into_parts();
        let request = match to_reqwest(parts, Some(body)) {
            Ok(r) => r,
            Err(failure) => return Input::Failed { id, failure },
        };
        let response = match self.http.execute(request).await {
            Ok(r) => r,
            Err(e) => {
                return Input::Failed {
                    id,
                    failure: classify(&e),
                }
            }
        };
        reply_input(id, response, limit).await
    }

    async fn download(
        &self,
        request: http::Request<()>,
    ) -> Result<reqwest::Response, TransportFailure> {
        let (parts, ()) = request.into_parts();
        let request = to_reqwest(parts, None)?;
        self.http.execute(request).await.map_err(|e| classify(&e))
    }

    /// Streams a download body into the sink, reporting progress after each chunk; the final
    /// input (`None` on cancel, `Some(Cancel)`-free: the loop feeds the cancel).
    async fn stream<M: Machine, W: AsyncWrite + Unpin, F: FnMut(&Event)>(
        &self,
        runner: &mut Runner<M>,
        id: RequestId,
        mut response: reqwest::Response,
        sink: &mut AsyncSink<W>,
        cancel: &CancelToken,
        on_event: &mut F,
    ) -> Result<Option<Input>, Error> {
        let mut written = 0u64;
        loop {
            // On cancel the body is dropped unread.
            let Some(next) = or_cancel(cancel, response.chunk()).await else {
                return Ok(None);
            };
            return Ok(Some(match next {
                Ok(Some(chunk)) => {
                    written += chunk.len() as u64;
                    sink.write(chunk).await?;
                    match runner.progress(id, written, on_event)? {
                        Flow::Continue => continue,
                        Flow::Stop => return Ok(None),
                    }
                }
                Ok(None) => Input::DownloadEnded { id, written },
                Err(e) => Input::DownloadFailed {
                    id,
                    written,
                    failure: classify(&e),
                },
            }));
        }
    }
}

/// Runs `fut` unless `cancel` is cancelled first (`None` then).
async fn or_cancel<T>(cancel: &CancelToken, fut: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        biased;
        () = cancel.cancelled() => None,
        out = fut => Some(out),
    }
}

/// Builds a reqwest request from the core's request parts (a body only when non-empty).
fn to_reqwest(
    parts: http::request::Parts,
    body: Option<Vec<u8>>,
) -> Result<reqwest::Request, TransportFailure> {
    let url = reqwest::Url::parse(&parts.uri.to_string()).map_err(|_| TransportFailure::Other)?;
    let mut request = reqwest::Request::new(parts.method, url);
    *request.headers_mut() = parts.headers;
    if let Some(body) = body.filter(|b| !b.is_empty()) {
        *request.body_mut() = Some(body.into());
    }
    Ok(request)
}

/// The status and headers of a response, for the core.
fn head_of(response: &reqwest::Response) -> http::Response<()> {
    let mut head = http::Response::new(());
    *head.status_mut() = response.status();
    *head.version_mut() = response.version();
    *head.headers_mut() = response.headers().clone();
    head
}

/// The class of a reqwest error.
fn classify(error: &reqwest::Error) -> TransportFailure {
    if error.is_timeout() {
        TransportFailure::Timeout
    } else if error.is_connect() {
        TransportFailure::Connect
    } else if let Some(class) = classify_chain(error) {
        class
    } else if error.is_body() || error.is_request() || error.is_decode() {
        // hyper's "connection closed before message completed" and cut-short bodies.
        TransportFailure::Reset
    } else {
        TransportFailure::Other
    }
}

/// Bytes handed to the blocking pool at once.
const BATCH: usize = 256 * 1024;

/// Where a download goes, for the async driver: the shared [`Sink`] (written, hashed,
/// truncated and committed on the blocking pool, one batch behind the network) or an async
/// stream.
enum AsyncSink<W> {
    /// Lookups: no body is ever written.
    None,
    /// A file sink, run on the blocking pool.
    File(Blocking),
    /// A stream (append only), hashed as written.
    Stream { writer: W, digest: Digest },
}

/// The file [`Sink`], away from the runtime: at most one batch being written while the next
/// fills. Dropped mid-write (the future dropped), the task still ends and drops the sink,
/// which removes the temporary file.
struct Blocking {
    /// Removed when this is dropped before the commit (the sink may be on the pool then).
    guard: Option<PathBuf>,
    sink: Option<Sink<io::Sink>>,
    running: Option<tokio::task::JoinHandle<Returned>>,
    batch: Vec<bytes::Bytes>,
    batched: usize,
}

impl<W: AsyncWrite + Unpin> AsyncSink<W> {
    fn file(sink: Sink<io::Sink>) -> Self {
        Self::File(Blocking {
            guard: sink.temp_path().map(Path::to_owned),
            sink: Some(sink),
            running: None,
            batch: Vec::new(),
            batched: 0,
        })
    }

    async fn place(&mut self, start_at: u64) -> Result<(), Error> {
        match self {
            Self::None => Err(Error::Internal("a lookup asked for a download".to_owned())),
            Self::File(b) => b.run(move |sink| sink.place(start_at)).await,
            Self::Stream { digest, .. } => place(digest.bytes(), start_at, false)
                .map(drop)
                .map_err(|e| Error::sink("resume", None, io::Error::other(e))),
        }
    }

    async fn write(&mut self, chunk: bytes::Bytes) -> Result<(), Error> {
        match self {
            Self::None => Err(Error::Internal("a lookup asked for a download".to_owned())),
            Self::File(b) => {
                b.batched += chunk.len();
                b.batch.push(chunk);
                if b.batched >= BATCH {
                    b.send_batch().await?;
                }
                Ok(())
            }
            Self::Stream { writer, digest } => {
                writer
                    .write_all(&chunk)
                    .await
                    .map_err(|e| Error::sink("write", None, e))?;
                digest.update(&chunk);
                Ok(())
            }
        }
    }

    /// Checks the sink against the core's outcome and commits it.
    async fn commit(self, outcome: d1_export_core::Outcome) -> Result<ExportOutcome, Error> {
        match self {
            Self::None => Err(Error::Internal("a lookup has no sink".to_owned())),
            Self::File(mut b) => {
                b.settle().await?;
                let sink = b
                    .sink
                    .take()
                    .ok_or_else(|| Error::Internal("the sink is gone".to_owned()))?;
                let checked = tokio::task::spawn_blocking(move || sink.finish(outcome))
                    .await
                    .map_err(|e| Error::Internal(e.to_string()))?;
                if checked.is_ok() {
                    b.guard = None;
                }
                checked
            }
            Self::Stream { mut writer, digest } => {
                let checked = ExportOutcome::new(outcome, &digest)?;
                writer
                    .flush()
                    .await
                    .map_err(|e| Error::sink("flush", None, e))?;
                Ok(checked)
            }
        }
    }
}

/// What a blocking write gives back: the sink, and how the write went.
type Returned = (Sink<io::Sink>, Result<(), Error>);

impl Drop for Blocking {
    fn drop(&mut self) {
        if let Some(path) = self.guard.take() {
            // The sink's own guard does the same, later, wherever the sink is.
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Blocking {
    /// Waits for the batch being written; the sink is back after this.
    async fn wait(&mut self) -> Result<(), Error> {
        if let Some(task) = self.running.take() {
            let (sink, result) = task.await.map_err(|e| Error::Internal(e.to_string()))?;
            self.sink = Some(sink);
            result?;
        }
        Ok(())
    }

    /// Hands the filled batch to the blocking pool (after the previous one is written).
    async fn send_batch(&mut self) -> Result<(), Error> {
        self.wait().await?;
        let batch = std::mem::take(&mut self.batch);
        self.batched = 0;
        let mut sink = self
            .sink
            .take()
            .ok_or_else(|| Error::Internal("the sink is gone".to_owned()))?;
        self.running = Some(tokio::task::spawn_blocking(move || {
            let result = batch.iter().try_for_each(|chunk| sink.write(chunk));
            (sink, result)
        }));
        Ok(())
    }

    /// Everything written.
    async fn settle(&mut self) -> Result<(), Error> {
        if !self.batch.is_empty() {
            self.send_batch().await?;
        }
        self.wait().await
    }

    /// Runs `f` on the sink on the blocking pool, once everything before is written.
    async fn run(
        &mut self,
        f: impl FnOnce(&mut Sink<io::Sink>) -> Result<(), Error> + Send + 'static,
    ) -> Result<(), Error> {
        self.settle().await?;
        let mut sink = self
            .sink
            .take()
            .ok_or_else(|| Error::Internal("the sink is gone".to_owned()))?;
        self.running = Some(tokio::task::spawn_blocking(move || {
            let result = f(&mut sink);
            (sink, result)
        }));
        self.wait().await
    }
}

/// A reply as the core's input: its body read up to the cap (plus one byte, so the core sees
/// an over-long reply as such), and not at all for a 429 or 5xx (the status decides first).
pub(crate) async fn reply_input(
    id: RequestId,
    mut response: reqwest::Response,
    limit: usize,
) -> Input {
    let head = head_of(&response);
    let mut buf = Vec::new();
    let cap = d1_export_core::reply_read_limit(head.status(), limit);
    while buf.len() < cap {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let take = chunk.len().min(cap - buf.len());
                buf.extend_from_slice(&chunk[..take]);
            }
            Ok(None) => break,
            Err(e) => {
                return Input::Failed {
                    id,
                    failure: classify(&e),
                }
            }
        }
    }
    let (parts, ()) = head.into_parts();
    Input::Reply {
        id,
        response: http::Response::from_parts(parts, buf),
    }
}
