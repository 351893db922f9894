//! A downloaded dump is untrusted SQL: loading it must not create or write any file but the
//! scratch database, and a long load or check can be interrupted from another thread.

mod common;

use common::tempdir;
use d1_dump::load::{create_scratch, load_dump, verify, LoadErrorKind, LoadMode, VerifyError};
use d1_dump::rules::Rule;
use rusqlite::Connection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn a_hardened_scratch_connection_cannot_attach_vacuum_into_or_load_extensions() {
    let dir = tempdir();
    let conn = create_scratch(&dir.path().join("scratch.sqlite")).unwrap();
    let other = dir.path().join("other.sqlite");
    let q = other.display().to_string().replace('\'', "''");
    for sql in [
        format!("ATTACH DATABASE '{q}' AS x"),
        format!("VACUUM INTO '{q}'"),
        "SELECT load_extension('/nonexistent/libevil')".to_owned(),
    ] {
        let err = conn.execute_batch(&sql).unwrap_err();
        assert!(
            [
                "not authorized",
                "authorization denied",
                "too many attached"
            ]
            .iter()
            .any(|m| err.to_string().contains(m)),
            "{sql}: {err}"
        );
    }
    assert!(!other.exists(), "a file was created");
    // The scratch database itself still works.
    conn.execute_batch("CREATE TABLE t(a); INSERT INTO t VALUES(1);")
        .unwrap();
    let temp_store: i64 = conn
        .query_row("PRAGMA temp_store", [], |r| r.get(0))
        .unwrap();
    assert_eq!(temp_store, 1, "temporary files on disk, not in memory");
}

#[test]
fn a_dump_that_attaches_or_vacuums_is_refused_in_both_modes_and_creates_nothing() {
    let dir = tempdir();
    let other = dir.path().join("stolen.sqlite");
    let q = other.display().to_string().replace('\'', "''");
    for (i, evil) in [
        format!("ATTACH '{q}' AS x;"),
        format!("VACUUM INTO '{q}';"),
        "DETACH x;".to_owned(),
    ]
    .iter()
    .enumerate()
    {
        for mode in [LoadMode::Sqlite, LoadMode::D1] {
            let dump = format!("CREATE TABLE t(a);\n{evil}\nINSERT INTO t VALUES(1);\n");
            let conn = create_scratch(&dir.path().join(format!("s{i}{mode:?}.sqlite"))).unwrap();
            let err = load_dump(&conn, dump.as_bytes(), mode, &mut |_| true).unwrap_err();
            assert!(
                matches!(
                    err.kind,
                    LoadErrorKind::Refused(Rule::AttachOrVacuum { .. })
                ),
                "{evil} {mode:?}: {err}"
            );
            assert_eq!(err.at.as_ref().map(|a| (a.number, a.line)), Some((2, 2)));
            assert!(!other.exists(), "{evil} {mode:?} created a file");
        }
    }
    // Even on a connection that was not hardened, the loader allows no attached database.
    let plain = Connection::open_in_memory().unwrap();
    load_dump(
        &plain,
        "SELECT 1;".as_bytes(),
        LoadMode::Sqlite,
        &mut |_| true,
    )
    .unwrap();
    let err = plain
        .execute_batch(&format!("ATTACH '{q}' AS x"))
        .unwrap_err();
    assert!(err.to_string().contains("too many attached"), "{err}");
    assert!(!other.exists());
}

/// Interrupts `conn` again and again from another thread, once `start` is set, until `done`
/// is set.
fn keep_interrupting(
    conn: &Connection,
    start: &Arc<AtomicBool>,
    done: &Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let handle = conn.get_interrupt_handle();
    let (start, done) = (Arc::clone(start), Arc::clone(done));
    std::thread::spawn(move || {
        while !start.load(Ordering::SeqCst) && !done.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        while !done.load(Ordering::SeqCst) {
            handle.interrupt();
            std::thread::sleep(Duration::from_millis(10));
        }
    })
}

#[test]
fn a_long_statement_is_interrupted_from_another_thread_and_everything_rolls_back() {
    let dir = tempdir();
    let conn = create_scratch(&dir.path().join("scratch.sqlite")).unwrap();
    // Runs for hours unless interrupted.
    let dump = "CREATE TABLE kept(a);\nINSERT INTO kept VALUES(1);\n\
                CREATE TABLE t AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c \
                LIMIT 100000000000) SELECT x FROM c;\n";
    let (start, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let interrupter = keep_interrupting(&conn, &start, &done);
    // Interrupting starts once the first two statements are done.
    let mut statements = 0;
    let result = load_dump(&conn, dump.as_bytes(), LoadMode::D1, &mut |_| {
        statements += 1;
        start.store(statements >= 2, Ordering::SeqCst);
        true
    });
    done.store(true, Ordering::SeqCst);
    interrupter.join().unwrap();
    let err = result.unwrap_err();
    assert!(matches!(err.kind, LoadErrorKind::Interrupted), "{err:?}");
    assert_eq!(err.at.as_ref().map(|a| a.number), Some(3));
    assert!(err.to_string().contains("interrupted"), "{err}");
    let n: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0, "rolled back");
}

#[test]
fn a_long_verification_is_interrupted_from_another_thread() {
    let dir = tempdir();
    let conn = create_scratch(&dir.path().join("scratch.sqlite")).unwrap();
    conn.execute_batch(
        "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c BLOB);\n\
         CREATE INDEX t_b ON t(b);\n\
         INSERT INTO t SELECT value, hex(randomblob(16)), randomblob(64) FROM \
         (WITH RECURSIVE c(value) AS (SELECT 1 UNION ALL SELECT value+1 FROM c LIMIT 400000) \
         SELECT value FROM c);",
    )
    .unwrap();
    // Uninterrupted it passes.
    assert!(verify(&conn).unwrap().is_ok());
    let (start, done) = (
        Arc::new(AtomicBool::new(true)),
        Arc::new(AtomicBool::new(false)),
    );
    let interrupter = keep_interrupting(&conn, &start, &done);
    // Each attempt takes long enough (integrity_check of 400,000 indexed rows) to be hit
    // by one of the interrupts sent every 10 ms.
    let mut outcome = None;
    for _ in 0..50 {
        match verify(&conn) {
            Ok(_) => continue,
            Err(e) => {
                outcome = Some(e);
                break;
            }
        }
    }
    done.store(true, Ordering::SeqCst);
    interrupter.join().unwrap();
    let err = outcome.expect("never interrupted");
    assert!(matches!(err, VerifyError::Interrupted), "{err:?}");
    assert_eq!(err.to_string(), "interrupted");
}

#[test]
fn under_d1_rules_a_write_to_a_shadow_table_declared_in_the_dump_is_refused() {
    let dump = "CREATE VIRTUAL TABLE notes USING fts5(body);\n\
                INSERT INTO notes(body) VALUES('alpha');\n\
                INSERT INTO notes_data VALUES(99, X'00');\n";
    let conn = Connection::open_in_memory().unwrap();
    let err = load_dump(&conn, dump.as_bytes(), LoadMode::D1, &mut |_| true).unwrap_err();
    assert!(
        matches!(&err.kind, LoadErrorKind::Refused(Rule::ShadowTable { name }) if name == "notes_data"),
        "{err}"
    );
    assert_eq!(err.at.as_ref().map(|a| (a.number, a.line)), Some((3, 3)));
    // sqlite3's own loading (the --verify scratch) runs it: SQLite allows it.
    let conn = Connection::open_in_memory().unwrap();
    load_dump(&conn, dump.as_bytes(), LoadMode::Sqlite, &mut |_| true).unwrap();
}
