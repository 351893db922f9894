//! `--verify`, `--format sqlite` and `--importable`: backups that restore.
//!
//! The dump is downloaded to a temporary file beside the output, loaded into a scratch
//! SQLite database (also beside it, owner-only) and checked there; then the output is made
//! from it — the dump itself (`--verify`), the scratch database (`--format sqlite`) or SQL
//! that D1's import accepts (`--importable`) — and renamed into place. On any failure every
//! temporary file is removed and nothing new is at the output path. The SQL dialect work
//! (splitting, loading, verifying, rewriting) is the `d1-dump` crate's; this file only
//! sequences it around an export.

use crate::args::{Args, FormatArg};
use crate::driver::{Destination, Driver};
use crate::exit::{Code, Failure};
use crate::manifest::Manifest;
use crate::report::{Reporter, Style};
use d1_dump::load::{create_scratch, load_dump, verify, LoadErrorKind, LoadMode};
use d1_dump::write_importable;
use d1_export_core::{AccountId, Compatibility, Contents, DatabaseId, DumpOptions, Hint, Job};
use d1_export_transport::{
    CancelToken, DatabaseReport, DatabaseStatus, Error, ExportOutcome, TemporaryPath,
};
use rusqlite::Connection;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// The output the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The dump as exported.
    Sql,
    /// A SQLite database file.
    Sqlite,
    /// SQL that D1's import accepts.
    Importable,
}

impl Output {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sql => "sql",
            Self::Sqlite => "sqlite",
            Self::Importable => "importable",
        }
    }
}

/// What the restore-ready flags ask for; `None` from [`Wanted::from_args`] when none is set.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    /// The output.
    pub output: Output,
}

impl Wanted {
    /// Reads and checks the flags (before any request is sent).
    pub fn from_args(args: &Args) -> Result<Option<Wanted>, Failure> {
        let output = match (args.importable, args.format) {
            (true, FormatArg::Sqlite) => {
                return Err(Failure::usage(
                    "--importable writes SQL; it cannot be combined with --format sqlite",
                ))
            }
            (true, FormatArg::Sql) => Output::Importable,
            (false, FormatArg::Sqlite) => Output::Sqlite,
            (false, FormatArg::Sql) if args.verify => Output::Sql,
            (false, FormatArg::Sql) => return Ok(None),
        };
        if args.output.as_deref() == Some(Path::new("-")) {
            return Err(Failure::usage(
                "--verify, --format sqlite and --importable write a file; give --output FILE",
            ));
        }
        if args.no_schema {
            return Err(Failure::usage(
                "--verify, --format sqlite and --importable load the dump into SQLite, which needs its schema: they cannot be combined with --no-schema",
            ));
        }
        if output != Output::Sql && args.no_data {
            return Err(Failure::usage(
                "--format sqlite and --importable reproduce the whole database; they cannot be combined with --no-data",
            ));
        }
        Ok(Some(Wanted { output }))
    }
}

/// The manifest's `verified` object.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    /// Every table and its rows.
    pub tables: BTreeMap<String, u64>,
    /// `PRAGMA integrity_check`'s answer (`ok`).
    pub integrity_check: String,
    /// Rows `PRAGMA foreign_key_check` reports.
    pub foreign_key_violations: u64,
}

/// The manifest's `restore_ready` object: how the output was made.
#[derive(Debug, Clone, Serialize)]
pub struct Made {
    /// `sql`, `sqlite` or `importable`.
    pub format: &'static str,
    /// The compatibility the dump was exported with (`d1` or `sqlite3_cli_only`).
    pub exported_with: &'static str,
    /// The service refused D1's format (virtual tables) and the export was repeated with
    /// `compatibility: "sqlite3_cli_only"`.
    pub compatibility_fallback: bool,
    /// Bytes of the dump downloaded.
    pub download_bytes: u64,
    /// SHA-256 of the dump downloaded.
    pub download_sha256: String,
    /// Statements written (`importable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statements: Option<u64>,
    /// Values written in pieces to stay under D1's statement limit (`importable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_values: Option<u64>,
    /// Full-text tables rebuilt from their content table (`importable`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rebuilt_fts: Vec<String>,
    /// What could not be reproduced.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A finished restore-ready export.
#[derive(Debug)]
pub struct Done {
    /// The export's outcome, with the size and SHA-256 of the output file.
    pub outcome: ExportOutcome,
    /// The job as run (its options changed if the export fell back to sqlite3_cli_only).
    pub job: Job,
    /// The scratch load's findings.
    pub verified: Verified,
    /// How the output was made.
    pub made: Made,
}

static CANCEL: OnceLock<CancelToken> = OnceLock::new();

/// Lets the scratch load and the rewrite stop when `cancel` is cancelled (Ctrl-C).
pub fn watch(cancel: CancelToken) {
    let _ = CANCEL.set(cancel);
}

fn cancelled() -> bool {
    CANCEL.get().is_some_and(CancelToken::is_cancelled)
}

/// Runs `work` on `conn`; a cancel meanwhile interrupts the statement SQLite is running (a
/// long `CREATE INDEX`, the integrity check), so Ctrl-C ends every step within moments.
fn interruptible<T>(conn: &Connection, work: impl FnOnce() -> T) -> T {
    let Some(cancel) = CANCEL.get() else {
        return work();
    };
    let handle = conn.get_interrupt_handle();
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                if cancel.wait_timeout(Duration::from_millis(50)) {
                    handle.interrupt();
                    break;
                }
            }
        });
        let result = work();
        done.store(true, Ordering::Relaxed);
        result
    })
}

fn interrupted() -> Failure {
    Failure::new(Code::Interrupted, "interrupted")
}

/// Temporary files beside the output (or the fleet's download), removed on drop, and by the
/// signal handler's exit path, unless persisted as the output.
struct Temps {
    paths: Vec<TemporaryPath>,
}

impl Temps {
    fn path(&mut self, output: &Path, role: &str) -> PathBuf {
        let dir = match output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let name = output.file_name().unwrap_or_default().to_string_lossy();
        let path = dir.join(format!(".{name}.{}.{role}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&path);
        self.paths.push(TemporaryPath::new(path.clone()));
        path
    }

    /// Renames the temporary `from` over `output`, durably; it is then the output.
    fn persist(&mut self, from: &Path, output: &Path) -> Result<(), Failure> {
        // The fleet's download is the output's path when the output replaces it in place:
        // no longer a temporary file once the output is there.
        if from != output {
            if let Some(i) = self.paths.iter().position(|t| t.path() == output) {
                self.paths.swap_remove(i).keep();
            }
        }
        let at = self.paths.iter().position(|t| t.path() == from);
        let result = match at {
            Some(i) => self.paths.swap_remove(i).persist(output),
            None => std::fs::rename(from, output),
        };
        result.map_err(|e| output_failed("write", output, e))
    }
}

fn verification_failed(message: impl std::fmt::Display) -> Failure {
    Failure::new(Code::Verify, format!("verification failed: {message}"))
}

fn output_failed(what: &str, path: &Path, e: impl std::fmt::Display) -> Failure {
    Failure::new(
        Code::Download,
        format!("cannot {what} {}: {e}", path.display()),
    )
}

/// Whether the export failed because the service refuses virtual tables in D1's format.
fn refused_virtual_tables(e: &Error) -> bool {
    matches!(e, Error::Export(c) if c.hint() == Some(Hint::VirtualTables))
}

/// Runs the export with `wanted` into `output` (see the module docs).
pub fn export(
    wanted: Wanted,
    reporter: &mut Reporter,
    driver: &Driver,
    job: &Job,
    output: &Path,
) -> Result<Done, Failure> {
    let mut temps = Temps { paths: Vec::new() };
    let download = temps.path(output, "download");
    let mut job = job.clone();
    let mut fallback = false;
    let downloaded = match driver.export(&job, Destination::File(&download), |e| {
        reporter.event(e)
    }) {
        Err(e) if refused_virtual_tables(&e) && can_fall_back(wanted, &job) => {
            reporter.line(
                "the service cannot export virtual tables (FTS5) in D1's format; exporting again with compatibility sqlite3_cli_only",
            );
            fallback = true;
            job.options.compatibility = Some(Compatibility::Sqlite3CliOnly);
            driver.export(&job, Destination::File(&download), |e| reporter.event(e))
        }
        other => other,
    }
    .map_err(|e| Failure::from_error(&e))?;
    finish(
        wanted, reporter, &mut temps, &download, downloaded, job, fallback, output,
    )
}

fn can_fall_back(wanted: Wanted, job: &Job) -> bool {
    wanted.output != Output::Sql
        && job.options.compatibility != Some(Compatibility::Sqlite3CliOnly)
        && job.options.contents == Contents::SchemaAndData
}

/// What became of one database of `--all` with restore-ready flags.
pub struct FleetResult {
    /// The output file (a `.sqlite` beside the `.sql` name with `--format sqlite`).
    pub path: PathBuf,
    /// The outcome, or why it failed (nothing of it is left in the directory then).
    pub result: Result<Done, Failure>,
}

/// `--all` with restore-ready flags: each exported dump (at its path in the fleet's staging
/// directory) is verified and turned into the wanted output there, to be delivered by the
/// caller; each database the
/// service refused for its virtual tables is exported again with `sqlite3_cli_only`
/// (when the output allows). Entries are `None` for databases left as they were.
pub fn after_fleet(
    wanted: Wanted,
    args: &Args,
    driver: &Driver,
    account: &AccountId,
    options: &DumpOptions,
    reports: &[DatabaseReport],
) -> Vec<Option<FleetResult>> {
    let style = if args.quiet {
        Style::Quiet
    } else {
        Style::Plain
    };
    let mut reporter = Reporter::new(style, args.verbose);
    reports
        .iter()
        .map(|r| {
            let output = match wanted.output {
                Output::Sqlite => r.path.with_extension("sqlite"),
                _ => r.path.clone(),
            };
            let job = |options: DumpOptions| -> Result<Job, Failure> {
                Ok(Job {
                    account: account.clone(),
                    database: DatabaseId::new(&r.database.uuid)
                        .map_err(|e| Failure::new(Code::Other, e.to_string()))?,
                    options,
                })
            };
            let result = match &r.status {
                DatabaseStatus::Exported(outcome) => {
                    reporter.line(&format!("{}: verifying", r.database.name));
                    let mut temps = Temps {
                        paths: vec![TemporaryPath::new(r.path.clone())],
                    };
                    job(options.clone()).and_then(|job| {
                        finish(
                            wanted,
                            &mut reporter,
                            &mut temps,
                            &r.path,
                            outcome.clone(),
                            job,
                            false,
                            &output,
                        )
                    })
                }
                DatabaseStatus::Failed(e)
                    if refused_virtual_tables(e) && wanted.output != Output::Sql =>
                {
                    let job = match job(options.clone()) {
                        Ok(job) if can_fall_back(wanted, &job) => job,
                        _ => return None,
                    };
                    reporter.line(&format!(
                        "{}: the service cannot export virtual tables (FTS5) in D1's format; exporting again with compatibility sqlite3_cli_only",
                        r.database.name
                    ));
                    let mut cli = job.clone();
                    cli.options.compatibility = Some(Compatibility::Sqlite3CliOnly);
                    export(wanted, &mut reporter, driver, &cli, &output).map(|mut done| {
                        done.made.compatibility_fallback = true;
                        done
                    })
                }
                _ => return None,
            };
            match &result {
                Err(f) => {
                    reporter.line(&format!("{}: {}", r.database.name, f.message));
                    let _ = std::fs::remove_file(Manifest::path_for(&r.path));
                }
                // The .sql's manifest, when the output is the .sqlite beside it.
                Ok(_) if output != r.path => {
                    let _ = std::fs::remove_file(Manifest::path_for(&r.path));
                }
                Ok(_) => {}
            }
            Some(FleetResult {
                path: output,
                result,
            })
        })
        .collect()
}

/// Verifies the dump at `download` and makes the output from it; `temps` go on drop
/// (`download` among them).
#[allow(clippy::too_many_arguments)]
fn finish(
    wanted: Wanted,
    reporter: &mut Reporter,
    temps: &mut Temps,
    download: &Path,
    downloaded: ExportOutcome,
    job: Job,
    fallback: bool,
    output: &Path,
) -> Result<Done, Failure> {
    reporter.line("verifying: loading the dump into a scratch SQLite database");
    let scratch_path = temps.path(output, "scratch");
    let verified = load_and_verify(download, &scratch_path, downloaded.bytes, reporter)?;
    let exported_with = match job.options.compatibility {
        Some(Compatibility::Sqlite3CliOnly) => "sqlite3_cli_only",
        _ => "d1",
    };
    let mut made = Made {
        format: wanted.output.name(),
        exported_with,
        compatibility_fallback: fallback,
        download_bytes: downloaded.bytes,
        download_sha256: downloaded.sha256.clone(),
        statements: None,
        split_values: None,
        rebuilt_fts: Vec::new(),
        warnings: Vec::new(),
    };
    let (bytes, sha256) = match wanted.output {
        Output::Sql => {
            temps.persist(download, output)?;
            (downloaded.bytes, downloaded.sha256.clone())
        }
        Output::Sqlite => {
            let file =
                File::open(&scratch_path).map_err(|e| output_failed("read", &scratch_path, e))?;
            file.sync_all()
                .map_err(|e| output_failed("sync", &scratch_path, e))?;
            let digest = hash_file(file).map_err(|e| output_failed("read", &scratch_path, e))?;
            temps.persist(&scratch_path, output)?;
            digest
        }
        Output::Importable => {
            reporter.line("writing importable SQL");
            let conn = Connection::open(&scratch_path)
                .map_err(|e| output_failed("open", &scratch_path, e))?;
            let sql_path = temps.path(output, "importable");
            let file =
                create_private(&sql_path).map_err(|e| output_failed("create", &sql_path, e))?;
            let mut writer = Hashing::new(BufWriter::with_capacity(1 << 20, file));
            let report = interruptible(&conn, || {
                write_importable(&conn, &mut writer, &mut |_| !cancelled())
            })
            .map_err(|e| match e {
                d1_dump::ImportableError::Cancelled => interrupted(),
                _ if cancelled() => interrupted(),
                d1_dump::ImportableError::Io(e) => output_failed("write", &sql_path, e),
                e => verification_failed(format!("the dump cannot be made importable: {e}")),
            })?;
            let (inner, bytes, sha256) = writer.finish();
            let file = inner
                .into_inner()
                .map_err(|e| output_failed("write", &sql_path, e.into_error()))?;
            file.sync_all()
                .map_err(|e| output_failed("sync", &sql_path, e))?;
            drop(conn);
            temps.persist(&sql_path, output)?;
            for w in &report.warnings {
                reporter.line(&format!("warning: {w}"));
            }
            made.statements = Some(report.statements);
            made.split_values = Some(report.split_values);
            made.rebuilt_fts = report.rebuilt;
            made.warnings = report.warnings;
            (bytes, sha256)
        }
    };
    Ok(Done {
        outcome: ExportOutcome {
            bytes,
            sha256,
            ..downloaded
        },
        job,
        verified,
        made,
    })
}

/// Loads the dump at `dump` into a new scratch database at `scratch` and checks it.
fn load_and_verify(
    dump: &Path,
    scratch: &Path,
    total: u64,
    reporter: &mut Reporter,
) -> Result<Verified, Failure> {
    let conn = create_scratch(scratch).map_err(|e| output_failed("create", scratch, e))?;
    let file = File::open(dump).map_err(|e| output_failed("read", dump, e))?;
    let mut next_tenth = 1;
    let loaded = interruptible(&conn, || {
        load_dump(
            &conn,
            BufReader::with_capacity(1 << 20, file),
            LoadMode::Sqlite,
            &mut |read| {
                if let Some(tenth) = read.saturating_mul(10).checked_div(total) {
                    if tenth >= next_tenth && tenth < 10 {
                        reporter.line(&format!("loaded {}% of the dump", tenth * 10));
                        next_tenth = tenth + 1;
                    }
                }
                !cancelled()
            },
        )
    })
    .map_err(|e| match e.kind {
        LoadErrorKind::Cancelled | LoadErrorKind::Interrupted => interrupted(),
        _ => verification_failed(format!("the dump does not load: {e}")),
    })?;
    // A dump that wrote the schema directly (sqlite3 .dump's virtual tables) is read back
    // through a fresh connection.
    let conn = if loaded.wrote_schema {
        drop(conn);
        Connection::open(scratch).map_err(|e| output_failed("open", scratch, e))?
    } else {
        conn
    };
    let v = interruptible(&conn, || verify(&conn)).map_err(|e| match e {
        d1_dump::load::VerifyError::Interrupted => interrupted(),
        e => verification_failed(format!("checking the loaded dump: {e}")),
    })?;
    if !v.is_ok() {
        return Err(verification_failed(format!(
            "PRAGMA integrity_check: {}",
            v.integrity_check
        )));
    }
    reporter.line(&format!(
        "verified: {} statements, {} tables, {} rows, integrity ok, {} foreign key violations",
        loaded.statements,
        v.tables.len(),
        v.tables.values().sum::<u64>(),
        v.foreign_key_violations
    ));
    Ok(Verified {
        tables: v.tables,
        integrity_check: v.integrity_check,
        foreign_key_violations: v.foreign_key_violations,
    })
}

/// A new file only the owner can read.
fn create_private(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn hash_file(mut file: File) -> io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok((bytes, hex(&hasher.finalize())))
}

/// A writer that hashes and counts what goes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    fn finish(self) -> (W, u64, String) {
        (self.inner, self.bytes, hex(&self.hasher.finalize()))
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
