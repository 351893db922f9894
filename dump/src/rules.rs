//! D1's import rules, checked before anything is uploaded.
//!
//! D1 imports a SQL file as one job inside its own transaction, with foreign keys enforced
//! and most PRAGMAs refused (Part 5 of the spec). A file that breaks one of these rules fails
//! on the service, often after a long upload, with a message that names neither the line nor
//! the fix. [`check_path`] / [`check_reader`] (or a [`Checker`] fed one [`Statement`] at a
//! time) find them up front:
//!
//! - `BEGIN` / `COMMIT` / `END` / `ROLLBACK` / `SAVEPOINT` / `RELEASE` ([`Rule::Transaction`]);
//! - `PRAGMA writable_schema` ([`Rule::WritableSchema`]) and writes to `sqlite_schema` /
//!   `sqlite_master` ([`Rule::SchemaTableWrite`], how `sqlite3 .dump` registers virtual
//!   tables);
//! - any other PRAGMA but `defer_foreign_keys` ([`Rule::Pragma`]);
//! - statements over 100,000 bytes ([`Rule::StatementTooLarge`]);
//! - statements creating, writing or dropping D1's internal `_cf_*` tables, or creating a
//!   view, trigger or index named `_cf_*` or on such a table ([`Rule::InternalTable`]);
//! - statements creating or writing the shadow tables of a virtual table declared in the
//!   same file (FTS5's `<vt>_data`, `_idx`, `_content`, `_docsize`, `_config`; FTS3/4's and
//!   R*Tree's too), in either order, and internal `sqlite_*` tables other than
//!   `sqlite_sequence` ([`Rule::ShadowTable`]);
//! - `ATTACH`, `DETACH`, `VACUUM` ([`Rule::AttachOrVacuum`]);
//! - a SQLite database file instead of SQL ([`Rule::SqliteDatabaseFile`]);
//! - files over 5 GiB, the upload limit ([`Rule::FileTooLarge`]).
//!
//! A write's target is found behind a `WITH … AS (…)` prefix too (`WITH x AS (…) INSERT INTO
//! _cf_KV …`). Each [`Violation`] carries the statement number, its line, an excerpt and a
//! [hint](Violation::hint). The check streams: memory does not grow with the file (it holds
//! one statement of at most 100 KB, and a bounded set of table names).
//!
//! ```
//! use d1_dump::rules::{check_reader, Rule};
//!
//! let dump = "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE t(x);\nCOMMIT;\n";
//! let report = check_reader(dump.as_bytes()).unwrap();
//! assert!(!report.is_importable());
//! assert_eq!(report.violations.len(), 3);
//! assert_eq!(report.violations[0].rule, Rule::Pragma { name: "foreign_keys".into() });
//! assert_eq!((report.violations[1].statement, report.violations[1].line), (2, 2));
//! ```

use crate::split::{Splitter, Statement};
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// The largest statement D1 accepts, in bytes of SQL.
pub const MAX_STATEMENT_BYTES: u64 = 100_000;

/// The largest file D1's import takes (one upload).
pub const MAX_FILE_BYTES: u64 = 5 << 30;

/// The first 16 bytes of every SQLite database file.
pub const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// How many violations a [`Report`] lists (the rest are counted).
pub const MAX_LISTED: usize = 1000;

/// How much of each statement the checker reads: enough to classify it.
/// All of a statement D1 would take: `WITH … INSERT` and triggers are classified from their
/// whole text.
const CHECK_KEEP: usize = MAX_STATEMENT_BYTES as usize + 1;

/// One rule of D1's import, as broken by a statement or by the file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rule {
    /// An explicit transaction statement (`BEGIN`, `COMMIT`, …); the keyword, upper-case.
    Transaction {
        /// The statement's first keyword.
        keyword: String,
    },
    /// `PRAGMA writable_schema`.
    WritableSchema,
    /// A direct write to `sqlite_schema` / `sqlite_master`.
    SchemaTableWrite,
    /// A PRAGMA other than `defer_foreign_keys`; its name, lower-case.
    Pragma {
        /// The PRAGMA's name.
        name: String,
    },
    /// A statement over [`MAX_STATEMENT_BYTES`].
    StatementTooLarge {
        /// Its size in bytes.
        bytes: u64,
    },
    /// A statement creating or writing one of D1's internal `_cf_*` tables.
    InternalTable {
        /// The table's name.
        name: String,
    },
    /// A statement creating or writing a shadow table of a virtual table declared in the
    /// same file (`<vt>_data`, `_idx`, `_content`, `_docsize`, `_config` of FTS5), or an
    /// internal `sqlite_*` table (`sqlite_stat1`, …; `sqlite_sequence` is allowed).
    ShadowTable {
        /// The table's name.
        name: String,
    },
    /// `ATTACH`, `DETACH` or `VACUUM` (which work on database files); the keyword,
    /// upper-case.
    AttachOrVacuum {
        /// The statement's first keyword.
        keyword: String,
    },
    /// The file is a SQLite database, not SQL.
    SqliteDatabaseFile,
    /// The file is over [`MAX_FILE_BYTES`].
    FileTooLarge {
        /// Its size in bytes.
        bytes: u64,
    },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Transaction { keyword } => {
                write!(f, "{keyword}: D1 refuses explicit transactions")
            }
            Rule::WritableSchema => f.write_str("PRAGMA writable_schema is not allowed in D1"),
            Rule::SchemaTableWrite => {
                f.write_str("writes sqlite_schema directly, which D1 does not allow")
            }
            Rule::Pragma { name } => write!(f, "PRAGMA {name} is not allowed in D1"),
            Rule::StatementTooLarge { bytes } => write!(
                f,
                "the statement is {bytes} bytes; D1 takes at most {MAX_STATEMENT_BYTES}"
            ),
            Rule::InternalTable { name } => {
                write!(f, "{name} is one of D1's internal _cf_* tables")
            }
            Rule::ShadowTable { name } if is_sqlite_named(name) => {
                write!(f, "{name} is one of SQLite's internal tables")
            }
            Rule::ShadowTable { name } => write!(
                f,
                "{name} is a shadow table of a virtual table declared in the file"
            ),
            Rule::AttachOrVacuum { keyword } => {
                write!(
                    f,
                    "{keyword}: D1 does not allow statements on database files"
                )
            }
            Rule::SqliteDatabaseFile => f.write_str("this is a SQLite database file, not SQL"),
            Rule::FileTooLarge { bytes } => write!(
                f,
                "the file is {bytes} bytes; D1 imports at most {MAX_FILE_BYTES} (5 GiB)"
            ),
        }
    }
}

impl Rule {
    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Rule::Transaction { .. } => {
                "remove BEGIN/COMMIT: D1 runs the whole import in one transaction of its own"
            }
            Rule::WritableSchema | Rule::SchemaTableWrite => {
                "this is a sqlite3 .dump-style file (virtual tables written into the schema); \
                 write CREATE VIRTUAL TABLE statements instead, as `d1-export --importable` does"
            }
            Rule::Pragma { .. } => {
                "remove it: D1 allows only PRAGMA defer_foreign_keys in an import \
                 (foreign keys are always on)"
            }
            Rule::StatementTooLarge { .. } => {
                "split large values: insert a prefix, then append the rest with UPDATE \
                 statements, as `d1-export --importable` does"
            }
            Rule::InternalTable { .. } => {
                "remove the statement: _cf_* tables belong to D1 and are created by it"
            }
            Rule::ShadowTable { name } if is_sqlite_named(name) => {
                "remove the statement: sqlite_* tables belong to SQLite (statistics come back \
                 with ANALYZE after the import)"
            }
            Rule::ShadowTable { .. } => {
                "remove the statement: CREATE VIRTUAL TABLE makes its shadow tables itself; \
                 refill a full-text index with INSERT INTO t(t) VALUES('rebuild') or by \
                 inserting its rows, as `d1-export --importable` does"
            }
            Rule::AttachOrVacuum { .. } => {
                "remove it: an import runs in D1's one database, which manages its own files"
            }
            Rule::SqliteDatabaseFile => {
                "convert it to SQL first, e.g. `sqlite3 db.sqlite .dump`, then make it \
                 importable with `d1-export --importable`"
            }
            Rule::FileTooLarge { .. } => "split the dump into several files and import each",
        }
    }
}

/// A broken rule and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which rule.
    pub rule: Rule,
    /// The statement's number (from 1), or 0 for the whole file.
    pub statement: u64,
    /// The statement's first line (from 1), or 0 for the whole file.
    pub line: u64,
    /// A one-line excerpt of the statement (empty for the whole file).
    pub excerpt: String,
}

impl Violation {
    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        self.rule.hint()
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.statement == 0 {
            write!(f, "{} ({})", self.rule, self.hint())
        } else {
            write!(
                f,
                "statement {} (line {}): {}: `{}` ({})",
                self.statement,
                self.line,
                self.rule,
                self.excerpt,
                self.hint()
            )
        }
    }
}

/// The outcome of a check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Statements read.
    pub statements: u64,
    /// Bytes read.
    pub bytes: u64,
    /// The violations, in file order (at most [`MAX_LISTED`]).
    pub violations: Vec<Violation>,
    /// How many violations there were in all.
    pub violations_total: u64,
}

impl Report {
    /// Whether D1's import would accept the file as far as these rules go.
    pub fn is_importable(&self) -> bool {
        self.violations_total == 0
    }
}

/// Checks statements one at a time.
///
/// It remembers the virtual tables declared so far, so that a statement creating or writing
/// one of their shadow tables is refused, in either order (a shadow table created before its
/// virtual table is reported when the virtual table is declared; [`finish`](Self::finish)
/// puts the violations back in file order). What it remembers is bounded.
#[derive(Debug, Default)]
pub struct Checker {
    report: Report,
    /// Virtual tables declared so far: their shadow tables' names (lower-case).
    shadows: std::collections::HashSet<String>,
    /// Tables created or written before any virtual table they may be a shadow of was
    /// declared: name (lower-case) → where (at most [`MAX_PENDING`]).
    pending: std::collections::HashMap<String, Violation>,
}

/// How many virtual tables, and earlier tables that may be shadow tables, a [`Checker`]
/// remembers.
const MAX_PENDING: usize = 10_000;

impl Checker {
    /// A checker with nothing seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks one statement; returns the first rule it breaks, if any (a shadow table
    /// created before its virtual table is reported when the virtual table is declared:
    /// its rule is returned then, its violation names the earlier statement).
    pub fn check(&mut self, statement: &Statement) -> Option<Rule> {
        self.check_parts(
            statement.number,
            statement.line,
            statement.len,
            statement.bytes(),
        )
    }

    /// [`check`](Self::check) of a statement given by its parts (`bytes` its text as kept,
    /// `len` its full length).
    pub(crate) fn check_parts(
        &mut self,
        number: u64,
        line: u64,
        len: u64,
        bytes: &[u8],
    ) -> Option<Rule> {
        self.report.statements += 1;
        let at = |rule| Violation {
            rule,
            statement: number,
            line,
            excerpt: crate::split::excerpt(
                &String::from_utf8_lossy(&bytes[..bytes.len().min(400)]),
                80,
            ),
        };
        let mut first = None;
        if len > MAX_STATEMENT_BYTES {
            let rule = Rule::StatementTooLarge { bytes: len };
            first = Some(rule.clone());
            self.add(at(rule));
        }
        let (rule, effect) = analyze(bytes);
        if let Some(rule) = rule {
            first.get_or_insert(rule.clone());
            self.add(at(rule));
            return first;
        }
        match effect {
            Some(Effect::DeclaresVirtual { name, module }) => {
                for suffix in shadow_suffixes(&module) {
                    let shadow = format!("{name}{suffix}");
                    if let Some(mut earlier) = self.pending.remove(&shadow) {
                        earlier.rule = Rule::ShadowTable {
                            name: shadow.clone(),
                        };
                        first.get_or_insert(earlier.rule.clone());
                        self.add(earlier);
                    }
                    if self.shadows.len() < MAX_PENDING * 5 {
                        self.shadows.insert(shadow);
                    }
                }
            }
            Some(Effect::Table(name)) => {
                if self.shadows.contains(&name) {
                    let rule = Rule::ShadowTable { name };
                    first.get_or_insert(rule.clone());
                    self.add(at(rule));
                } else if self.pending.len() < MAX_PENDING && name.contains('_') {
                    // Only the first statement on it is reported, as its place.
                    let placeholder = Rule::ShadowTable { name: name.clone() };
                    self.pending.entry(name).or_insert_with(|| at(placeholder));
                }
            }
            None => {}
        }
        first
    }

    /// Records a violation of the whole file (e.g. [`Rule::FileTooLarge`]).
    pub fn file_violation(&mut self, rule: Rule) {
        self.add(Violation {
            rule,
            statement: 0,
            line: 0,
            excerpt: String::new(),
        });
    }

    fn add(&mut self, violation: Violation) {
        self.report.violations_total += 1;
        if self.report.violations.len() < MAX_LISTED {
            self.report.violations.push(violation);
        }
    }

    /// The report, given the number of bytes read.
    pub fn finish(mut self, bytes: u64) -> Report {
        self.report.bytes = bytes;
        // Shadow tables reported at their virtual table: back in file order.
        self.report.violations.sort_by_key(|v| v.statement);
        if bytes > MAX_FILE_BYTES
            && !self
                .report
                .violations
                .iter()
                .any(|v| matches!(v.rule, Rule::FileTooLarge { .. }))
        {
            self.file_violation(Rule::FileTooLarge { bytes });
        }
        self.report
    }
}

/// Checks the file at `path` (its size first, then every statement).
pub fn check_path(path: &Path) -> io::Result<Report> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let mut checker = Checker::new();
    if size > MAX_FILE_BYTES {
        checker.file_violation(Rule::FileTooLarge { bytes: size });
    }
    check_into(checker, BufReader::with_capacity(1 << 16, file))
}

/// Checks a dump read from `reader`.
pub fn check_reader<R: BufRead>(reader: R) -> io::Result<Report> {
    check_into(Checker::new(), reader)
}

fn check_into<R: BufRead>(mut checker: Checker, mut reader: R) -> io::Result<Report> {
    let mut header = Vec::with_capacity(SQLITE_HEADER.len());
    (&mut reader)
        .take(SQLITE_HEADER.len() as u64)
        .read_to_end(&mut header)?;
    if header == SQLITE_HEADER {
        checker.file_violation(Rule::SqliteDatabaseFile);
        return Ok(checker.finish(header.len() as u64));
    }
    let mut splitter = Splitter::new(io::Cursor::new(header).chain(reader)).keep(CHECK_KEEP);
    for statement in splitter.by_ref() {
        checker.check(&statement?);
    }
    Ok(checker.finish(splitter.bytes_read()))
}

/// A token at the start of a statement, as far as classifying needs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A bare word, lower-case.
    Word(String),
    /// A quoted identifier or string, unquoted.
    Quoted(String),
    /// Any other byte.
    Punct(u8),
}

impl Tok {
    pub(crate) fn is(&self, word: &str) -> bool {
        matches!(self, Tok::Word(w) if w == word)
    }

    pub(crate) fn name(&self) -> Option<&str> {
        match self {
            Tok::Word(w) | Tok::Quoted(w) => Some(w),
            Tok::Punct(_) => None,
        }
    }
}

/// The first `max` tokens of `sql`, comments skipped.
pub(crate) fn tokens(sql: &[u8], max: usize) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < sql.len() && out.len() < max {
        let b = sql[i];
        match b {
            b if b.is_ascii_whitespace() => i += 1,
            b'-' if sql.get(i + 1) == Some(&b'-') => {
                i = sql[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(sql.len(), |p| i + p + 1);
            }
            b'/' if sql.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..]
                    .windows(2)
                    .position(|w| w == b"*/")
                    .map_or(sql.len(), |p| i + 2 + p + 2);
            }
            b'"' | b'`' | b'[' | b'\'' => {
                let close = if b == b'[' { b']' } else { b };
                let mut text = Vec::new();
                let mut j = i + 1;
                while j < sql.len() {
                    if sql[j] == close {
                        if close != b']' && sql.get(j + 1) == Some(&close) {
                            text.push(close);
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    text.push(sql[j]);
                    j += 1;
                }
                out.push(Tok::Quoted(String::from_utf8_lossy(&text).into_owned()));
                i = j + 1;
            }
            b if b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80 => {
                let end = sql[i..]
                    .iter()
                    .position(|&c| {
                        !(c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80)
                    })
                    .map_or(sql.len(), |p| i + p);
                out.push(Tok::Word(
                    String::from_utf8_lossy(&sql[i..end]).to_ascii_lowercase(),
                ));
                i = end;
            }
            _ => {
                out.push(Tok::Punct(b));
                i += 1;
            }
        }
    }
    out
}

/// A possibly schema-qualified name at `toks[at..]`: the last part, and the index after it.
fn qualified_name(toks: &[Tok], at: usize) -> Option<(&str, usize)> {
    let first = toks.get(at)?.name()?;
    if toks.get(at + 1) == Some(&Tok::Punct(b'.')) {
        if let Some(second) = toks.get(at + 2).and_then(Tok::name) {
            return Some((second, at + 3));
        }
    }
    Some((first, at + 1))
}

fn is_internal(name: &str) -> bool {
    name.len() >= 4 && name.is_char_boundary(4) && name[..4].eq_ignore_ascii_case("_cf_")
}

fn is_schema_table(name: &str) -> bool {
    name.eq_ignore_ascii_case("sqlite_schema")
        || name.eq_ignore_ascii_case("sqlite_master")
        || name.eq_ignore_ascii_case("sqlite_temp_schema")
        || name.eq_ignore_ascii_case("sqlite_temp_master")
}

/// Whether `name` starts with `sqlite_` (any case).
fn is_sqlite_named(name: &str) -> bool {
    name.len() >= 7 && name.is_char_boundary(7) && name[..7].eq_ignore_ascii_case("sqlite_")
}

/// An internal `sqlite_*` table other than the schema and `sqlite_sequence` (which an
/// importable dump restores): `sqlite_stat1`, … .
fn is_sqlite_internal(name: &str) -> bool {
    is_sqlite_named(name) && !name.eq_ignore_ascii_case("sqlite_sequence") && !is_schema_table(name)
}

/// The shadow tables each virtual table module creates, by suffix (`<vt>_data`, …).
fn shadow_suffixes(module: &str) -> &'static [&'static str] {
    match module {
        "fts5" => &["_data", "_idx", "_content", "_docsize", "_config"],
        "fts3" | "fts4" => &["_content", "_segments", "_segdir", "_docsize", "_stat"],
        "rtree" | "rtree_i32" | "geopoly" => &["_node", "_parent", "_rowid"],
        _ => &[],
    }
}

/// How many tokens are read of a statement whose verb may come late (`WITH … INSERT`,
/// `CREATE TRIGGER … UPDATE OF a, b ON t`).
const LONG_TOKENS: usize = 20_000;

/// What a statement does to the schema, as far as the stateful rules need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// `CREATE VIRTUAL TABLE name USING module`: the name and module, lower-case.
    DeclaresVirtual { name: String, module: String },
    /// Creates or writes the table of this name (lower-case).
    Table(String),
}

/// The rule a statement breaks by what it is (its size aside), if any.
pub(crate) fn classify(sql: &[u8]) -> Option<Rule> {
    analyze(sql).0
}

/// The rule a statement breaks by what it is, and what it does to the schema.
pub(crate) fn analyze(sql: &[u8]) -> (Option<Rule>, Option<Effect>) {
    let toks = tokens(sql, 12);
    let long = match toks.first() {
        Some(t) if t.is("with") => true,
        Some(t) if t.is("create") => toks.iter().take(6).any(|t| t.is("trigger")),
        _ => false,
    };
    if long {
        analyze_tokens(&tokens(sql, LONG_TOKENS))
    } else {
        analyze_tokens(&toks)
    }
}

fn internal(name: &str) -> Option<Rule> {
    is_internal(name).then(|| Rule::InternalTable { name: name.into() })
}

fn analyze_tokens(toks: &[Tok]) -> (Option<Rule>, Option<Effect>) {
    let Some(Tok::Word(first)) = toks.first() else {
        return (None, None);
    };
    let first = first.as_str();
    match first {
        "begin" | "commit" | "end" | "rollback" | "savepoint" | "release" => (
            Some(Rule::Transaction {
                keyword: first.to_ascii_uppercase(),
            }),
            None,
        ),
        "attach" | "detach" | "vacuum" => (
            Some(Rule::AttachOrVacuum {
                keyword: first.to_ascii_uppercase(),
            }),
            None,
        ),
        "pragma" => {
            let Some((name, _)) = qualified_name(toks, 1) else {
                return (None, None);
            };
            let name = name.to_ascii_lowercase();
            let rule = match name.as_str() {
                "defer_foreign_keys" => None,
                "writable_schema" => Some(Rule::WritableSchema),
                _ => Some(Rule::Pragma { name }),
            };
            (rule, None)
        }
        "with" => {
            // WITH [RECURSIVE] name [(cols)] AS [NOT] [MATERIALIZED] (…) [, …] verb …: the
            // verb is the first keyword outside the parentheses that is one.
            let mut depth = 0usize;
            for (i, t) in toks.iter().enumerate().skip(1) {
                match t {
                    Tok::Punct(b'(') => depth += 1,
                    Tok::Punct(b')') => depth = depth.saturating_sub(1),
                    Tok::Word(w)
                        if depth == 0
                            && matches!(
                                w.as_str(),
                                "insert" | "replace" | "update" | "delete" | "select" | "values"
                            ) =>
                    {
                        return analyze_tokens(&toks[i..]);
                    }
                    _ => {}
                }
            }
            (None, None)
        }
        "create" => create(toks),
        "drop" => {
            let kind_ok = toks
                .get(1)
                .is_some_and(|t| t.is("table") || t.is("view") || t.is("index") || t.is("trigger"));
            if !kind_ok {
                return (None, None);
            }
            let at = if toks.get(2).is_some_and(|t| t.is("if")) {
                4
            } else {
                2
            };
            let rule = qualified_name(toks, at).and_then(|(name, _)| internal(name));
            (rule, None)
        }
        "insert" | "replace" | "update" | "delete" | "alter" => {
            // The target: after INTO (INSERT/REPLACE), FROM (DELETE), TABLE (ALTER), or
            // UPDATE [OR action].
            let at = match first {
                "update" => {
                    if toks.get(1).is_some_and(|t| t.is("or")) {
                        3
                    } else {
                        1
                    }
                }
                "alter" => {
                    if !toks.get(1).is_some_and(|t| t.is("table")) {
                        return (None, None);
                    }
                    2
                }
                _ => {
                    let key = if first == "delete" { "from" } else { "into" };
                    match toks.iter().position(|t| t.is(key)) {
                        Some(p) => p + 1,
                        None => return (None, None),
                    }
                }
            };
            let Some((name, _)) = qualified_name(toks, at) else {
                return (None, None);
            };
            let rule = if is_internal(name) {
                Some(Rule::InternalTable { name: name.into() })
            } else if is_schema_table(name) {
                Some(Rule::SchemaTableWrite)
            } else if is_sqlite_internal(name) && first != "alter" {
                Some(Rule::ShadowTable { name: name.into() })
            } else {
                None
            };
            (rule, Some(Effect::Table(name.to_ascii_lowercase())))
        }
        _ => (None, None),
    }
}

/// `CREATE [TEMP|TEMPORARY] [UNIQUE] [VIRTUAL] TABLE|INDEX|VIEW|TRIGGER [IF NOT EXISTS] name …`.
fn create(toks: &[Tok]) -> (Option<Rule>, Option<Effect>) {
    let mut at = 1;
    let mut is_virtual = false;
    while toks
        .get(at)
        .is_some_and(|t| t.is("temp") || t.is("temporary") || t.is("virtual") || t.is("unique"))
    {
        is_virtual |= toks[at].is("virtual");
        at += 1;
    }
    let Some(Tok::Word(kind)) = toks.get(at) else {
        return (None, None);
    };
    let kind = kind.as_str();
    if !matches!(kind, "table" | "index" | "view" | "trigger") {
        return (None, None);
    }
    at += 1;
    if toks.get(at).is_some_and(|t| t.is("if")) {
        at += 3;
    }
    let Some((name, after)) = qualified_name(toks, at) else {
        return (None, None);
    };
    if let Some(rule) = internal(name) {
        return (Some(rule), None);
    }
    match kind {
        "table" if is_virtual => {
            let module = toks[after..]
                .iter()
                .position(|t| t.is("using"))
                .and_then(|p| toks.get(after + p + 1))
                .and_then(Tok::name)
                .map(str::to_ascii_lowercase)
                .unwrap_or_default();
            (
                None,
                Some(Effect::DeclaresVirtual {
                    name: name.to_ascii_lowercase(),
                    module,
                }),
            )
        }
        "table" => {
            let rule = is_sqlite_named(name).then(|| Rule::ShadowTable { name: name.into() });
            (rule, Some(Effect::Table(name.to_ascii_lowercase())))
        }
        "index" | "trigger" => {
            // The table: after the first ON (outside parentheses, before a trigger's BEGIN).
            let mut depth = 0usize;
            for (i, t) in toks.iter().enumerate().skip(after) {
                match t {
                    Tok::Punct(b'(') => depth += 1,
                    Tok::Punct(b')') => depth = depth.saturating_sub(1),
                    Tok::Word(w) if depth == 0 && w == "begin" => break,
                    Tok::Word(w) if depth == 0 && w == "on" => {
                        let rule = qualified_name(toks, i + 1).and_then(|(t, _)| internal(t));
                        return (rule, None);
                    }
                    _ => {}
                }
            }
            (None, None)
        }
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(sql: &str) -> Option<Rule> {
        classify(sql.as_bytes())
    }

    #[test]
    fn transactions_are_refused_whatever_their_spelling() {
        for sql in [
            "BEGIN TRANSACTION;",
            "begin;",
            "Begin Immediate;",
            "COMMIT;",
            "END TRANSACTION;",
            "ROLLBACK;",
            "SAVEPOINT a;",
            "RELEASE a;",
            "/* c */ BEGIN;",
        ] {
            assert!(matches!(rule(sql), Some(Rule::Transaction { .. })), "{sql}");
        }
    }

    #[test]
    fn only_defer_foreign_keys_is_an_allowed_pragma() {
        assert_eq!(rule("PRAGMA defer_foreign_keys=TRUE;"), None);
        assert_eq!(rule("pragma main.defer_foreign_keys = on;"), None);
        assert_eq!(
            rule("PRAGMA writable_schema=ON;"),
            Some(Rule::WritableSchema)
        );
        assert_eq!(
            rule("PRAGMA \"Foreign_Keys\"=OFF;"),
            Some(Rule::Pragma {
                name: "foreign_keys".into()
            })
        );
        assert_eq!(
            rule("PRAGMA main.journal_mode=WAL;"),
            Some(Rule::Pragma {
                name: "journal_mode".into()
            })
        );
    }

    #[test]
    fn internal_tables_are_refused_in_every_statement_kind() {
        for sql in [
            "CREATE TABLE _cf_KV(k, v);",
            "CREATE TABLE IF NOT EXISTS \"_cf_KV\"(k);",
            "create temp table main._CF_x(a);",
            "INSERT INTO _cf_KV VALUES(1,2);",
            "INSERT OR REPLACE INTO \"_cf_METADATA\" VALUES(1);",
            "REPLACE INTO _cf_x VALUES(1);",
            "UPDATE _cf_KV SET v=1;",
            "UPDATE OR IGNORE _cf_KV SET v=1;",
            "DELETE FROM main._cf_KV;",
            "DROP TABLE IF EXISTS _cf_KV;",
            "ALTER TABLE _cf_KV ADD COLUMN c;",
            "CREATE INDEX i ON _cf_KV(k);",
        ] {
            assert!(
                matches!(rule(sql), Some(Rule::InternalTable { .. })),
                "{sql}"
            );
        }
        assert_eq!(rule("CREATE TABLE cf_kv(a);"), None);
        assert_eq!(rule("INSERT INTO \"t\" VALUES('_cf_KV');"), None);
    }

    #[test]
    fn internal_names_are_refused_in_views_triggers_and_indexes_too() {
        for sql in [
            "CREATE INDEX _cf_i ON t(a);",
            "CREATE UNIQUE INDEX IF NOT EXISTS \"_CF_i\" ON t(a);",
            "CREATE VIEW _cf_v AS SELECT 1;",
            "CREATE TEMP VIEW IF NOT EXISTS main._cf_v AS SELECT 1;",
            "CREATE TRIGGER _cf_tr AFTER INSERT ON t BEGIN SELECT 1; END;",
            "CREATE TRIGGER tr AFTER UPDATE OF a, b, c ON _cf_KV BEGIN SELECT 1; END;",
            "CREATE TRIGGER tr INSTEAD OF DELETE ON main.\"_cf_v\" BEGIN SELECT 1; END;",
            "DROP VIEW IF EXISTS _cf_v;",
            "DROP INDEX _cf_i;",
            "DROP TRIGGER _cf_tr;",
        ] {
            assert!(
                matches!(rule(sql), Some(Rule::InternalTable { .. })),
                "{sql}"
            );
        }
        assert_eq!(rule("CREATE VIEW cf_v AS SELECT * FROM _cf_KV;"), None);
        assert_eq!(
            rule(
                "CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO x VALUES('ON _cf_KV'); END;"
            ),
            None
        );
    }

    #[test]
    fn writes_behind_a_with_prefix_are_judged_by_their_target() {
        for (sql, want) in [
            (
                "WITH x AS (SELECT 1) INSERT INTO _cf_KV SELECT * FROM x;",
                Some(Rule::InternalTable { name: "_cf_kv".into() }),
            ),
            (
                "WITH RECURSIVE a(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM a WHERE n<3), \
                 b AS MATERIALIZED (SELECT (SELECT 2)) DELETE FROM \"_cf_METADATA\";",
                Some(Rule::InternalTable { name: "_cf_METADATA".into() }),
            ),
            (
                "with q as not materialized (select 'insert into t') update sqlite_master set sql='';",
                Some(Rule::SchemaTableWrite),
            ),
            (
                "WITH x AS (SELECT 1) REPLACE INTO sqlite_stat1 VALUES('t',NULL,'1');",
                Some(Rule::ShadowTable { name: "sqlite_stat1".into() }),
            ),
            ("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x;", None),
            ("WITH x AS (DELETE FROM _cf_KV) SELECT 1;", None),
        ] {
            assert_eq!(rule(sql), want, "{sql}");
        }
        // A long CTE does not hide its target from a file check either.
        let long = format!(
            "WITH x AS (SELECT '{}') INSERT INTO _cf_KV SELECT * FROM x;",
            "y".repeat(20_000)
        );
        let report = check_reader(long.as_bytes()).unwrap();
        assert!(matches!(
            report.violations[0].rule,
            Rule::InternalTable { .. }
        ));
    }

    #[test]
    fn attach_detach_and_vacuum_are_refused() {
        for sql in [
            "ATTACH DATABASE '/tmp/x.db' AS x;",
            "attach 'file:x?mode=memory' as y;",
            "DETACH x;",
            "VACUUM;",
            "VACUUM INTO '/tmp/copy.db';",
        ] {
            assert!(
                matches!(rule(sql), Some(Rule::AttachOrVacuum { .. })),
                "{sql}"
            );
        }
        let report = check_reader("CREATE TABLE t(a);\n\nVACUUM INTO 'x';\n".as_bytes()).unwrap();
        let v = &report.violations[0];
        assert_eq!((v.statement, v.line), (2, 3));
        assert!(v.to_string().contains("VACUUM"), "{v}");
        assert!(v.hint().contains("remove it"));
    }

    #[test]
    fn shadow_tables_of_a_virtual_table_in_the_file_are_refused_in_either_order() {
        let dump = "CREATE TABLE notes_data(a);\n\
                    CREATE VIRTUAL TABLE notes USING fts5(body);\n\
                    INSERT INTO notes_data VALUES(1);\n\
                    CREATE TABLE 'notes_idx'(segid, term, pgno, PRIMARY KEY(segid, term)) WITHOUT ROWID;\n\
                    INSERT INTO \"notes_content\" VALUES(1, 'x');\n\
                    DELETE FROM notes_docsize;\n\
                    INSERT INTO notes_config VALUES('version', 4);\n\
                    CREATE TABLE other_data(a);\n\
                    INSERT INTO notes(notes, rank) VALUES('rank', 'bm25(2.0)');\n\
                    CREATE TABLE sqlite_stat1(tbl, idx, stat);\n\
                    INSERT INTO sqlite_sequence VALUES('t', 1);\n";
        let report = check_reader(dump.as_bytes()).unwrap();
        let got: Vec<(u64, u64, String)> = report
            .violations
            .iter()
            .map(|v| match &v.rule {
                Rule::ShadowTable { name } => (v.statement, v.line, name.to_ascii_lowercase()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (1, 1, "notes_data".to_owned()),
                (3, 3, "notes_data".to_owned()),
                (4, 4, "notes_idx".to_owned()),
                (5, 5, "notes_content".to_owned()),
                (6, 6, "notes_docsize".to_owned()),
                (7, 7, "notes_config".to_owned()),
                (10, 10, "sqlite_stat1".to_owned()),
            ]
        );
        assert!(report.violations[0].hint().contains("rebuild"));
        assert!(report.violations[6]
            .to_string()
            .contains("SQLite's internal tables"));
        assert!(report.violations[6].hint().contains("ANALYZE"));
        // A table of that name is fine where no virtual table has it as a shadow.
        let plain = "CREATE TABLE notes_data(a);\nINSERT INTO notes_data VALUES(1);\n\
                     CREATE VIRTUAL TABLE other USING fts5(b);\n";
        assert!(check_reader(plain.as_bytes()).unwrap().is_importable());
    }

    #[test]
    fn schema_table_writes_are_refused_but_sqlite_sequence_is_fine() {
        assert_eq!(
            rule("INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql)VALUES('table','t','t',0,'CREATE VIRTUAL TABLE t USING fts5(a)');"),
            Some(Rule::SchemaTableWrite)
        );
        assert_eq!(
            rule("UPDATE sqlite_master SET sql='';"),
            Some(Rule::SchemaTableWrite)
        );
        assert_eq!(rule("DELETE FROM sqlite_sequence;"), None);
        assert_eq!(rule("INSERT INTO \"sqlite_sequence\" VALUES('t',1);"), None);
    }

    #[test]
    fn ordinary_statements_pass() {
        for sql in [
            "CREATE TABLE t(a);",
            "CREATE VIRTUAL TABLE f USING fts5(a);",
            "INSERT INTO t VALUES('BEGIN; COMMIT;');",
            "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET a=1; END;",
            "CREATE VIEW v AS SELECT 1;",
            "INSERT INTO f(f) VALUES('rebuild');",
            "SELECT 1;",
        ] {
            assert_eq!(rule(sql), None, "{sql}");
        }
    }

    #[test]
    fn a_sqlite_database_file_is_named_as_such() {
        let mut bytes = SQLITE_HEADER.to_vec();
        bytes.extend_from_slice(&[0u8; 100]);
        let report = check_reader(&bytes[..]).unwrap();
        assert_eq!(report.violations[0].rule, Rule::SqliteDatabaseFile);
        assert!(report.violations[0].to_string().contains(".dump"));
    }

    #[test]
    fn sizes_are_checked_from_the_whole_statement_not_the_kept_prefix() {
        let big = format!(
            "INSERT INTO t VALUES('{}');\nSELECT 1;\n",
            "x".repeat(150_000)
        );
        let report = check_reader(big.as_bytes()).unwrap();
        assert_eq!(report.violations_total, 1);
        assert_eq!(
            report.violations[0].rule,
            Rule::StatementTooLarge { bytes: 150_025 }
        );
        assert_eq!(report.statements, 2);
        let ok = format!("INSERT INTO t VALUES('{}');", "x".repeat(99_975));
        assert_eq!(ok.len(), 100_000);
        assert!(check_reader(ok.as_bytes()).unwrap().is_importable());
    }

    #[test]
    fn a_file_over_five_gib_is_refused() {
        let mut checker = Checker::new();
        checker.check(&Statement::new(1, 1, "SELECT 1;"));
        let report = checker.finish(MAX_FILE_BYTES + 1);
        assert_eq!(
            report.violations,
            vec![Violation {
                rule: Rule::FileTooLarge {
                    bytes: MAX_FILE_BYTES + 1
                },
                statement: 0,
                line: 0,
                excerpt: String::new()
            }]
        );
    }

    #[test]
    fn listed_violations_are_capped_and_all_are_counted() {
        let dump = "PRAGMA foreign_keys=OFF;\n".repeat(MAX_LISTED + 5);
        let report = check_reader(dump.as_bytes()).unwrap();
        assert_eq!(report.violations.len(), MAX_LISTED);
        assert_eq!(report.violations_total, MAX_LISTED as u64 + 5);
        assert_eq!(report.violations[MAX_LISTED - 1].line, MAX_LISTED as u64);
    }
}
