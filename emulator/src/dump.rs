//! SQL dumps in D1's export format, generated from a SQLite file.
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
//! writes: a `PRAGMA foreign_keys=OFF; BEGIN TRANSACTION; ... COMMIT;` frame, each virtual
//! table registered with `PRAGMA writable_schema=ON;` and
//! `INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql)VALUES('table',...)`, and its
//! shadow tables dumped as ordinary tables. Such a dump loads into SQLite (the virtual table
//! works after the connection is reopened), not into D1. It cannot be combined with
//! `no_data` or `no_schema`.

use std::fmt;
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
#[derive(Debug)]
pub enum DumpError {
    /// The options contradict each other.
    InvalidOptions(String),
    /// The dump would include virtual tables (their module names) and the format is D1's.
    VirtualTables(Vec<String>),
    /// The caller asked to stop.
    Cancelled,
    /// SQLite failed (opening or reading the database).
    Sqlite(rusqlite::Error),
    /// Writing the dump failed.
    Io(io::Error),
    /// No database with this UUID is configured (from [`Emulator::dump_bytes`](crate::Emulator::dump_bytes)).
    NoSuchDatabase(String),
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DumpError::InvalidOptions(m) => write!(f, "invalid dump options: {m}"),
            DumpError::VirtualTables(modules) => write!(
                f,
                "cannot export databases with Virtual Tables ({})",
                modules.join(", ")
            ),
            DumpError::Cancelled => f.write_str("export cancelled"),
            DumpError::Sqlite(e) => write!(f, "sqlite: {e}"),
            DumpError::Io(e) => write!(f, "i/o: {e}"),
            DumpError::NoSuchDatabase(uuid) => write!(f, "no database with id {uuid}"),
        }
    }
}

impl std::error::Error for DumpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DumpError::Sqlite(e) => Some(e),
            DumpError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for DumpError {
    fn from(e: rusqlite::Error) -> Self {
        DumpError::Sqlite(e)
    }
}

impl From<io::Error> for DumpError {
    fn from(e: io::Error) -> Self {
        DumpError::Io(e)
    }
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
pub(crate) fn write_dump_with<W: Write>(
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

fn open(db: &Path) -> Result<Connection, DumpError> {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    Ok(conn)
}

/// One row of `sqlite_master`.
#[derive(Debug)]
struct Entry {
    kind: String,
    name: String,
    tbl_name: String,
    sql: String,
}

impl Entry {
    fn is_virtual(&self) -> bool {
        let mut words = self.sql.split_whitespace();
        self.kind == "table"
            && ["create", "virtual", "table"]
                .iter()
                .all(|w| words.next().is_some_and(|x| x.eq_ignore_ascii_case(w)))
    }

    /// The module of a virtual table (`fts5` in `CREATE VIRTUAL TABLE t USING fts5(...)`).
    fn module(&self) -> String {
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

fn is_internal(name: &str) -> bool {
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
                write_statement(w, &t.sql)?;
            }
            if data {
                dump_rows(conn, w, &t.name, progress)?;
            }
            if !progress(w.count) {
                return Err(DumpError::Cancelled);
            }
        }
        if data && self.has_sequence {
            self.write_sequence(conn, options, w)?;
        }
        if schema {
            for e in &self.others {
                write_statement(w, &e.sql)?;
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
        w: &mut Counting<W>,
    ) -> Result<(), DumpError> {
        let mut stmt = conn.prepare("SELECT name, seq FROM sqlite_sequence")?;
        let mut rows = stmt.query([])?;
        let mut first = true;
        while let Some(row) = rows.next()? {
            let name = row.get_ref(0)?;
            let name_str = match name {
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                _ => continue,
            };
            if !self.tables.iter().any(|t| t.name == name_str) {
                continue;
            }
            if options.tables.is_empty() {
                if first {
                    w.write_all(b"DELETE FROM sqlite_sequence;\n")?;
                }
            } else {
                w.write_all(b"DELETE FROM sqlite_sequence WHERE name=")?;
                write_value(w, name)?;
                w.write_all(b";\n")?;
            }
            first = false;
            w.write_all(b"INSERT INTO \"sqlite_sequence\" VALUES(")?;
            write_value(w, name)?;
            w.write_all(b",")?;
            write_value(w, row.get_ref(1)?)?;
            w.write_all(b");\n")?;
        }
        Ok(())
    }
}

fn write_statement<W: Write>(w: &mut W, sql: &str) -> io::Result<()> {
    w.write_all(sql.as_bytes())?;
    w.write_all(b";\n")
}

fn dump_rows<W: Write>(
    conn: &Connection,
    w: &mut Counting<W>,
    table: &str,
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
        format!("INSERT INTO {}({list}) VALUES(", quote_ident(table))
    } else {
        format!("INSERT INTO {} VALUES(", quote_ident(table))
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
            write_value(w, row.get_ref(i)?)?;
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

fn write_text_literal<W: Write>(w: &mut W, s: &str) -> io::Result<()> {
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

fn write_blob<W: Write>(w: &mut W, b: &[u8]) -> io::Result<()> {
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
struct Counting<W> {
    inner: W,
    count: u64,
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
