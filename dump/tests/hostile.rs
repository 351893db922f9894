//! Hostile input as a class: arbitrary bytes and statement soup (unterminated quotes and
//! comments, statements over the splitter's keep limit, NUL bytes, invalid UTF-8, nested
//! `BEGIN … END`, rule-breaking fragments) fed to the splitter, the rules checker and the
//! loader. None may panic; each gives a result or a typed error; memory stays bounded by the
//! keep limit; a failed load leaves nothing behind.

use d1_dump::load::{harden, load_dump_with, LoadErrorKind, LoadMode};
use d1_dump::rules::{check_reader, Checker, Rule, SQLITE_HEADER};
use d1_dump::split::Splitter;
use proptest::prelude::*;
use rusqlite::Connection;
use std::io::BufReader;

/// The splitter's keep limit in these tests: small, so long statements are common.
const KEEP: usize = 256;

const FRAGMENTS: &[&[u8]] = &[
    b"'",
    b"\"",
    b"`",
    b"[",
    b"]",
    b"/*",
    b"*/",
    b"--",
    b"-",
    b"/",
    b"\n",
    b"\r\n",
    b";",
    b" ",
    b"\0",
    b"\xff\xfe",
    b"\xc3",
    b"\xe2\x82",
    b"BEGIN",
    b"END",
    b"end;",
    b"BEGIN TRANSACTION;",
    b"COMMIT;",
    b"ROLLBACK;",
    b"SAVEPOINT s;",
    b"RELEASE s;",
    b"CASE WHEN 1 THEN 2 END",
    b"CREATE",
    b"TEMP",
    b"TRIGGER",
    b"EXPLAIN",
    b"CREATE TABLE t(a);",
    b"CREATE TABLE IF NOT EXISTS u(a, b);",
    b"CREATE TRIGGER tr AFTER INSERT ON t BEGIN",
    b"SELECT 1;",
    b"INSERT INTO t VALUES(1);",
    b"INSERT INTO t VALUES('",
    b"WITH x AS (",
    b")",
    b"(",
    b"INSERT INTO _cf_KV",
    b"PRAGMA writable_schema=ON;",
    b"PRAGMA defer_foreign_keys=TRUE;",
    b"INSERT INTO sqlite_schema VALUES('table','v','v',0,'CREATE VIRTUAL TABLE v USING fts5(a)');",
    b"CREATE VIRTUAL TABLE f USING fts5(a);",
    b"INSERT INTO f_data VALUES(1, X'00');",
    b"ATTACH 'x.db' AS x;",
    b"VACUUM;",
    b"SQLite format 3\0",
];

/// One piece of soup: a fragment, a long run (over the keep limit), or random bytes.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => proptest::sample::select(FRAGMENTS).prop_map(<[u8]>::to_vec),
        1 => (KEEP..KEEP * 8, proptest::sample::select(&[b'x', b'\'', b' ', b';', b'\n'][..]))
            .prop_map(|(n, b)| vec![b; n]),
        2 => proptest::collection::vec(any::<u8>(), 0..32),
    ]
}

fn soup() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(piece(), 0..48).prop_map(|p| p.concat()),
        proptest::collection::vec(any::<u8>(), 0..2048),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        if std::env::var_os("CI").is_some() { 1000 } else { 256 }
    ))]

    #[test]
    fn the_splitter_holds_at_most_its_keep_limit_and_accounts_for_every_byte(
        input in soup(),
        chunk in 1usize..64,
    ) {
        let whole: Vec<_> = Splitter::new(&input[..]).keep(KEEP).map(Result::unwrap).collect();
        // Split the same way whatever the reads' sizes.
        let chunked: Vec<_> = Splitter::new(BufReader::with_capacity(chunk, &input[..]))
            .keep(KEEP)
            .map(Result::unwrap)
            .collect();
        prop_assert_eq!(&whole, &chunked);
        let mut end = 0;
        for (i, s) in whole.iter().enumerate() {
            prop_assert_eq!(s.number, i as u64 + 1);
            prop_assert!(s.bytes().len() <= KEEP);
            prop_assert_eq!(s.is_truncated(), s.len > KEEP as u64);
            prop_assert!(s.offset >= end, "statements overlap");
            end = s.offset + s.len;
            prop_assert!(end <= input.len() as u64);
            // What is kept is the input's bytes at that place.
            let at = s.offset as usize;
            prop_assert_eq!(s.bytes(), &input[at..at + s.bytes().len()]);
            prop_assert!(s.terminated || i + 1 == whole.len(), "only the last may lack its ;");
            let _ = s.excerpt(80);
        }
    }

    #[test]
    fn the_checker_reports_on_any_input(input in soup()) {
        let report = check_reader(&input[..]).unwrap();
        if input.starts_with(SQLITE_HEADER) {
            // Named as a database file after its header, not read further.
            prop_assert_eq!(report.bytes, SQLITE_HEADER.len() as u64);
            prop_assert_eq!(&report.violations[0].rule, &Rule::SqliteDatabaseFile);
        } else {
            prop_assert_eq!(report.bytes, input.len() as u64);
        }
        prop_assert!(report.violations.len() as u64 <= report.violations_total);
        for v in &report.violations {
            prop_assert!(v.statement <= report.statements);
            let _ = v.to_string();
        }
        // Statement by statement, with a small keep, it holds up too.
        let mut checker = Checker::new();
        for s in Splitter::new(&input[..]).keep(KEEP) {
            let _ = checker.check(&s.unwrap());
        }
        let _ = checker.finish(input.len() as u64);
    }

    #[test]
    fn a_load_of_any_input_is_a_result_or_a_typed_error_and_all_or_nothing(
        input in soup(),
        d1 in any::<bool>(),
    ) {
        let mut conn = Connection::open_in_memory().unwrap();
        harden(&mut conn).unwrap();
        let mode = if d1 { LoadMode::D1 } else { LoadMode::Sqlite };
        match load_dump_with(&conn, &input[..], mode, KEEP, &mut |_| true) {
            Ok(loaded) => prop_assert!(loaded.bytes <= input.len() as u64),
            Err(e) => {
                let _ = e.to_string();
                if let LoadErrorKind::TooLong { bytes } = e.kind {
                    prop_assert!(bytes > KEEP as u64);
                }
                let n: i64 = conn
                    .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
                    .unwrap();
                prop_assert_eq!(n, 0, "a failed load left schema behind: {}", e);
            }
        }
        // The connection is still usable, and still in autocommit (no transaction left open).
        prop_assert!(conn.is_autocommit());
        conn.execute_batch("SELECT 1").unwrap();
    }
}
