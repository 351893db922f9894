//! Golden tests: every reply shape of the import endpoint (spec, Part 3) and of the upload
//! URL, through the import machine's public API.

use d1_export_core::{
    AccountId, ApiBase, ApiToken, Config, DatabaseId, Error, Event, Import, ImportJob, Input,
    Machine, Md5, Output, RequestId, SqlFile, Transient, TransportFailure,
};
use std::time::{Duration, Instant};

const MD5: &str = "9e107d9d372bb6826bd81d3542a419d6";
const SIZE: u64 = 43;
const UPLOAD_URL: &str = "https://r2.test/upload/f.sql?X-Amz-Signature=secret";

fn import_of(now: Instant, size: u64) -> Import {
    let config = Config::new(
        ApiBase::new("https://api.test/client/v4").unwrap(),
        ApiToken::new("tok").unwrap(),
    );
    let job = ImportJob {
        account: AccountId::new("0123456789abcdef0123456789abcdef").unwrap(),
        database: DatabaseId::new("0a1b2c3d-0000-4000-8000-00000000abcd").unwrap(),
        file: SqlFile {
            md5: Md5::from_hex(MD5).unwrap(),
            size,
        },
    };
    Import::new(config, job, now).unwrap()
}

/// What the machine asked for next (events collected on the way; time runs on).
enum Next {
    Send(RequestId, serde_json::Value),
    Upload(RequestId, http::Request<()>),
    Done(Result<d1_export_core::ImportOutcome, Error>),
}

struct Run {
    import: Import,
    now: Instant,
    events: Vec<Event>,
    size: u64,
}

impl Run {
    fn new() -> Self {
        Self::sized(SIZE)
    }

    fn sized(size: u64) -> Self {
        let now = Instant::now();
        Self {
            import: import_of(now, size),
            now,
            events: Vec::new(),
            size,
        }
    }

    fn next(&mut self) -> Next {
        loop {
            match self.import.poll_output() {
                Output::Event(e) => self.events.push(e),
                Output::WaitUntil(at) => {
                    self.now = at.max(self.now);
                    self.import.handle_input(self.now, Input::Tick).unwrap();
                }
                Output::Send { id, request } => {
                    assert!(request.headers().contains_key("authorization"));
                    let body = serde_json::from_slice(request.body()).unwrap();
                    return Next::Send(id, body);
                }
                Output::Upload { id, request } => return Next::Upload(id, request),
                Output::Done(r) => return Next::Done(r),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn send(&mut self) -> (RequestId, serde_json::Value) {
        match self.next() {
            Next::Send(id, body) => (id, body),
            Next::Upload(..) => panic!("an upload, not an API request"),
            Next::Done(r) => panic!("done: {r:?}"),
        }
    }

    fn upload(&mut self) -> RequestId {
        match self.next() {
            Next::Upload(id, _) => id,
            Next::Send(_, body) => panic!("an API request {body}, not an upload"),
            Next::Done(r) => panic!("done: {r:?}"),
        }
    }

    fn done(&mut self) -> Result<d1_export_core::ImportOutcome, Error> {
        match self.next() {
            Next::Done(r) => r,
            Next::Send(_, body) => panic!("another request: {body}"),
            Next::Upload(..) => panic!("another upload"),
        }
    }

    fn reply(&mut self, id: RequestId, status: u16, body: &str) {
        let response = http::Response::builder()
            .status(status)
            .body(body.as_bytes().to_vec())
            .unwrap();
        self.import
            .handle_input(self.now, Input::Reply { id, response })
            .unwrap();
    }

    fn upload_reply(&mut self, id: RequestId, status: u16, etag: Option<&str>) {
        self.import
            .handle_input(
                self.now,
                Input::UploadProgress {
                    id,
                    sent: self.size,
                },
            )
            .unwrap();
        let mut r = http::Response::builder().status(status);
        if let Some(e) = etag {
            r = r.header("etag", e);
        }
        let response = r.body(Vec::new()).unwrap();
        self.import
            .handle_input(self.now, Input::Reply { id, response })
            .unwrap();
    }
}

const INIT_UPLOAD: &str = r#"{"success":true,"errors":[],"messages":[],"result":{"upload_url":"https://r2.test/upload/f.sql?X-Amz-Signature=secret","filename":"f.sql"}}"#;
const ACTIVE: &str = r#"{"success":true,"errors":[],"messages":[],"result":{"success":true,"type":"import","at_bookmark":"b-1","status":"active","messages":["Importing f.sql"]}}"#;
const COMPLETE: &str = r#"{"success":true,"errors":[],"messages":[],"result":{"success":true,"type":"import","at_bookmark":"b-1","status":"complete","messages":["Import complete"],"result":{"final_bookmark":"b-2","num_queries":1752,"meta":{"duration":69.5,"changes":1750,"rows_read":3,"rows_written":1750,"size_after":258048,"served_by":"x","last_row_id":1,"changed_db":true},"x_new":1}}}"#;

/// init → upload → ingest → poll → complete, with the outcome as the service said it.
fn uploaded_until_polling(run: &mut Run) {
    let (id, body) = run.send();
    assert_eq!(body, serde_json::json!({"action": "init", "etag": MD5}));
    run.reply(id, 200, INIT_UPLOAD);
    let id = run.upload();
    run.upload_reply(id, 200, Some(&format!("\"{MD5}\"")));
    let (id, body) = run.send();
    assert_eq!(
        body,
        serde_json::json!({"action": "ingest", "etag": MD5, "filename": "f.sql"})
    );
    run.reply(id, 200, ACTIVE);
}

#[test]
fn the_whole_protocol_in_order() {
    let mut run = Run::new();
    uploaded_until_polling(&mut run);
    let (id, body) = run.send();
    assert_eq!(
        body,
        serde_json::json!({"action": "poll", "current_bookmark": "b-1"})
    );
    run.reply(id, 200, COMPLETE);
    let outcome = run.done().unwrap();
    assert_eq!(outcome.num_queries, 1752);
    assert_eq!(outcome.rows_written, 1750);
    assert_eq!(outcome.rows_read, 3);
    assert_eq!(outcome.size_after, Some(258_048));
    assert_eq!(outcome.at_bookmark.as_deref(), Some("b-1"));
    assert_eq!(outcome.final_bookmark.as_deref(), Some("b-2"));
    assert_eq!(outcome.duration, Some(Duration::from_secs_f64(0.0695)));
    assert!(outcome.uploaded);
    let logs: Vec<_> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Log(l) => Some(l.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(logs, ["Importing f.sql", "Import complete"]);
    assert!(run.events.contains(&Event::UploadStarted { bytes: SIZE }));
    assert!(run.events.contains(&Event::UploadVerified));
    assert!(run.events.contains(&Event::ImportStarted {
        bookmark: "b-1".into()
    }));
    assert!(matches!(run.events.last(), Some(Event::ImportCompleted(_))));
}

#[test]
fn the_upload_goes_to_the_url_with_its_length_and_no_token() {
    let mut run = Run::new();
    let (id, _) = run.send();
    run.reply(id, 200, INIT_UPLOAD);
    match run.next() {
        Next::Upload(_, request) => {
            assert_eq!(request.method(), http::Method::PUT);
            assert_eq!(request.uri().to_string(), UPLOAD_URL);
            assert_eq!(request.headers()["content-length"], "43");
            assert!(!request.headers().contains_key("authorization"));
        }
        _ => panic!("no upload"),
    }
}

#[test]
fn an_ingest_reply_that_is_complete_ends_the_import() {
    let mut run = Run::new();
    let (id, _) = run.send();
    run.reply(id, 200, INIT_UPLOAD);
    let id = run.upload();
    run.upload_reply(id, 200, Some(MD5));
    let (id, _) = run.send();
    run.reply(id, 200, COMPLETE);
    assert_eq!(run.done().unwrap().num_queries, 1752);
}

#[test]
fn an_init_with_the_polling_shape_skips_the_upload() {
    let mut run = Run::new();
    let (id, _) = run.send();
    run.reply(id, 200, ACTIVE);
    let (id, body) = run.send();
    assert_eq!(body["action"], "poll");
    run.reply(id, 200, COMPLETE);
    let outcome = run.done().unwrap();
    assert!(!outcome.uploaded);
    assert!(run.events.contains(&Event::UploadSkipped));
}

#[test]
fn an_upload_without_the_md5_as_etag_is_sent_again() {
    for bad in [
        None,
        Some("\"ffffffffffffffffffffffffffffffff\""),
        Some("\"\""),
    ] {
        let mut run = Run::new();
        let (id, _) = run.send();
        run.reply(id, 200, INIT_UPLOAD);
        let id = run.upload();
        run.upload_reply(id, 200, bad);
        let again = run.upload();
        assert!(
            run.events.iter().any(|e| matches!(
                e,
                Event::RetryScheduled {
                    reason: Transient::UploadUnverified { .. },
                    ..
                }
            )),
            "{bad:?}"
        );
        // Quotes stripped, case ignored.
        run.upload_reply(again, 200, Some(&format!("\"{}\"", MD5.to_uppercase())));
        let (_, body) = run.send();
        assert_eq!(body["action"], "ingest", "{bad:?}");
    }
}

#[test]
fn upload_statuses_retry_refresh_or_fail() {
    // 503 and a broken connection: the upload again.
    let mut run = Run::new();
    let (id, _) = run.send();
    run.reply(id, 200, INIT_UPLOAD);
    let id = run.upload();
    run.upload_reply(id, 503, None);
    let id = run.upload();
    run.import
        .handle_input(
            run.now,
            Input::Failed {
                id,
                failure: TransportFailure::Reset,
            },
        )
        .unwrap();
    let id = run.upload();
    run.upload_reply(id, 200, Some(MD5));
    assert_eq!(run.send().1["action"], "ingest");
    // 403: the URL expired; a fresh one from another init.
    let mut run = Run::new();
    let (id, _) = run.send();
    run.reply(id, 200, INIT_UPLOAD);
    let id = run.upload();
    run.upload_reply(id, 403, None);
    assert_eq!(run.send().1["action"], "init");
    // 400: refused for good, an upload error.
    let mut run = Run::new();
    let (id, _) = run.send();
    run.reply(id, 200, INIT_UPLOAD);
    let id = run.upload();
    run.upload_reply(id, 400, None);
    let err = run.done().unwrap_err();
    assert_eq!(err, Error::UploadRefused { status: 400 });
    assert!(err.is_upload());
}

#[test]
fn uploads_that_keep_failing_end_as_an_upload_error() {
    let mut run = Run::new();
    let (id, _) = run.send();
    run.reply(id, 200, INIT_UPLOAD);
    loop {
        match run.next() {
            Next::Upload(id, _) => run.upload_reply(id, 200, Some("\"0\"")),
            Next::Done(r) => {
                let err = r.unwrap_err();
                assert!(err.is_upload(), "{err}");
                assert!(matches!(err, Error::GaveUp { attempts: 8, .. }), "{err}");
                break;
            }
            Next::Send(..) => panic!("an ingest without a verified upload"),
        }
    }
}

#[test]
fn three_failure_layers_with_the_statement_named() {
    let cases = [
        (
            r#"{"success":true,"result":{"success":true,"type":"import","at_bookmark":"b-1","status":"error","errors":["statement 3 (line 7): no such table: main.b"],"messages":[]}}"#,
            Some(3),
            "no such table: main.b",
        ),
        (
            r#"{"success":true,"result":{"type":"import","status":"error","error":"Statement 12 failed: UNIQUE constraint failed: t.id"}}"#,
            Some(12),
            "UNIQUE constraint",
        ),
        (
            r#"{"success":true,"result":{"success":false,"error":"Import failed: internal"}}"#,
            None,
            "Import failed: internal",
        ),
        (
            r#"{"success":true,"result":{"status":"error","errors":[{"code":7500,"message":"disk full"}]}}"#,
            None,
            "disk full",
        ),
    ];
    for (body, statement, text) in cases {
        let mut run = Run::new();
        uploaded_until_polling(&mut run);
        let (id, _) = run.send();
        run.reply(id, 200, body);
        match run.done() {
            Err(Error::ImportFailed {
                message,
                statement: s,
            }) => {
                assert_eq!(s, statement, "{body}");
                assert!(message.contains(text), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
    // The envelope layer: the service's code and message.
    let mut run = Run::new();
    let (id, _) = run.send();
    run.reply(
        id,
        409,
        r#"{"success":false,"errors":[{"code":7500,"message":"Currently processing a long-running import."}]}"#,
    );
    match run.done() {
        Err(Error::Api(api)) => {
            assert_eq!(api.code(), Some(7500));
            assert_eq!(api.hint, Some(d1_export_core::Hint::ImportAlreadyRunning));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn proxies_and_limits_are_retried_without_a_second_import() {
    let mut run = Run::new();
    uploaded_until_polling(&mut run);
    for (status, body) in [
        (
            503,
            "<html><title>503 Service Temporarily Unavailable</title></html>",
        ),
        (429, "{}"),
        (200, r#"{"success":true,"result":{"at_boo"#),
    ] {
        let (id, sent) = run.send();
        assert_eq!(
            sent,
            serde_json::json!({"action": "poll", "current_bookmark": "b-1"})
        );
        run.reply(id, status, body);
    }
    let (id, sent) = run.send();
    assert_eq!(sent["action"], "poll");
    run.reply(id, 200, COMPLETE);
    assert!(run.done().is_ok());
}

#[test]
fn a_changed_bookmark_or_a_url_elsewhere_is_refused() {
    let mut run = Run::new();
    uploaded_until_polling(&mut run);
    let (id, _) = run.send();
    run.reply(id, 200, &ACTIVE.replace("b-1", "b-9"));
    assert!(matches!(
        run.done(),
        Err(Error::Protocol(
            d1_export_core::ProtocolError::BookmarkChanged
        ))
    ));
    // A plain-http upload URL to another host is not followed (retried, then given up).
    let mut run = Run::new();
    for _ in 0..8 {
        let (id, body) = run.send();
        assert_eq!(body["action"], "init");
        run.reply(
            id,
            200,
            &INIT_UPLOAD.replace("https://r2.test", "http://evil.example"),
        );
    }
    assert!(matches!(run.done(), Err(Error::GaveUp { .. })));
}

#[test]
fn upload_progress_is_coalesced_and_bounded() {
    let mut run = Run::new();
    let (id, _) = run.send();
    run.reply(id, 200, INIT_UPLOAD);
    let id = run.upload();
    for sent in 0..=SIZE {
        run.import
            .handle_input(run.now, Input::UploadProgress { id, sent })
            .unwrap();
    }
    assert!(run
        .import
        .handle_input(run.now, Input::UploadProgress { id, sent: SIZE + 1 })
        .is_err());
    // The queued events come out of poll_output, then "keep streaming".
    let queued: Vec<Event> = std::iter::from_fn(|| match run.import.poll_output() {
        Output::Event(e) => Some(e),
        Output::KeepStreaming { id: got } => {
            assert_eq!(got, id);
            None
        }
        other => panic!("while uploading: {other:?}"),
    })
    .collect();
    let progress = queued
        .iter()
        .filter(|e| matches!(e, Event::UploadProgress { .. }))
        .count();
    assert!(progress <= 2, "{progress} progress events for 43 bytes");
}

/// The `sent` of every `UploadProgress` event so far.
fn progress_of(events: &[Event]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::UploadProgress { sent, .. } => Some(*sent),
            _ => None,
        })
        .collect()
}

#[test]
fn upload_progress_comes_every_256_kib_again_after_a_restart_and_at_the_end() {
    const KIB: u64 = 1024;
    let size = 1024 * KIB;
    let mut run = Run::sized(size);
    let (id, _) = run.send();
    run.reply(id, 200, INIT_UPLOAD);
    let id = run.upload();
    let feed = |run: &mut Run, id, sent| {
        run.import
            .handle_input(run.now, Input::UploadProgress { id, sent })
            .unwrap();
        loop {
            match run.import.poll_output() {
                Output::Event(e) => run.events.push(e),
                Output::KeepStreaming { .. } => break,
                other => panic!("while uploading: {other:?}"),
            }
        }
    };
    for sent in (1..=10).map(|k| k * 64 * KIB) {
        feed(&mut run, id, sent);
    }
    feed(&mut run, id, 640 * KIB); // the same count again: nothing new to say
    assert_eq!(progress_of(&run.events), [256 * KIB, 512 * KIB]);
    // The connection breaks; the upload is sent again from byte 0.
    run.import
        .handle_input(
            run.now,
            Input::Failed {
                id,
                failure: TransportFailure::Reset,
            },
        )
        .unwrap();
    let id = run.upload();
    assert!(
        run.events
            .iter()
            .filter(|e| matches!(e, Event::UploadStarted { .. }))
            .count()
            == 2,
        "the second attempt is announced"
    );
    feed(&mut run, id, 64 * KIB);
    feed(&mut run, id, 320 * KIB);
    assert_eq!(
        progress_of(&run.events),
        [256 * KIB, 512 * KIB, 320 * KIB],
        "the second attempt counts from 0"
    );
    run.upload_reply(id, 200, Some(&format!("\"{MD5}\"")));
    let _ = run.send(); // ingest
    let progress = progress_of(&run.events);
    assert_eq!(progress.last(), Some(&size), "{progress:?}");
}

#[test]
fn unknown_statuses_are_polled_through_up_to_the_limit() {
    let unknown = ACTIVE.replace(r#""status":"active""#, r#""status":"x-paused""#);
    // A few: polled on, then complete.
    let mut run = Run::new();
    uploaded_until_polling(&mut run);
    for _ in 0..3 {
        let (id, _) = run.send();
        run.reply(id, 200, &unknown);
    }
    let (id, _) = run.send();
    run.reply(id, 200, COMPLETE);
    assert!(run.done().is_ok());
    assert!(run
        .events
        .iter()
        .any(|e| matches!(e, Event::UnknownStatus(s) if s == "x-paused")));
    // More than 30 in a row: a clear error.
    let mut run = Run::new();
    uploaded_until_polling(&mut run);
    for _ in 0..=30 {
        let (id, _) = run.send();
        run.reply(id, 200, &unknown);
    }
    match run.done() {
        Err(Error::Protocol(e)) => assert!(e.to_string().contains("x-paused"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_upload_url_that_keeps_expiring_gives_up_after_three_refreshes() {
    let mut run = Run::new();
    let mut inits = 0;
    let result = loop {
        match run.next() {
            Next::Send(id, body) => {
                assert_eq!(body["action"], "init", "{body}");
                inits += 1;
                run.reply(id, 200, INIT_UPLOAD);
            }
            Next::Upload(id, _) => run.upload_reply(id, 403, None),
            Next::Done(r) => break r,
        }
    };
    match result {
        Err(Error::GaveUp { attempts, last }) => {
            assert_eq!(attempts, 4);
            assert_eq!(last, Transient::UploadStatus(403));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(inits, 4, "one init per URL: the first and three refreshes");
}

#[test]
fn the_bookmark_the_limit_and_the_md5_as_a_driver_sees_them() {
    let mut run = Run::new();
    assert_eq!(run.import.bookmark(), None);
    assert_eq!(Machine::reply_limit(&run.import), 1 << 20);
    let md5 = Md5::from_hex(MD5).unwrap();
    assert_eq!(format!("{md5:?}"), format!("Md5({MD5})"));
    assert_eq!(md5.to_string(), MD5);
    let (id, _) = run.send();
    run.reply(id, 200, INIT_UPLOAD);
    let id = run.upload();
    // A download input while uploading does not fit, and says so.
    let err = run
        .import
        .handle_input(run.now, Input::DownloadEnded { id, written: 1 })
        .unwrap_err();
    assert!(err.to_string().contains("state uploading"), "{err}");
    run.upload_reply(id, 200, Some(&format!("\"{MD5}\"")));
    let (id, _) = run.send();
    let err = run
        .import
        .handle_input(run.now, Input::DownloadEnded { id, written: 1 })
        .unwrap_err();
    assert!(err.to_string().contains("state awaiting reply"), "{err}");
    run.reply(id, 200, ACTIVE);
    assert_eq!(run.import.bookmark(), Some("b-1"));
}

#[test]
fn counts_and_durations_as_the_service_may_write_them() {
    // Floats round down, negatives count as 0; a negative or absurd duration is unknown.
    for (num_queries, rows, duration, want_queries, want_rows, want_duration) in [
        (
            "12.7",
            "-3",
            "69.5",
            12,
            0,
            Some(Duration::from_micros(69_500)),
        ),
        ("7", "2.0", "-1", 7, 2, None),
        ("1e30", "0", "1e16", u64::MAX, 0, None),
    ] {
        let complete = format!(
            r#"{{"success":true,"result":{{"success":true,"type":"import","at_bookmark":"b-1","status":"complete","result":{{"final_bookmark":"b-2","num_queries":{num_queries},"meta":{{"duration":{duration},"rows_read":1,"rows_written":{rows},"size_after":4096}}}}}}}}"#
        );
        let mut run = Run::new();
        uploaded_until_polling(&mut run);
        let (id, _) = run.send();
        run.reply(id, 200, &complete);
        let outcome = run.done().unwrap();
        assert_eq!(outcome.num_queries, want_queries, "{num_queries}");
        assert_eq!(outcome.rows_written, want_rows, "{rows}");
        assert_eq!(outcome.duration, want_duration, "{duration}");
        assert_eq!(outcome.size_after, Some(4096));
    }
}
