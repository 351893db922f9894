//! Where backups go, end to end: compressed outputs, S3 destinations on a real
//! S3-compatible server (moto on loopback), retention with `--keep`, and what an aborted or
//! failing upload leaves behind (nothing), on both drivers.

use d1_emulator::{DumpOptions as EmuOptions, Emulator, EmulatorConfig, Faults};
use d1_export_sinks::testing::{env_for, FaultProxy, Moto, PartFault};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const DB: &str = "5702a6e0-0000-4000-8000-000000000001";
const DRIVERS: [&str; 2] = ["async", "blocking"];

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn unzstd(bytes: &[u8]) -> Vec<u8> {
    zstd::stream::decode_all(bytes).unwrap()
}

struct Env {
    emulator: Emulator,
    dir: tempfile::TempDir,
}

fn start(db_bytes: u64, databases: usize, faults: Faults) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let sample = dir.path().join("sample.sqlite");
    d1_emulator::sample::generate(&sample, db_bytes).unwrap();
    let mut config = EmulatorConfig::new()
        .database(DB, &sample)
        .database_name(DB, "shop")
        .work_dir(dir.path().join("emu"))
        .polls_before_complete(1)
        .poll_hold(Duration::from_millis(20))
        .faults(faults);
    for i in 1..databases {
        let uuid = fleet_uuid(i);
        let path = dir.path().join(format!("db{i}.sqlite"));
        std::fs::copy(&sample, &path).unwrap();
        config = config
            .database(&uuid, &path)
            .database_name(&uuid, format!("app-{i}"));
    }
    Env {
        emulator: Emulator::start(config).unwrap(),
        dir,
    }
}

fn fleet_uuid(i: usize) -> String {
    format!("5702a6e0-0000-4000-9000-{i:012}")
}

impl Env {
    fn cmd(&self, s3: Option<&str>) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_d1-export"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CLOUDFLARE_API_TOKEN", self.emulator.token())
            .env("CLOUDFLARE_ACCOUNT_ID", self.emulator.account_id())
            .env("CLOUDFLARE_API_BASE_URL", self.emulator.base_url())
            .stdin(Stdio::null());
        if let Some(endpoint) = s3 {
            c.envs(env_for(endpoint)).env("AWS_MAX_ATTEMPTS", "3");
        }
        c
    }

    fn dump(&self, uuid: &str) -> Vec<u8> {
        self.emulator
            .dump_bytes(uuid, &EmuOptions::default())
            .unwrap()
    }
}

fn run(mut c: Command) -> Output {
    c.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn manifest(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

/// The manifest describes the file as written and the SQL inside.
fn check_manifest(m: &serde_json::Value, file: &[u8], sql: &[u8], compression: &str) {
    assert_eq!(m["bytes"], file.len() as u64, "{m}");
    assert_eq!(m["sha256"], sha256(file), "{m}");
    assert_eq!(m["sql_bytes"], sql.len() as u64, "{m}");
    assert_eq!(m["sql_sha256"], sha256(sql), "{m}");
    assert_eq!(m["compression"], compression, "{m}");
}

#[test]
fn compressed_outputs_decompress_to_the_exact_dump_with_both_hashes_on_both_drivers() {
    // The first download of each job breaks half-way: the resume appends to the stream.
    let env = start(
        512 * 1024,
        1,
        Faults {
            truncate_first_download: true,
            ..Faults::default()
        },
    );
    let dump = env.dump(DB);
    let out = env.dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    for driver in DRIVERS {
        for (name, extra, compression) in [
            ("a.sql.gz", None, "gzip"),
            ("a.sql.zst", None, "zstd"),
            ("forced.sql", Some("zstd"), "zstd"),
            ("plain.sql.gz", Some("none"), "none"),
        ] {
            let path = out.join(format!("{driver}-{name}"));
            let mut c = env.cmd(None);
            c.arg(DB).arg("-o").arg(&path).args(["--driver", driver]);
            if let Some(kind) = extra {
                c.args(["--compress", kind]);
            }
            let o = run(c);
            assert!(o.status.success(), "{driver} {name}: {}", stderr(&o));
            let file = std::fs::read(&path).unwrap();
            let sql = match compression {
                "gzip" => gunzip(&file),
                "zstd" => unzstd(&file),
                _ => file.clone(),
            };
            assert!(sql == dump, "{driver} {name}: not the dump");
            let m = manifest(&std::fs::read(format!("{}.manifest.json", path.display())).unwrap());
            check_manifest(&m, &file, &dump, compression);
            if compression != "none" {
                assert!(file.len() < dump.len() / 2, "{driver} {name}: compressed");
            }
        }
        // To stdout, compressed while streaming.
        let mut c = env.cmd(None);
        c.arg(DB)
            .args(["-o", "-", "--compress", "gzip", "--driver", driver]);
        let o = run(c);
        assert!(o.status.success(), "{driver} stdout: {}", stderr(&o));
        assert!(
            gunzip(&o.stdout) == dump,
            "{driver}: stdout is the dump, gzipped"
        );
    }
    let left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".part"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[test]
fn a_single_export_to_s3_on_both_drivers() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("backups");
    let env = start(
        256 * 1024,
        1,
        Faults {
            truncate_first_download: true,
            ..Faults::default()
        },
    );
    let dump = env.dump(DB);
    for driver in DRIVERS {
        for (key, compression) in [("plain.sql", "none"), ("daily/db.sql.zst", "zstd")] {
            let key = format!("{driver}/{key}");
            let mut c = env.cmd(Some(&moto.endpoint()));
            c.arg("shop").args([
                "-o",
                &format!("s3://backups/{key}"),
                "--driver",
                driver,
                "--json",
            ]);
            let o = run(c);
            assert!(o.status.success(), "{driver} {key}: {}", stderr(&o));
            let object = moto.get("backups", &key).expect("the object");
            let sql = if compression == "zstd" {
                unzstd(&object)
            } else {
                object.clone()
            };
            assert!(sql == dump, "{driver} {key}: the object is the dump");
            let m = manifest(
                &moto
                    .get("backups", &format!("{key}.manifest.json"))
                    .expect("manifest"),
            );
            check_manifest(&m, &object, &dump, compression);
            assert_eq!(m["output"], format!("s3://backups/{key}"));
            let json = manifest(&o.stdout);
            assert_eq!(json["ok"], true);
            assert_eq!(json["sha256"], m["sha256"]);
            assert!(!stderr(&o).contains("testing-secret-key"));
        }
    }
    assert!(moto.incomplete_uploads("backups").is_empty());
}

#[test]
fn storage_settings_are_checked_before_any_request() {
    let env = start(64 * 1024, 1, Faults::default());
    for (env_vars, url, want) in [
        (vec![], "s3://backups/x.sql", "AWS_ACCESS_KEY_ID"),
        (
            env_for("http://192.0.2.1:9000"),
            "s3://backups/x.sql",
            "loopback",
        ),
        (
            env_for("http://127.0.0.1:9"),
            "s3://Bad_Bucket/x.sql",
            "bucket name",
        ),
        (env_for("http://127.0.0.1:9"), "s3://backups/", "key"),
    ] {
        let mut c = env.cmd(None);
        c.envs(env_vars).arg(DB).args(["-o", url]);
        let o = run(c);
        assert_eq!(o.status.code(), Some(2), "{url}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{url}: {}", stderr(&o));
    }
    assert_eq!(
        env.emulator.stats().jobs_created,
        0,
        "no export was started"
    );
}

fn fleet_names(keys: &[String], uuid: &str) -> Vec<String> {
    keys.iter()
        .filter(|k| k.contains(uuid) && !k.ends_with(".manifest.json"))
        .cloned()
        .collect()
}

#[test]
fn a_fleet_with_keep_2_run_three_times_keeps_two_per_database() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("fleet");
    const N: usize = 3;
    let env = start(64 * 1024, N, Faults::default());
    let uuids: Vec<String> = (0..N)
        .map(|i| if i == 0 { DB.to_owned() } else { fleet_uuid(i) })
        .collect();
    // Something not ours by its name, in the bucket and in the directory: never removed.
    let foreign = format!("shop-{DB}.sql");
    let r = d1_export_sinks::testing::request(
        moto.addr(),
        "PUT",
        &format!("/fleet/nightly/{foreign}"),
        b"mine",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let dir = env.dir.path().join("local");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(&foreign), b"mine").unwrap();
    for (place, driver) in [
        ("s3://fleet/nightly/", "async"),
        ("local", "blocking"),
        ("s3://fleet/other", "blocking"),
    ] {
        let target = if place == "local" {
            dir.display().to_string()
        } else {
            place.to_owned()
        };
        let mut first_names = Vec::new();
        for run_no in 0..3 {
            let mut c = env.cmd(Some(&moto.endpoint()));
            c.args([
                "--all",
                "--output-dir",
                &target,
                "--keep",
                "2",
                "--compress",
                "zstd",
                "--driver",
                driver,
                "--json",
            ]);
            let o = run(c);
            assert!(o.status.success(), "{place} run {run_no}: {}", stderr(&o));
            let summary = manifest(&o.stdout);
            assert_eq!(summary["totals"]["exported"], N, "{summary}");
            let names: Vec<String> = if place == "local" {
                let mut v: Vec<String> = std::fs::read_dir(&dir)
                    .unwrap()
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect();
                v.sort();
                v
            } else {
                let prefix = if place.ends_with("nightly/") {
                    "nightly/"
                } else {
                    "other/"
                };
                moto.keys("fleet")
                    .into_iter()
                    .filter_map(|k| k.strip_prefix(prefix).map(str::to_owned))
                    .collect()
            };
            for uuid in &uuids {
                let dumps = fleet_names(&names, uuid);
                let dumps: Vec<&String> = dumps.iter().filter(|n| **n != foreign).collect();
                assert_eq!(
                    dumps.len(),
                    (run_no + 1).min(2),
                    "{place} run {run_no} {uuid}: {names:?}"
                );
                for d in &dumps {
                    assert!(d.ends_with(".sql.zst"), "{d}");
                    assert!(
                        names.contains(&format!("{d}.manifest.json")),
                        "{d} has its manifest"
                    );
                }
                if run_no == 0 {
                    first_names.extend(dumps.iter().map(|d| (*d).clone()));
                }
            }
            if run_no == 2 {
                for first in &first_names {
                    assert!(
                        !names.contains(first),
                        "{place}: the oldest backup {first} was removed"
                    );
                }
            }
            if place != "s3://fleet/other" {
                assert!(names.contains(&foreign), "{place}: a file not ours stays");
            }
        }
        // The newest backup decompresses to the dump.
        if place == "local" {
            let names: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            let mut mine = fleet_names(&names, DB);
            mine.retain(|n| *n != foreign);
            mine.sort();
            let newest = std::fs::read(dir.join(mine.last().unwrap())).unwrap();
            assert!(unzstd(&newest) == env.dump(DB));
        }
    }
    assert!(moto.incomplete_uploads("fleet").is_empty());
}

#[test]
fn skip_unchanged_compares_against_the_newest_backup() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("skips");
    let env = start(64 * 1024, 2, Faults::default());
    for driver in DRIVERS {
        let prefix = format!("s3://skips/{driver}/");
        let fleet = |extra: &[&str]| {
            let mut c = env.cmd(Some(&moto.endpoint()));
            c.args([
                "--all",
                "--output-dir",
                &prefix,
                "--keep",
                "3",
                "--driver",
                driver,
                "--json",
            ])
            .args(extra);
            let o = run(c);
            assert!(o.status.success(), "{driver}: {}", stderr(&o));
            manifest(&o.stdout)
        };
        assert_eq!(fleet(&[])["totals"]["exported"], 2);
        let again = fleet(&["--skip-unchanged"]);
        assert_eq!(again["totals"]["skipped"], 2, "{again}");
        let keys = moto.keys("skips");
        assert_eq!(
            keys.iter()
                .filter(|k| k.starts_with(&format!("{driver}/")) && k.ends_with(".sql"))
                .count(),
            2,
            "{keys:?}"
        );
    }
}

#[test]
fn ctrl_c_during_an_upload_leaves_no_object_and_no_incomplete_upload() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("backups");
    let env = start(
        2 * 1024 * 1024,
        1,
        Faults {
            download_kib_per_sec: Some(256),
            ..Faults::default()
        },
    );
    for driver in DRIVERS {
        let key = format!("{driver}/c.sql.gz");
        let mut c = env.cmd(Some(&moto.endpoint()));
        c.arg(DB)
            .args(["-o", &format!("s3://backups/{key}"), "--driver", driver])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let completed = env.emulator.stats().jobs_completed;
        let child = c.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while env.emulator.stats().jobs_completed == completed && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(700));
        assert_eq!(
            moto.incomplete_uploads("backups"),
            std::slice::from_ref(&key),
            "{driver}: uploading"
        );
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(130), "{driver}: {}", stderr(&o));
        assert!(moto.keys("backups").is_empty(), "{driver}: no object");
        assert!(
            moto.incomplete_uploads("backups").is_empty(),
            "{driver}: no orphaned parts"
        );
    }
}

#[test]
fn a_failing_store_aborts_the_upload_and_exits_6() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("backups");
    // Parts past the first always fail with 500: retries run out.
    let proxy = FaultProxy::start(moto.addr(), PartFault::AllButFirst500);
    let env = start(14 * 1024 * 1024, 1, Faults::default());
    assert!(env.dump(DB).len() > 11 << 20, "more than two parts");
    for driver in DRIVERS {
        let key = format!("{driver}/f.sql");
        let mut c = env.cmd(Some(&proxy.endpoint()));
        c.arg(DB)
            .args(["-o", &format!("s3://backups/{key}"), "--driver", driver]);
        let o = run(c);
        assert_eq!(o.status.code(), Some(6), "{driver}: {}", stderr(&o));
        assert!(stderr(&o).contains("aborted"), "{driver}: {}", stderr(&o));
        assert!(moto.keys("backups").is_empty(), "{driver}: no object");
        assert!(
            moto.incomplete_uploads("backups").is_empty(),
            "{driver}: no orphaned parts"
        );
    }
    assert!(proxy.faults.load(std::sync::atomic::Ordering::Relaxed) >= 2);
}

#[test]
fn a_local_fleet_with_compression_keeps_the_fixed_names_without_keep() {
    let env = start(64 * 1024, 2, Faults::default());
    let out = env.dir.path().join("fleet");
    let mut c = env.cmd(None);
    c.args([
        "--all",
        "--output-dir",
        out.to_str().unwrap(),
        "--compress",
        "gzip",
    ]);
    let o = run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    for (uuid, name) in [
        (DB.to_owned(), "shop".to_owned()),
        (fleet_uuid(1), "app-1".to_owned()),
    ] {
        let file = out.join(format!("{name}-{uuid}.sql.gz"));
        let bytes = std::fs::read(&file).unwrap();
        assert!(gunzip(&bytes) == env.dump(&uuid));
        let m = manifest(&std::fs::read(format!("{}.manifest.json", file.display())).unwrap());
        check_manifest(&m, &bytes, &env.dump(&uuid), "gzip");
    }
}

#[test]
fn restore_ready_outputs_are_compressed_and_uploaded_too() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("ready");
    let env = start(128 * 1024, 1, Faults::default());
    let dump = env.dump(DB);
    let out = env.dir.path().join("ready");
    std::fs::create_dir_all(&out).unwrap();
    // --verify into a compressed local file.
    let path = out.join("v.sql.zst");
    let mut c = env.cmd(None);
    c.arg(DB)
        .arg("-o")
        .arg(&path)
        .args(["--verify", "--driver", "blocking"]);
    let o = run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    let file = std::fs::read(&path).unwrap();
    assert!(unzstd(&file) == dump);
    let m = manifest(&std::fs::read(format!("{}.manifest.json", path.display())).unwrap());
    check_manifest(&m, &file, &dump, "zstd");
    assert_eq!(m["verified"]["integrity_check"], "ok", "{m}");
    let mut left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["v.sql.zst", "v.sql.zst.manifest.json"],
        "no staging or scratch files"
    );

    // --format sqlite, gzipped, into a bucket.
    let mut c = env.cmd(Some(&moto.endpoint()));
    c.arg(DB).args([
        "-o",
        "s3://ready/db.sqlite.gz",
        "--format",
        "sqlite",
        "--driver",
        "async",
    ]);
    let o = run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    let object = moto.get("ready", "db.sqlite.gz").expect("the object");
    let sqlite = gunzip(&object);
    let m = manifest(
        &moto
            .get("ready", "db.sqlite.gz.manifest.json")
            .expect("manifest"),
    );
    check_manifest(&m, &object, &sqlite, "gzip");
    let restored = out.join("restored.sqlite");
    std::fs::write(&restored, &sqlite).unwrap();
    let db = rusqlite::Connection::open(&restored).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let tables = m["verified"]["tables"]
        .as_object()
        .expect("verified tables")
        .clone();
    assert!(!tables.is_empty());
    for (table, rows) in tables {
        let n: i64 = db
            .query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(serde_json::Value::from(n), rows, "{table}");
    }
    assert!(moto.incomplete_uploads("ready").is_empty());
}

/// `--all` with restore-ready flags writes where plain `--all` does: verified dumps
/// compressed into a bucket with `--keep` (exactly two per database after three runs), and
/// SQLite files gzipped into a local directory with the fixed names, skipped when unchanged;
/// nothing of the staging (a private directory inside the output directory) is left there.
#[test]
fn a_fleet_of_restore_ready_backups_goes_to_a_bucket_with_keep_and_compressed_to_a_directory() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("ready-fleet");
    const N: usize = 2;
    let env = start(64 * 1024, N, Faults::default());
    let uuids: Vec<String> = (0..N)
        .map(|i| if i == 0 { DB.to_owned() } else { fleet_uuid(i) })
        .collect();
    for (run_no, driver) in ["async", "blocking", "async"].into_iter().enumerate() {
        let mut c = env.cmd(Some(&moto.endpoint()));
        c.args([
            "--all",
            "--output-dir",
            "s3://ready-fleet/nightly/",
            "--verify",
            "--compress",
            "zstd",
            "--keep",
            "2",
            "--driver",
            driver,
            "--json",
        ]);
        let o = run(c);
        assert!(o.status.success(), "run {run_no}: {}", stderr(&o));
        let summary = manifest(&o.stdout);
        assert_eq!(summary["totals"]["exported"], N, "{summary}");
        let keys: Vec<String> = moto
            .keys("ready-fleet")
            .into_iter()
            .filter_map(|k| k.strip_prefix("nightly/").map(str::to_owned))
            .collect();
        for uuid in &uuids {
            let dumps = fleet_names(&keys, uuid);
            assert_eq!(dumps.len(), (run_no + 1).min(2), "run {run_no}: {keys:?}");
            let mut newest = dumps.clone();
            newest.sort();
            let name = newest.last().unwrap();
            assert!(name.ends_with(".sql.zst"), "{name}");
            let object = moto.get("ready-fleet", &format!("nightly/{name}")).unwrap();
            let m = manifest(
                &moto
                    .get("ready-fleet", &format!("nightly/{name}.manifest.json"))
                    .expect("its manifest"),
            );
            check_manifest(&m, &object, &env.dump(uuid), "zstd");
            assert_eq!(m["verified"]["integrity_check"], "ok", "{m}");
            assert_eq!(m["restore_ready"]["format"], "sql", "{m}");
        }
    }
    assert!(moto.incomplete_uploads("ready-fleet").is_empty());
    // SQLite files, gzipped, into a directory; a second run skips them as unchanged.
    let out = env.dir.path().join("sqlite-fleet");
    for (run_no, driver) in DRIVERS.into_iter().enumerate() {
        let mut c = env.cmd(None);
        c.args([
            "--all",
            "--output-dir",
            out.to_str().unwrap(),
            "--format",
            "sqlite",
            "--compress",
            "gzip",
            "--skip-unchanged",
            "--driver",
            driver,
            "--json",
        ]);
        let o = run(c);
        assert!(o.status.success(), "{driver}: {}", stderr(&o));
        let summary = manifest(&o.stdout);
        let (exported, skipped) = if run_no == 0 { (N, 0) } else { (0, N) };
        assert_eq!(summary["totals"]["exported"], exported, "{summary}");
        assert_eq!(summary["totals"]["skipped"], skipped, "{summary}");
    }
    let mut left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let mut expected: Vec<String> = [("shop", DB.to_owned()), ("app-1", fleet_uuid(1))]
        .iter()
        .flat_map(|(name, uuid)| {
            let file = format!("{name}-{uuid}.sqlite.gz");
            [format!("{file}.manifest.json"), file]
        })
        .collect();
    expected.sort();
    assert_eq!(
        left, expected,
        "the outputs and their manifests, nothing else"
    );
    let file = out.join(format!("shop-{DB}.sqlite.gz"));
    let bytes = std::fs::read(&file).unwrap();
    let sqlite = gunzip(&bytes);
    let m = manifest(&std::fs::read(format!("{}.manifest.json", file.display())).unwrap());
    check_manifest(&m, &bytes, &sqlite, "gzip");
    let restored = env.dir.path().join("restored-fleet.sqlite");
    std::fs::write(&restored, &sqlite).unwrap();
    let db = rusqlite::Connection::open(&restored).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
