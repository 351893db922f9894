//! The command line, fixed: scripts depend on it. Mirrors `wrangler d1 export` where they meet.

use clap::{ArgAction, Parser, ValueEnum};
use std::path::PathBuf;

/// Export a Cloudflare D1 database as SQL: polls the export, downloads the dump, verifies it,
/// and writes it atomically with a manifest beside it.
///
/// The API token comes from CLOUDFLARE_API_TOKEN only (never a flag). Try `d1-export --demo`
/// first: it needs no account.
#[derive(Debug, Parser)]
#[command(name = "d1-export", version, about, long_about)]
pub struct Args {
    /// The database: its UUID, or its name (looked up in the account).
    #[arg(required_unless_present_any = ["demo", "all"], value_name = "DATABASE")]
    pub database: Option<String>,

    /// Where to write the dump; `-` for stdout. Required unless --demo (which defaults to
    /// demo.sql) or --all.
    #[arg(short, long, value_name = "FILE|-", required_unless_present_any = ["demo", "all"], conflicts_with = "all")]
    pub output: Option<PathBuf>,

    /// Export only this table (repeatable).
    #[arg(long = "table", value_name = "T", action = ArgAction::Append)]
    pub tables: Vec<String>,

    /// Only the table definitions, not their rows.
    #[arg(long, conflicts_with = "no_schema")]
    pub no_data: bool,

    /// Only the rows, not the table definitions.
    #[arg(long)]
    pub no_schema: bool,

    /// The dump's compatibility mode. `sqlite3_cli_only` includes virtual tables (FTS5) but
    /// cannot be imported into D1.
    #[arg(long, value_enum, value_name = "MODE")]
    pub compatibility: Option<CompatibilityArg>,

    /// The account (default: CLOUDFLARE_ACCOUNT_ID).
    #[arg(
        long,
        env = "CLOUDFLARE_ACCOUNT_ID",
        value_name = "ID",
        hide_env_values = true
    )]
    pub account_id: Option<String>,

    /// The API base, `/client/v4` included (default: CLOUDFLARE_API_BASE_URL, else the real API).
    #[arg(long, env = "CLOUDFLARE_API_BASE_URL", value_name = "URL")]
    pub api_base: Option<String>,

    /// Print the outcome as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,

    /// Print nothing but errors.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// More detail (repeatable): retries and every service log line.
    #[arg(short, long, action = ArgAction::Count)]
    pub verbose: u8,

    /// The transport: `async` (reqwest + tokio) or `blocking` (ureq).
    #[arg(long, value_enum, default_value_t = DriverArg::Async)]
    pub driver: DriverArg,

    /// Compress what is written: `none`, `gzip` or `zstd` (default: by the output's
    /// extension, `.gz` or `.zst`), streaming while downloading.
    #[arg(long, value_enum, value_name = "KIND")]
    pub compress: Option<CompressArg>,

    /// Do not write `<FILE>.manifest.json` beside the dump.
    #[arg(long)]
    pub no_manifest: bool,

    /// Export every database of the account into --output-dir, as `<name>-<uuid>.sql` plus
    /// its manifest, under one shared request budget.
    #[arg(
        long,
        conflicts_with = "database",
        requires = "output_dir",
        help_heading = "Fleet"
    )]
    pub all: bool,

    /// The directory for --all (created if missing), or `s3://bucket/prefix/`.
    #[arg(long, value_name = "DIR", requires = "all", help_heading = "Fleet")]
    pub output_dir: Option<PathBuf>,

    /// With --all: name each backup `<name>-<uuid>-<UTC timestamp>.sql[.gz|.zst]` and keep
    /// only the newest N of each database (older ones of that pattern are removed).
    #[arg(long, value_name = "N", requires = "all", value_parser = clap::value_parser!(u32).range(1..), help_heading = "Fleet")]
    pub keep: Option<u32>,

    /// Exports running at once with --all.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64), help_heading = "Fleet")]
    pub concurrency: u16,

    /// With --all: only databases whose name matches this glob (`*`, `?`; repeatable).
    #[arg(long, value_name = "GLOB", action = ArgAction::Append, requires = "all", help_heading = "Fleet")]
    pub include: Vec<String>,

    /// With --all: skip databases whose name matches this glob (repeatable).
    #[arg(long, value_name = "GLOB", action = ArgAction::Append, requires = "all", help_heading = "Fleet")]
    pub exclude: Vec<String>,

    /// With --all: skip a database whose current time-travel bookmark equals the one in its
    /// existing manifest in --output-dir (nothing changed since that export).
    #[arg(long, requires = "all", help_heading = "Fleet")]
    pub skip_unchanged: bool,

    /// The API request budget shared by all exports, as REQUESTS/SECONDS (the API allows
    /// 1200 per 300 seconds per user).
    #[arg(
        long,
        value_name = "N/SECS",
        default_value = "1200/300",
        help_heading = "Fleet"
    )]
    pub rate_limit: String,

    /// Run a complete export against a local emulator on a generated sample database: no
    /// account needed.
    #[arg(long, conflicts_with_all = ["database", "account_id", "api_base", "tables", "no_data", "no_schema", "compatibility", "all"])]
    pub demo: bool,
}

/// `--driver`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriverArg {
    /// reqwest + tokio.
    Async,
    /// ureq.
    Blocking,
}

/// `--compatibility`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompatibilityArg {
    /// A dump D1 can import (the service's default).
    D1,
    /// Like `sqlite3 .dump`, virtual tables included.
    #[value(name = "sqlite3_cli_only")]
    Sqlite3CliOnly,
}

/// `--compress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressArg {
    /// Plain SQL.
    None,
    /// gzip.
    Gzip,
    /// Zstandard.
    Zstd,
}

impl DriverArg {
    /// The name shown in manifests and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Async => "async",
            Self::Blocking => "blocking",
        }
    }
}
