//! `--importable` on real SQLite: what a database needs beyond tables and rows (full-text
//! tables over views, fts5vocab tables, FTS5 settings, foreign-key violations, names D1
//! refuses), written as SQL, loaded under D1's rules into an empty database and compared.

mod common;

use common::{diff, snapshot, tempdir};
use d1_dump::load::{load_dump, LoadMode};
use d1_dump::rules::{check_reader, Rule};
use d1_dump::{write_importable, Importable, ImportableError};
use rusqlite::Connection;

const TERMS: &[&str] = &["alpha", "bravo", "charlie"];

/// Importable SQL of `conn`, checked against D1's rules, and the database it restores to.
fn restore(conn: &Connection, dir: &tempfile::TempDir) -> (Importable, Vec<u8>, Connection) {
    let mut sql = Vec::new();
    let report = write_importable(conn, &mut sql, &mut |_| true).unwrap();
    let rules = check_reader(&sql[..]).unwrap();
    assert!(rules.is_importable(), "{:?}", rules.violations);
    let restored = Connection::open(dir.path().join("restored.sqlite")).unwrap();
    load_dump(&restored, &sql[..], LoadMode::D1, &mut |_| true)
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&sql)));
    (report, sql, restored)
}

fn rows(conn: &Connection, sql: &str) -> Vec<Vec<String>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    let mut out = Vec::new();
    let mut r = stmt.query([]).unwrap();
    while let Some(row) = r.next().unwrap() {
        out.push(
            (0..n)
                .map(|i| format!("{:?}", row.get_ref(i).unwrap()))
                .collect(),
        );
    }
    out
}

#[test]
fn a_full_text_table_over_a_view_is_rebuilt_after_the_views_exist() {
    let dir = tempdir();
    let conn = Connection::open(dir.path().join("src.sqlite")).unwrap();
    conn.execute_batch(
        "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT, hidden INTEGER);\n\
         CREATE VIEW visible AS SELECT id, body FROM notes WHERE hidden = 0;\n\
         CREATE VIRTUAL TABLE vfts USING fts5(body, content='visible', content_rowid='id');\n\
         INSERT INTO notes VALUES(1, 'alpha bravo', 0), (2, 'bravo charlie', 1), (3, 'charlie', 0);\n\
         INSERT INTO vfts(vfts) VALUES('rebuild');",
    )
    .unwrap();
    let (report, sql, restored) = restore(&conn, &dir);
    assert_eq!(report.rebuilt, vec!["vfts".to_owned()]);
    let text = String::from_utf8_lossy(&sql);
    let view_at = text.find("CREATE VIEW visible").unwrap();
    let rebuild_at = text
        .find("INSERT INTO \"vfts\"(\"vfts\") VALUES('rebuild')")
        .unwrap();
    assert!(view_at < rebuild_at, "{text}");
    let (a, b) = (snapshot(&conn, TERMS), snapshot(&restored, TERMS));
    assert_eq!(diff(&a, &b), None);
    assert_eq!(
        a.matches[&("vfts".to_owned(), "charlie".to_owned())],
        vec![3]
    );
}

#[test]
fn an_fts5vocab_table_is_recreated_not_written() {
    let dir = tempdir();
    let conn = Connection::open(dir.path().join("src.sqlite")).unwrap();
    conn.execute_batch(
        "CREATE VIRTUAL TABLE docs USING fts5(body);\n\
         CREATE VIRTUAL TABLE docs_terms USING fts5vocab(docs, 'row');\n\
         CREATE VIRTUAL TABLE docs_inst USING fts5vocab('docs', 'instance');\n\
         INSERT INTO docs(rowid, body) VALUES(1, 'alpha bravo'), (5, 'bravo bravo charlie');",
    )
    .unwrap();
    let (_, sql, restored) = restore(&conn, &dir);
    let text = String::from_utf8_lossy(&sql);
    assert!(!text.contains("INSERT INTO \"docs_terms\""), "{text}");
    assert!(!text.contains("INSERT INTO \"docs_inst\""), "{text}");
    for q in [
        "SELECT term, doc, cnt FROM docs_terms ORDER BY term",
        "SELECT term, doc, col, offset FROM docs_inst ORDER BY term, doc, offset",
    ] {
        let want = rows(&conn, q);
        assert!(!want.is_empty());
        assert_eq!(rows(&restored, q), want, "{q}");
    }
    assert_eq!(
        diff(&snapshot(&conn, TERMS), &snapshot(&restored, TERMS)),
        None
    );
}

#[test]
fn fts5_settings_are_restored_and_unknown_ones_are_named() {
    let dir = tempdir();
    let conn = Connection::open(dir.path().join("src.sqlite")).unwrap();
    conn.execute_batch(
        "CREATE VIRTUAL TABLE docs USING fts5(title, body);\n\
         INSERT INTO docs(docs, rank) VALUES('rank', 'bm25(10.0, 1.0)');\n\
         INSERT INTO docs(docs, rank) VALUES('automerge', 2);\n\
         INSERT INTO docs(docs, rank) VALUES('crisismerge', 20);\n\
         INSERT INTO docs(docs, rank) VALUES('usermerge', 8);\n\
         INSERT INTO docs(docs, rank) VALUES('pgsz', 1000);\n\
         INSERT INTO docs(docs, rank) VALUES('deletemerge', 5);\n\
         INSERT INTO docs(docs, rank) VALUES('secure-delete', 1);\n\
         INSERT INTO docs(title, body) VALUES('alpha', 'bravo charlie'), ('charlie', 'alpha alpha');\n\
         CREATE TABLE ext(id INTEGER PRIMARY KEY, body TEXT);\n\
         CREATE VIRTUAL TABLE ext_fts USING fts5(body, content='ext', content_rowid='id');\n\
         INSERT INTO ext_fts(ext_fts, rank) VALUES('pgsz', 2000);",
    )
    .unwrap();
    let config = "SELECT k, v, typeof(v) FROM docs_config ORDER BY k";
    let want = rows(&conn, config);
    assert!(want.len() >= 8, "{want:?}");
    let (report, _, restored) = restore(&conn, &dir);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(rows(&restored, config), want);
    let ext_config = "SELECT k, v FROM ext_fts_config ORDER BY k";
    assert_eq!(rows(&restored, ext_config), rows(&conn, ext_config));
    // The ranking is the source's.
    let ranked = "SELECT rowid, rank FROM docs WHERE docs MATCH 'alpha' ORDER BY rank";
    assert_eq!(rows(&restored, ranked), rows(&conn, ranked));
    assert_eq!(
        diff(&snapshot(&conn, TERMS), &snapshot(&restored, TERMS)),
        None
    );

    // A setting FTS5 does not know is left out, with a warning.
    let dir = tempdir();
    let odd = Connection::open(dir.path().join("odd.sqlite")).unwrap();
    odd.execute_batch(
        "CREATE VIRTUAL TABLE docs USING fts5(body);\n\
         INSERT INTO docs_config VALUES('future-option', 7);",
    )
    .unwrap();
    let (report, sql, _) = restore(&odd, &dir);
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(report.warnings[0].contains("future-option"));
    assert!(!String::from_utf8_lossy(&sql).contains("future-option"));
}

#[test]
fn foreign_key_violations_are_a_warning_since_d1_would_refuse_the_import() {
    let dir = tempdir();
    let conn = Connection::open(dir.path().join("src.sqlite")).unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys=OFF;\n\
         CREATE TABLE parent(id INTEGER PRIMARY KEY);\n\
         CREATE TABLE child(id INTEGER PRIMARY KEY, p INTEGER REFERENCES parent(id));\n\
         INSERT INTO parent VALUES(1);\n\
         INSERT INTO child VALUES(1, 1), (2, 7), (3, 8);",
    )
    .unwrap();
    let mut sql = Vec::new();
    let report = write_importable(&conn, &mut sql, &mut |_| true).unwrap();
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(
        report.warnings[0].contains("2 foreign key violation(s)")
            && report.warnings[0].contains("child"),
        "{}",
        report.warnings[0]
    );
    // As warned: under D1's rules it fails at the commit.
    let d1 = Connection::open(dir.path().join("d1.sqlite")).unwrap();
    let err = load_dump(&d1, &sql[..], LoadMode::D1, &mut |_| true).unwrap_err();
    assert!(
        err.at.is_none() && err.to_string().contains("FOREIGN KEY"),
        "{err}"
    );
    // Once fixed, no warning.
    conn.execute_batch("DELETE FROM child WHERE p > 1;")
        .unwrap();
    let report = write_importable(&conn, &mut Vec::new(), &mut |_| true).unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}

#[test]
fn an_output_that_would_break_d1s_rules_is_an_error_not_sql() {
    let dir = tempdir();
    let conn = Connection::open(dir.path().join("src.sqlite")).unwrap();
    conn.execute_batch(
        "CREATE TABLE t(a);\nINSERT INTO t VALUES(1);\nCREATE INDEX _cf_shadow ON t(a);",
    )
    .unwrap();
    let mut sql = Vec::new();
    let err = write_importable(&conn, &mut sql, &mut |_| true).unwrap_err();
    let ImportableError::Refused(v) = &err else {
        panic!("{err:?}");
    };
    assert!(matches!(v.rule, Rule::InternalTable { .. }), "{v:?}");
    assert_eq!((v.statement, v.line), (4, 4));
    assert!(err.to_string().contains("_cf_shadow"), "{err}");
    // What was written stops before it.
    assert!(!String::from_utf8_lossy(&sql).contains("_cf_shadow"));
}
