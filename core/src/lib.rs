//! # d1-export-core
//!
//! The Cloudflare D1 export protocol as one pure state machine: it builds requests (as
//! [`http`] types), takes replies, transport failures and the passing of time, and decides
//! everything else — when to poll, when and how long to back off, whether a reply means
//! running, complete or failed, whether a download is whole, resumable, or needs a fresh URL.
//!
//! It does no I/O, reads no clock (every [`Instant`](std::time::Instant) is an argument),
//! sleeps never and spawns nothing, so tests drive it faster than real time and any HTTP
//! stack can execute it (see the `d1-export-ureq` and `d1-export-reqwest` drivers).
//!
//! ## The driving loop
//!
//! ```
//! use d1_export_core::{
//!     AccountId, ApiBase, ApiToken, Config, DatabaseId, DumpOptions, Export, Input, Job,
//!     Machine, Output,
//! };
//! use std::time::Instant;
//!
//! let config = Config::new(ApiBase::default(), ApiToken::new("token")?);
//! let job = Job {
//!     account: AccountId::new("0123456789abcdef0123456789abcdef")?,
//!     database: DatabaseId::new("0a1b2c3d-0000-4000-8000-00000000abcd")?,
//!     options: DumpOptions::default(),
//! };
//! let mut export = Export::new(config, job, Instant::now())?;
//! loop {
//!     match export.poll_output() {
//!         Output::Send { id, request } => {
//!             // Send `request`; feed `Input::Reply { id, response }` or `Input::Failed`.
//!             # let _ = request;
//!             # let response = http::Response::builder().status(401)
//!             #     .body(br#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}"#.to_vec())?;
//!             export.handle_input(Instant::now(), Input::Reply { id, response })?;
//!         }
//!         Output::Download { id, request } => {
//!             // GET `request`; feed `Input::DownloadHead`, then on `Output::WriteBody`
//!             // stream the body to the sink and feed `DownloadEnded` / `DownloadFailed`.
//!             # let _ = (id, request);
//!         }
//!         Output::WriteBody { .. } => {
//!             // Stream the held body into the sink: after each write feed
//!             // `Input::DownloadProgress`, hand on the `Output::Event`s that follow and read
//!             // on at `Output::KeepStreaming`; at the end feed `DownloadEnded`.
//!         }
//!         Output::KeepStreaming { .. } => { /* only ever seen inside the body loop */ }
//!         Output::Upload { .. } => { /* an import's PUT of the file (never from an export) */ }
//!         Output::WaitUntil(at) => {
//!             // Sleep until `at`, then:
//!             # let _ = at;
//!             export.handle_input(Instant::now(), Input::Tick)?;
//!         }
//!         Output::Event(event) => println!("{event:?}"),
//!         Output::Done(result) => {
//!             assert!(result.is_err()); // this sketch's "service" refused the token
//!             break;
//!         }
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Layers
//! - [`wire`]: the JSON as the service speaks it (what a caller sees of it).
//! - Judging a reply (three failure layers, proxies, caps) and a download (its head, its
//!   end, its identity across resumptions) is internal; with the `fuzzing` feature the
//!   `reply`, `download` and `harness` modules are public for the fuzz targets and tests.
//! - [`Export`]: the state machine; [`lookup`]: the database lookup and list calls.
//! - [`Import`]: restoring a dump (init → upload → ingest → poll), on the same pacing,
//!   retries and deadline.
//! - [`Fleet`]: many exports (and their lookups) under one request budget ([`RateBudget`]).

#![cfg_attr(docsrs, feature(doc_cfg))]

mod budget;
mod clock;
mod config;
#[cfg(feature = "fuzzing")]
pub mod download;
#[cfg(not(feature = "fuzzing"))]
mod download;
mod error;
mod event;
mod export;
mod fleet;
mod ids;
mod import;
mod io;
pub mod lookup;
mod options;
#[cfg(feature = "fuzzing")]
pub mod reply;
#[cfg(not(feature = "fuzzing"))]
mod reply;
mod request;
mod retry;
mod secret;
pub mod wire;

#[cfg(any(test, feature = "fuzzing"))]
pub mod harness;
#[cfg(test)]
mod proptests;

pub use budget::RateBudget;
pub use config::{
    ApiBase, Config, DownloadPolicy, InvalidApiBase, Job, JobGonePolicy, Pacing, RetryPolicy,
    DEFAULT_API_BASE,
};
pub use error::{ApiError, Error, Hint, ProtocolError, Side, Transient, TransportFailure};
pub use event::{Event, Outcome};
pub use export::{Export, SetupError, State, PROGRESS_STEP};
pub use fleet::{
    Finished, Fleet, FleetInput, FleetInputError, FleetOutput, NextRequest, RequestKind, Task,
    TaskKey,
};
pub use ids::{AccountId, DatabaseId, DatabaseName, InvalidId};
pub use import::{Import, ImportJob, ImportOutcome, InvalidMd5, Md5, SqlFile};
pub use io::{reply_read_limit, Input, InputError, Machine, Output, RequestId};
pub use options::{Compatibility, Contents, DumpOptions, InvalidOptions};
pub use secret::{ApiToken, InvalidToken, SignedUrl};
