//! `d1-export --all` against an emulator holding many databases, under a small shared budget.

use d1_emulator::{DumpOptions as EmuOptions, Emulator, EmulatorConfig, Faults, RateLimit};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn uuid(i: usize) -> String {
    format!("f1ee7000-0000-4000-8000-{i:012}")
}

fn emulator(dir: &Path, count: usize, faults: Faults) -> Emulator {
    emulator_with(dir, count, faults, |c| c)
}

fn emulator_with(
    dir: &Path,
    count: usize,
    faults: Faults,
    tweak: impl FnOnce(EmulatorConfig) -> EmulatorConfig,
) -> Emulator {
    let db = dir.join("tiny.sqlite");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES(1,'a'),(2,'it''s');",
    )
    .unwrap();
    drop(c);
    let mut config = EmulatorConfig::new()
        .work_dir(dir.join("emu"))
        .polls_before_complete(1)
        .poll_hold(Duration::from_millis(20))
        .faults(faults);
    for i in 0..count {
        let path = dir.join(format!("db{i}.sqlite"));
        std::fs::copy(&db, &path).unwrap();
        config = config
            .database(uuid(i), &path)
            .database_name(&uuid(i), format!("app-{i:03}"));
    }
    Emulator::start(tweak(config)).unwrap()
}

fn run(emulator: &Emulator, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_d1-export"))
        .env_clear()
        .env("CLOUDFLARE_API_TOKEN", emulator.token())
        .env("CLOUDFLARE_ACCOUNT_ID", emulator.account_id())
        .env("CLOUDFLARE_API_BASE_URL", emulator.base_url())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn check_all_exported(emulator: &Emulator, out: &Path, count: usize) {
    for i in 0..count {
        let file = out.join(format!("app-{i:03}-{}.sql", uuid(i)));
        let got = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            got == emulator
                .dump_bytes(&uuid(i), &EmuOptions::default())
                .unwrap(),
            "{}",
            file.display()
        );
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(format!("{}.manifest.json", file.display())).unwrap(),
        )
        .unwrap();
        assert_eq!(manifest["database_id"], uuid(i));
        assert_eq!(manifest["bytes"], got.len() as u64);
    }
}

#[test]
fn every_database_once_within_the_budget_on_both_drivers() {
    const N: usize = 24;
    for (driver, concurrency) in [("async", "4"), ("blocking", "3")] {
        let dir = tempfile::tempdir().unwrap();
        // The service allows 30 requests a second; our budget is 25 a second.
        let faults = Faults {
            rate_limit: Some(RateLimit {
                requests: 30,
                window: Duration::from_secs(1),
            }),
            ..Faults::default()
        };
        let emu = emulator(dir.path(), N, faults);
        let out = dir.path().join("out");
        let o = run(
            &emu,
            &[
                "--all",
                "--output-dir",
                out.to_str().unwrap(),
                "--concurrency",
                concurrency,
                "--rate-limit",
                "25/1",
                "--driver",
                driver,
                "--json",
            ],
        );
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{driver}: {stderr}");
        let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(summary["totals"]["exported"], N, "{summary}");
        assert_eq!(summary["totals"]["failed"], 0);
        check_all_exported(&emu, &out, N);
        let stats = emu.stats();
        assert_eq!(
            stats.jobs_created, N as u64,
            "{driver}: one job per database"
        );
        assert_eq!(
            stats.requests_with_status(429),
            0,
            "{driver}: the budget kept under the limit"
        );
        assert_eq!(stats.downloads_with_authorization, 0);
    }
}

/// The case that once lost every export: twelve databases, twelve at once allowed, one
/// request a second, and a service that cancels an export not polled for 8 s. The budget can
/// keep five polled within the 5 s gap, so five run at a time, and none is cancelled.
#[test]
fn a_tight_budget_runs_only_what_it_can_keep_polled_and_loses_no_export() {
    const N: usize = 12;
    for driver in ["async", "blocking"] {
        let dir = tempfile::tempdir().unwrap();
        let emu = emulator_with(dir.path(), N, Faults::default(), |c| {
            c.idle_cancel(Duration::from_secs(8))
                .polls_before_complete(2)
                .min_export_time(Duration::from_secs(6))
        });
        let out = dir.path().join("out");
        let o = run(
            &emu,
            &[
                "--all",
                "--output-dir",
                out.to_str().unwrap(),
                "--concurrency",
                "12",
                "--rate-limit",
                "1/1",
                "--driver",
                driver,
                "--json",
            ],
        );
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{driver}: {stderr}");
        let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(summary["totals"]["exported"], N, "{driver}: {summary}");
        check_all_exported(&emu, &out, N);
        let stats = emu.stats();
        assert_eq!(stats.jobs_cancelled, 0, "{driver}: no export cancelled");
        assert_eq!(
            stats.jobs_created, N as u64,
            "{driver}: one job per database"
        );
        assert_eq!(stats.requests_with_status(429), 0);
    }
}

#[test]
fn a_budget_above_the_real_limit_meets_few_429s_and_still_finishes() {
    const N: usize = 12;
    let dir = tempfile::tempdir().unwrap();
    let faults = Faults {
        rate_limit: Some(RateLimit {
            requests: 8,
            window: Duration::from_secs(1),
        }),
        ..Faults::default()
    };
    let emu = emulator(dir.path(), N, faults);
    let out = dir.path().join("out");
    let o = run(
        &emu,
        &[
            "--all",
            "--output-dir",
            out.to_str().unwrap(),
            "--concurrency",
            "4",
            "--rate-limit",
            "1000/1",
            "-q",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    check_all_exported(&emu, &out, N);
    let stats = emu.stats();
    let throttled = stats.requests_with_status(429);
    let api_requests: u64 = stats
        .requests
        .iter()
        .filter(|(route, _)| !route.contains("__download"))
        .map(|(_, by)| by.values().sum::<u64>())
        .sum();
    // Every 429 blocks all exports until Retry-After: no storm, a few per window at most.
    assert!(
        throttled <= 4 * (api_requests / 8 + 1),
        "{throttled} 429s for {api_requests} requests"
    );
    assert_eq!(stats.jobs_created, N as u64);
}

#[test]
fn filters_skip_unchanged_and_failures() {
    const N: usize = 6;
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), N, Faults::default());
    let out = dir.path().join("out");
    let o = run(
        &emu,
        &[
            "--all",
            "--output-dir",
            out.to_str().unwrap(),
            "--include",
            "app-00?",
            "--exclude",
            "app-005",
            "-q",
        ],
    );
    assert!(o.status.success());
    let mut files: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".sql"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 5, "{files:?}");
    assert!(!files.iter().any(|f| f.starts_with("app-005")));
    // Nothing changed: everything is skipped, no export started.
    let before = emu.stats().jobs_created;
    let o = run(
        &emu,
        &[
            "--all",
            "--output-dir",
            out.to_str().unwrap(),
            "--skip-unchanged",
            "--json",
            "--exclude",
            "app-005",
        ],
    );
    assert!(o.status.success());
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["totals"]["skipped"], 5, "{summary}");
    assert_eq!(emu.stats().jobs_created, before);
    // A database that changed is exported again.
    let c = rusqlite::Connection::open(dir.path().join("db2.sqlite")).unwrap();
    c.execute("INSERT INTO t VALUES(3,'new')", []).unwrap();
    drop(c);
    let o = run(
        &emu,
        &[
            "--all",
            "--output-dir",
            out.to_str().unwrap(),
            "--skip-unchanged",
            "--json",
            "--exclude",
            "app-005",
        ],
    );
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["totals"]["exported"], 1, "{summary}");
    assert_eq!(summary["totals"]["skipped"], 4);
    // A wrong token: every database fails, the exit code says so, nothing is left behind.
    let out2 = dir.path().join("out2");
    let o = Command::new(env!("CARGO_BIN_EXE_d1-export"))
        .env_clear()
        .env("CLOUDFLARE_API_TOKEN", "wrong")
        .env("CLOUDFLARE_ACCOUNT_ID", emu.account_id())
        .env("CLOUDFLARE_API_BASE_URL", emu.base_url())
        .args(["--all", "--output-dir", out2.to_str().unwrap(), "-q"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
