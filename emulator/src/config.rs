//! Configuration of an emulator instance: databases, credentials, timing and faults.

use std::path::PathBuf;
use std::time::Duration;

use crate::faults::Faults;

/// The account id an emulator answers to unless told otherwise.
pub const DEFAULT_ACCOUNT_ID: &str = "0123456789abcdef0123456789abcdef";
/// The API token an emulator accepts unless told otherwise.
pub const DEFAULT_TOKEN: &str = "test-token";

/// One D1 database served by the emulator: a SQLite file under a UUID and a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// The database id, as it appears in API paths (a UUID, e.g. `a1b2c3d4-...`).
    pub uuid: String,
    /// The name shown by the lookup and list endpoints.
    pub name: String,
    /// The SQLite file the dump is generated from (opened read-only), and that an import
    /// writes to (in one transaction).
    pub path: PathBuf,
}

impl DatabaseConfig {
    /// A database named after its UUID.
    pub fn new(uuid: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        let uuid = uuid.into();
        DatabaseConfig {
            name: uuid.clone(),
            uuid,
            path: path.into(),
        }
    }

    /// Sets the database's name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

/// How long an export takes and how long its artefacts live.
///
/// A job completes on the first poll at which **all** of these hold: the dump file has been
/// written, the job has been polled at least [`polls_before_complete`](Self::polls_before_complete)
/// times with its bookmark, and [`min_export_time`](Self::min_export_time) has passed since it
/// started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// Polls carrying the job's bookmark before one may answer `complete` (default 2: the
    /// starting POST and the first poll answer `active`, the second poll can complete).
    /// With 0 the starting POST itself may answer `complete`.
    pub polls_before_complete: u32,
    /// The shortest time from the starting POST to completion (default 0).
    pub min_export_time: Duration,
    /// How long a poll is held open while the job is not ready yet, waiting for it to become
    /// ready (a long poll; default 100 ms). Zero answers at once.
    pub poll_hold: Duration,
    /// An active job whose bookmark has not been polled for this long is cancelled
    /// (default 10 s).
    pub idle_cancel: Duration,
    /// How long a signed download URL stays valid (default one hour, like D1).
    pub url_lifetime: Duration,
    /// The size of one "part" of the upload, for the `Uploaded part N` messages (default 5 MiB).
    pub part_size: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            polls_before_complete: 2,
            min_export_time: Duration::ZERO,
            poll_hold: Duration::from_millis(100),
            idle_cancel: Duration::from_secs(10),
            url_lifetime: Duration::from_secs(3600),
            part_size: 5 * 1024 * 1024,
        }
    }
}

/// Everything an [`Emulator`](crate::Emulator) needs to start.
///
/// ```
/// use std::time::Duration;
/// use d1_emulator::{EmulatorConfig, Faults};
///
/// let config = EmulatorConfig::new()
///     .database("0b1c2d3e-0000-4000-8000-000000000001", "/tmp/app.sqlite")
///     .database_name("0b1c2d3e-0000-4000-8000-000000000001", "app")
///     .token("secret")
///     .idle_cancel(Duration::from_secs(2))
///     .faults(Faults { http_503_every: Some(5), ..Faults::default() });
/// assert_eq!(config.databases[0].name, "app");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatorConfig {
    /// The databases served.
    pub databases: Vec<DatabaseConfig>,
    /// The only account id accepted in paths (default [`DEFAULT_ACCOUNT_ID`]).
    pub account_id: String,
    /// The only bearer token accepted (default [`DEFAULT_TOKEN`]).
    pub token: String,
    /// The loopback port to listen on; 0 picks a free one (the default).
    pub port: u16,
    /// Export timing.
    pub timing: Timing,
    /// Injected faults (all off by default).
    pub faults: Faults,
    /// Where dump files are written (default: a fresh directory under the system temp dir,
    /// removed at shutdown).
    pub work_dir: Option<PathBuf>,
    /// Print one line per request on stderr.
    pub log_requests: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            databases: Vec::new(),
            account_id: DEFAULT_ACCOUNT_ID.to_owned(),
            token: DEFAULT_TOKEN.to_owned(),
            port: 0,
            timing: Timing::default(),
            faults: Faults::default(),
            work_dir: None,
            log_requests: false,
        }
    }
}

impl EmulatorConfig {
    /// The default configuration: no database, default account and token, port 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a database served from the SQLite file at `path` (named after its UUID).
    #[must_use]
    pub fn database(mut self, uuid: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        self.databases.push(DatabaseConfig::new(uuid, path));
        self
    }

    /// Names an already added database. Does nothing if no database has that UUID.
    #[must_use]
    pub fn database_name(mut self, uuid: &str, name: impl Into<String>) -> Self {
        if let Some(db) = self.databases.iter_mut().find(|d| d.uuid == uuid) {
            db.name = name.into();
        }
        self
    }

    /// Sets the account id.
    #[must_use]
    pub fn account_id(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = account_id.into();
        self
    }

    /// Sets the accepted API token.
    #[must_use]
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }

    /// Sets the port (0 = any free port).
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Replaces the whole timing configuration.
    #[must_use]
    pub fn timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// Sets [`Timing::polls_before_complete`].
    #[must_use]
    pub fn polls_before_complete(mut self, polls: u32) -> Self {
        self.timing.polls_before_complete = polls;
        self
    }

    /// Sets [`Timing::min_export_time`].
    #[must_use]
    pub fn min_export_time(mut self, time: Duration) -> Self {
        self.timing.min_export_time = time;
        self
    }

    /// Sets [`Timing::poll_hold`].
    #[must_use]
    pub fn poll_hold(mut self, hold: Duration) -> Self {
        self.timing.poll_hold = hold;
        self
    }

    /// Sets [`Timing::idle_cancel`].
    #[must_use]
    pub fn idle_cancel(mut self, window: Duration) -> Self {
        self.timing.idle_cancel = window;
        self
    }

    /// Sets [`Timing::url_lifetime`].
    #[must_use]
    pub fn url_lifetime(mut self, lifetime: Duration) -> Self {
        self.timing.url_lifetime = lifetime;
        self
    }

    /// Replaces the fault configuration.
    #[must_use]
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Sets the directory dump files are written to (it is created if missing and not removed).
    #[must_use]
    pub fn work_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.work_dir = Some(dir.into());
        self
    }

    /// Prints one line per request on stderr.
    #[must_use]
    pub fn log_requests(mut self, on: bool) -> Self {
        self.log_requests = on;
        self
    }
}
