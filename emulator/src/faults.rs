//! Deterministic fault injection.
//!
//! API requests (everything under `/client/v4`) are numbered from 1 in arrival order, whatever
//! their route, outcome or connection. The request-numbered faults below refer to that number.
//! When several faults hit the same request the first in this list wins: reset connection,
//! 503, 429, invalid JSON. A request answered by a reset, a 503 or a 429 never reaches the
//! API (nothing is started, polled or counted as a poll); an invalid-JSON reply is the real
//! reply, processed as usual, with its body cut short in transit.
//!
//! Download faults (truncation, first URL expired, a first 429, a changed object) apply once
//! **per export job**, so a client that resumes or re-polls can finish; the framing and
//! encoding faults apply to every download. Upload faults (a failed upload, a wrong `ETag`)
//! hit the first N uploads of each file, so a client that uploads again can finish (or not,
//! for a large N).

use std::time::{Duration, Instant};

/// A fixed-window rate limit: past `requests` API requests within one `window`, requests are
/// answered 429 with a `Retry-After` header until the window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// API requests allowed per window.
    pub requests: u64,
    /// The window length. Windows are fixed: the first starts at the first API request.
    pub window: Duration,
}

/// In which layer of a reply the service says something went wrong (spec, Part 2: the
/// envelope's `success:false`, the result's own `success:false`, or `status: "error"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Layer {
    /// `{"success":true,"result":{"status":"error","error":"…"}}` (HTTP 200).
    #[default]
    Status,
    /// `{"success":true,"result":{"success":false,"error":"…"}}` (HTTP 200).
    Inner,
    /// `{"success":false,"errors":[{"code":7500,"message":"…"}]}` (HTTP 404 for a lost job,
    /// 409 for one already running).
    Envelope,
}

/// A 429 the service answers to the Nth API request, with a `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// The API request number (from 1).
    pub at: u64,
    /// The `Retry-After`, in seconds.
    pub retry_after_secs: u64,
}

/// The byte appended to a job's dump when [`Faults::change_object_after_first_download`]
/// changes it (a SQL comment line).
pub const CHANGED_OBJECT_TRAILER: &[u8] = b"-- the object changed after the first download\n";

/// Faults the emulator can inject. All are off by default; each is deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Every Nth API request (N, 2N, 3N, ...) is answered `503 Service Unavailable` with an
    /// HTML body, as a proxy in front of the API would.
    pub http_503_every: Option<u64>,
    /// Past this many API requests within a window, answer `429 Too Many Requests` with
    /// `Retry-After: <seconds left in the window, at least 1>` and a JSON envelope (code 971).
    pub rate_limit: Option<RateLimit>,
    /// The Nth API request gets HTTP 200 with a truncated (invalid) JSON body.
    pub invalid_json_at: Option<u64>,
    /// The Nth API request gets its TCP connection reset (RST) without any response.
    pub reset_connection_at: Option<u64>,
    /// The first download (GET) of each job promises the full `Content-Length` but the
    /// connection is closed after half of the body.
    pub truncate_first_download: bool,
    /// Downloads are throttled to this many KiB per second.
    pub download_kib_per_sec: Option<u64>,
    /// The first signed URL issued for each job is already expired (403 `AccessDenied`);
    /// polling the completed job again gives a fresh, valid URL.
    pub expire_first_url: bool,
    /// Replies for a running job omit `result.status` (and use HTTP 200 instead of 202), so
    /// only the absence of a terminal status says the job is still running.
    pub omit_active_status: bool,
    /// Every JSON object in every API reply gets an extra field the client does not know.
    pub extra_fields: bool,
    /// Replies for a running job omit `at_bookmark` (HTTP 202, `status: "active"`), forever:
    /// a client has nothing to poll with, and must not start export after export.
    pub active_without_bookmark: bool,
    /// Downloads carry no `Content-Length` and no chunked framing: the body ends when the
    /// connection closes (with `truncate_first_download`, half-way, which looks the same).
    pub close_delimited_downloads: bool,
    /// After each job's first download, the object behind its URL changes: the dump gets
    /// [`CHANGED_OBJECT_TRAILER`] appended and a new `ETag`.
    pub change_object_after_first_download: bool,
    /// Ranges are answered even when `If-Range` names another version (a server that
    /// ignores `If-Range`): a client must notice the changed `ETag` and size itself.
    pub ignore_if_range: bool,
    /// Every download is labelled with this `Content-Encoding` (the bytes are not re-encoded:
    /// the label alone must stop a client from saving them as SQL).
    pub download_content_encoding: Option<String>,
    /// The Nth API request is answered 502 with an HTML page larger than a client's reply cap
    /// (1.5 MiB), as a proxy would.
    pub oversized_502_at: Option<u64>,
    /// One API request is answered 429 with a (long) `Retry-After`; it never reaches the API.
    pub throttle: Option<Throttle>,
    /// The first download of each job is answered 429 with `Retry-After` of this many
    /// seconds.
    pub first_download_429_secs: Option<u64>,
    /// Every download body is cut (the connection closed) after this many KiB: a link that
    /// breaks again and again, each time after progress.
    pub break_downloads_every_kib: Option<u64>,
    /// The layer in which a lost (cancelled or unknown) job is reported.
    pub job_gone_layer: Layer,
    /// Every start of an export is answered "Currently processing a long-running export", in
    /// this layer.
    pub already_running: Option<Layer>,
    /// The first N uploads of each file (per database and md5) break off: half the body is
    /// read, then the connection is reset without a reply.
    pub failed_uploads: u64,
    /// The first N uploads of each file (after the failed ones) are answered 200 with an
    /// `ETag` that is not the file's md5 (as if bytes had changed in transit), and not kept.
    pub wrong_upload_etags: u64,
    /// Every download stalls: the connection stays open and silent (until the client closes
    /// it or the emulator stops), before its head or after some body bytes.
    pub stall_download: Option<Stall>,
}

/// Where a stalled download stops sending (see [`Faults::stall_download`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// Before the response head: the client waits for the head.
    BeforeHead,
    /// After the head and this many body bytes: the client's body read waits.
    AfterBytes(u64),
}

impl Faults {
    /// True when no fault is enabled.
    pub fn is_off(&self) -> bool {
        *self == Faults::default()
    }
}

/// What to do with an API request before it reaches the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Injection {
    /// Handle it normally.
    None,
    /// Reset the connection without answering.
    Reset,
    /// Answer 503 with an HTML page.
    ServiceUnavailable,
    /// Answer 429 with this `Retry-After` (seconds).
    TooManyRequests(u64),
    /// Answer 502 with an HTML page over the reply cap.
    OversizedBadGateway,
    /// Handle it, then cut the JSON reply short.
    InvalidJson,
}

impl Injection {
    /// A short name for the statistics.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Injection::None => "none",
            Injection::Reset => "reset_connection",
            Injection::ServiceUnavailable => "http_503",
            Injection::TooManyRequests(_) => "http_429",
            Injection::OversizedBadGateway => "oversized_502",
            Injection::InvalidJson => "invalid_json",
        }
    }
}

/// The mutable side of the request-numbered faults.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    api_requests: u64,
    window: Option<(Instant, u64)>,
}

impl FaultState {
    /// Numbers the next API request and decides its fate.
    pub(crate) fn next(&mut self, faults: &Faults, now: Instant) -> Injection {
        self.api_requests += 1;
        let n = self.api_requests;
        if faults.reset_connection_at == Some(n) {
            return Injection::Reset;
        }
        if matches!(faults.http_503_every, Some(every) if every > 0 && n % every == 0) {
            return Injection::ServiceUnavailable;
        }
        if faults.oversized_502_at == Some(n) {
            return Injection::OversizedBadGateway;
        }
        if let Some(t) = faults.throttle.filter(|t| t.at == n) {
            return Injection::TooManyRequests(t.retry_after_secs);
        }
        if let Some(limit) = faults.rate_limit {
            let (start, count) = match self.window {
                Some((start, count)) if now.duration_since(start) < limit.window => (start, count),
                _ => (now, 0),
            };
            if count >= limit.requests {
                self.window = Some((start, count));
                let left = limit.window.saturating_sub(now.duration_since(start));
                let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                return Injection::TooManyRequests(secs.max(1));
            }
            self.window = Some((start, count + 1));
        }
        if faults.invalid_json_at == Some(n) {
            return Injection::InvalidJson;
        }
        Injection::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_and_precedence() {
        let faults = Faults {
            http_503_every: Some(3),
            reset_connection_at: Some(6),
            invalid_json_at: Some(4),
            ..Faults::default()
        };
        let mut state = FaultState::default();
        let now = Instant::now();
        let got: Vec<_> = (0..7).map(|_| state.next(&faults, now)).collect();
        assert_eq!(
            got,
            vec![
                Injection::None,
                Injection::None,
                Injection::ServiceUnavailable,
                Injection::InvalidJson,
                Injection::None,
                Injection::Reset,
                Injection::None,
            ]
        );
    }

    #[test]
    fn an_oversized_502_and_a_single_throttle_hit_their_request_only() {
        let faults = Faults {
            oversized_502_at: Some(2),
            throttle: Some(Throttle {
                at: 3,
                retry_after_secs: 86_400,
            }),
            ..Faults::default()
        };
        let mut state = FaultState::default();
        let now = Instant::now();
        let got: Vec<_> = (0..4).map(|_| state.next(&faults, now)).collect();
        assert_eq!(
            got,
            vec![
                Injection::None,
                Injection::OversizedBadGateway,
                Injection::TooManyRequests(86_400),
                Injection::None,
            ]
        );
    }

    #[test]
    fn rate_limit_fixed_window() {
        let faults = Faults {
            rate_limit: Some(RateLimit {
                requests: 2,
                window: Duration::from_secs(10),
            }),
            ..Faults::default()
        };
        let mut state = FaultState::default();
        let t0 = Instant::now();
        assert_eq!(state.next(&faults, t0), Injection::None);
        assert_eq!(state.next(&faults, t0), Injection::None);
        assert_eq!(
            state.next(&faults, t0 + Duration::from_millis(500)),
            Injection::TooManyRequests(10)
        );
        assert_eq!(
            state.next(&faults, t0 + Duration::from_secs(9)),
            Injection::TooManyRequests(1)
        );
        assert_eq!(
            state.next(&faults, t0 + Duration::from_secs(10)),
            Injection::None
        );
    }
}
