//! Runs both examples, as built, against the emulator: a success and a failure each.

use d1_emulator::{Emulator, EmulatorConfig};
use std::process::Command;

const DB: &str = "0b1c2d3e-0000-4000-8000-000000000001";

fn example(bin: &str, emulator: &Emulator, token: &str, args: &[&str]) -> std::process::Output {
    Command::new(bin)
        .args(args)
        .env("CLOUDFLARE_API_TOKEN", token)
        .env("CLOUDFLARE_ACCOUNT_ID", emulator.account_id())
        .env("CLOUDFLARE_API_BASE_URL", emulator.base_url())
        .output()
        .expect("run the example")
}

#[test]
fn examples_export_and_fail_cleanly() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("app.sqlite");
    d1_emulator::sample::generate(&db, 256 * 1024).expect("sample");
    let emulator = Emulator::start(EmulatorConfig::new().database(DB, &db)).expect("emulator");
    let expected = emulator
        .dump_bytes(DB, &d1_emulator::DumpOptions::default())
        .expect("dump");
    for bin in [
        env!("CARGO_BIN_EXE_sync_export"),
        env!("CARGO_BIN_EXE_async_export"),
        env!("CARGO_BIN_EXE_hyper_export"),
    ] {
        let out = dir.path().join("out.sql");
        let out_s = out.to_str().expect("utf-8 path");
        let run = example(bin, &emulator, emulator.token(), &[DB, out_s]);
        assert!(
            run.status.success(),
            "{bin}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert_eq!(std::fs::read(&out).expect("output"), expected, "{bin}");
        assert!(String::from_utf8_lossy(&run.stdout).contains("bytes"));
        std::fs::remove_file(&out).expect("remove");

        let run = example(bin, &emulator, "wrong-token", &[DB, out_s]);
        assert_eq!(run.status.code(), Some(1), "{bin}");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(stderr.contains("Authentication error"), "{bin}: {stderr}");
        assert!(
            !stderr.contains("wrong-token"),
            "{bin}: the token leaked: {stderr}"
        );
        assert!(!out.exists(), "{bin}: output left after a failure");

        let run = example(bin, &emulator, emulator.token(), &[DB]);
        assert_eq!(run.status.code(), Some(1), "{bin}");
        assert!(String::from_utf8_lossy(&run.stderr).contains("usage"));
    }
    assert_eq!(emulator.stats().jobs_created, 3);
    assert_eq!(emulator.stats().downloads_with_authorization, 0);
}

/// The core on hyper shows live progress: several progress events while one body streams.
#[test]
fn the_hyper_loop_reports_progress_as_the_body_streams() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("app.sqlite");
    d1_emulator::sample::generate(&db, 2 << 20).expect("sample");
    let emulator = Emulator::start(EmulatorConfig::new().database(DB, &db)).expect("emulator");
    let out = dir.path().join("out.sql");
    let run = example(
        env!("CARGO_BIN_EXE_hyper_export"),
        &emulator,
        emulator.token(),
        &[DB, out.to_str().expect("utf-8")],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let progress = stderr
        .lines()
        .filter(|l| l.starts_with("DownloadProgress"))
        .count();
    assert!(progress >= 3, "{progress} progress lines: {stderr}");
    let expected = emulator
        .dump_bytes(DB, &d1_emulator::DumpOptions::default())
        .expect("dump");
    assert_eq!(std::fs::read(&out).expect("output"), expected);
}

/// The retry delays an example's run printed: `retrying in 80.4ms: …` (the drivers' examples)
/// or the `RetryScheduled { …, delay: 80.4ms, … }` events (the hyper loop).
fn retry_delays(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = match l.strip_prefix("retrying in ") {
                Some(rest) => rest,
                None => l.strip_prefix("RetryScheduled")?.split("delay: ").nth(1)?,
            };
            Some(rest.split([':', ',']).next().unwrap_or_default().to_owned())
        })
        .collect()
}

/// Two processes retrying the same failures wait different, random delays: the blocking and
/// async drivers (seeded from the OS by the transport) and the hyper loop (which draws its
/// own seed, as a driver of the core must).
#[test]
fn two_processes_retry_after_different_delays() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("app.sqlite");
    d1_emulator::sample::generate(&db, 64 * 1024).expect("sample");
    let emulator = Emulator::start(EmulatorConfig::new().database(DB, &db).faults(
        d1_emulator::Faults {
            http_503_every: Some(2),
            ..d1_emulator::Faults::default()
        },
    ))
    .expect("emulator");
    for bin in [
        env!("CARGO_BIN_EXE_sync_export"),
        env!("CARGO_BIN_EXE_async_export"),
        env!("CARGO_BIN_EXE_hyper_export"),
    ] {
        let delays: Vec<Vec<String>> = (0..2)
            .map(|i| {
                let out = dir.path().join(format!("{i}.sql"));
                let run = example(
                    bin,
                    &emulator,
                    emulator.token(),
                    &[DB, out.to_str().expect("utf-8")],
                );
                let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
                assert!(run.status.success(), "{bin}: {stderr}");
                retry_delays(&stderr)
            })
            .collect();
        assert!(!delays[0].is_empty(), "{bin}: no retry happened");
        assert_ne!(
            delays[0], delays[1],
            "{bin}: both processes waited the same delays"
        );
    }
}
