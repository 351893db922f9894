//! Exit codes, distinct per kind of failure so scripts can tell them apart.

use d1_export_core::{Error as CoreError, Hint};
use d1_export_transport::Error;
use std::process::ExitCode;

/// A failure of the command, with its exit code and message.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub code: Code,
    /// What to tell the user.
    pub message: String,
    /// The outcome was already printed (as the `--json` summary): print no second object.
    pub reported: bool,
}

/// The exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 1: anything not below.
    Other = 1,
    /// 2: bad usage (flags, ids, options, missing settings).
    Usage = 2,
    /// 3: authentication (token or account refused).
    Auth = 3,
    /// 4: the database was not found.
    NotFound = 4,
    /// 5: the export failed on the service (or kept failing).
    Export = 5,
    /// 6: the download (or writing the output) failed; for an import, the upload failed.
    Download = 6,
    /// 7: the file was refused before anything was sent (it breaks D1's import rules).
    Refused = 7,
    /// 130: interrupted.
    Interrupted = 130,
}

impl From<Code> for ExitCode {
    fn from(c: Code) -> Self {
        ExitCode::from(c as u8)
    }
}

impl Failure {
    /// A failure with this code.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            reported: false,
        }
    }

    /// A usage failure.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Code::Usage, message)
    }

    /// Classifies a driver error.
    pub fn from_error(error: &Error) -> Self {
        let code = match error {
            Error::Cancelled => Code::Interrupted,
            Error::Config(_) | Error::Setup(_) => Code::Usage,
            Error::Sink { .. } => Code::Download,
            Error::Export(e) => match (e, e.hint()) {
                (CoreError::Cancelled, _) => Code::Interrupted,
                (_, Some(Hint::Authentication | Hint::Account)) => Code::Auth,
                (_, Some(Hint::NotFound)) => Code::NotFound,
                (e, _) if e.is_download() || e.is_upload() => Code::Download,
                _ => Code::Export,
            },
            _ => Code::Other,
        };
        Self::new(code, error.to_string())
    }
}
