//! The `d1-export` binary as a user runs it, against the emulator on loopback.

use d1_emulator::{DumpOptions as EmuOptions, Emulator, EmulatorConfig, Faults};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const DB: &str = "c11c11c1-0000-4000-8000-000000000001";
const FTS_DB: &str = "c11c11c1-0000-4000-8000-000000000002";

struct Env {
    emulator: Emulator,
    dir: tempfile::TempDir,
}

fn sample(dir: &Path) -> PathBuf {
    let path = dir.join("shop.sqlite");
    d1_emulator::sample::generate(&path, 256 * 1024).unwrap();
    path
}

fn fts(dir: &Path) -> PathBuf {
    let path = dir.join("fts.sqlite");
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes VALUES(1,'hello'); CREATE VIRTUAL TABLE search USING fts5(body);")
        .unwrap();
    path
}

fn start(config: impl FnOnce(EmulatorConfig) -> EmulatorConfig) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let db = sample(dir.path());
    let fts = fts(dir.path());
    let base = EmulatorConfig::new()
        .database(DB, &db)
        .database_name(DB, "shop")
        .database(FTS_DB, &fts)
        .database_name(FTS_DB, "notes")
        .work_dir(dir.path().join("emu"))
        .polls_before_complete(2)
        .poll_hold(Duration::from_millis(50));
    let emulator = Emulator::start(config(base)).unwrap();
    Env { emulator, dir }
}

impl Env {
    fn out(&self) -> PathBuf {
        let out = self.dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        out
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_d1-export"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CLOUDFLARE_API_TOKEN", self.emulator.token())
            .env("CLOUDFLARE_ACCOUNT_ID", self.emulator.account_id())
            .env("CLOUDFLARE_API_BASE_URL", self.emulator.base_url())
            .stdin(Stdio::null());
        c
    }

    fn expected(&self, options: EmuOptions) -> Vec<u8> {
        self.emulator.dump_bytes(DB, &options).unwrap()
    }
}

fn run(mut c: Command) -> Output {
    c.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn exports_by_uuid_and_by_name_with_both_drivers() {
    let env = start(|c| c);
    let expected = env.expected(EmuOptions::default());
    for driver in ["async", "blocking"] {
        for database in [DB, "shop"] {
            let out = env.out().join(format!("{driver}-{database}.sql"));
            let mut c = env.cmd();
            c.args([database, "--output"])
                .arg(&out)
                .args(["--driver", driver]);
            let o = run(c);
            assert!(o.status.success(), "{driver} {database}: {}", stderr(&o));
            let got = std::fs::read(&out).unwrap();
            assert!(got == expected, "{driver} {database}: bytes differ");
            let manifest: serde_json::Value = serde_json::from_slice(
                &std::fs::read(format!("{}.manifest.json", out.display())).unwrap(),
            )
            .unwrap();
            assert_eq!(manifest["sha256"], sha256(&got));
            assert_eq!(manifest["bytes"], got.len() as u64);
            assert_eq!(manifest["database_id"], DB);
            assert_eq!(manifest["driver"], driver);
            if database == "shop" {
                assert_eq!(manifest["database_name"], "shop");
            }
            assert!(manifest["bookmark"].as_str().is_some_and(|b| !b.is_empty()));
            // Plain output (not a terminal): no control characters.
            assert!(
                !stderr(&o).contains('\x1b'),
                "control characters in plain output"
            );
        }
    }
    assert_eq!(env.emulator.stats().downloads_with_authorization, 0);
    assert_eq!(env.emulator.stats().jobs_created, 4);
}

#[test]
fn every_dump_flag() {
    let env = start(|c| c);
    let cases: [(&[&str], EmuOptions); 4] = [
        (
            &["--no-data"],
            EmuOptions {
                no_data: true,
                ..Default::default()
            },
        ),
        (
            &["--no-schema"],
            EmuOptions {
                no_schema: true,
                ..Default::default()
            },
        ),
        (
            &["--table", "users", "--table", "orders"],
            EmuOptions {
                tables: vec!["users".into(), "orders".into()],
                ..Default::default()
            },
        ),
        (&["--compatibility", "d1"], EmuOptions::default()),
    ];
    for (i, (flags, options)) in cases.into_iter().enumerate() {
        let out = env.out().join(format!("flags-{i}.sql"));
        let mut c = env.cmd();
        c.arg(DB)
            .arg("-o")
            .arg(&out)
            .args(flags)
            .arg("--no-manifest")
            .arg("--quiet");
        let o = run(c);
        assert!(o.status.success(), "{flags:?}: {}", stderr(&o));
        assert!(o.stderr.is_empty(), "--quiet printed: {}", stderr(&o));
        assert!(
            std::fs::read(&out).unwrap() == env.expected(options),
            "{flags:?}: bytes differ"
        );
        assert!(
            !Path::new(&format!("{}.manifest.json", out.display())).exists(),
            "--no-manifest wrote one"
        );
    }
}

#[test]
fn stdout_output_and_json() {
    let env = start(|c| c);
    for driver in ["async", "blocking"] {
        let mut c = env.cmd();
        c.args([DB, "-o", "-", "--driver", driver]);
        let o = run(c);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            o.stdout == env.expected(EmuOptions::default()),
            "{driver}: stdout is not exactly the dump"
        );
    }
    let out = env.out().join("j.sql");
    let mut c = env.cmd();
    c.args([DB, "--json", "-o"]).arg(&out);
    let o = run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert_eq!(text.trim().lines().count(), 1, "one JSON object: {text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["sha256"], sha256(&std::fs::read(&out).unwrap()));
    // --json with -o - is a usage error.
    let mut c = env.cmd();
    c.args([DB, "--json", "-o", "-"]);
    assert_eq!(run(c).status.code(), Some(2));
}

#[test]
fn usage_errors_exit_2_before_any_request() {
    let env = start(|c| c);
    let out = env.out().join("u.sql");
    let cases: Vec<Vec<String>> = vec![
        vec![
            DB.into(),
            "--no-data".into(),
            "--no-schema".into(),
            "-o".into(),
            out.display().to_string(),
        ],
        vec![
            "../../etc/passwd".into(),
            "-o".into(),
            out.display().to_string(),
        ],
        vec![
            DB.into(),
            "-o".into(),
            out.display().to_string(),
            "--account-id".into(),
            "not-hex".into(),
        ],
        vec![
            DB.into(),
            "-o".into(),
            out.display().to_string(),
            "--api-base".into(),
            "http://example.com/client/v4".into(),
        ],
        vec![
            DB.into(),
            "-o".into(),
            out.display().to_string(),
            "--compatibility".into(),
            "sqlite3_cli_only".into(),
            "--no-data".into(),
        ],
        vec![DB.into()],
    ];
    for args in cases {
        let mut c = env.cmd();
        c.args(&args);
        let o = run(c);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("error"), "{args:?}");
    }
    let mut c = env.cmd();
    c.env_remove("CLOUDFLARE_API_TOKEN")
        .arg(DB)
        .arg("-o")
        .arg(&out);
    let o = run(c);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("CLOUDFLARE_API_TOKEN"));
    assert_eq!(env.emulator.stats().jobs_created, 0, "a request was sent");
    assert!(files_in(&env.out()).is_empty());
}

#[test]
fn failures_have_distinct_exit_codes_and_leave_nothing() {
    let env = start(|c| c);
    let out = env.out().join("f.sql");
    // 3: a wrong token; the token is never printed.
    let mut c = env.cmd();
    c.env("CLOUDFLARE_API_TOKEN", "wrong-secret-token")
        .arg(DB)
        .arg("-o")
        .arg(&out);
    let o = run(c);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(!stderr(&o).contains("wrong-secret-token"));
    assert!(
        stderr(&o).contains("10000"),
        "the service's code is shown: {}",
        stderr(&o)
    );
    // 3: a wrong account.
    let mut c = env.cmd();
    c.env("CLOUDFLARE_ACCOUNT_ID", "ffffffffffffffffffffffffffffffff")
        .arg(DB)
        .arg("-o")
        .arg(&out);
    assert_eq!(run(c).status.code(), Some(3));
    // 4: an unknown database, by id and by name.
    for db in ["c11c11c1-0000-4000-8000-00000000ffff", "no-such-db"] {
        let mut c = env.cmd();
        c.arg(db).arg("-o").arg(&out);
        let o = run(c);
        assert_eq!(o.status.code(), Some(4), "{db}: {}", stderr(&o));
    }
    // 5: the export fails (virtual tables), with the hint.
    let mut c = env.cmd();
    c.arg(FTS_DB).arg("-o").arg(&out);
    let o = run(c);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("--table"), "hint: {}", stderr(&o));
    // ...and --table works around it.
    let mut c = env.cmd();
    c.arg(FTS_DB)
        .arg("-o")
        .arg(&out)
        .args(["--table", "notes", "--no-manifest"]);
    let o = run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::remove_file(&out).unwrap();
    assert!(
        files_in(&env.out()).is_empty(),
        "left: {:?}",
        files_in(&env.out())
    );
}

#[test]
fn a_download_that_keeps_failing_exits_6_and_keeps_the_old_file() {
    let env = start(|c| c.url_lifetime(Duration::ZERO));
    let out = env.out().join("d.sql");
    std::fs::write(&out, b"previous backup").unwrap();
    for driver in ["async", "blocking"] {
        let mut c = env.cmd();
        c.arg(DB).arg("-o").arg(&out).args(["--driver", driver]);
        let o = run(c);
        assert_eq!(o.status.code(), Some(6), "{driver}: {}", stderr(&o));
        assert_eq!(std::fs::read(&out).unwrap(), b"previous backup");
        assert_eq!(files_in(&env.out()), ["d.sql"]);
    }
}

#[test]
fn ctrl_c_exits_130_and_removes_the_temp_file() {
    let env = start(|c| {
        c.faults(Faults {
            download_kib_per_sec: Some(16),
            ..Faults::default()
        })
    });
    for driver in ["async", "blocking"] {
        let out = env.out().join("c.sql");
        let mut c = env.cmd();
        c.arg(DB)
            .arg("-o")
            .arg(&out)
            .args(["--driver", driver])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let completed = env.emulator.stats().jobs_completed;
        let child = c.spawn().unwrap();
        // Wait until the export is complete and the (slow) download under way, then interrupt.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while env.emulator.stats().jobs_completed == completed
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            files_in(&env.out()).len(),
            1,
            "no temp file while downloading"
        );
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(130), "{driver}: {}", stderr(&o));
        assert!(
            files_in(&env.out()).is_empty(),
            "{driver} left {:?}",
            files_in(&env.out())
        );
    }
}

#[test]
fn the_demo_runs_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo.sql");
    let o = Command::new(env!("CARGO_BIN_EXE_d1-export"))
        .env_remove("CLOUDFLARE_API_TOKEN")
        .args(["--demo", "--driver", "blocking", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("verified: byte-identical"),
        "{}",
        stderr(&o)
    );
    let dump = std::fs::read_to_string(&out).unwrap();
    assert!(dump.starts_with("PRAGMA defer_foreign_keys=TRUE;"));
    assert!(Path::new(&format!("{}.manifest.json", out.display())).exists());
}

#[test]
fn help_and_version() {
    let o = Command::new(env!("CARGO_BIN_EXE_d1-export"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "--output",
        "--table",
        "--no-data",
        "--no-schema",
        "--compatibility",
        "--account-id",
        "--api-base",
        "--json",
        "--quiet",
        "--driver",
        "--no-manifest",
        "--demo",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    let o = Command::new(env!("CARGO_BIN_EXE_d1-export"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains(env!("CARGO_PKG_VERSION")));
}
