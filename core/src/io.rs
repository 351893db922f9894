//! The one input type and the one output type every machine of this crate speaks, and the
//! [`Machine`] trait a driver loops over.

use crate::error::{Error, TransportFailure};
use crate::event::Event;
use std::fmt;
use std::time::Instant;

/// Pairs a reply with the request it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u64);

impl RequestId {
    /// The id's number (unique within one machine, increasing).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What the machine wants done next.
///
/// `Debug` never shows a download's signed URL beyond its host and path, nor any header
/// marked sensitive (the token).
pub enum Output<T> {
    /// Send this API request; feed back [`Input::Reply`] or [`Input::Failed`]. Read at most
    /// [`Machine::reply_limit`] + 1 body bytes.
    Send {
        /// The request's id.
        id: RequestId,
        /// The request, token included.
        request: http::Request<Vec<u8>>,
    },
    /// Send this download request (no `Authorization`); feed back [`Input::DownloadHead`] with
    /// the response head, or [`Input::Failed`]. Keep the body until told what to do with it.
    Download {
        /// The request's id.
        id: RequestId,
        /// The GET of the signed URL. Its URI is a credential: do not log it.
        request: http::Request<()>,
    },
    /// Stream the body of download `id` into the sink, placing its first byte at `start_at`
    /// (truncate the sink there first). Feed [`Input::DownloadProgress`] as bytes are written
    /// and take outputs until [`Output::KeepStreaming`] (handing on the events before it),
    /// then feed [`Input::DownloadEnded`] or [`Input::DownloadFailed`]. Any other output after
    /// a [`Input::DownloadHead`] means: drop that response unread.
    WriteBody {
        /// The download's id.
        id: RequestId,
        /// Where the body's first byte goes.
        start_at: u64,
    },
    /// Send this upload (an import's `PUT` to a presigned URL, with `Content-Length` and no
    /// `Authorization`) with the file as its body, streamed. Feed [`Input::UploadProgress`]
    /// as bytes go out, then [`Input::Reply`] with the reply (body read up to
    /// [`Machine::reply_limit`] + 1 bytes) or [`Input::Failed`].
    Upload {
        /// The request's id.
        id: RequestId,
        /// The `PUT` of the upload URL. Its URI is a credential: do not log it.
        request: http::Request<()>,
    },
    /// Go on streaming the body of request `id` (a download's, or an upload's): the answer to
    /// a progress input once the events it brought are out. Any other output instead means:
    /// stop streaming, drop that body, and do what the output says.
    KeepStreaming {
        /// The request whose body streams.
        id: RequestId,
    },
    /// Nothing to do before this instant; then feed [`Input::Tick`].
    WaitUntil(Instant),
    /// Tell the caller.
    Event(Event),
    /// The end. Further calls return the same again.
    Done(Result<T, Error>),
}

impl<T: fmt::Debug> fmt::Debug for Output<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Send { id, request } => f
                .debug_struct("Send")
                .field("id", id)
                .field("method", request.method())
                .field("uri", &crate::secret::redacted_uri(request.uri()))
                .field("headers", request.headers())
                .field("body_len", &request.body().len())
                .finish(),
            Self::Download { id, request } => {
                let mut headers = request.headers().clone();
                headers.remove(http::header::AUTHORIZATION);
                f.debug_struct("Download")
                    .field("id", id)
                    .field("url", &crate::secret::redacted_uri(request.uri()))
                    .field("headers", &headers)
                    .finish()
            }
            Self::Upload { id, request } => f
                .debug_struct("Upload")
                .field("id", id)
                .field("method", request.method())
                .field("url", &crate::secret::redacted_uri(request.uri()))
                .field("headers", request.headers())
                .finish(),
            Self::WriteBody { id, start_at } => f
                .debug_struct("WriteBody")
                .field("id", id)
                .field("start_at", start_at)
                .finish(),
            Self::KeepStreaming { id } => f.debug_struct("KeepStreaming").field("id", id).finish(),
            Self::WaitUntil(at) => f.debug_tuple("WaitUntil").field(at).finish(),
            Self::Event(e) => f.debug_tuple("Event").field(e).finish(),
            Self::Done(r) => f.debug_tuple("Done").field(r).finish(),
        }
    }
}

/// What happened, fed to [`Machine::handle_input`] with the time it happened.
#[derive(Debug)]
pub enum Input {
    /// The reply to an API request (body read up to the cap).
    Reply {
        /// The request's id.
        id: RequestId,
        /// The reply.
        response: http::Response<Vec<u8>>,
    },
    /// A request got no reply (or a download no head).
    Failed {
        /// The request's id.
        id: RequestId,
        /// How it failed.
        failure: TransportFailure,
    },
    /// Time passed (after [`Output::WaitUntil`]).
    Tick,
    /// The head of a download response.
    DownloadHead {
        /// The download's id.
        id: RequestId,
        /// Status and headers; the body stays with the driver.
        head: http::Response<()>,
    },
    /// Bytes of the current body written to the sink so far.
    DownloadProgress {
        /// The download's id.
        id: RequestId,
        /// Bytes of this body written so far.
        written: u64,
    },
    /// The body ended cleanly.
    DownloadEnded {
        /// The download's id.
        id: RequestId,
        /// Bytes of this body written to the sink.
        written: u64,
    },
    /// The body broke off.
    DownloadFailed {
        /// The download's id.
        id: RequestId,
        /// Bytes of this body written to the sink before it broke.
        written: u64,
        /// How it broke.
        failure: TransportFailure,
    },
    /// Bytes of an upload's body sent so far.
    UploadProgress {
        /// The upload's id.
        id: RequestId,
        /// Bytes of this body sent so far.
        sent: u64,
    },
    /// The caller gives up: the machine ends with [`Error::Cancelled`].
    Cancel,
}

impl Input {
    /// The request id the input answers, if any.
    pub fn id(&self) -> Option<RequestId> {
        match self {
            Self::Reply { id, .. }
            | Self::Failed { id, .. }
            | Self::DownloadHead { id, .. }
            | Self::DownloadProgress { id, .. }
            | Self::DownloadEnded { id, .. }
            | Self::DownloadFailed { id, .. }
            | Self::UploadProgress { id, .. } => Some(*id),
            Self::Tick | Self::Cancel => None,
        }
    }
}

/// An input the machine cannot take: a bug in the caller, never a state change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The input answers a request that is not the one outstanding (stale or unknown id).
    #[error("input for request {got}, but {}", Outstanding(*outstanding))]
    UnexpectedId {
        /// The id the input carried.
        got: RequestId,
        /// The id outstanding, if any.
        outstanding: Option<RequestId>,
    },
    /// The input does not fit the machine's state (a download input to a poll, say).
    #[error("input {input} does not fit state {state}")]
    WrongInput {
        /// What was fed.
        input: &'static str,
        /// The state it was fed in.
        state: &'static str,
    },
}

/// `{id} is outstanding`, or that none is.
struct Outstanding(Option<RequestId>);

impl fmt::Display for Outstanding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(o) => write!(f, "{o} is outstanding"),
            None => f.write_str("no request is outstanding"),
        }
    }
}

/// A sans-IO machine: a driver loops `poll_output` → do it → `handle_input`.
pub trait Machine {
    /// What a successful run returns.
    type Outcome;

    /// The next thing to do. Events come first; [`Output::Done`] ends the run.
    fn poll_output(&mut self) -> Output<Self::Outcome>;

    /// Feed what happened, with the time it happened (never read from a clock here).
    fn handle_input(&mut self, now: Instant, input: Input) -> Result<(), InputError>;

    /// The largest API reply body accepted; read at most one byte more.
    fn reply_limit(&self) -> usize;

    /// How many body bytes of an API reply with this status a driver reads: none for a
    /// 408, 429 or 5xx (the status alone decides: try again later, whatever the body), else
    /// [`Machine::reply_limit`] + 1 (so an over-long reply is seen as such).
    fn reply_read_limit(&self, status: http::StatusCode) -> usize {
        reply_read_limit(status, self.reply_limit())
    }
}

/// How many body bytes of an API reply with this status a driver reads, given the machine's
/// [`Machine::reply_limit`]: none for a 408, 429 or 5xx, else `reply_limit + 1`. (The same as
/// [`Machine::reply_read_limit`], for a driver that reads on another thread.)
pub fn reply_read_limit(status: http::StatusCode, reply_limit: usize) -> usize {
    if crate::reply::retryable_status(status.as_u16()) {
        0
    } else {
        reply_limit.saturating_add(1)
    }
}

pub(crate) fn input_name(input: &Input) -> &'static str {
    match input {
        Input::Reply { .. } => "Reply",
        Input::Failed { .. } => "Failed",
        Input::Tick => "Tick",
        Input::DownloadHead { .. } => "DownloadHead",
        Input::DownloadProgress { .. } => "DownloadProgress",
        Input::DownloadEnded { .. } => "DownloadEnded",
        Input::DownloadFailed { .. } => "DownloadFailed",
        Input::UploadProgress { .. } => "UploadProgress",
        Input::Cancel => "Cancel",
    }
}
