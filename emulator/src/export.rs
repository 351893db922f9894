//! The export endpoint: starting and polling jobs, the long poll, the dump thread.

use std::fs::File;
use std::io::BufWriter;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use crate::api::Answer;
use crate::config::DatabaseConfig;
use crate::dump::{self, Compatibility, DumpError, DumpOptions};
use crate::faults::Layer;
use crate::http::Request;
use crate::jobs::{JobId, JobState, PartCounter, Phase};
use crate::server::{Shared, State};
use crate::{bookmark, download};

/// The message of a second export while one is active (HTTP 409, code 7500).
pub const ALREADY_RUNNING: &str =
    "Currently processing a long-running export. Cannot start a new export until that completes or times out.";
/// The prefix of the `result.error` of a poll whose job is unknown or was cancelled.
pub const JOB_GONE_PREFIX: &str = "Export job not found or cancelled for bookmark";

/// `dump_options` as sent.
#[derive(Debug, Deserialize)]
struct WireDumpOptions {
    no_data: Option<bool>,
    no_schema: Option<bool>,
    tables: Option<Vec<String>>,
    compatibility: Option<String>,
}

/// The export request body.
#[derive(Debug, Deserialize)]
struct ExportBody {
    output_format: Option<String>,
    current_bookmark: Option<String>,
    dump_options: Option<WireDumpOptions>,
}

/// Handles `POST .../export` for a known database.
pub(crate) fn export(shared: &Arc<Shared>, req: &Request, db: &DatabaseConfig) -> Answer {
    let body: ExportBody = match serde_json::from_slice(&req.body) {
        Ok(b) => b,
        Err(e) => return Answer::error(400, 7400, format!("Malformed JSON in request body: {e}")),
    };
    if body.output_format.as_deref() != Some("polling") {
        return Answer::error(400, 7400, "output_format must be \"polling\"");
    }
    let wire = body.dump_options.unwrap_or(WireDumpOptions {
        no_data: None,
        no_schema: None,
        tables: None,
        compatibility: None,
    });
    let compatibility = match wire.compatibility.as_deref() {
        None => Compatibility::D1,
        Some(c) => match Compatibility::from_wire(c) {
            Some(c) => c,
            None => {
                return Answer::error(
                    400,
                    7400,
                    format!(
                    "dump_options.compatibility must be \"d1\" or \"sqlite3_cli_only\", not {c:?}"
                ),
                )
            }
        },
    };
    let options = DumpOptions {
        no_data: wire.no_data.unwrap_or(false),
        no_schema: wire.no_schema.unwrap_or(false),
        tables: wire.tables.unwrap_or_default(),
        compatibility,
    };
    if let Err(e) = options.validate() {
        return Answer::error(400, 7400, e.to_string());
    }
    let timing = &shared.config.timing;
    let id = match body.current_bookmark {
        Some(bookmark) => {
            let now = Instant::now();
            let mut st = shared.lock();
            let State { jobs, stats, .. } = &mut *st;
            jobs.sweep(timing.idle_cancel, now, stats);
            let found = jobs.find(&db.uuid, &bookmark);
            match found.and_then(|id| jobs.jobs.get_mut(&id)) {
                Some(job) if job.state != JobState::Cancelled => {
                    job.polls += 1;
                    job.last_poll = now;
                    stats.polls_per_job.insert(bookmark.clone(), job.polls);
                }
                _ => return job_gone(shared, &bookmark),
            }
            found.expect("found above")
        }
        None => {
            // Read the schema before taking the lock: a virtual table fails the export at once.
            let precheck = dump::precheck(&db.path, &options);
            // The job is at the database's bookmark as of now (the time-travel endpoint's).
            let bookmark = bookmark::current(db);
            let now = Instant::now();
            let mut st = shared.lock();
            let State {
                jobs,
                stats,
                rng,
                imports,
                ..
            } = &mut *st;
            jobs.sweep(timing.idle_cancel, now, stats);
            if let Some(layer) = shared.config.faults.already_running {
                return failure_in(layer, 409, "", ALREADY_RUNNING.to_owned());
            }
            if jobs.active_for(&db.uuid).is_some() {
                return Answer::error(409, 7500, ALREADY_RUNNING);
            }
            if imports.active_for(&db.uuid) {
                return Answer::error(409, 7500, crate::import::IMPORT_ALREADY_RUNNING);
            }
            let id = jobs.create(rng, &db.uuid, &bookmark, now);
            stats.jobs_created += 1;
            stats.polls_per_job.insert(bookmark, 0);
            let job = jobs.jobs.get_mut(&id).expect("just created");
            match precheck {
                Ok(()) => {
                    let cancel = job.cancel.clone();
                    drop(st);
                    spawn_generator(shared, id, db, options, cancel);
                }
                Err(e @ DumpError::VirtualTables(_)) => {
                    job.state = JobState::Error(e.to_string());
                    stats.jobs_failed += 1;
                }
                Err(e) => {
                    job.state = JobState::Failure(format!("Export failed: {e}"));
                    stats.jobs_failed += 1;
                }
            }
            id
        }
    };
    // The long poll: wait up to `poll_hold` for the job to settle.
    // A request after which the job still needs more polls cannot see it finish: it is
    // answered at once (so the first reply of a job is never held unless it can complete).
    let can_finish = can_finish(shared, id, timing);
    let hold = if can_finish {
        timing.poll_hold
    } else {
        Duration::ZERO
    };
    let deadline = Instant::now() + hold;
    let mut st = shared.lock();
    loop {
        let now = Instant::now();
        let State { jobs, stats, .. } = &mut *st;
        // A poll being held counts as polling: the idle sweeper must not cancel its job.
        if let Some(job) = jobs.jobs.get_mut(&id) {
            job.last_poll = now;
        }
        if jobs.settle(id, timing, now, stats)
            || now >= deadline
            || shared.stopping.load(Ordering::SeqCst)
        {
            break;
        }
        let wake = jobs.wake_at(id, timing, deadline);
        let wait = wake
            .saturating_duration_since(now)
            .max(Duration::from_millis(1));
        st = shared
            .changed
            .wait_timeout(st, wait)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    job_reply(shared, &mut st, id)
}

fn can_finish(shared: &Shared, id: JobId, timing: &crate::config::Timing) -> bool {
    shared
        .lock()
        .jobs
        .jobs
        .get(&id)
        .is_none_or(|job| job.polls >= u64::from(timing.polls_before_complete))
}

fn job_gone(shared: &Shared, bookmark: &str) -> Answer {
    failure_in(
        shared.config.faults.job_gone_layer,
        404,
        bookmark,
        format!("{JOB_GONE_PREFIX} {bookmark}"),
    )
}

/// A failure said in one layer of a reply (the `Layer` fault chooses which).
fn failure_in(layer: Layer, envelope_status: u16, bookmark: &str, message: String) -> Answer {
    match layer {
        Layer::Status => Answer::ok(
            200,
            json!({
                "success": true,
                "type": "export",
                "at_bookmark": bookmark,
                "status": "error",
                "error": message,
                "messages": [],
            }),
        ),
        Layer::Inner => Answer::ok(200, json!({"success": false, "error": message})),
        Layer::Envelope => Answer::error(envelope_status, 7500, message),
    }
}

fn job_reply(shared: &Shared, st: &mut State, id: JobId) -> Answer {
    let now = Instant::now();
    let State {
        jobs, stats, rng, ..
    } = st;
    let Some(job) = jobs.jobs.get_mut(&id) else {
        // Not reached: jobs are kept until the emulator stops.
        return job_gone(shared, "");
    };
    let bookmark = job.bookmark.clone();
    let bookmark = bookmark.as_str();
    job.last_poll = now;
    let messages = job.take_messages();
    match job.state.clone() {
        JobState::Active => {
            let mut result = json!({
                "success": true,
                "type": "export",
                "at_bookmark": bookmark,
                "status": "active",
                "messages": messages,
            });
            if shared.config.faults.active_without_bookmark {
                result.as_object_mut().map(|m| m.remove("at_bookmark"));
            }
            if shared.config.faults.omit_active_status {
                result.as_object_mut().map(|m| m.remove("status"));
                Answer::ok(200, result)
            } else {
                Answer::ok(202, result)
            }
        }
        JobState::Complete => {
            let filename = job.filename.clone();
            let timing = &shared.config.timing;
            let Some(token) = jobs.current_grant(
                id,
                rng,
                timing.url_lifetime,
                shared.config.faults.expire_first_url,
                now,
                stats,
            ) else {
                return job_gone(shared, bookmark);
            };
            let url = download::signed_url(&shared.origin, &token, &jobs.grants[&token], &filename);
            Answer::ok(
                200,
                json!({
                    "success": true,
                    "type": "export",
                    "at_bookmark": bookmark,
                    "status": "complete",
                    "messages": messages,
                    "result": {"filename": filename, "signed_url": url},
                }),
            )
        }
        JobState::Error(error) => Answer::ok(
            200,
            json!({
                "success": true,
                "type": "export",
                "at_bookmark": bookmark,
                "status": "error",
                "error": error,
                "messages": messages,
            }),
        ),
        JobState::Failure(error) => Answer::ok(200, json!({"success": false, "error": error})),
        JobState::Cancelled => job_gone(shared, bookmark),
    }
}

/// Writes the job's dump on a thread of its own, announcing parts as they fill.
fn spawn_generator(
    shared: &Arc<Shared>,
    id: JobId,
    db: &DatabaseConfig,
    options: DumpOptions,
    cancel: Arc<AtomicBool>,
) {
    let shared2 = shared.clone();
    let db_path = db.path.clone();
    let path = shared.work_dir.join(format!("job-{id}.sql"));
    let part_size = shared.config.timing.part_size;
    let spawned = std::thread::Builder::new()
        .name("d1-emulator-dump".into())
        .spawn(move || {
            let mut parts = PartCounter::new(part_size);
            let result = File::create(&path).map_err(DumpError::from).and_then(|f| {
                dump::write_dump_with(
                    &db_path,
                    &options,
                    BufWriter::with_capacity(1 << 20, f),
                    &mut |bytes| {
                        if cancel.load(Ordering::Relaxed) {
                            return false;
                        }
                        let msgs = parts.advance(bytes);
                        if !msgs.is_empty() {
                            if let Some(job) = shared2.lock().jobs.jobs.get_mut(&id) {
                                job.messages.extend(msgs);
                            }
                        }
                        true
                    },
                )
            });
            let mut st = shared2.lock();
            match (st.jobs.jobs.get_mut(&id), result) {
                (Some(job), Ok(size)) if job.is_active() => {
                    let (msgs, total) = parts.finish(size);
                    job.messages.extend(msgs);
                    job.parts = total;
                    job.phase = Phase::Written { path, size };
                }
                (Some(job), Err(e)) if job.is_active() => {
                    job.phase = Phase::Failed(format!("Export failed: {e}"));
                    let _ = std::fs::remove_file(&path);
                }
                _ => {
                    let _ = std::fs::remove_file(&path);
                }
            }
            drop(st);
            shared2.changed.notify_all();
        });
    let mut generators = shared.generators.lock().unwrap_or_else(|e| e.into_inner());
    generators.retain(|h| !h.is_finished());
    match spawned {
        Ok(handle) => generators.push(handle),
        Err(e) => {
            drop(generators);
            if let Some(job) = shared.lock().jobs.jobs.get_mut(&id) {
                job.phase = Phase::Failed(format!("Export failed: cannot start: {e}"));
            }
        }
    }
}
