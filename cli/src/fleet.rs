//! `d1-export --all`: every database of the account into one directory, a manifest beside
//! each dump, a summary at the end (and as JSON with `--json`).

use crate::args::Args;
use crate::destination::{compression, ManifestAt, Place};
use crate::driver::Driver;
use crate::exit::{Code, Failure};
use crate::manifest::{Facts, Manifest};
use d1_export_core::wire::DatabaseInfo;
use d1_export_core::{AccountId, Compatibility, DumpOptions, Event, RateBudget};
use d1_export_sinks::retention;
use d1_export_sinks::Compression;
use d1_export_transport::{
    dump_file_name, DatabaseReport, DatabaseStatus, Error, Feed, FleetHooks, FleetOptions,
    TemporaryPath,
};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
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
    place: &'a Place,
    compression: Compression,
    keep: Option<usize>,
    /// The name each database's dump got this run (timestamped with `--keep`).
    names: Mutex<HashMap<PathBuf, String>>,
    /// What a backup here holds (`.sqlite` with `--format sqlite`).
    format: retention::Format,
    /// Restore-ready runs: the fleet writes plain SQL into a private staging directory, and
    /// each database is delivered (with its manifest) only once verified and converted, so
    /// nothing unverified ever stands in the output directory.
    staged: bool,
    /// The restore-ready format asked for (`sql` with `--verify`, `sqlite`, `importable`).
    restore_ready: Option<&'static str>,
}

impl Hooks<'_> {
    /// `<name>-<uuid>.sql[.gz|.zst]`, the name without `--keep`.
    fn fixed_name(&self, database: &DatabaseInfo) -> String {
        format!(
            "{}{}",
            dump_file_name(database),
            self.compression.extension()
        )
    }

    /// The name the dump for `path` got (the fixed name when no feed was opened).
    fn name_of(&self, path: &Path, database: &DatabaseInfo) -> String {
        self.names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)
            .cloned()
            .unwrap_or_else(|| self.fixed_name(database))
    }

    /// The bookmark in a manifest, if the backup it describes is what this run would make:
    /// taken with the same dump options (or with `sqlite3_cli_only` where this run would fall
    /// back to it), and restore-ready in the same format (or plain when this run is).
    fn bookmark_in(&self, manifest: &[u8]) -> Option<String> {
        let value: serde_json::Value = serde_json::from_slice(manifest).ok()?;
        let options_value = |options: &DumpOptions| {
            serde_json::to_value(crate::manifest::ManifestOptions::from(options)).ok()
        };
        let fell_back = value.pointer("/restore_ready/compatibility_fallback")
            == Some(&serde_json::Value::Bool(true));
        let theirs = value.get("dump_options").cloned();
        let same_options = theirs == options_value(self.options)
            || (fell_back && {
                let mut cli = self.options.clone();
                cli.compatibility = Some(Compatibility::Sqlite3CliOnly);
                theirs == options_value(&cli)
            });
        let format = value
            .pointer("/restore_ready/format")
            .and_then(serde_json::Value::as_str);
        if !same_options || format != self.restore_ready {
            return None;
        }
        value.get("bookmark")?.as_str().map(str::to_owned)
    }

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

    fn previous_bookmark(&self, database: &DatabaseInfo, _path: &Path) -> Option<String> {
        let store = self.place.store();
        // The newest backup with --keep; the one fixed name without. Only a complete dump
        // still in place counts (its manifest is written after it).
        let name = match self.keep {
            Some(_) => store.backups(&database.uuid).ok()?.into_iter().next()?.file,
            None => output_name(database, self.format, self.compression),
        };
        if let Place::Dir(dir) = self.place {
            if !dir.join(&name).is_file() {
                return None;
            }
        }
        let manifest = store.read_small(&retention::manifest_name(&name)).ok()??;
        self.bookmark_in(&manifest)
    }

    fn open_feed(&self, path: &Path) -> Option<Result<Feed, Error>> {
        if self.staged || (self.keep.is_none() && !self.place.needs_sink(self.compression)) {
            return None;
        }
        // The fleet names the file `<name>-<uuid>.sql`; the stem is the name and uuid.
        let file = path.file_name()?.to_string_lossy().into_owned();
        let stem = file.strip_suffix(".sql").unwrap_or(&file);
        let name = match self.keep {
            Some(_) => retention::backup_name(stem, SystemTime::now(), self.compression),
            None => format!("{stem}.sql{}", self.compression.extension()),
        };
        self.names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(path.to_owned(), name.clone());
        Some(self.place.start(&name, self.compression))
    }

    fn on_done(&self, report: &DatabaseReport) {
        let n = self.finished.fetch_add(1, Ordering::Relaxed) + 1;
        let db = &report.database;
        let line = match &report.status {
            DatabaseStatus::Exported(_) if self.staged => {
                format!(
                    "[{n}] exported {} ({:.1}s), to be verified",
                    db.name,
                    report.elapsed.as_secs_f64()
                )
            }
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
                    compression: self.compression,
                });
                let name = self.name_of(&report.path, db);
                if let Err(e) = self.place.manifest_at(&name).write(&manifest) {
                    format!("[{n}] {}: exported, but the manifest failed: {e}", db.name)
                } else {
                    let pruned = match self.keep {
                        Some(keep) => match self.place.store().prune(&db.uuid, keep, &name) {
                            Ok(removed) if removed.is_empty() => String::new(),
                            Ok(removed) => format!(", {} older removed", removed.len()),
                            Err(e) => format!(", removing older backups failed: {e}"),
                        },
                        None => String::new(),
                    };
                    format!(
                        "[{n}] ok      {} ({} bytes, {:.1}s{pruned})",
                        manifest.output,
                        manifest.bytes,
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

/// `<name>-<uuid>.sql[.gz|.zst]` (`.sqlite…` for that format), the name without `--keep`.
fn output_name(
    database: &DatabaseInfo,
    format: retention::Format,
    compression: Compression,
) -> String {
    let file = dump_file_name(database);
    let stem = file.strip_suffix(".sql").unwrap_or(&file);
    format!("{stem}{}{}", format.extension(), compression.extension())
}

/// The manifest of a database made restore-ready after the fleet ran, at `at`.
fn write_restore_ready_manifest(
    args: &Args,
    r: &DatabaseReport,
    output: &Path,
    at: &ManifestAt,
    compression: Compression,
    done: crate::restore_ready::Done,
) {
    let mut manifest = Manifest::new(Facts {
        database_id: &r.database.uuid,
        database_name: Some(&r.database.name),
        output,
        options: &done.job.options,
        outcome: &done.outcome,
        started: r.started,
        finished: SystemTime::now(),
        driver: args.driver.name(),
        compression,
    });
    manifest.verified = Some(done.verified);
    manifest.restore_ready = Some(done.made);
    if let Err(e) = at.write(&manifest) {
        let _ = writeln!(
            std::io::stderr().lock(),
            "{}: the manifest could not be written: {e}",
            r.database.name,
        );
    }
}

/// A private directory the fleet writes restore-ready dumps into before they are delivered
/// (inside a local `--output-dir`, else in the temporary directory); removed with all it
/// holds on drop.
/// A private directory of ours, removed when done (also by the signal handler's exit path).
struct StagingDir(TemporaryPath);

impl StagingDir {
    fn create(place: &Place) -> Result<Self, Failure> {
        let name = format!(".d1-export-staging-{}", std::process::id());
        let path = match place {
            Place::Dir(d) => d.join(name),
            Place::Bucket { .. } => std::env::temp_dir().join(name),
        };
        let _ = std::fs::remove_dir_all(&path);
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&path).map_err(|e| {
            Failure::new(
                Code::Download,
                format!("cannot create {}: {e}", path.display()),
            )
        })?;
        Ok(Self(TemporaryPath::new(path)))
    }
}

/// What delivering a staged restore-ready output gave: where it is, or why it is not.
fn deliver_staged(
    hooks: &Hooks<'_>,
    r: &DatabaseReport,
    staged: &Path,
    done: &mut crate::restore_ready::Done,
) -> Result<String, Failure> {
    let name = match hooks.keep {
        Some(_) => {
            let file = dump_file_name(&r.database);
            let stem = file.strip_suffix(".sql").unwrap_or(&file);
            retention::backup_name_as(stem, SystemTime::now(), hooks.format, hooks.compression)
        }
        None => output_name(&r.database, hooks.format, hooks.compression),
    };
    let written = hooks
        .place
        .destination(&name, hooks.compression)
        .store_file(staged)
        .map_err(|e| Failure::from_error(&e))?;
    let _ = std::fs::remove_file(staged);
    let location = written.location.clone();
    done.outcome.written = Some(written);
    hooks
        .names
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(PathBuf::from(&location), name);
    Ok(location)
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
    let place = Place::plan(dir)?;
    let compression = compression(args.compress, ".sql");
    let wanted = crate::restore_ready::Wanted::from_args(args)?;
    let format = match wanted {
        Some(w) if w.output == crate::restore_ready::Output::Sqlite => retention::Format::Sqlite,
        _ => retention::Format::Sql,
    };
    // Restore-ready dumps are made in a private staging directory first, then delivered
    // one by one once verified and converted.
    let staging = match wanted {
        Some(_) => Some(StagingDir::create(&place)?),
        None => None,
    };
    let dir = &staging
        .as_ref()
        .map_or_else(|| place.fleet_dir(), |s| s.0.path().to_owned());
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
        place: &place,
        compression,
        keep: args.keep.map(|k| k as usize),
        names: Mutex::new(HashMap::new()),
        format,
        staged: staging.is_some(),
        restore_ready: wanted.map(|w| w.output.name()),
    };
    let reports = driver
        .export_all(account, dir, &fleet, &hooks)
        .map_err(|e| Failure::from_error(&e))?;
    // --verify / --format sqlite / --importable: each dump made restore-ready in place.
    let post = match wanted {
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
        let (status, size, error, restore_ready) = match (&r.status, post) {
            (_, Some(post)) => {
                file = post.path.display().to_string();
                // Restore-ready runs are always staged: delivered from the staging directory.
                let delivered = post.result.and_then(|mut done| {
                    deliver_staged(&hooks, r, &post.path, &mut done).map(|location| {
                        file.clone_from(&location);
                        (done, PathBuf::from(location))
                    })
                });
                match delivered {
                    Ok((done, output)) => {
                        let size = done
                            .outcome
                            .written
                            .as_ref()
                            .map_or(done.outcome.bytes, |w| w.bytes);
                        ok += 1;
                        bytes += size;
                        let name = hooks.name_of(&output, &r.database);
                        let at = hooks.place.manifest_at(&name);
                        let summary = serde_json::json!({
                            "verified": done.verified,
                            "restore_ready": done.made,
                        });
                        write_restore_ready_manifest(
                            args,
                            r,
                            &output,
                            &at,
                            hooks.compression,
                            done,
                        );
                        if let Some(keep) = hooks.keep {
                            if let Err(e) = hooks.place.store().prune(&r.database.uuid, keep, &name)
                            {
                                hooks.say(&format!(
                                    "{}: removing older backups failed: {e}",
                                    r.database.name
                                ));
                            }
                        }
                        hooks.say(&format!("ok      {file} ({size} bytes, verified)"));
                        ("ok", Some(size), None, Some(summary))
                    }
                    Err(f) => {
                        failed += 1;
                        first_failure.get_or_insert(f.code);
                        ("failed", None, Some(f.message), None)
                    }
                }
            }
            (DatabaseStatus::Exported(o), None) => {
                ok += 1;
                let size = o.written.as_ref().map_or(o.bytes, |w| w.bytes);
                if let Some(w) = &o.written {
                    file.clone_from(&w.location);
                }
                bytes += size;
                ("ok", Some(size), None, None)
            }
            (DatabaseStatus::Skipped { .. }, None) => {
                skipped += 1;
                ("skipped", None, None, None)
            }
            (DatabaseStatus::Failed(e), None) => {
                failed += 1;
                first_failure.get_or_insert(Failure::from_error(e).code);
                ("failed", None, Some(Failure::from_error(e).message), None)
            }
        };
        let mut row = serde_json::json!({
            "database_id": r.database.uuid,
            "database_name": r.database.name,
            "file": file,
            "status": status,
            "bytes": size,
            "seconds": r.elapsed.as_secs_f64(),
            "error": error,
        });
        // Restore-ready runs: what the manifest records, per database.
        if let (Some(extra), Some(row)) = (restore_ready, row.as_object_mut()) {
            if let Some(extra) = extra.as_object() {
                row.extend(extra.clone());
            }
        }
        rows.push(row);
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
