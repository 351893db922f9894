//! One table of scenarios, run against both drivers and the emulator.
//!
//! Each scenario starts a fresh emulator (its own port, stats and jobs), runs an export with
//! the blocking `ureq` driver, then again on a fresh emulator with the async `reqwest` driver,
//! and checks for each: the outcome or error kind, the exact bytes against the emulator's own
//! dump, the number of jobs the emulator created, that no download carried `Authorization`,
//! that nothing but the destination is left in its directory, and, on failure, that the
//! destination is absent (or untouched, when it existed before).

use d1_emulator::{Emulator, EmulatorConfig, Faults, Layer, RateLimit, Stats, Throttle};
use d1_export_core::{
    AccountId, ApiBase, ApiToken, Contents, DatabaseId, DownloadPolicy, DumpOptions, Event, Hint,
    Job, JobGonePolicy, Pacing, ProtocolError, RetryPolicy, Transient,
};
use d1_export_transport::{CancelToken, ClientConfig, Error, ExportOutcome};
use sha2::Digest as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const DB: &str = "0b1c2d3e-0000-4000-8000-000000000001";
const DB_NAME: &str = "app";
const UNKNOWN_DB: &str = "0b1c2d3e-0000-4000-8000-0000000000ff";
const PREVIOUS: &[u8] = b"a previous backup that must survive a failed export\n";

/// A sample database shared by every scenario (generated once; deterministic content).
fn sample_db() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let path = dir.join("conformance-sample-2mib.sqlite");
        if !path.exists() {
            let tmp = dir.join(format!("conformance-sample.{}.tmp", std::process::id()));
            d1_emulator::sample::generate(&tmp, 2 << 20).expect("generate the sample database");
            std::fs::rename(&tmp, &path).expect("place the sample database");
        }
        path
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Driver {
    Ureq,
    Reqwest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SinkKind {
    Path,
    Writer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancel {
    Never,
    /// From another thread, this long after the start (the export is still polling then).
    After(Duration),
    /// From the event callback, at the first download progress event.
    AtFirstProgress,
}

#[derive(Debug, Clone)]
enum Expect {
    Complete,
    Cancelled,
    Api {
        status: u16,
        hint: Hint,
    },
    /// The export fails with a core error this predicate accepts.
    Fails(fn(&d1_export_core::Error) -> bool),
}

#[derive(Debug, Clone)]
struct Scenario {
    options: DumpOptions,
    faults: Faults,
    emulator: fn(EmulatorConfig) -> EmulatorConfig,
    token: Option<&'static str>,
    database: &'static str,
    sink: SinkKind,
    cancel: Cancel,
    /// A file already at the destination (it must survive a failure, be replaced on success).
    preexisting: bool,
    expect: Expect,
    jobs: u64,
    extra: fn(&Report),
    /// Client settings beyond the table's defaults.
    client: fn(ClientConfig) -> ClientConfig,
    /// The bytes a complete run must produce, from the emulator's own dump.
    expected: fn(Vec<u8>) -> Vec<u8>,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            options: DumpOptions::default(),
            faults: Faults::default(),
            emulator: |c| c,
            token: None,
            database: DB,
            sink: SinkKind::Path,
            cancel: Cancel::Never,
            preexisting: false,
            expect: Expect::Complete,
            jobs: 1,
            extra: |_| {},
            client: |c| c,
            expected: |dump| dump,
        }
    }
}

/// What one run produced.
struct Report {
    driver: Driver,
    result: Result<ExportOutcome, Error>,
    events: Vec<Event>,
    stats: Stats,
    elapsed: Duration,
    /// The destination's bytes, if it exists (or the writer's bytes).
    output: Option<Vec<u8>>,
    /// Every name in the destination's directory.
    listing: Vec<String>,
    expected: Vec<u8>,
}

fn emulator_options(o: &DumpOptions) -> d1_emulator::DumpOptions {
    d1_emulator::DumpOptions {
        no_data: o.contents == Contents::SchemaOnly,
        no_schema: o.contents == Contents::DataOnly,
        tables: o.tables.clone(),
        ..Default::default()
    }
}

fn client_config(emulator: &Emulator, token: Option<&str>) -> ClientConfig {
    let base = ApiBase::new(&emulator.base_url()).expect("loopback base");
    let token = ApiToken::new(token.unwrap_or(emulator.token())).expect("token");
    ClientConfig::new(base, token)
        .connect_timeout(Duration::from_secs(2))
        .read_timeout(Duration::from_secs(5))
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
        .download(DownloadPolicy {
            max_resumes: 4,
            max_url_refreshes: 2,
        })
        .deadline(Duration::from_secs(30))
}

fn run(s: &Scenario, driver: Driver) -> Report {
    let config = EmulatorConfig::new()
        .database(DB, sample_db())
        .database_name(DB, DB_NAME)
        .faults(s.faults.clone());
    let emulator = Emulator::start((s.emulator)(config)).expect("start the emulator");
    let expected = (s.expected)(
        emulator
            .dump_bytes(DB, &emulator_options(&s.options))
            .expect("the emulator's own dump"),
    );
    let config = (s.client)(client_config(&emulator, s.token));
    let job = Job {
        account: AccountId::new(emulator.account_id()).expect("account"),
        database: DatabaseId::new(s.database).expect("database"),
        options: s.options.clone(),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let dest = dir.path().join("backup.sql");
    if s.preexisting {
        std::fs::write(&dest, PREVIOUS).expect("previous file");
    }
    let token = CancelToken::new();
    if let Cancel::After(delay) = s.cancel {
        let token = token.clone();
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            token.cancel();
        });
    }
    let mut events = Vec::new();
    let on_event = |e: &Event| {
        if s.cancel == Cancel::AtFirstProgress && matches!(e, Event::DownloadProgress { .. }) {
            token.cancel();
        }
        events.push(e.clone());
    };
    let mut written = Vec::new();
    let start = Instant::now();
    let result = match driver {
        Driver::Ureq => {
            let client = d1_export_ureq::Client::new(config).expect("client");
            match s.sink {
                SinkKind::Path => client.export_to_path_with_cancel(&job, &dest, &token, on_event),
                SinkKind::Writer => {
                    client.export_to_writer_with_cancel(&job, &mut written, &token, on_event)
                }
            }
        }
        Driver::Reqwest => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let client = d1_export_reqwest::Client::new(config).expect("client");
            runtime.block_on(async {
                match s.sink {
                    SinkKind::Path => {
                        client
                            .export_to_path_with_cancel(&job, &dest, &token, on_event)
                            .await
                    }
                    SinkKind::Writer => {
                        client
                            .export_to_writer_with_cancel(&job, &mut written, &token, on_event)
                            .await
                    }
                }
            })
        }
    };
    let elapsed = start.elapsed();
    let output = match s.sink {
        SinkKind::Path => std::fs::read(&dest).ok(),
        SinkKind::Writer => Some(written),
    };
    let mut listing: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    listing.sort();
    let stats = emulator.stats();
    emulator.shutdown();
    Report {
        driver,
        result,
        events,
        stats,
        elapsed,
        output,
        listing,
        expected,
    }
}

fn check(s: &Scenario, r: &Report) {
    let who = format!("{:?}", r.driver);
    let ok = r.result.is_ok();
    match (&s.expect, &r.result) {
        (Expect::Complete, Ok(outcome)) => {
            let output = r.output.as_deref().expect("an output");
            assert!(
                output == r.expected.as_slice(),
                "{who}: bytes differ from the emulator's dump ({} vs {} bytes)",
                output.len(),
                r.expected.len()
            );
            assert_eq!(
                outcome.bytes,
                r.expected.len() as u64,
                "{who}: outcome bytes"
            );
            assert_eq!(
                outcome.sha256,
                hex::encode(sha2::Sha256::digest(&r.expected)),
                "{who}: sha256"
            );
            assert!(
                outcome.filename.ends_with(".sql"),
                "{who}: filename {}",
                outcome.filename
            );
            assert!(outcome.bookmark.is_some(), "{who}: bookmark");
            assert!(
                r.events.iter().any(|e| matches!(e, Event::Completed(_))),
                "{who}: no Completed event"
            );
        }
        (Expect::Cancelled, Err(Error::Cancelled)) => {}
        (Expect::Fails(accepts), Err(Error::Export(e))) if accepts(e) => {}
        (Expect::Api { status, hint }, Err(Error::Export(d1_export_core::Error::Api(api)))) => {
            assert_eq!(api.status, *status, "{who}: status");
            assert_eq!(api.hint, Some(*hint), "{who}: hint");
        }
        (want, got) => panic!("{who}: expected {want:?}, got {got:?}"),
    }
    if let Err(e) = &r.result {
        let shown = e.to_string();
        assert!(
            !shown.contains(DEFAULT_TOKEN_SHOWN),
            "{who}: the token leaked: {shown}"
        );
        assert!(
            !shown.contains("X-Amz"),
            "{who}: the signed URL leaked: {shown}"
        );
    }
    assert_eq!(r.stats.jobs_created, s.jobs, "{who}: jobs created");
    assert_eq!(
        r.stats.downloads_with_authorization, 0,
        "{who}: a download carried Authorization"
    );
    if s.sink == SinkKind::Path {
        assert_eq!(
            r.listing,
            if ok || s.preexisting {
                vec!["backup.sql".to_owned()]
            } else {
                Vec::<String>::new()
            },
            "{who}: stray or missing files beside the destination"
        );
        if !ok {
            let want = s.preexisting.then(|| PREVIOUS.to_vec());
            assert_eq!(r.output, want, "{who}: the destination changed on failure");
        }
    }
    assert!(
        r.elapsed < Duration::from_secs(20),
        "{who}: took {:?}",
        r.elapsed
    );
    (s.extra)(r);
}

const DEFAULT_TOKEN_SHOWN: &str = d1_emulator::DEFAULT_TOKEN;

fn retried(r: &Report, pred: impl Fn(&Transient) -> bool) -> bool {
    r.events
        .iter()
        .any(|e| matches!(e, Event::RetryScheduled { reason, .. } if pred(reason)))
}

fn api_requests(r: &Report) -> u64 {
    r.stats
        .requests
        .iter()
        .filter(|(route, _)| route.contains("/export"))
        .flat_map(|(_, by_status)| by_status.values())
        .sum()
}

fn run_both(name: &str) {
    let (_, s) = table()
        .into_iter()
        .find(|(n, _)| *n == name)
        .expect("scenario");
    for driver in [Driver::Ureq, Driver::Reqwest] {
        let r = run(&s, driver);
        check(&s, &r);
        eprintln!(
            "{name:<24} {driver:<8?} {:<10} {:>6} ms, {} jobs, {} export requests, {} downloads",
            match &r.result {
                Ok(_) => "complete".to_owned(),
                Err(e) if e.is_cancelled() => "cancelled".to_owned(),
                Err(_) => "error".to_owned(),
            },
            r.elapsed.as_millis(),
            r.stats.jobs_created,
            api_requests(&r),
            r.stats.requests_to("GET /__download"),
        );
    }
}

macro_rules! table {
    ($($name:ident => $scenario:expr,)*) => {
        fn table() -> Vec<(&'static str, Scenario)> {
            vec![$((stringify!($name), $scenario)),*]
        }
        mod scenario {
            $(#[test] fn $name() { super::run_both(stringify!($name)) })*
        }
    };
}

table! {
    full => Scenario { preexisting: true, ..Scenario::default() },
    full_to_writer => Scenario { sink: SinkKind::Writer, ..Scenario::default() },
    no_data => Scenario {
        options: DumpOptions { contents: Contents::SchemaOnly, ..DumpOptions::default() },
        ..Scenario::default()
    },
    no_schema => Scenario {
        options: DumpOptions { contents: Contents::DataOnly, ..DumpOptions::default() },
        ..Scenario::default()
    },
    tables => Scenario {
        options: DumpOptions { tables: vec!["users".into(), "orders".into()], ..DumpOptions::default() },
        ..Scenario::default()
    },
    http_503_html => Scenario {
        faults: Faults { http_503_every: Some(2), ..Faults::default() },
        extra: |r| {
            assert!(r.stats.faults("http_503") >= 1);
            assert!(retried(r, |t| matches!(t, Transient::NotJson { status: 503, .. })), "{:?}: no retry of the 503", r.driver);
        },
        ..Scenario::default()
    },
    rate_limited_429 => Scenario {
        faults: Faults {
            rate_limit: Some(RateLimit { requests: 2, window: Duration::from_secs(1) }),
            ..Faults::default()
        },
        extra: |r| {
            assert!(r.stats.faults("http_429") >= 1);
            assert!(retried(r, |t| matches!(t, Transient::Throttled { retry_after: Some(d) } if *d >= Duration::from_secs(1))), "{:?}: Retry-After not honoured", r.driver);
        },
        ..Scenario::default()
    },
    invalid_json => Scenario {
        faults: Faults { invalid_json_at: Some(2), ..Faults::default() },
        extra: |r| assert!(retried(r, |t| matches!(t, Transient::InvalidJson { .. })), "{:?}: no retry of the invalid JSON", r.driver),
        ..Scenario::default()
    },
    truncated_download => Scenario {
        faults: Faults { truncate_first_download: true, ..Faults::default() },
        preexisting: true,
        extra: |r| {
            assert_eq!(r.stats.downloads_truncated, 1);
            assert_eq!(r.stats.downloads_ranged, 1, "{:?}: the download was not resumed with a range", r.driver);
        },
        ..Scenario::default()
    },
    truncated_download_to_writer => Scenario {
        faults: Faults { truncate_first_download: true, ..Faults::default() },
        sink: SinkKind::Writer,
        extra: |r| assert_eq!(r.stats.downloads_ranged, 1),
        ..Scenario::default()
    },
    slow_download => Scenario {
        faults: Faults { download_kib_per_sec: Some(4096), ..Faults::default() },
        extra: |r| {
            let progress = r.events.iter().filter(|e| matches!(e, Event::DownloadProgress { .. })).count();
            assert!(progress >= 4, "{:?}: only {progress} progress events", r.driver);
        },
        ..Scenario::default()
    },
    expired_first_url => Scenario {
        faults: Faults { expire_first_url: true, ..Faults::default() },
        extra: |r| {
            assert_eq!(r.stats.downloads_expired, 1);
            assert!(r.events.iter().any(|e| matches!(e, Event::RefreshingUrl)));
        },
        ..Scenario::default()
    },
    omitted_status => Scenario {
        faults: Faults { omit_active_status: true, ..Faults::default() },
        ..Scenario::default()
    },
    unknown_fields => Scenario {
        faults: Faults { extra_fields: true, ..Faults::default() },
        ..Scenario::default()
    },
    long_poll => Scenario {
        emulator: |c| c.poll_hold(Duration::from_millis(400)).min_export_time(Duration::from_millis(1200)),
        extra: |r| {
            // Held polls are followed at once, but never more than one request per hold.
            let n = api_requests(r);
            assert!((3..=8).contains(&n), "{:?}: {n} export requests", r.driver);
        },
        ..Scenario::default()
    },
    reset_connection => Scenario {
        faults: Faults { reset_connection_at: Some(2), ..Faults::default() },
        extra: |r| {
            assert_eq!(r.stats.faults("reset_connection"), 1);
            assert!(retried(r, |t| matches!(t, Transient::Transport(_))), "{:?}: no retry of the reset", r.driver);
        },
        ..Scenario::default()
    },
    auth_failure => Scenario {
        token: Some("not-the-token"),
        preexisting: true,
        expect: Expect::Api { status: 403, hint: Hint::Authentication },
        jobs: 0,
        ..Scenario::default()
    },
    unknown_database => Scenario {
        database: UNKNOWN_DB,
        expect: Expect::Api { status: 404, hint: Hint::NotFound },
        jobs: 0,
        ..Scenario::default()
    },
    cancel_mid_poll => Scenario {
        emulator: |c| c.min_export_time(Duration::from_secs(10)),
        cancel: Cancel::After(Duration::from_millis(400)),
        preexisting: true,
        expect: Expect::Cancelled,
        extra: |r| assert!(r.elapsed < Duration::from_secs(2), "{:?}: cancel took {:?}", r.driver, r.elapsed),
        ..Scenario::default()
    },
    cancel_during_a_held_poll => Scenario {
        emulator: |c| c.min_export_time(Duration::from_secs(10)).polls_before_complete(0).poll_hold(Duration::from_secs(10)),
        cancel: Cancel::After(Duration::from_millis(400)),
        expect: Expect::Cancelled,
        extra: |r| assert!(r.elapsed < Duration::from_secs(2), "{:?}: cancel took {:?}", r.driver, r.elapsed),
        ..Scenario::default()
    },
    cancel_mid_download => Scenario {
        faults: Faults { download_kib_per_sec: Some(256), ..Faults::default() },
        cancel: Cancel::AtFirstProgress,
        expect: Expect::Cancelled,
        extra: |r| assert!(r.elapsed < Duration::from_secs(3), "{:?}: cancel took {:?}", r.driver, r.elapsed),
        ..Scenario::default()
    },
    // Issue 10: hostile but plausible servers.
    running_without_bookmark => Scenario {
        faults: Faults { active_without_bookmark: true, ..Faults::default() },
        expect: Expect::Fails(|e| matches!(e, d1_export_core::Error::Protocol(ProtocolError::MissingBookmark))),
        extra: |r| {
            let n = api_requests(r);
            assert!((2..=6).contains(&n), "{:?}: {n} export requests (a storm?)", r.driver);
        },
        ..Scenario::default()
    },
    close_delimited_download => Scenario {
        faults: Faults { close_delimited_downloads: true, ..Faults::default() },
        extra: |r| assert!(
            r.stats.requests_to("GET /__download") >= 2,
            "{:?}: a close-delimited length was not confirmed", r.driver
        ),
        ..Scenario::default()
    },
    close_delimited_download_cut_half_way => Scenario {
        faults: Faults { close_delimited_downloads: true, truncate_first_download: true, ..Faults::default() },
        preexisting: true,
        extra: |r| {
            assert_eq!(r.stats.downloads_truncated, 1);
            assert_eq!(r.stats.downloads_ranged, 1, "{:?}: the rest was not fetched with a range", r.driver);
        },
        ..Scenario::default()
    },
    object_changed_before_the_resume => Scenario {
        faults: Faults { truncate_first_download: true, change_object_after_first_download: true, ..Faults::default() },
        expected: |mut dump| { dump.extend_from_slice(d1_emulator::CHANGED_OBJECT_TRAILER); dump },
        extra: |r| {
            assert_eq!(r.stats.downloads_ranged, 0, "{:?}: If-Range should have made it a whole reply", r.driver);
            assert!(r.events.contains(&Event::DownloadRestarted), "{:?}: no restart reported", r.driver);
        },
        ..Scenario::default()
    },
    object_changed_and_if_range_ignored => Scenario {
        faults: Faults {
            truncate_first_download: true,
            change_object_after_first_download: true,
            ignore_if_range: true,
            ..Faults::default()
        },
        expected: |mut dump| { dump.extend_from_slice(d1_emulator::CHANGED_OBJECT_TRAILER); dump },
        extra: |r| assert!(r.events.contains(&Event::DownloadRestarted), "{:?}: no restart reported", r.driver),
        ..Scenario::default()
    },
    gzip_download => Scenario {
        faults: Faults { download_content_encoding: Some("gzip".into()), ..Faults::default() },
        preexisting: true,
        expect: Expect::Fails(|e| matches!(e, d1_export_core::Error::Protocol(ProtocolError::EncodedDownload(c)) if c == "gzip")),
        ..Scenario::default()
    },
    oversized_502 => Scenario {
        faults: Faults { oversized_502_at: Some(2), ..Faults::default() },
        extra: |r| {
            assert_eq!(r.stats.faults("oversized_502"), 1);
            assert!(retried(r, |t| matches!(
                t,
                Transient::NotJson { status: 502, .. } | Transient::ServerStatus { status: 502 }
            )), "{:?}: the oversized 502 was not retried", r.driver);
        },
        ..Scenario::default()
    },
    long_retry_after_while_running => Scenario {
        faults: Faults { throttle: Some(Throttle { at: 2, retry_after_secs: 2 }), ..Faults::default() },
        emulator: |c| c.idle_cancel(Duration::from_millis(1200)),
        jobs: 2,
        extra: |r| {
            assert!(r.events.iter().any(|e| matches!(e, Event::PausedByService { .. })), "{:?}: the pause was not reported", r.driver);
            assert!(r.events.iter().any(|e| matches!(e, Event::ExportRestarted { .. })), "{:?}: no restart reported", r.driver);
        },
        ..Scenario::default()
    },
    long_retry_after_restart_forbidden => Scenario {
        faults: Faults { throttle: Some(Throttle { at: 2, retry_after_secs: 2 }), ..Faults::default() },
        emulator: |c| c.idle_cancel(Duration::from_millis(1200)),
        client: |c| c.job_gone(JobGonePolicy::Fail),
        preexisting: true,
        expect: Expect::Fails(|e| matches!(e, d1_export_core::Error::JobGone { .. })),
        ..Scenario::default()
    },
    job_gone_in_envelope => Scenario {
        faults: Faults {
            throttle: Some(Throttle { at: 2, retry_after_secs: 2 }),
            job_gone_layer: Layer::Envelope,
            ..Faults::default()
        },
        emulator: |c| c.idle_cancel(Duration::from_millis(1200)),
        jobs: 2,
        extra: |r| assert!(r.events.iter().any(|e| matches!(e, Event::ExportRestarted { .. }))),
        ..Scenario::default()
    },
    job_gone_in_inner_result => Scenario {
        faults: Faults {
            throttle: Some(Throttle { at: 2, retry_after_secs: 2 }),
            job_gone_layer: Layer::Inner,
            ..Faults::default()
        },
        emulator: |c| c.idle_cancel(Duration::from_millis(1200)),
        jobs: 2,
        extra: |r| assert!(r.events.iter().any(|e| matches!(e, Event::ExportRestarted { .. }))),
        ..Scenario::default()
    },
    already_running_in_envelope => Scenario {
        faults: Faults { already_running: Some(Layer::Envelope), ..Faults::default() },
        expect: Expect::Api { status: 409, hint: Hint::ExportAlreadyRunning },
        jobs: 0,
        ..Scenario::default()
    },
    already_running_in_inner_result => Scenario {
        faults: Faults { already_running: Some(Layer::Inner), ..Faults::default() },
        expect: Expect::Fails(|e| e.hint() == Some(Hint::ExportAlreadyRunning)),
        jobs: 0,
        ..Scenario::default()
    },
    already_running_in_status => Scenario {
        faults: Faults { already_running: Some(Layer::Status), ..Faults::default() },
        expect: Expect::Fails(|e| e.hint() == Some(Hint::ExportAlreadyRunning)),
        jobs: 0,
        ..Scenario::default()
    },
    download_429_retry_after => Scenario {
        faults: Faults { first_download_429_secs: Some(1), ..Faults::default() },
        extra: |r| {
            assert!(retried(r, |t| matches!(t, Transient::Throttled { retry_after: Some(d) } if *d == Duration::from_secs(1))), "{:?}: Retry-After not honoured", r.driver);
            assert!(r.elapsed >= Duration::from_secs(1), "{:?}: did not wait", r.driver);
        },
        ..Scenario::default()
    },
    download_breaking_again_and_again => Scenario {
        // 2 MiB cut every 128 KiB: ~16 breaks, far more than the 4 resumptions allowed, each
        // after progress.
        faults: Faults { break_downloads_every_kib: Some(128), ..Faults::default() },
        extra: |r| assert!(r.stats.downloads_truncated > 4, "{:?}: only {} breaks", r.driver, r.stats.downloads_truncated),
        ..Scenario::default()
    },
}

/// The lookups run the same loop: by name, by id, unknown, and the list.
#[test]
fn lookups() {
    let emulator = Emulator::start(
        EmulatorConfig::new()
            .database(DB, sample_db())
            .database_name(DB, DB_NAME),
    )
    .expect("emulator");
    let config = client_config(&emulator, None);
    let account = AccountId::new(emulator.account_id()).expect("account");
    let ureq = d1_export_ureq::Client::new(config.clone()).expect("client");
    let by_name = ureq.find_database(&account, DB_NAME).expect("by name");
    assert_eq!(
        (by_name.uuid.as_str(), by_name.name.as_str()),
        (DB, DB_NAME)
    );
    assert_eq!(ureq.find_database(&account, DB).expect("by id").uuid, DB);
    let missing = ureq.find_database(&account, "nope").unwrap_err();
    assert_eq!(missing.hint(), Some(Hint::NotFound), "{missing}");
    let page = ureq.list_databases(&account, 1, 10).expect("list");
    assert_eq!(page.databases.len(), 1);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let reqwest = d1_export_reqwest::Client::new(config).expect("client");
    runtime.block_on(async {
        let by_name = reqwest
            .find_database(&account, DB_NAME)
            .await
            .expect("by name");
        assert_eq!(by_name.uuid, DB);
        let missing = reqwest.find_database(&account, "nope").await.unwrap_err();
        assert_eq!(missing.hint(), Some(Hint::NotFound));
        let page = reqwest.list_databases(&account, 1, 10).await.expect("list");
        assert_eq!(
            page.databases,
            ureq.list_databases(&account, 1, 10)
                .expect("list")
                .databases
        );
    });
    assert_eq!(emulator.stats().jobs_created, 0);
}

/// Dropping the async export's future mid-download removes the temporary file and leaves an
/// existing destination untouched.
#[test]
fn dropped_async_export_cleans_up() {
    let emulator = Emulator::start(EmulatorConfig::new().database(DB, sample_db()).faults(
        Faults {
            download_kib_per_sec: Some(256),
            ..Faults::default()
        },
    ))
    .expect("emulator");
    let client = d1_export_reqwest::Client::new(client_config(&emulator, None)).expect("client");
    let job = Job {
        account: AccountId::new(emulator.account_id()).expect("account"),
        database: DatabaseId::new(DB).expect("db"),
        options: DumpOptions::default(),
    };
    let dir = tempfile::tempdir().expect("dir");
    let dest = dir.path().join("backup.sql");
    std::fs::write(&dest, PREVIOUS).expect("previous");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let export = client.export_to_path(&job, &dest, move |e| {
            if matches!(e, Event::DownloadProgress { .. }) {
                let _ = tx.send(());
            }
        });
        tokio::select! {
            _ = export => panic!("the export should still be downloading"),
            _ = rx.recv() => {}
        }
        // `export` is dropped here, mid-download.
    });
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["backup.sql"]);
    assert_eq!(std::fs::read(&dest).expect("read"), PREVIOUS);
    assert_eq!(emulator.stats().downloads_with_authorization, 0);
}
