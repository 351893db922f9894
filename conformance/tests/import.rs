//! Import scenarios × both drivers × the emulator's faults.
//!
//! Each scenario starts a fresh emulator serving an empty database, imports a dump of the
//! sample database with the blocking `ureq` driver, then again on a fresh emulator with the
//! async `reqwest` driver, and checks for each: the outcome or error, that the database
//! afterwards equals the source exactly (its dump is byte-identical to the source's) or is
//! unchanged after a failure, the number of imports the emulator started, the uploads, and
//! that no upload carried `Authorization`. A round trip (export → import into an empty
//! database → export again) must give identical dumps.

use d1_emulator::{DumpOptions, Emulator, EmulatorConfig, Faults, RateLimit, Stats};
use d1_export_core::{
    AccountId, ApiBase, ApiToken, DatabaseId, DumpOptions as CoreDumpOptions, Event, ImportOutcome,
    Job, Pacing, RetryPolicy,
};
use d1_export_transport::{CancelToken, ClientConfig, Error};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

const DB: &str = "0b1c2d3e-0000-4000-8000-00000000001a";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Driver {
    Ureq,
    Reqwest,
}

const DRIVERS: [Driver; 2] = [Driver::Ureq, Driver::Reqwest];

/// The source database and its dump (generated once).
fn source() -> &'static (PathBuf, PathBuf) {
    static PATHS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    PATHS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("import-conformance");
        std::fs::create_dir_all(&dir).expect("dir");
        let db = dir.join("source.sqlite");
        let dump = dir.join("source.sql");
        if !dump.exists() {
            let tmp = dir.join(format!("source.{}.tmp", std::process::id()));
            d1_emulator::sample::generate(&tmp, 1 << 20).expect("sample");
            std::fs::rename(&tmp, &db).expect("place");
            let bytes = d1_emulator::dump::dump_to_vec(&db, &DumpOptions::default()).expect("dump");
            let tmp = dir.join(format!("source.sql.{}.tmp", std::process::id()));
            std::fs::write(&tmp, bytes).expect("write dump");
            std::fs::rename(&tmp, &dump).expect("place dump");
        }
        (db, dump)
    })
}

fn dump_of(path: &Path) -> Vec<u8> {
    d1_emulator::dump::dump_to_vec(path, &DumpOptions::default()).expect("dump")
}

fn client_config(emulator: &Emulator) -> ClientConfig {
    let base = ApiBase::new(&emulator.base_url()).expect("loopback base");
    let token = ApiToken::new(emulator.token()).expect("token");
    ClientConfig::new(base, token)
        .connect_timeout(Duration::from_secs(2))
        .read_timeout(Duration::from_secs(10))
        .buffer_size(64 * 1024)
        .pacing(Pacing {
            min_interval: Duration::from_millis(50),
            max_gap: Duration::from_secs(1),
        })
        .retry(RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            max_retry_after: Duration::from_secs(2),
            ..RetryPolicy::default()
        })
        .deadline(Duration::from_secs(60))
}

/// Imports `file` with `driver`.
fn import(
    emulator: &Emulator,
    driver: Driver,
    file: &Path,
    cancel: &CancelToken,
    events: &mut Vec<Event>,
) -> Result<ImportOutcome, Error> {
    let config = client_config(emulator);
    let account = AccountId::new(emulator.account_id()).expect("account");
    let database = DatabaseId::new(DB).expect("database");
    let on_event = |e: &Event| events.push(e.clone());
    match driver {
        Driver::Ureq => d1_export_ureq::Client::new(config)
            .expect("client")
            .import_from_path_with_cancel(&account, &database, file, cancel, on_event),
        Driver::Reqwest => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(
                d1_export_reqwest::Client::new(config)
                    .expect("client")
                    .import_from_path_with_cancel(&account, &database, file, cancel, on_event),
            ),
    }
}

/// An empty database file in a fresh directory.
fn empty_database() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("target.sqlite");
    std::fs::write(&path, b"").expect("empty database");
    (dir, path)
}

fn emulator(path: &Path, faults: Faults) -> Emulator {
    Emulator::start(
        EmulatorConfig::new()
            .database(DB, path)
            .poll_hold(Duration::from_millis(50))
            .faults(faults),
    )
    .expect("start the emulator")
}

struct Run {
    result: Result<ImportOutcome, Error>,
    events: Vec<Event>,
    stats: Stats,
    /// The database's dump afterwards.
    after: Vec<u8>,
}

fn run(driver: Driver, file: &Path, faults: Faults) -> Run {
    let (_dir, target) = empty_database();
    let emulator = emulator(&target, faults);
    let mut events = Vec::new();
    let result = import(&emulator, driver, file, &CancelToken::new(), &mut events);
    let stats = emulator.stats();
    emulator.shutdown();
    Run {
        result,
        events,
        stats,
        after: dump_of(&target),
    }
}

/// The database equals the source exactly, through one import.
fn assert_restored(r: &Run, driver: Driver, uploads: u64) {
    let outcome = match &r.result {
        Ok(o) => o,
        Err(e) => panic!("{driver:?}: {e}"),
    };
    let (db, _) = source();
    assert!(
        r.after == dump_of(db),
        "{driver:?}: the restored database differs from the source"
    );
    assert_eq!(r.stats.imports_created, 1, "{driver:?}: imports");
    assert_eq!(r.stats.imports_completed, 1, "{driver:?}: completed");
    assert_eq!(r.stats.uploads, uploads, "{driver:?}: uploads");
    assert_eq!(
        r.stats.uploads_with_authorization, 0,
        "{driver:?}: an upload carried Authorization"
    );
    assert!(outcome.uploaded, "{driver:?}: uploaded");
    assert!(outcome.num_queries > 100, "{driver:?}: {outcome:?}");
    assert!(outcome.rows_written > 100, "{driver:?}: {outcome:?}");
    assert!(
        outcome.size_after.unwrap_or(0) > 0,
        "{driver:?}: size after"
    );
    assert!(
        outcome.at_bookmark.is_some() && outcome.final_bookmark.is_some(),
        "{driver:?}: bookmarks"
    );
    assert_ne!(
        outcome.at_bookmark, outcome.final_bookmark,
        "{driver:?}: the bookmark did not move with the data"
    );
    assert!(
        r.events
            .iter()
            .any(|e| matches!(e, Event::ImportCompleted(_))),
        "{driver:?}: no ImportCompleted"
    );
    assert!(
        r.events
            .iter()
            .any(|e| matches!(e, Event::UploadProgress { sent, total } if sent == total)),
        "{driver:?}: no final upload progress"
    );
}

#[test]
fn a_dump_is_restored_exactly_on_both_drivers() {
    let (_, dump) = source();
    for driver in DRIVERS {
        let r = run(driver, dump, Faults::default());
        assert_restored(&r, driver, 1);
        assert_eq!(r.stats.requests_with_status(503), 0);
    }
}

#[test]
fn proxy_pages_rate_limits_and_cut_replies_are_retried_without_a_second_import() {
    let (_, dump) = source();
    let faults = [
        Faults {
            http_503_every: Some(2),
            ..Faults::default()
        },
        Faults {
            rate_limit: Some(RateLimit {
                requests: 1,
                window: Duration::from_millis(500),
            }),
            ..Faults::default()
        },
        // The init's reply cut short: a second init, one upload.
        Faults {
            invalid_json_at: Some(1),
            ..Faults::default()
        },
        // The ingest's reply cut short: the ingest again answers the same import.
        Faults {
            invalid_json_at: Some(2),
            ..Faults::default()
        },
        Faults {
            reset_connection_at: Some(2),
            extra_fields: true,
            ..Faults::default()
        },
    ];
    for f in faults {
        for driver in DRIVERS {
            let r = run(driver, dump, f.clone());
            assert_restored(&r, driver, 1);
            let injected: u64 = r.stats.faults_injected.values().sum();
            assert!(
                injected > 0 || f.extra_fields,
                "{driver:?}: no fault hit ({f:?})"
            );
        }
    }
}

#[test]
fn a_failed_or_unverified_upload_is_sent_again() {
    let (_, dump) = source();
    for f in [
        Faults {
            failed_uploads: 1,
            ..Faults::default()
        },
        Faults {
            wrong_upload_etags: 1,
            ..Faults::default()
        },
    ] {
        for driver in DRIVERS {
            let r = run(driver, dump, f.clone());
            assert_restored(&r, driver, 2);
            assert!(
                r.events
                    .iter()
                    .any(|e| matches!(e, Event::RetryScheduled { .. })),
                "{driver:?}: no retry reported"
            );
        }
    }
}

#[test]
fn a_failing_statement_is_named_and_nothing_changes() {
    let dir = tempfile::tempdir().expect("dir");
    let bad = dir.path().join("bad.sql");
    std::fs::write(
        &bad,
        "CREATE TABLE a(x INTEGER PRIMARY KEY);\nINSERT INTO a VALUES(1);\nINSERT INTO missing VALUES(2);\n",
    )
    .expect("file");
    for driver in DRIVERS {
        let r = run(driver, &bad, Faults::default());
        match &r.result {
            Err(e @ Error::Export(d1_export_core::Error::ImportFailed { message, statement })) => {
                assert_eq!(*statement, Some(3), "{driver:?}: {message}");
                assert!(message.contains("no such table: missing"), "{message}");
                // The file is at fault: sending it again fails the same way.
                assert_eq!(
                    e.kind(),
                    d1_export_transport::ErrorKind::Refused,
                    "{driver:?}"
                );
            }
            other => panic!("{driver:?}: {other:?}"),
        }
        assert!(
            !String::from_utf8_lossy(&r.after).contains("CREATE TABLE"),
            "{driver:?}: the failed import left schema behind"
        );
        assert_eq!(r.stats.imports_created, 1);
        assert_eq!(r.stats.imports_failed, 1);
    }
}

#[test]
fn a_file_the_service_already_has_is_not_uploaded_again() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("idempotent.sql");
    std::fs::write(
        &file,
        "CREATE TABLE IF NOT EXISTS t(x);\nINSERT INTO t VALUES('again');\n",
    )
    .expect("file");
    for driver in DRIVERS {
        let (_d, target) = empty_database();
        let emulator = emulator(&target, Faults::default());
        let mut events = Vec::new();
        let first = import(&emulator, driver, &file, &CancelToken::new(), &mut events)
            .expect("first import");
        let second = import(&emulator, driver, &file, &CancelToken::new(), &mut events)
            .expect("second import");
        let stats = emulator.stats();
        emulator.shutdown();
        assert!(first.uploaded && !second.uploaded, "{driver:?}");
        assert!(events.contains(&Event::UploadSkipped), "{driver:?}");
        assert_eq!((stats.uploads, stats.imports_created), (1, 2), "{driver:?}");
        assert_eq!(second.rows_written, 1);
        assert_ne!(first.final_bookmark, second.final_bookmark, "{driver:?}");
    }
}

#[test]
fn a_cancel_stops_the_import() {
    let (_, dump) = source();
    for driver in DRIVERS {
        let (_dir, target) = empty_database();
        // Every request is answered slowly enough (a held long poll) for the cancel to land.
        let emulator =
            Emulator::start(EmulatorConfig::new().database(DB, &target).faults(Faults {
                rate_limit: Some(RateLimit {
                    requests: 1,
                    window: Duration::from_secs(30),
                }),
                ..Faults::default()
            }))
            .expect("emulator");
        let cancel = CancelToken::new();
        let canceller = {
            let cancel = cancel.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                cancel.cancel();
            })
        };
        let started = std::time::Instant::now();
        let result = import(&emulator, driver, dump, &cancel, &mut Vec::new());
        canceller.join().expect("canceller");
        assert!(
            matches!(result, Err(Error::Cancelled)),
            "{driver:?}: {result:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{driver:?}: slow cancel"
        );
        emulator.shutdown();
    }
}

#[test]
fn export_import_export_gives_identical_dumps() {
    let (db, _) = source();
    for driver in DRIVERS {
        let dir = tempfile::tempdir().expect("dir");
        let source_emulator =
            Emulator::start(EmulatorConfig::new().database(DB, db.as_path())).expect("emulator");
        let job = Job {
            account: AccountId::new(source_emulator.account_id()).expect("account"),
            database: DatabaseId::new(DB).expect("database"),
            options: CoreDumpOptions::default(),
        };
        let first = dir.path().join("first.sql");
        export(&source_emulator, driver, &job, &first);
        source_emulator.shutdown();

        let (_d, target) = empty_database();
        let target_emulator = emulator(&target, Faults::default());
        import(
            &target_emulator,
            driver,
            &first,
            &CancelToken::new(),
            &mut Vec::new(),
        )
        .expect("import");
        let second = dir.path().join("second.sql");
        export(&target_emulator, driver, &job, &second);
        target_emulator.shutdown();
        let (a, b) = (
            std::fs::read(&first).expect("first"),
            std::fs::read(&second).expect("second"),
        );
        assert!(a.len() > 100_000, "{driver:?}: a tiny dump");
        assert!(
            a == b,
            "{driver:?}: the dumps differ ({} vs {} bytes)",
            a.len(),
            b.len()
        );
    }
}

fn export(emulator: &Emulator, driver: Driver, job: &Job, dest: &Path) {
    let config = client_config(emulator);
    let result = match driver {
        Driver::Ureq => d1_export_ureq::Client::new(config)
            .expect("client")
            .export_to_path(job, dest, |_| {}),
        Driver::Reqwest => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(
                d1_export_reqwest::Client::new(config)
                    .expect("client")
                    .export_to_path(job, dest, |_| {}),
            ),
    };
    result.expect("export");
}
