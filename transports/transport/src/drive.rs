//! The driving loop's bookkeeping, written once for both drivers: [`Runner`] turns the
//! machine's outputs into [`Step`]s of I/O to do and takes back what happened; a driver only
//! performs the I/O (blocking or async) between the two.

use crate::digest::Digest;
use crate::error::Error;
use d1_export_core::lookup::Call;
use d1_export_core::{Event, Export, Input, Machine, Outcome, Output, RequestId, State};
use std::time::Instant;

/// A [`Machine`] a driver can run: the export, or a lookup [`Call`].
///
/// The extra methods let a driver deliver progress events while it streams a body, without
/// moving the machine on.
pub trait Drive: Machine {
    /// The next queued event, if any (see [`Export::poll_event`]).
    fn poll_event(&mut self) -> Option<Event>;

    /// Whether the run has ended (a driver streaming a body stops reading then).
    fn is_over(&self) -> bool;

    /// The file an upload streams (an import's SQL file); `None` for machines that upload
    /// nothing.
    fn upload_source(&self) -> Option<&std::path::Path> {
        None
    }
}

impl Drive for Export {
    fn poll_event(&mut self) -> Option<Event> {
        Export::poll_event(self)
    }

    fn is_over(&self) -> bool {
        matches!(self.state(), State::Complete | State::Failed)
    }
}

impl<T: Clone> Drive for Call<T> {
    fn poll_event(&mut self) -> Option<Event> {
        None
    }

    fn is_over(&self) -> bool {
        false
    }
}

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
pub struct Runner<M> {
    machine: M,
    /// The download whose head was fed, until its body is written or dropped.
    held: Option<RequestId>,
    cancel_fed: bool,
}

impl<M: Drive> Runner<M> {
    /// Drives `machine`.
    pub fn new(machine: M) -> Self {
        Self {
            machine,
            held: None,
            cancel_fed: false,
        }
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
        let step = match self.machine.poll_output() {
            Output::Event(event) => return Ok(Step::Event(event)),
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
            Output::WaitUntil(at) => Step::Wait(at),
            Output::Upload { id, mut request } => {
                crate::drive::strip_authorization(&mut request);
                let source = self.machine.upload_source().ok_or_else(|| {
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
                    source: source.to_owned(),
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
        if !self.machine.is_over() {
            self.machine
                .handle_input(Instant::now(), Input::UploadProgress { id, sent })?;
        }
        while let Some(event) = self.machine.poll_event() {
            on_event(&event);
        }
        Ok(if self.machine.is_over() {
            Flow::Stop
        } else {
            Flow::Continue
        })
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
        while let Some(event) = self.machine.poll_event() {
            on_event(&event);
        }
        Ok(if self.machine.is_over() {
            Flow::Stop
        } else {
            Flow::Continue
        })
    }
}
