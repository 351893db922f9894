//! A local emulator of the Cloudflare D1 export API over real SQLite files, with
//! deterministic fault injection.
//!
//! It serves, on `127.0.0.1`, the endpoints a D1 export client uses:
//!
//! | Request | Answer |
//! | --- | --- |
//! | `POST /client/v4/accounts/{account}/d1/database/{uuid}/export` | start or poll an export job |
//! | `GET /client/v4/accounts/{account}/d1/database/{name-or-uuid}` | `result: {uuid, name, created_at, version, num_tables, file_size}` |
//! | `GET /client/v4/accounts/{account}/d1/database?page=&per_page=&name=` | `result: [...]`, `result_info: {page, per_page, count, total_count}` (`name` matches a substring) |
//! | `GET /client/v4/accounts/{account}/d1/database/{uuid}/time_travel/bookmark` | `result: {bookmark}`: the database's current time-travel bookmark (`?timestamp=` is ignored) |
//! | `POST /client/v4/accounts/{account}/d1/database/{uuid}/import` | restore a dump: `init` / `ingest` / `poll` (see [`import`]) |
//! | `GET`/`HEAD /__download/<token>/<file>.sql?X-Amz-...` | the signed URL: the dump, with `Range` support |
//! | `PUT /__upload/<token>/<file>.sql?X-Amz-...` | the upload URL of an import: `ETag` = md5 of what arrived |
//! | `GET /__emulator/stats` | [`Stats`] as JSON |
//!
//! The dump is real: it is generated from the SQLite file with the bundled SQLite, in D1's
//! format (see [`dump`]), written to disk as a stream and served from there.
//!
//! # The export protocol, as emulated
//!
//! - The first POST (no `current_bookmark`) starts a job and answers **202** with
//!   `result: {success: true, type: "export", at_bookmark, status: "active", messages}`;
//!   `messages` are the log lines since the previous reply: `Generating <file>`,
//!   `Uploaded part 2`, `Uploaded part 1`, ... (pairs out of order).
//! - Polls repeat the body with `current_bookmark`. A poll is held open up to
//!   [`Timing::poll_hold`] while the job is not ready. Once the dump is written and the
//!   [`Timing`] conditions hold, the answer is **200** with `status: "complete"`,
//!   `result: {filename, signed_url}` and the message `Finished uploading <file> in N parts.`.
//!   Polling a completed job again answers `complete` again, with a fresh URL if the previous
//!   one expired.
//! - An active job not polled for [`Timing::idle_cancel`] is cancelled.
//!
//! # Bookmarks
//!
//! A job's `at_bookmark` is the database's time-travel bookmark when the export started: the
//! same value `GET …/time_travel/bookmark` answers at that moment. Bookmarks are shaped like
//! D1's (`00000001-xxxxxxxx-xxxxxxxx-<32 hex>`) and derived from the database id and the
//! state of its SQLite file (and `-wal` file): size, modification time, inode and header. So
//! a bookmark stays the same while the file is unchanged (exporting it changes nothing) and
//! changes with any write; each database has its own, even when several share one file.
//! Two exports of an unchanged database one after the other therefore carry the same
//! bookmark: a poll with it reaches the newer job, while the older job's signed URLs keep
//! working.
//!
//! # Error shapes
//!
//! Envelope errors are `{"success":false,"errors":[{"code":N,"message":"..."}],"messages":[],"result":null}`:
//!
//! | Case | HTTP | code |
//! | --- | --- | --- |
//! | no `Authorization` header | 401 | 10000 `Authentication error` |
//! | wrong token or scheme | 403 | 10000 `Authentication error` |
//! | account id not 32 hex digits, database id not a UUID (export) | 400 | 7003 `Could not route to ..., perhaps your object identifier is invalid?` |
//! | another account | 403 | 7403 |
//! | unknown database | 404 | 7404 |
//! | unknown API route | 404 | 7000 |
//! | wrong method | 405 | 10405 |
//! | malformed JSON body, `output_format` not `"polling"`, invalid `dump_options` (e.g. `compatibility` with `no_data`/`no_schema`, or both of those) | 400 | 7400 |
//! | **a new export while one is active** on that database | **409** | **7500** [`ALREADY_RUNNING`] |
//! | rate limited (fault) | 429 | 971, with `Retry-After` |
//!
//! Export failures are HTTP 200 with `success: true` in the envelope:
//!
//! - **Virtual tables** (D1 format):
//!   `result: {success: true, type: "export", at_bookmark, status: "error", error: "cannot export databases with Virtual Tables (fts5)", messages}`.
//! - **Job gone** (a bookmark that is unknown, belongs to another database, or whose job was
//!   cancelled): `result: {success: true, type: "export", at_bookmark, status: "error",
//!   error: "Export job not found or cancelled for bookmark <bookmark>", messages: []}` — the
//!   error starts with [`JOB_GONE_PREFIX`].
//! - **The dump failed** (e.g. the SQLite file is unreadable): `result: {success: false,
//!   error: "Export failed: ..."}` (wrangler's `PollingFailure`).
//!
//! Faults are described in [`Faults`] and the [`faults`] module.
//!
//! # Example
//!
//! ```no_run
//! use d1_emulator::{Emulator, EmulatorConfig, DumpOptions};
//!
//! # fn main() -> std::io::Result<()> {
//! let uuid = "0b1c2d3e-0000-4000-8000-000000000001";
//! d1_emulator::sample::generate("app.sqlite".as_ref(), 1 << 20).expect("sample");
//! let emulator = Emulator::start(EmulatorConfig::new().database(uuid, "app.sqlite"))?;
//! println!("API base: {}", emulator.base_url()); // http://127.0.0.1:PORT/client/v4
//! println!("token: {}, account: {}", emulator.token(), emulator.account_id());
//! // ... run a client against it ...
//! let expected = emulator.dump_bytes(uuid, &DumpOptions::default()).expect("dump");
//! let stats = emulator.stats();
//! assert_eq!(stats.downloads_with_authorization, 0);
//! # let _ = expected;
//! emulator.shutdown();
//! # Ok(()) }
//! ```

use std::io;
use std::net::SocketAddr;

mod api;
mod bookmark;
pub mod config;
mod download;
pub mod dump;
mod export;
pub mod faults;
mod http;
pub mod import;
mod jobs;
pub mod sample;
mod server;
pub mod stats;
mod timefmt;

pub use config::{DatabaseConfig, EmulatorConfig, Timing, DEFAULT_ACCOUNT_ID, DEFAULT_TOKEN};
pub use dump::{Compatibility, DumpError, DumpOptions};
pub use export::{ALREADY_RUNNING, JOB_GONE_PREFIX};
pub use faults::{Faults, Layer, RateLimit, Stall, Throttle, CHANGED_OBJECT_TRAILER};
pub use import::IMPORT_ALREADY_RUNNING;
pub use stats::Stats;

/// A running emulator. Dropping it stops it (like [`shutdown`](Self::shutdown)).
///
/// It runs on threads of its own (no async runtime), so it can be used from synchronous
/// code and from inside a tokio runtime alike.
#[derive(Debug)]
pub struct Emulator {
    server: server::Server,
}

impl Emulator {
    /// Starts serving on `127.0.0.1` (port from the config; 0 picks a free one).
    ///
    /// Fails if the port cannot be bound, a database file does not exist, or the work
    /// directory cannot be created.
    pub fn start(config: EmulatorConfig) -> io::Result<Emulator> {
        Ok(Emulator {
            server: server::Server::start(config)?,
        })
    }

    /// The API base URL, e.g. `http://127.0.0.1:41234/client/v4`.
    pub fn base_url(&self) -> String {
        format!("{}/client/v4", self.server.shared.origin)
    }

    /// The socket address served.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The account id accepted.
    pub fn account_id(&self) -> &str {
        &self.server.shared.config.account_id
    }

    /// The API token accepted.
    pub fn token(&self) -> &str {
        &self.server.shared.config.token
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &EmulatorConfig {
        &self.server.shared.config
    }

    /// The export endpoint URL of a database.
    pub fn export_url(&self, uuid: &str) -> String {
        format!(
            "{}/accounts/{}/d1/database/{uuid}/export",
            self.base_url(),
            self.account_id()
        )
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.server.shared.lock().stats.clone()
    }

    /// The exact bytes an export of database `uuid` with `options` produces (the database
    /// is dumped again now; the result is the same as long as the file is unchanged).
    pub fn dump_bytes(&self, uuid: &str, options: &DumpOptions) -> Result<Vec<u8>, DumpError> {
        let db = self
            .config()
            .databases
            .iter()
            .find(|d| d.uuid.eq_ignore_ascii_case(uuid))
            .ok_or_else(|| DumpError::NoSuchDatabase(uuid.to_owned()))?;
        dump::dump_to_vec(&db.path, options)
    }

    /// Stops serving: closes connections, cancels active jobs, removes the dump files (unless
    /// a work directory was configured) and waits for its threads.
    pub fn shutdown(mut self) {
        self.server.stop();
    }
}
