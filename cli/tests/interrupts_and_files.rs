//! Ctrl-C and SIGTERM end an export within a second in every state, on both drivers, leaving
//! nothing but what was there; files are private; the output directory is checked before
//! any request; text from the service reaches stderr without control characters. The
//! signal-to-exit times are printed (`--nocapture`) as figures.

use d1_emulator::{Emulator, EmulatorConfig, Faults, Stall};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DB: &str = "c11c11c1-0000-4000-8000-000000000001";
const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";
const DRIVERS: [&str; 2] = ["blocking", "async"];

fn sample(dir: &Path) -> PathBuf {
    let path = dir.join("shop.sqlite");
    if !path.exists() {
        d1_emulator::sample::generate(&path, 1 << 20).expect("sample");
    }
    path
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn command(base: &str, token: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_d1-export"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("CLOUDFLARE_API_TOKEN", token)
        .env("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
        .env("CLOUDFLARE_API_BASE_URL", base)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Sends `signals` to `child`, 50 ms apart; returns when the first went.
fn send_signals(child: &Child, signals: &[&str]) -> Instant {
    let sent = Instant::now();
    for (i, name) in signals.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
        signal(child, name);
    }
    sent
}

/// What a state needs: an API base (and the emulator behind it), and a way to know it is
/// reached.
struct State {
    name: &'static str,
    base: String,
    emulator: Option<Emulator>,
    reached: fn(&Option<Emulator>, &Path) -> bool,
}

fn with_emulator(
    name: &'static str,
    dir: &Path,
    config: EmulatorConfig,
    reached: fn(&Option<Emulator>, &Path) -> bool,
) -> State {
    let emulator = Emulator::start(config.database(DB, sample(dir))).expect("emulator");
    State {
        name,
        base: emulator.base_url(),
        emulator: Some(emulator),
        reached,
    }
}

fn job_started(e: &Option<Emulator>, _: &Path) -> bool {
    e.as_ref().is_some_and(|e| e.stats().jobs_created > 0)
}

fn job_completed(e: &Option<Emulator>, _: &Path) -> bool {
    e.as_ref().is_some_and(|e| e.stats().jobs_completed > 0)
}

fn body_stalled(e: &Option<Emulator>, out: &Path) -> bool {
    job_completed(e, out) && files_in(out).iter().any(|n| n.ends_with(".part"))
}

fn states(dir: &Path) -> Vec<State> {
    let listener = {
        // A full accept queue: the kernel drops further SYNs, so a connect hangs.
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
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
        std::mem::forget((socket, filler));
        addr
    };
    vec![
        with_emulator(
            "held long-poll",
            dir,
            EmulatorConfig::new()
                .poll_hold(Duration::from_secs(20))
                .min_export_time(Duration::from_secs(60)),
            job_started,
        ),
        with_emulator(
            "download head wait",
            dir,
            EmulatorConfig::new().faults(Faults {
                stall_download: Some(Stall::BeforeHead),
                ..Faults::default()
            }),
            job_completed,
        ),
        with_emulator(
            "stalled body",
            dir,
            EmulatorConfig::new().faults(Faults {
                stall_download: Some(Stall::AfterBytes(100 * 1024)),
                ..Faults::default()
            }),
            body_stalled,
        ),
        State {
            name: "connect in progress",
            base: format!("http://{listener}/client/v4"),
            emulator: None,
            reached: |_, _| true,
        },
    ]
}

/// Starts an export to `out/c.sql` (over a previous file), waits for the state, sends
/// `signals` (50 ms apart), and returns the time from the first signal to the exit.
fn interrupt(state: &State, driver: &str, out: &Path, signals: &[&str]) -> Duration {
    let dest = out.join("c.sql");
    std::fs::write(&dest, b"previous backup").expect("previous");
    let token = state
        .emulator
        .as_ref()
        .map_or("t", |e| e.token())
        .to_owned();
    let mut c = command(&state.base, &token);
    c.arg(DB).arg("-o").arg(&dest).args(["--driver", driver]);
    let child = c.spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(state.reached)(&state.emulator, out) {
        assert!(Instant::now() < deadline, "{}: never reached", state.name);
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(400));
    let sent = send_signals(&child, signals);
    let o = child.wait_with_output().expect("wait");
    let took = sent.elapsed();
    let what = format!("{} / {driver} / {signals:?}", state.name);
    assert_eq!(
        o.status.code(),
        Some(130),
        "{what}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        files_in(out),
        ["c.sql"],
        "{what}: the temporary file is left"
    );
    assert_eq!(
        std::fs::read(&dest).expect("read"),
        b"previous backup",
        "{what}"
    );
    println!("signal to exit, {what}: {took:?}");
    took
}

#[test]
fn sigint_and_sigterm_end_an_export_within_a_second_in_every_state() {
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).expect("out");
    // A fresh service per run: an interrupted export stays active on its service.
    for (driver, signal) in DRIVERS.iter().zip(["INT", "TERM"]) {
        for state in states(dir.path()) {
            let took = interrupt(&state, driver, &out, &[signal]);
            assert!(
                took < Duration::from_secs(1),
                "{}/{driver}: {took:?}",
                state.name
            );
        }
    }
}

#[test]
fn a_second_signal_also_cleans_up() {
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).expect("out");
    let stalled = states(dir.path()).swap_remove(2);
    assert_eq!(stalled.name, "stalled body");
    for driver in DRIVERS {
        let took = interrupt(&stalled, driver, &out, &["INT", "INT"]);
        assert!(took < Duration::from_secs(1), "{driver}: {took:?}");
    }
}

#[cfg(unix)]
#[test]
fn dumps_and_manifests_are_private_and_keep_a_replaced_mode() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    let dir = tempfile::tempdir().expect("dir");
    let emulator =
        Emulator::start(EmulatorConfig::new().database(DB, sample(dir.path()))).expect("emu");
    for driver in DRIVERS {
        let out = dir.path().join(driver);
        std::fs::create_dir_all(&out).expect("out");
        let dest = out.join("b.sql");
        let manifest = out.join("b.sql.manifest.json");
        let stale = out.join(".b.sql.0123456789abcdef.part");
        std::fs::write(&stale, b"a crashed run's").expect("stale");
        let mut c = command(&emulator.base_url(), emulator.token());
        c.arg(DB).arg("-o").arg(&dest).args(["--driver", driver]);
        let o = c.output().expect("run");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!((mode(&dest), mode(&manifest)), (0o600, 0o600), "{driver}");
        assert_eq!(files_in(&out), ["b.sql", "b.sql.manifest.json"], "{driver}");
        for p in [&dest, &manifest] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        }
        let mut c = command(&emulator.base_url(), emulator.token());
        c.arg(DB).arg("-o").arg(&dest).args(["--driver", driver]);
        assert!(c.output().expect("run").status.success());
        assert_eq!((mode(&dest), mode(&manifest)), (0o640, 0o640), "{driver}");
    }
}

#[test]
fn an_unwritable_output_fails_before_any_request() {
    let dir = tempfile::tempdir().expect("dir");
    let emulator = Emulator::start(
        EmulatorConfig::new()
            .database(DB, sample(dir.path()))
            .database_name(DB, "shop"),
    )
    .expect("emu");
    for driver in DRIVERS {
        // By name: without the early check, the lookup would go out first.
        let mut c = command(&emulator.base_url(), emulator.token());
        c.arg("shop")
            .arg("-o")
            .arg(dir.path().join("missing/dir/b.sql"))
            .args(["--driver", driver]);
        let o = c.output().expect("run");
        assert_eq!(
            o.status.code(),
            Some(6),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let stats = emulator.stats();
        assert_eq!(
            stats
                .requests
                .values()
                .flat_map(|m| m.values())
                .sum::<u64>(),
            0
        );
    }
}

#[test]
fn text_from_the_service_reaches_stderr_without_control_characters() {
    let dir = tempfile::tempdir().expect("dir");
    let hostile = "evil\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\r\nFAKE LINE";
    // With -vv each service log line is shown after the database's name.
    let emulator = Emulator::start(
        EmulatorConfig::new()
            .database(DB, sample(dir.path()))
            .database_name(DB, hostile),
    )
    .expect("emu");
    // --verify: the restore-ready steps name the database too.
    for (driver, flags) in DRIVERS
        .iter()
        .flat_map(|d| [(*d, &[][..]), (*d, &["--verify"])])
    {
        let out = dir.path().join(format!("all-{driver}-{}", flags.len()));
        let mut c = command(&emulator.base_url(), emulator.token());
        c.args(["--all", "--output-dir"])
            .arg(&out)
            .args(["--driver", driver, "-vv"])
            .args(flags);
        let o = c.output().expect("run");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{driver} {flags:?}: {stderr}");
        assert!(
            stderr.contains("evil"),
            "{driver}: the name is not shown: {stderr}"
        );
        for bad in ['\u{1b}', '\u{7}', '\u{9b}', '\r'] {
            assert!(
                !stderr.contains(bad),
                "{driver}: {bad:?} reached stderr: {stderr:?}"
            );
        }
        assert!(
            !stderr.lines().any(|l| l.starts_with("FAKE LINE")),
            "{driver}: the service forged a line: {stderr}"
        );
    }
}

#[test]
fn a_signal_while_the_dump_is_verified_leaves_nothing_behind() {
    // The scratch database and the downloaded dump are temporary files too: gone after a
    // signal, whether the run ends by itself (one signal) or at once (two).
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("big.sqlite");
    d1_emulator::sample::generate(&db, 16 << 20).expect("sample");
    let emulator = Emulator::start(EmulatorConfig::new().database(DB, &db)).expect("emu");
    for (driver, signals) in [("blocking", &["INT"][..]), ("async", &["INT", "INT"])] {
        let out = dir
            .path()
            .join(format!("verify-{driver}-{}", signals.len()));
        std::fs::create_dir_all(&out).expect("out");
        let dest = out.join("c.sqlite");
        std::fs::write(&dest, b"previous backup").expect("previous");
        let mut c = command(&emulator.base_url(), emulator.token());
        c.arg(DB)
            .arg("-o")
            .arg(&dest)
            .args(["--format", "sqlite", "--driver", driver]);
        let child = c.spawn().expect("spawn");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !files_in(&out).iter().any(|n| n.ends_with(".scratch.tmp")) {
            assert!(Instant::now() < deadline, "{driver}: never verified");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(100));
        let sent = send_signals(&child, signals);
        let o = child.wait_with_output().expect("wait");
        let took = sent.elapsed();
        let what = format!("{driver} / {signals:?}");
        println!("signal to exit while verifying, {what}: {took:?}");
        assert!(took < Duration::from_secs(1), "{what}: {took:?}");
        assert_eq!(
            o.status.code(),
            Some(130),
            "{what}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(files_in(&out), ["c.sqlite"], "{what}: temporary files left");
        assert_eq!(std::fs::read(&dest).expect("read"), b"previous backup");
    }
}
