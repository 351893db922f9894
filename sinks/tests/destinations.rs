//! Destinations against real files and a real S3-compatible server (moto): what appears is
//! exactly the verified dump, compressed as asked, after restarts too; what fails or is
//! dropped leaves nothing — no file, no object, no incomplete multipart upload.

use bytes::Bytes;
use d1_export_sinks::testing::{env_for, FaultProxy, Moto, PartFault};
use d1_export_sinks::{Bucket, Compression, Destination, S3Settings, Target};
use d1_export_transport::{Digest, Feed};
use sha2::{Digest as _, Sha256};
use std::io::Read;
use std::path::Path;

/// Text that looks like a dump and does not compress to nothing (≈ `n` bytes).
fn dump(n: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 100);
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut i = 0u64;
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(
            format!("INSERT INTO \"t\" VALUES({i},'{x:x}',{});\n", x % 977).as_bytes(),
        );
        i += 1;
    }
    out
}

/// An error and every source below it, as a user sees it.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        text = format!("{text}: {s}");
        next = s.source();
    }
    text
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn feed_all(feed: &mut Feed, data: &[u8], chunk: usize) -> Digest {
    let mut d = Digest::new();
    for piece in data.chunks(chunk) {
        d.update(piece);
        feed.send_blocking(Bytes::copy_from_slice(piece)).unwrap();
    }
    d
}

fn decompress(kind: Compression, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    kind.decoder(bytes).unwrap().read_to_end(&mut out).unwrap();
    out
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_local_file_holds_exactly_the_last_download_after_a_restart() {
    for kind in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join(format!("db.sql{}", kind.extension()));
        let destination = Destination {
            target: Target::File(dest.clone()),
            compression: kind,
        };
        let mut feed = destination.open().unwrap();
        feed_all(&mut feed, &dump(700_000, 1), 65_536);
        feed.restart_blocking().unwrap();
        let data = dump(1_300_000, 2);
        let digest = feed_all(&mut feed, &data, 100_000);
        let written = feed.commit_blocking(&digest).unwrap();
        drop(feed);
        let file = std::fs::read(&dest).unwrap();
        assert_eq!(decompress(kind, &file), data, "{kind}");
        assert_eq!(
            written.sha256,
            sha(&file),
            "{kind}: sha256 of the file as written"
        );
        assert_eq!(written.bytes, file.len() as u64);
        assert_eq!(digest.hex(), sha(&data), "{kind}: sha256 of the SQL inside");
        if kind != Compression::None {
            assert!(file.len() < data.len() / 2, "{kind} compresses");
        }
        assert_eq!(
            names(dir.path()),
            [dest.file_name().unwrap().to_string_lossy()]
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{kind}: the dump is private");
        }
    }
}

#[test]
fn a_dropped_or_mismatched_local_output_leaves_the_old_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("db.sql.zst");
    std::fs::write(&dest, b"old backup").unwrap();
    let destination = Destination {
        target: Target::File(dest.clone()),
        compression: Compression::Zstd,
    };
    let mut feed = destination.open().unwrap();
    feed_all(&mut feed, &dump(300_000, 3), 50_000);
    drop(feed);
    assert_eq!(names(dir.path()), ["db.sql.zst"]);
    assert_eq!(std::fs::read(&dest).unwrap(), b"old backup");

    let mut feed = destination.open().unwrap();
    let data = dump(10_000, 4);
    feed_all(&mut feed, &data, 1000);
    let mut wrong = Digest::new();
    wrong.update(&dump(10_000, 5)[..data.len()]);
    let e = chain(&feed.commit_blocking(&wrong).unwrap_err());
    assert!(e.contains("verified"), "{e}");
    drop(feed);
    assert_eq!(names(dir.path()), ["db.sql.zst"]);
    assert_eq!(std::fs::read(&dest).unwrap(), b"old backup");
}

#[test]
fn store_file_compresses_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("plain.sql");
    let data = dump(400_000, 6);
    std::fs::write(&source, &data).unwrap();
    let dest = dir.path().join("copy.sql.gz");
    let written = Destination {
        target: Target::File(dest.clone()),
        compression: Compression::Gzip,
    }
    .store_file(&source)
    .unwrap();
    let file = std::fs::read(&dest).unwrap();
    assert_eq!(decompress(Compression::Gzip, &file), data);
    assert_eq!(written.sha256, sha(&file));
}

fn bucket(endpoint: &str, retries: usize) -> Bucket {
    let env = env_for(endpoint);
    let settings =
        S3Settings::from_lookup(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
            .unwrap()
            .max_retries(retries);
    Bucket::open(&settings, "backups").unwrap()
}

#[test]
fn an_object_appears_only_when_committed_and_holds_the_last_download() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("backups");
    let b = bucket(&moto.endpoint(), 2);
    for kind in [Compression::None, Compression::Zstd] {
        let key = format!("db/x.sql{}", kind.extension());
        let destination = Destination {
            target: Target::Object {
                bucket: b.clone(),
                key: key.clone(),
            },
            compression: kind,
        };
        let mut feed = destination.open().unwrap();
        // More than one part of the first try, then a restart from byte 0.
        feed_all(&mut feed, &dump(12 << 20, 7), 256 << 10);
        assert_eq!(
            moto.incomplete_uploads("backups"),
            std::slice::from_ref(&key)
        );
        assert_eq!(
            moto.get("backups", &key),
            None,
            "nothing visible before the commit"
        );
        feed.restart_blocking().unwrap();
        let data = dump(11 << 20, 8);
        let digest = feed_all(&mut feed, &data, 200_000);
        let written = feed.commit_blocking(&digest).unwrap();
        drop(feed);
        let object = moto.get("backups", &key).expect("the object");
        assert_eq!(decompress(kind, &object), data, "{kind}");
        assert_eq!(written.sha256, sha(&object));
        assert_eq!(written.location, format!("s3://backups/{key}"));
        assert!(
            moto.incomplete_uploads("backups").is_empty(),
            "{kind}: no orphaned parts"
        );
    }
}

#[test]
fn a_dropped_upload_is_aborted_leaving_no_object_and_no_parts() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("backups");
    let b = bucket(&moto.endpoint(), 2);
    let destination = Destination {
        target: Target::Object {
            bucket: b,
            key: "db.sql.gz".into(),
        },
        compression: Compression::Gzip,
    };
    let mut feed = destination.open().unwrap();
    feed_all(&mut feed, &dump(8 << 20, 9), 256 << 10);
    drop(feed);
    assert!(moto.keys("backups").is_empty());
    assert!(moto.incomplete_uploads("backups").is_empty());
}

#[test]
fn failed_part_uploads_are_retried_or_abort_the_upload() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("backups");
    // Each part fails once: back-off and retry make it.
    let flaky = FaultProxy::start(moto.addr(), PartFault::FirstAttempt503);
    let destination = Destination {
        target: Target::Object {
            bucket: bucket(&flaky.endpoint(), 3),
            key: "flaky.sql".into(),
        },
        compression: Compression::None,
    };
    let data = dump(11 << 20, 10);
    let mut feed = destination.open().unwrap();
    let digest = feed_all(&mut feed, &data, 256 << 10);
    feed.commit_blocking(&digest).unwrap();
    drop(feed);
    assert_eq!(moto.get("backups", "flaky.sql").as_deref(), Some(&data[..]));
    assert!(
        flaky.faults.load(std::sync::atomic::Ordering::Relaxed) >= 3,
        "every part failed once"
    );

    // Parts past the first always fail: the upload gives up, aborts, and says why.
    let broken = FaultProxy::start(moto.addr(), PartFault::AllButFirst500);
    let destination = Destination {
        target: Target::Object {
            bucket: bucket(&broken.endpoint(), 1),
            key: "broken.sql".into(),
        },
        compression: Compression::None,
    };
    let mut feed = destination.open().unwrap();
    let mut digest = Digest::new();
    let mut failed = None;
    for piece in data.chunks(256 << 10) {
        digest.update(piece);
        if let Err(e) = feed.send_blocking(Bytes::copy_from_slice(piece)) {
            failed = Some(e);
            break;
        }
    }
    let e = chain(&match failed {
        Some(e) => e,
        None => feed.commit_blocking(&digest).unwrap_err(),
    });
    assert!(e.contains("part") && e.contains("aborted"), "{e}");
    drop(feed);
    assert!(!moto.keys("backups").contains(&"broken.sql".to_owned()));
    assert!(
        moto.incomplete_uploads("backups").is_empty(),
        "the failed upload was aborted"
    );
}

#[test]
fn a_missing_bucket_fails_at_open() {
    let Some(moto) = Moto::start() else { return };
    let destination = Destination {
        target: Target::Object {
            bucket: bucket(&moto.endpoint(), 0),
            key: "x.sql".into(),
        },
        compression: Compression::None,
    };
    let e = chain(&destination.open().unwrap_err());
    assert!(e.contains("s3://backups/x.sql"), "{e}");
    assert!(!e.contains("testing-secret-key"), "{e}");
}
