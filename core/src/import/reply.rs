//! Judging the replies of an import: the import endpoint's two shapes (an upload URL, or the
//! polling shape with its three failure layers) and the upload URL's answer to the `PUT`.
//!
//! Nothing here panics on any input; every failure is a [`ReplyError`] that says whether
//! trying again may help.

use crate::error::{Error, Transient};
use crate::reply::{parse_envelope, ReplyError};
use crate::secret::SignedUrl;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// `result` of the import endpoint, either shape, parsed as far as it goes.
#[derive(Debug, Default, Deserialize)]
struct WireResult {
    #[serde(default)]
    upload_url: Option<String>,
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    at_bookmark: Option<String>,
    #[serde(default)]
    messages: Option<Vec<String>>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    errors: Option<Value>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    result: Option<WireDone>,
}

/// `result.result` of a complete import.
#[derive(Debug, Default, Deserialize)]
struct WireDone {
    #[serde(default)]
    final_bookmark: Option<String>,
    #[serde(default)]
    num_queries: Option<Value>,
    #[serde(default)]
    meta: Option<WireMeta>,
}

#[derive(Debug, Default, Deserialize)]
struct WireMeta {
    #[serde(default)]
    duration: Option<Value>,
    #[serde(default)]
    rows_read: Option<Value>,
    #[serde(default)]
    rows_written: Option<Value>,
    #[serde(default)]
    size_after: Option<Value>,
}

/// What a complete import reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Done {
    pub final_bookmark: Option<String>,
    pub num_queries: u64,
    pub rows_read: u64,
    pub rows_written: u64,
    pub size_after: Option<u64>,
    pub duration: Option<Duration>,
}

/// Where an import stands, from one good reply of the polling shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImportStatus {
    /// `status: "active"` or absent.
    Running,
    /// A status this crate does not know (treated as running, within a bound).
    Unknown(String),
    /// `status: "complete"`.
    Complete(Done),
}

/// One good reply of the import endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImportReply {
    /// To `init`: upload the file here, then ingest `filename`.
    Upload { url: SignedUrl, filename: String },
    /// The polling shape.
    Progress {
        bookmark: Option<String>,
        messages: Vec<String>,
        status: ImportStatus,
    },
}

/// A JSON number as a count (integers, or floats rounded down; negatives as 0).
fn count(v: Option<&Value>) -> Option<u64> {
    let v = v?;
    // A float-to-integer `as` rounds toward zero and saturates: negatives give 0, the too
    // large u64::MAX (JSON has no NaN or infinity).
    v.as_u64().or_else(|| v.as_f64().map(|f| f as u64))
}

/// The error text of a failed import: `error`, else `errors` (strings or `{message}` objects).
fn error_text(error: Option<String>, errors: Option<&Value>) -> String {
    if let Some(e) = error.filter(|e| !e.trim().is_empty()) {
        return e;
    }
    let listed: Vec<String> = match errors {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| match i {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => o.get("message").and_then(Value::as_str).map(str::to_owned),
                _ => None,
            })
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    if listed.is_empty() {
        "no error message given".to_owned()
    } else {
        listed.join("\n")
    }
}

/// The statement number a message names (`… statement 12 …`), if any.
pub(crate) fn statement_number(message: &str) -> Option<u64> {
    let lower = message.to_ascii_lowercase();
    lower.match_indices("statement ").find_map(|(at, word)| {
        let digits: String = lower[at + word.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

/// Shortens service text to what an error should carry.
fn shorten(text: String) -> String {
    const MAX: usize = 2000;
    if text.chars().count() <= MAX {
        text
    } else {
        let mut s: String = text.chars().take(MAX).collect();
        s.push('…');
        s
    }
}

fn failed(message: String) -> ReplyError {
    let message = shorten(message);
    ReplyError::Fatal(Error::ImportFailed {
        statement: statement_number(&message),
        message,
    })
}

/// Judges one reply of the import endpoint (to `init`, `ingest` or `poll`).
pub(crate) fn parse_import_reply(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    limit: usize,
) -> Result<ImportReply, ReplyError> {
    let envelope = parse_envelope::<WireResult>(status, headers, body, limit)?;
    let Some(result) = envelope.result else {
        return Err(ReplyError::Retry(Transient::InvalidJson {
            status,
            detail: "the envelope has no result".to_owned(),
        }));
    };
    if let Some(url) = result.upload_url {
        let url = SignedUrl::parse(&url).map_err(|e| {
            ReplyError::Retry(Transient::InvalidJson {
                status,
                detail: format!("upload_url: {e}"),
            })
        })?;
        let Some(filename) = result.filename.filter(|f| !f.is_empty()) else {
            return Err(ReplyError::Retry(Transient::InvalidJson {
                status,
                detail: "an upload_url without a filename".to_owned(),
            }));
        };
        return Ok(ImportReply::Upload { url, filename });
    }
    if result.success == Some(false) {
        return Err(failed(error_text(result.error, result.errors.as_ref())));
    }
    let state = match result.status.as_deref() {
        None | Some("active") => ImportStatus::Running,
        Some("error") => return Err(failed(error_text(result.error, result.errors.as_ref()))),
        Some("complete") => {
            let Some(done) = result.result else {
                return Err(ReplyError::Retry(Transient::InvalidJson {
                    status,
                    detail: "a complete import without its result".to_owned(),
                }));
            };
            let meta = done.meta.unwrap_or_default();
            let duration = meta
                .duration
                .as_ref()
                .and_then(Value::as_f64)
                .filter(|ms| ms.is_finite() && *ms >= 0.0 && *ms < 1e15)
                .map(|ms| Duration::from_secs_f64(ms / 1000.0));
            ImportStatus::Complete(Done {
                final_bookmark: done.final_bookmark.filter(|b| !b.is_empty()),
                num_queries: count(done.num_queries.as_ref()).unwrap_or(0),
                rows_read: count(meta.rows_read.as_ref()).unwrap_or(0),
                rows_written: count(meta.rows_written.as_ref()).unwrap_or(0),
                size_after: count(meta.size_after.as_ref()),
                duration,
            })
        }
        Some(other) => ImportStatus::Unknown(other.chars().take(64).collect()),
    };
    Ok(ImportReply::Progress {
        bookmark: result.at_bookmark.filter(|b| !b.is_empty()),
        messages: result.messages.unwrap_or_default(),
        status: state,
    })
}

/// What the upload URL's answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UploadVerdict {
    /// 200 with `ETag` = the md5: the file arrived intact.
    Verified,
    /// 403: the URL expired or was denied; a fresh one comes from another `init`.
    Expired,
    /// May pass: upload again.
    Retry(Transient),
    /// Will not pass.
    Refused(u16),
}

/// Judges the answer to an upload of a file whose md5 is `md5_hex`.
pub(crate) fn judge_upload(status: u16, headers: &HeaderMap, md5_hex: &str) -> UploadVerdict {
    match status {
        200 => {
            let etag = headers
                .get(http::header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(|v| {
                    v.trim()
                        .trim_start_matches("W/")
                        .trim_matches('"')
                        .to_owned()
                });
            match etag {
                Some(e) if e.eq_ignore_ascii_case(md5_hex) => UploadVerdict::Verified,
                other => UploadVerdict::Retry(Transient::UploadUnverified {
                    etag: other.map(|e| e.chars().take(64).collect()),
                }),
            }
        }
        403 => UploadVerdict::Expired,
        s @ (408 | 429 | 500..=599) => UploadVerdict::Retry(Transient::UploadStatus(s)),
        s => UploadVerdict::Refused(s),
    }
}
