//! `Client::builder()` for both drivers: plain strings in, every check at `build()`.

use crate::config::{ClientConfig, JitterSeed};
use crate::error::Error;
use d1_export_core::{ApiBase, ApiToken, DownloadPolicy, JobGonePolicy, Pacing, RetryPolicy};
use std::time::Duration;

/// A driver's client, as [`ClientBuilder::build`] makes it.
pub trait BuildClient: Sized {
    /// The HTTP client a caller may bring (`reqwest::Client`, `ureq::Agent`).
    type Http;

    /// The client from checked settings and, if given, the caller's HTTP client.
    fn from_parts(config: ClientConfig, http: Option<Self::Http>) -> Result<Self, Error>;
}

/// Builds a driver's `Client` (`d1_export_ureq::Client::builder()`,
/// `d1_export_reqwest::Client::builder()`).
///
/// Setters take plain strings and never fail; [`build`](Self::build) checks everything (the
/// API base, the token, and the policies with the core's own
/// [`Config::validate`](d1_export_core::Config::validate)) and fails with an [`ErrorKind::Config`](crate::ErrorKind::Config)
/// error. Without [`token`](Self::token) the token comes from `CLOUDFLARE_API_TOKEN`;
/// without [`api_base`](Self::api_base) the base from `CLOUDFLARE_API_BASE_URL` or the
/// real API.
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder<C: BuildClient> {
    api_base: Option<String>,
    token: Option<Secret>,
    values: Values,
    http: Option<C::Http>,
}

/// The token as given, hidden from `Debug`.
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, Default)]
struct Values {
    retry: Option<RetryPolicy>,
    pacing: Option<Pacing>,
    download: Option<DownloadPolicy>,
    job_gone: Option<JobGonePolicy>,
    deadline: Option<Duration>,
    connect_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    user_agent: Option<String>,
    proxy_from_env: Option<bool>,
    jitter: Option<JitterSeed>,
    fail_fast: bool,
}

impl<C: BuildClient> Default for ClientBuilder<C> {
    fn default() -> Self {
        Self {
            api_base: None,
            token: None,
            values: Values::default(),
            http: None,
        }
    }
}

impl<C: BuildClient> ClientBuilder<C> {
    /// A builder with the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The API base, `/client/v4` included (`https`, or `http` for a loopback emulator).
    pub fn api_base(mut self, url: impl Into<String>) -> Self {
        self.api_base = Some(url.into());
        self
    }

    /// The API token (never logged, never shown by `Debug`, sent to the API base only).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Secret(token.into()));
        self
    }

    /// Uses the caller's HTTP client (shared connection pool, custom roots, proxies). See the
    /// driver's documentation for the settings it must have.
    pub fn http_client(mut self, http: C::Http) -> Self {
        self.http = Some(http);
        self
    }

    /// The retry policy (see [`RetryPolicy`]).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.values.retry = Some(retry);
        self
    }

    /// The poll pacing.
    pub fn pacing(mut self, pacing: Pacing) -> Self {
        self.values.pacing = Some(pacing);
        self
    }

    /// The download policy.
    pub fn download(mut self, download: DownloadPolicy) -> Self {
        self.values.download = Some(download);
        self
    }

    /// What to do when the service loses the job.
    pub fn job_gone(mut self, policy: JobGonePolicy) -> Self {
        self.values.job_gone = Some(policy);
        self
    }

    /// The deadline of a whole run.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.values.deadline = Some(deadline);
        self
    }

    /// The connect timeout (with [`http_client`](Self::http_client), set it there instead).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.values.connect_timeout = Some(timeout);
        self
    }

    /// The per-read timeout (with [`http_client`](Self::http_client), set it there instead).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.values.read_timeout = Some(timeout);
        self
    }

    /// The `User-Agent` (with [`http_client`](Self::http_client), set it there instead).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.values.user_agent = Some(user_agent.into());
        self
    }

    /// Uses the proxy environment variables (with [`http_client`](Self::http_client), set
    /// proxies there instead).
    pub fn proxy_from_env(mut self, on: bool) -> Self {
        self.values.proxy_from_env = Some(on);
        self
    }

    /// Pins the back-off's jitter seed (tests); by default every machine draws one from the OS.
    pub fn jitter(mut self, jitter: JitterSeed) -> Self {
        self.values.jitter = Some(jitter);
        self
    }

    /// The fail-fast preset ([`ClientConfig::fail_fast`]); the other setters still apply
    /// over it.
    pub fn fail_fast(mut self) -> Self {
        self.values.fail_fast = true;
        self
    }

    /// The checked settings the client would get.
    pub fn config(&self) -> Result<ClientConfig, Error> {
        let token = match &self.token {
            Some(t) => ApiToken::new(&t.0)?,
            None => ClientConfig::from_env()?.core.token,
        };
        let base = match &self.api_base {
            Some(b) => ApiBase::new(b)?,
            None => match std::env::var(crate::config::ENV_API_BASE) {
                Ok(b) if !b.trim().is_empty() => ApiBase::new(&b)?,
                _ => ApiBase::default(),
            },
        };
        let v = &self.values;
        let mut c = ClientConfig::new(base, token);
        if v.fail_fast {
            c = c.fail_fast();
        }
        c.core.retry = v.retry.unwrap_or(c.core.retry);
        c.core.pacing = v.pacing.unwrap_or(c.core.pacing);
        c.core.download = v.download.unwrap_or(c.core.download);
        c.core.job_gone = v.job_gone.unwrap_or(c.core.job_gone);
        c.core.deadline = v.deadline.unwrap_or(c.core.deadline);
        c.connect_timeout = v.connect_timeout.unwrap_or(c.connect_timeout);
        c.read_timeout = v.read_timeout.unwrap_or(c.read_timeout);
        c.proxy_from_env = v.proxy_from_env.unwrap_or(c.proxy_from_env);
        c.jitter = v.jitter.unwrap_or(c.jitter);
        if let Some(ua) = &v.user_agent {
            c.user_agent.clone_from(ua);
        }
        // The core's own check, here rather than at the first call.
        c.core.validate()?;
        Ok(c)
    }

    /// Checks the settings and builds the client.
    pub fn build(self) -> Result<C, Error> {
        let config = self.config()?;
        C::from_parts(config, self.http)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fake(ClientConfig, Option<u8>);

    impl BuildClient for Fake {
        type Http = u8;
        fn from_parts(config: ClientConfig, http: Option<u8>) -> Result<Self, Error> {
            Ok(Self(config, http))
        }
    }

    #[test]
    fn builder_checks_at_build_and_applies_settings_over_the_preset() {
        let bad = ClientBuilder::<Fake>::new()
            .api_base("http://api.example/client/v4")
            .token("t")
            .build()
            .unwrap_err();
        assert_eq!(bad.kind(), crate::ErrorKind::Config);
        let bad = ClientBuilder::<Fake>::new()
            .api_base("https://api.example/client/v4")
            .token("")
            .build()
            .unwrap_err();
        assert_eq!(bad.kind(), crate::ErrorKind::Config);
        let builder = ClientBuilder::<Fake>::new()
            .api_base(String::from("https://api.example/client/v4/"))
            .token("s3cr3t")
            .fail_fast()
            .read_timeout(Duration::from_secs(7))
            .jitter(JitterSeed::Fixed(3))
            .http_client(9);
        assert!(!format!("{builder:?}").contains("s3cr3t"));
        let Fake(c, http) = builder.build().unwrap();
        assert_eq!(c.core.api_base.as_str(), "https://api.example/client/v4");
        assert_eq!(c.core.retry.max_attempts, 2);
        assert_eq!(c.read_timeout, Duration::from_secs(7));
        assert_eq!(c.jitter, JitterSeed::Fixed(3));
        assert_eq!(http, Some(9));
    }

    #[test]
    fn build_refuses_inconsistent_policies_with_the_cores_error() {
        let base = || {
            ClientBuilder::<Fake>::new()
                .api_base("https://api.example/client/v4")
                .token("t")
        };
        let zero = RetryPolicy {
            max_attempts: 0,
            ..RetryPolicy::default()
        };
        let inverted = Pacing {
            min_interval: Duration::from_secs(10),
            max_gap: Duration::from_secs(1),
        };
        let config = base().config().unwrap();
        for (bad, core) in [
            (
                base().retry(zero).build().unwrap_err(),
                config.clone().retry(zero),
            ),
            (
                base().pacing(inverted).build().unwrap_err(),
                config.clone().pacing(inverted),
            ),
        ] {
            assert_eq!(bad.kind(), crate::ErrorKind::Config, "{bad}");
            // The same error the core gives when a machine is made from these settings.
            let later = core.export(&d1_export_core::Job {
                account: d1_export_core::AccountId::new("0123456789abcdef0123456789abcdef")
                    .unwrap(),
                database: d1_export_core::DatabaseId::new("0a1b2c3d-0000-4000-8000-00000000abcd")
                    .unwrap(),
                options: d1_export_core::DumpOptions::default(),
            });
            assert_eq!(bad.to_string(), later.unwrap_err().to_string());
        }
        assert!(base().fail_fast().build().is_ok());
    }
}
