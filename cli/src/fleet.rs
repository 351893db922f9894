//! `d1-export --all`: every database of the account into one directory, a manifest beside
//! each dump, a summary at the end (and as JSON with `--json`).

use crate::args::Args;
use crate::driver::Driver;
use crate::exit::{Code, Failure};
use crate::manifest::{Facts, Manifest};
use d1_export_core::wire::DatabaseInfo;
use d1_export_core::{AccountId, DumpOptions, Event, RateBudget};
use d1_export_transport::{DatabaseReport, DatabaseStatus, FleetHooks, FleetOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

/// Parses `--rate-limit N/SECS` (e.g. `1200/300`).
pub fn parse_rate_limit(text: &str) -> Result<RateBudget, Failure> {
    let bad = || {
        Failure::usage(format!(
            "--rate-limit {text:?}: expected REQUESTS/SECONDS, e.g. 1200/300"
        ))
    };
    let (n, secs) = text.split_once('/').ok_or_else(bad)?;
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    let secs: f64 = secs
        .trim()
        .trim_end_matches('s')
        .parse()
        .map_err(|_| bad())?;
    if n == 0 || !(secs > 0.0 && secs < 1e9) {
        return Err(bad());
    }
    Ok(RateBudget::new(n, Duration::from_secs_f64(secs)))
}

struct Hooks<'a> {
    args: &'a Args,
    options: &'a DumpOptions,
    finished: AtomicUsize,
}

impl Hooks<'_> {
    fn say(&self, line: &str) {
        if !self.args.quiet {
            let _ = writeln!(std::io::stderr().lock(), "{}", crate::text::clean(line));
        }
    }
}

impl FleetHooks for Hooks<'_> {
    fn on_event(&self, database: &DatabaseInfo, event: &Event) {
        match event {
            Event::RetryScheduled {
                attempt,
                delay,
                reason,
            } if self.args.verbose > 0 => self.say(&format!(
                "{}: retrying in {:.1}s (attempt {attempt}): {reason}",
                database.name,
                delay.as_secs_f64()
            )),
            Event::Log(line) if self.args.verbose > 1 => {
                self.say(&format!("{}: {line}", database.name))
            }
            _ => {}
        }
    }

    fn previous_bookmark(&self, _database: &DatabaseInfo, path: &Path) -> Option<String> {
        let text = std::fs::read(Manifest::path_for(path)).ok()?;
        let value: serde_json::Value = serde_json::from_slice(&text).ok()?;
        // Only a complete dump still in place counts as the previous export.
        if !path.is_file()
            || value.get("dump_options")
                != serde_json::to_value(crate::manifest::ManifestOptions::from(self.options))
                    .ok()
                    .as_ref()
        {
            return None;
        }
        value.get("bookmark")?.as_str().map(str::to_owned)
    }

    fn on_done(&self, report: &DatabaseReport) {
        let n = self.finished.fetch_add(1, Ordering::Relaxed) + 1;
        let db = &report.database;
        let line = match &report.status {
            DatabaseStatus::Exported(outcome) => {
                let manifest = Manifest::new(Facts {
                    database_id: &db.uuid,
                    database_name: Some(&db.name),
                    output: &report.path,
                    options: self.options,
                    outcome,
                    started: report.started,
                    finished: SystemTime::now(),
                    driver: self.args.driver.name(),
                });
                if let Err(e) = manifest.write(&Manifest::path_for(&report.path)) {
                    format!("[{n}] {}: exported, but the manifest failed: {e}", db.name)
                } else {
                    format!(
                        "[{n}] ok      {} ({} bytes, {:.1}s)",
                        report.path.display(),
                        outcome.bytes,
                        report.elapsed.as_secs_f64()
                    )
                }
            }
            DatabaseStatus::Skipped { .. } => {
                format!("[{n}] skipped {} (unchanged)", db.name)
            }
            DatabaseStatus::Failed(e) => format!(
                "[{n}] FAILED  {} ({}): {}",
                db.name,
                db.uuid,
                Failure::from_error(e).message
            ),
        };
        self.say(&line);
    }
}

/// The manifest of a database made restore-ready after the fleet ran.
fn write_restore_ready_manifest(
    args: &Args,
    r: &DatabaseReport,
    path: &Path,
    done: crate::restore_ready::Done,
) {
    let mut manifest = Manifest::new(Facts {
        database_id: &r.database.uuid,
        database_name: Some(&r.database.name),
        output: path,
        options: &done.job.options,
        outcome: &done.outcome,
        started: r.started,
        finished: SystemTime::now(),
        driver: args.driver.name(),
    });
    manifest.verified = Some(done.verified);
    manifest.restore_ready = Some(done.made);
    if let Err(e) = manifest.write(&Manifest::path_for(path)) {
        let _ = writeln!(
            std::io::stderr().lock(),
            "{}: the manifest {} could not be written: {e}",
            r.database.name,
            Manifest::path_for(path).display()
        );
    }
}

/// Runs `--all`.
pub fn run(
    args: &Args,
    driver: &Driver,
    account: &AccountId,
    options: DumpOptions,
) -> Result<(), Failure> {
    let budget = parse_rate_limit(&args.rate_limit)?;
    let dir = args
        .output_dir
        .as_deref()
        .ok_or_else(|| Failure::usage("--all needs --output-dir"))?;
    std::fs::create_dir_all(dir).map_err(|e| {
        Failure::new(
            Code::Download,
            format!("cannot create {}: {e}", dir.display()),
        )
    })?;
    let fleet = FleetOptions {
        budget,
        dump: options.clone(),
        concurrency: usize::from(args.concurrency),
        include: args.include.clone(),
        exclude: args.exclude.clone(),
        skip_unchanged: args.skip_unchanged,
        per_page: 100,
    };
    let clock = std::time::Instant::now();
    let hooks = Hooks {
        args,
        options: &options,

        finished: AtomicUsize::new(0),
    };
    let reports = driver
        .export_all(account, dir, &fleet, &hooks)
        .map_err(|e| Failure::from_error(&e))?;
    // --verify / --format sqlite / --importable: each dump made restore-ready in place.
    let post = match crate::restore_ready::Wanted::from_args(args)? {
        Some(wanted) => {
            crate::restore_ready::after_fleet(wanted, args, driver, account, &options, &reports)
        }
        None => reports.iter().map(|_| None).collect(),
    };
    let (mut ok, mut skipped, mut failed, mut bytes) = (0usize, 0usize, 0usize, 0u64);
    let mut first_failure: Option<Code> = None;
    let mut rows = Vec::new();
    for (r, post) in reports.iter().zip(post) {
        let mut file = r.path.display().to_string();
        let (status, size, error) = match (&r.status, post) {
            (_, Some(post)) => {
                file = post.path.display().to_string();
                match post.result {
                    Ok(done) => {
                        let size = done.outcome.bytes;
                        ok += 1;
                        bytes += size;
                        write_restore_ready_manifest(args, r, &post.path, done);
                        ("ok", Some(size), None)
                    }
                    Err(f) => {
                        failed += 1;
                        first_failure.get_or_insert(f.code);
                        ("failed", None, Some(f.message))
                    }
                }
            }
            (DatabaseStatus::Exported(o), None) => {
                ok += 1;
                bytes += o.bytes;
                ("ok", Some(o.bytes), None)
            }
            (DatabaseStatus::Skipped { .. }, None) => {
                skipped += 1;
                ("skipped", None, None)
            }
            (DatabaseStatus::Failed(e), None) => {
                failed += 1;
                first_failure.get_or_insert(Failure::from_error(e).code);
                ("failed", None, Some(Failure::from_error(e).message))
            }
        };
        rows.push(serde_json::json!({
            "database_id": r.database.uuid,
            "database_name": r.database.name,
            "file": file,
            "status": status,
            "bytes": size,
            "seconds": r.elapsed.as_secs_f64(),
            "error": error,
        }));
    }
    let summary = format!(
        "{} databases: {ok} exported ({bytes} bytes), {skipped} skipped, {failed} failed, in {:.1}s",
        reports.len(),
        clock.elapsed().as_secs_f64()
    );
    if !args.quiet {
        let _ = writeln!(std::io::stderr().lock(), "{summary}");
    }
    if args.json {
        let value = serde_json::json!({
            "ok": failed == 0,
            "databases": rows,
            "totals": {"databases": reports.len(), "exported": ok, "skipped": skipped, "failed": failed, "bytes": bytes, "seconds": clock.elapsed().as_secs_f64()},
        });
        println!("{value}");
    }
    match first_failure {
        None => Ok(()),
        Some(code) => {
            let mut failure = Failure::new(
                code,
                format!("{failed} of {} databases failed", reports.len()),
            );
            failure.reported = args.json;
            Err(failure)
        }
    }
}
