//! The dump round-trips exactly: load it into an empty SQLite database and every table has
//! the same schema and the same rows with the same storage classes and bits.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{make_db, TempDir};
use d1_emulator::dump::{dump_to_vec, DumpError};
use d1_emulator::{Compatibility, DumpOptions};
use proptest::prelude::*;
use rusqlite::types::Value;
use rusqlite::{params, Connection};

/// Everything the round trip must preserve.
const EDGE_SCHEMA: &str = r#"
CREATE TABLE parent (id INTEGER PRIMARY KEY, label TEXT);
CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED, note TEXT);
CREATE TABLE vals (id INTEGER PRIMARY KEY, v);
CREATE TABLE typed (i INTEGER, r REAL, t TEXT, b BLOB, n NUMERIC, d);
CREATE TABLE auto (id INTEGER PRIMARY KEY AUTOINCREMENT, x TEXT);
CREATE TABLE auto2 (id INTEGER PRIMARY KEY AUTOINCREMENT, y);
CREATE TABLE "weird ""name"" ✓" ("col with space" TEXT, "quo""te" INTEGER, [brack et] REAL, `tick` BLOB, plain);
CREATE TABLE wr (k TEXT PRIMARY KEY, v ANY) WITHOUT ROWID;
CREATE TABLE gen (a INTEGER, b INTEGER GENERATED ALWAYS AS (a * 2) VIRTUAL, d TEXT, c TEXT GENERATED ALWAYS AS (upper(d)) STORED);
CREATE TABLE strict_t (a INTEGER, b TEXT, c ANY, e REAL) STRICT;
CREATE TABLE norowid_pk (a INTEGER, b TEXT, PRIMARY KEY (b, a)) WITHOUT ROWID;
CREATE TABLE gaps (x TEXT);
CREATE INDEX child_parent ON child(parent_id);
CREATE UNIQUE INDEX "weird idx" ON "weird ""name"" ✓"("quo""te");
CREATE INDEX typed_expr ON typed(lower(t)) WHERE t IS NOT NULL;
CREATE VIEW parent_counts AS SELECT p.id, count(c.id) AS n FROM parent p LEFT JOIN child c ON c.parent_id = p.id GROUP BY p.id;
CREATE TRIGGER auto_touch AFTER INSERT ON auto BEGIN INSERT INTO auto2(y) VALUES (new.x); END;
CREATE VIEW "view ""quoted""" AS SELECT * FROM vals WHERE id < 5;
CREATE TRIGGER view_insert INSTEAD OF INSERT ON "view ""quoted""" BEGIN INSERT INTO vals(v) VALUES (new.v); END;
"#;

fn edge_values() -> Vec<Value> {
    let mut v = vec![
        Value::Null,
        Value::Integer(0),
        Value::Integer(1),
        Value::Integer(-1),
        Value::Integer(i64::MAX),
        Value::Integer(i64::MIN),
        Value::Integer(i64::MIN + 1),
        Value::Integer(1 << 53),
        Value::Real(2.0),
        Value::Real(-2.0),
        Value::Real(0.0),
        Value::Real(-0.0),
        Value::Real(1e-300),
        Value::Real(5e-324),
        Value::Real(2.225_073_858_507_201e-308),
        Value::Real(2.225_073_858_507_201_4e-308),
        Value::Real(f64::MAX),
        Value::Real(f64::MIN),
        Value::Real(f64::INFINITY),
        Value::Real(f64::NEG_INFINITY),
        Value::Real(0.1),
        Value::Real(1.0 / 3.0),
        Value::Real(123_456_789_012_345_680.0),
        Value::Real(9_007_199_254_740_993.0),
        Value::Real(1e16),
        Value::Real(-1.5e-7),
        Value::Real(1e21),
        Value::Real(9.223_372_036_854_776e18),
        Value::Text(String::new()),
        Value::Text("it's".into()),
        Value::Text("''".into()),
        Value::Text("a\nb".into()),
        Value::Text("a\r\nb\r".into()),
        Value::Text("\n".into()),
        Value::Text("\t\x01\x1f\x7f\u{85}\u{2028}".into()),
        Value::Text("日本語 🙂 Zoë Łódź".into()),
        Value::Text("NULL".into()),
        Value::Text("X'00'".into()),
        Value::Text("-- not a comment".into()),
        Value::Text("/* nor this */".into()),
        Value::Text("; DROP TABLE vals; --".into()),
        Value::Text("\\ backslash \\n".into()),
        Value::Text("2.0".into()),
        Value::Text("42".into()),
        Value::Text("a\0b".into()),
        Value::Blob(Vec::new()),
        Value::Blob(vec![0]),
        Value::Blob(vec![0xde, 0xad, 0xbe, 0xef]),
        Value::Blob((0..=255).collect()),
        Value::Blob(b"text-looking blob".to_vec()),
    ];
    v.push(Value::Blob(
        (0..100_000u32).map(|i| (i * 7) as u8).collect(),
    ));
    v.push(Value::Text("long 'text' \n".repeat(50_000)));
    v
}

fn build_edge_db(path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(EDGE_SCHEMA).unwrap();
    conn.execute_batch(
        "INSERT INTO parent VALUES (1, 'one'), (2, 'two'), (3, NULL);
         INSERT INTO child VALUES (10, 1, 'a'), (11, 1, 'b'), (12, 2, NULL);
         INSERT INTO auto(x) VALUES ('first'), ('second'), ('third');
         DELETE FROM auto WHERE x = 'third';
         INSERT INTO \"weird \"\"name\"\" ✓\" VALUES ('sp ace', 1, 1.5, X'00ff', 'plain'), (NULL, 2, NULL, NULL, 7);
         INSERT INTO gen(a, d) VALUES (1, 'x'), (NULL, NULL), (21, 'mixed Case');
         INSERT INTO norowid_pk VALUES (1, 'b'), (2, 'a'), (1, 'a');
         INSERT INTO gaps VALUES ('a'), ('b'), ('c'), ('d');
         DELETE FROM gaps WHERE x IN ('a', 'c');
         INSERT INTO vals(id, v) VALUES (1000, CAST(X'ff00fe' AS TEXT));",
    )
    .unwrap();
    let values = edge_values();
    {
        let mut ins = conn.prepare("INSERT INTO vals(v) VALUES (?1)").unwrap();
        let mut typed = conn
            .prepare("INSERT INTO typed VALUES (?1, ?1, ?1, ?1, ?1, ?1)")
            .unwrap();
        let mut wr = conn.prepare("INSERT INTO wr VALUES (?1, ?2)").unwrap();
        let mut strict = conn.prepare("INSERT INTO strict_t(c) VALUES (?1)").unwrap();
        for (i, v) in values.iter().enumerate() {
            ins.execute([v]).unwrap();
            typed.execute([v]).unwrap();
            wr.execute(params![format!("k{i:03}"), v]).unwrap();
            strict.execute([v]).unwrap();
        }
        conn.execute(
            "INSERT INTO strict_t VALUES (?1, ?2, NULL, ?3)",
            params![i64::MIN, "strict", -0.0f64],
        )
        .unwrap();
    }
}

/// Comparable form of a value: reals by their bits.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Cell {
    Null,
    Int(i64),
    Real(u64),
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

/// The schema (type, name, tbl_name, sql) and every table's rows with storage classes.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    schema: Vec<(String, String, String, Option<String>)>,
    rows: BTreeMap<String, Vec<Vec<(String, Cell)>>>,
}

fn snapshot(conn: &Connection) -> Snapshot {
    let mut stmt = conn
        .prepare(
            "SELECT type, name, tbl_name, sql FROM sqlite_master
             WHERE name NOT LIKE 'sqlite_autoindex%' ORDER BY type, name",
        )
        .unwrap();
    let schema: Vec<(String, String, String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut rows = BTreeMap::new();
    for (kind, name, _, sql) in &schema {
        let is_virtual = sql
            .as_deref()
            .is_some_and(|s| s.starts_with("CREATE VIRTUAL TABLE"));
        if kind != "table" || is_virtual {
            continue;
        }
        let q = format!("SELECT * FROM \"{}\"", name.replace('"', "\"\""));
        let mut stmt = conn.prepare(&q).unwrap();
        let n = stmt.column_count();
        let table_rows: Vec<Vec<(String, Cell)>> = stmt
            .query_map([], |r| {
                let mut cells = Vec::new();
                for i in 0..n {
                    let cell = match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => ("null", Cell::Null),
                        rusqlite::types::ValueRef::Integer(v) => ("integer", Cell::Int(v)),
                        rusqlite::types::ValueRef::Real(v) => ("real", Cell::Real(v.to_bits())),
                        rusqlite::types::ValueRef::Text(v) => ("text", Cell::Text(v.to_vec())),
                        rusqlite::types::ValueRef::Blob(v) => ("blob", Cell::Blob(v.to_vec())),
                    };
                    cells.push((cell.0.to_owned(), cell.1));
                }
                Ok(cells)
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.insert(name.clone(), table_rows);
    }
    Snapshot { schema, rows }
}

/// Loads a dump into a new database file (foreign keys on, in one transaction, like an
/// import) and returns the connection.
fn load(dump: &[u8], dest: &Path) -> Connection {
    let sql = std::str::from_utf8(dump).expect("the dump is UTF-8");
    let conn = Connection::open(dest).unwrap();
    conn.execute_batch("PRAGMA foreign_keys=ON; PRAGMA synchronous=OFF;")
        .unwrap();
    conn.execute_batch(&format!("BEGIN;\n{sql}\nCOMMIT;"))
        .unwrap_or_else(|e| panic!("loading the dump failed: {e}"));
    conn
}

#[test]
fn full_dump_round_trips_exactly() {
    let dir = TempDir::new("rt");
    let src = dir.path("src.sqlite");
    build_edge_db(&src);
    let dump = dump_to_vec(&src, &DumpOptions::default()).unwrap();
    let text = String::from_utf8(dump.clone()).unwrap();
    assert!(text.starts_with("PRAGMA defer_foreign_keys=TRUE;\n"));
    assert!(text.contains("INSERT INTO \"vals\" VALUES(1006,-9223372036854775808);"));
    assert!(
        text.contains("\nDELETE FROM sqlite_sequence;\nINSERT INTO \"sqlite_sequence\" VALUES(")
    );
    assert!(text.contains("\nINSERT INTO \"sqlite_sequence\" VALUES('auto',3);\n"));
    assert!(text.contains("INSERT INTO \"gen\"(\"a\",\"d\") VALUES(1,'x');"));
    let loaded = load(&dump, &dir.path("dst.sqlite"));
    let original = Connection::open(&src).unwrap();
    let (a, b) = (snapshot(&original), snapshot(&loaded));
    assert_eq!(a.schema, b.schema);
    for (table, rows) in &a.rows {
        assert_eq!(Some(rows), b.rows.get(table), "table {table}");
    }
    assert_eq!(a, b);
    // The sqlite_sequence counter survives (3, though the row with id 3 was deleted).
    let seq: i64 = loaded
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name='auto'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(seq, 3);
    // Dumping the loaded database again gives the same bytes.
    drop(loaded);
    let again = dump_to_vec(&dir.path("dst.sqlite"), &DumpOptions::default()).unwrap();
    assert_eq!(String::from_utf8(again).unwrap(), text);
}

#[test]
fn order_is_tables_then_indexes_then_views_and_triggers() {
    let dir = TempDir::new("order");
    let src = dir.path("src.sqlite");
    build_edge_db(&src);
    let text = String::from_utf8(dump_to_vec(&src, &DumpOptions::default()).unwrap()).unwrap();
    let pos = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing"))
    };
    assert!(pos("CREATE TABLE parent") < pos("INSERT INTO \"parent\""));
    assert!(pos("INSERT INTO \"parent\"") < pos("CREATE TABLE child"));
    assert!(pos("INSERT INTO \"gaps\"") < pos("CREATE INDEX child_parent"));
    assert!(pos("CREATE INDEX typed_expr") < pos("CREATE VIEW parent_counts"));
    assert!(pos("CREATE VIEW \"view") < pos("CREATE TRIGGER view_insert"));
    assert!(!text.contains("BEGIN TRANSACTION"));
}

#[test]
fn no_data_then_no_schema_rebuilds_the_database() {
    let dir = TempDir::new("split");
    let src = dir.path("src.sqlite");
    build_edge_db(&src);
    let schema_only = dump_to_vec(
        &src,
        &DumpOptions {
            no_data: true,
            ..DumpOptions::default()
        },
    )
    .unwrap();
    let data_only = dump_to_vec(
        &src,
        &DumpOptions {
            no_schema: true,
            ..DumpOptions::default()
        },
    )
    .unwrap();
    let s = String::from_utf8(schema_only.clone()).unwrap();
    let d = String::from_utf8(data_only.clone()).unwrap();
    assert!(!s
        .lines()
        .any(|l| l.starts_with("INSERT") || l.starts_with("DELETE")));
    assert!(!d.lines().any(|l| l.starts_with("CREATE")));
    assert!(d.contains("INSERT INTO \"sqlite_sequence\""));
    // Schema first, then data: the same database (triggers exist while the data loads, so
    // drop the one that would fire and recreate it after).
    let dst = dir.path("dst.sqlite");
    let conn = load(&schema_only, &dst);
    let trigger_sql: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name='auto_touch'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    conn.execute_batch("DROP TRIGGER auto_touch").unwrap();
    conn.execute_batch(&format!("BEGIN;\n{d}\nCOMMIT;"))
        .unwrap();
    conn.execute_batch(&trigger_sql).unwrap();
    assert_eq!(snapshot(&Connection::open(&src).unwrap()), snapshot(&conn));
}

#[test]
fn tables_filter_keeps_tables_their_indexes_and_triggers() {
    let dir = TempDir::new("filter");
    let src = dir.path("src.sqlite");
    build_edge_db(&src);
    let opts = DumpOptions {
        tables: vec!["child".into(), "AUTO".into(), "nonexistent".into()],
        ..DumpOptions::default()
    };
    let text = String::from_utf8(dump_to_vec(&src, &opts).unwrap()).unwrap();
    assert!(text.contains("CREATE TABLE child"));
    assert!(text.contains("CREATE INDEX child_parent"));
    assert!(text.contains("CREATE TABLE auto "));
    assert!(text.contains("CREATE TRIGGER auto_touch"));
    assert!(text.contains("DELETE FROM sqlite_sequence WHERE name='auto';"));
    assert!(!text.contains("CREATE TABLE parent"));
    assert!(!text.contains("CREATE TABLE auto2"));
    assert!(!text.contains("CREATE VIEW"));
    assert!(!text.contains("\"vals\""));
    // Only the filtered tables, identical to the source.
    // child's parent is not in the dump: load without foreign key enforcement.
    let conn = Connection::open(dir.path("dst.sqlite")).unwrap();
    conn.execute_batch("PRAGMA foreign_keys=OFF;").unwrap();
    conn.execute_batch(&text).unwrap();
    let a = snapshot(&Connection::open(&src).unwrap());
    let b = snapshot(&conn);
    assert_eq!(a.rows["child"], b.rows["child"]);
    assert_eq!(a.rows["auto"], b.rows["auto"]);
    assert_eq!(
        b.rows.keys().collect::<Vec<_>>(),
        ["auto", "child", "sqlite_sequence"]
    );
    // An empty filter is everything.
    let all = dump_to_vec(&src, &DumpOptions::default()).unwrap();
    let empty = DumpOptions {
        tables: vec![],
        ..DumpOptions::default()
    };
    assert_eq!(dump_to_vec(&src, &empty).unwrap(), all);
}

const FTS_SCHEMA: &str = "
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
CREATE VIRTUAL TABLE notes_fts USING fts5(body, content='notes', content_rowid='id');
CREATE VIRTUAL TABLE docs USING fts5(title, body, tokenize='trigram');
INSERT INTO notes VALUES (1, 'hello world'), (2, 'it''s a new day'), (3, 'hello again');
INSERT INTO notes_fts(rowid, body) SELECT id, body FROM notes;
INSERT INTO docs VALUES ('first', 'the quick brown fox'), ('second', 'jumps over the lazy dog');
";

#[test]
fn virtual_tables_fail_like_d1() {
    let dir = TempDir::new("fts");
    let src = dir.path("fts.sqlite");
    make_db(&src, FTS_SCHEMA);
    let err = dump_to_vec(&src, &DumpOptions::default()).unwrap_err();
    assert!(matches!(err, DumpError::VirtualTables(ref m) if m == &["fts5"]));
    assert_eq!(
        err.to_string(),
        "cannot export databases with Virtual Tables (fts5)"
    );
    // Naming only ordinary tables works.
    let opts = DumpOptions {
        tables: vec!["notes".into()],
        ..DumpOptions::default()
    };
    let text = String::from_utf8(dump_to_vec(&src, &opts).unwrap()).unwrap();
    assert!(text.contains("INSERT INTO \"notes\" VALUES(2,'it''s a new day');"));
    assert!(!text.contains("VIRTUAL"));
    // Naming a virtual table fails.
    let opts = DumpOptions {
        tables: vec!["docs".into()],
        ..DumpOptions::default()
    };
    assert!(matches!(
        dump_to_vec(&src, &opts),
        Err(DumpError::VirtualTables(_))
    ));
}

#[test]
fn sqlite3_cli_compatibility_dumps_virtual_tables() {
    let dir = TempDir::new("fts-cli");
    let src = dir.path("fts.sqlite");
    make_db(&src, FTS_SCHEMA);
    let opts = DumpOptions {
        compatibility: Compatibility::Sqlite3CliOnly,
        ..DumpOptions::default()
    };
    let dump = dump_to_vec(&src, &opts).unwrap();
    let text = String::from_utf8(dump.clone()).unwrap();
    assert!(text.starts_with("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n"));
    assert!(text.ends_with("PRAGMA writable_schema=OFF;\nCOMMIT;\n"));
    assert!(text.contains(
        "PRAGMA writable_schema=ON;\nINSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql)VALUES('table','notes_fts','notes_fts',0,'CREATE VIRTUAL TABLE notes_fts USING fts5(body, content=''notes'', content_rowid=''id'')');"
    ));
    // The shell's spelling: shadow tables as `CREATE TABLE IF NOT EXISTS`, bare names.
    assert!(text.contains("CREATE TABLE IF NOT EXISTS 'docs_data'(id INTEGER PRIMARY KEY, block BLOB);\nINSERT INTO docs_data VALUES("));
    assert!(text.contains("INSERT INTO notes VALUES(2,'it''s a new day');"));
    // Load it as sqlite3 would (the dump has its own transaction), reopen, search.
    let dst = dir.path("dst.sqlite");
    Connection::open(&dst)
        .unwrap()
        .execute_batch(&text)
        .unwrap();
    let conn = Connection::open(&dst).unwrap();
    let search = |conn: &Connection, q: &str| -> Vec<i64> {
        let mut stmt = conn.prepare(q).unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let original = Connection::open(&src).unwrap();
    for q in [
        "SELECT rowid FROM notes_fts WHERE notes_fts MATCH 'hello' ORDER BY rowid",
        "SELECT rowid FROM docs WHERE docs MATCH 'lazy' ORDER BY rowid",
        "SELECT rowid FROM docs WHERE docs MATCH 'quick' ORDER BY rowid",
    ] {
        let want = search(&original, q);
        assert!(!want.is_empty());
        assert_eq!(search(&conn, q), want, "{q}");
    }
    let (a, b) = (snapshot(&original), snapshot(&conn));
    assert_eq!(a, b);
}

#[test]
fn compatibility_cannot_be_combined_with_no_data_or_no_schema() {
    for (no_data, no_schema) in [(true, false), (false, true)] {
        let opts = DumpOptions {
            compatibility: Compatibility::Sqlite3CliOnly,
            no_data,
            no_schema,
            ..DumpOptions::default()
        };
        assert!(matches!(opts.validate(), Err(DumpError::InvalidOptions(_))));
    }
}

#[test]
fn sample_database_round_trips() {
    let dir = TempDir::new("sample");
    let src = dir.path("sample.sqlite");
    let summary = d1_emulator::sample::generate(&src, 256 * 1024).unwrap();
    assert!(summary.users > 0 && summary.orders > 0 && summary.events > 0);
    assert!(summary.file_size >= 256 * 1024);
    let dump = dump_to_vec(&src, &DumpOptions::default()).unwrap();
    let loaded = load(&dump, &dir.path("dst.sqlite"));
    assert_eq!(
        snapshot(&Connection::open(&src).unwrap()),
        snapshot(&loaded)
    );
    // Deterministic content.
    let again = dir.path("again.sqlite");
    d1_emulator::sample::generate(&again, 256 * 1024).unwrap();
    assert_eq!(dump_to_vec(&again, &DumpOptions::default()).unwrap(), dump);
}

fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::Integer),
        any::<u64>()
            .prop_map(f64::from_bits)
            .prop_filter("SQLite stores NaN as NULL", |f| !f.is_nan())
            .prop_map(Value::Real),
        prop_oneof![
            any::<f64>(),
            (-1e6f64..1e6).prop_map(|f| (f * 1000.0).round() / 1000.0),
        ]
        .prop_filter("no NaN", |f| !f.is_nan())
        .prop_map(Value::Real),
        any::<String>().prop_map(Value::Text),
        "[ -~\n\r\t'\"\\\\]{0,40}".prop_map(Value::Text),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Value::Blob),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_values_round_trip(values in proptest::collection::vec(arb_value(), 1..24),
                                   raw_text in proptest::collection::vec(any::<u8>(), 0..16)) {
        let dir = TempDir::new("prop");
        let src = dir.path("src.sqlite");
        {
            let conn = Connection::open(&src).unwrap();
            conn.execute_batch("PRAGMA synchronous=OFF; PRAGMA journal_mode=OFF;").unwrap();
            conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v, r REAL, x TEXT)").unwrap();
            let mut stmt = conn.prepare("INSERT INTO t(v, r, x) VALUES (?1, ?1, ?1)").unwrap();
            for v in &values {
                stmt.execute([v]).unwrap();
            }
            // Text that is not UTF-8 (SQLite does not check).
            conn.execute("INSERT INTO t(v) VALUES (CAST(?1 AS TEXT))", [&raw_text]).unwrap();
        }
        let dump = dump_to_vec(&src, &DumpOptions::default()).unwrap();
        let loaded = load(&dump, &dir.path("dst.sqlite"));
        prop_assert_eq!(snapshot(&Connection::open(&src).unwrap()), snapshot(&loaded));
    }
}
