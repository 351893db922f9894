//! `--verify`, `--format sqlite`, `--importable` as a user runs them, against the emulator
//! on loopback, with both drivers; the results checked on real SQLite.

#[path = "../../dump/tests/common/mod.rs"]
mod common;

use common::{diff, snapshot};
use d1_dump::load::{load_dump, LoadMode};
use d1_dump::rules::check_path;
use d1_emulator::{Emulator, EmulatorConfig};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const SHOP: &str = "7e57ab1e-0000-4000-8000-000000000001";
const FTS: &str = "7e57ab1e-0000-4000-8000-000000000002";
const BROKEN: &str = "7e57ab1e-0000-4000-8000-000000000003";
const ORDERS: &str = "7e57ab1e-0000-4000-8000-000000000004";
/// Empty databases a backup is restored into (one per driver).
const TARGETS: [(&str, &str); 2] = [
    ("7e57ab1e-0000-4000-8000-0000000000a1", "restore-async"),
    ("7e57ab1e-0000-4000-8000-0000000000b1", "restore-blocking"),
];
const TERMS: &[&str] = &["hello", "world", "quick", "lazy", "again"];

/// A database with what D1's own export gets wrong: a foreign key to a later table, a
/// value over 100 KB, and FTS5 tables of all three content kinds.
const FTS_SCHEMA: &str = "
CREATE TABLE comments (id INTEGER PRIMARY KEY, note_id INTEGER NOT NULL REFERENCES notes(id), body TEXT);
CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT, attachment BLOB);
CREATE VIRTUAL TABLE notes_fts USING fts5(body, content='notes', content_rowid='id');
CREATE VIRTUAL TABLE docs USING fts5(title, body);
CREATE VIRTUAL TABLE bare USING fts5(body, content='');
INSERT INTO notes(body, attachment) VALUES ('hello world', X'00ff'), ('it''s a new day', NULL), ('hello again', randomblob(300000));
INSERT INTO comments VALUES (1, 3, 'first'), (2, 1, replace('line\nbreak', '\n', char(10)));
INSERT INTO notes_fts(rowid, body) SELECT id, body FROM notes;
INSERT INTO docs VALUES ('first', 'the quick brown fox'), ('second', 'jumps over the lazy dog');
INSERT INTO bare(rowid, body) VALUES (1, 'hello');
CREATE INDEX comments_note ON comments(note_id);
CREATE TRIGGER notes_ai AFTER INSERT ON notes BEGIN INSERT INTO notes_fts(rowid, body) VALUES (new.id, new.body); END;
CREATE VIEW hello_notes AS SELECT id FROM notes WHERE body LIKE 'hello%';
";

struct Env {
    emulator: Emulator,
    dir: tempfile::TempDir,
}

/// No virtual tables, so D1's own export serves it, but a foreign key to a table created
/// later: D1's dump of it does not import ("no such table").
const ORDERS_SCHEMA: &str = "
CREATE TABLE lines (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders(id), item TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT);
INSERT INTO orders VALUES (1, 'Zoë'), (2, 'it''s me');
INSERT INTO lines VALUES (1, 1, 'tea'), (2, 2, 'cake'), (3, 1, 'scone');
";

fn start() -> Env {
    start_serving(&[])
}

/// The emulator with the three test databases, plus `extra` (uuid, name, schema) ones; an
/// empty schema is an empty database.
fn start_serving(extra: &[(&str, &str, &str)]) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let shop = dir.path().join("shop.sqlite");
    d1_emulator::sample::generate(&shop, 256 * 1024).unwrap();
    let fts = dir.path().join("fts.sqlite");
    Connection::open(&fts)
        .unwrap()
        .execute_batch(FTS_SCHEMA)
        .unwrap();
    // Rows that break a CHECK constraint: the dump of this database does not load.
    let broken = dir.path().join("broken.sqlite");
    Connection::open(&broken)
        .unwrap()
        .execute_batch(
            "CREATE TABLE t (x INTEGER CHECK (x > 0)); INSERT INTO t VALUES (1);\n\
             PRAGMA ignore_check_constraints=ON; INSERT INTO t VALUES (-5);",
        )
        .unwrap();
    let mut config = EmulatorConfig::new()
        .database(SHOP, &shop)
        .database_name(SHOP, "shop")
        .database(FTS, &fts)
        .database_name(FTS, "notes")
        .database(BROKEN, &broken)
        .database_name(BROKEN, "broken")
        .work_dir(dir.path().join("emu"))
        .polls_before_complete(1)
        .poll_hold(Duration::from_millis(20));
    for &(uuid, name, schema) in extra {
        let path = dir.path().join(format!("{name}.sqlite"));
        std::fs::write(&path, b"").unwrap();
        Connection::open(&path)
            .unwrap()
            .execute_batch(schema)
            .unwrap();
        config = config.database(uuid, &path).database_name(uuid, name);
    }
    let emulator = Emulator::start(config).unwrap();
    Env { emulator, dir }
}

impl Env {
    fn source(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn out(&self, sub: &str) -> PathBuf {
        let out = self.dir.path().join("out").join(sub);
        std::fs::create_dir_all(&out).unwrap();
        out
    }

    fn run(&self, args: &[&str], output: Option<&Path>) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_d1-export"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CLOUDFLARE_API_TOKEN", self.emulator.token())
            .env("CLOUDFLARE_ACCOUNT_ID", self.emulator.account_id())
            .env("CLOUDFLARE_API_BASE_URL", self.emulator.base_url())
            .stdin(Stdio::null())
            .args(args);
        if let Some(o) = output {
            c.arg("--output").arg(o);
        }
        c.output().unwrap()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn manifest(output: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(format!("{}.manifest.json", output.display())).unwrap())
        .unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Loads `sql` as D1 would into a new database and returns it.
fn load_like_d1(sql: &Path, db: &Path) -> Connection {
    let conn = Connection::open(db).unwrap();
    let file = std::io::BufReader::new(std::fs::File::open(sql).unwrap());
    load_dump(&conn, file, LoadMode::D1, &mut |_| true).unwrap_or_else(|e| panic!("{e}"));
    conn
}

#[test]
fn the_fts5_database_fails_plainly_but_exports_importable_with_both_drivers() {
    let env = start();
    let source = Connection::open(env.source("fts.sqlite")).unwrap();
    let want = snapshot(&source, TERMS);
    for driver in ["async", "blocking"] {
        let dir = env.out(driver);
        // Without --importable: the service's refusal, with the hint.
        let plain = dir.join("plain.sql");
        let o = env.run(&["notes", "--driver", driver], Some(&plain));
        assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("cannot export databases with Virtual Tables (fts5)"),
            "{err}"
        );
        assert!(err.contains("--importable"), "{err}");
        assert!(!plain.exists());
        // With it: the fallback, reported, and a file D1 accepts.
        let out = dir.join("notes.sql");
        let o = env.run(&["notes", "--importable", "--driver", driver], Some(&out));
        assert!(o.status.success(), "{driver}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("exporting again with compatibility sqlite3_cli_only"),
            "{err}"
        );
        assert!(
            err.contains("warning:") && err.contains("\"bare\""),
            "{err}"
        );
        let rules = check_path(&out).unwrap();
        assert!(rules.is_importable(), "{:?}", rules.violations);
        #[cfg(unix)]
        assert_eq!(mode(&out), 0o600);
        let restored = load_like_d1(&out, &dir.join("restored.sqlite"));
        // Everything but the contentless table's documents, which cannot be rebuilt.
        let mut got = snapshot(&restored, TERMS);
        let mut expected = snapshot(&source, TERMS);
        got.matches.retain(|(t, _), _| t != "bare");
        expected.matches.retain(|(t, _), _| t != "bare");
        assert_eq!(diff(&expected, &got), None, "{driver}");
        assert!(!want.matches[&("notes_fts".to_owned(), "hello".to_owned())].is_empty());
        let m = manifest(&out);
        assert_eq!(m["restore_ready"]["format"], "importable");
        assert_eq!(m["restore_ready"]["exported_with"], "sqlite3_cli_only");
        assert_eq!(m["restore_ready"]["compatibility_fallback"], true);
        assert_eq!(
            m["restore_ready"]["rebuilt_fts"],
            serde_json::json!(["notes_fts"])
        );
        assert_eq!(m["restore_ready"]["split_values"], 1);
        assert_eq!(m["dump_options"]["compatibility"], "sqlite3_cli_only");
        assert_eq!(m["verified"]["integrity_check"], "ok");
        assert_eq!(m["verified"]["tables"]["notes"], 3);
        assert_eq!(m["verified"]["tables"]["comments"], 2);
        assert_eq!(m["bytes"], std::fs::metadata(&out).unwrap().len());
        // Only the output and its manifest: every temporary file is gone.
        assert_eq!(
            files_in(&dir),
            ["notes.sql", "notes.sql.manifest.json", "restored.sqlite"]
        );
    }
}

#[test]
fn format_sqlite_writes_the_database_itself() {
    let env = start();
    for (db, file, terms) in [
        ("notes", "fts.sqlite", TERMS),
        ("shop", "shop.sqlite", &[][..]),
    ] {
        let source = Connection::open(env.source(file)).unwrap();
        for driver in ["async", "blocking"] {
            let dir = env.out(&format!("{db}-{driver}"));
            let out = dir.join("backup.sqlite");
            let o = env.run(
                &[db, "--format", "sqlite", "--driver", driver, "--json"],
                Some(&out),
            );
            assert!(o.status.success(), "{db} {driver}: {}", stderr(&o));
            let got = Connection::open(&out).unwrap();
            assert_eq!(
                diff(&snapshot(&source, terms), &snapshot(&got, terms)),
                None,
                "{db} {driver}"
            );
            let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(json["ok"], true);
            assert_eq!(json["restore_ready"]["format"], "sqlite");
            let bytes = std::fs::read(&out).unwrap();
            assert_eq!(json["bytes"], bytes.len() as u64);
            assert!(bytes.starts_with(b"SQLite format 3\0"));
            #[cfg(unix)]
            assert_eq!(mode(&out), 0o600);
            assert_eq!(
                files_in(&dir),
                ["backup.sqlite", "backup.sqlite.manifest.json"]
            );
        }
    }
}

#[test]
fn verify_keeps_the_dump_and_records_what_it_found() {
    let env = start();
    let dir = env.out("verify");
    let out = dir.join("shop.sql");
    let o = env.run(&["shop", "--verify"], Some(&out));
    assert!(o.status.success(), "{}", stderr(&o));
    let expected = env
        .emulator
        .dump_bytes(SHOP, &d1_emulator::DumpOptions::default())
        .unwrap();
    assert!(
        std::fs::read(&out).unwrap() == expected,
        "the dump is kept as exported"
    );
    let m = manifest(&out);
    let source = Connection::open(env.source("shop.sqlite")).unwrap();
    let tables = m["verified"]["tables"].as_object().unwrap();
    assert!(!tables.is_empty());
    for (table, rows) in tables {
        let n: i64 = source
            .query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(rows.as_i64(), Some(n), "{table}");
    }
    assert_eq!(m["verified"]["integrity_check"], "ok");
    assert_eq!(m["verified"]["foreign_key_violations"], 0);
    assert_eq!(m["restore_ready"]["format"], "sql");
    assert_eq!(m["sha256"], m["restore_ready"]["download_sha256"]);
}

#[test]
fn a_dump_that_does_not_load_exits_7_and_leaves_nothing() {
    let env = start();
    for flags in [
        &["--verify"][..],
        &["--importable"],
        &["--format", "sqlite"],
    ] {
        for driver in ["async", "blocking"] {
            let dir = env.out(&format!("broken-{driver}-{}", flags.len()));
            let out = dir.join("broken.sql");
            let mut args = vec!["broken", "--driver", driver];
            args.extend_from_slice(flags);
            let o = env.run(&args, Some(&out));
            assert_eq!(
                o.status.code(),
                Some(7),
                "{flags:?} {driver}: {}",
                stderr(&o)
            );
            let err = stderr(&o);
            assert!(err.contains("verification failed"), "{err}");
            assert!(err.contains("statement 4 (line 4)"), "{err}");
            assert!(err.contains("CHECK constraint failed"), "{err}");
            assert!(err.contains("INSERT INTO \"t\" VALUES(-5);"), "{err}");
            assert!(files_in(&dir).is_empty(), "{:?}", files_in(&dir));
        }
    }
}

#[test]
fn restore_ready_usage_errors_exit_2() {
    let env = start();
    let dir = env.out("usage");
    let out = dir.join("x.sql");
    for args in [
        &["shop", "--importable", "--format", "sqlite"][..],
        &["shop", "--format", "sqlite", "--no-data"],
        &["shop", "--verify", "--no-schema"],
        &["shop", "--format", "xml"],
    ] {
        let o = env.run(args, Some(&out));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    let o = env.run(&["shop", "--verify", "--output", "-"], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(files_in(&dir).is_empty());
    assert_eq!(env.emulator.stats().jobs_created, 0);
}

#[test]
fn all_databases_made_restore_ready_with_both_drivers() {
    let env = start();
    for driver in ["async", "blocking"] {
        for (flags, ext) in [
            (&["--importable"][..], "sql"),
            (&["--format", "sqlite"], "sqlite"),
        ] {
            let dir = env.out(&format!("all-{driver}-{ext}"));
            let mut args = vec![
                "--all",
                "--output-dir",
                dir.to_str().unwrap(),
                "--json",
                "--driver",
                driver,
            ];
            args.extend_from_slice(flags);
            let o = env.run(&args, None);
            // The broken database fails verification; the others are restore-ready.
            assert_eq!(
                o.status.code(),
                Some(7),
                "{flags:?} {driver}: {}",
                stderr(&o)
            );
            let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(json["totals"]["exported"], 2, "{json}");
            assert_eq!(json["totals"]["failed"], 1, "{json}");
            let broken = json["databases"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["database_name"] == "broken")
                .unwrap();
            assert!(
                broken["error"]
                    .as_str()
                    .unwrap()
                    .contains("statement 4 (line 4)"),
                "{broken}"
            );
            let shop = dir.join(format!("shop-{SHOP}.{ext}"));
            let notes = dir.join(format!("notes-{FTS}.{ext}"));
            assert_eq!(
                files_in(&dir),
                [
                    format!("notes-{FTS}.{ext}"),
                    format!("notes-{FTS}.{ext}.manifest.json"),
                    format!("shop-{SHOP}.{ext}"),
                    format!("shop-{SHOP}.{ext}.manifest.json"),
                ]
            );
            for (file, source) in [(&shop, "shop.sqlite"), (&notes, "fts.sqlite")] {
                let m = manifest(file);
                assert_eq!(m["verified"]["integrity_check"], "ok", "{m}");
                assert_eq!(m["bytes"], std::fs::metadata(file).unwrap().len());
                let restored = if ext == "sql" {
                    assert!(check_path(file).unwrap().is_importable());
                    load_like_d1(file, &env.out("scratch").join(format!("{driver}-{source}")))
                } else {
                    Connection::open(file).unwrap()
                };
                let src = Connection::open(env.source(source)).unwrap();
                let (mut a, mut b) = (snapshot(&src, TERMS), snapshot(&restored, TERMS));
                a.matches.retain(|(t, _), _| t != "bare");
                b.matches.retain(|(t, _), _| t != "bare");
                assert_eq!(diff(&a, &b), None, "{}", file.display());
            }
            assert_eq!(
                manifest(&notes)["restore_ready"]["compatibility_fallback"],
                true
            );
            // The summary says per database what the manifest records.
            let row = |name: &str| {
                json["databases"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|d| d["database_name"] == name)
                    .unwrap()
                    .clone()
            };
            assert_eq!(
                row("notes")["restore_ready"]["compatibility_fallback"],
                true
            );
            assert_eq!(row("shop")["verified"]["integrity_check"], "ok");
            assert_eq!(row("shop")["restore_ready"]["format"], flags_format(flags));
            // Unchanged and restore-ready in the same format (the fallback's options
            // included): skipped.
            let mut again = args.clone();
            again.push("--skip-unchanged");
            let o = env.run(&again, None);
            let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(json["totals"]["skipped"], 2, "{flags:?} {driver}: {json}");
            if ext == "sql" {
                // A plain run is not served by a restore-ready backup, nor the other way.
                let plain = [
                    "--all",
                    "--output-dir",
                    dir.to_str().unwrap(),
                    "--json",
                    "--skip-unchanged",
                    "--driver",
                    driver,
                ];
                // (notes fails plainly: its virtual tables; its importable backup stays.)
                let o = env.run(&plain, None);
                let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
                assert_eq!(json["totals"]["skipped"], 0, "{json}");
                let status = |json: &serde_json::Value, name: &str| {
                    json["databases"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|d| d["database_name"] == name)
                        .unwrap()["status"]
                        .clone()
                };
                assert_eq!(status(&json, "shop"), "ok", "{json}");
                let o = env.run(&again, None);
                let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
                assert_eq!(status(&json, "shop"), "ok", "{json}");
                assert_eq!(status(&json, "notes"), "skipped", "{json}");
            }
        }
    }
}

fn flags_format(flags: &[&str]) -> &'static str {
    if flags.contains(&"--importable") {
        "importable"
    } else {
        "sqlite"
    }
}

#[test]
fn an_importable_backup_restores_through_d1s_import_where_d1s_own_dump_fails() {
    let [(a_uuid, a_name), (b_uuid, b_name)] = TARGETS;
    let env = start_serving(&[
        (ORDERS, "orders", ORDERS_SCHEMA),
        (a_uuid, a_name, ""),
        (b_uuid, b_name, ""),
    ]);
    for (driver, (_, target)) in ["async", "blocking"].into_iter().zip(TARGETS) {
        let dir = env.out(&format!("roundtrip-{driver}"));
        let restored_path = env.source(&format!("{target}.sqlite"));
        // D1's own dump: every table followed by its rows, so the child's rows come before
        // the parent table exists. It passes the static rules, and D1's import fails on it
        // (exit 5), rolled back: the target stays empty.
        let plain = dir.join("orders.sql");
        let o = env.run(&["orders", "--driver", driver], Some(&plain));
        assert!(o.status.success(), "{driver}: {}", stderr(&o));
        assert!(check_path(&plain).unwrap().is_importable());
        let file = plain.to_str().unwrap();
        let o = env.run(
            &[
                "import", target, "--file", file, "--yes", "--driver", driver,
            ],
            None,
        );
        assert_eq!(o.status.code(), Some(5), "{driver}: {}", stderr(&o));
        assert!(stderr(&o).contains("no such table"), "{}", stderr(&o));
        let empty = Connection::open(&restored_path).unwrap();
        assert!(snapshot(&empty, &[]).schema.is_empty(), "{driver}");
        drop(empty);
        // The importable backups of both databases restore, FTS5 included, one after the
        // other into the same database.
        for (db, source_file) in [("orders", "orders.sqlite"), ("notes", "fts.sqlite")] {
            let out = dir.join(format!("{db}-importable.sql"));
            let o = env.run(&[db, "--importable", "--driver", driver], Some(&out));
            assert!(o.status.success(), "{db} {driver}: {}", stderr(&o));
            let file = out.to_str().unwrap();
            let o = env.run(
                &[
                    "import", target, "--file", file, "--yes", "--driver", driver,
                ],
                None,
            );
            assert!(o.status.success(), "{db} {driver}: {}", stderr(&o));
            let source = Connection::open(env.source(source_file)).unwrap();
            let restored = Connection::open(&restored_path).unwrap();
            let (want, got) = (snapshot(&source, TERMS), snapshot(&restored, TERMS));
            // The restored database holds both; compare what came from this source.
            for (name, rows) in &want.rows {
                if name == "sqlite_sequence" {
                    continue;
                }
                assert_eq!(got.rows.get(name), Some(rows), "{db} {driver}: {name}");
            }
            for entry in &want.schema {
                assert!(got.schema.contains(entry), "{db} {driver}: {entry:?}");
            }
            for ((table, term), rowids) in &want.matches {
                if table != "bare" {
                    assert_eq!(
                        got.matches.get(&(table.clone(), term.clone())),
                        Some(rowids),
                        "{db} {driver}: {table} MATCH {term}"
                    );
                }
            }
        }
    }
}
