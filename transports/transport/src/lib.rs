//! # d1-export-transport
//!
//! What the two drivers of [`d1_export_core`] share, so neither writes it twice:
//!
//! - [`ClientConfig`]: the core's [`Config`](d1_export_core::Config) plus HTTP settings
//!   (connect and per-read timeouts, `User-Agent`, proxy use, buffer size).
//! - [`ClientBuilder`]: both drivers' `Client::builder()`.
//! - [`ExportOutcome`] and the [`Error`] type (the core's error plus sink, client and
//!   cancellation errors, with an [`ErrorKind`]; never the token or the signed URL's query).
//! - [`Sink`]: where a body goes — a private [`PartFile`] renamed over the destination, or a
//!   stream — counted and hashed ([`Digest`]) as written, resumed or restarted ([`place`]).
//! - [`CancelToken`]: cancellation from another thread or task, per call or client-wide.
//! - [`classify_io`] / [`classify_chain`]: transport errors as the core's
//!   [`TransportFailure`](d1_export_core::TransportFailure).
//! - [`Runner`]: the driving loop's bookkeeping; a driver only does each [`Step`]'s I/O.
//! - [`FleetRun`], [`FleetOptions`], [`FleetHooks`], [`DatabaseReport`]: exporting every
//!   database of an account under one request budget (the drivers execute its steps).
//! - `tracing` events from both drivers, under the target [`TRACING_TARGET`] (`d1_export`):
//!   retries (`info`), pauses the service forced and restarts (`warn`), pacing waits and
//!   milestones (`debug`), byte progress (`trace`). They cost nothing without a subscriber and
//!   never carry the token or a signed URL.
//!
//! Protocol decisions (pacing, retries, resume, validation) are not here: they are the core's.
//! The drivers are `d1-export-ureq` (blocking) and `d1-export-reqwest` (async).
//!
//! ```no_run
//! use d1_export_transport::{ClientConfig, CancelToken};
//! use std::time::Duration;
//!
//! let config = ClientConfig::from_env()? // CLOUDFLARE_API_TOKEN, CLOUDFLARE_API_BASE_URL
//!     .connect_timeout(Duration::from_secs(10))
//!     .read_timeout(Duration::from_secs(60));
//! let cancel = CancelToken::new();
//! # let _ = (config, cancel);
//! # Ok::<(), d1_export_transport::Error>(())
//! ```

mod builder;
mod cancel;
mod classify;
mod config;
mod digest;
mod drive;
mod error;
mod feed;
mod fleet;
mod output;
mod sink;
mod trace;
mod upload;

pub use builder::{BuildClient, ClientBuilder};
pub use cancel::{CancelToken, Cancelled};
pub use classify::{classify_chain, classify_io};
pub use config::{ClientConfig, JitterSeed, ENV_ACCOUNT_ID, ENV_API_BASE, ENV_TOKEN, USER_AGENT};
pub use digest::{place, Digest, Placement};
pub use drive::{strip_authorization, ExportOutcome, Flow, Runner, Step};
pub use error::{Error, ErrorKind};
pub use feed::{Feed, FeedConsumer, FeedMessage, Rewind, Written, ABORT_WAIT};
pub use fleet::{
    check_glob, dump_file_name, glob_match, AllDatabases, DatabaseReport, DatabaseStatus,
    FleetHooks, FleetOptions, FleetRun, FleetStep, NameFilter, NoHooks,
};
pub use output::{
    check_destination, is_part_file_name, parent_dir, remove_temporary_files, write_private,
    PartFile, TemporaryPath,
};
pub use sink::{FeedSink, FileSink, Sink};
/// The `tracing` target of every event the drivers emit (retries, pacing waits, pauses,
/// restarts, milestones); see the crate docs.
pub use trace::TARGET as TRACING_TARGET;
pub use upload::{measure_sql_file, ImportRun, UploadCounter, UploadReader};

pub use d1_export_core::lookup::Page;
pub use d1_export_core::wire::DatabaseInfo;
