//! No storm in any state, honest pacing when the service throttles, status before body, and
//! "job gone" / "already running" recognised in every layer of a reply.

use d1_export_core::*;
use std::time::Duration;

mod world;
use world::*;

const RUNNING_WITHOUT_BOOKMARK: &str = r#"{"success":true,"result":{"status":"active"}}"#;

#[test]
fn running_without_a_bookmark_backs_off_then_is_a_protocol_error() {
    let c = config();
    let script = (0..c.retry.max_attempts)
        .map(|_| api(202, RUNNING_WITHOUT_BOOKMARK))
        .collect();
    let (result, log, _) = simulate(c.clone(), job(DumpOptions::default()), script);
    assert_eq!(result, Err(Error::Protocol(ProtocolError::MissingBookmark)));
    assert_eq!(log.sends.len() as u32, c.retry.max_attempts);
    for w in log.sends.windows(2) {
        assert!(
            w[1].0 - w[0].0 >= c.pacing.min_interval,
            "a storm: {:?}",
            w[1].0 - w[0].0
        );
    }
    assert!(log.events.iter().any(|e| matches!(
        e,
        Event::RetryScheduled {
            reason: Transient::MissingBookmark,
            ..
        }
    )));
}

#[test]
fn a_bookmark_after_a_few_anomalies_goes_on_normally() {
    let script = vec![
        api(202, RUNNING_WITHOUT_BOOKMARK),
        api(202, RUNNING_WITHOUT_BOOKMARK),
        active(),
        complete(),
        whole(4),
    ];
    let (result, _, _) = simulate(config(), job(DumpOptions::default()), script);
    assert_eq!(result.unwrap().bytes, 4);
}

/// Instant replies and instant failures alternating: requests stay `min_interval` apart.
#[test]
fn failures_between_quick_replies_never_make_a_storm() {
    let c = config();
    let mut script = vec![active()];
    for _ in 0..30 {
        script.push(Answer::Fail(TransportFailure::Reset));
        script.push(held(Duration::ZERO));
    }
    script.extend([complete(), whole(3)]);
    let (result, log, _) = simulate(c.clone(), job(DumpOptions::default()), script);
    assert!(result.is_ok());
    for (i, (t, _)) in log.sends.iter().enumerate() {
        let in_window = log.sends[i..]
            .iter()
            .take_while(|(u, _)| *u - *t <= Duration::from_secs(10))
            .count();
        assert!(in_window <= 12, "{in_window} requests within 10 s");
    }
}

#[test]
fn a_5xx_or_429_is_retried_whatever_its_size_and_only_a_2xx_over_the_cap_is_an_error() {
    let huge = format!("<html>{}</html>", "x".repeat(2 << 20));
    for status in [500, 502, 503, 429] {
        let (result, log, _) = simulate(
            config(),
            job(DumpOptions::default()),
            vec![active(), api(status, &huge), complete(), whole(3)],
        );
        assert_eq!(result.unwrap().bytes, 3, "{status}");
        assert!(log
            .events
            .iter()
            .any(|e| matches!(e, Event::RetryScheduled { .. })));
    }
    let (result, _, _) = simulate(config(), job(DumpOptions::default()), vec![api(200, &huge)]);
    assert!(matches!(
        result,
        Err(Error::Protocol(ProtocolError::ReplyTooLarge { .. }))
    ));
    let (result, _, _) = simulate(config(), job(DumpOptions::default()), vec![api(401, &huge)]);
    assert!(
        matches!(result, Err(Error::Api(ApiError { status: 401, .. }))),
        "{result:?}"
    );
}

#[test]
fn a_driver_reads_no_body_of_a_429_or_5xx() {
    let export = Export::new(
        config(),
        job(DumpOptions::default()),
        std::time::Instant::now(),
    )
    .unwrap();
    for s in [429u16, 500, 502, 503, 408] {
        let status = http::StatusCode::from_u16(s).unwrap();
        assert_eq!(export.reply_read_limit(status), 0, "{s}");
    }
    for s in [200u16, 202, 400, 401, 404] {
        let status = http::StatusCode::from_u16(s).unwrap();
        assert_eq!(
            export.reply_read_limit(status),
            export.reply_limit() + 1,
            "{s}"
        );
    }
}

#[test]
fn api_requests_ask_for_identity_and_an_encoded_reply_is_refused() {
    let script = vec![Answer::Reply(
        200,
        &[("content-encoding", "gzip")],
        "\u{1f}\u{8b}binary".into(),
        Duration::ZERO,
    )];
    let (result, log, _) = simulate(config(), job(DumpOptions::default()), script);
    assert_eq!(
        result,
        Err(Error::Protocol(ProtocolError::EncodedReply("gzip".into())))
    );
    assert_eq!(log.sends[0].1.headers()["accept-encoding"], "identity");
}

/// Our own waits stay within `max_gap` while the export runs; a longer `Retry-After` is the
/// service's and is reported; the export it lost meanwhile is started again once.
#[test]
fn a_long_retry_after_is_reported_and_a_lost_export_restarted_once() {
    let c = config();
    let gone = api(
        200,
        r#"{"success":true,"result":{"status":"error","error":"Export job not found or cancelled for bookmark bm"}}"#,
    );
    let throttled = Answer::Reply(
        429,
        &[("retry-after", "86400")],
        "{}".into(),
        Duration::ZERO,
    );
    let (result, log, _) = simulate(
        c.clone(),
        job(DumpOptions::default()),
        vec![active(), throttled, gone, active(), complete(), whole(5)],
    );
    assert_eq!(result.unwrap().bytes, 5);
    let pause = log
        .events
        .iter()
        .find_map(|e| match e {
            Event::PausedByService { pause, max_gap } => Some((*pause, *max_gap)),
            _ => None,
        })
        .expect("the forced pause is reported");
    assert_eq!(pause, (c.retry.max_retry_after, c.pacing.max_gap));
    assert!(log.sends[2].0 - log.sends[1].0 >= c.retry.max_retry_after);
    assert!(log
        .events
        .iter()
        .any(|e| matches!(e, Event::ExportRestarted { .. })));
    assert!(body_of(&log.sends[3].1).get("current_bookmark").is_none());

    // A short Retry-After (within max_gap) is no news.
    let short = Answer::Reply(429, &[("retry-after", "2")], "{}".into(), Duration::ZERO);
    let (result, log, _) = simulate(
        c.clone(),
        job(DumpOptions::default()),
        vec![active(), short, complete(), whole(5)],
    );
    assert!(result.is_ok());
    assert!(!log
        .events
        .iter()
        .any(|e| matches!(e, Event::PausedByService { .. })));

    // Restarts forbidden: the lost export is an error.
    let mut forbidden = c;
    forbidden.job_gone = JobGonePolicy::Fail;
    let throttled = Answer::Reply(
        429,
        &[("retry-after", "86400")],
        "{}".into(),
        Duration::ZERO,
    );
    let gone = api(
        200,
        r#"{"success":true,"result":{"status":"error","error":"Export job not found or cancelled for bookmark bm"}}"#,
    );
    let (result, _, _) = simulate(
        forbidden,
        job(DumpOptions::default()),
        vec![active(), throttled, gone],
    );
    assert!(matches!(result, Err(Error::JobGone { .. })), "{result:?}");
}

#[test]
fn restarting_is_the_default() {
    assert_eq!(JobGonePolicy::default(), JobGonePolicy::RestartOnce);
}

/// "Job gone" in the envelope, in the inner `success:false`, and in `status:error`.
#[test]
fn a_lost_job_is_recognised_in_every_layer() {
    let layers = [
        (
            404,
            r#"{"success":false,"errors":[{"code":7500,"message":"Export job not found or cancelled for bookmark bm"}]}"#,
        ),
        (
            200,
            r#"{"success":true,"result":{"success":false,"error":"Export job not found or cancelled for bookmark bm"}}"#,
        ),
        (
            200,
            r#"{"success":true,"result":{"status":"error","error":"Export job not found or cancelled for bookmark bm"}}"#,
        ),
    ];
    for (status, body) in layers {
        let mut c = config();
        c.job_gone = JobGonePolicy::Fail;
        let (result, _, _) = simulate(
            c,
            job(DumpOptions::default()),
            vec![active(), api(status, body)],
        );
        assert!(
            matches!(result, Err(Error::JobGone { .. })),
            "{body}: {result:?}"
        );
        let (result, log, _) = simulate(
            config(),
            job(DumpOptions::default()),
            vec![active(), api(status, body), active(), complete(), whole(2)],
        );
        assert!(result.is_ok(), "{body}: {result:?}");
        assert!(log
            .events
            .iter()
            .any(|e| matches!(e, Event::ExportRestarted { .. })));
    }
}

/// "Already running" in every layer: at once on a first try (someone else's export), waited
/// out after our own first request's reply was lost (our orphan).
#[test]
fn an_export_already_running_is_recognised_in_every_layer() {
    let msg = "Currently processing a long-running export. Cannot start a new export until that completes or times out.";
    let layers = [
        (
            409,
            format!(r#"{{"success":false,"errors":[{{"code":7500,"message":"{msg}"}}]}}"#),
        ),
        (
            200,
            format!(r#"{{"success":true,"result":{{"success":false,"error":"{msg}"}}}}"#),
        ),
        (
            200,
            format!(r#"{{"success":true,"result":{{"status":"error","error":"{msg}"}}}}"#),
        ),
    ];
    for (status, body) in &layers {
        let (result, log, _) = simulate(
            config(),
            job(DumpOptions::default()),
            vec![api(*status, body)],
        );
        let err = result.unwrap_err();
        assert_eq!(
            err.hint(),
            Some(Hint::ExportAlreadyRunning),
            "{body}: {err:?}"
        );
        assert_eq!(log.sends.len(), 1);

        let (result, log, _) = simulate(
            config(),
            job(DumpOptions::default()),
            vec![
                Answer::Fail(TransportFailure::Reset),
                api(*status, body),
                active(),
                complete(),
                whole(2),
            ],
        );
        assert!(result.is_ok(), "{body}: {result:?}");
        assert!(
            log.events.iter().any(|e| matches!(
                e,
                Event::RetryScheduled {
                    reason: Transient::OrphanedExport(_),
                    ..
                }
            )),
            "{body}"
        );
    }
}

/// The bookmark-less "running" export blocks the next start ("already running"): that is the
/// same anomaly, backed off and bounded, and the error names it.
#[test]
fn running_without_a_bookmark_then_already_running_is_still_the_missing_bookmark() {
    let busy = r#"{"success":false,"errors":[{"code":7500,"message":"Currently processing a long-running export. Cannot start a new export until that completes or times out."}]}"#;
    let c = config();
    let mut script = vec![api(202, RUNNING_WITHOUT_BOOKMARK)];
    script.extend((1..c.retry.max_attempts).map(|_| api(409, busy)));
    let (result, log, _) = simulate(c.clone(), job(DumpOptions::default()), script);
    assert_eq!(result, Err(Error::Protocol(ProtocolError::MissingBookmark)));
    assert_eq!(log.sends.len() as u32, c.retry.max_attempts);
}
