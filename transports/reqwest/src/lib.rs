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
//! - Cancellation: dropping the future is safe (the temporary file is removed), and
//!   [`Client::cancel_token`] gives an explicit [`CancelToken`] that interrupts any wait,
//!   request or download at once.
//! - HTTP/1.1 only over rustls, no redirects, no gzip, no retries of reqwest's own, no proxy
//!   unless asked, a connect and a per-read timeout and no total timeout. The download never
//!   carries `Authorization`.
//!
//! ```no_run
//! use d1_export_core::{AccountId, DatabaseId, DumpOptions, Job};
//! use d1_export_reqwest::Client;
//! use d1_export_transport::ClientConfig;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new(ClientConfig::from_env()?)?;
//! let job = Job {
//!     account: AccountId::new("0123456789abcdef0123456789abcdef")?,
//!     database: DatabaseId::new("0a1b2c3d-0000-4000-8000-00000000abcd")?,
//!     options: DumpOptions::default(),
//! };
//! let outcome = client
//!     .export_to_path(&job, "backup.sql", |event| eprintln!("{event:?}"))
//!     .await?;
//! println!("{} bytes, sha256 {}", outcome.bytes, outcome.sha256);
//! # Ok(()) }
//! ```

use d1_export_core::lookup::{self, Page};
use d1_export_core::wire::DatabaseInfo;
use d1_export_core::{
    AccountId, DatabaseId, Event, Export, Gated, Input, Job, Output, Prioritized, RequestId,
    TransportFailure,
};
use d1_export_transport::{
    classify_chain, place, strip_authorization, Digest, Drive, PartFile, Placement,
};
pub use d1_export_transport::{CancelToken, ClientConfig, Error, ExportOutcome};
use std::future::Future;
use std::io::{self, SeekFrom};
use std::path::Path;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt};

mod fleet;
mod upload;

/// An async client: HTTP settings, the core's policies, and a cancel token.
///
/// Cheap to clone (the connection pool is shared); each call runs one machine to its end.
#[derive(Debug, Clone)]
pub struct Client {
    config: ClientConfig,
    http: reqwest::Client,
    cancel: CancelToken,
}

impl Client {
    /// Builds a client. Fails if the TLS stack cannot be set up.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
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
        let http = builder.build().map_err(|e| Error::Client(e.to_string()))?;
        Ok(Self {
            config,
            http,
            cancel: CancelToken::new(),
        })
    }

    /// Replaces the cancel token (to share one token among clients or runs).
    #[must_use]
    pub fn with_cancel_token(mut self, token: CancelToken) -> Self {
        self.cancel = token;
        self
    }

    /// The client's cancel token: cancelling it ends every running and later call of this
    /// client with [`Error::Cancelled`].
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Exports `job` to the file at `path`, atomically: the dump goes to a temporary file in
    /// the same directory, which is flushed, synced and renamed over `path` only once the core
    /// has verified it whole. On any failure, cancellation, or if the future is dropped, the
    /// temporary file is removed and an existing `path` is left untouched.
    pub async fn export_to_path<F: FnMut(&Event)>(
        &self,
        job: &Job,
        path: impl AsRef<Path>,
        mut on_event: F,
    ) -> Result<ExportOutcome, Error> {
        let dest = path.as_ref().to_owned();
        let export = Export::new(self.config.core.clone(), job.clone(), Instant::now())?;
        let for_create = dest.clone();
        let (part, file) =
            tokio::task::spawn_blocking(move || PartFile::create_beside(&for_create))
                .await
                .map_err(|e| Error::Internal(e.to_string()))?
                .map_err(|e| {
                    Error::sink("create a temporary file beside", Some(dest.clone()), e)
                })?;
        let temp = Some(part.path().to_owned());
        let mut file = tokio::fs::File::from_std(file);
        // tokio buffers each write (2 MiB by default); keep it to our buffer size.
        file.set_max_buf_size(self.config.buffer_size);
        let mut sink: Sink<'_, tokio::io::Sink> = Sink::File {
            file,
            digest: AsyncDigest::default(),
        };
        let outcome = self.run_gated(export, &mut sink, &mut on_event).await?;
        let Sink::File {
            mut file,
            mut digest,
        } = sink
        else {
            unreachable!("the sink stays a file")
        };
        let outcome = ExportOutcome::new(outcome, &digest.finish().await?)?;
        file.flush()
            .await
            .map_err(|e| Error::sink("flush", temp.clone(), e))?;
        file.sync_all()
            .await
            .map_err(|e| Error::sink("sync", temp.clone(), e))?;
        drop(file);
        let for_rename = dest.clone();
        tokio::task::spawn_blocking(move || part.persist(&for_rename))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
            .map_err(|e| Error::sink("rename the temporary file to", Some(dest), e))?;
        Ok(outcome)
    }

    /// Exports `job` into `writer` (stdout, a pipe, a compressor). The writer is flushed at
    /// the end. A resumed download appends; a download the server restarts from the
    /// beginning after bytes were written cannot be rewound and ends the run with an error.
    pub async fn export_to_writer<W: AsyncWrite + Unpin, F: FnMut(&Event)>(
        &self,
        job: &Job,
        writer: &mut W,
        mut on_event: F,
    ) -> Result<ExportOutcome, Error> {
        let export = Export::new(self.config.core.clone(), job.clone(), Instant::now())?;
        let mut sink = Sink::Writer {
            writer,
            digest: AsyncDigest::default(),
        };
        let outcome = self.run_gated(export, &mut sink, &mut on_event).await?;
        let Sink::Writer { writer, mut digest } = sink else {
            unreachable!("the sink stays a writer")
        };
        writer
            .flush()
            .await
            .map_err(|e| Error::sink("flush", None, e))?;
        ExportOutcome::new(outcome, &digest.finish().await?)
    }

    /// Finds a database by name, or checks an id (`GET …/d1/database/{name}`), with the
    /// core's retries.
    pub async fn find_database(
        &self,
        account: &AccountId,
        name_or_id: &str,
    ) -> Result<DatabaseInfo, Error> {
        let call = lookup::find_database(
            self.config.core.clone(),
            account,
            name_or_id,
            Instant::now(),
        )
        .map_err(|e| Error::Config(e.to_string()))?;
        self.run_gated(
            call,
            &mut Sink::<'_, tokio::io::Sink>::None,
            &mut |_: &Event| {},
        )
        .await
    }

    /// One page of the account's databases (`page` from 1), with the core's retries.
    pub async fn list_databases(
        &self,
        account: &AccountId,
        page: u32,
        per_page: u32,
    ) -> Result<Page, Error> {
        let call = lookup::list_databases(
            self.config.core.clone(),
            account,
            page,
            per_page,
            Instant::now(),
        )
        .ok_or_else(|| Error::Config("cannot form the list URL".to_owned()))?;
        self.run_gated(
            call,
            &mut Sink::<'_, tokio::io::Sink>::None,
            &mut |_: &Event| {},
        )
        .await
    }

    /// The database's current time-travel bookmark (`GET …/time_travel/bookmark`), with the
    /// core's retries; no export is started.
    pub async fn current_bookmark(
        &self,
        account: &AccountId,
        database: &DatabaseId,
    ) -> Result<String, Error> {
        let call =
            lookup::current_bookmark(self.config.core.clone(), account, database, Instant::now())
                .ok_or_else(|| Error::Config("cannot form the bookmark URL".to_owned()))?;
        self.run_gated(
            call,
            &mut Sink::<'_, tokio::io::Sink>::None,
            &mut |_: &Event| {},
        )
        .await
    }

    /// Runs a machine, through the shared request budget when the client has one.
    async fn run_gated<M: Drive + Prioritized, W: AsyncWrite + Unpin, F: FnMut(&Event)>(
        &self,
        machine: M,
        sink: &mut Sink<'_, W>,
        on_event: &mut F,
    ) -> Result<M::Outcome, Error> {
        match &self.config.budget {
            Some(budget) => {
                let mut gated = Gated::new(machine, budget.clone(), Instant::now());
                self.run(&mut gated, sink, on_event).await
            }
            None => {
                let mut machine = machine;
                self.run(&mut machine, sink, on_event).await
            }
        }
    }

    /// Runs `fut` unless the token is cancelled first (`None` then).
    async fn or_cancel<T>(&self, fut: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => None,
            out = fut => Some(out),
        }
    }

    /// The one driving loop, for every machine.
    async fn run<M: Drive, W: AsyncWrite + Unpin, F: FnMut(&Event)>(
        &self,
        machine: &mut M,
        sink: &mut Sink<'_, W>,
        on_event: &mut F,
    ) -> Result<M::Outcome, Error> {
        // The response whose head was fed, waiting for `WriteBody`.
        let mut held: Option<(RequestId, reqwest::Response)> = None;
        let mut cancel_fed = false;
        loop {
            if !cancel_fed && self.cancel.is_cancelled() {
                cancel_fed = true;
                machine.handle_input(Instant::now(), Input::Cancel)?;
            }
            match machine.poll_output() {
                Output::Event(event) => on_event(&event),
                Output::Done(result) => return Error::from_core_result(result),
                Output::Send { id, request } => {
                    held = None;
                    let limit = machine.reply_limit();
                    if let Some(input) = self.or_cancel(self.send(id, request, limit)).await {
                        machine.handle_input(Instant::now(), input)?;
                    }
                }
                Output::Download { id, mut request } => {
                    held = None;
                    strip_authorization(&mut request);
                    let Some(result) = self.or_cancel(self.download(request)).await else {
                        continue;
                    };
                    let input = match result {
                        Ok(response) => {
                            let head = head_of(&response);
                            held = Some((id, response));
                            Input::DownloadHead { id, head }
                        }
                        Err(failure) => Input::Failed { id, failure },
                    };
                    machine.handle_input(Instant::now(), input)?;
                }
                Output::WriteBody { id, start_at } => {
                    let response = match held.take() {
                        Some((held_id, response)) if held_id == id => response,
                        _ => return Err(Error::Internal(format!("no held body for {id}"))),
                    };
                    sink.place(start_at).await?;
                    self.stream(machine, id, response, sink, on_event).await?;
                }
                Output::Upload { id, request } => {
                    held = None;
                    let path = sink.upload_source()?.to_owned();
                    let input = self.upload(machine, id, request, &path, on_event).await?;
                    machine.handle_input(Instant::now(), input)?;
                }
                Output::WaitUntil(at) => {
                    held = None;
                    let at = tokio::time::Instant::from_std(at);
                    let input = match self.or_cancel(tokio::time::sleep_until(at)).await {
                        Some(()) => Input::Tick,
                        None => {
                            cancel_fed = true;
                            Input::Cancel
                        }
                    };
                    machine.handle_input(Instant::now(), input)?;
                }
            }
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
        let mut response = match self.http.execute(request).await {
            Ok(r) => r,
            Err(e) => {
                return Input::Failed {
                    id,
                    failure: classify(&e),
                }
            }
        };
        let head = head_of(&response);
        let mut buf = Vec::new();
        let cap = limit.saturating_add(1);
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

    async fn download(
        &self,
        request: http::Request<()>,
    ) -> Result<reqwest::Response, TransportFailure> {
        let (parts, ()) = request.into_parts();
        let request = to_reqwest(parts, None)?;
        self.http.execute(request).await.map_err(|e| classify(&e))
    }

    /// Streams a download body into the sink, feeding progress after each chunk.
    async fn stream<M: Drive, W: AsyncWrite + Unpin, F: FnMut(&Event)>(
        &self,
        machine: &mut M,
        id: RequestId,
        mut response: reqwest::Response,
        sink: &mut Sink<'_, W>,
        on_event: &mut F,
    ) -> Result<(), Error> {
        let mut written = 0u64;
        loop {
            // On cancel the loop feeds the cancel; the body is dropped unread.
            let Some(next) = self.or_cancel(response.chunk()).await else {
                return Ok(());
            };
            let input = match next {
                Ok(Some(chunk)) => {
                    written += chunk.len() as u64;
                    sink.write(chunk).await?;
                    machine
                        .handle_input(Instant::now(), Input::DownloadProgress { id, written })?;
                    while let Some(event) = machine.poll_event() {
                        on_event(&event);
                    }
                    if machine.is_over() {
                        return Ok(());
                    }
                    continue;
                }
                Ok(None) => Input::DownloadEnded { id, written },
                Err(e) => Input::DownloadFailed {
                    id,
                    written,
                    failure: classify(&e),
                },
            };
            machine.handle_input(Instant::now(), input)?;
            return Ok(());
        }
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

/// Batches of this many bytes are hashed at once.
const HASH_BATCH: usize = 256 * 1024;

/// The SHA-256 of the sink, computed on the blocking pool one batch behind the writes: hashing
/// overlaps the network and the disk and never runs long on the runtime. At most two batches
/// (the one filling and the one hashing) are held.
#[derive(Debug, Default)]
struct AsyncDigest {
    idle: Option<Digest>,
    running: Option<tokio::task::JoinHandle<Digest>>,
    batch: Vec<bytes::Bytes>,
    batched: usize,
    bytes: u64,
}

impl AsyncDigest {
    /// Bytes pushed (hashed or pending).
    fn bytes(&self) -> u64 {
        self.bytes
    }

    async fn push(&mut self, chunk: bytes::Bytes) -> Result<(), Error> {
        self.bytes += chunk.len() as u64;
        self.batched += chunk.len();
        self.batch.push(chunk);
        if self.batched >= HASH_BATCH {
            let mut digest = self.settled().await?;
            let batch = std::mem::take(&mut self.batch);
            self.batched = 0;
            self.running = Some(tokio::task::spawn_blocking(move || {
                for chunk in &batch {
                    digest.update(chunk);
                }
                digest
            }));
        }
        Ok(())
    }

    /// The digest of the batches handed to the pool, once they are hashed.
    async fn settled(&mut self) -> Result<Digest, Error> {
        match self.running.take() {
            Some(task) => task
                .await
                .map_err(|e| Error::Internal(format!("hashing task: {e}"))),
            None => Ok(self.idle.take().unwrap_or_default()),
        }
    }

    /// The digest of everything pushed (the last, partial batch is hashed here).
    async fn finish(&mut self) -> Result<Digest, Error> {
        let mut digest = self.settled().await?;
        for chunk in self.batch.drain(..) {
            digest.update(&chunk);
        }
        self.batched = 0;
        self.idle = Some(digest.clone());
        Ok(digest)
    }

    /// Starts again from `digest` (after the sink was truncated).
    fn reset_to(&mut self, digest: Digest) {
        self.running = None;
        self.batch.clear();
        self.batched = 0;
        self.bytes = digest.bytes();
        self.idle = Some(digest);
    }
}

/// Where a download goes.
enum Sink<'a, W> {
    /// Lookups: no body is ever written.
    None,
    /// The temporary file (seekable), hashed as written.
    File {
        file: tokio::fs::File,
        digest: AsyncDigest,
    },
    /// A stream (append only), hashed as written.
    Writer {
        writer: &'a mut W,
        digest: AsyncDigest,
    },
    /// An import: nothing is written; the file at this path is uploaded.
    Upload(&'a Path),
}

impl<W: AsyncWrite + Unpin> Sink<'_, W> {
    /// The file an import uploads.
    fn upload_source(&self) -> Result<&Path, Error> {
        match self {
            Self::Upload(path) => Ok(path),
            _ => Err(Error::Internal("an export asked for an upload".to_owned())),
        }
    }

    async fn place(&mut self, start_at: u64) -> Result<(), Error> {
        match self {
            Self::None | Self::Upload(_) => {
                Err(Error::Internal("a lookup asked for a download".to_owned()))
            }
            Self::File { file, digest } => {
                match place(digest.bytes(), start_at, true).map_err(Error::Internal)? {
                    Placement::Append => Ok(()),
                    Placement::Truncate(at) => {
                        digest.finish().await?;
                        let rehashed = truncate(file, at)
                            .await
                            .map_err(|e| Error::sink("truncate", None, e))?;
                        digest.reset_to(rehashed);
                        Ok(())
                    }
                }
            }
            Self::Writer { digest, .. } => place(digest.bytes(), start_at, false)
                .map(drop)
                .map_err(|e| Error::sink("resume", None, io::Error::other(e))),
        }
    }

    async fn write(&mut self, chunk: bytes::Bytes) -> Result<(), Error> {
        match self {
            Self::None | Self::Upload(_) => {
                Err(Error::Internal("a lookup asked for a download".to_owned()))
            }
            Self::File { file, digest } => {
                file.write_all(&chunk)
                    .await
                    .map_err(|e| Error::sink("write", None, e))?;
                digest.push(chunk).await
            }
            Self::Writer { writer, digest } => {
                writer
                    .write_all(&chunk)
                    .await
                    .map_err(|e| Error::sink("write", None, e))?;
                digest.push(chunk).await
            }
        }
    }
}

/// Truncates the file to `at` bytes and returns the digest of what stays.
async fn truncate(file: &mut tokio::fs::File, at: u64) -> io::Result<Digest> {
    file.flush().await?;
    file.set_len(at).await?;
    file.seek(SeekFrom::Start(0)).await?;
    let mut digest = Digest::new();
    let mut buf = vec![0u8; 64 * 1024];
    while digest.bytes() < at {
        let want = usize::try_from(at - digest.bytes())
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = file.read(&mut buf[..want]).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the output file is shorter than the bytes already written",
            ));
        }
        digest.update(&buf[..n]);
    }
    file.seek(SeekFrom::Start(at)).await?;
    Ok(digest)
}
