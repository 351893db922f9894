//! `d1-export import <DATABASE> --file <FILE>`: restore a SQL file into a D1 database.
//!
//! In order: the file is checked against D1's import rules (exit 7, nothing sent, if it
//! breaks them); the database is resolved; its current time-travel bookmark is read and
//! printed with how to go back to it; the user confirms on a terminal (off a terminal
//! `--yes` is required); the import runs with an upload bar, then the service's log lines;
//! a summary (or one JSON object with `--json`) ends it.

use crate::args::ImportArgs;
use crate::driver::Driver;
use crate::exit::{Code, Failure};
use crate::report::{byte_bar, status_spinner, Style};
use d1_dump::rules::{check_path, Report};
use d1_export_core::{AccountId, DatabaseId, Event, ImportOutcome};
use d1_export_transport::{CancelToken, Error};
use indicatif::ProgressBar;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Violations listed in the refusal message (the rest are counted).
const LISTED: usize = 10;

/// Runs the subcommand; the exit code says how it ended.
pub fn main(args: &ImportArgs) -> ExitCode {
    let mut view = View::new(Style::detect(args.quiet), args.verbose);
    match run(args, &mut view) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            view.clear();
            let _ = writeln!(
                std::io::stderr().lock(),
                "error: {}",
                crate::text::clean(&failure.message)
            );
            if args.json && !failure.reported {
                let obj = serde_json::json!({"ok": false, "exit_code": failure.code as u8, "error": failure.message});
                println!("{obj}");
            }
            failure.code.into()
        }
    }
}

fn run(args: &ImportArgs, view: &mut View) -> Result<(), Failure> {
    let cancel = CancelToken::new();
    crate::signals::install(&cancel);
    // Before anything is sent: the file against D1's rules, and whether we may ask.
    let bytes = check_file(&args.file)?;
    let interactive = std::io::stdin().is_terminal();
    if !args.yes && !interactive {
        return Err(Failure::usage(
            "stdin is not a terminal: pass --yes to import without confirmation \
             (D1 is unavailable while it imports)",
        ));
    }
    let config = crate::api_config(args.api_base.as_deref())?;
    let account = crate::account_id(args.account_id.as_deref())?;
    let driver = Driver::new(args.driver, config, cancel).map_err(|e| Failure::from_error(&e))?;
    let (database, name) = crate::resolve(&driver, &account, &args.database)?;
    let shown = name.as_deref().unwrap_or(database.as_str()).to_owned();
    let previous = driver
        .current_bookmark(&account, &database)
        .map_err(|e| Failure::from_error(&e))?;
    let previous = crate::text::clean(&previous).into_owned();
    view.line(&format!(
        "database {}{} is at bookmark {previous}",
        database,
        name.as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default()
    ));
    view.line(&format!(
        "to go back to it after the import: wrangler d1 time-travel restore {shown} --bookmark={previous}"
    ));
    if !args.yes && !confirm(&args.file, bytes, &shown)? {
        return Err(Failure::new(
            Code::Other,
            "not confirmed: nothing was imported",
        ));
    }
    let clock = Instant::now();
    view.line(&format!(
        "importing {} ({bytes} bytes) into {shown} ({} driver)",
        args.file.display(),
        args.driver.name()
    ));
    let outcome = driver
        .import(&account, &database, &args.file, |e| view.event(e))
        .map_err(|e| {
            let mut f = Failure::from_error(&e);
            if matches!(
                &e,
                Error::Export(d1_export_core::Error::ImportFailed { .. })
            ) {
                f.message.push_str(&format!(
                    " (D1 rolled the import back; the database is still at bookmark {previous})"
                ));
            }
            f
        })?;
    view.clear();
    let seconds = clock.elapsed().as_secs_f64();
    view.line(&summary(&outcome, &args.file, &shown, seconds));
    if args.json {
        let obj = serde_json::json!({
            "ok": true,
            "database_id": database.as_str(),
            "database_name": name,
            "file": args.file.display().to_string(),
            "bytes": bytes,
            "uploaded": outcome.uploaded,
            "num_queries": outcome.num_queries,
            "rows_read": outcome.rows_read,
            "rows_written": outcome.rows_written,
            "size_after": outcome.size_after,
            "previous_bookmark": previous,
            "at_bookmark": outcome.at_bookmark,
            "final_bookmark": outcome.final_bookmark,
            "seconds": seconds,
            "driver": args.driver.name(),
        });
        println!("{obj}");
    }
    Ok(())
}

/// Checks the file against D1's import rules; returns its size.
fn check_file(file: &Path) -> Result<u64, Failure> {
    let meta = std::fs::metadata(file)
        .map_err(|e| Failure::usage(format!("cannot read --file {}: {e}", file.display())))?;
    if !meta.is_file() {
        return Err(Failure::usage(format!(
            "--file {} is not a file",
            file.display()
        )));
    }
    let report = check_path(file)
        .map_err(|e| Failure::usage(format!("cannot read --file {}: {e}", file.display())))?;
    if report.is_importable() {
        Ok(meta.len())
    } else {
        Err(Failure::new(Code::Verify, refusal(file, &report)))
    }
}

/// The refusal message: each broken rule with its statement, line and hint.
fn refusal(file: &Path, report: &Report) -> String {
    let mut msg = format!(
        "{} breaks D1's import rules ({} problem{}); nothing was sent:",
        file.display(),
        report.violations_total,
        if report.violations_total == 1 {
            ""
        } else {
            "s"
        }
    );
    for v in report.violations.iter().take(LISTED) {
        msg.push_str(&format!("\n  {v}"));
    }
    let listed = report.violations.len().min(LISTED) as u64;
    if report.violations_total > listed {
        msg.push_str(&format!(
            "\n  … and {} more",
            report.violations_total - listed
        ));
    }
    msg.push_str(
        "\nhint: `d1-export <DATABASE> --output FILE --importable` writes files that pass",
    );
    msg
}

/// Asks on the terminal; true to go on.
fn confirm(file: &Path, bytes: u64, database: &str) -> Result<bool, Failure> {
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "import {} ({bytes} bytes) into {database}? D1 is unavailable while it imports. [y/N] ",
        file.display()
    );
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::new(Code::Other, format!("cannot read the answer: {e}")))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

fn summary(outcome: &ImportOutcome, file: &Path, database: &str, seconds: f64) -> String {
    format!(
        "imported {} into {database}: {} queries, {} rows written, size after {}; now at bookmark {}; {seconds:.1}s{}",
        file.display(),
        outcome.num_queries,
        outcome.rows_written,
        outcome
            .size_after
            .map_or_else(|| "unknown".to_owned(), |s| format!("{s} bytes")),
        outcome.final_bookmark.as_deref().unwrap_or("-"),
        if outcome.uploaded {
            ""
        } else {
            " (the service already had the file: not uploaded again)"
        }
    )
}

impl Driver {
    /// The database's current time-travel bookmark.
    pub fn current_bookmark(
        &self,
        account: &AccountId,
        database: &DatabaseId,
    ) -> Result<String, Error> {
        match self {
            Self::Blocking(c) => c.current_bookmark(account, database),
            Self::Async(c, rt) => rt.block_on(c.current_bookmark(account, database)),
        }
    }

    /// Imports the SQL file at `file` into `database`.
    pub fn import(
        &self,
        account: &AccountId,
        database: &DatabaseId,
        file: &Path,
        on_event: impl FnMut(&Event) + Send,
    ) -> Result<ImportOutcome, Error> {
        match self {
            Self::Blocking(c) => c.import_from_path(account, database, file, on_event),
            Self::Async(c, rt) => {
                rt.block_on(c.import_from_path(account, database, file, on_event))
            }
        }
    }
}

/// What the user sees while an import runs (stderr only): an upload bar, then a spinner with
/// the service's latest log line on a terminal; plain lines otherwise; nothing with `-q`.
struct View {
    style: Style,
    verbose: u8,
    bar: Option<ProgressBar>,
    /// What the spinner says after its clock (the service's latest log line), fitted to the
    /// terminal's width at every redraw.
    status: Arc<Mutex<String>>,
    /// In plain mode, the next tenth of the upload to report.
    next_tenth: u64,
}

impl View {
    fn new(style: Style, verbose: u8) -> Self {
        Self {
            style,
            verbose,
            bar: None,
            status: Arc::default(),
            next_tenth: 1,
        }
    }

    fn line(&self, text: &str) {
        let text = crate::text::clean(text);
        match (&self.bar, self.style) {
            (_, Style::Quiet) => {}
            (Some(bar), Style::Terminal) => bar.println(text),
            _ => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn spinner(&mut self, msg: &str) {
        if self.style != Style::Terminal {
            return;
        }
        *self.status.lock().unwrap_or_else(PoisonError::into_inner) = msg.to_owned();
        let status = Arc::clone(&self.status);
        self.bar
            .get_or_insert_with(|| status_spinner("importing", status))
            .tick();
    }

    fn event(&mut self, event: &Event) {
        if self.style == Style::Quiet {
            return;
        }
        match event {
            Event::UploadStarted { bytes } => {
                self.clear();
                self.next_tenth = 1;
                if self.style == Style::Terminal {
                    self.bar = Some(byte_bar(Some(*bytes), "uploading "));
                } else {
                    self.line(&format!("uploading {bytes} bytes"));
                }
            }
            Event::UploadProgress { sent, total } => match (&self.bar, self.style) {
                (Some(bar), Style::Terminal) => bar.set_position(*sent),
                (_, Style::Plain) if *total > 0 => {
                    let tenth = sent.saturating_mul(10) / total;
                    if tenth >= self.next_tenth && tenth < 10 {
                        self.line(&format!(
                            "uploaded {}% ({sent} of {total} bytes)",
                            tenth * 10
                        ));
                        self.next_tenth = tenth + 1;
                    }
                }
                _ => {}
            },
            Event::UploadVerified => {
                self.clear();
                self.line("upload complete and verified (ETag = md5)");
            }
            Event::UploadSkipped => {
                self.line("the service already has this file: no upload needed");
            }
            Event::ImportStarted { bookmark } => {
                let bookmark = crate::text::clean(bookmark);
                if self.style == Style::Plain || self.verbose > 0 {
                    self.line(&format!("import started at bookmark {bookmark}"));
                }
                self.spinner("started");
            }
            Event::Log(text) => {
                let text = crate::text::clean(text);
                if self.style == Style::Plain || self.verbose > 0 {
                    self.line(&format!("service: {text}"));
                }
                self.spinner(&text);
            }
            Event::UnknownStatus(s) => self.line(&format!(
                "warning: unknown import status {:?}; still polling",
                crate::text::clean(s)
            )),
            Event::RetryScheduled {
                attempt,
                delay,
                reason,
            } => self.line(&format!(
                "retrying in {:.1}s (attempt {attempt}): {}",
                delay.as_secs_f64(),
                crate::text::clean(&reason.to_string())
            )),
            Event::ImportCompleted(_) => self.clear(),
            _ => {}
        }
    }
}
