//! The D1 SQL dialect, shared by the emulator and the `d1-export` CLI.
//!
//! - [`split`]: a dump as a stream of statements (triggers, quotes, comments, multi-line
//!   statements), in memory bounded by the largest statement.
//! - [`rules`]: D1's import rules (no transactions, no PRAGMAs but `defer_foreign_keys`,
//!   statements ≤ 100,000 bytes, no `_cf_*` tables, …), each violation with its statement,
//!   line and a hint.

pub mod rules;
pub mod split;

pub use rules::{check_path, check_reader, Checker, Report, Rule, Violation};
pub use split::{Splitter, Statement};
