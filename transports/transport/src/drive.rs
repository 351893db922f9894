//! The driving loop's bookkeeping, written once for both drivers: [`Runner`] turns the
//! machine's outputs into [`Step`]s of I/O to do and takes back what happened; a driver only
//! performs the I/O (blocking or async) between the two.

use crate::digest::Digest;
use crate::error::Error;
use d1_export_core::{Event, Input, Machine, Outcome, Output, RequestId};
use std::time::Instant;

/// The result of a whole export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOutcome {
    /// The service's name for the dump file.
    pub filename: String,
    /// The time-travel bookmark the dump was taken at.
    pub bookmark: Option<String>,
    /// Bytes written to the sink.
    pub bytes: u64,
    /// The SHA-256 of those bytes, lower-case hex.
    pub sha256: String,
    /// The file as a [`Feed`](crate::Feed)'s destination wrote it (compressed, uploaded);
    /// `None` when the driver wrote the sink itself (then it is the SQL above).
    pub written: Option<crate::feed::Written>,
}

impl ExportOutcome {
    /// Joins the core's outcome with the digest of the sink, checking they agree on the size.
    pub fn new(outcome: Outcome, digest: &Digest) -> Result<Self, Error> {
        if outcome.bytes != digest.bytes() {
            return Err(Error::Internal(format!(
                "the core counted {} bytes, the sink holds {}",
                outcome.bytes,
                digest.bytes()
            )));
        }
        Ok(Self {
            filename: outcome.filename,
            bookmark: outcome.bookmark,
            bytes: outcome.bytes,
            sha256: digest.hex(),
            written: None,
        })
    }
}

/// Removes any `Authorization` header from a download request: the signed URL is a credential
/// of its own and the API token must never reach its host. (The core never adds one; this is
/// a second lock on the same door.)
pub fn strip_authorization<B>(request: &mut http::Request<B>) {
    request.headers_mut().remove(http::header::AUTHORIZATION);
    request
        .headers_mut()
        .remove(http::header::PROXY_AUTHORIZATION);
}

/// The I/O a driver does next.
#[derive(Debug)]
pub enum Step<T> {
    /// Send this API request and read at most `limit` + 1 body bytes; then
    /// [`Runner::feed`] `Input::Reply` or `Input::Failed`.
    Send {
        /// The request's id.
        id: RequestId,
        /// The request.
        request: http::Request<Vec<u8>>,
        /// The reply cap.
        limit: usize,
    },
    /// Send this download request (already stripped of any `Authorization`); feed
    /// `Input::DownloadHead` (keep the body) or `Input::Failed`.
    Download {
        /// The request's id.
        id: RequestId,
        /// The GET of the signed URL: a credential, never logged.
        request: http::Request<()>,
    },
    /// Stream the held body of `id` into the sink, placed at `start_at`
    /// ([`Sink::place`](crate::Sink::place)), feeding [`Runner::progress`] after each write
    /// and then `Input::DownloadEnded` / `Input::DownloadFailed`.
    WriteBody {
        /// The download's id (the one whose head was fed last).
        id: RequestId,
        /// Where the body's first byte goes.
        start_at: u64,
    },
    /// Send this upload (already stripped of any `Authorization`) with the `length` bytes of
    /// the file at `source` as its body, streamed, feeding [`Runner::upload_progress`] as
    /// bytes go out; then feed `Input::Reply` (body read up to `limit` + 1 bytes) or
    /// `Input::Failed`.
    Upload {
        /// The upload's id.
        id: RequestId,
        /// The `PUT` of the upload URL: a credential, never logged.
        request: http::Request<()>,
        /// The file to send.
        source: std::path::PathBuf,
        /// Its `Content-Length`.
        length: u64,
        /// The reply cap.
        limit: usize,
    },
    /// Sleep until then (or a cancel), then feed `Input::Tick` (or `Input::Cancel`).
    Wait(Instant),
    /// Hand this to the caller.
    Event(Event),
    /// The run is over.
    Done(Result<T, Error>),
}

/// Whether to keep streaming a body after a progress report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read on.
    Continue,
    /// The run ended (cancelled, deadline): drop the body unread.
    Stop,
}

/// One machine being driven: what both drivers' loops share. Any step other than
/// [`Step::WriteBody`] means a held download body is to be dropped unread.
#[derive(Debug)]
pub struct Runner<M: Machine> {
    machine: M,
    /// An output the machine gave instead of "keep streaming": the next step.
    pending: Option<Output<M::Outcome>>,
    /// The download whose head was fed, until its body is written or dropped.
    held: Option<RequestId>,
    cancel_fed: bool,
    /// The file an upload sends (an import's SQL file).
    upload_source: Option<std::path::PathBuf>,
}

impl<M: Machine> Runner<M> {
    /// Drives `machine`.
    pub fn new(machine: M) -> Self {
        Self {
            machine,
            pending: None,
            held: None,
            cancel_fed: false,
            upload_source: None,
        }
    }

    /// The file the machine's uploads send (an import's SQL file).
    #[must_use]
    pub fn with_upload_source(mut self, source: Option<&std::path::Path>) -> Self {
        self.upload_source = source.map(std::path::Path::to_owned);
        self
    }

    /// The machine.
    pub fn machine(&self) -> &M {
        &self.machine
    }

    /// The next step. `cancelled`: whether the call's token is cancelled (fed once).
    pub fn next(&mut self, cancelled: bool) -> Result<Step<M::Outcome>, Error> {
        if cancelled {
            self.cancel()?;
        }
        let output = match self.pending.take() {
            Some(output) => output,
            None => self.machine.poll_output(),
        };
        let step = match output {
            Output::Event(event) => {
                crate::trace::event(&event);
                return Ok(Step::Event(event));
            }
            Output::Done(result) => Step::Done(Error::from_core_result(result)),
            Output::Send { id, request } => Step::Send {
                id,
                request,
                limit: self.machine.reply_limit(),
            },
            Output::Download { id, mut request } => {
                crate::drive::strip_authorization(&mut request);
                Step::Download { id, request }
            }
            Output::WriteBody { id, start_at } => {
                if self.held.take() != Some(id) {
                    return Err(Error::Internal(format!("no held body for {id}")));
                }
                return Ok(Step::WriteBody { id, start_at });
            }
            Output::WaitUntil(at) => {
                crate::trace::wait(at);
                Step::Wait(at)
            }
            Output::KeepStreaming { id } => {
                return Err(Error::Internal(format!(
                    "keep streaming {id}, but no body streams"
                )))
            }
            Output::Upload { id, mut request } => {
                crate::drive::strip_authorization(&mut request);
                let source = self.upload_source.clone().ok_or_else(|| {
                    Error::Internal(format!("upload {id}: the machine has no file to upload"))
                })?;
                let length = request
                    .headers()
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or_else(|| Error::Internal(format!("upload {id}: no Content-Length")))?;
                Step::Upload {
                    id,
                    source,
                    request,
                    length,
                    limit: self.machine.reply_limit(),
                }
            }
        };
        self.held = None;
        Ok(step)
    }

    /// Feeds what happened, now.
    pub fn feed(&mut self, input: Input) -> Result<(), Error> {
        match &input {
            Input::Cancel => return self.cancel(),
            Input::DownloadHead { id, .. } => self.held = Some(*id),
            _ => {}
        }
        self.machine.handle_input(Instant::now(), input)?;
        Ok(())
    }

    /// Feeds the cancel (once).
    pub fn cancel(&mut self) -> Result<(), Error> {
        if !std::mem::replace(&mut self.cancel_fed, true) {
            self.machine.handle_input(Instant::now(), Input::Cancel)?;
        }
        Ok(())
    }

    /// Reports `sent` bytes of upload `id` sent; hands the events this brings to `on_event`,
    /// and says whether to send on.
    pub fn upload_progress(
        &mut self,
        id: RequestId,
        sent: u64,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<Flow, Error> {
        self.machine
            .handle_input(Instant::now(), Input::UploadProgress { id, sent })?;
        self.keep_streaming(id, on_event)
    }

    /// Takes the machine's events until it says "keep streaming" `id`; anything else ends the
    /// body and is the next step.
    fn keep_streaming(
        &mut self,
        id: RequestId,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<Flow, Error> {
        loop {
            match self.machine.poll_output() {
                Output::Event(event) => {
                    crate::trace::event(&event);
                    on_event(&event)
                }
                Output::KeepStreaming { id: got } if got == id => return Ok(Flow::Continue),
                other => {
                    self.pending = Some(other);
                    return Ok(Flow::Stop);
                }
            }
        }
    }

    /// Reports `written` bytes of body `id` in the sink; hands the events this brings to
    /// `on_event`, and says whether to read on.
    pub fn progress(
        &mut self,
        id: RequestId,
        written: u64,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<Flow, Error> {
        self.machine
            .handle_input(Instant::now(), Input::DownloadProgress { id, written })?;
        self.keep_streaming(id, on_event)
    }
}
