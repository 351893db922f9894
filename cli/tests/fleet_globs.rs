//! `--include`/`--exclude` globs of `d1-export --all`: the full glob syntax selects databases,
//! and a pattern that is not a glob is a usage error before any request.

use d1_emulator::{Emulator, EmulatorConfig};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const NAMES: [&str; 5] = ["prod-eu", "prod-us", "staging-eu", "dev-1", "dev-old"];

fn emulator(dir: &std::path::Path) -> Emulator {
    let db = dir.join("tiny.sqlite");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES(1);")
        .unwrap();
    drop(c);
    let mut config = EmulatorConfig::new()
        .work_dir(dir.join("emu"))
        .polls_before_complete(1)
        .poll_hold(Duration::from_millis(10));
    for (i, name) in NAMES.iter().enumerate() {
        let id = format!("91ab0000-0000-4000-8000-{i:012}");
        config = config.database(&id, &db).database_name(&id, *name);
    }
    Emulator::start(config).unwrap()
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

fn exported(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .map(|n| n.split("-91ab").next().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn alternatives_classes_and_excludes_select_databases() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path());
    let cases: [(&[&str], &[&str]); 3] = [
        (
            &["--include", "{prod,staging}-*", "--exclude", "*-us"],
            &["prod-eu", "staging-eu"],
        ),
        (&["--include", "dev-[0-9]"], &["dev-1"]),
        (
            &["--exclude", "prod-*", "--exclude", "dev-?"],
            &["dev-old", "staging-eu"],
        ),
    ];
    for (i, (globs, want)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("out{i}"));
        let mut args = vec!["--all", "--output-dir", out.to_str().unwrap()];
        args.extend_from_slice(globs);
        let o = run(&emu, &args);
        assert!(
            o.status.success(),
            "{globs:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(exported(&out), *want, "{globs:?}");
    }
}

#[test]
fn a_pattern_that_is_not_a_glob_is_a_usage_error_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path());
    let out = dir.path().join("out");
    for flag in ["--include", "--exclude"] {
        for pattern in ["db[", "{prod,staging"] {
            let o = run(
                &emu,
                &[
                    "--all",
                    "--output-dir",
                    out.to_str().unwrap(),
                    flag,
                    pattern,
                ],
            );
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{flag} {pattern}: {err}");
            assert!(err.contains(pattern), "{flag} {pattern}: {err}");
        }
    }
    assert!(emu.stats().requests.is_empty(), "a request was sent");
    assert!(!out.exists());
}
