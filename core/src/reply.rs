//! Judging an API reply: the envelope, the three failure layers, proxies' non-JSON pages.
//!
//! [`parse_export_reply`] never panics on any input; every failure is a [`ReplyError`] that
//! says whether trying again may help.

use crate::download::foreign_coding;
use crate::error::{ApiError, Error, Hint, ProtocolError, Transient};
use crate::secret::SignedUrl;
use crate::wire::{Envelope, ExportResult};
use http::HeaderMap;
use std::time::Duration;

/// Where a running or finished export stands, from one good reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// `result.at_bookmark`, when present.
    pub bookmark: Option<String>,
    /// `result.messages`: log lines since the last poll.
    pub messages: Vec<String>,
    /// Running, complete, or a status not known to this crate.
    pub status: ExportStatus,
}

/// The export's status in a good reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportStatus {
    /// HTTP 202, `status: "active"`, or no status: still running.
    Running,
    /// A status this crate does not know. Treated as "still running", at most
    /// [`crate::Config::max_unknown_status`] times in a row (a deliberate choice: a future
    /// intermediate state should not break exports, and the bound keeps it from looping).
    Unknown(String),
    /// `status: "complete"` with a download.
    Complete {
        /// `result.result.filename`, when present.
        filename: Option<String>,
        /// `result.result.signed_url`.
        url: SignedUrl,
    },
}

/// A reply that is not good news.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// May pass: retry with back-off.
    Retry(Transient),
    /// Will not pass: the export ends with this error (the machine may still reinterpret a
    /// few cases, such as a job the service lost).
    Fatal(Error),
}

/// The `Retry-After` of a reply: delay-seconds, or an HTTP-date measured against the reply's
/// own `Date` header (the core reads no clock, so a date without `Date` is not understood).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let date = headers.get(http::header::DATE)?.to_str().ok()?;
    let date = httpdate::parse_http_date(date).ok()?;
    Some(at.duration_since(date).unwrap_or(Duration::ZERO))
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(100).collect())
}

fn looks_like_json(body: &[u8]) -> bool {
    matches!(
        body.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{') | Some(b'[')
    )
}

/// Whether a status may pass on a later try whatever the body says: 408, 429 and 5xx.
pub fn retryable_status(status: u16) -> bool {
    status >= 500 || status == 408 || status == 429
}

/// Whether an export error message means the service lost the job (cancelled for want of
/// polling, or a bookmark it does not know), rather than that the export itself failed.
pub fn means_job_gone(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("cancel")
        || (m.contains("bookmark")
            && (m.contains("not found")
                || m.contains("unknown")
                || m.contains("invalid")
                || m.contains("expired")))
        || m.contains("no such export")
        || m.contains("export not found")
        || m.contains("job not found")
}

/// Checks the parts every API reply shares: size, challenge pages, 429, JSON-ness, the
/// envelope's own failure layer. Returns the parsed envelope of a successful reply.
pub fn parse_envelope<T: serde::de::DeserializeOwned>(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    limit: usize,
) -> Result<Envelope<T>, ReplyError> {
    let challenged = headers
        .get("cf-mitigated")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("challenge"));
    if challenged {
        return Err(ReplyError::Fatal(Error::Api(ApiError {
            status,
            errors: Vec::new(),
            hint: Some(Hint::Challenge),
        })));
    }
    // The status comes first: a 429 or 5xx may pass whatever its body (a driver need not
    // even read it; see `Machine::reply_read_limit`).
    if status == 429 {
        return Err(ReplyError::Retry(Transient::Throttled {
            retry_after: retry_after(headers),
        }));
    }
    let retryable_status = retryable_status(status);
    let success_status = (200..300).contains(&status);
    if body.len() > limit {
        return Err(if retryable_status {
            ReplyError::Retry(Transient::ServerStatus { status })
        } else if success_status {
            ReplyError::Fatal(Error::Protocol(ProtocolError::ReplyTooLarge { limit }))
        } else {
            ReplyError::Fatal(Error::Api(ApiError::new(status, Vec::new())))
        });
    }
    if success_status {
        if let Some(coding) = foreign_coding(headers) {
            return Err(ReplyError::Fatal(Error::Protocol(
                ProtocolError::EncodedReply(coding),
            )));
        }
    }
    let envelope: Envelope<T> = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(err) if looks_like_json(body) => {
            return Err(ReplyError::Retry(Transient::InvalidJson {
                status,
                detail: err.to_string(),
            }))
        }
        Err(_) if retryable_status || (200..300).contains(&status) => {
            return Err(ReplyError::Retry(Transient::NotJson {
                status,
                content_type: content_type(headers),
            }))
        }
        Err(_) => {
            return Err(ReplyError::Fatal(Error::Api(ApiError::new(
                status,
                Vec::new(),
            ))))
        }
    };
    let failed = envelope.success == Some(false) || !(200..300).contains(&status);
    if failed {
        let api = ApiError::new(status, envelope.errors);
        return Err(if retryable_status {
            ReplyError::Retry(Transient::ServerError(api))
        } else {
            ReplyError::Fatal(Error::Api(api))
        });
    }
    Ok(envelope)
}

/// Judges one reply of the export endpoint.
pub fn parse_export_reply(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    limit: usize,
) -> Result<Progress, ReplyError> {
    let envelope = match parse_envelope::<ExportResult>(status, headers, body, limit) {
        Ok(e) => e,
        // The envelope's own layer may say the job is gone too.
        Err(
            ReplyError::Fatal(Error::Api(api)) | ReplyError::Retry(Transient::ServerError(api)),
        ) if api.errors.iter().any(|e| means_job_gone(&e.message)) => {
            let message = api
                .errors
                .iter()
                .find(|e| means_job_gone(&e.message))
                .map(|e| e.message.clone())
                .unwrap_or_default();
            return Err(ReplyError::Fatal(Error::JobGone { message }));
        }
        Err(e) => return Err(e),
    };
    let Some(result) = envelope.result else {
        return Err(ReplyError::Retry(Transient::InvalidJson {
            status,
            detail: "the envelope has no result".to_owned(),
        }));
    };
    let failure = |message: Option<String>| {
        let message = message.unwrap_or_else(|| "no error message given".to_owned());
        let error = if means_job_gone(&message) {
            Error::JobGone { message }
        } else {
            let hint = Hint::for_api(200, 0, &message);
            Error::ExportFailed { message, hint }
        };
        ReplyError::Fatal(error)
    };
    if result.success == Some(false) {
        return Err(failure(result.error));
    }
    let status_text = match result.status.as_deref() {
        None | Some("active") => ExportStatus::Running,
        Some("error") => return Err(failure(result.error)),
        Some("complete") => {
            let file = result.result.unwrap_or_default();
            let Some(url) = file.signed_url else {
                return Err(ReplyError::Retry(Transient::MissingDownload(
                    "no signed_url was given".to_owned(),
                )));
            };
            let url = SignedUrl::parse(&url)
                .map_err(|e| ReplyError::Retry(Transient::MissingDownload(e)))?;
            ExportStatus::Complete {
                filename: file.filename,
                url,
            }
        }
        Some(other) => ExportStatus::Unknown(other.chars().take(64).collect()),
    };
    Ok(Progress {
        bookmark: result.at_bookmark,
        messages: result.messages,
        status: status_text,
    })
}

/// The part number of an `"Uploaded part N"` log line.
pub fn uploaded_part(message: &str) -> Option<u32> {
    message
        .strip_prefix("Uploaded part ")?
        .trim_end_matches('.')
        .trim()
        .parse()
        .ok()
}
