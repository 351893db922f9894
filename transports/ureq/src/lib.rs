//! # d1-export-ureq
//!
//! A blocking driver for [`d1_export_core`] on [`ureq`]: a thin loop that executes the core's
//! outputs (send a request, wait, stream a download into a sink) and feeds back what happened.
//! Every protocol decision — pacing, retries, resume, validation — is the core's.
//!
//! - Sinks: a file path, written atomically ([`Client::export_to_path`]), or any
//!   [`Write`] ([`Client::export_to_writer`]).
//! - Events (log lines, parts, retries, download progress) go to a callback as they happen.
//! - Cancellation: [`Client::cancel_token`] gives a [`CancelToken`] usable from another
//!   thread; it is honoured during waits between polls (at once) and between download chunks.
//!   A request already in flight ends first (bounded by the read timeout).
//! - HTTP/1.1 over rustls, no redirects, no gzip, statuses as responses, a connect and a
//!   per-read timeout and no total timeout. The download never carries `Authorization`.
//!
//! ```no_run
//! use d1_export_core::{AccountId, DatabaseId, DumpOptions, Job};
//! use d1_export_transport::ClientConfig;
//! use d1_export_ureq::Client;
//!
//! let client = Client::new(ClientConfig::from_env()?)?;
//! let job = Job {
//!     account: AccountId::new("0123456789abcdef0123456789abcdef")?,
//!     database: DatabaseId::new("0a1b2c3d-0000-4000-8000-00000000abcd")?,
//!     options: DumpOptions::default(),
//! };
//! let outcome = client.export_to_path(&job, "backup.sql", |event| eprintln!("{event:?}"))?;
//! println!("{} bytes, sha256 {}", outcome.bytes, outcome.sha256);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use d1_export_core::lookup::{self, Page};
use d1_export_core::wire::DatabaseInfo;
use d1_export_core::{
    AccountId, DatabaseId, Event, Export, Gated, Input, Job, Output, Prioritized, RequestId,
    TransportFailure,
};
use d1_export_transport::{
    classify_io, place, strip_authorization, Chunk, Digest, Drive, HashPipeline, PartFile,
    Placement,
};
pub use d1_export_transport::{CancelToken, ClientConfig, Error, ExportOutcome};
use std::fs::File;
mod fleet;
mod upload;

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A blocking client: HTTP settings, the core's policies, and a cancel token.
///
/// Cheap to share by reference across threads; each call runs one machine to its end.
#[derive(Debug, Clone)]
pub struct Client {
    config: ClientConfig,
    agent: ureq::Agent,
    cancel: CancelToken,
}

impl Client {
    /// Builds a client. Fails only on settings the HTTP stack refuses.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let proxy = if config.proxy_from_env {
            ureq::Proxy::try_from_env()
        } else {
            None
        };
        let agent = ureq::Agent::config_builder()
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
            .new_agent();
        Ok(Self {
            config,
            agent,
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
    /// has verified it whole. On any failure or cancellation the temporary file is removed and
    /// an existing `path` is left untouched.
    pub fn export_to_path(
        &self,
        job: &Job,
        path: impl AsRef<Path>,
        mut on_event: impl FnMut(&Event),
    ) -> Result<ExportOutcome, Error> {
        let dest = path.as_ref();
        let export = Export::new(self.config.core.clone(), job.clone(), Instant::now())?;
        let (part, file) = PartFile::create_beside(dest)
            .map_err(|e| Error::sink("create a temporary file beside", Some(dest.into()), e))?;
        let mut sink: Sink<'_, io::Sink> = Sink::File {
            file,
            part: &part,
            hash: HashPipeline::new(Digest::new(), HASH_DEPTH),
        };
        let outcome = self.run_gated(export, &mut sink, &mut on_event)?;
        let outcome = ExportOutcome::new(outcome, &sink.digest()?)?;
        let Sink::File { mut file, .. } = sink else {
            unreachable!("the sink stays a file")
        };
        let temp = Some(part.path().to_owned());
        file.flush()
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::sink("sync", temp.clone(), e))?;
        drop(file);
        part.persist(dest)
            .map_err(|e| Error::sink("rename the temporary file to", Some(dest.into()), e))?;
        Ok(outcome)
    }

    /// Exports `job` into `writer` (stdout, a pipe, a compressor). The writer is flushed at
    /// the end. A resumed download appends; a download the server restarts from the
    /// beginning after bytes were written cannot be rewound and ends the run with an error.
    pub fn export_to_writer<W: Write>(
        &self,
        job: &Job,
        writer: &mut W,
        mut on_event: impl FnMut(&Event),
    ) -> Result<ExportOutcome, Error> {
        let export = Export::new(self.config.core.clone(), job.clone(), Instant::now())?;
        let mut sink = Sink::Writer {
            writer,
            hash: HashPipeline::new(Digest::new(), HASH_DEPTH),
        };
        let outcome = self.run_gated(export, &mut sink, &mut on_event)?;
        let outcome = ExportOutcome::new(outcome, &sink.digest()?)?;
        if let Sink::Writer { writer, .. } = sink {
            writer.flush().map_err(|e| Error::sink("flush", None, e))?;
        }
        Ok(outcome)
    }

    /// Finds a database by name, or checks an id (`GET …/d1/database/{name}`), with the
    /// core's retries.
    pub fn find_database(
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
        self.run_gated(call, &mut Sink::<io::Sink>::None, &mut |_| {})
    }

    /// One page of the account's databases (`page` from 1), with the core's retries.
    pub fn list_databases(
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
        self.run_gated(call, &mut Sink::<io::Sink>::None, &mut |_| {})
    }

    /// The database's current time-travel bookmark (`GET …/time_travel/bookmark`), with the
    /// core's retries; no export is started.
    pub fn current_bookmark(
        &self,
        account: &AccountId,
        database: &DatabaseId,
    ) -> Result<String, Error> {
        let call =
            lookup::current_bookmark(self.config.core.clone(), account, database, Instant::now())
                .ok_or_else(|| Error::Config("cannot form the bookmark URL".to_owned()))?;
        self.run_gated(call, &mut Sink::<io::Sink>::None, &mut |_| {})
    }

    /// Runs a machine, through the shared request budget when the client has one.
    fn run_gated<M: Drive + Prioritized, W: Write>(
        &self,
        machine: M,
        sink: &mut Sink<'_, W>,
        on_event: &mut impl FnMut(&Event),
    ) -> Result<M::Outcome, Error> {
        match &self.config.budget {
            Some(budget) => {
                let mut gated = Gated::new(machine, budget.clone(), Instant::now());
                self.run(&mut gated, sink, on_event)
            }
            None => {
                let mut machine = machine;
                self.run(&mut machine, sink, on_event)
            }
        }
    }

    /// The one driving loop, for every machine.
    fn run<M: Drive, W: Write>(
        &self,
        machine: &mut M,
        sink: &mut Sink<'_, W>,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<M::Outcome, Error> {
        // The response whose head was fed, waiting for `WriteBody`.
        let mut held: Option<(RequestId, ureq::Body)> = None;
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
                    let input = self.send_or_cancel(id, request, machine.reply_limit());
                    machine.handle_input(Instant::now(), input)?;
                }
                Output::Download { id, mut request } => {
                    held = None;
                    strip_authorization(&mut request);
                    let input = match self.agent.run(request) {
                        Ok(response) => {
                            let (parts, body) = response.into_parts();
                            held = Some((id, body));
                            Input::DownloadHead {
                                id,
                                head: http::Response::from_parts(parts, ()),
                            }
                        }
                        Err(e) => Input::Failed {
                            id,
                            failure: classify(e),
                        },
                    };
                    machine.handle_input(Instant::now(), input)?;
                }
                Output::WriteBody { id, start_at } => {
                    let body = match held.take() {
                        Some((held_id, body)) if held_id == id => body,
                        _ => return Err(Error::Internal(format!("no held body for {id}"))),
                    };
                    sink.place(start_at)?;
                    self.stream(machine, id, body, sink, on_event)?;
                }
                Output::Upload { id, request } => {
                    held = None;
                    let input =
                        self.upload(machine, id, request, sink.upload_source()?, on_event)?;
                    machine.handle_input(Instant::now(), input)?;
                }
                Output::WaitUntil(at) => {
                    held = None;
                    let input = if self.cancel.wait_until(at) {
                        cancel_fed = true;
                        Input::Cancel
                    } else {
                        Input::Tick
                    };
                    machine.handle_input(Instant::now(), input)?;
                }
            }
        }
    }

    /// Sends an API request and reads its reply up to the cap (plus one byte, so the core
    /// sees an over-long reply as such).
    /// Sends an API request on a helper thread so a cancel is honoured at once, even while
    /// the service holds a long-poll open (a blocking read cannot be interrupted). A cancelled
    /// request is left to finish on its own, bounded by the read timeout.
    fn send_or_cancel(
        &self,
        id: RequestId,
        request: http::Request<Vec<u8>>,
        limit: usize,
    ) -> Input {
        let (tx, rx) = mpsc::channel();
        let this = self.clone();
        let spawned = std::thread::Builder::new()
            .name("d1-export-request".into())
            .spawn(move || {
                let _ = tx.send(this.send(id, request, limit));
            });
        if spawned.is_err() {
            return Input::Failed {
                id,
                failure: TransportFailure::Other,
            };
        }
        loop {
            match rx.recv_timeout(Duration::from_millis(25)) {
                Ok(input) => return input,
                Err(mpsc::RecvTimeoutError::Timeout) if self.cancel.is_cancelled() => {
                    return Input::Cancel
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Input::Failed {
                        id,
                        failure: TransportFailure::Other,
                    }
                }
            }
        }
    }

    fn send(&self, id: RequestId, request: http::Request<Vec<u8>>, limit: usize) -> Input {
        let result = if request.body().is_empty() {
            self.agent.run(request.map(|_| ()))
        } else {
            self.agent.run(request)
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
        let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
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

    /// Streams a download body into the sink through a fixed buffer, feeding progress.
    fn stream<M: Drive, W: Write>(
        &self,
        machine: &mut M,
        id: RequestId,
        body: ureq::Body,
        sink: &mut Sink<'_, W>,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<(), Error> {
        let mut reader = body.into_with_config().limit(u64::MAX).reader();
        let size = self.config.buffer_size;
        let mut buf = sink.buffer(size);
        let mut written = 0u64;
        loop {
            if self.cancel.is_cancelled() {
                // The loop feeds the cancel; the body is dropped unread.
                return Ok(());
            }
            let input = match reader.read(&mut buf) {
                Ok(0) => Input::DownloadEnded { id, written },
                Ok(n) => {
                    let next = sink.buffer(size);
                    sink.write(Chunk {
                        buf: std::mem::replace(&mut buf, next),
                        len: n,
                    })?;
                    written += n as u64;
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
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Input::DownloadFailed {
                    id,
                    written,
                    failure: classify(ureq::Error::from(e)),
                },
            };
            machine.handle_input(Instant::now(), input)?;
            return Ok(());
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

/// How many buffers may wait for the hashing thread.
const HASH_DEPTH: usize = 2;

/// Where a download goes. Bytes are hashed on a helper thread as they are written.
enum Sink<'a, W> {
    /// Lookups: no body is ever written.
    None,
    /// The temporary file (seekable).
    File {
        file: File,
        part: &'a PartFile,
        hash: HashPipeline<Chunk>,
    },
    /// A stream (append only).
    Writer {
        writer: &'a mut W,
        hash: HashPipeline<Chunk>,
    },
    /// An import: nothing is written; the file at this path is uploaded.
    Upload(&'a Path),
}

impl<W: Write> Sink<'_, W> {
    /// The file an import uploads.
    fn upload_source(&self) -> Result<&Path, Error> {
        match self {
            Self::Upload(path) => Ok(path),
            _ => Err(Error::Internal("an export asked for an upload".to_owned())),
        }
    }

    fn place(&mut self, start_at: u64) -> Result<(), Error> {
        match self {
            Self::None | Self::Upload(_) => {
                Err(Error::Internal("a lookup asked for a download".to_owned()))
            }
            Self::File { file, part, hash } => {
                match place(hash.bytes(), start_at, true).map_err(Error::Internal)? {
                    Placement::Append => Ok(()),
                    Placement::Truncate(at) => truncate(file, hash, at)
                        .map_err(|e| Error::sink("truncate", Some(part.path().to_owned()), e)),
                }
            }
            Self::Writer { hash, .. } => place(hash.bytes(), start_at, false)
                .map(drop)
                .map_err(|e| Error::sink("resume", None, io::Error::other(e))),
        }
    }

    /// A buffer to read the next chunk into: one the hasher gave back, or a new one.
    fn buffer(&mut self, size: usize) -> Vec<u8> {
        let recycled = match self {
            Self::File { hash, .. } | Self::Writer { hash, .. } => hash.recycled(),
            Self::None | Self::Upload(_) => None,
        };
        recycled.map_or_else(|| vec![0u8; size], |c| c.buf)
    }

    fn write(&mut self, chunk: Chunk) -> Result<(), Error> {
        let hashed = |hash: &mut HashPipeline<Chunk>, chunk| {
            hash.push(chunk).map_err(|e| Error::Internal(e.to_string()))
        };
        match self {
            Self::None | Self::Upload(_) => {
                Err(Error::Internal("a lookup asked for a download".to_owned()))
            }
            Self::File { file, part, hash } => {
                file.write_all(chunk.as_ref())
                    .map_err(|e| Error::sink("write", Some(part.path().to_owned()), e))?;
                hashed(hash, chunk)
            }
            Self::Writer { writer, hash } => {
                writer
                    .write_all(chunk.as_ref())
                    .map_err(|e| Error::sink("write", None, e))?;
                hashed(hash, chunk)
            }
        }
    }

    /// The digest of everything written, once hashed.
    fn digest(&mut self) -> Result<Digest, Error> {
        match self {
            Self::File { hash, .. } | Self::Writer { hash, .. } => {
                hash.finish().map_err(|e| Error::Internal(e.to_string()))
            }
            Self::None | Self::Upload(_) => Ok(Digest::new()),
        }
    }
}

/// Truncates the file to `at` bytes and re-hashes what stays.
fn truncate(file: &mut File, hash: &mut HashPipeline<Chunk>, at: u64) -> io::Result<()> {
    hash.finish()?;
    file.set_len(at)?;
    file.seek(SeekFrom::Start(0))?;
    let mut digest = Digest::new();
    digest.rehash_prefix(&mut *file, at)?;
    file.seek(SeekFrom::Start(at))?;
    hash.reset_to(digest);
    Ok(())
}
