//! A scripted world for the export machine (quinn-proto style): each request gets the next
//! scripted answer, on a virtual clock. Shared by the simulation test files.
#![allow(dead_code)]

use d1_export_core::*;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";
pub const DB: &str = "0a1b2c3d-0000-4000-8000-00000000abcd";
pub const URL: &str = "https://bucket.test/x.sql?X-Amz-Signature=secret";

/// What the scripted world answers to the next request.
pub enum Answer {
    /// An API reply after `held` of server time.
    Reply(
        u16,
        &'static [(&'static str, &'static str)],
        String,
        Duration,
    ),
    /// No reply.
    Fail(TransportFailure),
    /// A download head, then (on WriteBody) `send` body bytes and a clean end or a break.
    Head(u16, Vec<(&'static str, String)>, u64, bool),
}

pub fn active() -> Answer {
    Answer::Reply(202, &[], r#"{"success":true,"result":{"at_bookmark":"bm","status":"active","messages":["Uploaded part 2","Uploaded part 1","Uploaded part 2"]}}"#.into(), Duration::ZERO)
}
pub fn held(d: Duration) -> Answer {
    Answer::Reply(
        202,
        &[],
        r#"{"success":true,"result":{"at_bookmark":"bm","status":"active"}}"#.into(),
        d,
    )
}
pub fn complete() -> Answer {
    Answer::Reply(
        200,
        &[],
        format!(
            r#"{{"success":true,"result":{{"at_bookmark":"bm","status":"complete","result":{{"filename":"x.sql","signed_url":"{URL}"}}}}}}"#
        ),
        Duration::ZERO,
    )
}
pub fn api(status: u16, body: &str) -> Answer {
    Answer::Reply(status, &[], body.to_owned(), Duration::ZERO)
}
pub fn whole(len: u64) -> Answer {
    Answer::Head(200, vec![("content-length", len.to_string())], len, true)
}

#[derive(Default)]
pub struct Log {
    pub sends: Vec<(Instant, http::Request<Vec<u8>>)>,
    pub downloads: Vec<(Instant, http::Request<()>)>,
    pub events: Vec<Event>,
    pub writes: Vec<u64>,
    pub sink: u64,
}

pub fn config() -> Config {
    let mut c = Config::new(
        ApiBase::new("https://api.test/client/v4").unwrap(),
        ApiToken::new("secret-token").unwrap(),
    );
    c.retry.jitter_seed = 42;
    c
}

pub fn job(options: DumpOptions) -> Job {
    Job {
        account: AccountId::new(ACCOUNT).unwrap(),
        database: DatabaseId::new(DB).unwrap(),
        options,
    }
}

/// Runs the machine against the script; returns the result, the log and the virtual end time.
pub fn simulate(
    config: Config,
    job: Job,
    script: Vec<Answer>,
) -> (Result<Outcome, Error>, Log, Duration) {
    let start = Instant::now();
    let mut now = start;
    let mut export = Export::new(config, job, now).unwrap();
    let mut script: VecDeque<Answer> = script.into();
    let mut log = Log::default();
    let mut body: Option<(RequestId, u64, bool)> = None;
    for _ in 0..100_000 {
        match export.poll_output() {
            Output::Done(result) => return (result, log, now - start),
            Output::Event(e) => log.events.push(e),
            Output::WaitUntil(at) => {
                assert!(at >= now);
                now = at;
                export.handle_input(now, Input::Tick).unwrap();
            }
            Output::Send { id, request } => {
                log.sends.push((now, request));
                match script.pop_front().expect("script ran out at a poll") {
                    Answer::Reply(status, hs, text, held) => {
                        now += held;
                        let mut b = http::Response::builder().status(status);
                        for (k, v) in hs {
                            b = b.header(*k, *v);
                        }
                        let response = b.body(text.into_bytes()).unwrap();
                        export
                            .handle_input(now, Input::Reply { id, response })
                            .unwrap();
                    }
                    Answer::Fail(failure) => export
                        .handle_input(now, Input::Failed { id, failure })
                        .unwrap(),
                    Answer::Head(..) => panic!("a download answer to a poll"),
                }
            }
            Output::Download { id, request } => {
                log.downloads.push((now, request));
                match script.pop_front().expect("script ran out at a download") {
                    Answer::Head(status, hs, send, clean) => {
                        let mut b = http::Response::builder().status(status);
                        for (k, v) in hs {
                            b = b.header(k, v);
                        }
                        body = Some((id, send, clean));
                        export
                            .handle_input(
                                now,
                                Input::DownloadHead {
                                    id,
                                    head: b.body(()).unwrap(),
                                },
                            )
                            .unwrap();
                    }
                    Answer::Fail(failure) => export
                        .handle_input(now, Input::Failed { id, failure })
                        .unwrap(),
                    Answer::Reply(..) => panic!("an API answer to a download"),
                }
            }
            Output::KeepStreaming { .. } => panic!("keep streaming with no body streaming"),
            Output::WriteBody { id, start_at } => {
                let (bid, send, clean) = body.take().expect("a held body");
                assert_eq!(bid, id);
                log.writes.push(start_at);
                log.sink = start_at + send;
                export
                    .handle_input(now, Input::DownloadProgress { id, written: send })
                    .unwrap();
                // The progress's events, then "keep streaming" (or the end of the run).
                let ended = loop {
                    match export.poll_output() {
                        Output::Event(e) => log.events.push(e),
                        Output::KeepStreaming { id: got } => {
                            assert_eq!(got, id);
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
                    Input::DownloadEnded { id, written: send }
                } else {
                    Input::DownloadFailed {
                        id,
                        written: send,
                        failure: TransportFailure::Reset,
                    }
                };
                export.handle_input(now, input).unwrap();
            }
            Output::Upload { .. } => panic!("an export asked for an upload"),
        }
    }
    panic!("did not end");
}

pub fn body_of(r: &http::Request<Vec<u8>>) -> serde_json::Value {
    serde_json::from_slice(r.body()).unwrap()
}
