//! Harness functions shared by the fuzz targets (`fuzz/`), the property tests and the corpus
//! replay test. Each takes arbitrary input, drives the real code, and panics only when an
//! invariant breaks — which is exactly what a fuzzer or proptest should report.
//!
//! Built with the `fuzzing` feature (and in this crate's own tests).

use crate::download::{judge_end, judge_head, parse_content_range, EndVerdict, HeadVerdict};
use crate::reply::{parse_envelope, parse_export_reply};
use crate::wire::{DatabaseInfo, ExportRequestBody};
use crate::{
    AccountId, ApiBase, ApiToken, Compatibility, Config, Contents, DatabaseId, DumpOptions, Error,
    Event, Export, Input, Job, Machine, Output, RequestId, TransportFailure,
};
use std::time::{Duration, Instant};

/// A little cursor over fuzz bytes; returns zeros once exhausted.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from(self.u8()) << 8 | u16::from(self.u8())
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `reply` target: arbitrary status, headers and body through the reply parsers.
pub fn fuzz_reply(data: &[u8]) {
    let mut b = Bytes(data);
    let status = 100 + b.u16() % 500;
    let mut headers = http::HeaderMap::new();
    for _ in 0..(b.u8() % 4) {
        let (name, value) = match b.u8() % 5 {
            0 => ("retry-after", b.take(12).to_vec()),
            1 => ("content-type", b.take(20).to_vec()),
            2 => ("cf-mitigated", b"challenge".to_vec()),
            3 => ("date", b"Wed, 25 Nov 2026 03:00:00 GMT".to_vec()),
            _ => ("content-range", b.take(24).to_vec()),
        };
        if let Ok(v) = http::HeaderValue::from_bytes(&value) {
            headers.append(name, v);
        }
    }
    let limit = 64 + usize::from(b.u16());
    let body = b.0;
    let _ = parse_export_reply(status, &headers, body, limit);
    let _ = parse_envelope::<DatabaseInfo>(status, &headers, body, limit);
    let _ = crate::reply::retry_after(&headers);
    if let Some(cr) = headers.get("content-range").and_then(|v| v.to_str().ok()) {
        let _ = parse_content_range(cr);
    }
}

/// `request` target: arbitrary ids, options and bookmarks → a clear error, or a valid request
/// whose JSON body round-trips.
pub fn fuzz_request(data: &[u8]) {
    let mut b = Bytes(data);
    let take_str =
        |b: &mut Bytes<'_>, n: u8| String::from_utf8_lossy(b.take(usize::from(n))).into_owned();
    let n = b.u8() % 40;
    let account = take_str(&mut b, n);
    let n = b.u8() % 40;
    let database = take_str(&mut b, n);
    let contents = match b.u8() % 3 {
        0 => Contents::SchemaAndData,
        1 => Contents::SchemaOnly,
        _ => Contents::DataOnly,
    };
    let compatibility = match b.u8() % 3 {
        0 => None,
        1 => Some(Compatibility::D1),
        _ => Some(Compatibility::Sqlite3CliOnly),
    };
    let tables = (0..b.u8() % 4)
        .map(|_| {
            let n = b.u8() % 12;
            take_str(&mut b, n)
        })
        .collect();
    let n = b.u8() % 30;
    let bookmark = take_str(&mut b, n);
    let options = DumpOptions {
        contents,
        tables,
        compatibility,
    };
    let (Ok(account), Ok(database)) = (AccountId::new(&account), DatabaseId::new(&database)) else {
        return;
    };
    let job = Job {
        account,
        database,
        options: options.clone(),
    };
    let Ok(token) = ApiToken::new("fuzz-token") else {
        return;
    };
    let config = Config::new(ApiBase::default(), token);
    let now = Instant::now();
    let Ok(mut export) = Export::new(config, job.clone(), now) else {
        assert!(options.validate().is_err(), "valid options refused");
        return;
    };
    let Output::Send { request, .. } = export.poll_output() else {
        panic!("the first output is not a request");
    };
    assert_request(&request, &job, None);
    let bookmark = (!bookmark.is_empty()).then_some(bookmark);
    let body = crate::request::export_body(&job, bookmark.as_deref());
    let parsed: ExportRequestBody = serde_json::from_slice(&body).expect("body is JSON");
    assert_eq!(parsed.current_bookmark, bookmark);
    assert_eq!(parsed.dump_options, job.options.wire());
}

fn assert_request(request: &http::Request<Vec<u8>>, job: &Job, bookmark: Option<&str>) {
    assert_eq!(request.method(), http::Method::POST);
    let path = request.uri().path();
    assert_eq!(
        path,
        format!(
            "/client/v4/accounts/{}/d1/database/{}/export",
            job.account, job.database
        )
    );
    assert!(request.headers().contains_key(http::header::AUTHORIZATION));
    let body: ExportRequestBody = serde_json::from_slice(request.body()).expect("body is JSON");
    assert_eq!(body.output_format, "polling");
    assert_eq!(
        body.dump_options,
        job.options.wire(),
        "dump_options changed"
    );
    assert_eq!(
        body.current_bookmark.as_deref(),
        bookmark,
        "bookmark not passed through"
    );
}

/// `download` target: arbitrary heads and byte counts never make a short file complete.
pub fn fuzz_download(data: &[u8]) {
    let mut b = Bytes(data);
    let requested = u64::from(b.u16());
    let status = http::StatusCode::from_u16(100 + b.u16() % 500).unwrap_or(http::StatusCode::OK);
    let mut headers = http::HeaderMap::new();
    if b.u8() % 2 == 0 {
        headers.insert(http::header::CONTENT_LENGTH, u64::from(b.u16()).into());
    }
    if b.u8() % 2 == 0 {
        let n = usize::from(b.u8() % 30);
        if let Ok(v) = http::HeaderValue::from_bytes(b.take(n)) {
            headers.insert(http::header::CONTENT_RANGE, v);
        }
    }
    let received = u64::from(b.u16());
    match judge_head(status, &headers, requested) {
        HeadVerdict::Write { start_at, total } => {
            assert!(start_at == 0 || start_at == requested);
            if let EndVerdict::Whole(n) = judge_end(start_at, received, total) {
                assert_eq!(n, start_at + received);
                if let Some(t) = total {
                    assert_eq!(n, t, "a short or long file judged whole");
                }
            }
        }
        HeadVerdict::AlreadyWhole => assert!(requested > 0),
        _ => {}
    }
    // And through the machine.
    run_script(&actions_from_bytes(data));
}

/// One thing the simulated world does when the machine asks it to act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// An API reply "still running" (status form 0: HTTP 202 active, 1: 200 active, 2: no
    /// status, 3: active without a bookmark), held open `held_ms` by the service, with some log lines.
    Running {
        /// How "running" is said.
        form: u8,
        /// How long the service held the poll.
        held_ms: u16,
        /// Log lines to send.
        parts: u8,
        /// Send a different bookmark than before (a misbehaving service).
        other_bookmark: bool,
    },
    /// An API reply "complete" with a signed URL.
    Complete,
    /// One of the failure replies (index into a fixed table of realistic shapes).
    Failure(u8),
    /// A 429 with a Retry-After of this many seconds (0: none).
    Throttled(u8),
    /// A raw reply with this status and these body bytes.
    Raw(u16, Vec<u8>),
    /// The transport fails.
    Transport(u8),
    /// A download head of this kind (index into a fixed table).
    Head(u8),
    /// Deliver this share (in 1/255) of the remaining bytes, then end cleanly or break.
    Body {
        /// Share of the remaining file.
        share: u8,
        /// End cleanly (else the connection breaks).
        clean: bool,
    },
    /// Time passes before the next input.
    Sleep(u16),
    /// The caller cancels.
    Cancel,
    /// A stale or wrong input is fed (must be refused, changing nothing).
    Stale,
}

/// Decodes fuzz bytes into a script of actions.
pub fn actions_from_bytes(data: &[u8]) -> Vec<Action> {
    let mut b = Bytes(data);
    let mut out = Vec::new();
    while !b.is_empty() && out.len() < 256 {
        let action = match b.u8() % 12 {
            0 | 1 => Action::Running {
                form: b.u8() % 4,
                held_ms: b.u16() % 3000,
                parts: b.u8() % 4,
                other_bookmark: b.u8() == 255,
            },
            2 => Action::Complete,
            3 => Action::Failure(b.u8()),
            4 => Action::Throttled(b.u8()),
            5 => {
                let status = 100 + b.u16() % 500;
                let n = usize::from(b.u8() % 64);
                Action::Raw(status, b.take(n).to_vec())
            }
            6 => Action::Transport(b.u8()),
            7 => Action::Head(b.u8()),
            8 | 9 => Action::Body {
                share: b.u8(),
                clean: b.u8() % 3 != 0,
            },
            10 => Action::Sleep(b.u16()),
            _ => {
                if b.u8() % 8 == 0 {
                    Action::Cancel
                } else {
                    Action::Stale
                }
            }
        };
        out.push(action);
    }
    out
}

/// The shapes of failure replies the service and proxies really send (spec, Part 2).
pub const FAILURE_REPLIES: &[(u16, &str)] = &[
    (
        401,
        r#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null}"#,
    ),
    (
        403,
        r#"{"success":false,"errors":[{"code":7403,"message":"The given account is not valid or is not authorized to access this service"}]}"#,
    ),
    (
        404,
        r#"{"success":false,"errors":[{"code":7404,"message":"Database not found"}]}"#,
    ),
    (
        400,
        r#"{"success":false,"errors":[{"code":7500,"message":"Currently processing a long-running export. Cannot start a new export until that completes or times out."}]}"#,
    ),
    (
        200,
        r#"{"success":true,"result":{"success":false,"error":"cannot export databases with Virtual Tables (fts5)"}}"#,
    ),
    (
        200,
        r#"{"success":true,"result":{"status":"error","error":"Export failed: internal","messages":["Generating x.sql"]}}"#,
    ),
    (
        200,
        r#"{"success":true,"result":{"status":"error","error":"Export job not found or cancelled for this bookmark"}}"#,
    ),
    (
        502,
        "<html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>",
    ),
    (
        500,
        r#"{"success":false,"errors":[{"code":7500,"message":"Internal error"}]}"#,
    ),
    (
        200,
        r#"{"success":true,"result":{"status":"exporting-soon","at_bookmark":"bm-1"}}"#,
    ),
    (
        200,
        r#"{"success":true,"result":{"status":"complete","at_bookmark":"bm-1","result":{"filename":"f.sql"}}}"#,
    ),
    (200, r#"{"success":tr"#),
];

/// The file the simulated download server holds (version 'a'; version 'b' is what it holds
/// after the object changed).
const FILE_LEN: u64 = 10_000;

fn file_len(version: char) -> u64 {
    if version == 'a' {
        FILE_LEN
    } else {
        FILE_LEN + 7
    }
}

/// What a simulated run did, for tests to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// The end result, if the run ended.
    pub result: Option<Result<crate::Outcome, Error>>,
    /// API requests sent.
    pub api_requests: u32,
    /// Download requests sent.
    pub downloads: u32,
    /// Virtual time from start to end.
    pub elapsed: Duration,
}

/// `machine` target and the property test: runs the export machine through a script, with a
/// virtual clock, checking the invariants after every step. Always ends.
pub fn run_script(script: &[Action]) -> RunReport {
    let start = Instant::now();
    let mut now = start;
    let mut config = Config::new(
        ApiBase::new("https://api.test/client/v4").expect("valid base"),
        ApiToken::new("tok").expect("valid token"),
    );
    config.deadline = Duration::from_secs(600);
    config.retry.jitter_seed = script.len() as u64;
    let min_interval = config.pacing.min_interval;
    let max_gap = config.pacing.max_gap;
    let max_attempts = config.retry.max_attempts;
    let deadline = start + config.deadline;
    let job = Job {
        account: AccountId::new("0123456789abcdef0123456789abcdef").expect("valid"),
        database: DatabaseId::new("0a1b2c3d-0000-4000-8000-00000000abcd").expect("valid"),
        options: DumpOptions {
            contents: Contents::SchemaAndData,
            tables: vec!["t1".into(), "t\"2".into()],
            compatibility: None,
        },
    };
    let mut export = Export::new(config, job.clone(), now).expect("valid setup");
    let mut actions = script.iter();
    let mut report = RunReport {
        result: None,
        api_requests: 0,
        downloads: 0,
        elapsed: Duration::ZERO,
    };
    let mut bookmark: Option<String> = None;
    let mut served_bookmark = "bm-1".to_owned();
    let mut last_id: Option<RequestId> = None;
    let mut earliest_next: Option<Instant> = None;
    let mut last_poll: Option<(Instant, Instant)> = None; // (sent, replied) of a running reply
    let mut retry_pending = false;
    let mut sink_len: u64 = 0;
    let mut body: Option<(RequestId, u64)> = None; // (id, bytes the server will send)
    let mut pending: Option<(char, bool)> = None; // (version, encoded) of the held body
    let mut steps = 0u32;
    // No storm: the send times of the API requests in the last 10 s of virtual time.
    let mut window: std::collections::VecDeque<Instant> = std::collections::VecDeque::new();
    // Which version of the file the sink holds ('a', 'b'), and whether it mixes two, or
    // holds encoded bytes.
    let mut sink_version = 'a';
    let mut served_version = 'a';
    let mut stitched = false;
    let mut encoded = false;

    loop {
        steps += 1;
        assert!(steps < 100_000, "the machine does not end");
        let mut next = || actions.next().cloned();
        match export.poll_output() {
            Output::Done(result) => {
                if let Ok(outcome) = &result {
                    let len = file_len(sink_version);
                    assert_eq!(outcome.bytes, len, "a short file reported complete");
                    assert_eq!(sink_len, len, "the sink does not hold the file");
                    assert!(!stitched, "two versions of the file stitched together");
                    assert!(!encoded, "encoded bytes reported as the file");
                }
                assert!(
                    now <= deadline + Duration::from_secs(70),
                    "ran past its deadline"
                );
                report.result = Some(result);
                break;
            }
            Output::Event(event) => match event {
                Event::BookmarkLearned(b) => bookmark = Some(b),
                Event::ExportRestarted { .. } => bookmark = None,
                Event::RetryScheduled { attempt, delay, .. } => {
                    assert!(attempt <= max_attempts, "attempts out of bounds");
                    earliest_next = Some(now + delay);
                    retry_pending = true;
                    if bookmark.is_some() && delay > max_gap {
                        // Only a server's Retry-After may stretch a running export's gap.
                        assert!(delay <= Duration::from_secs(120));
                    }
                }
                _ => {}
            },
            Output::WaitUntil(at) => {
                assert!(at > now || at >= deadline, "a wait that is already over");
                now = at.max(now);
                export
                    .handle_input(now, Input::Tick)
                    .expect("tick accepted");
            }
            Output::Send { id, request } => {
                assert!(now < deadline, "a request after the deadline");
                assert!(last_id.is_none_or(|l| id > l), "request ids not increasing");
                last_id = Some(id);
                if let Some(at) = earliest_next.take() {
                    assert!(now >= at, "a retry before its time");
                }
                if let Some((sent, replied)) = last_poll.take() {
                    if !retry_pending {
                        assert!(now >= replied.max(sent + min_interval), "polled too soon");
                    }
                }
                retry_pending = false;
                assert_request(&request, &job, bookmark.as_deref());
                assert_eq!(
                    request.uri().host(),
                    Some("api.test"),
                    "token sent off the API base"
                );
                report.api_requests += 1;
                window.push_back(now);
                while window
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(10))
                {
                    window.pop_front();
                }
                assert!(
                    window.len() <= 12,
                    "a storm: {} API requests within 10 s",
                    window.len()
                );
                let sent = now;
                let Some(action) = next() else {
                    export
                        .handle_input(now, Input::Cancel)
                        .expect("cancel accepted");
                    continue;
                };
                let reply = |status: u16, body: String| {
                    http::Response::builder()
                        .status(status)
                        .body(body.into_bytes())
                        .expect("valid response")
                };
                let response = match action {
                    Action::Running {
                        form,
                        held_ms,
                        parts,
                        other_bookmark,
                    } => {
                        now += Duration::from_millis(u64::from(held_ms));
                        if other_bookmark {
                            served_bookmark.push('x');
                        }
                        let status = match form {
                            0 => r#","status":"active""#,
                            1 => r#","status":"active""#,
                            _ => "",
                        };
                        let lines: Vec<String> = (0..parts)
                            .map(|p| format!("\"Uploaded part {}\"", 3 - p))
                            .collect();
                        // Form 3: "running" without a bookmark (an anomaly; never a storm).
                        let at_bookmark = if form == 3 {
                            String::new()
                        } else {
                            format!(r#""at_bookmark":"{served_bookmark}","#)
                        };
                        let status = if form == 3 {
                            r#","status":"active""#
                        } else {
                            status
                        };
                        let body = format!(
                            r#"{{"success":true,"errors":[],"messages":[],"result":{{{at_bookmark}"type":"export","messages":[{}],"extra":{{"x":1}}{status}}}}}"#,
                            lines.join(",")
                        );
                        if bookmark.is_some() {
                            // Only polls of a running export are paced; the start is not.
                            last_poll = Some((sent, now));
                        }
                        reply(if form == 0 { 202 } else { 200 }, body)
                    }
                    Action::Complete => reply(
                        200,
                        format!(
                            r#"{{"success":true,"result":{{"at_bookmark":"{served_bookmark}","status":"complete","type":"export","result":{{"filename":"db.sql","signed_url":"https://bucket.test/db.sql?X-Amz-Signature=abc"}}}}}}"#
                        ),
                    ),
                    Action::Failure(i) => {
                        let (status, body) =
                            FAILURE_REPLIES[usize::from(i) % FAILURE_REPLIES.len()];
                        reply(status, body.to_owned())
                    }
                    Action::Throttled(secs) => {
                        let mut r = reply(429, "{}".to_owned());
                        if secs > 0 {
                            r.headers_mut()
                                .insert(http::header::RETRY_AFTER, u64::from(secs).into());
                        }
                        r
                    }
                    Action::Raw(status, body) => http::Response::builder()
                        .status(status)
                        .body(body)
                        .expect("valid response"),
                    Action::Sleep(ms) => {
                        now += Duration::from_millis(u64::from(ms));
                        export
                            .handle_input(
                                now,
                                Input::Failed {
                                    id,
                                    failure: TransportFailure::Timeout,
                                },
                            )
                            .expect("failure accepted");
                        continue;
                    }
                    Action::Cancel => {
                        export
                            .handle_input(now, Input::Cancel)
                            .expect("cancel accepted");
                        continue;
                    }
                    Action::Stale => {
                        let stale = RequestId(id.0.wrapping_sub(1));
                        let err = export.handle_input(
                            now,
                            Input::Failed {
                                id: stale,
                                failure: TransportFailure::Reset,
                            },
                        );
                        assert!(err.is_err(), "a stale reply was taken");
                        let err = export.handle_input(now, Input::DownloadEnded { id, written: 1 });
                        assert!(err.is_err(), "a download input was taken for a poll");
                        export
                            .handle_input(
                                now,
                                Input::Failed {
                                    id,
                                    failure: TransportFailure::Connect,
                                },
                            )
                            .expect("failure accepted");
                        continue;
                    }
                    other => {
                        let failure = transport(match other {
                            Action::Transport(k) => k,
                            _ => 0,
                        });
                        export
                            .handle_input(now, Input::Failed { id, failure })
                            .expect("failure accepted");
                        continue;
                    }
                };
                export
                    .handle_input(now, Input::Reply { id, response })
                    .expect("reply accepted");
            }
            Output::Download { id, request } => {
                assert!(now < deadline, "a download after the deadline");
                assert!(
                    !request.headers().contains_key(http::header::AUTHORIZATION),
                    "the download carries the token"
                );
                if let Some(at) = earliest_next.take() {
                    assert!(now >= at, "a retry before its time");
                }
                retry_pending = false;
                report.downloads += 1;
                let from: u64 = request
                    .headers()
                    .get(http::header::RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes="))
                    .and_then(|v| v.trim_end_matches('-').parse().ok())
                    .unwrap_or(0);
                assert!(
                    from == 0 || from == sink_len,
                    "resumed from the wrong place"
                );
                let head = |status: u16, pairs: &[(&str, String)]| {
                    let mut r = http::Response::builder().status(status);
                    for (k, v) in pairs {
                        r = r.header(*k, v);
                    }
                    r.body(()).expect("valid head")
                };
                let kind = match next() {
                    Some(Action::Head(k)) => k % 12,
                    Some(Action::Body { .. } | Action::Running { .. } | Action::Complete) => 0,
                    Some(Action::Cancel) | None => {
                        export
                            .handle_input(now, Input::Cancel)
                            .expect("cancel accepted");
                        continue;
                    }
                    Some(Action::Sleep(ms)) => {
                        now += Duration::from_millis(u64::from(ms));
                        7
                    }
                    Some(_) => 7,
                };
                let version = served_version;
                let len = file_len(version);
                let etag = format!("\"{version}\"");
                let if_range = request
                    .headers()
                    .get(http::header::IF_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let ranged = request.headers().contains_key(http::header::RANGE);
                // A server that honours If-Range answers a changed file whole.
                let honours = if_range.as_deref().is_none_or(|v| v == etag);
                let whole_head = |pairs: &[(&str, String)]| {
                    let mut all = vec![("etag", etag.clone())];
                    all.extend(pairs.iter().cloned());
                    head(200, &all)
                };
                let (head, will_send) = match kind {
                    // Honours Range (206 when resuming, 416 at the end).
                    0 | 1 if ranged && honours && from >= len => {
                        (head(416, &[("content-range", format!("bytes */{len}"))]), 0)
                    }
                    0 | 1 if ranged && honours => (
                        head(
                            206,
                            &[
                                ("content-range", format!("bytes {from}-{}/{len}", len - 1)),
                                ("content-length", (len - from).to_string()),
                                ("etag", etag.clone()),
                            ],
                        ),
                        len - from,
                    ),
                    0 | 1 => (whole_head(&[("content-length", len.to_string())]), len),
                    // Ignores Range.
                    2 => (whole_head(&[("content-length", len.to_string())]), len),
                    3 => (head(403, &[]), 0),
                    4 => (head(503, &[]), 0),
                    5 => (head(404, &[]), 0),
                    6 => (head(206, &[("content-range", "bytes 1-2/3".to_owned())]), 0),
                    // No Content-Length, no chunked framing: the end is the connection's.
                    8 => (whole_head(&[]), len),
                    // The object changes under us; a hostile server even answers the range.
                    9 => {
                        served_version = if version == 'a' { 'b' } else { 'a' };
                        let len = file_len(served_version);
                        let etag = format!("\"{served_version}\"");
                        if ranged && from < len {
                            (
                                head(
                                    206,
                                    &[
                                        (
                                            "content-range",
                                            format!("bytes {from}-{}/{len}", len - 1),
                                        ),
                                        ("content-length", (len - from).to_string()),
                                        ("etag", etag),
                                    ],
                                ),
                                len - from,
                            )
                        } else {
                            (
                                head(200, &[("content-length", len.to_string()), ("etag", etag)]),
                                len,
                            )
                        }
                    }
                    // Encoded bytes.
                    10 => (
                        whole_head(&[
                            ("content-length", (len / 3).to_string()),
                            ("content-encoding", "gzip".to_owned()),
                        ]),
                        len / 3,
                    ),
                    // Throttled, with a Retry-After.
                    11 => (head(429, &[("retry-after", "3".to_owned())]), 0),
                    _ => {
                        export
                            .handle_input(
                                now,
                                Input::Failed {
                                    id,
                                    failure: TransportFailure::Reset,
                                },
                            )
                            .expect("failure accepted");
                        continue;
                    }
                };
                let head_version = if kind == 9 { served_version } else { version };
                let head_encoded = kind == 10;
                pending = Some((head_version, head_encoded));
                body = Some((id, will_send));
                export
                    .handle_input(now, Input::DownloadHead { id, head })
                    .expect("head accepted");
            }
            Output::Upload { .. } => panic!("an export asked for an upload"),
            Output::KeepStreaming { .. } => panic!("keep streaming with no body streaming"),
            Output::WriteBody { id, start_at } => {
                let Some((body_id, available)) = body.take() else {
                    panic!("WriteBody without a download head");
                };
                assert_eq!(id, body_id, "WriteBody for another download");
                assert!(
                    start_at == 0 || start_at == sink_len,
                    "a gap or overlap in the sink"
                );
                let (version, enc) = pending.take().expect("a head before the body");
                if start_at == 0 {
                    sink_version = version;
                    stitched = false;
                    encoded = enc;
                } else {
                    stitched |= version != sink_version;
                    encoded |= enc;
                }
                sink_len = start_at;
                let (share, clean) = match next() {
                    Some(Action::Body { share, clean }) => (share, clean),
                    Some(Action::Cancel) => {
                        export
                            .handle_input(now, Input::Cancel)
                            .expect("cancel accepted");
                        continue;
                    }
                    Some(_) => (255, true),
                    None => (255, true),
                };
                let written = available * u64::from(share) / 255;
                sink_len += written;
                export
                    .handle_input(now, Input::DownloadProgress { id, written })
                    .expect("progress accepted");
                // One way out: the progress's events, then "keep streaming" (or the end).
                let ended = loop {
                    match export.poll_output() {
                        Output::Event(_) => {}
                        Output::KeepStreaming { id: got } => {
                            assert_eq!(got, id, "keep streaming another body");
                            break false;
                        }
                        Output::Done(_) => break true,
                        other => panic!("after progress: {other:?}"),
                    }
                };
                if ended {
                    continue;
                }
                let input = if clean {
                    Input::DownloadEnded { id, written }
                } else {
                    Input::DownloadFailed {
                        id,
                        written,
                        failure: TransportFailure::Reset,
                    }
                };
                export.handle_input(now, input).expect("end accepted");
            }
        }
    }
    report.elapsed = now - start;
    report
}

fn transport(k: u8) -> TransportFailure {
    match k % 5 {
        0 => TransportFailure::Connect,
        1 => TransportFailure::Timeout,
        2 => TransportFailure::Reset,
        3 => TransportFailure::BodyTooLarge,
        _ => TransportFailure::Other,
    }
}

/// One thing the simulated service or upload server does in an import run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportAction {
    /// `init` answers with an upload URL (to any other request: "running").
    UploadUrl,
    /// A polling-shape reply "running", held `held_ms`, with `lines` log lines.
    Running {
        /// How long the service held the request.
        held_ms: u16,
        /// Log lines to send.
        lines: u8,
        /// Send a different bookmark than before (a misbehaving service).
        other_bookmark: bool,
    },
    /// A polling-shape reply "complete" with `num_queries`.
    Complete(u16),
    /// One of the failure replies (index into [`IMPORT_FAILURE_REPLIES`]).
    Failure(u8),
    /// A 429 with a Retry-After of this many seconds (0: none).
    Throttled(u8),
    /// A raw reply with this status and these body bytes.
    Raw(u16, Vec<u8>),
    /// The transport fails (no reply).
    Transport(u8),
    /// The upload server's answer (index: 0 ok, 1 wrong ETag, 2 no ETag, 3 403, 4 503,
    /// 5 400, 6 quoted upper-case ETag, 7 breaks off).
    Upload(u8),
    /// Time passes before the next input.
    Sleep(u16),
    /// The caller cancels.
    Cancel,
    /// A stale or wrong input is fed (must be refused, changing nothing).
    Stale,
}

/// Failure replies of the import endpoint (spec, Part 3, and wrangler's handling).
pub const IMPORT_FAILURE_REPLIES: &[(u16, &str)] = &[
    (
        401,
        r#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}"#,
    ),
    (
        404,
        r#"{"success":false,"errors":[{"code":7404,"message":"Database not found"}]}"#,
    ),
    (
        409,
        r#"{"success":false,"errors":[{"code":7500,"message":"Currently processing a long-running import."}]}"#,
    ),
    (
        200,
        r#"{"success":true,"result":{"success":false,"error":"Import failed: the file is not valid"}}"#,
    ),
    (
        200,
        r#"{"success":true,"result":{"success":true,"type":"import","at_bookmark":"ib-1","status":"error","errors":["statement 3 (line 7): no such table: main.b"],"messages":["Importing"]}}"#,
    ),
    (
        503,
        "<html><head><title>503 Service Temporarily Unavailable</title></head></html>",
    ),
    (
        500,
        r#"{"success":false,"errors":[{"code":7500,"message":"Internal error"}]}"#,
    ),
    (
        200,
        r#"{"success":true,"result":{"type":"import","at_bookmark":"ib-1","status":"importing-soon"}}"#,
    ),
    (200, r#"{"success":true,"result":{"upload_"#),
    (
        200,
        r#"{"success":true,"result":{"type":"import","at_bookmark":"ib-1","status":"complete"}}"#,
    ),
];

/// Decodes fuzz bytes into a script of import actions.
pub fn import_actions_from_bytes(data: &[u8]) -> Vec<ImportAction> {
    let mut b = Bytes(data);
    let mut out = Vec::new();
    while !b.is_empty() && out.len() < 256 {
        let action = match b.u8() % 12 {
            0 => ImportAction::UploadUrl,
            1 | 2 => ImportAction::Running {
                held_ms: b.u16() % 3000,
                lines: b.u8() % 3,
                other_bookmark: b.u8() == 255,
            },
            3 => ImportAction::Complete(b.u16()),
            4 => ImportAction::Failure(b.u8()),
            5 => ImportAction::Throttled(b.u8()),
            6 => {
                let status = 100 + b.u16() % 500;
                let n = usize::from(b.u8() % 64);
                ImportAction::Raw(status, b.take(n).to_vec())
            }
            7 => ImportAction::Transport(b.u8()),
            8 | 9 => ImportAction::Upload(b.u8()),
            10 => ImportAction::Sleep(b.u16()),
            _ => {
                if b.u8() % 8 == 0 {
                    ImportAction::Cancel
                } else {
                    ImportAction::Stale
                }
            }
        };
        out.push(action);
    }
    out
}

/// What a simulated import run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// The end result.
    pub result: Option<Result<crate::ImportOutcome, Error>>,
    /// API requests by action (`init`, `ingest`, `poll`).
    pub inits: u32,
    /// `ingest` requests.
    pub ingests: u32,
    /// `poll` requests.
    pub polls: u32,
    /// Upload requests.
    pub uploads: u32,
}

/// `import` target and the import property test: runs the import machine through a script
/// with a virtual clock, checking after every step that no request comes before its time, no
/// upload carries the token or a wrong length, nothing is ingested that was not verified, a
/// second import is never started once the service told the bookmark, and a success is only
/// reported after a "complete" reply. Always ends.
pub fn run_import_script(script: &[ImportAction]) -> ImportReport {
    use crate::{Import, ImportJob, Md5, SqlFile};
    const SIZE: u64 = 1_000_000;
    const MD5: &str = "0123456789abcdef0123456789abcdef";
    const UPLOAD: &str = "https://upload.test/__upload/tok/f.sql?X-Amz-Signature=s";
    let start = Instant::now();
    let mut now = start;
    let mut config = Config::new(
        ApiBase::new("https://api.test/client/v4").expect("valid base"),
        ApiToken::new("tok").expect("valid token"),
    );
    config.deadline = Duration::from_secs(600);
    config.retry.jitter_seed = script.len() as u64;
    let min_interval = config.pacing.min_interval;
    let deadline = start + config.deadline;
    let job = ImportJob {
        account: AccountId::new("0123456789abcdef0123456789abcdef").expect("valid"),
        database: DatabaseId::new("0a1b2c3d-0000-4000-8000-00000000abcd").expect("valid"),
        file: SqlFile {
            md5: Md5::from_hex(MD5).expect("valid"),
            size: SIZE,
        },
    };
    let mut import = Import::new(config, job, now).expect("valid setup");
    let mut actions = script.iter();
    let mut report = ImportReport {
        result: None,
        inits: 0,
        ingests: 0,
        polls: 0,
        uploads: 0,
    };
    let mut bookmark: Option<String> = None;
    let mut served_bookmark = "ib-1".to_owned();
    let mut upload_offered = false;
    let mut verified = false;
    let mut completed_with: Option<u64> = None;
    let mut earliest_next: Option<Instant> = None;
    let mut last_poll: Option<(Instant, Instant)> = None;
    let mut retry_pending = false;
    let mut last_id: Option<RequestId> = None;
    let mut steps = 0u32;
    let reply = |status: u16, body: String| {
        http::Response::builder()
            .status(status)
            .body(body.into_bytes())
            .expect("valid response")
    };
    loop {
        steps += 1;
        assert!(steps < 100_000, "the machine does not end");
        match import.poll_output() {
            Output::KeepStreaming { .. } => panic!("keep streaming with no upload streaming"),
            Output::Done(result) => {
                if let Ok(outcome) = &result {
                    assert_eq!(
                        Some(outcome.num_queries),
                        completed_with,
                        "success without a complete reply"
                    );
                    assert!(outcome.uploaded == verified, "uploaded flag is wrong");
                }
                assert!(
                    now <= deadline + Duration::from_secs(130),
                    "ran past its deadline"
                );
                report.result = Some(result);
                break;
            }
            Output::Event(event) => match event {
                Event::ImportStarted { bookmark: b } => bookmark = Some(b),
                Event::RetryScheduled { delay, .. } => {
                    earliest_next = Some(now + delay);
                    retry_pending = true;
                }
                Event::UploadProgress { sent, total } => {
                    assert!(sent <= total && total == SIZE, "progress past the file")
                }
                _ => {}
            },
            Output::WaitUntil(at) => {
                assert!(at > now || at >= deadline, "a wait that is already over");
                now = at.max(now);
                import
                    .handle_input(now, Input::Tick)
                    .expect("tick accepted");
            }
            Output::Download { .. } | Output::WriteBody { .. } => {
                panic!("an import asked for a download")
            }
            Output::Upload { id, request } => {
                report.uploads += 1;
                assert!(upload_offered, "an upload before init gave a URL");
                assert!(bookmark.is_none(), "an upload after the import started");
                assert!(last_id.is_none_or(|l| id > l), "request ids not increasing");
                last_id = Some(id);
                if let Some(at) = earliest_next.take() {
                    assert!(now >= at, "a retry before its time");
                }
                retry_pending = false;
                assert_eq!(request.method(), http::Method::PUT);
                assert_eq!(request.uri().to_string(), UPLOAD, "uploaded elsewhere");
                assert!(
                    !request.headers().contains_key(http::header::AUTHORIZATION),
                    "the upload carries the token"
                );
                assert_eq!(
                    request
                        .headers()
                        .get(http::header::CONTENT_LENGTH)
                        .and_then(|v| v.to_str().ok()),
                    Some(SIZE.to_string().as_str()),
                    "wrong Content-Length"
                );
                let kind = match actions.next().cloned() {
                    Some(ImportAction::Upload(k)) => k % 8,
                    Some(ImportAction::Cancel) | None => {
                        import.handle_input(now, Input::Cancel).expect("cancel");
                        continue;
                    }
                    Some(ImportAction::Sleep(ms)) => {
                        now += Duration::from_millis(u64::from(ms));
                        7
                    }
                    Some(_) => 0,
                };
                let half = SIZE / 2;
                import
                    .handle_input(now, Input::UploadProgress { id, sent: half })
                    .expect("progress accepted");
                if import.is_over() {
                    // The deadline passed while the body streamed: like a driver, stop
                    // sending and take the end (a failure fed now is refused).
                    let refused = import.handle_input(
                        now,
                        Input::Failed {
                            id,
                            failure: TransportFailure::Reset,
                        },
                    );
                    assert!(refused.is_err(), "an input taken after the end");
                    continue;
                }
                if kind == 7 {
                    import
                        .handle_input(
                            now,
                            Input::Failed {
                                id,
                                failure: TransportFailure::Reset,
                            },
                        )
                        .expect("failure accepted");
                    continue;
                }
                import
                    .handle_input(now, Input::UploadProgress { id, sent: SIZE })
                    .expect("progress accepted");
                let head = |status: u16, etag: Option<&str>| {
                    let mut r = http::Response::builder().status(status);
                    if let Some(e) = etag {
                        r = r.header(http::header::ETAG, e);
                    }
                    r.body(Vec::new()).expect("valid response")
                };
                let quoted = format!("\"{MD5}\"");
                let upper = format!("\"{}\"", MD5.to_ascii_uppercase());
                let response = match kind {
                    0 => head(200, Some(&quoted)),
                    1 => head(200, Some("\"ffffffffffffffffffffffffffffffff\"")),
                    2 => head(200, None),
                    3 => head(403, None),
                    4 => head(503, None),
                    5 => head(400, None),
                    _ => head(200, Some(&upper)),
                };
                if matches!(kind, 0 | 6) {
                    verified = true;
                }
                if kind == 3 {
                    upload_offered = false;
                }
                import
                    .handle_input(now, Input::Reply { id, response })
                    .expect("reply accepted");
            }
            Output::Send { id, request } => {
                assert!(now < deadline, "a request after the deadline");
                assert!(last_id.is_none_or(|l| id > l), "request ids not increasing");
                last_id = Some(id);
                assert_eq!(
                    request.uri().host(),
                    Some("api.test"),
                    "token sent off the API base"
                );
                assert_eq!(
                    request.uri().path(),
                    "/client/v4/accounts/0123456789abcdef0123456789abcdef/d1/database/0a1b2c3d-0000-4000-8000-00000000abcd/import"
                );
                assert!(request.headers().contains_key(http::header::AUTHORIZATION));
                if let Some(at) = earliest_next.take() {
                    assert!(now >= at, "a retry before its time");
                }
                if let Some((sent, replied)) = last_poll.take() {
                    if !retry_pending {
                        assert!(now >= replied.max(sent + min_interval), "polled too soon");
                    }
                }
                retry_pending = false;
                let body: serde_json::Value =
                    serde_json::from_slice(request.body()).expect("body is JSON");
                let action = body["action"].as_str().unwrap_or_default().to_owned();
                match (&bookmark, action.as_str()) {
                    (Some(b), "poll") => {
                        assert_eq!(body["current_bookmark"].as_str(), Some(b.as_str()))
                    }
                    (Some(_), other) => panic!("{other} after the import started"),
                    (None, "init") => {
                        report.inits += 1;
                        assert_eq!(body["etag"].as_str(), Some(MD5));
                    }
                    (None, "ingest") => {
                        report.ingests += 1;
                        assert!(verified, "ingest of an upload not verified");
                        assert_eq!(body["etag"].as_str(), Some(MD5));
                        assert_eq!(body["filename"].as_str(), Some("f.sql"));
                    }
                    (None, other) => panic!("{other} before the import started"),
                }
                if action == "poll" {
                    report.polls += 1;
                }
                let sent = now;
                let Some(next) = actions.next().cloned() else {
                    import.handle_input(now, Input::Cancel).expect("cancel");
                    continue;
                };
                let running = |served: &str, lines: u8| {
                    let lines: Vec<String> = (0..lines).map(|i| format!("\"line {i}\"")).collect();
                    format!(
                        r#"{{"success":true,"result":{{"success":true,"type":"import","at_bookmark":"{served}","status":"active","messages":[{}]}}}}"#,
                        lines.join(",")
                    )
                };
                let response = match next {
                    ImportAction::UploadUrl if action == "init" => {
                        upload_offered = true;
                        reply(
                            200,
                            format!(
                                r#"{{"success":true,"result":{{"upload_url":"{UPLOAD}","filename":"f.sql"}}}}"#
                            ),
                        )
                    }
                    ImportAction::UploadUrl => reply(200, running(&served_bookmark, 0)),
                    ImportAction::Running {
                        held_ms,
                        lines,
                        other_bookmark,
                    } => {
                        now += Duration::from_millis(u64::from(held_ms));
                        if other_bookmark {
                            served_bookmark.push('x');
                        }
                        if bookmark.is_some() {
                            last_poll = Some((sent, now));
                        }
                        reply(200, running(&served_bookmark, lines))
                    }
                    ImportAction::Complete(n) => {
                        if bookmark.is_none() && action == "init" {
                            // The service had the file: no upload.
                            verified = false;
                        }
                        completed_with = Some(u64::from(n));
                        reply(
                            200,
                            format!(
                                r#"{{"success":true,"result":{{"success":true,"type":"import","at_bookmark":"{served_bookmark}","status":"complete","messages":[],"result":{{"final_bookmark":"fb-2","num_queries":{n},"meta":{{"duration":1.5,"rows_read":0,"rows_written":{n},"size_after":4096}}}}}}}}"#
                            ),
                        )
                    }
                    ImportAction::Failure(i) => {
                        let (status, body) =
                            IMPORT_FAILURE_REPLIES[usize::from(i) % IMPORT_FAILURE_REPLIES.len()];
                        reply(status, body.to_owned())
                    }
                    ImportAction::Throttled(secs) => {
                        let mut r = reply(429, "{}".to_owned());
                        if secs > 0 {
                            r.headers_mut()
                                .insert(http::header::RETRY_AFTER, u64::from(secs).into());
                        }
                        r
                    }
                    ImportAction::Raw(status, body) => http::Response::builder()
                        .status(status)
                        .body(body)
                        .expect("valid response"),
                    ImportAction::Sleep(ms) => {
                        now += Duration::from_millis(u64::from(ms));
                        import
                            .handle_input(
                                now,
                                Input::Failed {
                                    id,
                                    failure: TransportFailure::Timeout,
                                },
                            )
                            .expect("failure accepted");
                        continue;
                    }
                    ImportAction::Cancel => {
                        import.handle_input(now, Input::Cancel).expect("cancel");
                        continue;
                    }
                    ImportAction::Stale => {
                        let stale = RequestId(id.0.wrapping_sub(1));
                        let err = import.handle_input(
                            now,
                            Input::Failed {
                                id: stale,
                                failure: TransportFailure::Reset,
                            },
                        );
                        assert!(err.is_err(), "a stale reply was taken");
                        let err = import.handle_input(now, Input::UploadProgress { id, sent: 1 });
                        assert!(err.is_err(), "upload progress was taken for an API request");
                        import
                            .handle_input(
                                now,
                                Input::Failed {
                                    id,
                                    failure: TransportFailure::Connect,
                                },
                            )
                            .expect("failure accepted");
                        continue;
                    }
                    ImportAction::Transport(k) => {
                        import
                            .handle_input(
                                now,
                                Input::Failed {
                                    id,
                                    failure: transport(k),
                                },
                            )
                            .expect("failure accepted");
                        continue;
                    }
                    ImportAction::Upload(_) => reply(200, running(&served_bookmark, 0)),
                };
                import
                    .handle_input(now, Input::Reply { id, response })
                    .expect("reply accepted");
            }
        }
    }
    report
}

/// `import` fuzz target: arbitrary bytes as a script through [`run_import_script`].
pub fn fuzz_import(data: &[u8]) {
    run_import_script(&import_actions_from_bytes(data));
}

/// What the `fleet` target's service answers to one API request.
fn fleet_answer(kind: u8, task: u64, polls: u32) -> http::Response<Vec<u8>> {
    let json = |status: u16, body: String| {
        http::Response::builder()
            .status(status)
            .body(body.into_bytes())
            .expect("a valid response")
    };
    let active = || {
        json(
            202,
            format!(
                r#"{{"success":true,"result":{{"at_bookmark":"bm-{task}","status":"active"}}}}"#
            ),
        )
    };
    match kind % 10 {
        5 if polls > 0 => json(
            200,
            format!(
                r#"{{"success":true,"result":{{"at_bookmark":"bm-{task}","status":"complete","result":{{"filename":"{task}.sql","signed_url":"https://bucket.test/{task}.sql?X-Amz-Signature=s"}}}}}}"#
            ),
        ),
        6 => http::Response::builder()
            .status(429)
            .header("retry-after", (kind / 10 % 4).to_string())
            .body(b"{}".to_vec())
            .expect("a valid response"),
        7 => json(
            503,
            r#"{"success":false,"errors":[{"code":7500,"message":"Internal error"}]}"#.to_owned(),
        ),
        9 if polls > 0 => json(
            200,
            format!(
                r#"{{"success":true,"result":{{"at_bookmark":"bm-{task}","status":"error","error":"Export job not found or cancelled for bookmark bm-{task}"}}}}"#
            ),
        ),
        _ => active(),
    }
}

/// Requests sent at exactly `at`.
fn n_sent_at(sends: &std::collections::VecDeque<Instant>, at: Instant) -> usize {
    sends.iter().filter(|t| **t == at).count()
}

/// A request of the `fleet` target on its way back.
struct FleetPending {
    at: Instant,
    key: crate::TaskKey,
    input: Input,
}

/// What a [`fuzz_fleet`] run did, for tests to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetReport {
    /// Tasks that ended (each exactly once), and how many of them with a file.
    pub ended: usize,
    /// Exports that completed.
    pub exported: usize,
    /// API requests released.
    pub api_requests: usize,
    /// The longest gap between an answer and the next poll of a running export, outside
    /// throttling pauses.
    pub longest_gap: Duration,
}

/// `fleet` target and property: a fleet of 2–6 exports under a small budget, against a
/// service whose answers (running, complete, 429, 5xx, transport failure, job gone) and
/// latencies come from `data`; once `data` runs out, every answer is "complete". Checks after
/// every step: no window of the budget holds more than its limit, API requests keep the
/// budget's spacing, no running export waits more than `max_gap` after an answer for its
/// next poll (outside 429 pauses), no export makes more than 12 API requests in 10 s, every
/// input is accepted, and every task ends exactly once.
pub fn fuzz_fleet(data: &[u8]) -> FleetReport {
    use crate::{Fleet, FleetInput, FleetOutput, RateBudget, Task};
    use std::collections::{BTreeMap, VecDeque};
    let mut b = Bytes(data);
    let exports = 2 + usize::from(b.u8() % 5);
    let limit = 1 + u32::from(b.u8() % 6);
    let window = Duration::from_secs(1 + u64::from(b.u8() % 5));
    let concurrency = 1 + usize::from(b.u8() % 6);
    let t0 = Instant::now();
    let mut config = Config::new(
        ApiBase::new("https://api.test/client/v4").expect("valid base"),
        ApiToken::new("tok").expect("valid token"),
    );
    config.deadline = Duration::from_secs(3600);
    config.retry.jitter_seed = u64::from(b.u16());
    let max_gap = config.pacing.max_gap;
    let budget = RateBudget::new(limit, window);
    let spacing = budget.pace();
    let mut fleet = Fleet::new(config, budget, t0).with_concurrency(concurrency);
    let account = AccountId::new("0123456789abcdef0123456789abcdef").expect("valid account");
    for i in 0..exports {
        let database =
            DatabaseId::new(&format!("f1ee7000-0000-4000-8000-{i:012}")).expect("valid database");
        fleet
            .push(Task::Export(Job {
                account: account.clone(),
                database,
                options: DumpOptions::default(),
            }))
            .expect("a valid job");
    }
    let mut now = t0;
    let mut pending: Vec<FleetPending> = Vec::new();
    let mut sends: VecDeque<Instant> = VecDeque::new();
    let mut last_send: Option<Instant> = None;
    let mut per_task: BTreeMap<u64, VecDeque<Instant>> = BTreeMap::new();
    let mut polls: BTreeMap<u64, u32> = BTreeMap::new();
    // Per task: when the API last answered it while it was running (has a bookmark).
    let mut answered: BTreeMap<u64, Instant> = BTreeMap::new();
    let mut running: BTreeMap<u64, bool> = BTreeMap::new();
    let mut pauses: Vec<(Instant, Instant)> = Vec::new();
    let mut report = FleetReport {
        ended: 0,
        exported: 0,
        api_requests: 0,
        longest_gap: Duration::ZERO,
    };
    let mut ended: BTreeMap<u64, bool> = BTreeMap::new();
    for _ in 0..20_000 {
        match fleet.poll_output() {
            FleetOutput::Task { key, output } => {
                let task = key.get();
                match output {
                    Output::Send { id, .. } => {
                        report.api_requests += 1;
                        // The budget's window and pace.
                        sends.push_back(now);
                        while sends
                            .front()
                            .is_some_and(|t| now.duration_since(*t) >= window)
                        {
                            sends.pop_front();
                        }
                        assert!(
                            sends.len() <= limit as usize,
                            "{} requests in one window",
                            sends.len()
                        );
                        // The pace: no run of requests ahead of one per `spacing` (one may
                        // follow closer when the one before left late).
                        if let (Some(first), n) = (sends.front(), sends.len()) {
                            let least =
                                spacing * u32::try_from(n.saturating_sub(2)).unwrap_or(u32::MAX);
                            assert!(
                                now.duration_since(*first) >= least,
                                "{n} requests ahead of the pace"
                            );
                        }
                        if let Some(last) = last_send {
                            assert!(
                                now > last || n_sent_at(&sends, now) <= 2,
                                "a burst at one instant"
                            );
                        }
                        last_send = Some(now);
                        // No storm per export.
                        let mine = per_task.entry(task).or_default();
                        mine.push_back(now);
                        while mine
                            .front()
                            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(10))
                        {
                            mine.pop_front();
                        }
                        assert!(
                            mine.len() <= 12,
                            "a storm: {} requests of {key} in 10 s",
                            mine.len()
                        );
                        // The gap of a running export, outside pauses.
                        if running.get(&task).copied().unwrap_or(false) {
                            if let Some(at) = answered.get(&task) {
                                let gap = now.duration_since(*at);
                                let paused =
                                    pauses.iter().any(|(from, to)| *from <= now && *to >= *at);
                                if !paused {
                                    report.longest_gap = report.longest_gap.max(gap);
                                    assert!(gap <= max_gap, "{key} waited {gap:?} for a poll");
                                }
                            }
                        }
                        let n = polls.entry(task).or_insert(0);
                        let (kind, latency) = if b.is_empty() {
                            (5, 100)
                        } else {
                            (b.u8(), u64::from(b.u8() % 40) * 50)
                        };
                        let at = now + Duration::from_millis(latency);
                        let input = if kind % 10 == 8 {
                            Input::Failed {
                                id,
                                failure: transport(kind / 10),
                            }
                        } else {
                            let response = fleet_answer(kind, task, *n);
                            if response.status() == 429 {
                                let after = response
                                    .headers()
                                    .get("retry-after")
                                    .and_then(|v| v.to_str().ok())
                                    .and_then(|v| v.parse().ok())
                                    .unwrap_or(0);
                                pauses.push((at, at + Duration::from_secs(after)));
                            }
                            match response.status().as_u16() {
                                // Running: the service now expects polls.
                                202 => drop(running.insert(task, true)),
                                // Complete, or the job is gone: no more polls owed.
                                200 => drop(running.insert(task, false)),
                                _ => {}
                            }
                            Input::Reply { id, response }
                        };
                        *n += 1;
                        pending.push(FleetPending { at, key, input });
                    }
                    Output::Download { id, .. } => {
                        running.insert(task, false);
                        let head = http::Response::builder()
                            .status(200)
                            .header("content-length", "10")
                            .body(())
                            .expect("a valid head");
                        pending.push(FleetPending {
                            at: now,
                            key,
                            input: Input::DownloadHead { id, head },
                        });
                    }
                    Output::WriteBody { id, .. } => {
                        let input = if !b.is_empty() && b.u8() % 5 == 0 {
                            Input::DownloadFailed {
                                id,
                                written: 4,
                                failure: TransportFailure::Reset,
                            }
                        } else {
                            Input::DownloadEnded { id, written: 10 }
                        };
                        pending.push(FleetPending {
                            at: now + Duration::from_millis(10),
                            key,
                            input,
                        });
                    }
                    Output::Done(result) => {
                        assert!(ended.insert(task, true).is_none(), "{key} ended twice");
                        report.ended += 1;
                        report.exported += usize::from(result.is_ok());
                        running.insert(task, false);
                    }
                    Output::Event(_)
                    | Output::WaitUntil(_)
                    | Output::Upload { .. }
                    | Output::KeepStreaming { .. } => {}
                }
            }
            FleetOutput::WaitUntil(at) => {
                assert!(at >= now, "a wait into the past");
                pending.sort_by_key(|p| p.at);
                if pending.first().is_some_and(|p| p.at <= at) {
                    let p = pending.remove(0);
                    now = now.max(p.at);
                    if matches!(p.input, Input::Reply { .. } | Input::Failed { .. }) {
                        answered.insert(p.key.get(), now);
                    }
                    fleet
                        .handle_input(
                            now,
                            FleetInput::Task {
                                key: p.key,
                                input: p.input,
                            },
                        )
                        .expect("a valid input is accepted");
                } else {
                    now = at;
                    fleet.handle_input(now, FleetInput::Tick).expect("a tick");
                }
            }
            FleetOutput::Idle => {
                pending.sort_by_key(|p| p.at);
                if pending.is_empty() {
                    break;
                }
                let p = pending.remove(0);
                now = now.max(p.at);
                fleet
                    .handle_input(
                        now,
                        FleetInput::Task {
                            key: p.key,
                            input: p.input,
                        },
                    )
                    .expect("a valid input is accepted");
            }
        }
    }
    assert_eq!(report.ended, exports, "every task ends");
    report
}
