//! The model-based property test and the fuzz-corpus replay, over the same harness functions
//! the fuzz targets call. With `CI` set, the machine property runs at least 10,000 cases.

use crate::harness::{self, Action, ImportAction};
use proptest::prelude::*;

fn cases(default: u32) -> u32 {
    if std::env::var_os("CI").is_some() {
        10_000.max(default)
    } else {
        default
    }
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (0u8..4, 0u16..3000, 0u8..4, prop::bool::weighted(0.02)).prop_map(
            |(form, held_ms, parts, other_bookmark)| Action::Running { form, held_ms, parts, other_bookmark }
        ),
        2 => Just(Action::Complete),
        2 => any::<u8>().prop_map(Action::Failure),
        1 => any::<u8>().prop_map(Action::Throttled),
        1 => (100u16..600, prop::collection::vec(any::<u8>(), 0..40)).prop_map(|(s, b)| Action::Raw(s, b)),
        2 => any::<u8>().prop_map(Action::Transport),
        3 => any::<u8>().prop_map(Action::Head),
        4 => (any::<u8>(), prop::bool::weighted(0.7)).prop_map(|(share, clean)| Action::Body { share, clean }),
        1 => any::<u16>().prop_map(Action::Sleep),
        1 => Just(Action::Stale),
        1 => prop::bool::weighted(0.1).prop_map(|c| if c { Action::Cancel } else { Action::Stale }),
    ]
}

fn import_action() -> impl Strategy<Value = ImportAction> {
    prop_oneof![
        3 => Just(ImportAction::UploadUrl),
        6 => (0u16..3000, 0u8..3, prop::bool::weighted(0.02)).prop_map(
            |(held_ms, lines, other_bookmark)| ImportAction::Running { held_ms, lines, other_bookmark }
        ),
        2 => any::<u16>().prop_map(ImportAction::Complete),
        2 => any::<u8>().prop_map(ImportAction::Failure),
        1 => any::<u8>().prop_map(ImportAction::Throttled),
        1 => (100u16..600, prop::collection::vec(any::<u8>(), 0..40)).prop_map(|(s, b)| ImportAction::Raw(s, b)),
        2 => any::<u8>().prop_map(ImportAction::Transport),
        4 => any::<u8>().prop_map(ImportAction::Upload),
        1 => any::<u16>().prop_map(ImportAction::Sleep),
        1 => prop::bool::weighted(0.1).prop_map(|c| if c { ImportAction::Cancel } else { ImportAction::Stale }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(1000), ..ProptestConfig::default() })]

    /// Arbitrary import runs (upload answers, held polls, failures, timeouts): every
    /// invariant of `run_import_script` holds after every step, and every run ends.
    #[test]
    fn import_invariants(script in prop::collection::vec(import_action(), 0..60)) {
        let report = harness::run_import_script(&script);
        prop_assert!(report.result.is_some());
    }

    /// Arbitrary sequences of replies, held replies, timeouts, transport failures, heads and
    /// bodies: every invariant of `run_script` holds after every step, and every run ends.
    #[test]
    fn machine_invariants(script in prop::collection::vec(action(), 0..60)) {
        let report = harness::run_script(&script);
        prop_assert!(report.result.is_some());
    }

    /// The reply parser never panics on arbitrary bytes.
    #[test]
    fn reply_never_panics(data in prop::collection::vec(any::<u8>(), 0..400)) {
        harness::fuzz_reply(&data);
    }

    /// Requests: a clear error or a valid, round-tripping request.
    #[test]
    fn request_round_trips(data in prop::collection::vec(any::<u8>(), 0..200)) {
        harness::fuzz_request(&data);
    }

    /// Downloads: a short or inconsistent file is never complete.
    #[test]
    fn download_never_short(data in prop::collection::vec(any::<u8>(), 0..200)) {
        harness::fuzz_download(&data);
    }
}

/// A well-behaved service: the run completes with exactly the file.
#[test]
fn happy_script_completes() {
    let script = [
        Action::Running {
            form: 0,
            held_ms: 0,
            parts: 2,
            other_bookmark: false,
        },
        Action::Running {
            form: 2,
            held_ms: 1500,
            parts: 1,
            other_bookmark: false,
        },
        Action::Complete,
        Action::Head(0),
        Action::Body {
            share: 100,
            clean: false,
        },
        Action::Head(0),
        Action::Body {
            share: 255,
            clean: true,
        },
    ];
    let report = harness::run_script(&script);
    let outcome = report.result.expect("ended").expect("completed");
    assert_eq!(outcome.bytes, 10_000);
    assert_eq!(outcome.bookmark.as_deref(), Some("bm-1"));
    assert_eq!(report.api_requests, 3);
    assert_eq!(report.downloads, 2);
}

/// Replays every checked-in fuzz corpus file and crash artifact through its harness
/// (as rustls does), so a regression fails `cargo test` without cargo-fuzz.
#[test]
fn replay_fuzz_corpora() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    type Harness = fn(&[u8]);
    let targets: [(&str, Harness); 6] = [
        ("fleet", |d| {
            harness::fuzz_fleet(d);
        }),
        ("import", harness::fuzz_import),
        ("reply", harness::fuzz_reply),
        ("request", harness::fuzz_request),
        ("download", harness::fuzz_download),
        ("machine", |d| {
            harness::run_script(&harness::actions_from_bytes(d));
        }),
    ];
    let mut replayed = 0;
    for (name, run) in targets {
        for dir in [
            root.join("corpus").join(name),
            root.join("regressions").join(name),
        ] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let data = std::fs::read(entry.path()).expect("readable corpus file");
                run(&data);
                replayed += 1;
            }
        }
    }
    if root.join("corpus").exists() {
        assert!(replayed > 0, "the corpora are empty");
    }
}

/// A close-delimited body cut short is never complete: the length is confirmed first, and
/// the rest comes as a resumption.
#[test]
fn a_cut_close_delimited_body_is_confirmed_then_resumed() {
    let script = [
        Action::Running {
            form: 0,
            held_ms: 0,
            parts: 0,
            other_bookmark: false,
        },
        Action::Complete,
        Action::Head(8),
        Action::Body {
            share: 128,
            clean: true,
        },
        Action::Head(0),
        Action::Body {
            share: 255,
            clean: true,
        },
    ];
    let report = harness::run_script(&script);
    assert_eq!(
        report.result.expect("ended").expect("completed").bytes,
        10_000
    );
    assert_eq!(report.downloads, 2);
}

/// A well-behaved import: init → upload (a wrong ETag first, then intact) → ingest → poll →
/// complete, with one import and the outcome as the service said.
#[test]
fn happy_import_script_completes() {
    let script = [
        ImportAction::UploadUrl,
        ImportAction::Upload(1),
        ImportAction::Upload(0),
        ImportAction::Running {
            held_ms: 1000,
            lines: 1,
            other_bookmark: false,
        },
        ImportAction::Running {
            held_ms: 0,
            lines: 0,
            other_bookmark: false,
        },
        ImportAction::Complete(42),
    ];
    let report = harness::run_import_script(&script);
    let outcome = report.result.expect("ended").expect("completed");
    assert_eq!(outcome.num_queries, 42);
    assert_eq!(outcome.final_bookmark.as_deref(), Some("fb-2"));
    assert_eq!(outcome.at_bookmark.as_deref(), Some("ib-1"));
    assert!(outcome.uploaded);
    assert_eq!(
        (report.inits, report.uploads, report.ingests, report.polls),
        (1, 2, 1, 2)
    );
}

/// An init answered with the polling shape skips the upload.
#[test]
fn init_with_the_polling_shape_skips_the_upload() {
    let script = [
        ImportAction::Running {
            held_ms: 0,
            lines: 0,
            other_bookmark: false,
        },
        ImportAction::Complete(7),
    ];
    let report = harness::run_import_script(&script);
    let outcome = report.result.expect("ended").expect("completed");
    assert!(!outcome.uploaded);
    assert_eq!(
        (report.inits, report.uploads, report.ingests, report.polls),
        (1, 0, 0, 1)
    );
}

/// After a restart (the service lost the job), the new export's first poll waits
/// `min_interval` like any other: only the first start is followed by a poll at once, so a
/// restart within the first 10 s never makes 13 API requests in 10 s (`run_script` checks the
/// window after every request).
#[test]
fn a_restart_does_not_poll_at_once() {
    let running = Action::Running {
        form: 0,
        held_ms: 0,
        parts: 0,
        other_bookmark: false,
    };
    let mut script = vec![running.clone(); 10];
    script.push(Action::Failure(6)); // "Export job not found or cancelled"
    script.extend([running.clone(), running.clone(), running]);
    script.extend([
        Action::Complete,
        Action::Head(0),
        Action::Body {
            share: 255,
            clean: true,
        },
    ]);
    let report = harness::run_script(&script);
    assert_eq!(
        report.result.expect("ended").expect("completed").bytes,
        10_000
    );
    assert_eq!(report.api_requests, 15);
}
