//! Typed errors, split by who did wrong: the caller, the service, or the network.

use crate::wire::ResponseInfo;
use std::fmt;
use std::time::Duration;

/// Who is at fault for an error (h11's split of "we did wrong" and "the peer did wrong").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The caller: a bad configuration, a refused credential, an unknown database.
    Caller,
    /// The service or a proxy in front of it: a failed export, a malformed reply.
    Service,
    /// The network between: connections refused, reset or timed out.
    Network,
}

/// How a transport failed, as a driver reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum TransportFailure {
    /// The connection could not be made (DNS, refused, TLS handshake).
    #[error("could not connect")]
    Connect,
    /// No progress within the driver's connect or read timeout.
    #[error("timed out")]
    Timeout,
    /// The connection was reset or closed before the message completed.
    #[error("connection reset or closed early")]
    Reset,
    /// A reply body exceeded the size cap; the driver stopped reading.
    #[error("reply body over the size cap")]
    BodyTooLarge,
    /// Anything else (an I/O error the driver could not classify).
    #[error("transport error")]
    Other,
}

/// A hint for the known failure cases, shown after the service's own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    /// Codes 10000/9106, HTTP 401: the token is wrong or lacks D1 permission.
    Authentication,
    /// Code 7403: the account id is wrong or the token cannot use it.
    Account,
    /// Codes 7404/7003: no such database (or a malformed id).
    NotFound,
    /// "Currently processing a long-running export".
    ExportAlreadyRunning,
    /// "cannot export databases with Virtual Tables (fts5)".
    VirtualTables,
    /// A WAF challenge page (`cf-mitigated: challenge`).
    Challenge,
    /// HTTP 429: the account's API rate limit.
    RateLimited,
    /// "Currently processing a long-running import".
    ImportAlreadyRunning,
}

impl Hint {
    /// The advice for this case, worded for a program using the library: no command-line
    /// flags or environment variables (a front end words its own from the [`Hint`]).
    pub fn advice(self) -> &'static str {
        match self {
            Self::Authentication => {
                "the API token is invalid or not allowed to edit D1 (it needs Account > D1 > Edit)"
            }
            Self::Account => "the account id is wrong, or the token cannot use this account",
            Self::NotFound => "no such database in this account: check the database id or name",
            Self::ExportAlreadyRunning => {
                "another export of this database is running; retry once it has finished or timed out"
            }
            Self::ImportAlreadyRunning => {
                "an import or export of this database is running; retry once it has finished"
            }
            Self::VirtualTables => {
                "the database has virtual tables (FTS5): list the other tables in \
                 DumpOptions::tables, or use Compatibility::Sqlite3CliOnly"
            }
            Self::Challenge => {
                "a firewall challenge answered instead of the API: check the API base and the network path"
            }
            Self::RateLimited => {
                "the account's API rate limit (1200 requests per 5 minutes) was reached: retry in a few minutes"
            }
        }
    }

    /// The hint for a service error code and message, if it is a known case.
    pub fn for_api(status: u16, code: i64, message: &str) -> Option<Self> {
        let lower = message.to_ascii_lowercase();
        if lower.contains("currently processing a long-running export") {
            Some(Self::ExportAlreadyRunning)
        } else if lower.contains("currently processing a long-running import") {
            Some(Self::ImportAlreadyRunning)
        } else if lower.contains("virtual table") {
            Some(Self::VirtualTables)
        } else {
            match (status, code) {
                (_, 10000 | 9106 | 9109) | (401, _) => Some(Self::Authentication),
                (_, 7403) => Some(Self::Account),
                (_, 7404 | 7003) | (404, _) => Some(Self::NotFound),
                (429, _) => Some(Self::RateLimited),
                _ => None,
            }
        }
    }
}

/// The service refused a request: the envelope's `success: false` with its `errors`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the API answered HTTP {status}{}{}", ErrorList(errors), HintText(*hint))]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The service's errors, codes and messages as sent.
    pub errors: Vec<ResponseInfo>,
    /// Advice for the known cases.
    pub hint: Option<Hint>,
}

impl ApiError {
    /// Builds the error and its hint from the first known case among `errors`.
    pub fn new(status: u16, errors: Vec<ResponseInfo>) -> Self {
        let hint = errors
            .iter()
            .find_map(|e| Hint::for_api(status, e.code, &e.message))
            .or_else(|| Hint::for_api(status, 0, ""));
        Self {
            status,
            errors,
            hint,
        }
    }

    /// The first error code, if any.
    pub fn code(&self) -> Option<i64> {
        self.errors.first().map(|e| e.code)
    }
}

/// `: [code] message; [code] message` (nothing when empty).
struct ErrorList<'a>(&'a [ResponseInfo]);

impl fmt::Display for ErrorList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            let sep = if i == 0 { ": " } else { "; " };
            write!(f, "{sep}[{}] {}", e.code, e.message)?;
        }
        Ok(())
    }
}

/// ` (hint: …)` for a known case, nothing otherwise.
struct HintText(Option<Hint>);

impl fmt::Display for HintText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(h) => write!(f, " (hint: {})", h.advice()),
            None => Ok(()),
        }
    }
}

/// What went wrong on an attempt that may succeed if tried again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Transient {
    /// HTTP 429, with the delay the service asked for.
    #[error("rate limited (HTTP 429){}", RetryAfterText(*retry_after))]
    Throttled {
        /// `Retry-After`, when given and understood.
        retry_after: Option<Duration>,
    },
    /// An HTTP 5xx (or 408) envelope from the API.
    #[error("{0}")]
    ServerError(ApiError),
    /// An HTTP 5xx (or 408) whose body was over the cap or not read: the status alone says
    /// "try again".
    #[error("HTTP {status} (body not read)")]
    ServerStatus {
        /// The HTTP status.
        status: u16,
    },
    /// A "running" reply to a start that gave no bookmark: nothing could be polled.
    #[error("the service said the export runs but gave no bookmark")]
    MissingBookmark,
    /// A reply that is not JSON: a proxy's HTML error page, for example.
    #[error("HTTP {status} with a non-JSON body ({})", content_type.as_deref().unwrap_or("no content type"))]
    NotJson {
        /// The HTTP status.
        status: u16,
        /// The `Content-Type`, if any.
        content_type: Option<String>,
    },
    /// A reply that is JSON but not a valid envelope (cut short, for example).
    #[error("HTTP {status} with invalid JSON: {detail}")]
    InvalidJson {
        /// The HTTP status.
        status: u16,
        /// What the parser said.
        detail: String,
    },
    /// A complete reply without a usable download URL.
    #[error("complete, but {0}")]
    MissingDownload(String),
    /// The transport failed.
    #[error("{0}")]
    Transport(TransportFailure),
    /// "An export is already running" just after one of our own first requests may have
    /// started it: that orphan is cancelled by the service once nobody polls it.
    #[error("{0}")]
    OrphanedExport(ApiError),
    /// The download URL expired or was denied (403).
    #[error("the signed URL expired or was denied (HTTP 403)")]
    UrlExpired,
    /// The download was cut short after some bytes.
    #[error("the download broke after {received} bytes")]
    DownloadInterrupted {
        /// Bytes in the sink when it broke.
        received: u64,
    },
    /// The download server answered a status that may pass (5xx).
    #[error("the download answered HTTP {0}")]
    DownloadStatus(u16),
    /// The upload URL answered a status that may pass (5xx, 408, 429).
    #[error("the upload answered HTTP {0}")]
    UploadStatus(u16),
    /// The upload's reply did not prove the file arrived intact: no `ETag`, or not the md5.
    #[error("{}", UnverifiedText(etag.as_deref()))]
    UploadUnverified {
        /// The `ETag` given (quotes stripped, shortened), if any.
        etag: Option<String>,
    },
    /// The upload broke off (no reply).
    #[error("the upload broke off: {0}")]
    UploadInterrupted(TransportFailure),
}

/// `, retry after Ns` when the service said.
struct RetryAfterText(Option<Duration>);

impl fmt::Display for RetryAfterText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(d) => write!(f, ", retry after {}s", d.as_secs()),
            None => Ok(()),
        }
    }
}

/// Why an upload's reply does not prove the file arrived.
struct UnverifiedText<'a>(Option<&'a str>);

impl fmt::Display for UnverifiedText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str(
                "the upload's reply has no ETag, so the file may not have arrived intact",
            ),
            Some(e) => write!(
                f,
                "the upload's ETag {e:?} is not the file's md5: the file did not arrive intact"
            ),
        }
    }
}

impl Transient {
    /// Who is at fault.
    pub fn side(&self) -> Side {
        match self {
            Self::Transport(_) | Self::DownloadInterrupted { .. } | Self::UploadInterrupted(_) => {
                Side::Network
            }
            _ => Side::Service,
        }
    }
}

/// A reply the service should never send; not retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A reply body over [`crate::Config::max_reply_bytes`].
    #[error("a reply body was over the {limit}-byte cap")]
    ReplyTooLarge {
        /// The cap.
        limit: usize,
    },
    /// An unexpected HTTP status with a JSON body that claims success.
    #[error("unexpected HTTP status {0}")]
    UnexpectedStatus(u16),
    /// A status string this crate does not know, seen too many times in a row.
    #[error("the export reported an unknown status {0:?}")]
    UnknownStatus(String),
    /// The bookmark changed during one export (the spec says it never does).
    #[error("the export's bookmark changed while polling")]
    BookmarkChanged,
    /// The download server sent more bytes than it announced, or an inconsistent range.
    #[error("inconsistent download: {0}")]
    InconsistentDownload(String),
    /// "Running" replies kept coming without a bookmark to poll.
    #[error("the service kept saying the export runs without giving its bookmark")]
    MissingBookmark,
    /// A successful API reply in a content coding other than `identity` (not asked for).
    #[error("a reply came {0}-encoded; identity was asked for")]
    EncodedReply(String),
    /// The download came in a content or transfer coding other than `identity` (not asked
    /// for): those bytes are not the SQL dump, and they are not saved as if they were.
    #[error("the download came {0}-encoded (identity was asked for); encoded bytes are not saved as SQL")]
    EncodedDownload(String),
    /// A download body without `Content-Length` or chunked framing ended when its connection
    /// closed, and the server would not confirm the length (a range request at the end).
    #[error("the download ended after {received} bytes when its connection closed, with no length to check it against, and the server would not confirm the length")]
    UnconfirmedLength {
        /// Bytes that arrived.
        received: u64,
    },
}

/// Why an export ended without a complete file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The API refused the request (not retried): bad token, account, database, body.
    #[error("{0}")]
    Api(ApiError),
    /// The export task failed on the service (`status: "error"` or `success: false`).
    #[error("the export failed: {message}{}", HintText(*hint))]
    ExportFailed {
        /// The service's error message.
        message: String,
        /// Advice for the known cases.
        hint: Option<Hint>,
    },
    /// The service no longer knows the export (cancelled, or the bookmark is unknown).
    #[error("the service no longer knows this export: {message}")]
    JobGone {
        /// The service's message.
        message: String,
    },
    /// Something that may pass kept failing until the attempts ran out.
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: Transient,
    },
    /// The service said something it should never say.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
    /// The download server refused the download for good (a 4xx other than 403).
    #[error("the download was refused with HTTP {status}")]
    DownloadRefused {
        /// The HTTP status.
        status: u16,
    },
    /// The import failed on the service (`status: "error"` or `success: false`); the database
    /// is back at its state before the import.
    #[error("the import failed (the database is as it was before): {message}")]
    ImportFailed {
        /// The service's error message.
        message: String,
        /// The failing statement's number, when the message names it (`statement N`).
        statement: Option<u64>,
    },
    /// The upload URL refused the upload for good (a 4xx other than 403, 408 and 429).
    #[error("the upload was refused with HTTP {status}")]
    UploadRefused {
        /// The HTTP status.
        status: u16,
    },
    /// The run did not end within [`crate::Config::deadline`].
    #[error("the export did not finish before its deadline")]
    DeadlineExceeded,
    /// The caller cancelled the export.
    #[error("the export was cancelled")]
    Cancelled,
}

impl Error {
    /// Who is at fault.
    pub fn side(&self) -> Side {
        match self {
            Self::Api(e) if e.status < 500 => Side::Caller,
            Self::Cancelled => Side::Caller,
            Self::ExportFailed {
                hint: Some(Hint::VirtualTables | Hint::ExportAlreadyRunning),
                ..
            } => Side::Caller,
            Self::GaveUp { last, .. } => last.side(),
            Self::DeadlineExceeded => Side::Network,
            _ => Side::Service,
        }
    }

    /// The advice for this error, if it is a known case.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            Self::Api(e) => e.hint,
            Self::ExportFailed { hint, .. } => *hint,
            Self::GaveUp {
                last: Transient::OrphanedExport(e) | Transient::ServerError(e),
                ..
            } => e.hint,
            Self::GaveUp {
                last: Transient::Throttled { .. },
                ..
            } => Some(Hint::RateLimited),
            _ => None,
        }
    }

    /// Whether the error concerns an import's upload (the file never reached the service
    /// intact), rather than the import itself.
    pub fn is_upload(&self) -> bool {
        matches!(
            self,
            Self::UploadRefused { .. }
                | Self::GaveUp {
                    last: Transient::UploadStatus(_)
                        | Transient::UploadUnverified { .. }
                        | Transient::UploadInterrupted(_),
                    ..
                }
        )
    }

    /// Whether the error concerns the download rather than the export.
    pub fn is_download(&self) -> bool {
        matches!(
            self,
            Self::DownloadRefused { .. }
                | Self::GaveUp {
                    last: Transient::UrlExpired
                        | Transient::DownloadInterrupted { .. }
                        | Transient::DownloadStatus(_),
                    ..
                }
                | Self::Protocol(
                    ProtocolError::InconsistentDownload(_)
                        | ProtocolError::EncodedDownload(_)
                        | ProtocolError::UnconfirmedLength { .. }
                )
        )
    }
}
