//! Loading a dump into SQLite, one statement at a time, and checking the result.
//!
//! [`load_dump`] runs a dump read from any [`BufRead`] (split by [`Splitter`]) in one
//! transaction, so memory stays bounded by the largest statement and a failure names the
//! statement that failed. Two ways, [`LoadMode`]:
//! - [`LoadMode::Sqlite`]: as `sqlite3 db < dump.sql` does (foreign keys off), for any dump,
//!   `sqlite3 .dump` style included (its `BEGIN TRANSACTION`/`COMMIT` are folded into the
//!   loader's own transaction);
//! - [`LoadMode::D1`]: as D1's import does: foreign keys enforced, `PRAGMA
//!   defer_foreign_keys` allowed, every [rule](crate::rules) enforced, all or nothing.
//!
//! [`verify`] then runs `PRAGMA integrity_check` and `PRAGMA foreign_key_check` and counts
//! every table's rows. [`create_scratch`] makes the scratch database for it: a new file,
//! owner-only, without a journal, [hardened](harden).
//!
//! # Untrusted dumps
//!
//! A dump is downloaded: it may hold any SQL. The loader runs exactly one statement per
//! split statement (a text holding two is refused), refuses `ATTACH`, `DETACH` and `VACUUM`
//! in both modes, and [`harden`] (done by [`create_scratch`]) makes the connection itself
//! refuse them too: no attached databases (`SQLITE_LIMIT_ATTACHED` 0), and an authorizer
//! denying `ATTACH`, `DETACH` and `load_extension()`. So a dump cannot create or write a
//! file other than the scratch database.
//!
//! Temporary files: the scratch connection keeps temporary tables and sort runs (large
//! index builds) in files (`PRAGMA temp_store=FILE`), not in memory. SQLite puts them in
//! `SQLITE_TMPDIR`, else `TMPDIR`, else `/var/tmp`, `/usr/tmp` or `/tmp`; set
//! `SQLITE_TMPDIR` to a directory beside the scratch database if `/tmp` is small. They
//! are deleted when closed.
//!
//! # Interrupting
//!
//! A load or a check of a multi-GB dump can take minutes. Another thread can stop it with
//! the connection's [`InterruptHandle`](rusqlite::InterruptHandle)
//! (`conn.get_interrupt_handle().interrupt()`): [`load_dump`] then fails with
//! [`LoadErrorKind::Interrupted`] (everything rolled back) and [`verify`] with
//! [`VerifyError::Interrupted`].

use crate::rules::{Checker, Rule};
use crate::split::{Splitter, Statement};
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead};
use std::path::Path;

/// How a dump is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    /// As the `sqlite3` shell runs a file (foreign keys off), in one transaction.
    Sqlite,
    /// As D1 imports a file: foreign keys on, the import rules enforced, in one transaction.
    D1,
}

/// Where in the dump a load failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    /// The statement's number, from 1.
    pub number: u64,
    /// Its first line, from 1.
    pub line: u64,
    /// A one-line excerpt.
    pub excerpt: String,
}

impl At {
    fn of(s: &Statement) -> Self {
        Self {
            number: s.number,
            line: s.line,
            excerpt: s.excerpt(120),
        }
    }
}

/// Why a load failed. Its `Display` is the reason alone; [`LoadError`] adds where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadErrorKind {
    /// Reading the dump failed.
    #[error("reading the dump failed: {0}")]
    Io(io::Error),
    /// SQLite refused the statement (or preparing the connection or its transaction).
    #[error("{0}")]
    Sqlite(rusqlite::Error),
    /// The final commit failed (under [`LoadMode::D1`]: deferred foreign key violations).
    #[error("{0}")]
    Commit(rusqlite::Error),
    /// The statement is not valid UTF-8.
    #[error("the statement is not valid UTF-8")]
    NotUtf8,
    /// The statement is longer than the loader holds.
    #[error("the statement is too long ({bytes} bytes)")]
    TooLong {
        /// Its length in bytes.
        bytes: u64,
    },
    /// The dump rolls back (`sqlite3 .dump` writes `ROLLBACK; -- due to errors` when it
    /// could not read the database).
    #[error("the dump rolls back (it was written after errors)")]
    Rollback,
    /// D1 would refuse the statement ([`LoadMode::D1`] only).
    #[error("D1 would refuse it: {0}")]
    Refused(Rule),
    /// The caller asked to stop (its `progress` returned false).
    #[error("cancelled")]
    Cancelled,
    /// The load was interrupted through the connection's
    /// [`InterruptHandle`](rusqlite::InterruptHandle).
    #[error("interrupted")]
    Interrupted,
    /// The statement holds more than one statement of SQL (where the splitter and SQLite
    /// disagree, which no honest dump does).
    #[error("it holds more than one statement (the dump is malformed)")]
    MultipleStatements,
}

fn is_interrupt(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::OperationInterrupted)
}

impl LoadErrorKind {
    /// SQLite's error, an interruption told apart.
    fn sqlite(e: rusqlite::Error) -> Self {
        match e {
            e if is_interrupt(&e) => LoadErrorKind::Interrupted,
            rusqlite::Error::MultipleStatement => LoadErrorKind::MultipleStatements,
            e => LoadErrorKind::Sqlite(e),
        }
    }
}

/// A failed load: what went wrong and at which statement (none for the final commit).
///
/// `Display` says it all, SQLite's or the reader's own message included, so it has no
/// [`source`](std::error::Error::source) to repeat; [`kind`](Self::kind) holds the error.
#[derive(Debug, thiserror::Error)]
pub struct LoadError {
    /// The statement that failed, if one did.
    pub at: Option<At>,
    /// What went wrong.
    pub kind: LoadErrorKind,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = &self.kind;
        match &self.at {
            Some(at) => write!(
                f,
                "statement {} (line {}) failed: {what}: `{}`",
                at.number, at.line, at.excerpt
            ),
            None if matches!(self.kind, LoadErrorKind::Commit(_)) => {
                write!(f, "the dump failed at its end (commit): {what}")
            }
            None => write!(f, "{what}"),
        }
    }
}

/// What a load did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Statements run (transaction statements folded away are not counted).
    pub statements: u64,
    /// Bytes of the dump read.
    pub bytes: u64,
    /// The dump wrote the schema directly (`PRAGMA writable_schema`): reopen the database
    /// before using its virtual tables.
    pub wrote_schema: bool,
    /// Rows the statements returned (a dump's `SELECT`s, PRAGMAs answering rows).
    pub rows_read: u64,
    /// Rows the statements inserted, updated or deleted, triggers' included
    /// (`sqlite3_total_changes()` over the load).
    pub rows_written: u64,
    /// The rowid of the last row inserted (`sqlite3_last_insert_rowid()`), 0 if none.
    pub last_row_id: i64,
}

/// Makes `conn` safe to run an untrusted dump on: no attached databases
/// (`SQLITE_LIMIT_ATTACHED` 0) and an authorizer that denies `ATTACH`, `DETACH` and
/// `load_extension()` (see the [module](self) docs). [`create_scratch`] does it; call it on
/// any other connection before [`load_dump`].
pub fn harden(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)?;
    conn.authorizer(Some(|ctx: AuthContext<'_>| match ctx.action {
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => Authorization::Deny,
        AuthAction::Function { function_name }
            if function_name.eq_ignore_ascii_case("load_extension") =>
        {
            Authorization::Deny
        }
        _ => Authorization::Allow,
    }))
}

/// Creates a scratch database at `path` (which must not exist): owner-only (0600 on Unix),
/// no journal, no syncs (it is thrown away on failure, and synced by the caller if kept),
/// temporary files on disk, [hardened](harden) for an untrusted dump.
pub fn create_scratch(path: &Path) -> rusqlite::Result<Connection> {
    {
        // Create the file ourselves, so that its mode is ours before SQLite writes a byte.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(path).map_err(|e| {
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!("cannot create {}: {e}", path.display())),
            )
        })?;
    }
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch(
        "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-16384; \
         PRAGMA temp_store=FILE;",
    )?;
    harden(&mut conn)?;
    Ok(conn)
}

/// Loads the dump read from `reader` into `conn` in one transaction (rolled back on any
/// error). `progress` gets the bytes read after each statement; returning false cancels.
///
/// It holds at most [`DEFAULT_KEEP`](crate::split::DEFAULT_KEEP) bytes of a statement (a
/// longer one is [`LoadErrorKind::TooLong`]); [`load_dump_with`] takes another bound. The
/// connection's attached-database limit is set to 0; for the rest of the hardening of an
/// untrusted dump, make `conn` with [`create_scratch`] or pass it through [`harden`].
pub fn load_dump<R: BufRead>(
    conn: &Connection,
    reader: R,
    mode: LoadMode,
    progress: &mut dyn FnMut(u64) -> bool,
) -> Result<Loaded, LoadError> {
    load_dump_with(conn, reader, mode, crate::split::DEFAULT_KEEP, progress)
}

/// [`load_dump`], holding at most `keep` bytes of a statement.
pub fn load_dump_with<R: BufRead>(
    conn: &Connection,
    reader: R,
    mode: LoadMode,
    keep: usize,
    progress: &mut dyn FnMut(u64) -> bool,
) -> Result<Loaded, LoadError> {
    let fail = |at: Option<&Statement>, kind| LoadError {
        at: at.map(At::of),
        kind,
    };
    let sqlite = |e| fail(None, LoadErrorKind::sqlite(e));
    conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)
        .map_err(sqlite)?;
    // SQLite builds differ in their default (rusqlite's bundled one enforces foreign keys).
    conn.execute_batch(match mode {
        LoadMode::D1 => "PRAGMA foreign_keys=ON;",
        LoadMode::Sqlite => "PRAGMA foreign_keys=OFF;",
    })
    .map_err(sqlite)?;
    // IMMEDIATE: the load writes; taking the write lock first means a database shared with
    // other connections is never left between a read and a write lock.
    conn.execute_batch("BEGIN IMMEDIATE").map_err(sqlite)?;
    let result = run(conn, Splitter::new(reader).keep(keep), mode, progress);
    match result {
        Ok(loaded) => match conn.execute_batch("COMMIT") {
            Ok(()) => Ok(loaded),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(fail(
                    None,
                    match LoadErrorKind::sqlite(e) {
                        LoadErrorKind::Sqlite(e) => LoadErrorKind::Commit(e),
                        other => other,
                    },
                ))
            }
        },
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn run<R: BufRead>(
    conn: &Connection,
    mut splitter: Splitter<R>,
    mode: LoadMode,
    progress: &mut dyn FnMut(u64) -> bool,
) -> Result<Loaded, LoadError> {
    let mut loaded = Loaded::default();
    let mut checker = Checker::new();
    let changes_before = conn.total_changes();
    while let Some(next) = splitter.next() {
        let statement = next.map_err(|e| LoadError {
            at: None,
            kind: LoadErrorKind::Io(e),
        })?;
        let fail = |kind| LoadError {
            at: Some(At::of(&statement)),
            kind,
        };
        let rule = match mode {
            LoadMode::D1 => checker.check(&statement),
            LoadMode::Sqlite => crate::rules::classify(statement.bytes()),
        };
        if let (LoadMode::D1, Some(rule))
        | (LoadMode::Sqlite, Some(rule @ Rule::AttachOrVacuum { .. })) = (mode, &rule)
        {
            return Err(fail(LoadErrorKind::Refused(rule.clone())));
        }
        if statement.is_truncated() {
            return Err(fail(LoadErrorKind::TooLong {
                bytes: statement.len,
            }));
        }
        match (mode, &rule) {
            (LoadMode::Sqlite, Some(Rule::Transaction { keyword })) => match keyword.as_str() {
                // Folded into the loader's own transaction.
                "BEGIN" | "COMMIT" | "END" => continue,
                "ROLLBACK" => return Err(fail(LoadErrorKind::Rollback)),
                _ => {}
            },
            (LoadMode::Sqlite, Some(Rule::WritableSchema)) => loaded.wrote_schema = true,
            _ => {}
        }
        let sql = statement.sql().map_err(|_| fail(LoadErrorKind::NotUtf8))?;
        match execute(conn, sql) {
            Ok(Some(rows)) => loaded.rows_read += rows,
            Ok(None) => continue, // nothing but comments
            Err(e) => return Err(fail(LoadErrorKind::sqlite(e))),
        }
        loaded.rows_written = conn.total_changes() - changes_before;
        loaded.last_row_id = conn.last_insert_rowid();
        loaded.statements += 1;
        if !progress(splitter.bytes_read()) {
            return Err(fail(LoadErrorKind::Cancelled));
        }
    }
    loaded.bytes = splitter.bytes_read();
    Ok(loaded)
}

/// Runs one statement; the rows it returned, or None if it is empty (only comments).
fn execute(conn: &Connection, sql: &str) -> rusqlite::Result<Option<u64>> {
    let mut stmt = match conn.prepare(sql) {
        Err(rusqlite::Error::Empty) => return Ok(None),
        r => r?,
    };
    let mut rows = stmt.raw_query();
    let mut n = 0;
    while rows.next()?.is_some() {
        n += 1;
    }
    Ok(Some(n))
}

/// Why [`verify`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// SQLite failed.
    #[error(transparent)]
    Sqlite(rusqlite::Error),
    /// The check was interrupted through the connection's
    /// [`InterruptHandle`](rusqlite::InterruptHandle).
    #[error("interrupted")]
    Interrupted,
}

impl From<rusqlite::Error> for VerifyError {
    fn from(e: rusqlite::Error) -> Self {
        if is_interrupt(&e) {
            VerifyError::Interrupted
        } else {
            VerifyError::Sqlite(e)
        }
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Every table (ordinary and virtual, not shadow or internal tables) and its rows.
    pub tables: BTreeMap<String, u64>,
    /// `PRAGMA integrity_check`'s answer: `ok`, or its first messages joined by `; `.
    pub integrity_check: String,
    /// Rows `PRAGMA foreign_key_check` reports.
    pub foreign_key_violations: u64,
}

impl Verification {
    /// Whether the integrity check passed.
    pub fn is_ok(&self) -> bool {
        self.integrity_check == "ok"
    }
}

/// The user's tables of `conn`: ordinary and virtual, in creation order (no shadow tables,
/// no `sqlite_*`, no `_cf_*`).
pub fn user_tables(conn: &Connection) -> rusqlite::Result<Vec<(String, bool)>> {
    let mut stmt = conn.prepare(
        "SELECT m.name, l.type = 'virtual' FROM sqlite_schema m \
         JOIN pragma_table_list l ON l.schema = 'main' AND l.name = m.name \
         WHERE m.type = 'table' AND l.type IN ('table', 'virtual') \
         AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND m.name NOT LIKE '\\_cf\\_%' ESCAPE '\\' \
         ORDER BY m.rowid",
    )?;
    let tables = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(tables)
}

/// Checks a loaded database: integrity, foreign keys, rows per table.
pub fn verify(conn: &Connection) -> Result<Verification, VerifyError> {
    let mut messages = Vec::new();
    {
        let mut stmt = conn.prepare("PRAGMA integrity_check(20)")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            messages.push(row.get::<_, String>(0)?);
        }
    }
    let foreign_key_violations: i64 =
        conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })?;
    let mut tables = BTreeMap::new();
    for (name, _) in user_tables(conn)? {
        let n: i64 = conn.query_row(
            &format!("SELECT count(*) FROM {}", crate::write::quote_ident(&name)),
            [],
            |r| r.get(0),
        )?;
        tables.insert(name, n.unsigned_abs());
    }
    Ok(Verification {
        tables,
        integrity_check: messages.join("; "),
        foreign_key_violations: foreign_key_violations.unsigned_abs(),
    })
}
