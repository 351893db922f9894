//! The command line, fixed: scripts depend on it. Mirrors `wrangler d1 export` where they meet.
//!
//! `d1-export <DATABASE> ...` exports; a few subcommands ([`Command`]) sit beside it. A first
//! bare word that names a subcommand is that subcommand; any other word is a database. A
//! database literally named like a subcommand is exported with `--` before it
//! (`d1-export -o man.sql -- man`) or with any flag before it (`d1-export -o man.sql man`):
//! once a flag or `--` has been seen, no subcommand is looked for.

use clap::{ArgAction, Parser, Subcommand, ValueEnum, ValueHint};
use std::path::PathBuf;

/// Export a Cloudflare D1 database as SQL: polls the export, downloads the dump, verifies it,
/// and writes it atomically with a manifest beside it.
///
/// The API token comes from CLOUDFLARE_API_TOKEN only (never a flag). Try `d1-export --demo`
/// first: it needs no account.
///
/// A database named like a subcommand (`man`, `completions`, ...): put `--` before it, as in
/// `d1-export -o man.sql -- man`.
#[derive(Debug, Parser)]
#[command(
    name = "d1-export",
    version,
    about,
    long_about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    disable_help_subcommand = true,
    subcommand_value_name = "COMMAND",
    override_usage = "d1-export [OPTIONS] <DATABASE> --output <FILE|->\n       d1-export --demo [--output FILE]\n       d1-export --all --output-dir <DIR> [OPTIONS]\n       d1-export <COMMAND>"
)]
pub struct Args {
    /// Something other than an export (an export needs no subcommand).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The database: its UUID, or its name (looked up in the account).
    #[arg(required_unless_present_any = ["demo", "all"], value_name = "DATABASE")]
    pub database: Option<String>,

    /// Where to write the dump; `-` for stdout. Required unless --demo (which defaults to
    /// demo.sql) or --all.
    #[arg(short, long, value_name = "FILE|-", value_hint = ValueHint::FilePath, required_unless_present_any = ["demo", "all"], conflicts_with = "all")]
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

    /// After the download, load the dump into a scratch SQLite database, run integrity and
    /// foreign key checks and count every table's rows (recorded in the manifest as
    /// `verified`). A dump that does not load exits 7 and leaves nothing at --output.
    #[arg(long, help_heading = "Restore-ready")]
    pub verify: bool,

    /// The output: `sql` (the dump as exported) or `sqlite` (a SQLite database file equal
    /// to the exported database, full-text tables working). `sqlite` is always verified.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = FormatArg::Sql, help_heading = "Restore-ready")]
    pub format: FormatArg,

    /// Write SQL that D1's import accepts and that reproduces the database: tables first,
    /// then rows, indexes, triggers, views; FTS5 rebuilt; no statement over 100,000 bytes.
    /// A database with virtual tables is exported in sqlite3_cli_only mode automatically.
    /// Always verified.
    #[arg(long, help_heading = "Restore-ready")]
    pub importable: bool,

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

    /// Never start an export again after the service lost it (by default it is started
    /// again once, e.g. after a long pause the service forced with Retry-After).
    #[arg(long)]
    pub no_restart: bool,

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
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath, requires = "all", help_heading = "Fleet")]
    pub output_dir: Option<PathBuf>,

    /// With --all: name each backup `<name>-<uuid>-<UTC timestamp>.sql[.gz|.zst]` and keep
    /// only the newest N of each database (older ones of that pattern are removed).
    #[arg(long, value_name = "N", requires = "all", value_parser = clap::value_parser!(u32).range(1..), help_heading = "Fleet")]
    pub keep: Option<u32>,

    /// Exports running at once with --all.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64), help_heading = "Fleet")]
    pub concurrency: u16,

    /// With --all: only databases whose name matches this glob (`*`, `?`, `[a-z]`,
    /// `{prod,staging}`; repeatable).
    #[arg(long, value_name = "GLOB", action = ArgAction::Append, requires = "all", value_parser = glob, help_heading = "Fleet")]
    pub include: Vec<String>,

    /// With --all: skip databases whose name matches this glob (repeatable).
    #[arg(long, value_name = "GLOB", action = ArgAction::Append, requires = "all", value_parser = glob, help_heading = "Fleet")]
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

/// The subcommands. One more is one more variant here and one more arm in `main`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a shell completion script on stdout.
    ///
    /// For example `d1-export completions bash > ~/.local/share/bash-completion/completions/d1-export`,
    /// `d1-export completions zsh > ~/.zfunc/_d1-export`,
    /// `d1-export completions fish > ~/.config/fish/completions/d1-export.fish`.
    Completions {
        /// The shell to complete in.
        #[arg(value_enum, value_name = "SHELL")]
        shell: ShellArg,
    },
    /// Print the man page (roff) on stdout.
    ///
    /// For example `d1-export man > ~/.cargo/share/man/man1/d1-export.1`, then `man d1-export`
    /// (man finds pages beside the directories on PATH, such as `~/.cargo/bin`).
    Man,
    /// Restore a SQL file into a D1 database (D1's import: upload, then apply).
    ///
    /// The file is first checked against D1's import rules (no BEGIN/COMMIT, no PRAGMA but
    /// defer_foreign_keys, no writable_schema, statements up to 100 KB, no _cf_* tables, SQL
    /// not a SQLite file, at most 5 GiB); a file that breaks them is refused (exit 7) and
    /// nothing is sent. Then the database's current time-travel bookmark is printed with how
    /// to go back to it, and on a terminal you confirm (D1 is unavailable while importing).
    /// D1 applies the whole file or, on any error, nothing.
    #[command(
        override_usage = "d1-export import <DATABASE> --file <FILE> [--yes] [--json] [--driver async|blocking]\n                        [--account-id ID] [--api-base URL] [-q | -v...]"
    )]
    Import(ImportArgs),
}

/// `import <DATABASE> --file <FILE> ...` (fixed: scripts depend on it).
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The database: its UUID, or its name (looked up in the account).
    #[arg(value_name = "DATABASE")]
    pub database: String,

    /// The SQL file to import (e.g. a dump written by `d1-export --importable`).
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub file: PathBuf,

    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Print the outcome as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,

    /// The transport: `async` (reqwest + tokio) or `blocking` (ureq).
    #[arg(long, value_enum, default_value_t = DriverArg::Async)]
    pub driver: DriverArg,

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

    /// Print nothing but errors.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// More detail (repeatable): retries and every service log line.
    #[arg(short, long, action = ArgAction::Count)]
    pub verbose: u8,
}

/// `completions <SHELL>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellArg {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
    /// PowerShell.
    Powershell,
}

/// `--include`/`--exclude`: a glob the fleet's name filter accepts, refused before anything
/// is sent otherwise.
fn glob(pattern: &str) -> Result<String, String> {
    d1_export_transport::check_glob(pattern)
        .map(|()| pattern.to_owned())
        .map_err(|e| e.to_string())
}

/// `--driver`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriverArg {
    /// reqwest + tokio.
    Async,
    /// ureq.
    Blocking,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// SQL, as exported.
    Sql,
    /// A SQLite database file.
    Sqlite,
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
