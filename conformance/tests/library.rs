//! The drivers as a program embeds them, on both drivers against the emulator: a cancel ends
//! one call within a second in every state (and only that call), futures spawn, errors carry
//! a kind, jitter is random per machine, files are private, the builder takes our own HTTP
//! client. Cancel latencies are printed (`--nocapture`) as figures.
//!
//! Everything here is named through the driver crates alone (`d1_export_ureq::…`,
//! `d1_export_reqwest::…`, the HTTP crates as they re-export them): one dependency is enough.

use d1_emulator::{Emulator, EmulatorConfig, Faults, Stall};
use d1_export_ureq::{
    AccountId, CancelToken, ClientConfig, DatabaseId, DatabaseStatus, DumpOptions, Error,
    ErrorKind, Event, ExportOutcome, FleetOptions, JitterSeed, Job, Pacing, RetryPolicy,
};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const DB: &str = "0b1c2d3e-0000-4000-8000-000000000001";
/// A second database (the same file), so two exports can run at once.
const DB2: &str = "0b1c2d3e-0000-4000-8000-000000000002";

fn sample_db() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let path = dir.join("library-sample-1mib.sqlite");
        if !path.exists() {
            let tmp = dir.join(format!("library-sample.{}.tmp", std::process::id()));
            d1_emulator::sample::generate(&tmp, 1 << 20).expect("generate the sample");
            std::fs::rename(&tmp, &path).expect("place the sample");
        }
        path
    })
}

fn emulator(config: EmulatorConfig) -> Emulator {
    Emulator::start(config.database(DB, sample_db())).expect("emulator")
}

fn job(emulator: &Emulator) -> Job {
    Job {
        account: AccountId::new(emulator.account_id()).expect("account"),
        database: DatabaseId::new(DB).expect("db"),
        options: DumpOptions::default(),
    }
}

fn config_for(base: &str, token: &str) -> ClientConfig {
    d1_export_ureq::Client::builder()
        .api_base(base)
        .token(token)
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(60))
        .pacing(Pacing {
            min_interval: Duration::from_millis(50),
            max_gap: Duration::from_secs(1),
        })
        .retry(RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(500),
            ..RetryPolicy::default()
        })
        .config()
        .expect("config")
}

#[derive(Debug, Clone, Copy)]
enum Driver {
    Ureq,
    Reqwest,
}

const DRIVERS: [Driver; 2] = [Driver::Ureq, Driver::Reqwest];

/// One export to `dest` on `driver`, cancellable through `cancel`; events go to `events`.
fn export(
    driver: Driver,
    config: ClientConfig,
    job: &Job,
    dest: &Path,
    cancel: &CancelToken,
    events: mpsc::Sender<Event>,
) -> Result<ExportOutcome, Error> {
    let on_event = move |e: &Event| {
        let _ = events.send(e.clone());
    };
    match driver {
        Driver::Ureq => d1_export_ureq::Client::new(config)?
            .export_to_path_with_cancel(job, dest, cancel, on_event),
        Driver::Reqwest => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let client = d1_export_reqwest::Client::new(config)?;
            runtime.block_on(client.export_to_path_with_cancel(job, dest, cancel, on_event))
        }
    }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs an export on each driver, cancels it once `ready` says the state is reached (plus a
/// settle time), and checks it ends within a second, cancelled, with nothing left behind.
fn cancel_in_state(
    state: &str,
    base: impl Fn() -> (String, Option<Emulator>),
    ready: Option<fn(&Event) -> bool>,
    settle: Duration,
) {
    for driver in DRIVERS {
        let (base, emulator) = base();
        let job = match &emulator {
            Some(e) => job(e),
            None => Job {
                account: AccountId::new("0123456789abcdef0123456789abcdef").expect("account"),
                database: DatabaseId::new(DB).expect("db"),
                options: DumpOptions::default(),
            },
        };
        let token = emulator.as_ref().map_or("t", |e| e.token()).to_owned();
        let dir = tempfile::tempdir().expect("dir");
        let dest = dir.path().join("backup.sql");
        std::fs::write(&dest, b"previous").expect("previous");
        let cancel = CancelToken::new();
        let (tx, rx) = mpsc::channel();
        let canceller = {
            let cancel = cancel.clone();
            std::thread::spawn(move || {
                let reached = match ready {
                    Some(ready) => rx.iter().any(|e| ready(&e)),
                    // No event marks the state: it is reached once the run starts.
                    None => true,
                };
                std::thread::sleep(settle);
                let at = Instant::now();
                cancel.cancel();
                (reached, at)
            })
        };
        let result = export(
            driver,
            config_for(&base, &token),
            &job,
            &dest,
            &cancel,
            tx.clone(),
        );
        let ended = Instant::now();
        drop(tx);
        let (reached, cancelled_at) = canceller.join().expect("canceller");
        let latency = ended.saturating_duration_since(cancelled_at);
        println!("cancel latency, {state}, {driver:?}: {latency:?}");
        assert!(reached, "{state} {driver:?}: the state was never reached");
        let err = result.expect_err("the export must be cancelled");
        assert_eq!(
            err.kind(),
            ErrorKind::Cancelled,
            "{state} {driver:?}: {err}"
        );
        assert!(
            latency < Duration::from_secs(1),
            "{state} {driver:?}: the cancel took {latency:?}"
        );
        assert_eq!(listing(dir.path()), ["backup.sql"], "{state} {driver:?}");
        assert_eq!(std::fs::read(&dest).expect("read"), b"previous");
    }
}

#[test]
fn a_cancel_ends_a_held_long_poll_within_a_second() {
    cancel_in_state(
        "held long-poll",
        || {
            let e = emulator(
                EmulatorConfig::new()
                    .poll_hold(Duration::from_secs(20))
                    .min_export_time(Duration::from_secs(60)),
            );
            (e.base_url(), Some(e))
        },
        Some(|e| matches!(e, Event::BookmarkLearned(_))),
        Duration::from_millis(500),
    );
}

/// An API base whose connects hang (until their 30 s timeout): a listener whose accept queue
/// is full, so the kernel drops further SYNs.
fn stalled_base() -> String {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .expect("addr")
                .into(),
        )
        .expect("bind");
    socket.listen(0).expect("listen");
    let addr = socket
        .local_addr()
        .expect("addr")
        .as_socket()
        .expect("inet");
    let filler = std::net::TcpStream::connect(addr).expect("fill the queue");
    // Both live as long as the test process: leaked on purpose.
    std::mem::forget((socket, filler));
    format!("http://{addr}/client/v4")
}

#[test]
fn a_cancel_ends_a_connect_in_progress_within_a_second() {
    cancel_in_state(
        "connect in progress",
        || (stalled_base(), None),
        None,
        Duration::from_millis(500),
    );
}

/// A call other than an export, as both drivers run it, cancellable through `cancel`.
#[derive(Debug, Clone, Copy)]
enum Call {
    Find,
    ListPage,
    Bookmark,
    ListAll,
    Fleet,
}

/// Runs `call` on `driver` with its own cancel token; `Ok(n)`: what it found, counted.
fn run_call(
    driver: Driver,
    config: ClientConfig,
    call: Call,
    account: &AccountId,
    dir: &Path,
    cancel: &CancelToken,
) -> Result<usize, Error> {
    let database = DatabaseId::new(DB).expect("db");
    let options = FleetOptions::default();
    match driver {
        Driver::Ureq => {
            let c = d1_export_ureq::Client::new(config)?;
            let shutdown = c.shutdown_token();
            let out = match call {
                Call::Find => c.find_database_with_cancel(account, DB, cancel).map(|_| 1),
                Call::ListPage => c
                    .list_databases_with_cancel(account, 1, 10, cancel)
                    .map(|p| p.databases.len()),
                Call::Bookmark => c
                    .current_bookmark_with_cancel(account, &database, cancel)
                    .map(|_| 1),
                Call::ListAll => c
                    .list_all_databases_with_cancel(account, 10, cancel)
                    .map(|l| l.len()),
                Call::Fleet => c
                    .export_all_with_cancel(
                        account,
                        dir,
                        &options,
                        cancel,
                        &d1_export_ureq::NoHooks,
                    )
                    .map(|r| r.len()),
            };
            assert!(
                !shutdown.is_cancelled(),
                "a call's cancel reached the client"
            );
            out
        }
        Driver::Reqwest => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let c = d1_export_reqwest::Client::new(config)?;
            let shutdown = c.shutdown_token();
            let out = runtime.block_on(async {
                match call {
                    Call::Find => c
                        .find_database_with_cancel(account, DB, cancel)
                        .await
                        .map(|_| 1),
                    Call::ListPage => c
                        .list_databases_with_cancel(account, 1, 10, cancel)
                        .await
                        .map(|p| p.databases.len()),
                    Call::Bookmark => c
                        .current_bookmark_with_cancel(account, &database, cancel)
                        .await
                        .map(|_| 1),
                    Call::ListAll => c
                        .list_all_databases_with_cancel(account, 10, cancel)
                        .await
                        .map(|l| l.len()),
                    Call::Fleet => c
                        .export_all_with_cancel(
                            account,
                            dir,
                            &options,
                            cancel,
                            d1_export_reqwest::NoHooks,
                        )
                        .await
                        .map(|r| r.len()),
                }
            });
            assert!(
                !shutdown.is_cancelled(),
                "a call's cancel reached the client"
            );
            out
        }
    }
}

/// Lookups, listings and fleet runs take a per-call cancel too: against a host whose
/// connects hang, each ends within a second of its cancel, cancelled; the same calls work
/// against the emulator with an uncancelled token.
#[test]
fn a_cancel_ends_a_lookup_a_listing_and_a_fleet_run_within_a_second() {
    let calls = [
        Call::Find,
        Call::ListPage,
        Call::Bookmark,
        Call::ListAll,
        Call::Fleet,
    ];
    let stalled = stalled_base();
    let e = emulator(EmulatorConfig::new());
    let account = AccountId::new(e.account_id()).expect("account");
    for driver in DRIVERS {
        for call in calls {
            let dir = tempfile::tempdir().expect("dir");
            let cancel = CancelToken::new();
            let canceller = {
                let cancel = cancel.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(300));
                    cancel.cancel();
                    Instant::now()
                })
            };
            let result = run_call(
                driver,
                config_for(&stalled, "t"),
                call,
                &account,
                dir.path(),
                &cancel,
            );
            let ended = Instant::now();
            let latency = ended.saturating_duration_since(canceller.join().expect("canceller"));
            println!("cancel latency, {call:?} on a stalled host, {driver:?}: {latency:?}");
            let err = result.expect_err("the call must be cancelled");
            assert_eq!(
                err.kind(),
                ErrorKind::Cancelled,
                "{call:?} {driver:?}: {err}"
            );
            assert!(
                latency < Duration::from_secs(1),
                "{call:?} {driver:?}: the cancel took {latency:?}"
            );
            assert!(listing(dir.path()).is_empty(), "{call:?} {driver:?}");

            let found = run_call(
                driver,
                config_for(&e.base_url(), e.token()),
                call,
                &account,
                dir.path(),
                &CancelToken::new(),
            )
            .unwrap_or_else(|err| panic!("{call:?} {driver:?} on the emulator: {err}"));
            assert_eq!(found, 1, "{call:?} {driver:?}");
        }
    }
}

/// A fleet run cancelled while its exports run: each running export ends cancelled, its
/// temporary file removed, and the run reports them.
#[test]
fn cancelling_a_fleet_run_mid_export_reports_every_export_cancelled() {
    let options = FleetOptions::default();
    for driver in DRIVERS {
        // A fresh service each: the cancelled exports still run on the last one.
        let e = emulator(
            EmulatorConfig::new()
                .database(DB2, sample_db())
                .min_export_time(Duration::from_secs(60)),
        );
        let account = AccountId::new(e.account_id()).expect("account");
        let dir = tempfile::tempdir().expect("dir");
        let config = config_for(&e.base_url(), e.token());
        let cancel = CancelToken::new();
        let canceller = {
            let cancel = cancel.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(700));
                cancel.cancel();
                Instant::now()
            })
        };
        let reports = match driver {
            Driver::Ureq => d1_export_ureq::Client::new(config)
                .expect("client")
                .export_all_with_cancel(
                    &account,
                    dir.path(),
                    &options,
                    &cancel,
                    &d1_export_ureq::NoHooks,
                ),
            Driver::Reqwest => tokio::runtime::Runtime::new().expect("runtime").block_on(
                d1_export_reqwest::Client::new(config)
                    .expect("client")
                    .export_all_with_cancel(
                        &account,
                        dir.path(),
                        &options,
                        &cancel,
                        d1_export_reqwest::NoHooks,
                    ),
            ),
        }
        .expect("the listing was done before the cancel");
        let latency = Instant::now().saturating_duration_since(canceller.join().expect("join"));
        println!("cancel latency, fleet mid-export, {driver:?}: {latency:?}");
        assert!(
            latency < Duration::from_secs(1),
            "{driver:?}: took {latency:?}"
        );
        assert_eq!(reports.len(), 2, "{driver:?}");
        for report in &reports {
            match &report.status {
                DatabaseStatus::Failed(err) => {
                    assert_eq!(err.kind(), ErrorKind::Cancelled, "{driver:?}: {err}");
                }
                other => panic!("{driver:?}: {other:?}"),
            }
        }
        assert!(
            listing(dir.path()).is_empty(),
            "{driver:?}: {:?}",
            listing(dir.path())
        );
    }
}

#[test]
fn a_cancel_ends_the_wait_for_a_download_head_within_a_second() {
    cancel_in_state(
        "download head wait",
        || {
            let e = emulator(EmulatorConfig::new().faults(Faults {
                stall_download: Some(Stall::BeforeHead),
                ..Faults::default()
            }));
            (e.base_url(), Some(e))
        },
        Some(|e| matches!(e, Event::DownloadStarted { .. })),
        Duration::from_millis(500),
    );
}

#[test]
fn a_cancel_ends_a_stalled_body_read_within_a_second() {
    cancel_in_state(
        "stalled body",
        || {
            let e = emulator(EmulatorConfig::new().faults(Faults {
                stall_download: Some(Stall::AfterBytes(300 * 1024)),
                ..Faults::default()
            }));
            (e.base_url(), Some(e))
        },
        Some(|e| matches!(e, Event::DownloadProgress { .. })),
        Duration::from_millis(500),
    );
}

/// Cancelling one call leaves the client's other calls running, and later calls work.
#[test]
fn cancelling_one_export_leaves_the_others_and_later_calls_alone() {
    let e = emulator(
        EmulatorConfig::new()
            .database(DB2, sample_db())
            .min_export_time(Duration::from_millis(800)),
    );
    let config = config_for(&e.base_url(), e.token());
    let other = Job {
        database: DatabaseId::new(DB2).expect("db2"),
        ..job(&e)
    };
    let job = job(&e);
    let dir = tempfile::tempdir().expect("dir");
    let (a, b, c) = (
        dir.path().join("a.sql"),
        dir.path().join("b.sql"),
        dir.path().join("c.sql"),
    );

    let client = d1_export_ureq::Client::new(config.clone()).expect("client");
    let (cancel_a, cancel_b) = (CancelToken::new(), CancelToken::new());
    let (ra, rb) = std::thread::scope(|s| {
        let ta = s.spawn(|| client.export_to_path_with_cancel(&job, &a, &cancel_a, |_| {}));
        let tb = s.spawn(|| {
            client
                .clone()
                .export_to_path_with_cancel(&other, &b, &cancel_b, |_| {})
        });
        std::thread::sleep(Duration::from_millis(200));
        cancel_a.cancel();
        (ta.join().expect("a"), tb.join().expect("b"))
    });
    assert_eq!(ra.expect_err("a is cancelled").kind(), ErrorKind::Cancelled);
    assert!(rb.is_ok(), "ureq: b was hit by a's cancel: {rb:?}");
    // DB's cancelled export runs on the service until it is reaped: DB2 again.
    client
        .export_to_path(&other, &c, |_| {})
        .expect("ureq: a later call works");

    // A fresh service: DB's cancelled export still runs on this one.
    let e = emulator(
        EmulatorConfig::new()
            .database(DB2, sample_db())
            .min_export_time(Duration::from_millis(800)),
    );
    let config = config_for(&e.base_url(), e.token());
    let (job, other) = (
        Job {
            account: AccountId::new(e.account_id()).expect("account"),
            ..job.clone()
        },
        other.clone(),
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let client = d1_export_reqwest::Client::new(config).expect("client");
    runtime.block_on(async {
        let cancel_a = CancelToken::new();
        // Spawned exactly as a tokio user writes it: the futures own what they need.
        let ta = tokio::spawn(client.export_to_path_with_cancel(
            &job,
            "/nonexistent/none",
            &cancel_a,
            |_| {},
        ));
        let tb = tokio::spawn(client.clone().export_to_path(&other, b.clone(), |_| {}));
        let a = tokio::spawn(client.export_to_path_with_cancel(&job, a.clone(), &cancel_a, |_| {}));
        tokio::time::sleep(Duration::from_millis(200)).await;
        cancel_a.cancel();
        assert_eq!(
            ta.await.expect("join").expect_err("no such dir").kind(),
            ErrorKind::Output
        );
        assert_eq!(
            a.await.expect("join").expect_err("cancelled").kind(),
            ErrorKind::Cancelled
        );
        tb.await
            .expect("join")
            .expect("reqwest: b was hit by a's cancel");
        client
            .export_to_path(&other, c.clone(), |_| {})
            .await
            .expect("reqwest: a later call works");
    });
    // The client-wide shutdown is still there, named as such.
    let client = d1_export_ureq::Client::new(config_for(&e.base_url(), e.token())).expect("c");
    client.shutdown_token().cancel();
    let err = client.export_to_path(&job, &c, |_| {}).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
}

/// The first retry delay of each export, with 503s on every second API request.
fn first_delays(driver: Driver, jitter: JitterSeed, runs: usize) -> Vec<Duration> {
    let e = emulator(EmulatorConfig::new().faults(Faults {
        http_503_every: Some(2),
        ..Faults::default()
    }));
    let dir = tempfile::tempdir().expect("dir");
    (0..runs)
        .map(|i| {
            let (tx, rx) = mpsc::channel();
            let config = config_for(&e.base_url(), e.token()).jitter(jitter);
            let dest = dir.path().join(format!("{i}.sql"));
            export(driver, config, &job(&e), &dest, &CancelToken::new(), tx).expect("export");
            rx.try_iter()
                .find_map(|e| match e {
                    Event::RetryScheduled { delay, .. } => Some(delay),
                    _ => None,
                })
                .expect("a retry")
        })
        .collect()
}

#[test]
fn exports_in_one_process_retry_after_different_delays_unless_seeded() {
    for driver in DRIVERS {
        let random = first_delays(driver, JitterSeed::FromOs, 3);
        assert!(
            random[0] != random[1] || random[1] != random[2],
            "{driver:?}: the same delay three times: {random:?}"
        );
        let pinned = first_delays(driver, JitterSeed::Fixed(42), 2);
        assert_eq!(
            pinned[0], pinned[1],
            "{driver:?}: a fixed seed is deterministic"
        );
    }
}

#[test]
fn errors_carry_a_kind_and_a_status() {
    let e = emulator(EmulatorConfig::new());
    let dir = tempfile::tempdir().expect("dir");
    let dest = dir.path().join("x.sql");
    for driver in DRIVERS {
        let (tx, _rx) = mpsc::channel();
        let err = export(
            driver,
            config_for(&e.base_url(), "wrong-token"),
            &job(&e),
            &dest,
            &CancelToken::new(),
            tx.clone(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth, "{driver:?}: {err}");
        assert!(matches!(err.status(), Some(401 | 403)), "{driver:?}: {err}");
        let mut unknown = job(&e);
        unknown.database = DatabaseId::new("0b1c2d3e-0000-4000-8000-0000000000ff").expect("id");
        let err = export(
            driver,
            config_for(&e.base_url(), e.token()),
            &unknown,
            &dest,
            &CancelToken::new(),
            tx.clone(),
        )
        .unwrap_err();
        assert_eq!(
            (err.kind(), err.status()),
            (ErrorKind::NotFound, Some(404)),
            "{driver:?}: {err}"
        );
        let before = e
            .stats()
            .requests
            .values()
            .flat_map(|m| m.values())
            .sum::<u64>();
        let missing = dir.path().join("no/such/dir/x.sql");
        let err = export(
            driver,
            config_for(&e.base_url(), e.token()),
            &job(&e),
            &missing,
            &CancelToken::new(),
            tx,
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Output, "{driver:?}: {err}");
        let after = e
            .stats()
            .requests
            .values()
            .flat_map(|m| m.values())
            .sum::<u64>();
        assert_eq!(
            before, after,
            "{driver:?}: a request was made for an unwritable output"
        );
        assert!(!format!("{err:#}").contains("wrong-token"));
    }
}

/// The fail-fast preset gives up on a dead host quickly; the figure is printed.
#[test]
fn the_fail_fast_preset_gives_up_on_a_dead_host_quickly() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let base = format!("http://127.0.0.1:{port}/client/v4");
    for driver in DRIVERS {
        let config = d1_export_ureq::Client::builder()
            .api_base(base.as_str())
            .token("t")
            .fail_fast()
            .config()
            .expect("config");
        let started = Instant::now();
        let (tx, _rx) = mpsc::channel();
        let dir = tempfile::tempdir().expect("dir");
        let job = Job {
            account: AccountId::new("0123456789abcdef0123456789abcdef").expect("account"),
            database: DatabaseId::new(DB).expect("db"),
            options: DumpOptions::default(),
        };
        let err = export(
            driver,
            config,
            &job,
            &dir.path().join("x.sql"),
            &CancelToken::new(),
            tx,
        )
        .unwrap_err();
        let took = started.elapsed();
        println!("fail-fast on a dead host, {driver:?}: {took:?} ({err})");
        assert_eq!(err.kind(), ErrorKind::Network, "{driver:?}: {err}");
        assert!(took < Duration::from_secs(5), "{driver:?}: took {took:?}");
    }
}

#[cfg(unix)]
#[test]
fn dumps_are_private_replacements_keep_their_mode_and_stale_parts_go() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    let e = emulator(EmulatorConfig::new());
    for driver in DRIVERS {
        let dir = tempfile::tempdir().expect("dir");
        let dest = dir.path().join("backup.sql");
        let stale = dir.path().join(".backup.sql.00000000deadbeef.part");
        std::fs::write(&stale, b"left by a crashed run").expect("stale");
        let (tx, _rx) = mpsc::channel();
        let config = config_for(&e.base_url(), e.token());
        export(
            driver,
            config.clone(),
            &job(&e),
            &dest,
            &CancelToken::new(),
            tx.clone(),
        )
        .expect("export");
        assert_eq!(mode(&dest), 0o600, "{driver:?}: a new dump is owner-only");
        assert!(!stale.exists(), "{driver:?}: the stale part is removed");
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        export(driver, config, &job(&e), &dest, &CancelToken::new(), tx).expect("export");
        assert_eq!(
            mode(&dest),
            0o640,
            "{driver:?}: the replaced file's mode is kept"
        );
        assert_eq!(listing(dir.path()), ["backup.sql"]);
    }
}

/// A caller's own HTTP client, with the documented settings, runs an export.
#[test]
fn the_builder_takes_our_own_http_client() {
    let e = emulator(EmulatorConfig::new());
    let dir = tempfile::tempdir().expect("dir");
    let expected = e
        .dump_bytes(DB, &d1_emulator::DumpOptions::default())
        .expect("dump");

    // The HTTP crates as the drivers re-export them: always the versions they are built on.
    let agent: d1_export_ureq::ureq::Agent = d1_export_ureq::ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .build()
        .into();
    let client = d1_export_ureq::Client::builder()
        .api_base(e.base_url())
        .token(e.token())
        .http_client(agent)
        .build()
        .expect("ureq client");
    let out = dir.path().join("ureq.sql");
    client
        .export_to_path(&job(&e), &out, |_| {})
        .expect("ureq export");
    assert_eq!(std::fs::read(&out).expect("read"), expected);

    let http = d1_export_reqwest::reqwest::Client::builder()
        .redirect(d1_export_reqwest::reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(60))
        .build()
        .expect("reqwest");
    let client = d1_export_reqwest::Client::builder()
        .api_base(e.base_url())
        .token(e.token())
        .http_client(http)
        .build()
        .expect("reqwest client");
    let out = dir.path().join("reqwest.sql");
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(client.export_to_path(&job(&e), out.clone(), |_| {}))
        .expect("reqwest export");
    assert_eq!(std::fs::read(&out).expect("read"), expected);
    assert_eq!(e.stats().downloads_with_authorization, 0);
}

/// Every type the drivers' API takes or returns is named through the driver crate alone
/// (this fails by not compiling), and both drivers re-export the same types.
#[test]
fn each_driver_reexports_every_type_of_its_api() {
    /// Never called: the calls' types, spelled through `d1_export_ureq` only.
    #[allow(dead_code)]
    fn ureq_types(
        c: &d1_export_ureq::Client,
        a: &AccountId,
        d: &DatabaseId,
        feed: d1_export_ureq::Feed,
    ) {
        let _: Result<d1_export_ureq::DatabaseInfo, Error> = c.find_database(a, "app");
        let _: Result<d1_export_ureq::Page, Error> = c.list_databases(a, 1, 10);
        let _: Result<d1_export_ureq::ImportOutcome, Error> =
            c.import_from_path(a, d, "in.sql", |_| {});
        let reports: Result<Vec<d1_export_ureq::DatabaseReport>, Error> = c.export_all(
            a,
            Path::new("."),
            &FleetOptions::default(),
            &d1_export_ureq::NoHooks,
        );
        if let Ok(r) = reports {
            let _: &DatabaseStatus = &r[0].status;
        }
        let _ = c.export_to_feed(&job_for(a, d), feed, &CancelToken::new(), |_| {});
    }
    /// Never called: the same through `d1_export_reqwest` only.
    #[allow(dead_code)]
    async fn reqwest_types(
        c: &d1_export_reqwest::Client,
        a: &d1_export_reqwest::AccountId,
        d: &d1_export_reqwest::DatabaseId,
        feed: d1_export_reqwest::Feed,
    ) {
        let _: Result<d1_export_reqwest::DatabaseInfo, d1_export_reqwest::Error> =
            c.find_database(a, "app").await;
        let _: Result<d1_export_reqwest::Page, _> = c.list_databases(a, 1, 10).await;
        let _: Result<d1_export_reqwest::ImportOutcome, _> =
            c.import_from_path(a, d, "in.sql", |_| {}).await;
        let options = d1_export_reqwest::FleetOptions::default();
        let reports: Result<Vec<d1_export_reqwest::DatabaseReport>, _> = c
            .export_all(a, ".", &options, d1_export_reqwest::NoHooks)
            .await;
        if let Ok(r) = reports {
            let _: &d1_export_reqwest::DatabaseStatus = &r[0].status;
        }
        let cancel = d1_export_reqwest::CancelToken::new();
        let _ = c
            .export_to_feed(&job_for(a, d), feed, &cancel, |_| {})
            .await;
    }
    fn job_for(a: &AccountId, d: &DatabaseId) -> Job {
        Job {
            account: a.clone(),
            database: d.clone(),
            options: DumpOptions::default(),
        }
    }
    fn hooks<H: d1_export_ureq::FleetHooks>(_: &H) {}

    let ureq = d1_export_ureq::Client::builder()
        .api_base("http://127.0.0.1:9/client/v4")
        .token("t")
        .download(d1_export_ureq::DownloadPolicy {
            max_resumes: 1,
            max_url_refreshes: 1,
        })
        .build()
        .expect("ureq");
    // The same types in both: a setting of one driver fits the other.
    let reqwest = d1_export_reqwest::Client::builder()
        .api_base("http://127.0.0.1:9/client/v4")
        .token("t")
        .download(ureq.config().core.download)
        .build()
        .expect("reqwest");
    let download: d1_export_reqwest::DownloadPolicy = reqwest.config().core.download;
    assert_eq!(download.max_resumes, 1);
    hooks(&d1_export_reqwest::NoHooks);
    // A refused token's hint, typed, through the driver crate.
    let e = emulator(EmulatorConfig::new());
    let err = ureq_client(&e.base_url(), "wrong-token")
        .find_database(&AccountId::new(e.account_id()).expect("account"), DB)
        .expect_err("a wrong token");
    let hint: Option<d1_export_ureq::Hint> = err.hint();
    assert!(hint.is_some(), "{err}: no hint");
    let _: Option<d1_export_reqwest::Hint> = hint;
}

fn ureq_client(base: &str, token: &str) -> d1_export_ureq::Client {
    d1_export_ureq::Client::new(config_for(base, token)).expect("client")
}
