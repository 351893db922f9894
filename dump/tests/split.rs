//! The splitter finds exactly the statements a dump was made of, whatever they contain and
//! however the input is chunked, with the right numbers, lines and offsets.

use d1_dump::split::{Splitter, Statement};
use proptest::prelude::*;
use std::io::BufReader;

fn split(text: &str) -> Vec<Statement> {
    Splitter::new(text.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

fn sqls(text: &str) -> Vec<String> {
    split(text)
        .iter()
        .map(|s| s.text_lossy().into_owned())
        .collect()
}

#[test]
fn semicolons_inside_strings_identifiers_and_comments_do_not_end_a_statement() {
    let dump = "INSERT INTO \"a;b\" VALUES('x;''y;', [c;d], `e;f`) /* ; */ -- ;\n;\nSELECT 1;";
    assert_eq!(
        sqls(dump),
        vec![
            "INSERT INTO \"a;b\" VALUES('x;''y;', [c;d], `e;f`) /* ; */ -- ;\n;",
            "SELECT 1;"
        ]
    );
}

#[test]
fn a_trigger_body_is_one_statement_until_end() {
    let dump = "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  UPDATE a SET x = CASE WHEN 1 THEN 2 END;\n  DELETE FROM b;\nEND;\nCREATE TEMP TRIGGER u BEFORE DELETE ON a BEGIN SELECT 1; end ;INSERT INTO a VALUES(1);";
    let s = split(dump);
    assert_eq!(s.len(), 3);
    assert!(s[0].sql().unwrap().ends_with("DELETE FROM b;\nEND;"));
    assert_eq!(
        s[1].sql().unwrap(),
        "CREATE TEMP TRIGGER u BEFORE DELETE ON a BEGIN SELECT 1; end ;"
    );
    assert_eq!((s[2].number, s[2].line), (3, 5));
}

#[test]
fn comments_and_empty_statements_between_statements_are_dropped() {
    let dump = "-- header\n/* block\n;\n*/ ;;\n  \n  CREATE TABLE t(\n  a,\n  b\n);\n-- trailing";
    let s = split(dump);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].sql().unwrap(), "CREATE TABLE t(\n  a,\n  b\n);");
    assert_eq!((s[0].number, s[0].line, s[0].offset), (1, 6, 32));
}

#[test]
fn a_minus_or_slash_that_starts_no_comment_belongs_to_the_statement() {
    assert_eq!(
        sqls("-1;/2;SELECT 4-3/1;"),
        vec!["-1;", "/2;", "SELECT 4-3/1;"]
    );
    assert_eq!(sqls("SELECT 1 -"), vec!["SELECT 1 -"]);
}

#[test]
fn the_last_statement_without_a_semicolon_is_yielded_unterminated() {
    let s = split("SELECT 1;\nSELECT 'open\n\n");
    assert_eq!(s.len(), 2);
    assert!(s[0].terminated);
    assert!(!s[1].terminated);
    assert_eq!(s[1].sql().unwrap(), "SELECT 'open");
    assert_eq!(s[1].len, 12);
}

#[test]
fn a_statement_longer_than_keep_is_measured_but_not_held() {
    let big = format!("INSERT INTO t VALUES('{}');\nSELECT 2;", "z".repeat(10_000));
    let s: Vec<_> = Splitter::new(big.as_bytes())
        .keep(100)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(s[0].bytes().len(), 100);
    assert_eq!(s[0].len, 10_025);
    assert!(s[0].is_truncated());
    assert!(s[0].terminated);
    assert_eq!((s[1].sql().unwrap(), s[1].line), ("SELECT 2;", 2));
}

#[test]
fn keywords_are_recognised_across_buffer_boundaries() {
    let dump = "CREATE\nTRIGGER tr AFTER INSERT ON t BEGIN DELETE FROM t; END; SELECT 1;";
    for cap in 1..12 {
        let s: Vec<_> = Splitter::new(BufReader::with_capacity(cap, dump.as_bytes()))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(s.len(), 2, "buffer of {cap}");
    }
}

#[test]
fn invalid_utf8_is_kept_as_bytes() {
    let s: Vec<_> = Splitter::new(&b"INSERT INTO t VALUES('\xff;');"[..])
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(s.len(), 1);
    assert!(s[0].sql().is_err());
    assert_eq!(s[0].bytes(), b"INSERT INTO t VALUES('\xff;');");
}

#[test]
fn a_read_error_is_returned_not_swallowed() {
    struct Failing;
    impl std::io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }
    let mut it = Splitter::new(BufReader::new(Failing));
    assert!(it.next().unwrap().is_err());
    assert!(it.next().is_none());
}

// ---- property: generated dumps split back into their statements ----

/// Whitespace or a comment (never empty: tokens must not run into each other).
fn separator() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just(" ".to_owned()),
        2 => Just("\n".to_owned()),
        1 => Just("\r\n\t ".to_owned()),
        1 => "[a-z;'\" ]{0,8}".prop_map(|c| format!(" -- {c}\n")),
        1 => "[a-z;'\"\n ]{0,8}".prop_map(|c| format!("/* {} */", c.replace("*/", ""))),
    ]
}

fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just(";".to_owned()),
            Just("''".to_owned()),
            Just("\n".to_owned()),
            Just("--".to_owned()),
            Just("/*".to_owned()),
            Just("END;".to_owned()),
            Just("\"".to_owned()),
            "[a-zé日 ]{1,6}",
        ],
        0..6,
    )
    .prop_map(|v| v.concat())
}

/// One token of an ordinary statement (never a lone END after a `;`).
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z_][a-z0-9_]{0,6}",
        1 => Just("END".to_owned()),
        1 => Just("create".to_owned()),
        1 => Just("TRIGGER".to_owned()),
        1 => Just("BEGIN".to_owned()),
        1 => "[0-9]{1,4}",
        2 => text().prop_map(|t| format!("'{t}'")),
        1 => text().prop_map(|t| format!("\"{}\"", t.replace('"', "\"\""))),
        1 => "[a-z; ]{0,6}".prop_map(|t| format!("[{t}]")),
        1 => "[a-z; ]{0,6}".prop_map(|t| format!("`{t}`")),
        1 => prop_oneof![Just("("), Just(")"), Just(","), Just("="), Just("-"), Just("/"), Just("*"), Just(".")].prop_map(str::to_owned),
    ]
}

fn tokens_with(lead: &'static [&'static str]) -> impl Strategy<Value = String> {
    (
        proptest::sample::select(lead),
        proptest::collection::vec((separator(), token()), 0..8),
    )
        .prop_map(|(lead, rest)| {
            let mut s = lead.to_owned();
            for (sep, tok) in rest {
                s.push_str(&sep);
                s.push_str(&tok);
            }
            s
        })
}

/// A whole statement, `;` included.
fn statement() -> impl Strategy<Value = String> {
    let plain = tokens_with(&[
        "INSERT",
        "select",
        "Update",
        "DELETE",
        "CREATE TABLE",
        "PRAGMA",
    ])
    .prop_map(|s| format!("{s};"));
    let trigger = (
        proptest::sample::select(
            &[
                "CREATE TRIGGER",
                "create temp trigger",
                "CREATE\nTEMPORARY /*x*/ TRIGGER",
            ][..],
        ),
        tokens_with(&["t"]),
        proptest::collection::vec(
            (
                tokens_with(&["INSERT", "UPDATE", "SELECT", "DELETE"]),
                separator(),
            ),
            1..4,
        ),
        separator(),
    )
        .prop_map(|(head, name, body, sep)| {
            let mut s = format!("{head} {name} BEGIN ");
            for (stmt, sep) in body {
                s.push_str(&stmt);
                s.push(';');
                s.push_str(&sep);
            }
            format!("{s}END{sep};")
        });
    prop_oneof![4 => plain, 1 => trigger]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if std::env::var_os("CI").is_some() { 2000 } else { 300 }))]

    #[test]
    fn generated_dumps_split_into_their_statements(
        parts in proptest::collection::vec((proptest::collection::vec(separator(), 0..3), any::<bool>(), statement()), 0..12),
        unterminated in proptest::option::of(tokens_with(&["INSERT", "SELECT"])),
        capacity in 1usize..64,
    ) {
        let mut dump = String::new();
        let mut expected = Vec::new();
        for (seps, empty, stmt) in &parts {
            for sep in seps {
                dump.push_str(sep);
            }
            if *empty {
                dump.push_str(" ;\n");
            }
            let line = 1 + dump.matches('\n').count() as u64;
            expected.push((dump.len() as u64, line, stmt.clone(), true));
            dump.push_str(stmt);
        }
        if let Some(tail) = &unterminated {
            dump.push('\n');
            let line = 1 + dump.matches('\n').count() as u64;
            expected.push((dump.len() as u64, line, tail.trim_end().to_owned(), false));
            dump.push_str(tail);
            dump.push_str(" \n");
        }
        let got: Vec<Statement> = Splitter::new(BufReader::with_capacity(capacity, dump.as_bytes()))
            .collect::<Result<_, _>>()
            .unwrap();
        let got: Vec<_> = got
            .iter()
            .map(|s| (s.offset, s.line, s.text_lossy().into_owned(), s.terminated))
            .collect();
        // An unterminated tail that ends in a line comment keeps it; compare what matters.
        prop_assert_eq!(got.len(), expected.len(), "dump: {:?}", dump);
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            prop_assert_eq!(g, e, "statement {} of {:?}", i + 1, dump);
        }
    }
}
