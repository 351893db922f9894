//! The D1 SQL dialect, shared by the emulator and the `d1-export` CLI.
//!
//! - [`write`]: a dump of a SQLite database exactly as D1's export writes it (or, with
//!   `compatibility: "sqlite3_cli_only"`, as `sqlite3 .dump` does).
//! - [`split`]: a dump as a stream of statements (triggers, quotes, comments, multi-line
//!   statements), in memory bounded by the largest statement.
//! - [`rules`]: D1's import rules (no transactions, no PRAGMAs but `defer_foreign_keys`,
//!   statements ≤ 100,000 bytes, no `_cf_*` tables, …), each violation with its statement,
//!   line and a hint.

pub mod rules;
pub mod split;
pub mod write;

pub use rules::{check_path, check_reader, Checker, Report, Rule, Violation};
pub use split::{Splitter, Statement};
pub use write::{write_dump, Compatibility, DumpError, DumpOptions};
