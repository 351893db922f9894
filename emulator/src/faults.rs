//! Deterministic fault injection.
//!
//! API requests (everything under `/client/v4`) are numbered from 1 in arrival order, whatever
//! their route, outcome or connection. The request-numbered faults below refer to that number.
//! When several faults hit the same request the first in this list wins: reset connection,
//! 503, 429, invalid JSON. A request answered by a reset, a 503 or a 429 never reaches the
//! API (nothing is started, polled or counted as a poll); an invalid-JSON reply is the real
//! reply, processed as usual, with its body cut short in transit.
//!
//! Download faults (truncation, first URL expired) apply once **per export job**, so a client
//! that resumes or re-polls can finish; upload faults (a failed upload, a wrong `ETag`) hit the
//! first N uploads of each file, so a client that uploads again can finish (or not, for a
//! large N).

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
    /// The first N uploads of each file (per database and md5) break off: half the body is
    /// read, then the connection is reset without a reply.
    pub failed_uploads: u64,
    /// The first N uploads of each file (after the failed ones) are answered 200 with an
    /// `ETag` that is not the file's md5 (as if bytes had changed in transit), and not kept.
    pub wrong_upload_etags: u64,
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
