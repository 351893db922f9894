//! The `/client/v4` API: authentication, the export endpoint, database lookup and list.

use std::fs::File;
use std::io::BufWriter;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::DatabaseConfig;
use crate::dump::{self, Compatibility, DumpError, DumpOptions};
use crate::faults::Injection;
use crate::http::{Request, Response};
use crate::jobs::{JobState, PartCounter, Phase};
use crate::server::{Shared, State};
use crate::{download, timefmt};

/// The message of a second export while one is active (HTTP 409, code 7500).
pub const ALREADY_RUNNING: &str =
    "Currently processing a long-running export. Cannot start a new export until that completes or times out.";
/// The prefix of the `result.error` of a poll whose job is unknown or was cancelled.
pub const JOB_GONE_PREFIX: &str = "Export job not found or cancelled for bookmark";

/// What the connection should do.
pub(crate) enum Reply {
    /// Send this response; the route name is for the statistics.
    Respond(String, Response),
    /// Reset the connection without a response.
    Reset(String),
}

/// An API answer before it is serialized (so faults can reshape it).
struct Answer {
    status: u16,
    body: Value,
    headers: Vec<(String, String)>,
}

impl Answer {
    fn ok(status: u16, result: Value) -> Answer {
        Answer {
            status,
            body: json!({"success": true, "errors": [], "messages": [], "result": result}),
            headers: Vec::new(),
        }
    }

    fn error(status: u16, code: u32, message: impl Into<String>) -> Answer {
        Answer {
            status,
            body: json!({
                "success": false,
                "errors": [{"code": code, "message": message.into()}],
                "messages": [],
                "result": null
            }),
            headers: Vec::new(),
        }
    }
}

/// The API routes.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    List { account: String },
    Get { account: String, database: String },
    Export { account: String, database: String },
    Unknown,
}

impl Route {
    fn parse(path: &str) -> Route {
        let rest = path.strip_prefix("/client/v4").unwrap_or("");
        let segs: Vec<String> = rest
            .split('/')
            .filter(|s| !s.is_empty())
            .map(crate::http::percent_decode)
            .collect();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        match segs.as_slice() {
            ["accounts", acc, "d1", "database"] => Route::List {
                account: (*acc).to_owned(),
            },
            ["accounts", acc, "d1", "database", db] => Route::Get {
                account: (*acc).to_owned(),
                database: (*db).to_owned(),
            },
            ["accounts", acc, "d1", "database", db, "export"] => Route::Export {
                account: (*acc).to_owned(),
                database: (*db).to_owned(),
            },
            _ => Route::Unknown,
        }
    }

    fn template(&self) -> &'static str {
        match self {
            Route::List { .. } => "/accounts/:account/d1/database",
            Route::Get { .. } => "/accounts/:account/d1/database/:database",
            Route::Export { .. } => "/accounts/:account/d1/database/:database/export",
            Route::Unknown => "(unknown API route)",
        }
    }

    fn method(&self) -> &'static str {
        match self {
            Route::Export { .. } => "POST",
            _ => "GET",
        }
    }
}

/// Handles one API request, faults included.
pub(crate) fn handle(shared: &Arc<Shared>, req: &Request) -> Reply {
    let route = Route::parse(&req.path);
    let name = format!("{} {}", req.method, route.template());
    let injection = {
        let mut st = shared.lock();
        let inj = st.faults.next(&shared.config.faults, Instant::now());
        if inj != Injection::None {
            st.stats.record_fault(inj.name());
        }
        inj
    };
    let answer = match injection {
        Injection::Reset => return Reply::Reset(name),
        Injection::ServiceUnavailable => {
            let resp = Response::new(
                503,
                "text/html; charset=UTF-8",
                "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n",
            );
            return Reply::Respond(name, resp);
        }
        Injection::TooManyRequests(secs) => {
            let mut a = Answer::error(
                429,
                971,
                "Please wait and consider throttling your request speed",
            );
            a.headers.push(("Retry-After".into(), secs.to_string()));
            a
        }
        Injection::None | Injection::InvalidJson => dispatch(shared, req, &route),
    };
    let mut body = answer.body;
    if shared.config.faults.extra_fields {
        add_extra_fields(&mut body);
    }
    let mut resp = Response::json(answer.status, &body);
    for (n, v) in answer.headers {
        resp = resp.with_header(&n, v);
    }
    if injection == Injection::InvalidJson {
        resp.status = 200;
        let keep = (resp.body.len() / 2).max(1);
        resp.body.truncate(keep);
    }
    Reply::Respond(name, resp)
}

/// Adds an unknown field to every JSON object.
fn add_extra_fields(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for child in map.values_mut() {
                add_extra_fields(child);
            }
            map.insert(
                "x_emulator_unknown".into(),
                json!({"note": "clients must ignore unknown fields", "list": [1, 2.5, null, true]}),
            );
        }
        Value::Array(items) => items.iter_mut().for_each(add_extra_fields),
        _ => {}
    }
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A D1 database id: a UUID with dashes, or 32 hex digits.
fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    (b.len() == 32 && is_hex(s))
        || (b.len() == 36
            && b.iter().enumerate().all(|(i, c)| {
                if [8, 13, 18, 23].contains(&i) {
                    *c == b'-'
                } else {
                    c.is_ascii_hexdigit()
                }
            }))
}

fn same_uuid(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.replace('-', "").to_ascii_lowercase();
    norm(a) == norm(b)
}

fn dispatch(shared: &Arc<Shared>, req: &Request, route: &Route) -> Answer {
    if *route == Route::Unknown {
        return Answer::error(404, 7000, "No route for that URI");
    }
    let auth = req.header("authorization");
    let Some(auth) = auth else {
        return Answer::error(401, 10000, "Authentication error");
    };
    let token = auth
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    if token != Some(shared.config.token.as_str()) {
        return Answer::error(403, 10000, "Authentication error");
    }
    let (Route::List { account } | Route::Get { account, .. } | Route::Export { account, .. }) =
        route
    else {
        unreachable!("unknown routes answered above")
    };
    if !(account.len() == 32 && is_hex(account)) {
        return Answer::error(
            400,
            7003,
            format!(
                "Could not route to {}, perhaps your object identifier is invalid?",
                req.path
            ),
        );
    }
    if !account.eq_ignore_ascii_case(&shared.config.account_id) {
        return Answer::error(
            403,
            7403,
            "The given account is not valid or is not authorized to access this service",
        );
    }
    if req.method != route.method() {
        return Answer::error(405, 10405, "Method not allowed");
    }
    match route {
        Route::List { .. } => list(shared, req),
        Route::Get { database, .. } => {
            let db = shared
                .config
                .databases
                .iter()
                .find(|d| same_uuid(&d.uuid, database) || d.name == *database);
            match db {
                Some(db) => Answer::ok(200, database_info(db)),
                None => Answer::error(
                    404,
                    7404,
                    format!("The database {database} could not be found"),
                ),
            }
        }
        Route::Export { database, .. } => {
            if !is_uuid(database) {
                return Answer::error(
                    400,
                    7003,
                    format!(
                        "Could not route to {}, perhaps your object identifier is invalid?",
                        req.path
                    ),
                );
            }
            match shared
                .config
                .databases
                .iter()
                .find(|d| same_uuid(&d.uuid, database))
            {
                Some(db) => export(shared, req, db),
                None => Answer::error(
                    404,
                    7404,
                    format!("The database {database} could not be found"),
                ),
            }
        }
        Route::Unknown => unreachable!("answered above"),
    }
}

fn database_info(db: &DatabaseConfig) -> Value {
    let meta = std::fs::metadata(&db.path).ok();
    let created = meta
        .as_ref()
        .and_then(|m| m.created().or_else(|_| m.modified()).ok())
        .map(timefmt::rfc3339);
    let num_tables = rusqlite::Connection::open_with_flags(
        &db.path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .and_then(|c| {
        c.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'",
            [],
            |r| r.get::<_, i64>(0),
        )
    })
    .unwrap_or(0);
    json!({
        "uuid": db.uuid,
        "name": db.name,
        "created_at": created,
        "version": "production",
        "num_tables": num_tables,
        "file_size": meta.map_or(0, |m| m.len()),
    })
}

fn list(shared: &Arc<Shared>, req: &Request) -> Answer {
    let number = |name: &str, default: usize, max: usize| -> Result<usize, Answer> {
        match req.query_param(name) {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(Answer::error(
                    400,
                    7400,
                    format!("{name} must be an integer between 1 and {max}"),
                )),
            },
        }
    };
    let page = match number("page", 1, usize::MAX) {
        Ok(n) => n,
        Err(a) => return a,
    };
    let per_page = match number("per_page", 1000, 10_000) {
        Ok(n) => n,
        Err(a) => return a,
    };
    let filter = req.query_param("name");
    let matching: Vec<&DatabaseConfig> = shared
        .config
        .databases
        .iter()
        .filter(|d| filter.as_deref().is_none_or(|f| d.name.contains(f)))
        .collect();
    let items: Vec<Value> = matching
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|d| database_info(d))
        .collect();
    let mut a = Answer::ok(200, Value::Null);
    a.body["result_info"] = json!({
        "page": page,
        "per_page": per_page,
        "count": items.len(),
        "total_count": matching.len(),
    });
    a.body["result"] = Value::Array(items);
    a
}

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

fn export(shared: &Arc<Shared>, req: &Request, db: &DatabaseConfig) -> Answer {
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
    let bookmark = match body.current_bookmark {
        Some(bookmark) => {
            let now = Instant::now();
            let mut st = shared.lock();
            let State { jobs, stats, .. } = &mut *st;
            jobs.sweep(timing.idle_cancel, now, stats);
            match jobs.jobs.get_mut(&bookmark) {
                Some(job)
                    if same_uuid(&job.db_uuid, &db.uuid) && job.state != JobState::Cancelled =>
                {
                    job.polls += 1;
                    job.last_poll = now;
                    stats.polls_per_job.insert(bookmark.clone(), job.polls);
                }
                _ => return job_gone(&bookmark),
            }
            bookmark
        }
        None => {
            // Read the schema before taking the lock: a virtual table fails the export at once.
            let precheck = dump::precheck(&db.path, &options);
            let now = Instant::now();
            let mut st = shared.lock();
            let State {
                jobs, stats, rng, ..
            } = &mut *st;
            jobs.sweep(timing.idle_cancel, now, stats);
            if jobs.active_for(&db.uuid).is_some() {
                return Answer::error(409, 7500, ALREADY_RUNNING);
            }
            let bookmark = jobs.create(rng, &db.uuid, now);
            stats.jobs_created += 1;
            stats.polls_per_job.insert(bookmark.clone(), 0);
            let job = jobs.jobs.get_mut(&bookmark).expect("just created");
            match precheck {
                Ok(()) => {
                    let cancel = job.cancel.clone();
                    drop(st);
                    spawn_generator(shared, &bookmark, db, options, cancel);
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
            bookmark
        }
    };
    // The long poll: wait up to `poll_hold` for the job to settle.
    let deadline = Instant::now() + timing.poll_hold;
    let mut st = shared.lock();
    loop {
        let now = Instant::now();
        let State { jobs, stats, .. } = &mut *st;
        // A poll being held counts as polling: the idle sweeper must not cancel its job.
        if let Some(job) = jobs.jobs.get_mut(&bookmark) {
            job.last_poll = now;
        }
        if jobs.settle(&bookmark, timing, now, stats)
            || now >= deadline
            || shared.stopping.load(Ordering::SeqCst)
        {
            break;
        }
        let wake = jobs.wake_at(&bookmark, timing, deadline);
        let wait = wake
            .saturating_duration_since(now)
            .max(std::time::Duration::from_millis(1));
        st = shared
            .changed
            .wait_timeout(st, wait)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    job_reply(shared, &mut st, &bookmark)
}

fn job_gone(bookmark: &str) -> Answer {
    Answer::ok(
        200,
        json!({
            "success": true,
            "type": "export",
            "at_bookmark": bookmark,
            "status": "error",
            "error": format!("{JOB_GONE_PREFIX} {bookmark}"),
            "messages": [],
        }),
    )
}

fn job_reply(shared: &Shared, st: &mut State, bookmark: &str) -> Answer {
    let now = Instant::now();
    let State {
        jobs, stats, rng, ..
    } = st;
    let Some(job) = jobs.jobs.get_mut(bookmark) else {
        return job_gone(bookmark);
    };
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
                bookmark,
                rng,
                timing.url_lifetime,
                shared.config.faults.expire_first_url,
                now,
                stats,
            ) else {
                return job_gone(bookmark);
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
        JobState::Cancelled => job_gone(bookmark),
    }
}

/// Writes the job's dump on a thread of its own, announcing parts as they fill.
fn spawn_generator(
    shared: &Arc<Shared>,
    bookmark: &str,
    db: &DatabaseConfig,
    options: DumpOptions,
    cancel: Arc<std::sync::atomic::AtomicBool>,
) {
    let shared2 = shared.clone();
    let job_bookmark = bookmark.to_owned();
    let db_path = db.path.clone();
    let path = shared.work_dir.join(format!("{bookmark}.sql"));
    let part_size = shared.config.timing.part_size;
    let spawned = std::thread::Builder::new()
        .name("d1-emulator-dump".into())
        .spawn(move || {
            let bookmark = job_bookmark;
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
                            if let Some(job) = shared2.lock().jobs.jobs.get_mut(&bookmark) {
                                job.messages.extend(msgs);
                            }
                        }
                        true
                    },
                )
            });
            let mut st = shared2.lock();
            match (st.jobs.jobs.get_mut(&bookmark), result) {
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
            if let Some(job) = shared.lock().jobs.jobs.get_mut(bookmark) {
                job.phase = Phase::Failed(format!("Export failed: cannot start: {e}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            Route::parse("/client/v4/accounts/a/d1/database/b/export"),
            Route::Export {
                account: "a".into(),
                database: "b".into()
            }
        );
        assert_eq!(
            Route::parse("/client/v4/accounts/a/d1/database/my%20db"),
            Route::Get {
                account: "a".into(),
                database: "my db".into()
            }
        );
        assert_eq!(Route::parse("/client/v4/user"), Route::Unknown);
    }

    #[test]
    fn uuids() {
        assert!(is_uuid("0b1c2d3e-0000-4000-8000-000000000001"));
        assert!(is_uuid("0b1c2d3e000040008000000000000001"));
        assert!(!is_uuid("my-db"));
    }

    #[test]
    fn extra_fields_everywhere() {
        let mut v = json!({"a": {"b": [{"c": 1}]}});
        add_extra_fields(&mut v);
        assert!(v["x_emulator_unknown"].is_object());
        assert!(v["a"]["x_emulator_unknown"].is_object());
        assert!(v["a"]["b"][0]["x_emulator_unknown"].is_object());
    }
}
