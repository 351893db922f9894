//! SQL that D1's import accepts and that reproduces a database.
//!
//! D1's own exports often do not re-import (Part 5 of the spec): a table referencing a table
//! created later fails, statements over 100,000 bytes are refused, and databases with FTS5
//! cannot be exported in D1's format at all. [`write_importable`] writes, from a SQLite
//! database (typically a dump loaded with [`load_dump`](crate::load::load_dump)):
//!
//! ```sql
//! PRAGMA defer_foreign_keys=TRUE;
//! CREATE TABLE ...;                 -- every ordinary table, in creation order
//! CREATE VIRTUAL TABLE ... USING fts5(...);   -- its shadow tables come with it
//! INSERT INTO "t" VALUES(...);      -- then all rows
//! INSERT INTO "big"("rowid","body") VALUES(7,'<prefix>');  -- a value too large for one
//! UPDATE "big" SET "body"="body"||'<piece>' WHERE "rowid"=7;   -- statement, in pieces
//! INSERT INTO "docs"("rowid","title") VALUES(1,'...');   -- FTS5 storing its own content
//! INSERT INTO "notes_fts"("notes_fts") VALUES('rebuild');  -- FTS5 over a content table
//! DELETE FROM sqlite_sequence; INSERT INTO "sqlite_sequence" VALUES('t',42);
//! CREATE INDEX ...;                 -- then indexes, then triggers and views in creation
//! CREATE TRIGGER ...; CREATE VIEW ...;   -- order (a trigger on a view follows the view)
//! ```
//!
//! No `BEGIN`/`COMMIT`, no PRAGMA but `defer_foreign_keys`, no `writable_schema`, no
//! shadow-table or `_cf_*` statements, and every statement at most
//! [`MAX_STATEMENT_BYTES`] long: a row that does not fit is inserted with a prefix of its
//! largest values and completed with `UPDATE` pieces (`c = c || '…'` for text,
//! `c = CAST(c || X'…' AS BLOB)` for blobs), keyed by its rowid or primary key, so every
//! value keeps its storage class and bits. Rowids of tables without an `INTEGER PRIMARY
//! KEY` are kept too (written explicitly). A contentless FTS5 table (`content=''`) cannot
//! be rebuilt: it is created empty and named in [`Importable::warnings`].
//!
//! Full-text details: an FTS5 table's settings (`rank`, `automerge`, `pgsz`, … in
//! `<t>_config`) are restored right after its `CREATE VIRTUAL TABLE` with
//! `INSERT INTO t(t, rank) VALUES('<setting>', <value>)` (a setting FTS5 does not take is a
//! warning); a table over a view (`content='<view>'`) is rebuilt after the views are
//! created; `fts5vocab` tables are created, never written.
//!
//! Every statement is checked against D1's rules ([`Checker`]) before it is written: a
//! database whose importable SQL would break one (an index named `_cf_…`, say) is
//! [`ImportableError::Refused`], not a file D1 refuses after the upload. A database that
//! `PRAGMA foreign_key_check` finds violations in is written with a warning: D1 enforces
//! foreign keys and would refuse the import when it commits.
//!
//! Known limit: a text value split into pieces in a column with NUMERIC, INTEGER or REAL
//! affinity could have its first piece converted to a number if that piece alone looks
//! like one (a value of over 50,000 leading digits); no real database has been seen to.

use crate::rules::{tokens, Checker, Tok, Violation, MAX_STATEMENT_BYTES};
use crate::write::{is_internal, quote_ident, write_value, Entry};
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use std::io::{self, Write};

/// What [`write_importable`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Importable {
    /// Statements written.
    pub statements: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Rows written.
    pub rows: u64,
    /// Values too large for one statement, written in pieces.
    pub split_values: u64,
    /// Full-text tables rebuilt from their content table (`'rebuild'`).
    pub rebuilt: Vec<String>,
    /// What could not be reproduced or will not import, in words (contentless full-text
    /// tables, FTS5 settings FTS5 does not take, foreign key violations).
    pub warnings: Vec<String>,
}

/// Why importable SQL could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportableError {
    /// Reading the database failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Writing failed.
    #[error("writing the importable dump: {0}")]
    Io(#[from] io::Error),
    /// A schema statement alone is over the limit (it cannot be split).
    #[error("the definition of {name} is {bytes} bytes, over D1's {MAX_STATEMENT_BYTES}-byte statement limit")]
    SchemaTooLarge {
        /// The table, index, trigger or view.
        name: String,
        /// Its statement's size.
        bytes: u64,
    },
    /// A row does not fit even with all its text and blob values split: its key or its
    /// other values are too large.
    #[error("a row of {table} does not fit in {MAX_STATEMENT_BYTES}-byte statements even split (its key or numbers are too large)")]
    RowTooLarge {
        /// The table.
        table: String,
    },
    /// A row of a table without rowid or primary key had to be split.
    #[error(
        "a row of {table} must be split but the table has no rowid or primary key to address it"
    )]
    NoKey {
        /// The table.
        table: String,
    },
    /// A statement about to be written breaks one of D1's import rules (every statement is
    /// checked as it is written, so such an output is this error, never a file D1 refuses).
    #[error("the importable dump would break D1's import rules: {0}")]
    Refused(Violation),
    /// The caller asked to stop.
    #[error("cancelled")]
    Cancelled,
}

/// How an FTS5 table holds its content.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FtsContent {
    /// It stores its own (`t_content`): its rows are re-inserted.
    Own,
    /// `content='table'`: rebuilt from that table (or view), named here.
    External(String),
    /// `content=''`: nothing to rebuild from.
    Contentless,
}

/// The `content=` option of a `CREATE VIRTUAL TABLE … USING fts5(…)`.
fn fts_content(sql: &str) -> FtsContent {
    let toks = tokens(sql.as_bytes(), usize::MAX);
    for w in toks.windows(3) {
        if w[0].is("content") && w[1] == Tok::Punct(b'=') {
            return match w[2].name() {
                Some("") => FtsContent::Contentless,
                name => FtsContent::External(name.unwrap_or_default().to_owned()),
            };
        }
    }
    FtsContent::Own
}

/// One table to write rows of.
struct Table {
    name: String,
    /// The INSERT up to `VALUES(`.
    insert: String,
    /// The SELECT reading the same columns.
    select: String,
    /// Which selected columns (by index) address a row, and their quoted names.
    key: Vec<(usize, String)>,
    /// Quoted names of the selected columns.
    columns: Vec<String>,
}

impl Table {
    fn new(conn: &Connection, name: &str, is_virtual: bool) -> rusqlite::Result<Table> {
        // hidden: 0 ordinary, 1 hidden (virtual tables), 2/3 generated.
        let mut info = conn.prepare(
            "SELECT name, hidden, pk, upper(type) FROM pragma_table_xinfo(?1) ORDER BY cid",
        )?;
        let cols = info
            .query_map([name], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let without_rowid: bool = !is_virtual
            && conn.query_row(
                "SELECT wr FROM pragma_table_list WHERE schema='main' AND name=?1",
                [name],
                |r| r.get(0),
            )?;
        let visible: Vec<_> = cols.iter().filter(|c| c.1 == 0).collect();
        let pks: Vec<_> = visible.iter().filter(|c| c.2 > 0).collect();
        let alias = !is_virtual && !without_rowid && pks.len() == 1 && pks[0].3 == "INTEGER";
        let mut columns: Vec<String> = Vec::new();
        let mut key = Vec::new();
        let names: Vec<&str> = cols.iter().map(|c| c.0.as_str()).collect();
        let rowid = if without_rowid || alias {
            None
        } else {
            ["rowid", "_rowid_", "oid"]
                .into_iter()
                .find(|r| !names.iter().any(|n| n.eq_ignore_ascii_case(r)))
        };
        if let Some(r) = rowid {
            columns.push(quote_ident(r));
            key.push((0, quote_ident(r)));
        }
        let mut pk_columns = Vec::new();
        for c in &visible {
            if rowid.is_none() && c.2 > 0 {
                pk_columns.push((c.2, columns.len(), quote_ident(&c.0)));
            }
            columns.push(quote_ident(&c.0));
        }
        pk_columns.sort();
        key.extend(pk_columns.into_iter().map(|(_, i, name)| (i, name)));
        let list = columns.join(",");
        let plain = rowid.is_none() && visible.len() == cols.len() && !is_virtual;
        let qname = quote_ident(name);
        Ok(Table {
            name: name.to_owned(),
            insert: if plain {
                format!("INSERT INTO {qname} VALUES(")
            } else {
                format!("INSERT INTO {qname}({list}) VALUES(")
            },
            select: format!("SELECT {list} FROM {qname}"),
            key,
            columns,
        })
    }
}

/// Writes statements, counting them and their bytes, each checked against D1's rules
/// before it is written.
struct Out<W> {
    w: W,
    statements: u64,
    bytes: u64,
    /// The line the next statement starts on.
    line: u64,
    checker: Checker,
}

impl<W: Write> Out<W> {
    fn new(w: W) -> Self {
        Self {
            w,
            statements: 0,
            bytes: 0,
            line: 1,
            checker: Checker::new(),
        }
    }

    /// One statement (`;` included) and its newline, if D1's rules take it.
    fn statement(&mut self, sql: &[u8]) -> Result<(), ImportableError> {
        let number = self.statements + 1;
        if let Some(rule) = self
            .checker
            .check_parts(number, self.line, sql.len() as u64, sql)
        {
            return Err(ImportableError::Refused(Violation {
                rule,
                statement: number,
                line: self.line,
                excerpt: crate::split::excerpt(
                    &String::from_utf8_lossy(&sql[..sql.len().min(400)]),
                    80,
                ),
            }));
        }
        self.w.write_all(sql)?;
        self.w.write_all(b"\n")?;
        self.statements += 1;
        self.bytes += sql.len() as u64 + 1;
        self.line += 1 + sql.iter().filter(|&&b| b == b'\n').count() as u64;
        Ok(())
    }

    fn schema(&mut self, name: &str, sql: &str) -> Result<(), ImportableError> {
        let text = format!("{sql};");
        if text.len() as u64 > MAX_STATEMENT_BYTES {
            return Err(ImportableError::SchemaTooLarge {
                name: name.to_owned(),
                bytes: text.len() as u64,
            });
        }
        self.statement(text.as_bytes())
    }
}

/// Writes importable SQL for the database `conn` to `out` (see the [module](self) docs).
/// `progress` gets the bytes written so far after each row; returning false cancels.
pub fn write_importable<W: Write>(
    conn: &Connection,
    out: W,
    progress: &mut dyn FnMut(u64) -> bool,
) -> Result<Importable, ImportableError> {
    conn.execute_batch("BEGIN")?;
    let result = write_all(conn, out, progress);
    let _ = conn.execute_batch("COMMIT");
    result
}

fn write_all<W: Write>(
    conn: &Connection,
    out: W,
    progress: &mut dyn FnMut(u64) -> bool,
) -> Result<Importable, ImportableError> {
    let mut report = Importable::default();
    let mut out = Out::new(out);
    let user: Vec<(String, bool)> = crate::load::user_tables(conn)?;
    let is_user = |name: &str| user.iter().any(|(n, _)| n == name);
    let mut stmt = conn.prepare(
        "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY rowid",
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
    drop(stmt);
    let tables: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.kind == "table" && is_user(&e.name))
        .collect();
    foreign_key_warning(conn, &mut report)?;
    out.statement(b"PRAGMA defer_foreign_keys=TRUE;")?;
    for t in tables.iter().filter(|t| !t.is_virtual()) {
        out.schema(&t.name, &t.sql)?;
    }
    for t in tables.iter().filter(|t| t.is_virtual()) {
        out.schema(&t.name, &t.sql)?;
        if t.module() == "fts5" {
            write_fts5_config(conn, &mut out, &t.name, &mut report)?;
        }
    }
    // Rows: ordinary tables, then virtual tables that hold their own content.
    let is_view = |name: &str| {
        entries
            .iter()
            .any(|e| e.kind == "view" && e.name.eq_ignore_ascii_case(name))
    };
    let mut rebuild = Vec::new();
    // Full-text tables over a view: rebuilt once the views exist.
    let mut rebuild_last = Vec::new();
    for t in tables.iter().filter(|t| !t.is_virtual()) {
        write_rows(
            conn,
            &mut out,
            &Table::new(conn, &t.name, false)?,
            &mut report,
            progress,
        )?;
    }
    for t in tables.iter().filter(|t| t.is_virtual()) {
        let content = match t.module().as_str() {
            "fts5" => fts_content(&t.sql),
            // A view of another full-text table's index: created, never written.
            "fts5vocab" => continue,
            _ => FtsContent::Own,
        };
        match content {
            FtsContent::Own => {
                write_rows(conn, &mut out, &Table::new(conn, &t.name, true)?, &mut report, progress)?
            }
            FtsContent::External(content) if is_view(&content) => rebuild_last.push(t.name.clone()),
            FtsContent::External(_) => rebuild.push(t.name.clone()),
            FtsContent::Contentless => report.warnings.push(format!(
                "the full-text table {:?} is contentless (content=''): its index cannot be rebuilt from the database's content, so it is created empty; re-insert its documents after the import",
                t.name
            )),
        }
    }
    let mut write_rebuilds = |out: &mut Out<W>, names: Vec<String>| {
        for name in names {
            let q = quote_ident(&name);
            out.statement(format!("INSERT INTO {q}({q}) VALUES('rebuild');").as_bytes())?;
            report.rebuilt.push(name);
        }
        Ok::<(), ImportableError>(())
    };
    write_rebuilds(&mut out, rebuild)?;
    write_sequence(conn, &mut out, &user)?;
    let others = entries.iter().filter(|e| match e.kind.as_str() {
        "index" => is_user(&e.tbl_name),
        "trigger" => is_user(&e.tbl_name) || is_view(&e.tbl_name),
        "view" => !is_internal(&e.name),
        _ => false,
    });
    let (indexes, rest): (Vec<&Entry>, Vec<&Entry>) = others.partition(|e| e.kind == "index");
    for e in indexes.into_iter().chain(rest) {
        out.schema(&e.name, &e.sql)?;
    }
    write_rebuilds(&mut out, rebuild_last)?;
    out.w.flush()?;
    report.statements = out.statements;
    report.bytes = out.bytes;
    Ok(report)
}

/// A warning if `PRAGMA foreign_key_check` finds violations: D1 enforces foreign keys and
/// would refuse the import at its commit.
fn foreign_key_warning(conn: &Connection, report: &mut Importable) -> Result<(), ImportableError> {
    let has_foreign_keys: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema s, pragma_foreign_key_list(s.name) \
         WHERE s.type = 'table')",
        [],
        |r| r.get(0),
    )?;
    if !has_foreign_keys {
        return Ok(());
    }
    let (violations, tables): (i64, String) = conn.query_row(
        "SELECT count(*), coalesce(group_concat(DISTINCT \"table\"), '') FROM pragma_foreign_key_check",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if violations > 0 {
        report.warnings.push(format!(
            "the database has {violations} foreign key violation(s) (PRAGMA foreign_key_check; in {tables}): D1 enforces foreign keys and will refuse this import when it commits; fix or delete those rows first"
        ));
    }
    Ok(())
}

/// The FTS5 settings a `<t>_config` table can hold, restored with
/// `INSERT INTO t(t, rank) VALUES('<key>', <value>)` (FTS5's configuration options).
const FTS5_CONFIG_KEYS: &[&str] = &[
    "automerge",
    "crisismerge",
    "deletemerge",
    "hashsize",
    "insttoken",
    "pgsz",
    "rank",
    "secure-delete",
    "usermerge",
];

/// Restores the settings of the FTS5 table `name` (all but its format `version`, which
/// SQLite writes itself), or warns about one it cannot.
fn write_fts5_config<W: Write>(
    conn: &Connection,
    out: &mut Out<W>,
    name: &str,
    report: &mut Importable,
) -> Result<(), ImportableError> {
    let config = format!("{name}_config");
    let exists: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
        [&config],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(());
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT k, v FROM {} WHERE k IS NOT 'version' ORDER BY k",
        quote_ident(&config)
    ))?;
    let mut rows = stmt.query([])?;
    let q = quote_ident(name);
    let mut buf = Vec::new();
    while let Some(row) = rows.next()? {
        let key = row.get_ref(0)?;
        let known = matches!(key, ValueRef::Text(k)
            if FTS5_CONFIG_KEYS.iter().any(|c| c.as_bytes().eq_ignore_ascii_case(k)));
        if !known {
            report.warnings.push(format!(
                "the full-text table {name:?} has a setting {} that FTS5 does not take back; it is left out",
                String::from_utf8_lossy(match key {
                    ValueRef::Text(k) | ValueRef::Blob(k) => k,
                    _ => b"(not text)",
                })
            ));
            continue;
        }
        buf.clear();
        buf.extend_from_slice(format!("INSERT INTO {q}({q},rank) VALUES(").as_bytes());
        write_value(&mut buf, key)?;
        buf.push(b',');
        write_value(&mut buf, row.get_ref(1)?)?;
        buf.extend_from_slice(b");");
        out.statement(&buf)?;
    }
    Ok(())
}

fn write_sequence<W: Write>(
    conn: &Connection,
    out: &mut Out<W>,
    user: &[(String, bool)],
) -> Result<(), ImportableError> {
    let exists: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_schema WHERE type='table' AND name='sqlite_sequence'",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(());
    }
    let mut stmt = conn.prepare("SELECT name, seq FROM sqlite_sequence")?;
    let mut rows = stmt.query([])?;
    let mut first = true;
    let mut buf = Vec::new();
    while let Some(row) = rows.next()? {
        let name = row.get_ref(0)?;
        match name {
            ValueRef::Text(t) if user.iter().any(|(n, _)| n.as_bytes() == t) => {}
            _ => continue,
        }
        if first {
            out.statement(b"DELETE FROM sqlite_sequence;")?;
            first = false;
        }
        buf.clear();
        buf.extend_from_slice(b"INSERT INTO \"sqlite_sequence\" VALUES(");
        write_value(&mut buf, name)?;
        buf.push(b',');
        write_value(&mut buf, row.get_ref(1)?)?;
        buf.extend_from_slice(b");");
        out.statement(&buf)?;
    }
    Ok(())
}

fn write_rows<W: Write>(
    conn: &Connection,
    out: &mut Out<W>,
    table: &Table,
    report: &mut Importable,
    progress: &mut dyn FnMut(u64) -> bool,
) -> Result<(), ImportableError> {
    let mut stmt = conn.prepare(&table.select)?;
    let n = table.columns.len();
    let mut rows = stmt.query([])?;
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut spans: Vec<(usize, usize)> = Vec::with_capacity(n);
    while let Some(row) = rows.next()? {
        buf.clear();
        spans.clear();
        buf.extend_from_slice(table.insert.as_bytes());
        for i in 0..n {
            if i > 0 {
                buf.push(b',');
            }
            let start = buf.len();
            write_value(&mut buf, row.get_ref(i)?)?;
            spans.push((start, buf.len()));
        }
        buf.extend_from_slice(b");");
        if buf.len() as u64 <= MAX_STATEMENT_BYTES {
            out.statement(&buf)?;
        } else {
            let values: Vec<ValueRef<'_>> =
                (0..n).map(|i| row.get_ref(i)).collect::<Result<_, _>>()?;
            report.split_values += write_split_row(out, table, &values, &spans, &buf)?;
        }
        report.rows += 1;
        if !progress(out.bytes) {
            return Err(ImportableError::Cancelled);
        }
    }
    Ok(())
}

/// The bytes of a text or blob value, and whether it is a blob.
fn splittable(v: ValueRef<'_>) -> Option<(&[u8], bool)> {
    match v {
        ValueRef::Text(t) => Some((t, false)),
        ValueRef::Blob(b) => Some((b, true)),
        _ => None,
    }
}

fn literal(bytes: &[u8], blob: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let v = if blob {
        ValueRef::Blob(bytes)
    } else {
        ValueRef::Text(bytes)
    };
    write_value(&mut out, v).expect("writing to a Vec");
    out
}

/// The longest prefix of `rest` whose literal is at most `budget` bytes (cut at a character
/// boundary when the text is valid UTF-8), and that literal.
fn piece(rest: &[u8], blob: bool, budget: usize) -> (usize, Vec<u8>) {
    // A first guess from the worst case (hex: 2 bytes per byte; text: quotes doubled, CRs
    // replaced by markers), refined by halving until it fits.
    let mut n = rest.len().min(if blob {
        budget.saturating_sub(3) / 2
    } else {
        budget.saturating_sub(40) / 3
    });
    let text_ok = !blob && std::str::from_utf8(rest).is_ok();
    loop {
        if text_ok {
            while n > 0 && n < rest.len() && (rest[n] & 0xC0) == 0x80 {
                n -= 1;
            }
        }
        let lit = literal(&rest[..n], blob);
        if lit.len() <= budget || n == 0 {
            return (n, lit);
        }
        n /= 2;
    }
}

/// Writes a row over the limit as an INSERT with prefixes of its largest values and UPDATE
/// pieces for the rest; returns how many values were split.
fn write_split_row<W: Write>(
    out: &mut Out<W>,
    table: &Table,
    values: &[ValueRef<'_>],
    spans: &[(usize, usize)],
    full: &[u8],
) -> Result<u64, ImportableError> {
    let limit = MAX_STATEMENT_BYTES as usize;
    let is_key = |i: usize| table.key.iter().any(|(k, _)| *k == i);
    let lit_len = |i: usize| spans[i].1 - spans[i].0;
    let mut len = full.len();
    let mut deferred: Vec<usize> = Vec::new();
    while len > limit {
        let largest = (0..values.len())
            .filter(|&i| !is_key(i) && !deferred.contains(&i) && splittable(values[i]).is_some())
            .max_by_key(|&i| lit_len(i));
        let Some(i) = largest else {
            return Err(ImportableError::RowTooLarge {
                table: table.name.clone(),
            });
        };
        // Replaced by an empty literal ('' or X'') for now.
        len = len - lit_len(i) + 3;
        deferred.push(i);
    }
    if table.key.is_empty() {
        return Err(ImportableError::NoKey {
            table: table.name.clone(),
        });
    }
    let share = (limit - len) / deferred.len() + 3;
    let mut done = vec![0usize; values.len()];
    let mut insert = Vec::with_capacity(limit);
    insert.extend_from_slice(table.insert.as_bytes());
    for i in 0..values.len() {
        if i > 0 {
            insert.push(b',');
        }
        if deferred.contains(&i) {
            let (bytes, blob) = splittable(values[i]).expect("only text and blobs are deferred");
            let (n, lit) = piece(bytes, blob, share);
            done[i] = n;
            insert.extend_from_slice(&lit);
        } else {
            insert.extend_from_slice(&full[spans[i].0..spans[i].1]);
        }
    }
    insert.extend_from_slice(b");");
    out.statement(&insert)?;
    let mut key = String::from(" WHERE ");
    for (j, (i, name)) in table.key.iter().enumerate() {
        if j > 0 {
            key.push_str(" AND ");
        }
        key.push_str(name);
        key.push('=');
        key.push_str(&String::from_utf8_lossy(&full[spans[*i].0..spans[*i].1]));
    }
    let qtable = quote_ident(&table.name);
    let mut sql = Vec::with_capacity(limit);
    for &i in &deferred {
        let (bytes, blob) = splittable(values[i]).expect("deferred");
        let col = &table.columns[i];
        let (head, tail) = if blob {
            (
                format!("UPDATE {qtable} SET {col}=CAST({col}||"),
                format!(" AS BLOB){key};"),
            )
        } else {
            (
                format!("UPDATE {qtable} SET {col}={col}||"),
                format!("{key};"),
            )
        };
        let budget = limit.saturating_sub(head.len() + tail.len());
        if budget < 64 {
            return Err(ImportableError::RowTooLarge {
                table: table.name.clone(),
            });
        }
        while done[i] < bytes.len() {
            let (n, lit) = piece(&bytes[done[i]..], blob, budget);
            done[i] += n;
            sql.clear();
            sql.extend_from_slice(head.as_bytes());
            sql.extend_from_slice(&lit);
            sql.extend_from_slice(tail.as_bytes());
            out.statement(&sql)?;
        }
    }
    Ok(deferred.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts5_content_kinds() {
        assert_eq!(
            fts_content("CREATE VIRTUAL TABLE t USING fts5(a, b)"),
            FtsContent::Own
        );
        assert_eq!(
            fts_content(
                "CREATE VIRTUAL TABLE t USING fts5(body, content='notes', content_rowid='id')"
            ),
            FtsContent::External("notes".into())
        );
        assert_eq!(
            fts_content("CREATE VIRTUAL TABLE t USING fts5(body, content = \"notes\")"),
            FtsContent::External("notes".into())
        );
        assert_eq!(
            fts_content("CREATE VIRTUAL TABLE t USING fts5(body, content='')"),
            FtsContent::Contentless
        );
        assert_eq!(
            fts_content("CREATE VIRTUAL TABLE t USING fts5(content, body)"),
            FtsContent::Own
        );
    }

    #[test]
    fn pieces_fit_their_budget_and_cut_at_characters() {
        let text = "é'".repeat(1000);
        let (n, lit) = piece(text.as_bytes(), false, 500);
        assert!(lit.len() <= 500);
        assert!(std::str::from_utf8(&text.as_bytes()[..n]).is_ok());
        assert!(n > 100);
        let (n, lit) = piece(&[0xab; 1000], true, 503);
        assert_eq!((n, lit.len()), (250, 503));
    }
}
