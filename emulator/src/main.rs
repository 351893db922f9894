//! `d1-emulator`: serve the D1 export API over local SQLite files, or write a sample database.
//!
//! The first line on stdout is the API base URL (e.g. `http://127.0.0.1:41234/client/v4`);
//! it runs until interrupted (SIGINT/SIGTERM).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use d1_emulator::{
    dump, sample, Compatibility, DumpOptions, Emulator, EmulatorConfig, Faults, RateLimit, Timing,
    DEFAULT_ACCOUNT_ID, DEFAULT_TOKEN,
};

/// A local emulator of the Cloudflare D1 export API over real SQLite files.
#[derive(Debug, Parser)]
#[command(name = "d1-emulator", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Serve,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a sample database (users, orders, events, indexes, a view, a trigger).
    Sample {
        /// The SQLite file to write (replaced if it exists).
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        /// Its approximate size: 64KiB, 50MB, 1GiB...
        #[arg(long, value_name = "SIZE", default_value = "10MiB", value_parser = sample::parse_size)]
        size: u64,
    },
    /// Write the dump of a SQLite file to stdout: the exact bytes an export would serve.
    Dump {
        /// The SQLite file.
        #[arg(long, value_name = "PATH")]
        db: PathBuf,
        /// Only the schema.
        #[arg(long, conflicts_with = "no_schema")]
        no_data: bool,
        /// Only the rows.
        #[arg(long)]
        no_schema: bool,
        /// Only this table (repeatable).
        #[arg(long = "table", value_name = "NAME")]
        tables: Vec<String>,
        /// `d1` (default) or `sqlite3_cli_only`.
        #[arg(long, value_name = "MODE", value_parser = parse_compatibility, default_value = "d1")]
        compatibility: Compatibility,
    },
}

fn parse_compatibility(s: &str) -> Result<Compatibility, String> {
    Compatibility::from_wire(s).ok_or_else(|| format!("{s:?}: expected d1 or sqlite3_cli_only"))
}

#[derive(Debug, Args)]
struct Serve {
    /// A database to serve: its UUID and SQLite file (repeatable).
    #[arg(long = "db", value_name = "UUID=PATH")]
    db: Vec<String>,
    /// A database's name (default: its UUID) (repeatable).
    #[arg(long = "db-name", value_name = "UUID=NAME")]
    db_name: Vec<String>,
    /// The account id accepted.
    #[arg(long, value_name = "ID", default_value = DEFAULT_ACCOUNT_ID)]
    account: String,
    /// The API token accepted (as `Authorization: Bearer TOKEN`).
    #[arg(long, value_name = "TOKEN", default_value = DEFAULT_TOKEN)]
    token: String,
    /// The loopback port (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Where dump files go (default: a temporary directory removed at exit).
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Do not log requests on stderr.
    #[arg(long)]
    quiet: bool,

    /// Polls with the bookmark before a job may complete.
    #[arg(long, value_name = "N", default_value_t = Timing::default().polls_before_complete, help_heading = "Timing")]
    polls_before_complete: u32,
    /// The shortest export time (e.g. 500ms, 2s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "0s", help_heading = "Timing")]
    min_export_time: Duration,
    /// How long a poll is held open while the job is not ready.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "100ms", help_heading = "Timing")]
    poll_hold: Duration,
    /// Cancel an active job not polled for this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s", help_heading = "Timing")]
    idle_cancel: Duration,
    /// How long a signed URL is valid.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1h", help_heading = "Timing")]
    url_lifetime: Duration,
    /// The upload part size, for the `Uploaded part N` messages.
    #[arg(long, value_name = "SIZE", value_parser = sample::parse_size, default_value = "5MiB", help_heading = "Timing")]
    part_size: u64,

    /// Answer every Nth API request 503 with an HTML page.
    #[arg(long, value_name = "N", help_heading = "Faults")]
    fault_503_every: Option<u64>,
    /// Answer 429 (with Retry-After) past N API requests per window.
    #[arg(long, value_name = "N", help_heading = "Faults")]
    fault_429_after: Option<u64>,
    /// The rate-limit window.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s", help_heading = "Faults")]
    fault_429_window: Duration,
    /// Give the Nth API request a truncated JSON body (HTTP 200).
    #[arg(long, value_name = "N", help_heading = "Faults")]
    fault_invalid_json_at: Option<u64>,
    /// Reset the connection of the Nth API request without a reply.
    #[arg(long, value_name = "N", help_heading = "Faults")]
    fault_reset_at: Option<u64>,
    /// Close the first download of each job half-way (full Content-Length promised).
    #[arg(long, help_heading = "Faults")]
    fault_truncate_download: bool,
    /// Throttle downloads to N KiB/s.
    #[arg(long, value_name = "KIB_PER_SEC", help_heading = "Faults")]
    fault_slow_download: Option<u64>,
    /// Issue each job's first signed URL already expired.
    #[arg(long, help_heading = "Faults")]
    fault_expire_first_url: bool,
    /// Omit `status` (and answer 200) while a job is active.
    #[arg(long, help_heading = "Faults")]
    fault_omit_status: bool,
    /// Add an unknown field to every JSON object of every reply.
    #[arg(long, help_heading = "Faults")]
    fault_extra_fields: bool,
    /// Reset the first N uploads of each file half-way.
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = "Faults")]
    fault_failed_uploads: u64,
    /// Answer the next N uploads of each file with a wrong ETag.
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = "Faults")]
    fault_wrong_upload_etags: u64,
}

/// `250ms`, `10s`, `2m`, `1h`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (e.g. 250ms, 10s, 2m)"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        _ => {
            return Err(format!(
                "invalid duration {s:?}: the unit must be ms, s, m or h"
            ))
        }
    };
    Ok(Duration::from_secs_f64(secs))
}

fn split_pair<'a>(flag: &str, s: &'a str) -> Result<(&'a str, &'a str), String> {
    s.split_once('=')
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        .ok_or_else(|| format!("--{flag} expects UUID=VALUE, got {s:?}"))
}

fn config(args: Serve) -> Result<EmulatorConfig, String> {
    let mut config = EmulatorConfig::new()
        .account_id(args.account)
        .token(args.token)
        .port(args.port)
        .log_requests(!args.quiet)
        .timing(Timing {
            polls_before_complete: args.polls_before_complete,
            min_export_time: args.min_export_time,
            poll_hold: args.poll_hold,
            idle_cancel: args.idle_cancel,
            url_lifetime: args.url_lifetime,
            part_size: args.part_size,
        })
        .faults(Faults {
            http_503_every: args.fault_503_every,
            rate_limit: args.fault_429_after.map(|requests| RateLimit {
                requests,
                window: args.fault_429_window,
            }),
            invalid_json_at: args.fault_invalid_json_at,
            reset_connection_at: args.fault_reset_at,
            truncate_first_download: args.fault_truncate_download,
            download_kib_per_sec: args.fault_slow_download,
            expire_first_url: args.fault_expire_first_url,
            omit_active_status: args.fault_omit_status,
            extra_fields: args.fault_extra_fields,
            failed_uploads: args.fault_failed_uploads,
            wrong_upload_etags: args.fault_wrong_upload_etags,
            ..Faults::default()
        });
    if let Some(dir) = args.work_dir {
        config = config.work_dir(dir);
    }
    for db in &args.db {
        let (uuid, path) = split_pair("db", db)?;
        config = config.database(uuid, path);
    }
    for name in &args.db_name {
        let (uuid, name) = split_pair("db-name", name)?;
        if !config.databases.iter().any(|d| d.uuid == uuid) {
            return Err(format!("--db-name {uuid}: no --db with that UUID"));
        }
        config = config.database_name(uuid, name);
    }
    Ok(config)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Dump {
        db,
        no_data,
        no_schema,
        tables,
        compatibility,
    }) = cli.command
    {
        let options = DumpOptions {
            no_data,
            no_schema,
            tables,
            compatibility,
        };
        let stdout = std::io::stdout().lock();
        return match dump::write_dump(
            &db,
            &options,
            std::io::BufWriter::with_capacity(1 << 20, stdout),
        ) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("d1-emulator: {}: {e}", db.display());
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Sample { out, size }) = cli.command {
        return match sample::generate(&out, size) {
            Ok(s) => {
                eprintln!(
                    "wrote {}: {} bytes ({} users, {} orders, {} events)",
                    out.display(),
                    s.file_size,
                    s.users,
                    s.orders,
                    s.events
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("d1-emulator: cannot write {}: {e}", out.display());
                ExitCode::FAILURE
            }
        };
    }
    let config = match config(cli.serve) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("d1-emulator: {e}");
            return ExitCode::from(2);
        }
    };
    let emulator = match Emulator::start(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("d1-emulator: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (tx, rx) = std::sync::mpsc::channel();
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = tx.send(());
    }) {
        eprintln!("d1-emulator: cannot install the signal handler: {e}");
    }
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{}", emulator.base_url());
    let _ = stdout.flush();
    eprintln!(
        "d1-emulator: account {} token {}; databases: {}",
        emulator.account_id(),
        emulator.token(),
        emulator
            .config()
            .databases
            .iter()
            .map(|d| format!("{} ({}) = {}", d.uuid, d.name, d.path.display()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = rx.recv();
    eprintln!("d1-emulator: stopping");
    emulator.shutdown();
    ExitCode::SUCCESS
}
