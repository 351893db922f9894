//! The wording and sources of the dump crate's errors, pinned: the CLI and the emulator show
//! them to users as they are.

use d1_dump::{DumpError, ImportableError};
use std::error::Error as _;
use std::io;

fn sqlite_error() -> rusqlite::Error {
    rusqlite::Connection::open_in_memory()
        .unwrap()
        .execute_batch("NOT SQL")
        .unwrap_err()
}

#[test]
fn dump_errors() {
    let cases = [
        (
            DumpError::InvalidOptions("both".into()),
            "invalid dump options: both".to_owned(),
        ),
        (
            DumpError::VirtualTables(vec!["fts5".into(), "rtree".into()]),
            "cannot export databases with Virtual Tables (fts5, rtree)".into(),
        ),
        (DumpError::Cancelled, "export cancelled".into()),
        (
            DumpError::NoSuchDatabase("x".into()),
            "no database with id x".into(),
        ),
        (
            DumpError::from(io::Error::other("disk full")),
            "i/o: disk full".into(),
        ),
        (
            DumpError::from(sqlite_error()),
            format!("sqlite: {}", sqlite_error()),
        ),
    ];
    for (e, want) in cases {
        assert_eq!(e.to_string(), want);
        let has_source = matches!(e, DumpError::Io(_) | DumpError::Sqlite(_));
        assert_eq!(e.source().is_some(), has_source, "{e}");
    }
}

#[test]
fn importable_errors() {
    let cases = [
        (
            ImportableError::SchemaTooLarge {
                name: "t".into(),
                bytes: 200_000,
            },
            "the definition of t is 200000 bytes, over D1's 100000-byte statement limit"
                .to_owned(),
        ),
        (
            ImportableError::RowTooLarge { table: "t".into() },
            "a row of t does not fit in 100000-byte statements even split (its key or numbers are too large)".into(),
        ),
        (
            ImportableError::NoKey { table: "t".into() },
            "a row of t must be split but the table has no rowid or primary key to address it"
                .into(),
        ),
        (
            ImportableError::Refused(d1_dump::Violation {
                rule: d1_dump::Rule::AttachOrVacuum {
                    keyword: "VACUUM".into(),
                },
                statement: 3,
                line: 5,
                excerpt: "VACUUM;".into(),
            }),
            "the importable dump would break D1's import rules: statement 3 (line 5): VACUUM: D1 does not allow statements on database files: `VACUUM;` (remove it: an import runs in D1's one database, which manages its own files)".into(),
        ),
        (ImportableError::Cancelled, "cancelled".into()),
        (
            ImportableError::from(io::Error::other("disk full")),
            "writing the importable dump: disk full".into(),
        ),
        (
            ImportableError::from(sqlite_error()),
            format!("sqlite: {}", sqlite_error()),
        ),
    ];
    for (e, want) in cases {
        assert_eq!(e.to_string(), want);
        let has_source = matches!(e, ImportableError::Io(_) | ImportableError::Sqlite(_));
        assert_eq!(e.source().is_some(), has_source, "{e}");
    }
}
