//! SQL dumps in D1's export format, generated from a SQLite file: the [`d1_dump::write`]
//! module of the shared `d1-dump` crate (the CLI reads and rewrites dumps with the same
//! crate), re-exported here.

pub use d1_dump::write::*;
