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
//! A driver executes what [`Machine::poll_output`] asks and feeds back what happened; nothing
//! else leaves the machine. Here a scripted "service" (the hidden lines) answers at once with a
//! finished export, and the body streams into a `Vec` in chunks, with live progress:
//!
//! ```
//! use d1_export_core::{
//!     AccountId, ApiBase, ApiToken, Config, DatabaseId, DumpOptions, Event, Export, Input,
//!     Job, Machine, Output,
//! };
//! use std::time::Instant;
//!
//! let config = Config::new(ApiBase::new("https://api.test/client/v4")?, ApiToken::new("token")?);
//! let job = Job {
//!     account: AccountId::new("0123456789abcdef0123456789abcdef")?,
//!     database: DatabaseId::new("0a1b2c3d-0000-4000-8000-00000000abcd")?,
//!     options: DumpOptions::default(),
//! };
//! # let dump = b"CREATE TABLE t(x);\nINSERT INTO t VALUES(1);\n".repeat(20_000);
//! # let reply = br#"{"success":true,"result":{"at_bookmark":"b1","status":"complete","result":{"filename":"x.sql","signed_url":"https://bucket.test/x.sql?sig=secret"}}}"#;
//! let mut export = Export::new(config, job, Instant::now())?;
//! let mut sink: Vec<u8> = Vec::new();
//! let outcome = loop {
//!     match export.poll_output() {
//!         Output::Send { id, request } => {
//!             // Send `request` (read at most `export.reply_limit()` + 1 body bytes), then
//!             // feed `Input::Reply { id, response }`, or `Input::Failed` if no reply came.
//!             # let _ = request;
//!             # let response = http::Response::builder().status(200).body(reply.to_vec())?;
//!             export.handle_input(Instant::now(), Input::Reply { id, response })?;
//!         }
//!         Output::Download { id, request } => {
//!             // GET `request` (no Authorization: the URL is the credential); feed the head
//!             // and keep the body unread until `Output::WriteBody`.
//!             # let _ = request;
//!             # let head = http::Response::builder().status(200)
//!             #     .header("content-length", dump.len()).body(())?;
//!             export.handle_input(Instant::now(), Input::DownloadHead { id, head })?;
//!         }
//!         Output::WriteBody { id, start_at } => {
//!             // Stream the held body into the sink from `start_at`. After each write, feed
//!             // the progress, hand on the events that follow, and read on only when told.
//!             sink.truncate(start_at as usize);
//!             let mut written = 0u64;
//!             # let body = dump.chunks(64 << 10);
//!             'body: for chunk in body {
//!                 sink.extend_from_slice(chunk);
//!                 written += chunk.len() as u64;
//!                 export.handle_input(Instant::now(), Input::DownloadProgress { id, written })?;
//!                 loop {
//!                     match export.poll_output() {
//!                         Output::Event(Event::DownloadProgress { received, total }) => {
//!                             println!("{received} of {total:?} bytes");
//!                         }
//!                         Output::Event(event) => println!("{event:?}"),
//!                         Output::KeepStreaming { .. } => break,
//!                         _ => break 'body, // anything else: stop reading this body
//!                     }
//!                 }
//!             }
//!             export.handle_input(Instant::now(), Input::DownloadEnded { id, written })?;
//!         }
//!         Output::KeepStreaming { .. } => {} // only meaningful inside the body loop
//!         Output::Upload { .. } => unreachable!("an export never uploads"),
//!         Output::WaitUntil(at) => {
//!             std::thread::sleep(at.saturating_duration_since(Instant::now()));
//!             export.handle_input(Instant::now(), Input::Tick)?;
//!         }
//!         Output::Event(event) => println!("{event:?}"),
//!         Output::Done(result) => break result?,
//!     }
//! };
//! assert_eq!(outcome.bytes, sink.len() as u64);
//! # assert_eq!(sink, dump);
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
