//! The D1 SQL dialect, shared by the emulator and the `d1-export` CLI.
//!
//! - [`write`](mod@write): a dump of a SQLite database exactly as D1's export writes it (or, with
//!   `compatibility: "sqlite3_cli_only"`, as `sqlite3 .dump` does).
//! - [`split`]: a dump as a stream of statements (triggers, quotes, comments, multi-line
//!   statements), in memory bounded by the largest statement.
//! - [`rules`]: D1's import rules (no transactions, no PRAGMAs but `defer_foreign_keys`,
//!   statements ≤ 100,000 bytes, no `_cf_*` tables, …), each violation with its statement,
//!   line and a hint.
//! - [`load`]: a dump loaded into a scratch SQLite database as a stream (as `sqlite3` does,
//!   or under D1's rules), and checked (`integrity_check`, `foreign_key_check`, row counts).
//! - [`importable`]: SQL that D1's import accepts and that reproduces a database: tables
//!   first, rows, then indexes, triggers and views; FTS5 rebuilt; no statement over 100 KB.

pub mod importable;
pub mod load;
pub mod rules;
pub mod split;
pub mod write;

pub use importable::{write_importable, Importable, ImportableError};
pub use load::{
    create_scratch, harden, load_dump, verify, LoadError, LoadMode, Loaded, Verification,
    VerifyError,
};
pub use rules::{check_path, check_reader, Checker, Report, Rule, Violation};
pub use split::{Splitter, Statement};
pub use write::{write_dump, Compatibility, DumpError, DumpOptions};
