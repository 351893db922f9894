//! # d1-export-transport
//!
//! What the two drivers of [`d1_export_core`] share, so neither writes it twice:
//!
//! - [`ClientConfig`]: the core's [`Config`](d1_export_core::Config) plus HTTP settings
//!   (connect and per-read timeouts, `User-Agent`, proxy use, buffer size).
//! - [`ExportOutcome`] and the [`Error`] type (the core's error plus sink, client and
//!   cancellation errors; never the token or the signed URL's query).
//! - [`PartFile`]: atomic output through a temporary `.<name>.<random>.part` file.
//! - [`Digest`] / [`HashingWriter`]: SHA-256 and byte count of what reached the sink, and
//!   [`place`]: where a body goes when the core resumes or restarts a download.
//! - [`CancelToken`]: cancellation from another thread or task.
//! - [`classify_io`] / [`classify_chain`]: transport errors as the core's
//!   [`TransportFailure`](d1_export_core::TransportFailure).
//! - [`Drive`]: the machines a driver loops over.
//! - [`FleetOptions`], [`FleetHooks`], [`DatabaseReport`]: exporting every database of an
//!   account under one shared budget.
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

mod cancel;
mod classify;
mod config;
mod digest;
mod drive;
mod error;
mod fleet;
mod output;
mod upload;

pub use cancel::{CancelToken, Cancelled};
pub use classify::{classify_chain, classify_io};
pub use config::{ClientConfig, ENV_ACCOUNT_ID, ENV_API_BASE, ENV_TOKEN, USER_AGENT};
pub use digest::{place, Chunk, Digest, HashPipeline, HashingWriter, Placement};
pub use drive::{strip_authorization, Drive, ExportOutcome};
pub use error::Error;
pub use fleet::{
    dump_file_name, glob_match, DatabaseReport, DatabaseStatus, FleetHooks, FleetOptions, NoHooks,
};
pub use output::{is_part_file_name, parent_dir, PartFile};
pub use upload::{feed_upload_progress, measure_sql_file, UploadCounter, UploadReader};

pub use d1_export_core::lookup::Page;
pub use d1_export_core::wire::DatabaseInfo;
