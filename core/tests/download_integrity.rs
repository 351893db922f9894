//! A download is whole only when something vouched for its length, and never two files
//! stitched together: close-delimited bodies are confirmed, resumptions carry `If-Range` and
//! are checked against the first head's validator and size, encoded bytes are refused.

use d1_export_core::*;
use std::time::Duration;

mod world;
use world::*;

fn head(status: u16, headers: &[(&'static str, &str)], send: u64, clean: bool) -> Answer {
    Answer::Head(
        status,
        headers.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        send,
        clean,
    )
}

fn run(script: Vec<Answer>) -> (Result<Outcome, Error>, Log) {
    let (result, log, _) = simulate(config(), job(DumpOptions::default()), script);
    (result, log)
}

fn header<'a>(log: &'a Log, download: usize, name: &str) -> Option<&'a str> {
    log.downloads[download]
        .1
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
}

#[test]
fn a_close_delimited_body_is_whole_only_once_a_416_confirms_its_length() {
    let (result, log) = run(vec![
        complete(),
        head(200, &[("etag", "\"v1\"")], 60, true),
        head(416, &[("content-range", "bytes */60")], 0, true),
    ]);
    assert_eq!(result.unwrap().bytes, 60);
    assert_eq!(log.downloads.len(), 2, "the length was not confirmed");
    assert_eq!(header(&log, 1, "range"), Some("bytes=60-"));
    assert_eq!(header(&log, 1, "if-range"), Some("\"v1\""));
    assert_eq!(log.writes, [0]);
}

#[test]
fn a_close_delimited_body_cut_short_is_resumed_not_saved() {
    let (result, log) = run(vec![
        complete(),
        head(200, &[("etag", "\"v1\"")], 40, true),
        head(
            206,
            &[("content-range", "bytes 40-99/100"), ("etag", "\"v1\"")],
            60,
            true,
        ),
    ]);
    assert_eq!(result.unwrap().bytes, 100);
    assert_eq!(log.writes, [0, 40]);
    assert_eq!(log.sink, 100);
}

#[test]
fn a_length_nobody_can_confirm_is_an_error() {
    let (result, log) = run(vec![
        complete(),
        head(200, &[], 40, true),
        head(200, &[], 40, true),
    ]);
    assert_eq!(
        result,
        Err(Error::Protocol(ProtocolError::UnconfirmedLength {
            received: 40
        }))
    );
    assert!(result.unwrap_err().is_download());
    assert_eq!(log.downloads.len(), 2);
}

#[test]
fn a_whole_reply_of_the_same_length_and_validator_confirms_without_rewriting() {
    let (result, log) = run(vec![
        complete(),
        head(200, &[("etag", "\"v1\"")], 40, true),
        head(
            200,
            &[("etag", "\"v1\""), ("content-length", "40")],
            40,
            true,
        ),
    ]);
    assert_eq!(result.unwrap().bytes, 40);
    assert_eq!(log.writes, [0], "the confirmed file was written again");
}

#[test]
fn chunked_and_length_framing_vouch_for_the_end() {
    for framing in [("transfer-encoding", "chunked"), ("content-length", "50")] {
        let (result, log) = run(vec![complete(), head(200, &[framing], 50, true)]);
        assert_eq!(result.unwrap().bytes, 50, "{framing:?}");
        assert_eq!(log.downloads.len(), 1, "{framing:?}");
    }
}

#[test]
fn a_resumption_carries_if_range_with_the_first_validator() {
    let (result, log) = run(vec![
        complete(),
        head(
            200,
            &[("content-length", "100"), ("etag", "\"v1\"")],
            40,
            false,
        ),
        head(
            206,
            &[("content-range", "bytes 40-99/100"), ("etag", "\"v1\"")],
            60,
            true,
        ),
    ]);
    assert_eq!(result.unwrap().bytes, 100);
    assert_eq!(header(&log, 0, "if-range"), None);
    assert_eq!(header(&log, 0, "accept-encoding"), Some("identity"));
    assert_eq!(header(&log, 1, "range"), Some("bytes=40-"));
    assert_eq!(header(&log, 1, "if-range"), Some("\"v1\""));
}

#[test]
fn without_a_strong_etag_last_modified_is_the_validator() {
    let date = "Wed, 25 Nov 2026 03:00:00 GMT";
    let (result, log) = run(vec![
        complete(),
        head(
            200,
            &[
                ("content-length", "100"),
                ("etag", "W/\"weak\""),
                ("last-modified", date),
            ],
            40,
            false,
        ),
        head(
            206,
            &[
                ("content-range", "bytes 40-99/100"),
                ("last-modified", date),
            ],
            60,
            true,
        ),
    ]);
    assert_eq!(result.unwrap().bytes, 100);
    assert_eq!(header(&log, 1, "if-range"), Some(date));
}

/// A 206 of another file (a different size, or validator, or none) restarts from byte 0.
#[test]
fn a_resumption_of_another_file_restarts_from_zero() {
    let other_total = head(
        206,
        &[("content-range", "bytes 40-119/120"), ("etag", "\"v1\"")],
        80,
        true,
    );
    let other_etag = head(
        206,
        &[("content-range", "bytes 40-99/100"), ("etag", "\"v2\"")],
        60,
        true,
    );
    let no_etag = head(206, &[("content-range", "bytes 40-99/100")], 60, true);
    for (case, changed) in [
        ("total", other_total),
        ("etag", other_etag),
        ("none", no_etag),
    ] {
        let (result, log) = run(vec![
            complete(),
            head(
                200,
                &[("content-length", "100"), ("etag", "\"v1\"")],
                40,
                false,
            ),
            changed,
            head(
                200,
                &[("content-length", "120"), ("etag", "\"v2\"")],
                120,
                true,
            ),
        ]);
        assert_eq!(result.unwrap().bytes, 120, "{case}");
        assert_eq!(log.writes, [0, 0], "{case}: stitched");
        assert_eq!(
            header(&log, 2, "range"),
            None,
            "{case}: the restart asked for a range"
        );
        assert!(log.events.contains(&Event::DownloadRestarted), "{case}");
    }
}

#[test]
fn after_a_url_refresh_a_changed_file_restarts_from_zero() {
    let (result, log) = run(vec![
        complete(),
        head(
            200,
            &[("content-length", "100"), ("etag", "\"v1\"")],
            40,
            false,
        ),
        head(403, &[], 0, true),
        complete(),
        head(
            206,
            &[("content-range", "bytes 40-99/100"), ("etag", "\"v2\"")],
            60,
            true,
        ),
        head(
            200,
            &[("content-length", "100"), ("etag", "\"v2\"")],
            100,
            true,
        ),
    ]);
    assert_eq!(result.unwrap().bytes, 100);
    assert_eq!(header(&log, 2, "if-range"), Some("\"v1\""));
    assert_eq!(log.writes, [0, 0]);
}

#[test]
fn an_encoded_download_is_refused_and_nothing_is_written() {
    for coding in [
        ("content-encoding", "gzip"),
        ("transfer-encoding", "gzip, chunked"),
    ] {
        let (result, log) = run(vec![
            complete(),
            head(200, &[("content-length", "30"), coding], 30, true),
        ]);
        let err = result.unwrap_err();
        assert_eq!(
            err,
            Error::Protocol(ProtocolError::EncodedDownload("gzip".into())),
            "{coding:?}"
        );
        assert!(err.is_download());
        assert!(err.to_string().contains("gzip"), "{err}");
        assert!(log.writes.is_empty(), "{coding:?}: encoded bytes written");
    }
    let (result, _) = run(vec![
        complete(),
        head(
            200,
            &[("content-length", "30"), ("content-encoding", "identity")],
            30,
            true,
        ),
    ]);
    assert_eq!(result.unwrap().bytes, 30);
}

#[test]
fn a_throttled_download_honours_retry_after() {
    let (result, log) = run(vec![
        complete(),
        head(429, &[("retry-after", "7")], 0, true),
        whole(10),
    ]);
    assert_eq!(result.unwrap().bytes, 10);
    assert!(log.downloads[1].0 - log.downloads[0].0 >= Duration::from_secs(7));
    assert!(log.events.iter().any(|e| matches!(
        e,
        Event::RetryScheduled { reason: Transient::Throttled { retry_after: Some(d) }, .. }
            if *d == Duration::from_secs(7)
    )));
}

/// Resumptions that brought new bytes are free: a link that breaks 100 times, each time
/// after progress, still delivers the file (the default allows 8 resumptions).
#[test]
fn a_download_breaking_a_hundred_times_after_progress_finishes() {
    let total = 10_000u64;
    let mut script = vec![
        complete(),
        head(
            200,
            &[("content-length", "10000"), ("etag", "\"v1\"")],
            100,
            false,
        ),
    ];
    let ranges: Vec<String> = (1..100)
        .map(|i| format!("bytes {}-9999/10000", i * 100))
        .collect();
    for (i, range) in ranges.iter().enumerate() {
        let last = i == ranges.len() - 1;
        script.push(Answer::Head(
            206,
            vec![("content-range", range.clone()), ("etag", "\"v1\"".into())],
            100,
            last,
        ));
    }
    let (result, log) = run(script);
    assert_eq!(result.unwrap().bytes, total);
    assert_eq!(log.downloads.len(), 100);

    // But breaks that bring nothing new stay bounded.
    let mut c = config();
    c.download.max_resumes = 3;
    let mut script = vec![
        complete(),
        head(
            200,
            &[("content-length", "100"), ("etag", "\"v1\"")],
            40,
            false,
        ),
    ];
    for _ in 0..10 {
        script.push(head(
            206,
            &[("content-range", "bytes 40-99/100"), ("etag", "\"v1\"")],
            0,
            false,
        ));
    }
    let (result, log, _) = simulate(c, job(DumpOptions::default()), script);
    assert!(matches!(result, Err(Error::GaveUp { .. })), "{result:?}");
    assert_eq!(log.downloads.len(), 5);
}

#[test]
fn the_download_output_hides_the_signed_url_in_debug() {
    let now = std::time::Instant::now();
    let mut export = Export::new(config(), job(DumpOptions::default()), now).unwrap();
    let mut answers = vec![complete()].into_iter();
    loop {
        match export.poll_output() {
            Output::Send { id, .. } => {
                let Some(Answer::Reply(status, _, body, _)) = answers.next() else {
                    panic!("script")
                };
                let response = http::Response::builder()
                    .status(status)
                    .body(body.into_bytes())
                    .unwrap();
                export
                    .handle_input(now, Input::Reply { id, response })
                    .unwrap();
            }
            out @ Output::Download { .. } => {
                let shown = format!("{out:?}");
                assert!(!shown.contains("secret"), "{shown}");
                assert!(!shown.contains("X-Amz-Signature"), "{shown}");
                assert!(shown.contains("bucket.test/x.sql"), "{shown}");
                break;
            }
            Output::Event(_) => {}
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn an_empty_close_delimited_body_is_confirmed_by_a_416_of_zero() {
    let (result, log) = run(vec![
        complete(),
        head(200, &[("etag", "\"v1\"")], 0, true),
        head(416, &[("content-range", "bytes */0")], 0, true),
    ]);
    assert_eq!(result.unwrap().bytes, 0);
    assert_eq!(log.downloads.len(), 2, "the empty length was not confirmed");
    assert_eq!(header(&log, 1, "range"), Some("bytes=0-"));
}

#[test]
fn a_416_of_zero_to_a_first_download_is_inconsistent() {
    // Not a confirmation (nothing asked for one): a first download answered 416, again and
    // again, is retried and then an error, never an empty file.
    let mut script = vec![complete()];
    script.extend((0..20).map(|_| head(416, &[("content-range", "bytes */0")], 0, true)));
    let (result, log) = run(script);
    assert!(
        matches!(result, Err(ref e) if e.is_download()),
        "{result:?}"
    );
    assert!(log.downloads.len() > 1, "not retried");
    assert!(log.writes.is_empty(), "{:?}", log.writes);
}

#[test]
fn an_empty_close_delimited_body_answered_by_another_file_takes_the_new_file() {
    let (result, log) = run(vec![
        complete(),
        head(200, &[("etag", "\"v1\"")], 0, true),
        head(200, &[("content-length", "5"), ("etag", "\"v2\"")], 5, true),
    ]);
    assert_eq!(result.unwrap().bytes, 5);
    assert_eq!(log.writes, [0, 0]);
}

#[test]
fn a_confirming_whole_reply_without_a_validator_or_with_another_is_written_again() {
    // Neither a first head without a validator nor a different ETag proves the same file:
    // the whole reply is the file from then on, written from byte 0.
    for (case, first, again) in [
        ("no validator", None, Some("\"v1\"")),
        ("other etag", Some("\"v1\""), Some("\"v2\"")),
        ("none at all", None, None),
    ] {
        let mut first_headers = vec![];
        if let Some(e) = first {
            first_headers.push(("etag", e));
        }
        let mut again_headers = vec![("content-length", "40")];
        if let Some(e) = again {
            again_headers.push(("etag", e));
        }
        let (result, log) = run(vec![
            complete(),
            head(200, &first_headers, 40, true),
            head(200, &again_headers, 40, true),
        ]);
        assert_eq!(result.unwrap().bytes, 40, "{case}");
        assert_eq!(log.writes, [0, 0], "{case}: taken as confirmed");
    }
}

#[test]
fn a_confirming_whole_reply_of_another_length_is_the_new_file() {
    let (result, log) = run(vec![
        complete(),
        head(200, &[("etag", "\"v1\"")], 40, true),
        head(
            200,
            &[("content-length", "50"), ("etag", "\"v1\"")],
            50,
            true,
        ),
    ]);
    assert_eq!(result.unwrap().bytes, 50);
    assert_eq!(log.writes, [0, 0]);
}

#[test]
fn a_resumption_told_the_file_is_whole_at_another_size_restarts_from_zero() {
    // 60 of 100 bytes, then "416 bytes */60": the file is not the one we began (it shrank).
    let (result, log) = run(vec![
        complete(),
        head(
            200,
            &[("content-length", "100"), ("etag", "\"v1\"")],
            60,
            false,
        ),
        head(416, &[("content-range", "bytes */60")], 0, true),
        head(
            200,
            &[("content-length", "60"), ("etag", "\"v2\"")],
            60,
            true,
        ),
    ]);
    assert_eq!(result.unwrap().bytes, 60);
    assert_eq!(log.writes, [0, 0], "a shrunk file taken as whole");
    assert!(log.events.contains(&Event::DownloadRestarted));
}

#[test]
fn after_a_url_refresh_the_download_uses_the_new_url() {
    let fresh = r#"{"success":true,"result":{"at_bookmark":"bm","status":"complete","result":{"filename":"x.sql","signed_url":"https://bucket.test/fresh.sql?X-Amz-Signature=new"}}}"#;
    let (result, log) = run(vec![
        complete(),
        head(
            200,
            &[("content-length", "100"), ("etag", "\"v1\"")],
            40,
            false,
        ),
        head(403, &[], 0, true),
        api(200, fresh),
        head(
            206,
            &[("content-range", "bytes 40-99/100"), ("etag", "\"v1\"")],
            60,
            true,
        ),
    ]);
    assert_eq!(result.unwrap().bytes, 100);
    assert_eq!(log.downloads.len(), 3);
    assert_eq!(log.downloads[2].1.uri().path(), "/fresh.sql");
    assert_eq!(log.writes, [0, 40], "the kept bytes were not kept");
}
