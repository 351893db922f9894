//! Configuration: where the API is, who we are, and the pacing, retry and download policies.

use crate::ids::{AccountId, DatabaseId};
use crate::options::DumpOptions;
use crate::secret::ApiToken;
use std::fmt;
use std::time::Duration;

/// The default API base, `/client/v4` included (like wrangler's `CLOUDFLARE_API_BASE_URL`).
pub const DEFAULT_API_BASE: &str = "https://api.cloudflare.com/client/v4";

/// The API base URL. `https` is required, except for loopback hosts (a local emulator).
#[derive(Clone, PartialEq, Eq)]
pub struct ApiBase(String);

/// Why an API base was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid API base: {0}")]
pub struct InvalidApiBase(pub String);

/// Whether a URL host is a loopback address or `localhost`.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

impl ApiBase {
    /// Parses and checks an API base such as `https://api.cloudflare.com/client/v4`.
    pub fn new(url: &str) -> Result<Self, InvalidApiBase> {
        let trimmed = url.trim().trim_end_matches('/');
        let uri: http::Uri = trimmed
            .parse()
            .map_err(|_| InvalidApiBase(format!("{trimmed:?} is not a URL")))?;
        let host = uri
            .host()
            .ok_or_else(|| InvalidApiBase(format!("{trimmed:?} has no host")))?;
        if uri.query().is_some() || trimmed.contains('#') {
            return Err(InvalidApiBase(format!(
                "{trimmed:?} must not have a query or fragment"
            )));
        }
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if is_loopback_host(host) => {}
            Some("http") => {
                return Err(InvalidApiBase(format!(
                    "{trimmed:?} is plain http; only https is allowed (http only for loopback)"
                )))
            }
            _ => {
                return Err(InvalidApiBase(format!(
                    "{trimmed:?} must start with https://"
                )))
            }
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The base as a string, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for ApiBase {
    fn default() -> Self {
        Self(DEFAULT_API_BASE.to_owned())
    }
}

impl fmt::Display for ApiBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ApiBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiBase({:?})", self.0)
    }
}

/// How often to poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// The least time between the start of one poll and the start of the next. A reply the
    /// service held open at least this long (a long-poll) is followed by the next poll at once.
    pub min_interval: Duration,
    /// The most time allowed between polls of a running export, retries included, so the
    /// service never cancels it for want of polling (its limit is not published).
    pub max_gap: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_secs(1),
            max_gap: Duration::from_secs(5),
        }
    }
}

/// How to retry what may succeed on a second try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts of one request, the first included, before giving up.
    pub max_attempts: u32,
    /// The back-off ceiling of the first retry; doubled for each further one.
    pub initial_backoff: Duration,
    /// The back-off ceiling.
    pub max_backoff: Duration,
    /// The most a `Retry-After` is honoured.
    pub max_retry_after: Duration,
    /// Seed of the jitter generator (full jitter: a uniform delay in `[0, ceiling]`).
    ///
    /// Randomness is an input of the core, like time: the default is a **constant**, so that
    /// tests and simulations are reproducible. A driver must draw a fresh seed from the
    /// operating system for every machine it starts (`getrandom::u64()`, as
    /// `d1-export-transport`'s `JitterSeed::FromOs` does); otherwise every export in every
    /// process waits the same "random" delays and concurrent exports retry in lockstep.
    pub jitter_seed: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            jitter_seed: 0x0d1e_4b0e_c0ff_ee01,
        }
    }
}

/// What to do when the service says the export job is gone (cancelled, unknown bookmark),
/// in whichever layer of the reply it says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobGonePolicy {
    /// Fail with [`crate::Error::JobGone`] (restarts forbidden).
    Fail,
    /// Start one new export (reported as [`crate::Event::ExportRestarted`]); fail if that one
    /// goes too. The default: a pause the service forced (a long `Retry-After`) may outlast
    /// its own cancel-if-unpolled limit.
    #[default]
    RestartOnce,
}

/// How downloads are checked and recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadPolicy {
    /// Resumptions (or restarts) of a broken download before giving up.
    pub max_resumes: u32,
    /// Polls for a fresh signed URL after the service answered 403 (expired URL).
    pub max_url_refreshes: u32,
}

impl Default for DownloadPolicy {
    fn default() -> Self {
        Self {
            max_resumes: 8,
            max_url_refreshes: 3,
        }
    }
}

/// Everything an export needs to know besides the job itself.
///
/// A driver sets [`RetryPolicy::jitter_seed`] per machine from the OS (the default is a
/// constant, for deterministic tests). [`Config::validate`] checks the policies; every
/// machine's constructor calls it, and a driver may call it early (at `build()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The API base.
    pub api_base: ApiBase,
    /// The API token, sent to the API base only.
    pub token: ApiToken,
    /// Poll pacing.
    pub pacing: Pacing,
    /// Retries and back-off.
    pub retry: RetryPolicy,
    /// Download resumption.
    pub download: DownloadPolicy,
    /// What to do when the job disappears.
    pub job_gone: JobGonePolicy,
    /// The whole run, download included, must end within this much time of its start.
    pub deadline: Duration,
    /// The largest API reply body accepted; a driver reads at most one byte more.
    pub max_reply_bytes: usize,
    /// Consecutive replies with a status this crate does not know, treated as "still
    /// running", before giving up with [`crate::Error::Protocol`].
    pub max_unknown_status: u32,
}

impl Config {
    /// A configuration with default policies.
    pub fn new(api_base: ApiBase, token: ApiToken) -> Self {
        Self {
            api_base,
            token,
            pacing: Pacing::default(),
            retry: RetryPolicy::default(),
            download: DownloadPolicy::default(),
            job_gone: JobGonePolicy::default(),
            deadline: Duration::from_secs(6 * 3600),
            max_reply_bytes: 1 << 20,
            max_unknown_status: 30,
        }
    }

    /// Checks that the policies are consistent: `pacing.min_interval` not above
    /// `pacing.max_gap`, and a non-zero `retry.max_attempts`. Every machine's constructor
    /// checks this; it is public so a driver can refuse bad settings before any run.
    pub fn validate(&self) -> Result<(), crate::export::SetupError> {
        use crate::export::SetupError;
        if self.pacing.min_interval > self.pacing.max_gap {
            return Err(SetupError::Policy("min_interval is above max_gap"));
        }
        if self.retry.max_attempts == 0 {
            return Err(SetupError::Policy("max_attempts is zero"));
        }
        Ok(())
    }
}

/// One export to run: which database, and what to dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The account.
    pub account: AccountId,
    /// The database.
    pub database: DatabaseId,
    /// The dump options, sent unchanged on every request.
    pub options: DumpOptions,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases() {
        assert_eq!(ApiBase::default().as_str(), DEFAULT_API_BASE);
        assert_eq!(
            ApiBase::new("https://x.example/client/v4/")
                .unwrap()
                .as_str(),
            "https://x.example/client/v4"
        );
        assert!(ApiBase::new("http://127.0.0.1:8787/client/v4").is_ok());
        assert!(ApiBase::new("http://localhost:8787/client/v4").is_ok());
        assert!(ApiBase::new("http://[::1]:8787/client/v4").is_ok());
        assert!(ApiBase::new("http://api.example/client/v4").is_err());
        assert!(ApiBase::new("ftp://127.0.0.1/").is_err());
        assert!(ApiBase::new("https://x.example/v4?a=b").is_err());
        assert!(ApiBase::new("").is_err());
        assert!(ApiBase::new("/client/v4").is_err());
    }
}
