//! The drivers' error type: the core's errors plus what only a driver meets (the sink, the
//! HTTP client, cancellation), with a [`kind`](Error::kind) a program can branch on.

use d1_export_core::{
    ApiError, Hint, InputError, InvalidApiBase, InvalidId, InvalidOptions, InvalidToken,
    ProtocolError, SetupError, Side, Transient,
};
use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why an export (or a lookup) ended without a result.
///
/// `Display` gives one self-contained sentence, the service's own words included, and for the
/// known cases a hint worded for a program's author ([`Error::advice`]). It never repeats
/// what [`source()`](std::error::Error::source) returns, so `anyhow`'s `{:#}` shows each
/// message once. No variant holds the API token or the signed URL's query: transport errors
/// reach this type only as a [`TransportFailure`](d1_export_core::TransportFailure) class.
///
/// Branch on [`Error::kind`] (and [`Error::status`]) rather than on the variants or the text.
// `Display` is written below (the detail, then the library's hint); `source()` is derived:
// the I/O error of `Sink`, nothing for the others, which say everything in their message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The protocol ended in failure (the API refused, the export failed, retries ran out…).
    Export(d1_export_core::Error),
    /// The job could not be set up (conflicting options, an inconsistent policy).
    Setup(SetupError),
    /// A setting or argument is invalid (a missing token, a malformed id or API base).
    Config(String),
    /// Reading or writing the output failed.
    Sink {
        /// What was being done (`"create the temporary file"`, `"write"`, …).
        action: &'static str,
        /// The file concerned, if the sink is a file.
        path: Option<PathBuf>,
        /// The I/O error (the [`source`](std::error::Error::source)).
        source: io::Error,
    },
    /// The HTTP client could not be built.
    Client(String),
    /// The caller cancelled the run.
    Cancelled,
    /// A bug: the driver fed the core an input it cannot take, or the sink disagreed with
    /// the core about the bytes written.
    Internal(String),
}

/// What kind of failure an [`Error`] is: the one thing a program needs to decide what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The token (or the account) was refused: fix the credentials.
    Auth,
    /// No such database (or account path) in this account.
    NotFound,
    /// Another export of this database is running on the service: try again later.
    AlreadyRunning,
    /// The API, the download or the upload server refused the request for good (a 4xx other
    /// than the above), the database cannot be exported with these options, or an import was
    /// rolled back on one of the file's statements: sending the same again fails the same way.
    Refused,
    /// The service failed: 5xx and throttling that outlasted the retries, a failed export,
    /// a lost job, replies that break the protocol.
    Service,
    /// The network failed (connect, reset, timeout) until the retries or the deadline ran
    /// out.
    Network,
    /// Writing the output failed (the file system, the writer).
    Output,
    /// The call was cancelled.
    Cancelled,
    /// A setting or argument is invalid; nothing was sent.
    Config,
    /// A bug in this crate (please report it).
    Internal,
}

impl Error {
    /// A sink error.
    pub fn sink(action: &'static str, path: Option<PathBuf>, source: io::Error) -> Self {
        Self::Sink {
            action,
            path,
            source,
        }
    }

    /// What kind of failure this is.
    ///
    /// ```
    /// use d1_export_transport::{Error, ErrorKind};
    /// fn retry_later(e: &Error) -> bool {
    ///     matches!(e.kind(), ErrorKind::AlreadyRunning | ErrorKind::Service | ErrorKind::Network)
    /// }
    /// assert!(!retry_later(&Error::Cancelled));
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Export(e) => core_kind(e),
            Self::Setup(_) | Self::Config(_) | Self::Client(_) => ErrorKind::Config,
            Self::Sink { .. } => ErrorKind::Output,
            Self::Cancelled => ErrorKind::Cancelled,
            Self::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The HTTP status behind the error, when one is known (the API's or the download
    /// server's; 429 for throttling that outlasted the retries).
    pub fn status(&self) -> Option<u16> {
        use d1_export_core::Error as E;
        let Self::Export(e) = self else { return None };
        match e {
            E::Api(api) => Some(api.status),
            E::DownloadRefused { status } | E::UploadRefused { status } => Some(*status),
            E::Protocol(ProtocolError::UnexpectedStatus(s)) => Some(*s),
            E::GaveUp { last, .. } => match last {
                Transient::Throttled { .. } => Some(429),
                Transient::ServerError(api) | Transient::OrphanedExport(api) => Some(api.status),
                Transient::ServerStatus { status }
                | Transient::NotJson { status, .. }
                | Transient::InvalidJson { status, .. } => Some(*status),
                Transient::UrlExpired => Some(403),
                Transient::DownloadStatus(s) | Transient::UploadStatus(s) => Some(*s),
                Transient::MissingBookmark
                | Transient::MissingDownload(_)
                | Transient::Transport(_)
                | Transient::DownloadInterrupted { .. }
                | Transient::UploadUnverified { .. }
                | Transient::UploadInterrupted(_) => None,
            },
            E::Protocol(_)
            | E::ExportFailed { .. }
            | E::JobGone { .. }
            | E::ImportFailed { .. }
            | E::DeadlineExceeded
            | E::Cancelled => None,
        }
    }

    /// The core's error, if this is one.
    pub fn core(&self) -> Option<&d1_export_core::Error> {
        match self {
            Self::Export(e) => Some(e),
            _ => None,
        }
    }

    /// The known case behind this error, if it is one (a front end words its own advice
    /// from it; [`advice`](Self::advice) is the library's wording).
    pub fn hint(&self) -> Option<Hint> {
        self.core().and_then(d1_export_core::Error::hint)
    }

    /// Advice for the known cases, worded for a program using this library.
    pub fn advice(&self) -> Option<&'static str> {
        self.hint().map(Hint::advice)
    }

    /// The message without the hint (what [`Display`](fmt::Display) shows before it), for a
    /// front end that words its own advice.
    pub fn detail(&self) -> String {
        Detail(self).to_string()
    }

    /// Who is at fault. Local problems (the sink, the settings) are the caller's.
    pub fn side(&self) -> Side {
        match self {
            Self::Export(e) => e.side(),
            Self::Internal(_) => Side::Service,
            _ => Side::Caller,
        }
    }

    /// Whether the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.kind() == ErrorKind::Cancelled
    }

    /// Maps a core result to a driver result (the core's `Cancelled` becomes [`Error::Cancelled`]).
    pub fn from_core_result<T>(result: Result<T, d1_export_core::Error>) -> Result<T, Self> {
        result.map_err(Self::from)
    }
}

fn core_kind(e: &d1_export_core::Error) -> ErrorKind {
    use d1_export_core::Error as E;
    let by_hint = |hint: Option<Hint>| match hint {
        Some(Hint::Authentication | Hint::Account) => Some(ErrorKind::Auth),
        Some(Hint::NotFound) => Some(ErrorKind::NotFound),
        Some(Hint::ExportAlreadyRunning | Hint::ImportAlreadyRunning) => {
            Some(ErrorKind::AlreadyRunning)
        }
        Some(Hint::VirtualTables) => Some(ErrorKind::Refused),
        _ => None,
    };
    match e {
        E::Cancelled => ErrorKind::Cancelled,
        E::Api(api) => by_hint(api.hint).unwrap_or(match api.status {
            401 | 403 => ErrorKind::Auth,
            404 => ErrorKind::NotFound,
            400..=499 => ErrorKind::Refused,
            _ => ErrorKind::Service,
        }),
        E::ExportFailed { hint, .. } => by_hint(*hint).unwrap_or(ErrorKind::Service),
        // D1 rolled the import back on a statement of the file: sending it again fails the
        // same way. Without a statement, the service failed.
        E::ImportFailed {
            statement: Some(_), ..
        } => ErrorKind::Refused,
        E::ImportFailed {
            statement: None, ..
        }
        | E::JobGone { .. }
        | E::Protocol(_) => ErrorKind::Service,
        E::DownloadRefused { .. } | E::UploadRefused { .. } => ErrorKind::Refused,
        E::GaveUp { last, .. } => match last {
            Transient::Transport(_)
            | Transient::DownloadInterrupted { .. }
            | Transient::UploadInterrupted(_) => ErrorKind::Network,
            Transient::OrphanedExport(_) => ErrorKind::AlreadyRunning,
            Transient::Throttled { .. }
            | Transient::ServerError(_)
            | Transient::ServerStatus { .. }
            | Transient::MissingBookmark
            | Transient::NotJson { .. }
            | Transient::InvalidJson { .. }
            | Transient::MissingDownload(_)
            | Transient::UrlExpired
            | Transient::DownloadStatus(_)
            | Transient::UploadStatus(_)
            | Transient::UploadUnverified { .. } => ErrorKind::Service,
        },
        E::DeadlineExceeded => ErrorKind::Network,
    }
}

/// The core's error as text, without the core's own hint (the caller words the hint).
fn core_text(e: &d1_export_core::Error) -> String {
    use d1_export_core::Error as E;
    let bare = |api: &ApiError| ApiError {
        hint: None,
        ..api.clone()
    };
    let stripped = match e {
        E::Api(api) => E::Api(bare(api)),
        E::ExportFailed { message, .. } => E::ExportFailed {
            message: message.clone(),
            hint: None,
        },
        E::GaveUp { attempts, last } => E::GaveUp {
            attempts: *attempts,
            last: match last {
                Transient::ServerError(api) => Transient::ServerError(bare(api)),
                Transient::OrphanedExport(api) => Transient::OrphanedExport(bare(api)),
                other => other.clone(),
            },
        },
        other => other.clone(),
    };
    stripped.to_string()
}

/// [`Error::detail`]'s text.
struct Detail<'a>(&'a Error);

impl fmt::Display for Detail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Error::Export(e) => f.write_str(&core_text(e)),
            Error::Setup(e) => write!(f, "invalid export: {e}"),
            Error::Config(e) => write!(f, "invalid configuration: {e}"),
            Error::Sink {
                action,
                path: Some(p),
                ..
            } => write!(f, "cannot {action} {}", p.display()),
            Error::Sink {
                action, path: None, ..
            } => write!(f, "cannot {action} the output"),
            Error::Client(e) => write!(f, "cannot build the HTTP client: {e}"),
            Error::Cancelled => f.write_str("the export was cancelled"),
            Error::Internal(e) => write!(f, "internal error: {e}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Detail(self).fmt(f)?;
        match self.advice() {
            Some(advice) => write!(f, " (hint: {advice})"),
            None => Ok(()),
        }
    }
}

impl From<d1_export_core::Error> for Error {
    fn from(e: d1_export_core::Error) -> Self {
        match e {
            d1_export_core::Error::Cancelled => Self::Cancelled,
            other => Self::Export(other),
        }
    }
}

impl From<SetupError> for Error {
    fn from(e: SetupError) -> Self {
        Self::Setup(e)
    }
}

impl From<InputError> for Error {
    fn from(e: InputError) -> Self {
        Self::Internal(format!("driver bug: {e}"))
    }
}

/// `?` on the core's validating constructors ([`AccountId::new`](d1_export_core::AccountId::new),
/// [`DatabaseId::new`](d1_export_core::DatabaseId::new), [`ApiToken::new`](d1_export_core::ApiToken::new),
/// [`ApiBase::new`](d1_export_core::ApiBase::new), [`DumpOptions::validate`](d1_export_core::DumpOptions::validate))
/// gives an [`ErrorKind::Config`] error.
macro_rules! config_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Self::Config(e.to_string())
            }
        }
    )*};
}
config_errors!(InvalidId, InvalidToken, InvalidApiBase, InvalidOptions);

#[cfg(test)]
mod tests {
    use super::*;
    use d1_export_core::{Error as CoreError, TransportFailure};
    use std::error::Error as _;

    fn api(status: u16, code: i64, message: &str) -> ApiError {
        let info = d1_export_core::wire::ResponseInfo {
            code,
            message: message.to_owned(),
            ..Default::default()
        };
        ApiError::new(status, vec![info])
    }

    fn samples() -> Vec<Error> {
        vec![
            Error::from(CoreError::Api(api(401, 10000, "Authentication error"))),
            Error::from(CoreError::Api(api(403, 7403, "not authorized for account"))),
            Error::from(CoreError::Api(api(404, 7404, "database not found"))),
            Error::from(CoreError::Api(api(400, 7500, "bad request"))),
            Error::from(CoreError::Api(api(
                409,
                7500,
                "Currently processing a long-running export",
            ))),
            Error::from(CoreError::ExportFailed {
                message: "cannot export databases with Virtual Tables (fts5)".into(),
                hint: Some(Hint::VirtualTables),
            }),
            Error::from(CoreError::GaveUp {
                attempts: 8,
                last: Transient::Throttled { retry_after: None },
            }),
            Error::from(CoreError::GaveUp {
                attempts: 8,
                last: Transient::ServerError(api(502, 0, "bad gateway")),
            }),
            Error::from(CoreError::GaveUp {
                attempts: 8,
                last: Transient::Transport(TransportFailure::Connect),
            }),
            Error::from(CoreError::DownloadRefused { status: 410 }),
            Error::from(CoreError::UploadRefused { status: 413 }),
            Error::from(CoreError::GaveUp {
                attempts: 8,
                last: Transient::UploadStatus(503),
            }),
            Error::from(CoreError::GaveUp {
                attempts: 8,
                last: Transient::UploadInterrupted(TransportFailure::Reset),
            }),
            Error::from(CoreError::GaveUp {
                attempts: 8,
                last: Transient::ServerStatus { status: 504 },
            }),
            Error::from(CoreError::ImportFailed {
                message: "statement 3: no such table: main.orders".into(),
                statement: Some(3),
            }),
            Error::from(CoreError::ImportFailed {
                message: "internal error".into(),
                statement: None,
            }),
            Error::from(CoreError::DeadlineExceeded),
            Error::from(CoreError::Cancelled),
            Error::sink(
                "write",
                Some("/x/db.sql".into()),
                io::Error::other("disk full"),
            ),
            Error::Config("no token".into()),
            Error::Internal("x".into()),
        ]
    }

    #[test]
    fn every_error_has_the_kind_a_program_branches_on() {
        let kinds: Vec<_> = samples().iter().map(Error::kind).collect();
        use ErrorKind as K;
        assert_eq!(
            kinds,
            [
                K::Auth,
                K::Auth,
                K::NotFound,
                K::Refused,
                K::AlreadyRunning,
                K::Refused,
                K::Service,
                K::Service,
                K::Network,
                K::Refused,
                K::Refused,
                K::Service,
                K::Network,
                K::Service,
                K::Refused,
                K::Service,
                K::Network,
                K::Cancelled,
                K::Output,
                K::Config,
                K::Internal
            ]
        );
        let statuses: Vec<_> = samples().iter().map(Error::status).collect();
        assert_eq!(
            statuses,
            [
                Some(401),
                Some(403),
                Some(404),
                Some(400),
                Some(409),
                None,
                Some(429),
                Some(502),
                None,
                Some(410),
                Some(413),
                Some(503),
                None,
                Some(504),
                None,
                None,
                None,
                None,
                None,
                None,
                None
            ]
        );
    }

    #[test]
    fn display_never_repeats_the_source_and_shows_one_library_hint() {
        for e in samples() {
            let shown = e.to_string();
            if let Some(source) = e.source() {
                assert!(
                    !shown.contains(&source.to_string()),
                    "{shown:?} repeats its source"
                );
            }
            assert!(shown.matches("hint:").count() <= 1, "{shown}");
            for cli_word in ["CLOUDFLARE_", "--"] {
                assert!(!shown.contains(cli_word), "CLI wording in {shown:?}");
            }
            assert_eq!(e.advice().is_some(), shown.contains("hint:"), "{shown}");
            assert!(shown.starts_with(&e.detail()), "{shown}");
        }
        let throttled = &samples()[6];
        assert!(throttled.to_string().contains("rate limit"), "{throttled}");
    }

    #[test]
    fn core_validation_errors_convert_with_question_mark() {
        fn build() -> Result<d1_export_core::AccountId, Error> {
            Ok(d1_export_core::AccountId::new("../etc")?)
        }
        assert_eq!(build().unwrap_err().kind(), ErrorKind::Config);
        fn token() -> Result<d1_export_core::ApiToken, Error> {
            Ok(d1_export_core::ApiToken::new("")?)
        }
        assert_eq!(token().unwrap_err().kind(), ErrorKind::Config);
        fn base() -> Result<d1_export_core::ApiBase, Error> {
            Ok(d1_export_core::ApiBase::new("http://example.com")?)
        }
        assert_eq!(base().unwrap_err().kind(), ErrorKind::Config);
    }
}
