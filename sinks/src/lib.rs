//! # d1-export-sinks
//!
//! Where a D1 dump goes, streamed while it downloads, in constant memory:
//!
//! - [`Compression`]: none, gzip or zstd, by the output's extension or chosen.
//! - [`Destination`]: a local file (through a temporary file renamed into place), standard
//!   output, or an object in S3-compatible storage (a multipart upload completed only once
//!   the dump is verified whole, aborted on failure); [`Destination::open`] gives the
//!   [`Feed`](d1_export_transport::Feed) either driver's `export_to_feed` streams into, and
//!   [`Destination::store_file`] writes an existing file the same way.
//! - [`s3`]: settings from the standard AWS environment, `s3://` URLs, [`Bucket`].
//! - [`retention`]: timestamped backup names and which old backups to remove.
//!
//! One thread per destination compresses and hashes; uploads run on the bucket's own small
//! async runtime. Both drivers feed the same channel, so the blocking and the async export
//! write through the same code.
//!
//! ```no_run
//! use d1_export_sinks::{Compression, Destination, Target};
//!
//! let destination = Destination {
//!     target: Target::File("backup.sql.zst".into()),
//!     compression: Compression::from_name("backup.sql.zst"),
//! };
//! let written = destination.store_file("dump.sql".as_ref())?;
//! println!("{} bytes, sha256 {}", written.bytes, written.sha256);
//! # Ok::<(), d1_export_transport::Error>(())
//! ```

mod compression;
mod pipeline;
pub mod retention;
pub mod s3;
#[cfg(feature = "test-support")]
pub mod testing;

pub use compression::{Compression, Encoder};
pub use pipeline::{target_dir, Destination, Target};
pub use s3::{settle_uploads, Bucket, S3Settings, S3Url};
