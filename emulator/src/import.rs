//! The import endpoint (restoring a dump), Part 3 of the spec:
//! `POST …/import` with `{"action":"init","etag"}` → `PUT` of the file to the upload URL →
//! `{"action":"ingest","etag","filename"}` → `{"action":"poll","current_bookmark"}`.
//!
//! - **init** answers `result: {upload_url, filename}`, or the polling shape when the
//!   emulator already holds an intact upload with that md5 (it then starts importing it at
//!   once), or the running import of that file (a repeated init never starts a second one).
//! - The **upload** is `PUT /__upload/<token>/<filename>?X-Amz-…`, streamed to a file in the
//!   work directory with a fixed buffer while its md5 is computed. It answers 200 with
//!   `ETag: "<md5 of what arrived>"`; only a file whose md5 equals the init's etag can be
//!   ingested. `Authorization` on an upload is counted
//!   ([`Stats::uploads_with_authorization`](crate::Stats::uploads_with_authorization)).
//! - **ingest** starts the import of that upload (once: ingesting the same upload again
//!   answers the import it started) and holds the reply up to [`Timing::poll_hold`] so a
//!   small file is already complete in it. **poll** finds the import by its `at_bookmark`
//!   (the database's bookmark when the import started) and is held the same way.
//! - One import or export at a time per database: a second one is refused with 409 / 7500.
//! - The file is applied to the database's SQLite file **under D1's rules**: foreign keys on,
//!   `PRAGMA defer_foreign_keys` allowed, the refusals of [`d1_dump::rules`] (explicit
//!   transactions, other PRAGMAs, `writable_schema`, schema-table writes, statements over
//!   100 KB, `_cf_*` names, shadow tables, `ATTACH`/`VACUUM`, a SQLite file instead of SQL),
//!   all in one transaction rolled back on the first error, by the dump crate's own loader
//!   ([`d1_dump::load::load_dump`] in [`LoadMode::D1`]) on a hardened connection. The error
//!   names the statement: `statement N (line L): … `.
//! - Complete: `result: {final_bookmark, num_queries, meta: {duration, changes, rows_read,
//!   rows_written, size_after, served_by, last_row_id, changed_db}}`; failed:
//!   `status: "error"`, `error` and `errors: [error]` (strings, as wrangler joins them).
//!
//! [`Timing::poll_hold`]: crate::Timing::poll_hold

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use d1_dump::load::{load_dump, LoadError, LoadErrorKind, LoadMode};
use d1_dump::rules::{Rule, MAX_FILE_BYTES, SQLITE_HEADER};
use d1_dump::split::excerpt;
use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::Answer;
use crate::bookmark;
use crate::config::DatabaseConfig;
use crate::http::{Request, Response};
use crate::server::{Flow, Shared, State};

/// The message of a second import (or an import during an export) on one database.
pub const IMPORT_ALREADY_RUNNING: &str =
    "Currently processing a long-running import. Cannot start a new import until that completes or times out.";

/// The path prefix of upload URLs.
pub(crate) const UPLOAD_PREFIX: &str = "/__upload/";

/// How long an upload URL stays valid.
const UPLOAD_URL_LIFETIME: Duration = Duration::from_secs(3600);

/// The buffer an upload is streamed through.
const UPLOAD_BUFFER: usize = 256 * 1024;

/// An upload URL.
#[derive(Debug, Clone)]
struct UploadGrant {
    db_uuid: String,
    etag: String,
    filename: String,
    expires: Instant,
}

/// An upload that arrived intact (its md5 equals its etag).
#[derive(Debug)]
struct StoredFile {
    path: PathBuf,
    filename: String,
    /// The import this upload started, once ingested.
    ingested_by: Option<u64>,
}

/// Where an import stands.
#[derive(Debug, Clone)]
enum ImportState {
    Active,
    Complete(Value),
    Error(String),
}

#[derive(Debug)]
struct ImportJob {
    db_uuid: String,
    etag: String,
    at_bookmark: String,
    state: ImportState,
    messages: Vec<String>,
}

/// All uploads and imports.
#[derive(Debug, Default)]
pub(crate) struct Imports {
    grants: HashMap<String, UploadGrant>,
    /// Intact uploads by (database, md5).
    files: HashMap<(String, String), StoredFile>,
    jobs: HashMap<u64, ImportJob>,
    /// Upload attempts by (database, md5), for the once-per-file faults.
    attempts: HashMap<(String, String), u64>,
    seq: u64,
}

impl Imports {
    /// Whether an import of this database is running.
    pub(crate) fn active_for(&self, db_uuid: &str) -> bool {
        self.jobs
            .values()
            .any(|j| j.db_uuid == db_uuid && matches!(j.state, ImportState::Active))
    }

    fn running_of(&self, db_uuid: &str, etag: &str) -> Option<u64> {
        self.jobs
            .iter()
            .filter(|(_, j)| {
                j.db_uuid == db_uuid && j.etag == etag && matches!(j.state, ImportState::Active)
            })
            .map(|(id, _)| *id)
            .max()
    }

    fn by_bookmark(&self, db_uuid: &str, bookmark: &str) -> Option<u64> {
        self.jobs
            .iter()
            .filter(|(_, j)| j.db_uuid == db_uuid && j.at_bookmark == bookmark)
            .map(|(id, _)| *id)
            .max()
    }

    /// Removes the stored uploads (at shutdown).
    pub(crate) fn remove_files(&mut self) {
        for (_, f) in self.files.drain() {
            let _ = std::fs::remove_file(f.path);
        }
    }
}

#[derive(Debug, Deserialize)]
struct ImportBody {
    action: Option<String>,
    etag: Option<String>,
    filename: Option<String>,
    current_bookmark: Option<String>,
}

/// Handles `POST …/import` for a known database.
pub(crate) fn import(shared: &Arc<Shared>, req: &Request, db: &DatabaseConfig) -> Answer {
    let body: ImportBody = match serde_json::from_slice(&req.body) {
        Ok(b) => b,
        Err(e) => return Answer::error(400, 7400, format!("Malformed JSON in request body: {e}")),
    };
    let etag = || -> Result<String, Answer> {
        match body.etag.as_deref() {
            Some(e) if e.len() == 32 && e.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Ok(e.to_ascii_lowercase())
            }
            _ => Err(Answer::error(
                400,
                7400,
                "etag must be the md5 of the file (32 hexadecimal digits)",
            )),
        }
    };
    match body.action.as_deref() {
        Some("init") => match etag() {
            Ok(etag) => init(shared, db, &etag),
            Err(a) => a,
        },
        Some("ingest") => match (etag(), body.filename.as_deref()) {
            (Ok(etag), Some(filename)) => ingest(shared, db, &etag, filename),
            (Err(a), _) => a,
            (_, None) => Answer::error(400, 7400, "ingest needs the filename given by init"),
        },
        Some("poll") => match body.current_bookmark.as_deref() {
            Some(b) if !b.is_empty() => {
                // (The lock is released before the reply waits for the import.)
                let found = shared.lock().imports.by_bookmark(&db.uuid, b);
                match found {
                    Some(id) => settle_and_reply(shared, id),
                    None => not_found(b),
                }
            }
            _ => Answer::error(400, 7400, "poll needs current_bookmark"),
        },
        _ => Answer::error(400, 7400, "action must be \"init\", \"ingest\" or \"poll\""),
    }
}

/// 409 if another import or an export of `db` is running.
fn busy(st: &State, db_uuid: &str) -> Option<Answer> {
    (st.imports.active_for(db_uuid) || st.jobs.active_for(db_uuid).is_some())
        .then(|| Answer::error(409, 7500, IMPORT_ALREADY_RUNNING))
}

fn init(shared: &Arc<Shared>, db: &DatabaseConfig, etag: &str) -> Answer {
    let key = (db.uuid.clone(), etag.to_owned());
    let mut st = shared.lock();
    if let Some(id) = st.imports.running_of(&db.uuid, etag) {
        drop(st);
        return settle_and_reply(shared, id);
    }
    if let Some(a) = busy(&st, &db.uuid) {
        return a;
    }
    if let Some(path) = st.imports.files.get(&key).map(|f| f.path.clone()) {
        let id = start(shared, &mut st, db, etag, &path);
        if let Some(f) = st.imports.files.get_mut(&key) {
            f.ingested_by = Some(id);
        }
        drop(st);
        return settle_and_reply(shared, id);
    }
    let token = st.rng.hex(32);
    let signature = st.rng.hex(64);
    let filename = format!("{etag}.sql");
    st.imports.grants.insert(
        token.clone(),
        UploadGrant {
            db_uuid: db.uuid.clone(),
            etag: etag.to_owned(),
            filename: filename.clone(),
            expires: Instant::now() + UPLOAD_URL_LIFETIME,
        },
    );
    let date = crate::timefmt::amz_date(SystemTime::now());
    let url = format!(
        "{origin}{UPLOAD_PREFIX}{token}/{filename}?X-Amz-Algorithm=AWS4-HMAC-SHA256\
         &X-Amz-Credential=d1-emulator%2F{day}%2Fauto%2Fs3%2Faws4_request&X-Amz-Date={date}\
         &X-Amz-Expires={secs}&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}",
        origin = shared.origin,
        day = &date[..8],
        secs = UPLOAD_URL_LIFETIME.as_secs(),
    );
    Answer::ok(200, json!({"upload_url": url, "filename": filename}))
}

fn ingest(shared: &Arc<Shared>, db: &DatabaseConfig, etag: &str, filename: &str) -> Answer {
    let key = (db.uuid.clone(), etag.to_owned());
    let mut st = shared.lock();
    let (path, ingested_by) = match st.imports.files.get(&key) {
        Some(f) if f.filename == filename => (f.path.clone(), f.ingested_by),
        _ => {
            return Answer::error(
                400,
                7400,
                format!("No intact upload of {filename} with etag {etag}: upload the file first"),
            )
        }
    };
    if let Some(id) = ingested_by {
        drop(st);
        return settle_and_reply(shared, id);
    }
    if let Some(a) = busy(&st, &db.uuid) {
        return a;
    }
    let id = start(shared, &mut st, db, etag, &path);
    if let Some(f) = st.imports.files.get_mut(&key) {
        f.ingested_by = Some(id);
    }
    drop(st);
    settle_and_reply(shared, id)
}

/// Creates an active import and starts applying the file on a thread of its own.
fn start(
    shared: &Arc<Shared>,
    st: &mut State,
    db: &DatabaseConfig,
    etag: &str,
    path: &Path,
) -> u64 {
    st.imports.seq += 1;
    let id = st.imports.seq;
    let at_bookmark = bookmark::current(db);
    st.imports.jobs.insert(
        id,
        ImportJob {
            db_uuid: db.uuid.clone(),
            etag: etag.to_owned(),
            at_bookmark,
            state: ImportState::Active,
            messages: vec![format!("Importing {etag}.sql")],
        },
    );
    st.stats.imports_created += 1;
    let shared2 = shared.clone();
    let db = db.clone();
    let path = path.to_owned();
    let spawned = std::thread::Builder::new()
        .name("d1-emulator-import".into())
        .spawn(move || {
            let started = Instant::now();
            let progress_shared = shared2.clone();
            let outcome = apply(&db.path, &path, &mut |n| {
                if let Some(job) = progress_shared.lock().imports.jobs.get_mut(&id) {
                    job.messages.push(format!("Processed {n} queries"));
                }
            });
            let mut st = shared2.lock();
            let state = match outcome {
                Ok(applied) => {
                    st.stats.imports_completed += 1;
                    ImportState::Complete(applied.result(&db, started.elapsed()))
                }
                Err(e) => {
                    st.stats.imports_failed += 1;
                    ImportState::Error(e)
                }
            };
            if let Some(job) = st.imports.jobs.get_mut(&id) {
                job.messages.push(match &state {
                    ImportState::Complete(_) => "Import complete".to_owned(),
                    _ => "Import failed; the database is as it was before".to_owned(),
                });
                job.state = state;
            }
            drop(st);
            shared2.changed.notify_all();
        });
    match spawned {
        Ok(handle) => {
            let mut generators = shared.generators.lock().unwrap_or_else(|e| e.into_inner());
            generators.retain(|h| !h.is_finished());
            generators.push(handle);
        }
        Err(e) => {
            if let Some(job) = st.imports.jobs.get_mut(&id) {
                job.state = ImportState::Error(format!("cannot start the import: {e}"));
            }
        }
    }
    id
}

/// Waits up to [`Timing::poll_hold`](crate::Timing::poll_hold) for the import to end, then
/// answers its state.
fn settle_and_reply(shared: &Arc<Shared>, id: u64) -> Answer {
    let deadline = Instant::now() + shared.config.timing.poll_hold;
    let mut st = shared.lock();
    loop {
        let active = st
            .imports
            .jobs
            .get(&id)
            .is_some_and(|j| matches!(j.state, ImportState::Active));
        let now = Instant::now();
        if !active || now >= deadline || shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        st = shared
            .changed
            .wait_timeout(st, deadline - now)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    let Some(job) = st.imports.jobs.get_mut(&id) else {
        return not_found("");
    };
    let messages = std::mem::take(&mut job.messages);
    let mut result = json!({
        "success": true,
        "type": "import",
        "at_bookmark": job.at_bookmark,
        "messages": messages,
    });
    match &job.state {
        ImportState::Active => result["status"] = json!("active"),
        ImportState::Complete(r) => {
            result["status"] = json!("complete");
            result["result"] = r.clone();
        }
        ImportState::Error(e) => {
            result["status"] = json!("error");
            result["error"] = json!(e);
            result["errors"] = json!([e]);
        }
    }
    Answer::ok(200, result)
}

fn not_found(bookmark: &str) -> Answer {
    let error = format!("No import found for bookmark {bookmark}");
    Answer::ok(
        200,
        json!({
            "success": true,
            "type": "import",
            "at_bookmark": bookmark,
            "status": "error",
            "error": error,
            "errors": [error],
            "messages": [],
        }),
    )
}

/// What an applied import did.
#[derive(Debug, Default)]
struct Applied {
    queries: u64,
    rows_read: u64,
    rows_written: u64,
    last_row_id: i64,
}

impl Applied {
    fn result(&self, db: &DatabaseConfig, took: Duration) -> Value {
        let size_after = std::fs::metadata(&db.path).map_or(0, |m| m.len());
        json!({
            "final_bookmark": bookmark::current(db),
            "num_queries": self.queries,
            "meta": {
                "duration": took.as_secs_f64() * 1000.0,
                "changes": self.rows_written,
                "rows_read": self.rows_read,
                "rows_written": self.rows_written,
                "size_after": size_after,
                "served_by": "d1-emulator",
                "last_row_id": self.last_row_id,
                "changed_db": self.rows_written > 0 || self.queries > 0,
            },
        })
    }
}

/// Applies the SQL file at `sql` to the database at `db_path` in one transaction, under D1's
/// rules. Any refusal or error rolls everything back and names the statement.
fn apply(db_path: &Path, sql: &Path, progress: &mut dyn FnMut(u64)) -> Result<Applied, String> {
    let mut file = File::open(sql).map_err(|e| format!("cannot read the upload: {e}"))?;
    let size = file.metadata().map_or(0, |m| m.len());
    if size > MAX_FILE_BYTES {
        return Err(Rule::FileTooLarge { bytes: size }.to_string());
    }
    let mut head = [0u8; 16];
    let n = read_up_to(&mut file, &mut head).map_err(|e| format!("cannot read the upload: {e}"))?;
    if &head[..n] == SQLITE_HEADER {
        return Err(Rule::SqliteDatabaseFile.to_string());
    }
    let file = File::open(sql).map_err(|e| format!("cannot read the upload: {e}"))?;
    let mut conn = rusqlite::Connection::open(db_path)
        .map_err(|e| format!("cannot open the database: {e}"))?;
    conn.busy_timeout(Duration::from_secs(30))
        .and_then(|()| d1_dump::load::harden(&mut conn))
        .map_err(|e| format!("cannot prepare the database: {e}"))?;
    // The one loader of the dump crate, under D1's rules: foreign keys on, the rules of
    // `d1_dump::rules` refused, all in one transaction rolled back on the first error.
    let mut queries = 0u64;
    let loaded = load_dump(
        &conn,
        BufReader::with_capacity(1 << 20, file),
        LoadMode::D1,
        &mut |_| {
            queries += 1;
            if queries % 10_000 == 0 {
                progress(queries);
            }
            true
        },
    )
    .map_err(|e| import_error(&e))?;
    Ok(Applied {
        queries: loaded.statements,
        rows_read: loaded.rows_read,
        rows_written: loaded.rows_written,
        last_row_id: loaded.last_row_id,
    })
}

/// A failed load in the words D1's import uses: `statement N (line L): why: `excerpt``.
fn import_error(e: &LoadError) -> String {
    let why = match &e.kind {
        LoadErrorKind::Refused(rule) => rule.to_string(),
        LoadErrorKind::Sqlite(e) => e.to_string(),
        LoadErrorKind::NotUtf8 => "not valid UTF-8".to_owned(),
        LoadErrorKind::TooLong { .. } => "the statement is too large".to_owned(),
        LoadErrorKind::MultipleStatements => "Multiple statements provided".to_owned(),
        LoadErrorKind::Io(e) => return format!("cannot read the upload: {e}"),
        LoadErrorKind::Commit(e) => {
            return format!("the import could not be committed (deferred foreign keys?): {e}")
        }
        _ => e.to_string(),
    };
    match &e.at {
        Some(at) => format!(
            "statement {} (line {}): {why}: `{}`",
            at.number,
            at.line,
            excerpt(&at.excerpt, 80)
        ),
        None => format!("cannot run the import: {why}"),
    }
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// An S3-style XML error.
fn s3_error(status: u16, code: &str, message: &str) -> Response {
    Response::new(
        status,
        "application/xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><HostId>d1-emulator</HostId></Error>"
        ),
    )
}

/// Serves `PUT /__upload/<token>/<filename>`: the body (left unread by the request parser)
/// is streamed from `reader` into a file while its md5 is computed.
pub(crate) fn serve_upload<R: BufRead>(
    shared: &Arc<Shared>,
    req: &Request,
    reader: &mut R,
    stream: &TcpStream,
    keep_alive: bool,
) -> Flow {
    let route = format!("{} /__upload", req.method);
    let answer = |resp: Response, flow: Flow| -> Flow {
        shared.lock().stats.record_request(&route, resp.status);
        shared.log(req, resp.status);
        let keep = keep_alive && flow == Flow::Continue;
        match resp.write_to(&mut &*stream, false, keep) {
            Ok(()) if keep => Flow::Continue,
            _ => Flow::Close,
        }
    };
    {
        let mut st = shared.lock();
        st.stats.uploads += 1;
        if req.header("authorization").is_some() {
            st.stats.uploads_with_authorization += 1;
        }
    }
    if req.method != "PUT" {
        return answer(
            s3_error(405, "MethodNotAllowed", "Use PUT to upload."),
            Flow::Close,
        );
    }
    let Some(length) = req
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return answer(
            s3_error(411, "MissingContentLength", "Content-Length is required."),
            Flow::Close,
        );
    };
    if length > MAX_FILE_BYTES {
        return answer(
            s3_error(400, "EntityTooLarge", "Your proposed upload exceeds 5 GiB."),
            Flow::Close,
        );
    }
    let token = req
        .path
        .strip_prefix(UPLOAD_PREFIX)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("");
    let (grant, attempt, path) = {
        let mut st = shared.lock();
        let grant = st.imports.grants.get(token).cloned();
        let Some(grant) = grant.filter(|g| Instant::now() < g.expires) else {
            drop(st);
            return answer(
                s3_error(403, "AccessDenied", "Request has expired or is not signed."),
                Flow::Close,
            );
        };
        let key = (grant.db_uuid.clone(), grant.etag.clone());
        let attempt = {
            let n = st.imports.attempts.entry(key).or_default();
            *n += 1;
            *n
        };
        st.imports.seq += 1;
        let path = shared
            .work_dir
            .join(format!("upload-{}.sql", st.imports.seq));
        (grant, attempt, path)
    };
    let faults = &shared.config.faults;
    if attempt <= faults.failed_uploads {
        // Read half the body, then reset the connection: the upload failed in transit.
        let _ = io::copy(&mut reader.take(length / 2), &mut io::sink());
        let mut st = shared.lock();
        st.stats.record_fault("failed_upload");
        st.stats.record_request(&route, 0);
        return Flow::Reset;
    }
    let began = Instant::now();
    let received = receive(reader, length, &path);
    let took = began.elapsed();
    let md5 = match received {
        Ok(md5) => md5,
        Err(_) => {
            let _ = std::fs::remove_file(&path);
            shared.lock().stats.record_request(&route, 0);
            return Flow::Close;
        }
    };
    let mut etag = md5.clone();
    let corrupt = attempt
        <= faults
            .failed_uploads
            .saturating_add(faults.wrong_upload_etags);
    {
        let mut st = shared.lock();
        st.stats.uploads_completed += 1;
        st.stats.bytes_uploaded += length;
        st.stats.last_upload_bytes = length;
        st.stats.last_upload_nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        if corrupt {
            st.stats.record_fault("wrong_upload_etag");
            // As if a byte had changed in transit: another md5, and the file is not kept.
            etag = format!("{:x}", Md5::digest(format!("{md5}-corrupted")));
        }
        if md5 == grant.etag && !corrupt {
            let key = (grant.db_uuid.clone(), grant.etag.clone());
            if let Some(old) = st.imports.files.insert(
                key,
                StoredFile {
                    path: path.clone(),
                    filename: grant.filename.clone(),
                    ingested_by: None,
                },
            ) {
                let _ = std::fs::remove_file(old.path);
            }
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }
    let mut resp = Response::new(200, "application/xml", Vec::new());
    resp.headers
        .push(("ETag".to_owned(), format!("\"{etag}\"")));
    answer(resp, Flow::Continue)
}

/// Streams exactly `length` bytes from `reader` to a new owner-only file at `path`; returns
/// their md5 (hex).
fn receive<R: BufRead>(reader: &mut R, length: u64, path: &Path) -> io::Result<String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut out = options.open(path)?;
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; UPLOAD_BUFFER];
    let mut left = length;
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let n = match reader.read(&mut buf[..want]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        md5.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    out.flush()?;
    Ok(format!("{:x}", md5.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_cannot_create_files_beside_the_database() {
        let (dir, db) = db_with("CREATE TABLE keep(x);");
        let other = dir.path().join("other.sqlite");
        let q = other.display().to_string().replace('\'', "''");
        for sql in [
            format!("INSERT INTO keep VALUES(1);\nATTACH '{q}' AS x;\n"),
            format!("INSERT INTO keep VALUES(1);\nVACUUM INTO '{q}';\n"),
        ] {
            let err = apply_text(&db, &sql).unwrap_err();
            assert!(err.starts_with("statement 2 (line 2): "), "{err}");
            assert!(!other.exists(), "{sql}");
        }
        assert_eq!(count(&db, "keep"), 0);
    }

    #[test]
    fn comments_are_not_queries_and_statistics_are_counted() {
        let (_dir, db) = db_with("CREATE TABLE keep(x);");
        let ok = apply_text(
            &db,
            "-- a comment\n/* another */;\nINSERT INTO keep VALUES(1),(2);\nSELECT * FROM keep;\n",
        )
        .unwrap();
        assert_eq!(
            (ok.queries, ok.rows_written, ok.rows_read, ok.last_row_id),
            (2, 2, 2, 2)
        );
    }

    fn db_with(sql: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(sql).unwrap();
        (dir, path)
    }

    fn apply_text(db: &Path, sql: &str) -> Result<Applied, String> {
        let file = db.with_extension("sql");
        std::fs::write(&file, sql).unwrap();
        apply(db, &file, &mut |_| {})
    }

    fn count(db: &Path, table: &str) -> i64 {
        rusqlite::Connection::open(db)
            .unwrap()
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn applies_under_d1_rules_and_rolls_back_on_error() {
        let (_dir, db) = db_with("CREATE TABLE keep(x);");
        // As in D1, a row whose parent table does not exist yet fails ...
        let err = apply_text(
            &db,
            "CREATE TABLE c(id INTEGER PRIMARY KEY, p REFERENCES p(id));\n\
             INSERT INTO c VALUES(1, 1);\nCREATE TABLE p(id INTEGER PRIMARY KEY);\n",
        )
        .unwrap_err();
        assert!(err.contains("no such table: main.p"), "{err}");
        // ... while a violation deferred to the end is fine once the parent row is there.
        let ok = apply_text(
            &db,
            "PRAGMA defer_foreign_keys=TRUE;\nCREATE TABLE p(id INTEGER PRIMARY KEY);\n\
             CREATE TABLE c(id INTEGER PRIMARY KEY, p REFERENCES p(id));\n\
             INSERT INTO c VALUES(1, 1);\nINSERT INTO p VALUES(1);\n",
        )
        .unwrap();
        assert_eq!((ok.queries, ok.rows_written), (5, 2));
        assert_eq!(count(&db, "c"), 1);
        // A foreign key violation (enforced: D1 always has them on) rolls everything back.
        let err = apply_text(
            &db,
            "CREATE TABLE t(x);\nINSERT INTO t VALUES(1);\nINSERT INTO c VALUES(2, 99);\n",
        )
        .unwrap_err();
        assert!(err.starts_with("statement 3 (line 3)"), "{err}");
        assert!(err.contains("FOREIGN KEY"), "{err}");
        let conn = rusqlite::Connection::open(&db).unwrap();
        let t: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name='t'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(t, 0, "the failed import left a table behind");
    }

    #[test]
    fn refuses_what_d1_refuses() {
        let (_dir, db) = db_with("CREATE TABLE keep(x);");
        for (sql, why) in [
            ("CREATE TABLE a(x);\nBEGIN TRANSACTION;\n", "statement 2"),
            ("PRAGMA foreign_keys=OFF;\n", "PRAGMA foreign_keys"),
            ("PRAGMA writable_schema=ON;\n", "writable_schema"),
            ("CREATE TABLE _cf_KV(k, v);\n", "_cf_KV"),
            ("INSERT INTO nowhere VALUES(1);\n", "no such table"),
        ] {
            let err = apply_text(&db, sql).unwrap_err();
            assert!(err.contains(why), "{sql}: {err}");
        }
        let big = format!("INSERT INTO keep VALUES('{}');\n", "x".repeat(100_001));
        assert!(apply_text(&db, &big).unwrap_err().contains("100000"));
        let sqlite = std::fs::read(&db).unwrap();
        let file = db.with_extension("bin");
        std::fs::write(&file, sqlite).unwrap();
        assert!(apply(&db, &file, &mut |_| {})
            .unwrap_err()
            .contains("SQLite database file"));
        assert_eq!(count(&db, "keep"), 0);
    }
}
