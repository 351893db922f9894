//! The export machine's accessors, events and edge decisions, step by step through the
//! public API (found missing by cargo-mutants, scripts/mutants.sh).

use d1_export_core::*;
use std::time::Instant;

const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";
const DB: &str = "0a1b2c3d-0000-4000-8000-00000000abcd";
const URL: &str = "https://bucket.test/x.sql?X-Amz-Signature=s";

fn config() -> Config {
    let mut c = Config::new(
        ApiBase::new("https://api.test/client/v4").unwrap(),
        ApiToken::new("tok").unwrap(),
    );
    c.retry.jitter_seed = 3;
    c
}

fn job() -> Job {
    Job {
        account: AccountId::new(ACCOUNT).unwrap(),
        database: DatabaseId::new(DB).unwrap(),
        options: DumpOptions::default(),
    }
}

fn reply(status: u16, body: &str) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .body(body.as_bytes().to_vec())
        .unwrap()
}

fn active(bookmark: &str, messages: &str) -> http::Response<Vec<u8>> {
    reply(
        202,
        &format!(
            r#"{{"success":true,"result":{{"at_bookmark":"{bookmark}","status":"active","messages":[{messages}]}}}}"#
        ),
    )
}

fn complete(filename: Option<&str>) -> http::Response<Vec<u8>> {
    let name = filename.map_or(String::new(), |f| format!(r#""filename":"{f}","#));
    reply(
        200,
        &format!(
            r#"{{"success":true,"result":{{"at_bookmark":"bm","status":"complete","result":{{{name}"signed_url":"{URL}"}}}}}}"#
        ),
    )
}

fn head(status: u16, pairs: &[(&str, &str)]) -> http::Response<()> {
    let mut b = http::Response::builder().status(status);
    for (k, v) in pairs {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap()
}

/// Drains events; returns them and the first non-event output.
fn next(export: &mut Export) -> (Vec<Event>, Output<Outcome>) {
    let mut events = Vec::new();
    loop {
        match export.poll_output() {
            Output::Event(e) => events.push(e),
            other => return (events, other),
        }
    }
}

fn expect_send(export: &mut Export) -> RequestId {
    match next(export).1 {
        Output::Send { id, .. } => id,
        other => panic!("expected a request, got {other:?}"),
    }
}

fn expect_download(export: &mut Export) -> (RequestId, http::Request<()>) {
    match next(export).1 {
        Output::Download { id, request } => (id, request),
        other => panic!("expected a download, got {other:?}"),
    }
}

/// Feeds replies until the machine asks for a download (ticking through waits).
fn to_download(export: &mut Export, now: Instant) -> (RequestId, http::Request<()>) {
    let id = expect_send(export);
    export
        .handle_input(
            now,
            Input::Reply {
                id,
                response: active("bm", ""),
            },
        )
        .unwrap();
    let id = expect_send(export);
    export
        .handle_input(
            now,
            Input::Reply {
                id,
                response: complete(Some("x.sql")),
            },
        )
        .unwrap();
    expect_download(export)
}

#[test]
fn accessors_follow_the_export() {
    let now = Instant::now();
    let mut export = Export::new(config(), job(), now).unwrap();
    assert_eq!(export.job(), &job());
    assert_eq!(export.bookmark(), None);
    assert_eq!(export.state(), State::Idle);
    let id = expect_send(&mut export);
    assert_eq!(export.state(), State::Polling { bookmark: None });
    export
        .handle_input(
            now,
            Input::Reply {
                id,
                response: active("bm-7", r#""Uploaded part 2""#),
            },
        )
        .unwrap();
    assert_eq!(export.bookmark(), Some("bm-7"));
    assert_eq!(
        export.state(),
        State::Polling {
            bookmark: Some("bm-7")
        }
    );
    // poll_output hands out the queued events in order, before the next request.
    let event = |out: Output<Outcome>| match out {
        Output::Event(e) => Some(e),
        _ => None,
    };
    assert_eq!(
        event(export.poll_output()),
        Some(Event::BookmarkLearned("bm-7".into()))
    );
    assert_eq!(
        event(export.poll_output()),
        Some(Event::PartUploaded {
            part: 2,
            distinct_parts: 1
        })
    );
    assert_eq!(
        event(export.poll_output()),
        Some(Event::Log("Uploaded part 2".into()))
    );
    assert!(matches!(export.poll_output(), Output::Send { .. }));
}

#[test]
fn downloading_and_finished_states() {
    let mut now = Instant::now();
    let mut export = Export::new(config(), job(), now).unwrap();
    let (id, _) = to_download(&mut export, now);
    assert_eq!(export.state(), State::Downloading { received: 0 });
    export
        .handle_input(
            now,
            Input::DownloadHead {
                id,
                head: head(200, &[("content-length", "10")]),
            },
        )
        .unwrap();
    let (_, out) = next(&mut export);
    assert!(matches!(out, Output::WriteBody { start_at: 0, .. }));
    export
        .handle_input(
            now,
            Input::DownloadFailed {
                id,
                written: 4,
                failure: TransportFailure::Reset,
            },
        )
        .unwrap();
    assert_eq!(export.state(), State::Downloading { received: 4 });
    let (events, out) = next(&mut export);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::RetryScheduled {
            reason: Transient::DownloadInterrupted { received: 4 },
            ..
        }
    )));
    let Output::WaitUntil(at) = out else {
        panic!("{out:?}")
    };
    now = at;
    export.handle_input(now, Input::Tick).unwrap();
    let (id, request) = expect_download(&mut export);
    assert_eq!(request.headers()[http::header::RANGE], "bytes=4-");
    export
        .handle_input(
            now,
            Input::DownloadHead {
                id,
                head: head(
                    206,
                    &[("content-range", "bytes 4-9/10"), ("content-length", "6")],
                ),
            },
        )
        .unwrap();
    let (_, out) = next(&mut export);
    assert!(matches!(out, Output::WriteBody { start_at: 4, .. }));
    export
        .handle_input(now, Input::DownloadEnded { id, written: 6 })
        .unwrap();
    assert_eq!(export.state(), State::Complete);
    match next(&mut export).1 {
        Output::Done(Ok(outcome)) => {
            assert_eq!(outcome.bytes, 10);
            assert_eq!(outcome.filename, "x.sql");
            assert_eq!(outcome.bookmark.as_deref(), Some("bm"));
        }
        other => panic!("{other:?}"),
    }

    let mut export = Export::new(config(), job(), now).unwrap();
    let _ = expect_send(&mut export);
    export.handle_input(now, Input::Cancel).unwrap();
    assert_eq!(export.state(), State::Failed);
}

#[test]
fn misplaced_inputs_name_the_state_they_met() {
    let now = Instant::now();
    let mut export = Export::new(config(), job(), now).unwrap();
    let id = expect_send(&mut export);
    assert_eq!(
        export.handle_input(now, Input::DownloadEnded { id, written: 1 }),
        Err(InputError::WrongInput {
            input: "DownloadEnded",
            state: "awaiting reply"
        })
    );
    export
        .handle_input(
            now,
            Input::Reply {
                id,
                response: active("bm", ""),
            },
        )
        .unwrap();
    let id = expect_send(&mut export);
    export
        .handle_input(
            now,
            Input::Reply {
                id,
                response: complete(None),
            },
        )
        .unwrap();
    let (id, _) = expect_download(&mut export);
    assert_eq!(
        export.handle_input(
            now,
            Input::Reply {
                id,
                response: active("bm", "")
            }
        ),
        Err(InputError::WrongInput {
            input: "Reply",
            state: "awaiting download head"
        })
    );
    export
        .handle_input(
            now,
            Input::DownloadHead {
                id,
                head: head(200, &[("content-length", "5")]),
            },
        )
        .unwrap();
    assert_eq!(
        export.handle_input(now, Input::DownloadProgress { id, written: 1 }),
        Err(InputError::WrongInput {
            input: "DownloadProgress",
            state: "body ready"
        })
    );
    let (_, out) = next(&mut export);
    assert!(matches!(out, Output::WriteBody { .. }));
    assert_eq!(
        export.handle_input(
            now,
            Input::Failed {
                id,
                failure: TransportFailure::Reset
            }
        ),
        Err(InputError::WrongInput {
            input: "Failed",
            state: "streaming body"
        })
    );
    // None of that changed anything: the body still completes the file, named after the
    // database since the service gave no file name.
    export
        .handle_input(now, Input::DownloadEnded { id, written: 5 })
        .unwrap();
    match next(&mut export).1 {
        Output::Done(Ok(outcome)) => {
            assert_eq!(outcome.bytes, 5);
            assert_eq!(outcome.filename, format!("{DB}.sql"));
        }
        other => panic!("{other:?}"),
    }
}

/// Runs a download through `bodies`: for each, the head the server sends and how the body
/// ends (`Ok(written)`: clean, `Err(written)`: broken).
/// Returns the events and the result.
fn download_with(
    config: Config,
    bodies: &[(http::Response<()>, Result<u64, u64>)],
) -> (Vec<Event>, Result<Outcome, Error>) {
    let mut now = Instant::now();
    let mut export = Export::new(config, job(), now).unwrap();
    let (first, _) = to_download(&mut export, now);
    let mut pending = Some(first);
    let mut events = Vec::new();
    let mut bodies = bodies.iter();
    loop {
        let id = match pending.take() {
            Some(id) => id,
            None => {
                let (evs, out) = next(&mut export);
                events.extend(evs);
                match out {
                    Output::Download { id, .. } => id,
                    Output::WaitUntil(at) => {
                        now = at;
                        export.handle_input(now, Input::Tick).unwrap();
                        continue;
                    }
                    Output::Done(result) => return (events, result),
                    other => panic!("{other:?}"),
                }
            }
        };
        let Some((head, end)) = bodies.next() else {
            panic!("the script ran out")
        };
        export
            .handle_input(
                now,
                Input::DownloadHead {
                    id,
                    head: head.clone(),
                },
            )
            .unwrap();
        let (evs, out) = next(&mut export);
        events.extend(evs);
        match out {
            Output::WriteBody { .. } => {}
            Output::Done(result) => return (events, result),
            Output::WaitUntil(at) => {
                now = at;
                export.handle_input(now, Input::Tick).unwrap();
                continue;
            }
            other => panic!("{other:?}"),
        }
        let written = match end {
            Ok(w) | Err(w) => *w,
        };
        let input = match end {
            Ok(_) => Input::DownloadEnded { id, written },
            Err(_) => Input::DownloadFailed {
                id,
                written,
                failure: TransportFailure::Reset,
            },
        };
        export.handle_input(now, input).unwrap();
    }
}

fn whole(len: u64) -> http::Response<()> {
    head(200, &[("content-length", &len.to_string())])
}

fn rest(from: u64, len: u64) -> http::Response<()> {
    head(
        206,
        &[
            ("content-range", &format!("bytes {from}-{}/{len}", len - 1)),
            ("content-length", &(len - from).to_string()),
        ],
    )
}

#[test]
fn progress_is_reported_and_checked_against_the_total() {
    let (events, result) = download_with(config(), &[(whole(10), Ok(10))]);
    assert_eq!(result.unwrap().bytes, 10);
    assert!(events.contains(&Event::DownloadProgress {
        received: 10,
        total: Some(10)
    }));
    assert!(
        !events.contains(&Event::DownloadRestarted),
        "a first download is no restart"
    );
    // More bytes than announced, reported while streaming: the export fails at once.
    let now = Instant::now();
    let mut export = Export::new(config(), job(), now).unwrap();
    let (id, _) = to_download(&mut export, now);
    export
        .handle_input(
            now,
            Input::DownloadHead {
                id,
                head: whole(10),
            },
        )
        .unwrap();
    let _ = next(&mut export);
    export
        .handle_input(now, Input::DownloadProgress { id, written: 11 })
        .unwrap();
    match next(&mut export).1 {
        Output::Done(Err(Error::Protocol(ProtocolError::InconsistentDownload(detail)))) => {
            assert_eq!(detail, "11 bytes arrived, more than the 10 announced")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_server_ignoring_range_restarts_the_count() {
    let (events, result) = download_with(config(), &[(whole(10), Err(6)), (whole(10), Ok(10))]);
    assert_eq!(result.unwrap().bytes, 10);
    let restarts = events
        .iter()
        .filter(|e| **e == Event::DownloadRestarted)
        .count();
    assert_eq!(restarts, 1, "{events:?}");
    assert!(events.contains(&Event::DownloadStarted { from: 6 }));
}

#[test]
fn a_break_after_the_last_byte_resumes_into_a_416() {
    // The connection broke after all 10 bytes: resume from 10, which the server answers 416.
    let (events, result) = download_with(
        config(),
        &[
            (whole(10), Err(10)),
            (head(416, &[("content-range", "bytes */10")]), Ok(0)),
        ],
    );
    assert_eq!(result.unwrap().bytes, 10);
    assert!(events.contains(&Event::DownloadStarted { from: 10 }));
}

#[test]
fn a_break_after_more_than_announced_fails() {
    let (_, result) = download_with(config(), &[(whole(10), Err(12))]);
    match result {
        Err(Error::Protocol(ProtocolError::InconsistentDownload(detail))) => {
            assert_eq!(detail, "12 bytes arrived, more than the 10 announced")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bodies_that_make_progress_do_not_spend_attempts() {
    let mut config = config();
    config.retry.max_attempts = 2;
    // Three short clean ends and three breaks, each with new bytes: all resumed.
    let (_, result) = download_with(
        config.clone(),
        &[
            (whole(60), Ok(10)),
            (rest(10, 60), Ok(10)),
            (rest(20, 60), Ok(10)),
            (rest(30, 60), Ok(30)),
        ],
    );
    assert_eq!(result.unwrap().bytes, 60);
    let (_, result) = download_with(
        config,
        &[
            (whole(60), Err(10)),
            (rest(10, 60), Err(10)),
            (rest(20, 60), Err(10)),
            (rest(30, 60), Ok(30)),
        ],
    );
    assert_eq!(result.unwrap().bytes, 60);
}

#[test]
fn bodies_that_bring_nothing_spend_attempts() {
    let mut config = config();
    config.retry.max_attempts = 3;
    let empty_break = || (whole(10), Err(0));
    let (_, result) = download_with(
        config,
        &[empty_break(), empty_break(), empty_break(), empty_break()],
    );
    assert_eq!(
        result,
        Err(Error::GaveUp {
            attempts: 3,
            last: Transient::DownloadInterrupted { received: 0 }
        })
    );
}

#[test]
fn empty_clean_ends_spend_attempts() {
    let mut config = config();
    config.retry.max_attempts = 3;
    let (_, result) = download_with(
        config,
        &[
            (whole(10), Ok(0)),
            (whole(10), Ok(0)),
            (whole(10), Ok(0)),
            (whole(10), Ok(0)),
        ],
    );
    assert_eq!(
        result,
        Err(Error::GaveUp {
            attempts: 3,
            last: Transient::DownloadInterrupted { received: 0 }
        })
    );
}

#[test]
fn a_changed_bookmark_is_a_protocol_error() {
    let now = Instant::now();
    let mut export = Export::new(config(), job(), now).unwrap();
    let id = expect_send(&mut export);
    export
        .handle_input(
            now,
            Input::Reply {
                id,
                response: active("bm-1", ""),
            },
        )
        .unwrap();
    let id = expect_send(&mut export);
    export
        .handle_input(
            now,
            Input::Reply {
                id,
                response: active("bm-1", ""),
            },
        )
        .unwrap();
    let (_, out) = next(&mut export);
    let Output::WaitUntil(at) = out else {
        panic!("{out:?}")
    };
    export.handle_input(at, Input::Tick).unwrap();
    let id = expect_send(&mut export);
    export
        .handle_input(
            at,
            Input::Reply {
                id,
                response: active("bm-2", ""),
            },
        )
        .unwrap();
    match next(&mut export).1 {
        Output::Done(Err(e)) => assert_eq!(e, Error::Protocol(ProtocolError::BookmarkChanged)),
        other => panic!("{other:?}"),
    }
}

/// After a 403 the export is polled for a fresh URL; the bytes kept are used only if the
/// fresh URL is for the same file.
fn refresh_then(filename: &str) -> (Vec<Event>, http::Request<()>) {
    let now = Instant::now();
    let mut export = Export::new(config(), job(), now).unwrap();
    let (id, _) = to_download(&mut export, now);
    export
        .handle_input(
            now,
            Input::DownloadHead {
                id,
                head: whole(10),
            },
        )
        .unwrap();
    let _ = next(&mut export);
    export
        .handle_input(
            now,
            Input::DownloadFailed {
                id,
                written: 4,
                failure: TransportFailure::Reset,
            },
        )
        .unwrap();
    let mut events = Vec::new();
    let id = loop {
        let (evs, out) = next(&mut export);
        events.extend(evs);
        match out {
            Output::WaitUntil(at) => export.handle_input(at, Input::Tick).unwrap(),
            Output::Download { id, .. } => break id,
            other => panic!("{other:?}"),
        }
    };
    export
        .handle_input(
            now,
            Input::DownloadHead {
                id,
                head: head(403, &[]),
            },
        )
        .unwrap();
    // The refreshing poll keeps the pacing: it may wait out `min_interval`.
    let mut now = now;
    let id = loop {
        let (evs, out) = next(&mut export);
        events.extend(evs);
        match out {
            Output::WaitUntil(at) => {
                now = at;
                export.handle_input(at, Input::Tick).unwrap()
            }
            Output::Send { id, .. } => break id,
            other => panic!("{other:?}"),
        }
    };
    export
        .handle_input(
            now,
            Input::Reply {
                id,
                response: complete(Some(filename)),
            },
        )
        .unwrap();
    let (evs, out) = next(&mut export);
    events.extend(evs);
    let Output::Download { request, .. } = out else {
        panic!("{out:?}")
    };
    // The download's own events follow its request.
    events.extend(next(&mut export).0);
    (events, request)
}

#[test]
fn a_fresh_url_for_the_same_file_resumes() {
    let (events, request) = refresh_then("x.sql");
    assert!(events.contains(&Event::RefreshingUrl));
    assert!(events.contains(&Event::DownloadStarted { from: 4 }));
    assert_eq!(request.headers()[http::header::RANGE], "bytes=4-");
}

#[test]
fn a_fresh_url_for_another_file_starts_over() {
    let (events, request) = refresh_then("y.sql");
    assert!(events.contains(&Event::RefreshingUrl));
    assert!(
        events.contains(&Event::DownloadStarted { from: 0 }),
        "{events:?}"
    );
    assert!(!request.headers().contains_key(http::header::RANGE));
}

#[test]
fn without_a_deadline_an_export_may_run_for_days() {
    let t0 = Instant::now();
    let mut config = config();
    config.deadline = std::time::Duration::MAX;
    let mut export = Export::new(config, job(), t0).unwrap();
    let id = expect_send(&mut export);
    export
        .handle_input(
            t0,
            Input::Reply {
                id,
                response: active("bm", ""),
            },
        )
        .unwrap();
    // Three days later the service still answers "running": the export goes on.
    let later = t0 + std::time::Duration::from_secs(3 * 86_400);
    let id = expect_send(&mut export);
    export
        .handle_input(
            later,
            Input::Reply {
                id,
                response: active("bm", ""),
            },
        )
        .unwrap();
    // (The reply was held that long, so the next poll goes at once.)
    match next(&mut export).1 {
        Output::Send { .. } => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        export.state(),
        State::Polling {
            bookmark: Some("bm")
        }
    );
}

#[test]
fn a_reply_after_the_deadline_is_not_acted_on() {
    let t0 = Instant::now();
    let mut config = config();
    config.deadline = std::time::Duration::from_secs(30);
    let mut export = Export::new(config, job(), t0).unwrap();
    let id = expect_send(&mut export);
    export
        .handle_input(
            t0 + std::time::Duration::from_secs(30),
            Input::Reply {
                id,
                response: complete(Some("x.sql")),
            },
        )
        .unwrap();
    let (events, out) = next(&mut export);
    assert!(
        events.is_empty(),
        "events from a reply past the deadline: {events:?}"
    );
    assert!(matches!(out, Output::Done(Err(Error::DeadlineExceeded))));
    assert_eq!(export.state(), State::Failed);
}

fn progress_events(events: &[Event]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::DownloadProgress { received, .. } => Some(*received),
            _ => None,
        })
        .collect()
}

#[test]
fn progress_is_coalesced_and_restarts_are_reported() {
    let now = Instant::now();
    let size = 4 * PROGRESS_STEP;
    let mut export = Export::new(config(), job(), now).unwrap();
    let (id, _) = to_download(&mut export, now);
    export
        .handle_input(
            now,
            Input::DownloadHead {
                id,
                head: whole(size),
            },
        )
        .unwrap();
    let _ = next(&mut export);
    let mut events = Vec::new();
    for written in [1, PROGRESS_STEP, PROGRESS_STEP, PROGRESS_STEP + 1] {
        export
            .handle_input(now, Input::DownloadProgress { id, written })
            .unwrap();
        let (queued, out) = next(&mut export);
        assert!(matches!(out, Output::KeepStreaming { .. }), "{out:?}");
        events.extend(queued);
    }
    // Not every report: once a step is passed, and never twice for the same count.
    assert_eq!(progress_events(&events), [PROGRESS_STEP]);
    export
        .handle_input(
            now,
            Input::DownloadFailed {
                id,
                written: PROGRESS_STEP + 1,
                failure: TransportFailure::Reset,
            },
        )
        .unwrap();
    // The server ignores the Range: the count goes back, and that is shown at once.
    let id = loop {
        match next(&mut export).1 {
            Output::WaitUntil(at) => export.handle_input(at, Input::Tick).unwrap(),
            Output::Download { id, .. } => break id,
            other => panic!("{other:?}"),
        }
    };
    export
        .handle_input(
            now,
            Input::DownloadHead {
                id,
                head: whole(size),
            },
        )
        .unwrap();
    let _ = next(&mut export);
    export
        .handle_input(now, Input::DownloadProgress { id, written: 10 })
        .unwrap();
    let (events, out) = next(&mut export);
    assert!(matches!(out, Output::KeepStreaming { .. }), "{out:?}");
    assert_eq!(progress_events(&events), [10]);
}

#[test]
fn a_download_head_while_polling_is_refused() {
    let now = Instant::now();
    let mut export = Export::new(config(), job(), now).unwrap();
    let id = expect_send(&mut export);
    assert_eq!(
        export.handle_input(now, Input::DownloadHead { id, head: whole(5) }),
        Err(InputError::WrongInput {
            input: "DownloadHead",
            state: "awaiting reply"
        })
    );
}
