//! The drivers' error type: the core's errors plus what only a driver meets (the sink, the
//! HTTP client, cancellation).

use d1_export_core::{Hint, InputError, SetupError, Side};
use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why an export (or a lookup) ended without a result.
///
/// `Display` gives the core's message and, for the known cases, its hint. No variant holds
/// the API token or the signed URL's query: transport errors reach this type only as a
/// [`TransportFailure`](d1_export_core::TransportFailure) class inside the core's error.
#[derive(Debug)]
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
        /// The I/O error.
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

impl Error {
    /// A sink error.
    pub fn sink(action: &'static str, path: Option<PathBuf>, source: io::Error) -> Self {
        Self::Sink {
            action,
            path,
            source,
        }
    }

    /// The core's error, if this is one.
    pub fn core(&self) -> Option<&d1_export_core::Error> {
        match self {
            Self::Export(e) => Some(e),
            _ => None,
        }
    }

    /// The advice for this error, if it is a known case.
    pub fn hint(&self) -> Option<Hint> {
        self.core().and_then(d1_export_core::Error::hint)
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
        matches!(self, Self::Cancelled)
    }

    /// Maps a core result to a driver result (the core's `Cancelled` becomes [`Error::Cancelled`]).
    pub fn from_core_result<T>(result: Result<T, d1_export_core::Error>) -> Result<T, Self> {
        result.map_err(Self::from)
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

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Export(e) => {
                let shown = e.to_string();
                f.write_str(&shown)?;
                match e.hint() {
                    Some(h) if !shown.contains(h.advice()) => write!(f, " (hint: {})", h.advice()),
                    _ => Ok(()),
                }
            }
            Self::Setup(e) => write!(f, "invalid export: {e}"),
            Self::Config(e) => write!(f, "invalid configuration: {e}"),
            Self::Sink {
                action,
                path: Some(p),
                source,
            } => write!(f, "cannot {action} {}: {source}", p.display()),
            Self::Sink {
                action,
                path: None,
                source,
            } => write!(f, "cannot {action} the output: {source}"),
            Self::Client(e) => write!(f, "cannot build the HTTP client: {e}"),
            Self::Cancelled => f.write_str("the export was cancelled"),
            Self::Internal(e) => write!(f, "internal error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Export(e) => Some(e),
            Self::Setup(e) => Some(e),
            Self::Sink { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use d1_export_core::{Error as CoreError, Transient};

    #[test]
    fn hint_is_shown_once() {
        let e = Error::from(CoreError::GaveUp {
            attempts: 8,
            last: Transient::Throttled { retry_after: None },
        });
        let shown = e.to_string();
        assert!(shown.contains(Hint::RateLimited.advice()), "{shown}");
        let api = d1_export_core::ApiError::new(401, Vec::new());
        let shown = Error::from(CoreError::Api(api)).to_string();
        assert_eq!(shown.matches("hint:").count(), 1, "{shown}");
        assert!(Error::from(CoreError::Cancelled).is_cancelled());
    }
}
