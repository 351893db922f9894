//! `d1-export import` as a user runs it, against the emulator on loopback: every flag and
//! every exit code (0, 2, 3, 4, 5, 6, 7, 130).

use d1_emulator::{DumpOptions, Emulator, EmulatorConfig, Faults, RateLimit};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const DB: &str = "1a1a1a1a-0000-4000-8000-000000000001";
const NAME: &str = "restore-me";

struct Env {
    emulator: Emulator,
    dir: tempfile::TempDir,
    /// The database the emulator serves (empty at first).
    target: PathBuf,
    /// A D1 dump of a sample database.
    dump: PathBuf,
    /// The sample database the dump was taken from.
    source: PathBuf,
}

fn start(faults: Faults) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.sqlite");
    d1_emulator::sample::generate(&source, 128 * 1024).unwrap();
    let dump = dir.path().join("dump.sql");
    std::fs::write(
        &dump,
        d1_emulator::dump::dump_to_vec(&source, &DumpOptions::default()).unwrap(),
    )
    .unwrap();
    let target = dir.path().join("target.sqlite");
    std::fs::write(&target, b"").unwrap();
    let emulator = Emulator::start(
        EmulatorConfig::new()
            .database(DB, &target)
            .database_name(DB, NAME)
            .work_dir(dir.path().join("emu"))
            .poll_hold(Duration::from_millis(50))
            .faults(faults),
    )
    .unwrap();
    Env {
        emulator,
        dir,
        target,
        dump,
        source,
    }
}

impl Env {
    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_d1-export"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CLOUDFLARE_API_TOKEN", self.emulator.token())
            .env("CLOUDFLARE_ACCOUNT_ID", self.emulator.account_id())
            .env("CLOUDFLARE_API_BASE_URL", self.emulator.base_url())
            .stdin(Stdio::null())
            .arg("import");
        c
    }

    fn file(&self, name: &str, sql: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, sql).unwrap();
        p
    }

    fn restored(&self) -> bool {
        dump(&self.target) == dump(&self.source)
    }

    fn api_requests(&self) -> u64 {
        self.emulator
            .stats()
            .requests
            .iter()
            .filter(|(route, _)| route.starts_with("POST /") || route.starts_with("GET /accounts"))
            .flat_map(|(_, by)| by.values())
            .sum()
    }
}

fn dump(path: &Path) -> Vec<u8> {
    d1_emulator::dump::dump_to_vec(path, &DumpOptions::default()).unwrap()
}

fn run(mut c: Command) -> Output {
    c.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn imports_by_uuid_and_by_name_on_both_drivers() {
    for (driver, database) in [("async", DB), ("blocking", NAME)] {
        let env = start(Faults::default());
        let before = env.emulator.stats();
        assert_eq!(before.imports_created, 0);
        let mut c = env.cmd();
        c.arg(database)
            .arg("--file")
            .arg(&env.dump)
            .arg("--yes")
            .args(["--driver", driver]);
        let o = run(c);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "{driver}: {err}");
        assert!(
            env.restored(),
            "{driver}: the database differs from the source"
        );
        assert!(stdout(&o).is_empty(), "{driver}: stdout is for --json only");
        // The bookmark before, and how to go back to it.
        let bookmark_line = err
            .lines()
            .find(|l| l.contains("is at bookmark "))
            .unwrap_or_else(|| panic!("{driver}: no bookmark line: {err}"));
        let bookmark = bookmark_line.rsplit(' ').next().unwrap();
        assert!(
            err.contains(&format!(
                "wrangler d1 time-travel restore {} --bookmark={bookmark}",
                if database == NAME { NAME } else { DB }
            )),
            "{driver}: {err}"
        );
        assert!(err.contains("uploading "), "{driver}: {err}");
        assert!(err.contains("service: "), "{driver}: log lines: {err}");
        assert!(
            err.contains("queries,") && err.contains("rows written"),
            "{err}"
        );
        let stats = env.emulator.stats();
        assert_eq!((stats.imports_created, stats.uploads), (1, 1), "{driver}");
        assert_eq!(stats.uploads_with_authorization, 0, "{driver}");
    }
}

#[test]
fn json_is_one_object_and_quiet_says_nothing() {
    let env = start(Faults::default());
    let mut c = env.cmd();
    c.arg(DB)
        .arg("--file")
        .arg(&env.dump)
        .args(["--yes", "--json", "-q", "--driver", "blocking"]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).is_empty(), "-q printed: {}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["database_id"], DB);
    assert_eq!(v["driver"], "blocking");
    assert_eq!(v["uploaded"], true);
    assert!(v["num_queries"].as_u64().unwrap() > 10, "{v}");
    assert!(v["rows_written"].as_u64().unwrap() > 10, "{v}");
    assert!(v["size_after"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["bytes"], std::fs::metadata(&env.dump).unwrap().len());
    let (prev, fin) = (
        v["previous_bookmark"].as_str(),
        v["final_bookmark"].as_str(),
    );
    assert!(prev.is_some() && fin.is_some() && prev != fin, "{v}");
    assert!(env.restored());
    // A failure with --json: one object too.
    let bad = env.file("bad.sql", "INSERT INTO nowhere VALUES(1);\n");
    let mut c = env.cmd();
    c.arg(DB).arg("--file").arg(&bad).args(["--yes", "--json"]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        (v["ok"].as_bool(), v["exit_code"].as_u64()),
        (Some(false), Some(5))
    );
}

#[test]
fn verbose_shows_retries_and_flags_override_the_environment() {
    let env = start(Faults {
        http_503_every: Some(3),
        ..Faults::default()
    });
    let mut c = env.cmd();
    c.env_remove("CLOUDFLARE_ACCOUNT_ID")
        .env("CLOUDFLARE_API_BASE_URL", "http://127.0.0.1:9/client/v4")
        .arg(DB)
        .arg("--file")
        .arg(&env.dump)
        .args(["--yes", "-vv", "--account-id", env.emulator.account_id()])
        .args(["--api-base", &env.emulator.base_url()]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("retrying in"), "{}", stderr(&o));
    assert!(env.restored());
}

#[test]
fn a_file_that_breaks_d1_rules_is_refused_with_exit_7_and_nothing_sent() {
    let env = start(Faults::default());
    let cases = [
        (
            "tx.sql",
            "CREATE TABLE a(x);\nBEGIN TRANSACTION;\nINSERT INTO a VALUES(1);\nCOMMIT;\n"
                .to_owned(),
            "statement 2 (line 2)",
        ),
        (
            "pragma.sql",
            "PRAGMA foreign_keys=OFF;\nCREATE TABLE a(x);\n".to_owned(),
            "PRAGMA foreign_keys",
        ),
        (
            "big.sql",
            format!(
                "CREATE TABLE a(x);\nINSERT INTO a VALUES('{}');\n",
                "x".repeat(100_000)
            ),
            "100000",
        ),
        (
            "cf.sql",
            "CREATE TABLE _cf_KV(k, v);\n".to_owned(),
            "_cf_KV",
        ),
    ];
    for (name, sql, names) in cases {
        let file = env.file(name, &sql);
        let mut c = env.cmd();
        c.arg(DB).arg("--file").arg(&file).arg("--yes");
        let o = run(c);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(7), "{name}: {err}");
        assert!(err.contains(names), "{name}: {err}");
        assert!(err.contains("--importable"), "{name}: no hint: {err}");
    }
    // A SQLite database file instead of SQL.
    let mut c = env.cmd();
    c.arg(DB).arg("--file").arg(&env.source).arg("--yes");
    let o = run(c);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("SQLite database file"),
        "{}",
        stderr(&o)
    );
    assert_eq!(env.api_requests(), 0, "a refused file reached the API");
    assert_eq!(env.emulator.stats().uploads, 0);
}

/// Arguments, environment changes (`None`: removed), and what the error says.
type UsageCase = (
    Vec<String>,
    Vec<(&'static str, Option<&'static str>)>,
    &'static str,
);

#[test]
fn usage_errors_exit_2_before_any_request() {
    let env = start(Faults::default());
    let cases: Vec<UsageCase> = vec![
        // Off a terminal, --yes is required.
        (
            vec![DB.into(), "--file".into(), env.dump.display().to_string()],
            vec![],
            "--yes",
        ),
        (
            vec![
                DB.into(),
                "--file".into(),
                "/nonexistent/x.sql".into(),
                "--yes".into(),
            ],
            vec![],
            "cannot read",
        ),
        (
            vec![
                DB.into(),
                "--file".into(),
                env.dump.display().to_string(),
                "--yes".into(),
            ],
            vec![("CLOUDFLARE_API_TOKEN", None)],
            "CLOUDFLARE_API_TOKEN",
        ),
        (
            vec![
                DB.into(),
                "--file".into(),
                env.dump.display().to_string(),
                "--yes".into(),
            ],
            vec![("CLOUDFLARE_ACCOUNT_ID", None)],
            "account",
        ),
        (
            vec![
                DB.into(),
                "--file".into(),
                env.dump.display().to_string(),
                "--yes".into(),
            ],
            vec![(
                "CLOUDFLARE_API_BASE_URL",
                Some("http://api.example/client/v4"),
            )],
            "plain http",
        ),
        (vec![DB.into(), "--yes".into()], vec![], "--file"),
        (
            vec![
                "../etc".into(),
                "--file".into(),
                env.dump.display().to_string(),
                "--yes".into(),
            ],
            vec![],
            "neither",
        ),
        (
            vec![
                DB.into(),
                "--file".into(),
                env.dump.display().to_string(),
                "-q".into(),
                "-v".into(),
            ],
            vec![],
            "cannot be used with",
        ),
    ];
    for (args, env_changes, says) in cases {
        let mut c = env.cmd();
        for (k, v) in &env_changes {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c.args(&args);
        let o = run(c);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
    assert_eq!(env.api_requests(), 0);
}

#[test]
fn service_failures_have_distinct_exit_codes() {
    let env = start(Faults::default());
    // 3: a wrong token, never printed.
    let mut c = env.cmd();
    c.env("CLOUDFLARE_API_TOKEN", "wrong-secret-token")
        .arg(DB)
        .arg("--file")
        .arg(&env.dump)
        .arg("--yes");
    let o = run(c);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(!stderr(&o).contains("wrong-secret-token"));
    // 4: no such database, by id and by name.
    for db in ["1a1a1a1a-0000-4000-8000-00000000ffff", "no-such-db"] {
        let mut c = env.cmd();
        c.arg(db).arg("--file").arg(&env.dump).arg("--yes");
        let o = run(c);
        assert_eq!(o.status.code(), Some(4), "{db}: {}", stderr(&o));
    }
    // 5: the import fails on the service: the statement is named, nothing changes.
    let bad = env.file(
        "bad.sql",
        "CREATE TABLE t(x INTEGER PRIMARY KEY);\nINSERT INTO t VALUES(1);\nINSERT INTO t VALUES(1);\n",
    );
    let mut c = env.cmd();
    c.arg(DB).arg("--file").arg(&bad).arg("--yes");
    let o = run(c);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(5), "{err}");
    assert!(err.contains("statement 3"), "{err}");
    assert!(err.contains("UNIQUE"), "{err}");
    assert!(err.contains("rolled the import back"), "{err}");
    assert!(!String::from_utf8_lossy(&dump(&env.target)).contains("CREATE TABLE"));
}

#[test]
fn an_upload_that_keeps_failing_exits_6() {
    let env = start(Faults {
        wrong_upload_etags: 100,
        ..Faults::default()
    });
    let mut c = env.cmd();
    c.arg(DB).arg("--file").arg(&env.dump).arg("--yes");
    let o = run(c);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert!(stderr(&o).contains("md5"), "{}", stderr(&o));
    let stats = env.emulator.stats();
    assert_eq!(
        stats.imports_created, 0,
        "an unverified upload was ingested"
    );
    assert_eq!(stats.uploads, 8, "the upload is retried up to the attempts");
}

#[test]
fn ctrl_c_exits_130_and_starts_nothing_more() {
    for driver in ["async", "blocking"] {
        // After the bookmark read and the init, the API answers 429 for a minute.
        let env = start(Faults {
            rate_limit: Some(RateLimit {
                requests: 2,
                window: Duration::from_secs(60),
            }),
            ..Faults::default()
        });
        let mut c = env.cmd();
        c.arg(DB)
            .arg("--file")
            .arg(&env.dump)
            .args(["--yes", "--driver", driver])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = c.spawn().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while env.emulator.stats().faults("http_429") == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(130), "{driver}: {}", stderr(&o));
        assert_eq!(env.emulator.stats().imports_created, 0, "{driver}");
    }
}
