//! Restore-ready dumps on real SQLite: a random database is dumped as D1 does (or as
//! `sqlite3 .dump` does when it has FTS5 tables), loaded into a scratch database (which must
//! equal the source: `--format sqlite`), written as importable SQL (which must pass D1's
//! rules), and loaded under D1's rules (foreign keys on, all in one transaction) into an
//! empty database, which must equal the source: schema, every row with its storage class and
//! bits, and the same full-text matches.

mod common;

use common::{diff, snapshot, tempdir, Snapshot};
use d1_dump::load::{create_scratch, load_dump, verify, LoadErrorKind, LoadMode};
use d1_dump::rules::check_reader;
use d1_dump::write::{dump_to_vec, Compatibility, DumpOptions};
use d1_dump::{write_importable, Importable};
use proptest::prelude::*;
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};
use std::path::Path;

const WORDS: &[&str] = &["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];

/// How a table keys its rows.
#[derive(Debug, Clone, Copy)]
enum Key {
    /// `id INTEGER PRIMARY KEY` (the rowid).
    Alias,
    /// `id INTEGER PRIMARY KEY AUTOINCREMENT`.
    Autoincrement,
    /// `id INTEGER NOT NULL UNIQUE`, rowids of their own (with gaps).
    Unique,
    /// `id INTEGER PRIMARY KEY` in a `WITHOUT ROWID` table.
    WithoutRowid,
    /// `k TEXT PRIMARY KEY` (quotes, newlines, unicode) in a `WITHOUT ROWID` table, `id`
    /// unique beside it.
    TextWithoutRowid,
    /// `PRIMARY KEY (k, id)`, text then integer, in a `WITHOUT ROWID` table.
    CompositeWithoutRowid,
}

impl Key {
    /// Whether the table has the text key column `k`.
    fn has_text_key(self) -> bool {
        matches!(self, Key::TextWithoutRowid | Key::CompositeWithoutRowid)
    }
}

/// The text key of row `id`: quotes, a newline, a CR, unicode, and a length that varies.
fn text_key(id: i64) -> String {
    format!("k'{id}\"\n\r é🙂{}", "x".repeat((id as usize * 7) % 13))
}

#[derive(Debug, Clone)]
struct TableSpec {
    key: Key,
    /// Declared types of the data columns.
    types: Vec<&'static str>,
    /// Index of the table each foreign key refers to (any table, earlier, later or itself).
    refs: Vec<usize>,
    rows: Vec<Vec<Value>>,
    index: bool,
    trigger: bool,
    view: bool,
}

#[derive(Debug, Clone)]
struct DbSpec {
    tables: Vec<TableSpec>,
    /// Own-content, external-content and contentless FTS5 tables (which of them).
    fts: [bool; 3],
    docs: Vec<String>,
    /// How many rows were deleted from each AUTOINCREMENT table (so its counter is ahead).
    deleted: usize,
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z ]{0,12}",
        Just("it's \"quoted\"; -- not a comment /* nor */".to_owned()),
        Just("line\nbreak\r\nand CR\r".to_owned()),
        Just("日本語 🙂 Zoë Łódź \u{2028}".to_owned()),
        Just("\\r \\n (\\n0) char(10)".to_owned()),
        Just(String::new()),
        "[\\x00-\\x7f]{0,8}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        prop_oneof![
            Just(i64::MIN),
            Just(i64::MAX),
            Just(0i64),
            Just(-1),
            any::<i64>()
        ]
        .prop_map(Value::Integer),
        prop_oneof![
            Just(-0.0f64),
            Just(0.1),
            Just(f64::MAX),
            Just(5e-324),
            Just(-9.223_372_036_854_776e18),
            // +2^63 as a real: one past i64::MAX, so it must stay a real.
            Just(9_223_372_036_854_775_808.0),
            any::<f64>().prop_filter("no NaN", |f| !f.is_nan())
        ]
        .prop_map(Value::Real),
        text().prop_map(Value::Text),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(Value::Blob),
    ]
}

/// A value of up to 1 MB, sometimes.
fn big_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => value(),
        1 => (50_000usize..1_000_000, "[a-z' \n\r]{1,4}").prop_map(|(n, unit)| {
            Value::Text(unit.repeat(n / unit.len()))
        }),
        1 => (60_000usize..1_000_000, any::<u8>()).prop_map(|(n, seed)| {
            Value::Blob((0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect())
        }),
    ]
}

fn table_spec(n_tables: usize) -> impl Strategy<Value = TableSpec> {
    (
        prop_oneof![
            Just(Key::Alias),
            Just(Key::Autoincrement),
            Just(Key::Unique),
            Just(Key::WithoutRowid),
            Just(Key::TextWithoutRowid),
            Just(Key::CompositeWithoutRowid)
        ],
        proptest::collection::vec(
            proptest::sample::select(
                &["", "INTEGER", "TEXT", "BLOB", "REAL", "NUMERIC", "ANY"][..],
            ),
            1..4,
        ),
        proptest::collection::vec(0..n_tables, 0..3),
        any::<(bool, bool, bool)>(),
        0usize..6,
    )
        .prop_flat_map(|(key, types, refs, (index, trigger, view), nrows)| {
            let ncols = types.len();
            let rows = proptest::collection::vec(
                proptest::collection::vec(big_value(), ncols..=ncols),
                nrows..=nrows,
            );
            (Just((key, types, refs, index, trigger, view)), rows)
        })
        .prop_map(
            |((key, types, refs, index, trigger, view), rows)| TableSpec {
                key,
                types,
                refs,
                rows,
                index,
                trigger,
                view,
            },
        )
}

fn db_spec() -> impl Strategy<Value = DbSpec> {
    (1usize..5)
        .prop_flat_map(|n| {
            (
                proptest::collection::vec(table_spec(n), n..=n),
                any::<[bool; 3]>(),
                proptest::collection::vec(
                    proptest::collection::vec(proptest::sample::select(WORDS), 1..6)
                        .prop_map(|w| w.join(" ")),
                    0..6,
                ),
                0usize..2,
            )
        })
        .prop_map(|(tables, fts, docs, deleted)| DbSpec {
            tables,
            fts,
            docs,
            deleted,
        })
}

/// Builds the database: tables in order with foreign keys to any table (so a child may be
/// created before its parent), rows whose foreign keys point at existing parents.
fn build(path: &Path, spec: &DbSpec) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch("CREATE TABLE log (id INTEGER PRIMARY KEY, what TEXT);")
        .unwrap();
    for (i, t) in spec.tables.iter().enumerate() {
        let mut cols = vec![match t.key {
            Key::Alias | Key::WithoutRowid => "id INTEGER PRIMARY KEY".to_owned(),
            Key::Autoincrement => "id INTEGER PRIMARY KEY AUTOINCREMENT".to_owned(),
            Key::Unique | Key::CompositeWithoutRowid => "id INTEGER NOT NULL UNIQUE".to_owned(),
            Key::TextWithoutRowid => "id INTEGER NOT NULL UNIQUE, k TEXT PRIMARY KEY".to_owned(),
        }];
        if matches!(t.key, Key::CompositeWithoutRowid) {
            cols.push("k TEXT NOT NULL".to_owned());
        }
        for (j, ty) in t.types.iter().enumerate() {
            cols.push(format!("\"c {j}\" {ty}"));
        }
        for (j, r) in t.refs.iter().enumerate() {
            cols.push(format!("ref{j} INTEGER REFERENCES t{r}(id)"));
        }
        if matches!(t.key, Key::CompositeWithoutRowid) {
            cols.push("PRIMARY KEY (k, id)".to_owned());
        }
        let tail = match t.key {
            Key::WithoutRowid | Key::TextWithoutRowid | Key::CompositeWithoutRowid => {
                " WITHOUT ROWID"
            }
            _ => "",
        };
        conn.execute_batch(&format!("CREATE TABLE t{i} ({}){tail};", cols.join(", ")))
            .unwrap();
    }
    conn.execute_batch("PRAGMA foreign_keys=ON; BEGIN; PRAGMA defer_foreign_keys=ON;")
        .unwrap();
    for (i, t) in spec.tables.iter().enumerate() {
        for (r, row) in t.rows.iter().enumerate() {
            let id = r as i64 + 1;
            let mut values = vec![Value::Integer(id)];
            if t.key.has_text_key() {
                values.push(Value::Text(text_key(id)));
            }
            values.extend(row.iter().cloned());
            for (j, parent) in t.refs.iter().enumerate() {
                let parent_rows = spec.tables[*parent].rows.len() as i64;
                values.push(if parent_rows == 0 || (r + j) % 3 == 2 {
                    Value::Null
                } else {
                    Value::Integer((r as i64 + j as i64) % parent_rows + 1)
                });
            }
            let marks = vec!["?"; values.len()].join(",");
            let (rowid_col, rowid_val) = match t.key {
                // A rowid that is not the id, with gaps.
                Key::Unique => (",rowid", format!(",{}", id * 7 + 3)),
                _ => ("", String::new()),
            };
            let cols: Vec<String> = std::iter::once("id".to_owned())
                .chain(t.key.has_text_key().then(|| "k".to_owned()))
                .chain((0..t.types.len()).map(|j| format!("\"c {j}\"")))
                .chain((0..t.refs.len()).map(|j| format!("ref{j}")))
                .collect();
            conn.execute(
                &format!(
                    "INSERT INTO t{i}({}{rowid_col}) VALUES({marks}{rowid_val})",
                    cols.join(",")
                ),
                params_from_iter(values),
            )
            .unwrap();
        }
        if matches!(t.key, Key::Autoincrement) && spec.deleted > 0 && !t.rows.is_empty() {
            // The counter stays ahead of the rows: deleting a row no one refers to.
            conn.execute_batch(&format!(
                "INSERT INTO t{i}(id) VALUES(1000); DELETE FROM t{i} WHERE id=1000;"
            ))
            .unwrap();
        }
    }
    conn.execute_batch("COMMIT;").unwrap();
    for (i, t) in spec.tables.iter().enumerate() {
        if t.index {
            conn.execute_batch(&format!("CREATE INDEX t{i}_c0 ON t{i}(\"c 0\");"))
                .unwrap();
        }
        if t.trigger {
            // Would add rows to `log` if it fired during a restore.
            conn.execute_batch(&format!(
                "CREATE TRIGGER t{i}_ins AFTER INSERT ON t{i} BEGIN INSERT INTO log(what) VALUES('t{i}'); END;\n\
                 CREATE TRIGGER t{i}_upd AFTER UPDATE ON t{i} BEGIN INSERT INTO log(what) VALUES('u{i}'); END;"
            ))
            .unwrap();
        }
        if t.view {
            conn.execute_batch(&format!(
                "CREATE VIEW v{i} AS SELECT id FROM t{i} WHERE id > 1;\n\
                 CREATE TRIGGER v{i}_ins INSTEAD OF INSERT ON v{i} BEGIN INSERT INTO log(what) VALUES('v{i}'); END;"
            ))
            .unwrap();
        }
    }
    conn.execute_batch("INSERT INTO log(what) VALUES('built');")
        .unwrap();
    let [own, external, contentless] = spec.fts;
    if external {
        conn.execute_batch(
            "CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT);\n\
             CREATE VIRTUAL TABLE fts_ext USING fts5(body, content='docs', content_rowid='id');",
        )
        .unwrap();
    }
    if own {
        conn.execute_batch(
            "CREATE VIRTUAL TABLE fts_own USING fts5(title, body, tokenize='porter');",
        )
        .unwrap();
    }
    if contentless {
        conn.execute_batch("CREATE VIRTUAL TABLE fts_none USING fts5(body, content='');")
            .unwrap();
    }
    for (i, doc) in spec.docs.iter().enumerate() {
        let id = i as i64 * 2 + 1;
        if external {
            conn.execute("INSERT INTO docs VALUES(?1, ?2)", (id, doc))
                .unwrap();
            conn.execute("INSERT INTO fts_ext(rowid, body) VALUES(?1, ?2)", (id, doc))
                .unwrap();
        }
        if own {
            conn.execute(
                "INSERT INTO fts_own(rowid, title, body) VALUES(?1, ?2, ?3)",
                (id, format!("doc {i}"), doc),
            )
            .unwrap();
        }
        if contentless {
            conn.execute(
                "INSERT INTO fts_none(rowid, body) VALUES(?1, ?2)",
                (id, doc),
            )
            .unwrap();
        }
    }
    conn
}

/// The source → dump → scratch → importable → D1-rules load chain; returns the snapshots of
/// the source, the scratch database and the restored one, and the importable report.
fn restore_chain(spec: &DbSpec) -> (Snapshot, Snapshot, Snapshot, Importable) {
    let dir = tempdir();
    let src = dir.path().join("src.sqlite");
    let source = snapshot(&build(&src, spec), WORDS);
    let has_fts = spec.fts.iter().any(|b| *b);
    let options = DumpOptions {
        compatibility: if has_fts {
            Compatibility::Sqlite3CliOnly
        } else {
            Compatibility::D1
        },
        ..DumpOptions::default()
    };
    let dump = dump_to_vec(&src, &options).unwrap();
    // The scratch database, as --verify and --format sqlite make it.
    let scratch_path = dir.path().join("scratch.sqlite");
    let scratch = create_scratch(&scratch_path).unwrap();
    let loaded = load_dump(&scratch, &dump[..], LoadMode::Sqlite, &mut |_| true).unwrap();
    drop(scratch);
    assert_eq!(loaded.wrote_schema, has_fts);
    let scratch = Connection::open(&scratch_path).unwrap();
    let verification = verify(&scratch).unwrap();
    assert_eq!(verification.integrity_check, "ok");
    assert_eq!(verification.foreign_key_violations, 0);
    let scratch_snapshot = snapshot(&scratch, WORDS);
    // Importable SQL from it.
    let mut sql = Vec::new();
    let report = write_importable(&scratch, &mut sql, &mut |_| true).unwrap();
    assert_eq!(report.bytes, sql.len() as u64);
    let rules = check_reader(&sql[..]).unwrap();
    assert!(rules.is_importable(), "{:?}", rules.violations);
    // Loaded as D1 loads it.
    let restored = Connection::open(dir.path().join("restored.sqlite")).unwrap();
    load_dump(&restored, &sql[..], LoadMode::D1, &mut |_| true).unwrap_or_else(|e| panic!("{e}"));
    let restored_snapshot = snapshot(&restored, WORDS);
    (source, scratch_snapshot, restored_snapshot, report)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if std::env::var_os("CI").is_some() { 64 } else { 16 },
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_databases_restore_identically_under_d1_rules(spec in db_spec()) {
        let (source, scratch, restored, report) = restore_chain(&spec);
        // --format sqlite: the scratch database is the source.
        if let Some(d) = diff(&source, &scratch) {
            return Err(TestCaseError::fail(format!("scratch: {d}")));
        }
        // --importable: the same, except a contentless full-text table cannot be refilled.
        if spec.fts[2] {
            prop_assert!(report.warnings.iter().any(|w| w.contains("fts_none")));
        } else {
            prop_assert!(report.warnings.is_empty());
        }
        if let Some(d) = diff(&source, &restored) {
            return Err(TestCaseError::fail(format!("restored: {d}")));
        }
        if spec.fts[1] {
            prop_assert_eq!(&report.rebuilt, &vec!["fts_ext".to_owned()]);
        }
    }
}

#[test]
fn a_foreign_key_to_a_later_table_breaks_d1s_dump_but_not_the_importable_one() {
    let dir = tempdir();
    let src = dir.path().join("src.sqlite");
    let conn = Connection::open(&src).unwrap();
    conn.execute_batch(
        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent(id));\n\
         CREATE TABLE parent (id INTEGER PRIMARY KEY);\n\
         INSERT INTO parent VALUES (1); INSERT INTO child VALUES (1, 1);",
    )
    .unwrap();
    let dump = dump_to_vec(&src, &DumpOptions::default()).unwrap();
    let d1 = Connection::open(dir.path().join("d1.sqlite")).unwrap();
    let err = load_dump(&d1, &dump[..], LoadMode::D1, &mut |_| true).unwrap_err();
    assert!(
        err.to_string().contains("no such table: main.parent"),
        "{err}"
    );
    assert_eq!(err.at.as_ref().map(|a| a.number), Some(3));
    // Nothing of it stayed.
    let n: i64 = d1
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
    let mut sql = Vec::new();
    write_importable(&conn, &mut sql, &mut |_| true).unwrap();
    let fresh = Connection::open(dir.path().join("fresh.sqlite")).unwrap();
    load_dump(&fresh, &sql[..], LoadMode::D1, &mut |_| true).unwrap();
    assert_eq!(diff(&snapshot(&fresh, &[]), &snapshot(&conn, &[])), None);
}

#[test]
fn a_dump_that_does_not_load_names_its_statement() {
    let dump = "CREATE TABLE t(x);\nINSERT INTO t VALUES(1);\n\nINSERT INTO nope VALUES(2);\n";
    let conn = Connection::open_in_memory().unwrap();
    let err = load_dump(&conn, dump.as_bytes(), LoadMode::Sqlite, &mut |_| true).unwrap_err();
    let at = err.at.clone().unwrap();
    assert_eq!((at.number, at.line), (3, 4));
    assert!(matches!(err.kind, LoadErrorKind::Sqlite(_)));
    assert_eq!(
        err.to_string(),
        "statement 3 (line 4) failed: no such table: nope: `INSERT INTO nope VALUES(2);`"
    );
    // All or nothing.
    let n: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn d1_rules_refuse_what_d1_refuses_while_sqlite_mode_folds_transactions() {
    let dump = "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE t(x);\nCOMMIT;\n";
    let conn = Connection::open_in_memory().unwrap();
    let loaded = load_dump(&conn, dump.as_bytes(), LoadMode::Sqlite, &mut |_| true).unwrap();
    assert_eq!(loaded.statements, 2);
    let conn = Connection::open_in_memory().unwrap();
    let err = load_dump(&conn, dump.as_bytes(), LoadMode::D1, &mut |_| true).unwrap_err();
    assert!(matches!(err.kind, LoadErrorKind::Refused(_)));
    assert_eq!(err.at.unwrap().number, 1);
    let rollback = "CREATE TABLE t(x);\nROLLBACK; -- due to errors\n";
    let err = load_dump(&conn, rollback.as_bytes(), LoadMode::Sqlite, &mut |_| true).unwrap_err();
    assert!(matches!(err.kind, LoadErrorKind::Rollback));
}

#[test]
fn deferred_foreign_key_violations_fail_the_d1_load_at_commit() {
    let sql = "PRAGMA defer_foreign_keys=TRUE;\nCREATE TABLE p(id INTEGER PRIMARY KEY);\n\
               CREATE TABLE c(p INTEGER REFERENCES p(id));\nINSERT INTO c VALUES(5);\n";
    let conn = Connection::open_in_memory().unwrap();
    let err = load_dump(&conn, sql.as_bytes(), LoadMode::D1, &mut |_| true).unwrap_err();
    assert!(err.at.is_none());
    assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
    // Without D1's rules it loads, and verify counts the violation.
    let conn = Connection::open_in_memory().unwrap();
    load_dump(&conn, sql.as_bytes(), LoadMode::Sqlite, &mut |_| true).unwrap();
    let v = verify(&conn).unwrap();
    assert_eq!(v.foreign_key_violations, 1);
    assert_eq!(v.tables.get("c"), Some(&1));
    assert!(v.is_ok());
}

#[test]
fn a_large_row_is_split_into_statements_under_the_limit() {
    let dir = tempdir();
    let src = dir.path().join("big.sqlite");
    let conn = Connection::open(&src).unwrap();
    conn.execute_batch(
        "CREATE TABLE big (k TEXT PRIMARY KEY, t TEXT, b BLOB, t2 TEXT, t3 TEXT, n INTEGER) WITHOUT ROWID;",
    )
    .unwrap();
    let text = "héllo 'world'\r\n".repeat(20_000);
    let blob: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let medium = "m".repeat(60_000);
    conn.execute(
        "INSERT INTO big VALUES ('key', ?1, ?2, ?3, ?3 || 'x', 42)",
        (&text, &blob, &medium),
    )
    .unwrap();
    let mut sql = Vec::new();
    let report = write_importable(&conn, &mut sql, &mut |_| true).unwrap();
    assert_eq!(report.split_values, 3);
    let rules = check_reader(&sql[..]).unwrap();
    assert!(rules.is_importable(), "{:?}", rules.violations);
    assert!(rules.statements > 10);
    let text_sql = String::from_utf8_lossy(&sql);
    assert!(text_sql.contains("UPDATE \"big\" SET \"b\"=CAST(\"b\"||X'"));
    assert!(text_sql.contains("WHERE \"k\"='key';"));
    let fresh = Connection::open(dir.path().join("fresh.sqlite")).unwrap();
    load_dump(&fresh, &sql[..], LoadMode::D1, &mut |_| true).unwrap();
    assert_eq!(diff(&snapshot(&fresh, &[]), &snapshot(&conn, &[])), None);
    let class: String = fresh
        .query_row("SELECT typeof(b) FROM big", [], |r| r.get(0))
        .unwrap();
    assert_eq!(class, "blob");
}

#[test]
fn large_rows_are_split_in_without_rowid_tables_with_composite_and_text_keys() {
    let dir = tempdir();
    let conn = Connection::open(dir.path().join("wr.sqlite")).unwrap();
    conn.execute_batch(
        "CREATE TABLE pair (k TEXT, n INTEGER, body TEXT, data BLOB, PRIMARY KEY (k, n)) WITHOUT ROWID;\n\
         CREATE TABLE named (k TEXT PRIMARY KEY, body TEXT, r) WITHOUT ROWID;",
    )
    .unwrap();
    let body = "ünïcode 'quoted' line\n".repeat(9_000);
    let data: Vec<u8> = (0..250_000u32).map(|i| (i % 253) as u8).collect();
    for n in 0..3i64 {
        // Same text key, different integer: only the pair addresses the row.
        conn.execute(
            "INSERT INTO pair VALUES ('it''s\nkey', ?1, ?2 || ?1, ?3)",
            (n, &body, &data),
        )
        .unwrap();
    }
    // An untyped column keeps -0.0 as it is (a REAL column stores an integral real as an
    // integer, losing its sign, in the source already).
    conn.execute(
        "INSERT INTO named VALUES ('x''\"\r\n🙂', ?1, 9223372036854775808.0), ('y', ?1, ?2)",
        (&body, -0.0f64),
    )
    .unwrap();
    let mut sql = Vec::new();
    let report = write_importable(&conn, &mut sql, &mut |_| true).unwrap();
    assert_eq!(report.split_values, 3 * 2 + 2);
    let text = String::from_utf8_lossy(&sql);
    assert!(
        text.contains("WHERE \"k\"='it''s\nkey' AND \"n\"=2;"),
        "composite key"
    );
    let restored = Connection::open(dir.path().join("restored.sqlite")).unwrap();
    load_dump(&restored, &sql[..], LoadMode::D1, &mut |_| true).unwrap();
    assert_eq!(diff(&snapshot(&conn, &[]), &snapshot(&restored, &[])), None);
    let bits: Vec<(String, u64)> = {
        let mut stmt = restored
            .prepare("SELECT typeof(r), r FROM named ORDER BY k")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, f64>(1)?.to_bits())))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(
        bits,
        vec![
            ("real".to_owned(), 2f64.powi(63).to_bits()),
            ("real".to_owned(), (-0.0f64).to_bits()),
        ]
    );
}
