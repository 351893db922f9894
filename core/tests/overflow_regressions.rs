//! Regression tests for bugs found while fuzzing and mutation-testing the core (all fixed:
//! overflow on huge ranges, deadlines and Retry-After values).

use d1_export_core::download::{judge_head, HeadVerdict};
use d1_export_core::*;
use std::time::{Duration, Instant};

/// fuzz/regressions/download/206-range-end-u64-max: `last + 1` overflows in `judge_head`
/// (core/src/download.rs, `total.or(Some(last + 1))` and `last - first + 1`).
#[test]
fn a_range_ending_at_u64_max_is_inconsistent_not_an_overflow() {
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::CONTENT_RANGE,
        "bytes 0-18446744073709551615/*".parse().unwrap(),
    );
    assert!(matches!(
        judge_head(http::StatusCode::PARTIAL_CONTENT, &h, 0),
        HeadVerdict::Inconsistent(_)
    ));
    h.insert(http::header::CONTENT_LENGTH, 7.into());
    assert!(matches!(
        judge_head(http::StatusCode::PARTIAL_CONTENT, &h, 0),
        HeadVerdict::Inconsistent(_)
    ));
}

/// `Session::new` (core/src/session.rs) sets the deadline to `now` when `now + deadline`
/// overflows, so a caller who means "no deadline" by `Duration::MAX` gets
/// `DeadlineExceeded` at the first reply.
#[test]
fn a_huge_deadline_means_no_deadline() {
    let mut config = Config::new(ApiBase::default(), ApiToken::new("t").unwrap());
    config.deadline = Duration::MAX;
    let job = Job {
        account: AccountId::new("0123456789abcdef0123456789abcdef").unwrap(),
        database: DatabaseId::new("0a1b2c3d-0000-4000-8000-00000000abcd").unwrap(),
        options: DumpOptions::default(),
    };
    let now = Instant::now();
    let mut export = Export::new(config, job, now).unwrap();
    let Output::Send { id, .. } = export.poll_output() else {
        panic!("no first request")
    };
    let response = http::Response::builder()
        .status(202)
        .body(br#"{"success":true,"result":{"at_bookmark":"b","status":"active"}}"#.to_vec())
        .unwrap();
    export
        .handle_input(now, Input::Reply { id, response })
        .unwrap();
    loop {
        match export.poll_output() {
            Output::Event(_) => {}
            Output::Send { .. } => break,
            other => panic!("expected the next poll, got {other:?}"),
        }
    }
}

/// `RateBudget::throttled` (core/src/budget.rs) adds the Retry-After to `now` unchecked;
/// `reply::retry_after` returns whatever delay-seconds the server sent, so a 429 with
/// `Retry-After: 18446744073709551615` fed to the budget panics ("overflow when adding
/// duration to instant"), in release builds too.
#[test]
fn a_huge_retry_after_does_not_panic_the_budget() {
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::RETRY_AFTER,
        "18446744073709551615".parse().unwrap(),
    );
    let after = reply::retry_after(&h);
    assert_eq!(after, Some(Duration::from_secs(u64::MAX)));
    let now = Instant::now();
    let mut budget = RateBudget::cloudflare();
    budget.throttled(now, after);
    assert!(budget.next_slot(now) > now);
}
