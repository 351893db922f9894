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
    /// 7: the dump failed verification (it does not load, or fails the integrity check); for
    /// an import, the file was refused before anything was sent (it breaks D1's rules).
    Verify = 7,
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
        Self::new(code, message(error))
    }
}

/// The error's message as the CLI words it: the library's detail, the CLI's own hint (with
/// the flags and variables to check), then every source in the chain.
fn message(error: &Error) -> String {
    let mut text = error.detail();
    if let Some(hint) = error.hint() {
        text.push_str(&format!(" (hint: {})", advice(hint)));
    }
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// The CLI's wording of a hint: what to set or pass.
pub fn advice(hint: Hint) -> &'static str {
    match hint {
        Hint::Authentication => "check CLOUDFLARE_API_TOKEN: it must be valid and allowed to edit D1 (Account > D1 > Edit)",
        Hint::Account => "check CLOUDFLARE_ACCOUNT_ID (or --account-id): the account is wrong or the token cannot use it",
        Hint::NotFound => "no such database in this account: check the database id or name",
        Hint::ExportAlreadyRunning => "another export of this database is running; wait for it to finish or time out, then retry",
        Hint::VirtualTables => "the database has virtual tables (FTS5): use --importable (SQL D1 can import) or --format sqlite for a complete backup, or export the other tables with --table",
        Hint::Challenge => "a firewall challenge answered instead of the API; check the API base and the network path",
        Hint::RateLimited => "the API rate limit (1200 requests per 5 minutes) was reached; wait a few minutes",
        Hint::ImportAlreadyRunning => "an import or export of this database is running; wait for it to finish, then retry",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_messages_name_the_flags_and_keep_the_io_reason() {
        let api = d1_export_core::ApiError::new(401, Vec::new());
        let f = Failure::from_error(&Error::from(CoreError::Api(api)));
        assert_eq!(f.code, Code::Auth);
        assert!(f.message.contains("CLOUDFLARE_API_TOKEN"), "{}", f.message);
        assert_eq!(f.message.matches("hint:").count(), 1, "{}", f.message);
        let sink = Error::sink(
            "write",
            Some("/x/db.sql".into()),
            std::io::Error::other("disk full"),
        );
        let f = Failure::from_error(&sink);
        assert_eq!(f.code, Code::Download);
        assert_eq!(f.message, "cannot write /x/db.sql: disk full");
    }
}
