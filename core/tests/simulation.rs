//! Deterministic simulation: scripted services driven through the machine on a virtual clock
//! (quinn-proto style). No sleeps: hours of protocol time run in microseconds.

use d1_export_core::*;
use std::time::{Duration, Instant};

mod world;
use world::*;

#[test]
fn happy_path_requests_and_events() {
    let options = DumpOptions {
        contents: Contents::SchemaOnly,
        tables: vec!["users".into()],
        compatibility: None,
    };
    let (result, log, _) = simulate(
        config(),
        job(options),
        vec![active(), active(), complete(), whole(1234)],
    );
    let outcome = result.unwrap();
    assert_eq!(
        outcome,
        Outcome {
            filename: "x.sql".into(),
            bookmark: Some("bm".into()),
            bytes: 1234
        }
    );
    assert_eq!(log.sends.len(), 3);
    for (i, (_, r)) in log.sends.iter().enumerate() {
        assert_eq!(r.method(), http::Method::POST);
        assert_eq!(
            r.uri().to_string(),
            format!("https://api.test/client/v4/accounts/{ACCOUNT}/d1/database/{DB}/export")
        );
        assert_eq!(r.headers()["authorization"], "Bearer secret-token");
        assert_eq!(r.headers()["content-type"], "application/json");
        let b = body_of(r);
        assert_eq!(b["output_format"], "polling");
        assert_eq!(
            b["dump_options"],
            serde_json::json!({"no_data": true, "tables": ["users"]})
        );
        if i == 0 {
            assert!(b.get("current_bookmark").is_none());
        } else {
            assert_eq!(b["current_bookmark"], "bm");
        }
    }
    let (_, d) = &log.downloads[0];
    assert!(d.headers().get("authorization").is_none());
    assert!(d.headers().get("range").is_none());
    assert_eq!(d.uri().to_string(), URL);
    // Parts out of order are counted once each.
    let parts: Vec<_> = log
        .events
        .iter()
        .filter_map(|e| match e {
            Event::PartUploaded { distinct_parts, .. } => Some(*distinct_parts),
            _ => None,
        })
        .collect();
    assert_eq!(parts, [1, 2, 2, 2, 2, 2]);
    assert!(log.events.contains(&Event::BookmarkLearned("bm".into())));
    assert!(matches!(log.events.last(), Some(Event::Completed(o)) if o.bytes == 1234));
}

#[test]
fn pacing_min_interval_unless_held() {
    let (_, log, _) = simulate(
        config(),
        job(DumpOptions::default()),
        vec![
            active(),
            active(),
            held(Duration::from_millis(1500)),
            active(),
            complete(),
            whole(1),
        ],
    );
    let t: Vec<_> = log.sends.iter().map(|(t, _)| *t).collect();
    assert_eq!(t[1], t[0], "the first poll follows the start at once");
    assert_eq!(
        t[2] - t[1],
        Duration::from_secs(1),
        "a quick reply waits the minimum interval"
    );
    assert_eq!(
        t[3] - t[2],
        Duration::from_millis(1500),
        "a held reply is followed at once"
    );
    assert_eq!(t[4] - t[3], Duration::from_secs(1));
}

#[test]
fn retry_after_is_honoured_in_both_forms() {
    let throttled = Answer::Reply(429, &[("retry-after", "7")], "{}".into(), Duration::ZERO);
    let dated = Answer::Reply(
        429,
        &[
            ("retry-after", "Wed, 25 Nov 2026 03:00:09 GMT"),
            ("date", "Wed, 25 Nov 2026 03:00:00 GMT"),
        ],
        "rate limited".into(),
        Duration::ZERO,
    );
    let (result, log, _) = simulate(
        config(),
        job(DumpOptions::default()),
        vec![throttled, dated, complete(), whole(5)],
    );
    assert!(result.is_ok());
    let t: Vec<_> = log.sends.iter().map(|(t, _)| *t).collect();
    assert_eq!(t[1] - t[0], Duration::from_secs(7));
    assert_eq!(t[2] - t[1], Duration::from_secs(9));
}

#[test]
fn retry_after_is_capped() {
    let mut c = config();
    c.retry.max_retry_after = Duration::from_secs(60);
    let throttled = Answer::Reply(
        429,
        &[("retry-after", "86400")],
        "{}".into(),
        Duration::ZERO,
    );
    let (_, log, _) = simulate(
        c,
        job(DumpOptions::default()),
        vec![throttled, complete(), whole(5)],
    );
    assert_eq!(log.sends[1].0 - log.sends[0].0, Duration::from_secs(60));
}

#[test]
fn transient_failures_back_off_with_jitter_then_give_up() {
    let html = || {
        Answer::Reply(
            503,
            &[("content-type", "text/html")],
            "<html>503</html>".into(),
            Duration::ZERO,
        )
    };
    let mut c = config();
    c.retry.max_attempts = 4;
    let script = vec![
        html(),
        Answer::Fail(TransportFailure::Connect),
        api(200, "{not json"),
        html(),
    ];
    let (result, log, _) = simulate(c.clone(), job(DumpOptions::default()), script);
    match result {
        Err(Error::GaveUp {
            attempts: 4,
            last: Transient::NotJson { status: 503, .. },
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(log.sends.len(), 4);
    let delays: Vec<_> = log
        .events
        .iter()
        .filter_map(|e| match e {
            Event::RetryScheduled { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect();
    assert_eq!(delays.len(), 3);
    for (i, d) in delays.iter().enumerate() {
        assert!(
            *d <= c.retry.initial_backoff * (1 << i),
            "retry {i} waited {d:?}"
        );
    }
    // Same seed, same delays: deterministic.
    let script = vec![
        html(),
        Answer::Fail(TransportFailure::Connect),
        api(200, "{not json"),
        html(),
    ];
    let (_, again, _) = simulate(c, job(DumpOptions::default()), script);
    let again: Vec<_> = again
        .events
        .iter()
        .filter_map(|e| match e {
            Event::RetryScheduled { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect();
    assert_eq!(delays, again, "same seed, same jitter");
    assert!(delays.windows(2).any(|w| w[0] != w[1]), "jitter varies");
}

#[test]
fn a_running_export_is_never_left_unpolled_for_long() {
    let mut c = config();
    c.retry.max_backoff = Duration::from_secs(600);
    c.retry.max_attempts = 10;
    let mut script = vec![active()];
    script.extend((0..8).map(|_| Answer::Fail(TransportFailure::Timeout)));
    script.extend([complete(), whole(3)]);
    let (result, log, _) = simulate(c.clone(), job(DumpOptions::default()), script);
    assert!(result.is_ok());
    for w in log.sends.windows(2) {
        assert!(
            w[1].0 - w[0].0 <= c.pacing.max_gap,
            "gap {:?}",
            w[1].0 - w[0].0
        );
    }
    // The bookmark goes out again on every retry: the export is never restarted.
    for (_, r) in &log.sends[1..] {
        assert_eq!(body_of(r)["current_bookmark"], "bm");
    }
}

#[test]
fn caller_errors_fail_fast() {
    for (status, body, hint) in [
        (
            401,
            r#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}"#,
            Hint::Authentication,
        ),
        (
            404,
            r#"{"success":false,"errors":[{"code":7404,"message":"not found"}]}"#,
            Hint::NotFound,
        ),
        (
            403,
            r#"{"success":false,"errors":[{"code":7403,"message":"bad account"}]}"#,
            Hint::Account,
        ),
    ] {
        let (result, log, _) = simulate(
            config(),
            job(DumpOptions::default()),
            vec![api(status, body)],
        );
        let err = result.unwrap_err();
        assert_eq!(err.hint(), Some(hint));
        assert_eq!(err.side(), Side::Caller);
        assert_eq!(log.sends.len(), 1);
    }
}

const BUSY: &str = r#"{"success":false,"errors":[{"code":7500,"message":"Currently processing a long-running export. Cannot start a new export until that completes or times out."}]}"#;

#[test]
fn an_export_already_running_fails_fast_on_the_first_try() {
    let (result, log, _) = simulate(config(), job(DumpOptions::default()), vec![api(409, BUSY)]);
    assert_eq!(result.unwrap_err().hint(), Some(Hint::ExportAlreadyRunning));
    assert_eq!(log.sends.len(), 1);
}

#[test]
fn our_own_orphaned_export_is_waited_out() {
    // The first POST's reply is lost; the retry finds "our" export running, waits, succeeds.
    let script = vec![
        Answer::Fail(TransportFailure::Reset),
        api(409, BUSY),
        api(409, BUSY),
        active(),
        complete(),
        whole(2),
    ];
    let (result, log, _) = simulate(config(), job(DumpOptions::default()), script);
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(log.sends.len(), 5);
}

const GONE: &str = r#"{"success":true,"result":{"status":"error","error":"Export job not found or cancelled for bookmark bm"}}"#;

#[test]
fn a_lost_job_fails_or_restarts_once_as_configured() {
    let mut forbidden = config();
    forbidden.job_gone = JobGonePolicy::Fail;
    let (result, _, _) = simulate(
        forbidden,
        job(DumpOptions::default()),
        vec![active(), api(200, GONE)],
    );
    assert!(matches!(result, Err(Error::JobGone { .. })));

    let mut c = config();
    c.job_gone = JobGonePolicy::RestartOnce;
    let (result, log, _) = simulate(
        c.clone(),
        job(DumpOptions::default()),
        vec![active(), api(200, GONE), active(), complete(), whole(9)],
    );
    assert!(result.is_ok());
    assert!(
        body_of(&log.sends[2].1).get("current_bookmark").is_none(),
        "a restart starts afresh"
    );
    assert!(log
        .events
        .iter()
        .any(|e| matches!(e, Event::ExportRestarted { .. })));
    let (result, _, _) = simulate(
        c,
        job(DumpOptions::default()),
        vec![active(), api(200, GONE), active(), api(200, GONE)],
    );
    assert!(matches!(result, Err(Error::JobGone { .. })), "only once");
}

#[test]
fn an_expired_url_is_refreshed_and_the_download_resumed() {
    let script = vec![
        complete(),
        Answer::Head(200, vec![("content-length", "100".into())], 40, false),
        Answer::Head(
            403,
            vec![("content-type", "application/xml".into())],
            0,
            true,
        ),
        complete(),
        Answer::Head(
            206,
            vec![
                ("content-range", "bytes 40-99/100".into()),
                ("content-length", "60".into()),
            ],
            60,
            true,
        ),
    ];
    let (result, log, _) = simulate(config(), job(DumpOptions::default()), script);
    assert_eq!(result.unwrap().bytes, 100);
    assert_eq!(log.sends.len(), 2);
    assert_eq!(body_of(&log.sends[1].1)["current_bookmark"], "bm");
    assert_eq!(log.downloads[1].1.headers()["range"], "bytes=40-");
    assert_eq!(log.downloads[2].1.headers()["range"], "bytes=40-");
    assert_eq!(log.writes, [0, 40]);
    assert!(log.events.contains(&Event::RefreshingUrl));
    assert_eq!(log.sink, 100);
}

#[test]
fn a_server_that_ignores_range_restarts_from_zero() {
    let script = vec![
        complete(),
        Answer::Head(200, vec![("content-length", "100".into())], 30, false),
        whole(100),
    ];
    let (result, log, _) = simulate(config(), job(DumpOptions::default()), script);
    assert_eq!(result.unwrap().bytes, 100);
    assert_eq!(log.downloads[1].1.headers()["range"], "bytes=30-");
    assert_eq!(log.writes, [0, 0]);
    assert!(log.events.contains(&Event::DownloadRestarted));
}

#[test]
fn a_short_clean_end_is_never_complete() {
    let mut c = config();
    c.download.max_resumes = 2;
    let short = || Answer::Head(200, vec![("content-length", "100".into())], 99, true);
    let (result, log, _) = simulate(
        c,
        job(DumpOptions::default()),
        vec![complete(), short(), short(), short(), short()],
    );
    assert!(
        matches!(
            result,
            Err(Error::GaveUp {
                last: Transient::DownloadInterrupted { .. },
                ..
            })
        ),
        "{result:?}"
    );
    // The first short body brought new bytes (free); the three that only repeat them count.
    assert_eq!(log.downloads.len(), 4);
}

#[test]
fn expired_urls_are_refreshed_a_bounded_number_of_times() {
    let mut c = config();
    c.download.max_url_refreshes = 1;
    let expired = || Answer::Head(403, vec![], 0, true);
    let (result, log, _) = simulate(
        c,
        job(DumpOptions::default()),
        vec![complete(), expired(), complete(), expired()],
    );
    assert!(matches!(
        result,
        Err(Error::GaveUp {
            last: Transient::UrlExpired,
            ..
        })
    ));
    assert!(result.unwrap_err().is_download());
    assert_eq!(log.sends.len(), 2);
}

#[test]
fn the_deadline_ends_an_endless_export() {
    let mut c = config();
    c.deadline = Duration::from_secs(30);
    let script = (0..100).map(|_| active()).collect();
    let (result, log, elapsed) = simulate(c, job(DumpOptions::default()), script);
    assert_eq!(result, Err(Error::DeadlineExceeded));
    assert_eq!(elapsed, Duration::from_secs(30));
    assert!(log.sends.len() <= 31);
}

#[test]
fn unknown_statuses_are_bounded() {
    let mut c = config();
    c.max_unknown_status = 3;
    let odd = || {
        api(
            200,
            r#"{"success":true,"result":{"status":"paused","at_bookmark":"bm"}}"#,
        )
    };
    let (result, log, _) = simulate(
        c,
        job(DumpOptions::default()),
        vec![odd(), odd(), odd(), odd()],
    );
    assert_eq!(
        result,
        Err(Error::Protocol(ProtocolError::UnknownStatus(
            "paused".into()
        )))
    );
    assert_eq!(
        log.events
            .iter()
            .filter(|e| matches!(e, Event::UnknownStatus(_)))
            .count(),
        3
    );
}

#[test]
fn stale_and_misplaced_inputs_are_refused_without_effect() {
    let now = Instant::now();
    let mut export = Export::new(config(), job(DumpOptions::default()), now).unwrap();
    assert_eq!(export.state(), State::Idle);
    let Output::Send { id, .. } = export.poll_output() else {
        panic!()
    };
    let response = || {
        http::Response::builder()
            .status(202)
            .body(br#"{"success":true,"result":{"at_bookmark":"bm","status":"active"}}"#.to_vec())
            .unwrap()
    };
    export
        .handle_input(
            now,
            Input::Reply {
                id,
                response: response(),
            },
        )
        .unwrap();
    assert_eq!(
        export.state(),
        State::Polling {
            bookmark: Some("bm")
        }
    );
    // The same id again is stale.
    let err = export
        .handle_input(
            now,
            Input::Reply {
                id,
                response: response(),
            },
        )
        .unwrap_err();
    assert!(matches!(err, InputError::UnexpectedId { got, outstanding: None } if got == id));
    // Drain the bookmark event; the first poll goes at once.
    assert!(matches!(
        export.poll_output(),
        Output::Event(Event::BookmarkLearned(_))
    ));
    let Output::Send { id: id1, .. } = export.poll_output() else {
        panic!()
    };
    export
        .handle_input(
            now,
            Input::Reply {
                id: id1,
                response: response(),
            },
        )
        .unwrap();
    // A quick reply: the next poll waits the minimum interval.
    assert!(
        matches!(export.poll_output(), Output::WaitUntil(at) if at == now + Duration::from_secs(1))
    );
    export
        .handle_input(now + Duration::from_secs(1), Input::Tick)
        .unwrap();
    let Output::Send { id: id2, .. } = export.poll_output() else {
        panic!()
    };
    assert!(id2 > id1 && id1 > id);
    assert!(id2 > id);
    let err = export
        .handle_input(
            now,
            Input::DownloadEnded {
                id: id2,
                written: 1,
            },
        )
        .unwrap_err();
    assert!(matches!(err, InputError::WrongInput { .. }));
    export.handle_input(now, Input::Cancel).unwrap();
    assert!(matches!(
        export.poll_output(),
        Output::Done(Err(Error::Cancelled))
    ));
    assert!(
        matches!(export.poll_output(), Output::Done(Err(Error::Cancelled))),
        "Done repeats"
    );
    assert_eq!(export.state(), State::Failed);
}

#[test]
fn setup_refuses_conflicting_options_and_policies() {
    let bad = DumpOptions {
        contents: Contents::DataOnly,
        tables: vec![],
        compatibility: Some(Compatibility::Sqlite3CliOnly),
    };
    assert!(matches!(
        Export::new(config(), job(bad), Instant::now()),
        Err(SetupError::Options(_))
    ));
    let mut c = config();
    c.pacing.min_interval = Duration::from_secs(10);
    assert!(matches!(
        Export::new(c, job(DumpOptions::default()), Instant::now()),
        Err(SetupError::Policy(_))
    ));
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let now = Instant::now();
    let mut export = Export::new(config(), job(DumpOptions::default()), now).unwrap();
    let shown = format!("{export:?}");
    assert!(!shown.contains("secret-token"), "{shown}");
    let Output::Send { id, request } = export.poll_output() else {
        panic!()
    };
    assert!(!format!("{request:?}").contains("secret-token"));
    let response = http::Response::builder().status(200).body(format!(r#"{{"success":true,"result":{{"status":"complete","result":{{"signed_url":"{URL}"}}}}}}"#).into_bytes()).unwrap();
    export
        .handle_input(now, Input::Reply { id, response })
        .unwrap();
    let shown = format!("{export:?}");
    assert!(!shown.contains("X-Amz-Signature=secret"), "{shown}");
}

#[test]
fn lookup_calls_retry_and_parse() {
    let now = Instant::now();
    let account = AccountId::new(ACCOUNT).unwrap();
    assert!(lookup::find_database(config(), &account, "../etc", now).is_err());
    let mut call = lookup::find_database(config(), &account, "prod-db", now).unwrap();
    let Output::Send { id, request } = call.poll_output() else {
        panic!()
    };
    assert_eq!(request.method(), http::Method::GET);
    assert_eq!(
        request.uri().path(),
        format!("/client/v4/accounts/{ACCOUNT}/d1/database/prod-db")
    );
    let r = http::Response::builder()
        .status(502)
        .body(b"<html>bad gateway</html>".to_vec())
        .unwrap();
    call.handle_input(now, Input::Reply { id, response: r })
        .unwrap();
    assert!(matches!(
        call.poll_output(),
        Output::Event(Event::RetryScheduled { attempt: 2, .. })
    ));
    let Output::WaitUntil(at) = call.poll_output() else {
        panic!()
    };
    call.handle_input(at, Input::Tick).unwrap();
    let Output::Send { id, .. } = call.poll_output() else {
        panic!()
    };
    let r = http::Response::builder().status(200).body(format!(r#"{{"success":true,"result":{{"uuid":"{DB}","name":"prod-db","version":"production"}}}}"#).into_bytes()).unwrap();
    call.handle_input(at, Input::Reply { id, response: r })
        .unwrap();
    match call.poll_output() {
        Output::Done(Ok(info)) => {
            assert_eq!((info.uuid.as_str(), info.name.as_str()), (DB, "prod-db"))
        }
        other => panic!("{other:?}"),
    }

    let mut list = lookup::list_databases(config(), &account, 2, 50, now).unwrap();
    let Output::Send { id, request } = list.poll_output() else {
        panic!()
    };
    assert_eq!(request.uri().query(), Some("page=2&per_page=50"));
    let r = http::Response::builder().status(200).body(format!(r#"{{"success":true,"result":[{{"uuid":"{DB}","name":"a"}}],"result_info":{{"page":2,"per_page":50,"count":1,"total_count":51}}}}"#).into_bytes()).unwrap();
    list.handle_input(now, Input::Reply { id, response: r })
        .unwrap();
    match list.poll_output() {
        Output::Done(Ok(page)) => {
            assert_eq!(page.databases.len(), 1);
            assert_eq!(page.info.unwrap().total_count, Some(51));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn paging_stops_at_the_end() {
    let info = |total| {
        Some(wire::ResultInfo {
            page: 1,
            per_page: 2,
            count: 2,
            total_count: total,
        })
    };
    let two = vec![wire::DatabaseInfo::default(), wire::DatabaseInfo::default()];
    let page = lookup::Page {
        databases: two.clone(),
        info: info(Some(5)),
    };
    assert_eq!(page.next_page(1, 2), Some(2));
    assert_eq!(page.next_page(3, 2), None);
    let page = lookup::Page {
        databases: two,
        info: None,
    };
    assert_eq!(page.next_page(1, 2), Some(2));
    let page = lookup::Page {
        databases: vec![],
        info: info(Some(5)),
    };
    assert_eq!(page.next_page(1, 2), None, "an empty page ends the listing");
}

#[test]
fn the_next_request_is_a_start_until_the_export_runs() {
    let now = Instant::now();
    let mut export = Export::new(config(), job(DumpOptions::default()), now).unwrap();
    assert_eq!(
        export.next_request(),
        Some(NextRequest {
            at: now,
            kind: RequestKind::Start
        })
    );
    let Output::Send { id, .. } = export.poll_output() else {
        panic!()
    };
    let response = http::Response::builder()
        .status(202)
        .body(br#"{"success":true,"result":{"at_bookmark":"bm","status":"active"}}"#.to_vec())
        .unwrap();
    assert_eq!(export.next_request(), None, "a request is out");
    export
        .handle_input(now, Input::Reply { id, response })
        .unwrap();
    // The bookmark event waits to be polled first.
    assert_eq!(export.next_request(), None);
    assert!(matches!(
        export.poll_output(),
        Output::Event(Event::BookmarkLearned(_))
    ));
    assert_eq!(
        export.next_request(),
        Some(NextRequest {
            at: now,
            kind: RequestKind::Poll
        })
    );
}

#[test]
fn the_current_bookmark_is_one_get() {
    let now = Instant::now();
    let account = AccountId::new(ACCOUNT).unwrap();
    let db = DatabaseId::new(DB).unwrap();
    let mut call = lookup::current_bookmark(config(), &account, &db, now).unwrap();
    let Output::Send { id, request } = call.poll_output() else {
        panic!()
    };
    assert_eq!(request.method(), http::Method::GET);
    assert_eq!(
        request.uri().path(),
        format!("/client/v4/accounts/{ACCOUNT}/d1/database/{DB}/time_travel/bookmark")
    );
    assert!(request.headers().contains_key("authorization"));
    let r = http::Response::builder().status(200).body(br#"{"success":true,"result":{"bookmark":"00000001-00000002-00004e2f-0a83ea2fceebc654de0640c422be4653"}}"#.to_vec()).unwrap();
    call.handle_input(now, Input::Reply { id, response: r })
        .unwrap();
    assert!(matches!(call.poll_output(), Output::Done(Ok(b)) if b.starts_with("00000001-")));
}

#[test]
fn download_started_comes_before_the_request_and_progress_is_coalesced() {
    let now = Instant::now();
    let mut export = Export::new(config(), job(DumpOptions::default()), now).unwrap();
    let Output::Send { id, .. } = export.poll_output() else {
        panic!()
    };
    let response = http::Response::builder().status(200).body(format!(r#"{{"success":true,"result":{{"status":"complete","result":{{"signed_url":"{URL}"}}}}}}"#).into_bytes()).unwrap();
    export
        .handle_input(now, Input::Reply { id, response })
        .unwrap();
    let mut order = Vec::new();
    let id = loop {
        match export.poll_output() {
            Output::Event(Event::DownloadStarted { from: 0 }) => order.push("started"),
            Output::Event(_) => {}
            Output::Download { id, .. } => {
                order.push("request");
                break id;
            }
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(order, ["started", "request"]);
    let total: u64 = 10 << 20;
    let head = http::Response::builder()
        .status(200)
        .header("content-length", total.to_string())
        .body(())
        .unwrap();
    export
        .handle_input(now, Input::DownloadHead { id, head })
        .unwrap();
    assert!(matches!(
        export.poll_output(),
        Output::WriteBody { start_at: 0, .. }
    ));
    // 64 KiB chunks: 160 progress inputs, one event per 256 KiB.
    let mut events = 0;
    for chunk in 1..=160u64 {
        export
            .handle_input(
                now,
                Input::DownloadProgress {
                    id,
                    written: chunk * (64 << 10),
                },
            )
            .unwrap();
        loop {
            match export.poll_output() {
                Output::Event(e) => {
                    assert!(matches!(e, Event::DownloadProgress { .. }));
                    events += 1;
                }
                Output::KeepStreaming { id: got } => {
                    assert_eq!(got, id);
                    break;
                }
                other => panic!("after progress: {other:?}"),
            }
        }
    }
    assert!((39..=41).contains(&events), "{events} progress events");
    export
        .handle_input(now, Input::DownloadEnded { id, written: total })
        .unwrap();
    let mut last = None;
    while let Output::Event(e) = export.poll_output() {
        last = Some(e);
    }
    assert!(matches!(last, Some(Event::Completed(_))));
}

/// An export whose start was answered "complete": its events and download come next.
fn ready_export() -> (Export, Instant) {
    let now = Instant::now();
    let mut export = Export::new(config(), job(DumpOptions::default()), now).unwrap();
    let Output::Send { id, .. } = export.poll_output() else {
        panic!()
    };
    let response = http::Response::builder()
        .status(200)
        .body(br#"{"success":true,"result":{"at_bookmark":"bm","status":"complete","result":{"filename":"x.sql","signed_url":"https://bucket.test/x.sql?X-Amz-Signature=s"}}}"#.to_vec())
        .unwrap();
    export
        .handle_input(now, Input::Reply { id, response })
        .unwrap();
    (export, now)
}

#[test]
fn the_next_request_is_the_download_once_the_dump_is_ready() {
    let (mut export, now) = ready_export();
    // Events first; then the download is announced before it is released.
    while export.next_request().is_none() {
        match export.poll_output() {
            Output::Event(_) => {}
            other => panic!("released before it was announced: {other:?}"),
        }
    }
    assert_eq!(
        export.next_request(),
        Some(NextRequest {
            at: now,
            kind: RequestKind::Download
        })
    );
    // Released (after its DownloadStarted event) once asked for.
    let released = loop {
        match export.poll_output() {
            Output::Event(_) => {}
            other => break other,
        }
    };
    assert!(matches!(released, Output::Download { .. }), "{released:?}");
}

#[test]
fn the_next_request_is_a_url_refresh_after_the_signed_url_expired() {
    let (mut export, now) = ready_export();
    let id = loop {
        match export.poll_output() {
            Output::Event(_) => {}
            Output::Download { id, .. } => break id,
            other => panic!("{other:?}"),
        }
    };
    let head = http::Response::builder().status(403).body(()).unwrap();
    export
        .handle_input(now, Input::DownloadHead { id, head })
        .unwrap();
    while export.next_request().is_none() {
        match export.poll_output() {
            Output::Event(_) => {}
            other => panic!("released before it was announced: {other:?}"),
        }
    }
    assert_eq!(
        export.next_request().map(|n| n.kind),
        Some(RequestKind::UrlRefresh)
    );
}
