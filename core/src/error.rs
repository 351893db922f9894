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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportFailure {
    /// The connection could not be made (DNS, refused, TLS handshake).
    Connect,
    /// No progress within the driver's connect or read timeout.
    Timeout,
    /// The connection was reset or closed before the message completed.
    Reset,
    /// A reply body exceeded the size cap; the driver stopped reading.
    BodyTooLarge,
    /// Anything else (an I/O error the driver could not classify).
    Other,
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "could not connect",
            Self::Timeout => "timed out",
            Self::Reset => "connection reset or closed early",
            Self::BodyTooLarge => "reply body over the size cap",
            Self::Other => "transport error",
        })
    }
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
#[derive(Debug, Clone, PartialEq, Eq)]
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

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the API answered HTTP {}", self.status)?;
        for (i, e) in self.errors.iter().enumerate() {
            let sep = if i == 0 { ": " } else { "; " };
            write!(f, "{sep}[{}] {}", e.code, e.message)?;
        }
        if let Some(h) = self.hint {
            write!(f, " (hint: {})", h.advice())?;
        }
        Ok(())
    }
}

/// What went wrong on an attempt that may succeed if tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transient {
    /// HTTP 429, with the delay the service asked for.
    Throttled {
        /// `Retry-After`, when given and understood.
        retry_after: Option<Duration>,
    },
    /// An HTTP 5xx (or 408) envelope from the API.
    ServerError(ApiError),
    /// An HTTP 5xx (or 408) whose body was over the cap or not read: the status alone says
    /// "try again".
    ServerStatus {
        /// The HTTP status.
        status: u16,
    },
    /// A "running" reply to a start that gave no bookmark: nothing could be polled.
    MissingBookmark,
    /// A reply that is not JSON: a proxy's HTML error page, for example.
    NotJson {
        /// The HTTP status.
        status: u16,
        /// The `Content-Type`, if any.
        content_type: Option<String>,
    },
    /// A reply that is JSON but not a valid envelope (cut short, for example).
    InvalidJson {
        /// The HTTP status.
        status: u16,
        /// What the parser said.
        detail: String,
    },
    /// A complete reply without a usable download URL.
    MissingDownload(String),
    /// The transport failed.
    Transport(TransportFailure),
    /// "An export is already running" just after one of our own first requests may have
    /// started it: that orphan is cancelled by the service once nobody polls it.
    OrphanedExport(ApiError),
    /// The download URL expired or was denied (403).
    UrlExpired,
    /// The download was cut short after some bytes.
    DownloadInterrupted {
        /// Bytes in the sink when it broke.
        received: u64,
    },
    /// The download server answered a status that may pass (5xx).
    DownloadStatus(u16),
    /// The upload URL answered a status that may pass (5xx, 408, 429).
    UploadStatus(u16),
    /// The upload's reply did not prove the file arrived intact: no `ETag`, or not the md5.
    UploadUnverified {
        /// The `ETag` given (quotes stripped, shortened), if any.
        etag: Option<String>,
    },
    /// The upload broke off (no reply).
    UploadInterrupted(TransportFailure),
}

impl fmt::Display for Transient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Throttled {
                retry_after: Some(d),
            } => {
                write!(f, "rate limited (HTTP 429), retry after {}s", d.as_secs())
            }
            Self::Throttled { retry_after: None } => f.write_str("rate limited (HTTP 429)"),
            Self::ServerError(e) => write!(f, "{e}"),
            Self::ServerStatus { status } => write!(f, "HTTP {status} (body not read)"),
            Self::MissingBookmark => {
                f.write_str("the service said the export runs but gave no bookmark")
            }
            Self::NotJson {
                status,
                content_type,
            } => write!(
                f,
                "HTTP {status} with a non-JSON body ({})",
                content_type.as_deref().unwrap_or("no content type")
            ),
            Self::InvalidJson { status, detail } => {
                write!(f, "HTTP {status} with invalid JSON: {detail}")
            }
            Self::MissingDownload(what) => write!(f, "complete, but {what}"),
            Self::Transport(t) => write!(f, "{t}"),
            Self::OrphanedExport(e) => write!(f, "{e}"),
            Self::UrlExpired => f.write_str("the signed URL expired or was denied (HTTP 403)"),
            Self::DownloadInterrupted { received } => {
                write!(f, "the download broke after {received} bytes")
            }
            Self::DownloadStatus(s) => write!(f, "the download answered HTTP {s}"),
            Self::UploadStatus(s) => write!(f, "the upload answered HTTP {s}"),
            Self::UploadUnverified { etag: None } => f.write_str(
                "the upload's reply has no ETag, so the file may not have arrived intact",
            ),
            Self::UploadUnverified { etag: Some(e) } => write!(
                f,
                "the upload's ETag {e:?} is not the file's md5: the file did not arrive intact"
            ),
            Self::UploadInterrupted(t) => write!(f, "the upload broke off: {t}"),
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// A reply body over [`crate::Config::max_reply_bytes`].
    ReplyTooLarge {
        /// The cap.
        limit: usize,
    },
    /// An unexpected HTTP status with a JSON body that claims success.
    UnexpectedStatus(u16),
    /// A status string this crate does not know, seen too many times in a row.
    UnknownStatus(String),
    /// The bookmark changed during one export (the spec says it never does).
    BookmarkChanged,
    /// The download server sent more bytes than it announced, or an inconsistent range.
    InconsistentDownload(String),
    /// "Running" replies kept coming without a bookmark to poll.
    MissingBookmark,
    /// A successful API reply in a content coding other than `identity` (not asked for).
    EncodedReply(String),
    /// The download came in a content or transfer coding other than `identity` (not asked
    /// for): those bytes are not the SQL dump, and they are not saved as if they were.
    EncodedDownload(String),
    /// A download body without `Content-Length` or chunked framing ended when its connection
    /// closed, and the server would not confirm the length (a range request at the end).
    UnconfirmedLength {
        /// Bytes that arrived.
        received: u64,
    },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReplyTooLarge { limit } => {
                write!(f, "a reply body was over the {limit}-byte cap")
            }
            Self::UnexpectedStatus(s) => write!(f, "unexpected HTTP status {s}"),
            Self::UnknownStatus(s) => write!(f, "the export reported an unknown status {s:?}"),
            Self::BookmarkChanged => f.write_str("the export's bookmark changed while polling"),
            Self::InconsistentDownload(d) => write!(f, "inconsistent download: {d}"),
            Self::MissingBookmark => f.write_str(
                "the service kept saying the export runs without giving its bookmark",
            ),
            Self::EncodedReply(c) => write!(f, "a reply came {c}-encoded; identity was asked for"),
            Self::EncodedDownload(c) => write!(
                f,
                "the download came {c}-encoded (identity was asked for); encoded bytes are not saved as SQL"
            ),
            Self::UnconfirmedLength { received } => write!(
                f,
                "the download ended after {received} bytes when its connection closed, with no length to check it against, and the server would not confirm the length"
            ),
        }
    }
}

/// Why an export ended without a complete file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The API refused the request (not retried): bad token, account, database, body.
    Api(ApiError),
    /// The export task failed on the service (`status: "error"` or `success: false`).
    ExportFailed {
        /// The service's error message.
        message: String,
        /// Advice for the known cases.
        hint: Option<Hint>,
    },
    /// The service no longer knows the export (cancelled, or the bookmark is unknown).
    JobGone {
        /// The service's message.
        message: String,
    },
    /// Something that may pass kept failing until the attempts ran out.
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: Transient,
    },
    /// The service said something it should never say.
    Protocol(ProtocolError),
    /// The download server refused the download for good (a 4xx other than 403).
    DownloadRefused {
        /// The HTTP status.
        status: u16,
    },
    /// The import failed on the service (`status: "error"` or `success: false`); the database
    /// is back at its state before the import.
    ImportFailed {
        /// The service's error message.
        message: String,
        /// The failing statement's number, when the message names it (`statement N`).
        statement: Option<u64>,
    },
    /// The upload URL refused the upload for good (a 4xx other than 403, 408 and 429).
    UploadRefused {
        /// The HTTP status.
        status: u16,
    },
    /// The run did not end within [`crate::Config::deadline`].
    DeadlineExceeded,
    /// The caller cancelled the export.
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

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api(e) => write!(f, "{e}"),
            Self::ExportFailed { message, hint } => {
                write!(f, "the export failed: {message}")?;
                if let Some(h) = hint {
                    write!(f, " (hint: {})", h.advice())?;
                }
                Ok(())
            }
            Self::JobGone { message } => {
                write!(f, "the service no longer knows this export: {message}")
            }
            Self::GaveUp { attempts, last } => {
                write!(f, "gave up after {attempts} attempts: {last}")
            }
            Self::Protocol(p) => write!(f, "protocol error: {p}"),
            Self::DownloadRefused { status } => {
                write!(f, "the download was refused with HTTP {status}")
            }
            Self::ImportFailed { message, .. } => write!(
                f,
                "the import failed (the database is as it was before): {message}"
            ),
            Self::UploadRefused { status } => {
                write!(f, "the upload was refused with HTTP {status}")
            }
            Self::DeadlineExceeded => f.write_str("the export did not finish before its deadline"),
            Self::Cancelled => f.write_str("the export was cancelled"),
        }
    }
}

impl std::error::Error for Error {}
