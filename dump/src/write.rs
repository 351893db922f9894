//! Writing a dump of a SQLite database in D1's export format (or `sqlite3 .dump`'s).
//!
//! # Format
//!
//! ```sql
//! PRAGMA defer_foreign_keys=TRUE;
//! CREATE TABLE users(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);
//! INSERT INTO "users" VALUES(1,'Ada');
//! ...                                  -- each table: its CREATE, then its rows
//! DELETE FROM sqlite_sequence;         -- AUTOINCREMENT counters, as sqlite3 .dump does
//! INSERT INTO "sqlite_sequence" VALUES('users',1);
//! CREATE INDEX ...;                    -- then indexes
//! CREATE VIEW ...; CREATE TRIGGER ...; -- then views and triggers, in creation order
//! ```
//!
//! Tables come in creation order (`sqlite_master` rowid order), rows in table order. Internal
//! tables (`sqlite_*` other than the `sqlite_sequence` rows, and D1's `_cf_*`) are skipped.
//! `no_schema` drops every `CREATE` (and keeps the `sqlite_sequence` rows, which are data);
//! `no_data` drops every `INSERT`/`DELETE`; `tables` keeps the named tables (matched
//! ASCII-case-insensitively), their indexes, triggers and `sqlite_sequence` rows, and views
//! only when named themselves. A filtered dump resets only its own tables' counters
//! (`DELETE FROM sqlite_sequence WHERE name='t';`). Names in `tables` that match nothing are
//! ignored. Tables with generated columns get an explicit column list in their `INSERT`s.
//!
//! # Values
//!
//! Every value is written so that loading the dump gives back the same storage class and
//! the same bits:
//! - `NULL`; integers in decimal (`-9223372036854775808` parses back as an integer);
//! - reals in Rust's shortest round-trip form, which always has a `.` or an exponent
//!   (`2.0`, `-0.0`, `1e-300`, `5e-324`); infinities as `1e999` / `-1e999`;
//! - text as a `'...'` literal with `'` doubled; newlines and other control characters are
//!   written as they are (a SQL string literal may contain them), except carriage returns:
//!   text with CR is written `replace('a\rb','\r',char(13))` like `sqlite3 .dump` does, so the
//!   file survives line-ending translation. Text that is not valid UTF-8 or contains NUL is
//!   written as `CAST(X'..' AS TEXT)`;
//! - blobs as `X'..'` (lower-case hex).
//!
//! # Virtual tables
//!
//! Like D1, a dump that would include a virtual table fails with
//! `cannot export databases with Virtual Tables (fts5)` (the modules, comma-separated), unless
//! `compatibility` is [`Compatibility::Sqlite3CliOnly`]. That mode writes what `sqlite3 .dump`
//! writes (the shell's `.dump` command, statement for statement):
//!
//! ```sql
//! PRAGMA foreign_keys=OFF;
//! BEGIN TRANSACTION;
//! CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);   -- tables in creation order
//! INSERT INTO notes VALUES(1,replace('a\nb','\n',char(10)));
//! PRAGMA writable_schema=ON;                                -- before the first virtual table
//! INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql)VALUES('table','f','f',0,'CREATE VIRTUAL TABLE f USING fts5(body)');
//! CREATE TABLE IF NOT EXISTS 'f_data'(id INTEGER PRIMARY KEY, block BLOB);  -- shadow tables
//! INSERT INTO f_data VALUES(1,X'...');
//! DELETE FROM sqlite_sequence;                              -- sqlite_sequence last
//! INSERT INTO sqlite_sequence VALUES('t',3);
//! CREATE VIEW ...; CREATE TRIGGER ...; CREATE INDEX ...;   -- views, triggers, indexes
//! PRAGMA writable_schema=OFF;
//! COMMIT;
//! ```
//!
//! As in the shell, names are quoted only when they need it (not a plain identifier, or a
//! keyword), `CREATE TABLE` of a table whose name is quoted becomes `CREATE TABLE IF NOT
//! EXISTS`, and text with newlines or carriage returns is written
//! `replace('a\nb','\n',char(10))`. Two deliberate differences keep every value exact: reals
//! are written in the shortest form that round-trips (the shell writes 20 digits and turns
//! `-0.0` into `0.0`), and text with NUL or invalid UTF-8 is written `CAST(X'..' AS TEXT)`
//! (the shell cuts it at the NUL). Such a dump loads into SQLite (the virtual table works
//! after the connection is reopened), not into D1. It cannot be combined with `no_data` or
//! `no_schema`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

/// Which dialect the dump is written in (`dump_options.compatibility`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compatibility {
    /// D1's own format (the default): refuses databases with virtual tables.
    #[default]
    D1,
    /// `sqlite3 .dump`'s format, virtual tables included (wire value `"sqlite3_cli_only"`).
    Sqlite3CliOnly,
}

impl Compatibility {
    /// Parses the wire value (`"d1"` or `"sqlite3_cli_only"`).
    pub fn from_wire(s: &str) -> Option<Compatibility> {
        match s {
            "d1" => Some(Compatibility::D1),
            "sqlite3_cli_only" => Some(Compatibility::Sqlite3CliOnly),
            _ => None,
        }
    }
}

/// What to put in a dump (the request's `dump_options`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpOptions {
    /// Only the schema, no rows.
    pub no_data: bool,
    /// Only the rows, no schema.
    pub no_schema: bool,
    /// Only these tables (empty: all tables).
    pub tables: Vec<String>,
    /// The output dialect.
    pub compatibility: Compatibility,
}

impl DumpOptions {
    /// Checks that the options can be honoured together.
    pub fn validate(&self) -> Result<(), DumpError> {
        if self.no_data && self.no_schema {
            return Err(DumpError::InvalidOptions(
                "no_data and no_schema cannot both be true".into(),
            ));
        }
        if self.compatibility == Compatibility::Sqlite3CliOnly && (self.no_data || self.no_schema) {
            return Err(DumpError::InvalidOptions(
                "compatibility \"sqlite3_cli_only\" cannot be combined with no_data or no_schema"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Why a dump could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// The options contradict each other.
    #[error("invalid dump options: {0}")]
    InvalidOptions(String),
    /// The dump would include virtual tables (their module names) and the format is D1's.
    #[error("cannot export databases with Virtual Tables ({})", .0.join(", "))]
    VirtualTables(Vec<String>),
    /// The caller asked to stop.
    #[error("export cancelled")]
    Cancelled,
    /// SQLite failed (opening or reading the database).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Writing the dump failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// No database with this id is known (for callers that find databases by id, such as
    /// the emulator).
    #[error("no database with id {0}")]
    NoSuchDatabase(String),
}

/// Writes the dump of the SQLite database at `db` to `out`; returns the bytes written.
///
/// The database is opened read-only and read in one transaction (a consistent snapshot);
/// rows are streamed, so memory use does not grow with the database.
pub fn write_dump<W: Write>(db: &Path, options: &DumpOptions, out: W) -> Result<u64, DumpError> {
    write_dump_with(db, options, out, &mut |_| true)
}

/// The dump as bytes (convenient for tests and small databases).
pub fn dump_to_vec(db: &Path, options: &DumpOptions) -> Result<Vec<u8>, DumpError> {
    let mut buf = Vec::new();
    write_dump(db, options, &mut buf)?;
    Ok(buf)
}

/// Writes the dump to a new file at `dest`; returns its size.
pub fn dump_to_file(db: &Path, options: &DumpOptions, dest: &Path) -> Result<u64, DumpError> {
    let file = File::create(dest)?;
    let n = write_dump(db, options, BufWriter::with_capacity(1 << 20, file))?;
    Ok(n)
}

/// Checks, without writing anything, that a dump of `db` with `options` would not fail for
/// a reason known up front (invalid options, virtual tables in D1 format).
pub fn precheck(db: &Path, options: &DumpOptions) -> Result<(), DumpError> {
    options.validate()?;
    let conn = open(db)?;
    let plan = Plan::new(&conn, options)?;
    plan.refuse_virtual_tables(options)
}

/// Like [`write_dump`], calling `progress` with the bytes written so far after each row and
/// each statement; when it returns false the dump stops with [`DumpError::Cancelled`].
pub fn write_dump_with<W: Write>(
    db: &Path,
    options: &DumpOptions,
    out: W,
    progress: &mut dyn FnMut(u64) -> bool,
) -> Result<u64, DumpError> {
    options.validate()?;
    let conn = open(db)?;
    conn.execute_batch("BEGIN")?;
    let plan = Plan::new(&conn, options)?;
    plan.refuse_virtual_tables(options)?;
    let mut w = Counting {
        inner: out,
        count: 0,
    };
    plan.write(&conn, options, &mut w, progress)?;
    w.flush()?;
    Ok(w.count)
}

pub(crate) fn open(db: &Path) -> Result<Connection, DumpError> {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    Ok(conn)
}

/// One row of `sqlite_master`.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) tbl_name: String,
    pub(crate) sql: String,
}

impl Entry {
    pub(crate) fn is_virtual(&self) -> bool {
        let mut words = self.sql.split_whitespace();
        self.kind == "table"
            && ["create", "virtual", "table"]
                .iter()
                .all(|w| words.next().is_some_and(|x| x.eq_ignore_ascii_case(w)))
    }

    /// The module of a virtual table (`fts5` in `CREATE VIRTUAL TABLE t USING fts5(...)`).
    pub(crate) fn module(&self) -> String {
        let mut tokens = self
            .sql
            .split(|c: char| c.is_whitespace() || c == '(')
            .filter(|t| !t.is_empty())
            .skip(3);
        while let Some(t) = tokens.next() {
            if t.eq_ignore_ascii_case("using") {
                if let Some(m) = tokens.next() {
                    return m
                        .trim_matches(['"', '\'', '`', '[', ']'])
                        .to_ascii_lowercase();
                }
            }
        }
        "unknown".into()
    }
}

pub(crate) fn is_internal(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("sqlite_") || lower.starts_with("_cf_")
}

/// What a dump will contain, read from `sqlite_master`.
struct Plan {
    tables: Vec<Entry>,
    /// Indexes, then views and triggers in creation order.
    others: Vec<Entry>,
    has_sequence: bool,
}

impl Plan {
    fn new(conn: &Connection, options: &DumpOptions) -> Result<Plan, DumpError> {
        let included = |name: &str| {
            options.tables.is_empty() || options.tables.iter().any(|t| t.eq_ignore_ascii_case(name))
        };
        let mut stmt = conn.prepare(
            "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid",
        )?;
        let entries = stmt
            .query_map([], |r| {
                Ok(Entry {
                    kind: r.get(0)?,
                    name: r.get(1)?,
                    tbl_name: r.get(2)?,
                    sql: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let has_sequence = entries
            .iter()
            .any(|e| e.kind == "table" && e.name == "sqlite_sequence");
        let mut tables = Vec::new();
        let mut indexes = Vec::new();
        let mut rest = Vec::new();
        for e in entries {
            match e.kind.as_str() {
                "table" if !is_internal(&e.name) && included(&e.name) => tables.push(e),
                "index" if !is_internal(&e.tbl_name) && included(&e.tbl_name) => indexes.push(e),
                "trigger" if !is_internal(&e.tbl_name) && included(&e.tbl_name) => rest.push(e),
                "view" if included(&e.name) => rest.push(e),
                _ => {}
            }
        }
        indexes.extend(rest);
        Ok(Plan {
            tables,
            others: indexes,
            has_sequence,
        })
    }

    fn refuse_virtual_tables(&self, options: &DumpOptions) -> Result<(), DumpError> {
        if options.compatibility == Compatibility::Sqlite3CliOnly {
            return Ok(());
        }
        let mut modules: Vec<String> = Vec::new();
        for t in self.tables.iter().filter(|t| t.is_virtual()) {
            let m = t.module();
            if !modules.contains(&m) {
                modules.push(m);
            }
        }
        if modules.is_empty() {
            Ok(())
        } else {
            Err(DumpError::VirtualTables(modules))
        }
    }

    fn write<W: Write>(
        &self,
        conn: &Connection,
        options: &DumpOptions,
        w: &mut Counting<W>,
        progress: &mut dyn FnMut(u64) -> bool,
    ) -> Result<(), DumpError> {
        let cli = options.compatibility == Compatibility::Sqlite3CliOnly;
        let schema = !options.no_schema;
        let data = !options.no_data;
        if cli {
            w.write_all(b"PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n")?;
        } else {
            w.write_all(b"PRAGMA defer_foreign_keys=TRUE;\n")?;
        }
        let dialect = if cli { Dialect::Shell } else { Dialect::D1 };
        let mut writable_schema = false;
        for t in &self.tables {
            if t.is_virtual() {
                // Only reachable in sqlite3 CLI mode (D1 mode refused above).
                if !writable_schema {
                    w.write_all(b"PRAGMA writable_schema=ON;\n")?;
                    writable_schema = true;
                }
                w.write_all(
                    b"INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql)VALUES('table',",
                )?;
                write_text_literal(w, &t.name)?;
                w.write_all(b",")?;
                write_text_literal(w, &t.name)?;
                w.write_all(b",0,")?;
                write_text_literal(w, &t.sql)?;
                w.write_all(b");\n")?;
                continue;
            }
            if schema {
                match t.sql.strip_prefix("CREATE TABLE ") {
                    // The shell's `CREATE TABLE ['"]*` rule (fts5's shadow tables match it).
                    Some(rest) if cli && (rest.starts_with('\'') || rest.starts_with('"')) => {
                        w.write_all(b"CREATE TABLE IF NOT EXISTS ")?;
                        write_statement(w, rest)?;
                    }
                    _ => write_statement(w, &t.sql)?,
                }
            }
            if data {
                dump_rows(conn, w, &t.name, dialect, progress)?;
            }
            if !progress(w.count) {
                return Err(DumpError::Cancelled);
            }
        }
        if data && self.has_sequence {
            self.write_sequence(conn, options, dialect, w)?;
        }
        if schema {
            if cli {
                // The shell's `ORDER BY type COLLATE NOCASE DESC`: views, triggers, indexes.
                let rank = |e: &&Entry| match e.kind.as_str() {
                    "view" => 0,
                    "trigger" => 1,
                    _ => 2,
                };
                let mut others: Vec<&Entry> = self.others.iter().collect();
                others.sort_by_key(rank);
                for e in others {
                    write_statement(w, &e.sql)?;
                }
            } else {
                for e in &self.others {
                    write_statement(w, &e.sql)?;
                }
            }
        }
        if writable_schema {
            w.write_all(b"PRAGMA writable_schema=OFF;\n")?;
        }
        if cli {
            w.write_all(b"COMMIT;\n")?;
        }
        Ok(())
    }

    fn write_sequence<W: Write>(
        &self,
        conn: &Connection,
        options: &DumpOptions,
        dialect: Dialect,
        w: &mut Counting<W>,
    ) -> Result<(), DumpError> {
        let mut stmt = conn.prepare("SELECT name, seq FROM sqlite_sequence")?;
        let mut rows = stmt.query([])?;
        let mut first = true;
        if dialect == Dialect::Shell {
            w.write_all(b"DELETE FROM sqlite_sequence;\n")?;
            first = false;
        }
        while let Some(row) = rows.next()? {
            let name = row.get_ref(0)?;
            let name_str = match name {
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                _ => continue,
            };
            if !self.tables.iter().any(|t| t.name == name_str) {
                continue;
            }
            if dialect == Dialect::Shell {
                // The shell dumps sqlite_sequence like any table.
            } else if options.tables.is_empty() {
                if first {
                    w.write_all(b"DELETE FROM sqlite_sequence;\n")?;
                }
            } else {
                w.write_all(b"DELETE FROM sqlite_sequence WHERE name=")?;
                write_value(w, name)?;
                w.write_all(b";\n")?;
            }
            first = false;
            w.write_all(match dialect {
                Dialect::D1 => b"INSERT INTO \"sqlite_sequence\" VALUES(".as_slice(),
                Dialect::Shell => b"INSERT INTO sqlite_sequence VALUES(".as_slice(),
            })?;
            dialect.write_value(w, name)?;
            w.write_all(b",")?;
            dialect.write_value(w, row.get_ref(1)?)?;
            w.write_all(b");\n")?;
        }
        Ok(())
    }
}

/// How values and names are spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// D1's export.
    D1,
    /// `sqlite3 .dump`.
    Shell,
}

impl Dialect {
    fn write_value<W: Write>(self, w: &mut W, value: ValueRef<'_>) -> io::Result<()> {
        match (self, value) {
            (Dialect::Shell, ValueRef::Text(t)) => match std::str::from_utf8(t) {
                Ok(s) if !t.contains(&0) => write_shell_text(w, s),
                _ => write_value(w, value),
            },
            (Dialect::Shell, ValueRef::Real(f)) if f.is_infinite() => {
                w.write_all(if f > 0.0 { b"9.0e+999" } else { b"-9.0e+999" })
            }
            _ => write_value(w, value),
        }
    }

    fn table_name(self, name: &str) -> String {
        match self {
            Dialect::D1 => quote_ident(name),
            Dialect::Shell => shell_quote(name),
        }
    }
}

/// A name as the shell's `quoteChar()` writes it: bare when it is a plain identifier that
/// is not a keyword, else in `"…"`.
fn shell_quote(name: &str) -> String {
    let plain = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if plain && !is_keyword(name) {
        name.to_owned()
    } else {
        quote_ident(name)
    }
}

/// SQLite's keywords (`sqlite3_keyword_check`).
fn is_keyword(name: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "ABORT",
        "ACTION",
        "ADD",
        "AFTER",
        "ALL",
        "ALTER",
        "ALWAYS",
        "ANALYZE",
        "AND",
        "AS",
        "ASC",
        "ATTACH",
        "AUTOINCREMENT",
        "BEFORE",
        "BEGIN",
        "BETWEEN",
        "BY",
        "CASCADE",
        "CASE",
        "CAST",
        "CHECK",
        "COLLATE",
        "COLUMN",
        "COMMIT",
        "CONFLICT",
        "CONSTRAINT",
        "CREATE",
        "CROSS",
        "CURRENT",
        "CURRENT_DATE",
        "CURRENT_TIME",
        "CURRENT_TIMESTAMP",
        "DATABASE",
        "DEFAULT",
        "DEFERRABLE",
        "DEFERRED",
        "DELETE",
        "DESC",
        "DETACH",
        "DISTINCT",
        "DO",
        "DROP",
        "EACH",
        "ELSE",
        "END",
        "ESCAPE",
        "EXCEPT",
        "EXCLUDE",
        "EXCLUSIVE",
        "EXISTS",
        "EXPLAIN",
        "FAIL",
        "FILTER",
        "FIRST",
        "FOLLOWING",
        "FOR",
        "FOREIGN",
        "FROM",
        "FULL",
        "GENERATED",
        "GLOB",
        "GROUP",
        "GROUPS",
        "HAVING",
        "IF",
        "IGNORE",
        "IMMEDIATE",
        "IN",
        "INDEX",
        "INDEXED",
        "INITIALLY",
        "INNER",
        "INSERT",
        "INSTEAD",
        "INTERSECT",
        "INTO",
        "IS",
        "ISNULL",
        "JOIN",
        "KEY",
        "LAST",
        "LEFT",
        "LIKE",
        "LIMIT",
        "MATCH",
        "MATERIALIZED",
        "NATURAL",
        "NO",
        "NOT",
        "NOTHING",
        "NOTNULL",
        "NULL",
        "NULLS",
        "OF",
        "OFFSET",
        "ON",
        "OR",
        "ORDER",
        "OTHERS",
        "OUTER",
        "OVER",
        "PARTITION",
        "PLAN",
        "PRAGMA",
        "PRECEDING",
        "PRIMARY",
        "QUERY",
        "RAISE",
        "RANGE",
        "RECURSIVE",
        "REFERENCES",
        "REGEXP",
        "REINDEX",
        "RELEASE",
        "RENAME",
        "REPLACE",
        "RESTRICT",
        "RETURNING",
        "RIGHT",
        "ROLLBACK",
        "ROW",
        "ROWS",
        "SAVEPOINT",
        "SELECT",
        "SET",
        "TABLE",
        "TEMP",
        "TEMPORARY",
        "THEN",
        "TIES",
        "TO",
        "TRANSACTION",
        "TRIGGER",
        "UNBOUNDED",
        "UNION",
        "UNIQUE",
        "UPDATE",
        "USING",
        "VACUUM",
        "VALUES",
        "VIEW",
        "VIRTUAL",
        "WHEN",
        "WHERE",
        "WINDOW",
        "WITH",
        "WITHOUT",
    ];
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(name))
}

/// Text as the shell's `output_quoted_escaped_string()` writes it: `'…'`, and when the text
/// has newlines or carriage returns, wrapped in `replace(…,'\n',char(10))` /
/// `replace(…,'\r',char(13))` with a marker the text does not contain.
fn write_shell_text<W: Write>(w: &mut W, s: &str) -> io::Result<()> {
    let has_nl = s.contains('\n');
    let has_cr = s.contains('\r');
    if !has_nl && !has_cr {
        return write_text_literal(w, s);
    }
    let unused = |a: &str, b: &str| -> String {
        if !s.contains(a) {
            return a.to_owned();
        }
        if !s.contains(b) {
            return b.to_owned();
        }
        (0u32..)
            .map(|i| format!("({a}{i})"))
            .find(|m| !s.contains(m.as_str()))
            .expect("some marker is unused")
    };
    let nl = has_nl.then(|| unused("\\n", "\\012"));
    let cr = has_cr.then(|| unused("\\r", "\\015"));
    if nl.is_some() {
        w.write_all(b"replace(")?;
    }
    if cr.is_some() {
        w.write_all(b"replace(")?;
    }
    let mut text = s.replace('\n', nl.as_deref().unwrap_or("\n"));
    if let Some(cr) = &cr {
        text = text.replace('\r', cr);
    }
    write_text_literal(w, &text)?;
    if let Some(cr) = &cr {
        w.write_all(b",")?;
        write_text_literal(w, cr)?;
        w.write_all(b",char(13))")?;
    }
    if let Some(nl) = &nl {
        w.write_all(b",")?;
        write_text_literal(w, nl)?;
        w.write_all(b",char(10))")?;
    }
    Ok(())
}

fn write_statement<W: Write>(w: &mut W, sql: &str) -> io::Result<()> {
    w.write_all(sql.as_bytes())?;
    w.write_all(b";\n")
}

fn dump_rows<W: Write>(
    conn: &Connection,
    w: &mut Counting<W>,
    table: &str,
    dialect: Dialect,
    progress: &mut dyn FnMut(u64) -> bool,
) -> Result<(), DumpError> {
    // hidden: 0 = ordinary, 1 = hidden (virtual tables), 2/3 = generated (virtual/stored).
    let mut info = conn.prepare("SELECT name, hidden FROM pragma_table_xinfo(?1)")?;
    let cols = info
        .query_map([table], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let generated = cols.iter().any(|(_, h)| *h != 0);
    let names: Vec<String> = cols
        .iter()
        .filter(|(_, h)| *h == 0)
        .map(|(n, _)| quote_ident(n))
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let list = names.join(",");
    let prefix = if generated {
        format!("INSERT INTO {}({list}) VALUES(", dialect.table_name(table))
    } else {
        format!("INSERT INTO {} VALUES(", dialect.table_name(table))
    };
    let mut stmt = conn.prepare(&format!("SELECT {list} FROM {}", quote_ident(table)))?;
    let n = names.len();
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        w.write_all(prefix.as_bytes())?;
        for i in 0..n {
            if i > 0 {
                w.write_all(b",")?;
            }
            dialect.write_value(w, row.get_ref(i)?)?;
        }
        w.write_all(b");\n")?;
        if !progress(w.count) {
            return Err(DumpError::Cancelled);
        }
    }
    Ok(())
}

/// `"name"` with `"` doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Writes one SQL value literal that SQLite parses back to the same value and storage class.
pub fn write_value<W: Write>(w: &mut W, value: ValueRef<'_>) -> io::Result<()> {
    match value {
        ValueRef::Null => w.write_all(b"NULL"),
        ValueRef::Integer(i) => write!(w, "{i}"),
        ValueRef::Real(f) => write_real(w, f),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) if s.contains('\r') && !t.contains(&0) => write_text_with_cr(w, s),
            Ok(s) if !t.contains(&0) => write_text_literal(w, s),
            _ => {
                w.write_all(b"CAST(")?;
                write_blob(w, t)?;
                w.write_all(b" AS TEXT)")
            }
        },
        ValueRef::Blob(b) => write_blob(w, b),
    }
}

fn write_real<W: Write>(w: &mut W, f: f64) -> io::Result<()> {
    if f.is_nan() {
        // SQLite never stores NaN (it becomes NULL); keep the dump valid regardless.
        w.write_all(b"NULL")
    } else if f.is_infinite() {
        w.write_all(if f > 0.0 { b"1e999" } else { b"-1e999" })
    } else {
        // Debug is the shortest representation that round-trips, and always has '.' or 'e'.
        write!(w, "{f:?}")
    }
}

/// Text with carriage returns, as `replace('a\rb','\r',char(13))` (like `sqlite3 .dump`), so
/// that the dump survives tools that translate line endings. The marker is `\r`, or `\r1`,
/// `\r2`, ... if the text already contains it.
fn write_text_with_cr<W: Write>(w: &mut W, s: &str) -> io::Result<()> {
    let mut marker = String::from("\\r");
    let mut n = 0;
    while s.contains(&marker) {
        n += 1;
        marker = format!("\\r{n}");
    }
    w.write_all(b"replace(")?;
    write_text_literal(w, &s.replace('\r', &marker))?;
    w.write_all(b",")?;
    write_text_literal(w, &marker)?;
    w.write_all(b",char(13))")
}

pub(crate) fn write_text_literal<W: Write>(w: &mut W, s: &str) -> io::Result<()> {
    w.write_all(b"'")?;
    let mut rest = s.as_bytes();
    while let Some(pos) = rest.iter().position(|&b| b == b'\'') {
        w.write_all(&rest[..=pos])?;
        w.write_all(b"'")?;
        rest = &rest[pos + 1..];
    }
    w.write_all(rest)?;
    w.write_all(b"'")
}

pub(crate) fn write_blob<W: Write>(w: &mut W, b: &[u8]) -> io::Result<()> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = Vec::with_capacity(b.len() * 2 + 3);
    buf.extend_from_slice(b"X'");
    for &byte in b {
        buf.push(HEX[usize::from(byte >> 4)]);
        buf.push(HEX[usize::from(byte & 15)]);
    }
    buf.push(b'\'');
    w.write_all(&buf)
}

/// A writer that counts the bytes through it.
pub(crate) struct Counting<W> {
    pub(crate) inner: W,
    pub(crate) count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)?;
        self.count += buf.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(v: ValueRef<'_>) -> String {
        let mut out = Vec::new();
        write_value(&mut out, v).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn literals() {
        assert_eq!(lit(ValueRef::Null), "NULL");
        assert_eq!(lit(ValueRef::Integer(i64::MIN)), "-9223372036854775808");
        assert_eq!(lit(ValueRef::Real(2.0)), "2.0");
        assert_eq!(lit(ValueRef::Real(-0.0)), "-0.0");
        assert_eq!(lit(ValueRef::Real(1e-300)), "1e-300");
        assert_eq!(lit(ValueRef::Real(f64::INFINITY)), "1e999");
        assert_eq!(lit(ValueRef::Real(f64::NEG_INFINITY)), "-1e999");
        assert_eq!(lit(ValueRef::Text(b"it's")), "'it''s'");
        assert_eq!(lit(ValueRef::Text(b"a\0b")), "CAST(X'610062' AS TEXT)");
        assert_eq!(lit(ValueRef::Text(b"a\nb")), "'a\nb'");
        assert_eq!(
            lit(ValueRef::Text(b"it's\r\n")),
            "replace('it''s\\r\n','\\r',char(13))"
        );
        assert_eq!(
            lit(ValueRef::Text(b"\\r\r")),
            "replace('\\r\\r1','\\r1',char(13))"
        );
        assert_eq!(lit(ValueRef::Blob(&[0, 0xff])), "X'00ff'");
        assert_eq!(lit(ValueRef::Blob(&[])), "X''");
    }

    fn shell(v: ValueRef<'_>) -> String {
        let mut out = Vec::new();
        Dialect::Shell.write_value(&mut out, v).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn shell_literals_are_the_sqlite3_shells() {
        assert_eq!(shell(ValueRef::Text(b"it's")), "'it''s'");
        assert_eq!(
            shell(ValueRef::Text(b"a\nb")),
            "replace('a\\nb','\\n',char(10))"
        );
        assert_eq!(
            shell(ValueRef::Text(b"a\r\n")),
            "replace(replace('a\\r\\n','\\r',char(13)),'\\n',char(10))"
        );
        assert_eq!(
            shell(ValueRef::Text(b"\\n\n")),
            "replace('\\n\\012','\\012',char(10))"
        );
        assert_eq!(
            shell(ValueRef::Text(b"\\n\\012\n")),
            "replace('\\n\\012(\\n0)','(\\n0)',char(10))"
        );
        assert_eq!(shell(ValueRef::Real(f64::INFINITY)), "9.0e+999");
        assert_eq!(shell(ValueRef::Real(-0.0)), "-0.0");
        assert_eq!(shell(ValueRef::Text(b"a\0b")), "CAST(X'610062' AS TEXT)");
    }

    #[test]
    fn shell_quotes_names_only_when_needed() {
        assert_eq!(shell_quote("docs_data"), "docs_data");
        assert_eq!(shell_quote("order"), "\"order\"");
        assert_eq!(shell_quote("1abc"), "\"1abc\"");
        assert_eq!(shell_quote("a b"), "\"a b\"");
        assert_eq!(shell_quote("Zoë"), "\"Zoë\"");
    }

    #[test]
    fn virtual_table_module() {
        let e = Entry {
            kind: "table".into(),
            name: "docs".into(),
            tbl_name: "docs".into(),
            sql: "CREATE  VIRTUAL TABLE docs USING fts5(body, tokenize='trigram')".into(),
        };
        assert!(e.is_virtual());
        assert_eq!(e.module(), "fts5");
    }

    #[test]
    fn options_validation() {
        let cli = DumpOptions {
            compatibility: Compatibility::Sqlite3CliOnly,
            no_data: true,
            ..DumpOptions::default()
        };
        assert!(matches!(cli.validate(), Err(DumpError::InvalidOptions(_))));
        assert!(DumpOptions::default().validate().is_ok());
    }
}
