//! Client settings shared by both drivers.

use crate::error::Error;
use d1_export_core::lookup::{self, Call, Page};
use d1_export_core::wire::DatabaseInfo;
use d1_export_core::{AccountId, DatabaseId, Export, Job};
use d1_export_core::{
    ApiBase, ApiToken, Config, DownloadPolicy, JobGonePolicy, Pacing, RetryPolicy,
};
use std::time::{Duration, Instant};

/// The `User-Agent` both drivers send: `d1-export/<version>`.
pub const USER_AGENT: &str = concat!("d1-export/", env!("CARGO_PKG_VERSION"));

/// The environment variable holding the API token (as wrangler names it).
pub const ENV_TOKEN: &str = "CLOUDFLARE_API_TOKEN";
/// The environment variable holding the account id.
pub const ENV_ACCOUNT_ID: &str = "CLOUDFLARE_ACCOUNT_ID";
/// The environment variable holding the API base, `/client/v4` included.
pub const ENV_API_BASE: &str = "CLOUDFLARE_API_BASE_URL";

/// How a driver talks to the API: the core's [`Config`] (API base, token, pacing, retry and
/// download policies) plus the HTTP settings that only a driver has.
///
/// There is deliberately no total timeout: a long download must not be killed by one. The
/// core's [`Config::deadline`] bounds the whole run instead.
///
/// `Debug` never shows the token.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The protocol settings, executed by the core.
    pub core: Config,
    /// The longest wait for a TCP (and TLS) connection (default 15 s).
    pub connect_timeout: Duration,
    /// The longest wait for any single read of a reply or download (default 90 s: the API
    /// answers within 30 s, long-polls included).
    pub read_timeout: Duration,
    /// The `User-Agent` header (default [`USER_AGENT`]).
    pub user_agent: String,
    /// Use the `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` environment variables (default `false`:
    /// connect directly, the same in both drivers).
    pub proxy_from_env: bool,
    /// The size of the buffer a download is streamed through (default 256 KiB). Memory use
    /// does not grow with the size of the dump.
    pub buffer_size: usize,
    /// Where the retry back-off's randomness comes from (default: the OS, per machine).
    pub jitter: JitterSeed,
}

/// The seed of the retry back-off's jitter. Randomness is an input of the core, like time:
/// by default each machine (each export, each lookup) gets a fresh seed from the operating
/// system, so concurrent exports (in one process or in many) never retry in lockstep. Tests
/// that need reproducible delays pin one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JitterSeed {
    /// A fresh seed from the OS for every machine (the default).
    #[default]
    FromOs,
    /// This seed for every machine (deterministic back-off).
    Fixed(u64),
}

impl JitterSeed {
    /// The seed for the next machine.
    pub fn draw(self) -> u64 {
        match self {
            Self::Fixed(seed) => seed,
            // An OS without a random source still gets distinct seeds per machine and process.
            Self::FromOs => getrandom::u64().unwrap_or_else(|_| fallback_seed()),
        }
    }
}

fn fallback_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    RandomState::new().hash_one((std::process::id(), n, std::time::SystemTime::now()))
}

impl ClientConfig {
    /// Settings with the default policies for this API base and token.
    pub fn new(api_base: ApiBase, token: ApiToken) -> Self {
        Self::from_core(Config::new(api_base, token))
    }

    /// Settings around an existing core configuration.
    pub fn from_core(core: Config) -> Self {
        Self {
            core,
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(90),
            user_agent: USER_AGENT.to_owned(),
            proxy_from_env: false,
            buffer_size: 256 * 1024,
            jitter: JitterSeed::FromOs,
        }
    }

    /// The core configuration for one new machine: [`ClientConfig::core`] with a jitter seed
    /// drawn as [`ClientConfig::jitter`] says.
    pub fn machine_config(&self) -> Config {
        let mut core = self.core.clone();
        core.retry.jitter_seed = self.jitter.draw();
        core
    }

    /// A new export machine for `job` (fresh jitter seed, started now).
    pub fn export(&self, job: &Job) -> Result<Export, Error> {
        Ok(Export::new(
            self.machine_config(),
            job.clone(),
            Instant::now(),
        )?)
    }

    /// A new lookup machine: a database by name, or an id checked.
    pub fn find_database(
        &self,
        account: &AccountId,
        name_or_id: &str,
    ) -> Result<Call<DatabaseInfo>, Error> {
        lookup::find_database(self.machine_config(), account, name_or_id, Instant::now())
            .map_err(|e| Error::Config(e.to_string()))
    }

    /// A new lookup machine: one page of the account's databases (`page` from 1).
    pub fn list_databases(
        &self,
        account: &AccountId,
        page: u32,
        per_page: u32,
    ) -> Result<Call<Page>, Error> {
        lookup::list_databases(
            self.machine_config(),
            account,
            page,
            per_page,
            Instant::now(),
        )
        .ok_or_else(|| Error::Config("cannot form the list URL".to_owned()))
    }

    /// A new lookup machine: the database's current time-travel bookmark.
    pub fn current_bookmark(
        &self,
        account: &AccountId,
        database: &DatabaseId,
    ) -> Result<Call<String>, Error> {
        lookup::current_bookmark(self.machine_config(), account, database, Instant::now())
            .ok_or_else(|| Error::Config("cannot form the bookmark URL".to_owned()))
    }

    /// Fail fast instead of riding out outages: 2 attempts per request with short back-off,
    /// a 5 s connect timeout and a 30 s read timeout (the API holds a long-poll up to ~30 s).
    /// A refused connection gives up in about a second (two attempts, paced 1 s apart), an
    /// unreachable host after two connect timeouts, instead of the default's ~50 s; a
    /// running export is still polled and downloaded as usual. For interactive tools and
    /// health checks.
    #[must_use]
    pub fn fail_fast(mut self) -> Self {
        self.core.retry = RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(5),
            ..self.core.retry
        };
        self.connect_timeout = Duration::from_secs(5);
        self.read_timeout = Duration::from_secs(35);
        self
    }

    /// Pins the jitter seed (see [`JitterSeed`]).
    #[must_use]
    pub fn jitter(mut self, jitter: JitterSeed) -> Self {
        self.jitter = jitter;
        self
    }

    /// Settings from wrangler's environment variables: the token from
    /// `CLOUDFLARE_API_TOKEN` (required) and the API base from `CLOUDFLARE_API_BASE_URL`
    /// (default: the real API).
    pub fn from_env() -> Result<Self, Error> {
        let token = std::env::var(ENV_TOKEN)
            .map_err(|_| Error::Config(format!("{ENV_TOKEN} is not set")))?;
        let token =
            ApiToken::new(&token).map_err(|e| Error::Config(format!("{ENV_TOKEN}: {e}")))?;
        let base = match std::env::var(ENV_API_BASE) {
            Ok(b) if !b.trim().is_empty() => {
                ApiBase::new(&b).map_err(|e| Error::Config(format!("{ENV_API_BASE}: {e}")))?
            }
            _ => ApiBase::default(),
        };
        Ok(Self::new(base, token))
    }

    /// Sets the connect timeout.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the per-read timeout.
    #[must_use]
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Sets the `User-Agent`.
    #[must_use]
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Uses (or not) the proxy environment variables.
    #[must_use]
    pub fn proxy_from_env(mut self, on: bool) -> Self {
        self.proxy_from_env = on;
        self
    }

    /// Sets the download buffer size (at least 4 KiB).
    #[must_use]
    pub fn buffer_size(mut self, bytes: usize) -> Self {
        self.buffer_size = bytes.max(4096);
        self
    }

    /// Sets the core's poll pacing.
    #[must_use]
    pub fn pacing(mut self, pacing: Pacing) -> Self {
        self.core.pacing = pacing;
        self
    }

    /// Sets the core's retry policy.
    #[must_use]
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.core.retry = retry;
        self
    }

    /// Sets the core's download policy.
    #[must_use]
    pub fn download(mut self, download: DownloadPolicy) -> Self {
        self.core.download = download;
        self
    }

    /// Sets what the core does when the service loses the job.
    #[must_use]
    pub fn job_gone(mut self, policy: JobGonePolicy) -> Self {
        self.core.job_gone = policy;
        self
    }

    /// Sets the deadline of a whole run.
    #[must_use]
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.core.deadline = deadline;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_get_fresh_seeds_unless_one_is_pinned() {
        let c = ClientConfig::new(ApiBase::default(), ApiToken::new("t").unwrap());
        let seeds: std::collections::HashSet<_> = (0..20)
            .map(|_| c.machine_config().retry.jitter_seed)
            .collect();
        assert_eq!(seeds.len(), 20, "OS seeds repeat");
        let c = c.jitter(JitterSeed::Fixed(7));
        assert_eq!(c.machine_config().retry.jitter_seed, 7);
        assert_eq!(c.machine_config().retry.jitter_seed, 7);
    }

    #[test]
    fn debug_hides_token_and_user_agent_names_us() {
        let c = ClientConfig::new(ApiBase::default(), ApiToken::new("s3cr3t-t0ken").unwrap());
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(USER_AGENT.starts_with("d1-export/"));
        assert_eq!(c.buffer_size(1).buffer_size, 4096);
    }
}
