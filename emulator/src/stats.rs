//! Counters describing what clients did, for tests and benchmarks to assert on.

use std::collections::BTreeMap;

use serde::Serialize;

/// A snapshot of the emulator's counters ([`Emulator::stats`](crate::Emulator::stats), or
/// `GET /__emulator/stats` as JSON with these field names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Requests by route, then by HTTP status. Routes are named like
    /// `"POST /accounts/:account/d1/database/:database/export"`,
    /// `"GET /accounts/:account/d1/database/:database/time_travel/bookmark"`,
    /// `"GET /__download"` or `"GET /__emulator/stats"`. A connection reset without a reply counts under status 0.
    pub requests: BTreeMap<String, BTreeMap<u16, u64>>,
    /// For each job (by bookmark): the requests carrying its bookmark. A later export of an
    /// unchanged database has the same bookmark, so it starts this count again.
    pub polls_per_job: BTreeMap<String, u64>,
    /// Jobs started.
    pub jobs_created: u64,
    /// Jobs that reached `complete`.
    pub jobs_completed: u64,
    /// Jobs that ended in `error`.
    pub jobs_failed: u64,
    /// Jobs cancelled because nobody polled them in time (or at shutdown).
    pub jobs_cancelled: u64,
    /// Downloads (GET) whose whole response body was written.
    pub downloads_completed: u64,
    /// Downloads (GET) answered 206 to a `Range` request.
    pub downloads_ranged: u64,
    /// Download attempts refused because the signed URL had expired.
    pub downloads_expired: u64,
    /// Downloads cut short on purpose (the truncation fault).
    pub downloads_truncated: u64,
    /// Download requests (GET or HEAD) that carried an `Authorization` header. A client must
    /// never send its API token to the signed URL's host, so this should stay 0.
    pub downloads_with_authorization: u64,
    /// Imports started (by `init` of a file already uploaded, or by `ingest`).
    pub imports_created: u64,
    /// Imports applied and committed.
    pub imports_completed: u64,
    /// Imports that failed (and were rolled back).
    pub imports_failed: u64,
    /// Upload requests (`PUT` of an upload URL), whatever their outcome.
    pub uploads: u64,
    /// Uploads whose whole body arrived.
    pub uploads_completed: u64,
    /// Upload requests that carried an `Authorization` header (should stay 0: the upload URL
    /// is presigned, and the API token must not go to its host).
    pub uploads_with_authorization: u64,
    /// Bytes of upload bodies received whole.
    pub bytes_uploaded: u64,
    /// The body size of the last upload received whole.
    pub last_upload_bytes: u64,
    /// How long the last upload's body took to arrive, in nanoseconds: from the end of its
    /// request head (after any `100 Continue`) to its last byte on disk. The same clock for
    /// every client, so upload throughputs compare fairly.
    pub last_upload_nanos: u64,
    /// Dump bytes written to download responses.
    pub bytes_served: u64,
    /// Faults injected, by name (`http_503`, `http_429`, `invalid_json`, `reset_connection`,
    /// `truncated_download`, `expired_url`, `failed_upload`, `wrong_upload_etag`).
    pub faults_injected: BTreeMap<String, u64>,
}

impl Stats {
    /// The number of requests to `route` (any status).
    pub fn requests_to(&self, route: &str) -> u64 {
        self.requests.get(route).map_or(0, |m| m.values().sum())
    }

    /// The number of requests answered with `status`, over all routes.
    pub fn requests_with_status(&self, status: u16) -> u64 {
        self.requests.values().filter_map(|m| m.get(&status)).sum()
    }

    /// The number of injections of the named fault.
    pub fn faults(&self, name: &str) -> u64 {
        self.faults_injected.get(name).copied().unwrap_or(0)
    }

    pub(crate) fn record_request(&mut self, route: &str, status: u16) {
        *self
            .requests
            .entry(route.to_owned())
            .or_default()
            .entry(status)
            .or_default() += 1;
    }

    pub(crate) fn record_fault(&mut self, name: &str) {
        *self.faults_injected.entry(name.to_owned()).or_default() += 1;
    }
}
