//! The lookup and list calls as a driver runs them (requests, retries, refusals, deadline,
//! cancel) and paging (found missing by cargo-mutants, scripts/mutants.sh).

use d1_export_core::lookup::{self, Call, Page};
use d1_export_core::wire::{DatabaseInfo, ResultInfo};
use d1_export_core::*;
use std::time::{Duration, Instant};

const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";
const DB: &str = "0a1b2c3d-0000-4000-8000-00000000abcd";

fn config() -> Config {
    let mut c = Config::new(
        ApiBase::new("https://api.test/client/v4").unwrap(),
        ApiToken::new("tok-123").unwrap(),
    );
    c.retry.jitter_seed = 7;
    c
}

fn account() -> AccountId {
    AccountId::new(ACCOUNT).unwrap()
}

fn reply(status: u16, body: &str) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .body(body.as_bytes().to_vec())
        .unwrap()
}

fn send<T: Clone + std::fmt::Debug>(call: &mut Call<T>) -> (RequestId, http::Request<Vec<u8>>) {
    match call.poll_output() {
        Output::Send { id, request } => (id, request),
        other => panic!("expected a request, got {other:?}"),
    }
}

fn done<T: Clone + std::fmt::Debug>(call: &mut Call<T>) -> Result<T, Error> {
    match call.poll_output() {
        Output::Done(r) => r,
        other => panic!("expected the end, got {other:?}"),
    }
}

#[test]
fn a_lookup_by_id_or_name_is_one_authorised_get() {
    let now = Instant::now();
    let mut call =
        lookup::find_database(config(), &account(), &DB.to_ascii_uppercase(), now).unwrap();
    let (id, request) = send(&mut call);
    assert_eq!(request.method(), http::Method::GET);
    assert_eq!(
        request.uri().to_string(),
        format!("https://api.test/client/v4/accounts/{ACCOUNT}/d1/database/{DB}?fields=uuid,name")
    );
    let h = request.headers();
    assert_eq!(h[http::header::AUTHORIZATION], "Bearer tok-123");
    assert_eq!(h[http::header::ACCEPT], "application/json");
    assert!(
        !h.contains_key(http::header::CONTENT_TYPE),
        "a GET without a body"
    );
    assert!(request.body().is_empty());
    assert_eq!(call.reply_limit(), config().max_reply_bytes);
    // While it is out, the call waits (at most until the deadline).
    assert_eq!(
        call.poll_output_wait(),
        Some(now + config().deadline),
        "waits for the reply"
    );
    call.handle_input(
        now,
        Input::Reply {
            id,
            response: reply(
                200,
                &format!(r#"{{"success":true,"result":{{"uuid":"{DB}","name":"prod"}}}}"#),
            ),
        },
    )
    .unwrap();
    let info = done(&mut call).unwrap();
    assert_eq!((info.uuid.as_str(), info.name.as_str()), (DB, "prod"));
    // The end is repeated.
    assert!(done(&mut call).is_ok());

    let err = lookup::find_database(config(), &account(), "a b", now).unwrap_err();
    assert_eq!(err.kind, "database name");
}

trait WaitExt {
    fn poll_output_wait(&mut self) -> Option<Instant>;
}

impl<T: Clone> WaitExt for Call<T> {
    fn poll_output_wait(&mut self) -> Option<Instant> {
        match self.poll_output() {
            Output::WaitUntil(at) => Some(at),
            _ => None,
        }
    }
}

#[test]
fn a_lookup_reply_without_a_uuid_is_retried() {
    let now = Instant::now();
    for body in [
        r#"{"success":true,"result":{"name":"prod"}}"#,
        r#"{"success":true,"result":{"uuid":"not-a-uuid","name":"prod"}}"#,
        r#"{"success":true,"result":null}"#,
    ] {
        let mut call = lookup::find_database(config(), &account(), "prod", now).unwrap();
        let (id, _) = send(&mut call);
        call.handle_input(
            now,
            Input::Reply {
                id,
                response: reply(200, body),
            },
        )
        .unwrap();
        match call.poll_output() {
            Output::Event(Event::RetryScheduled {
                attempt: 2,
                reason: Transient::InvalidJson { status: 200, .. },
                ..
            }) => {}
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[test]
fn refusals_end_the_call_at_once() {
    let now = Instant::now();
    let mut call = lookup::find_database(config(), &account(), "missing", now).unwrap();
    let (id, _) = send(&mut call);
    call.handle_input(
        now,
        Input::Reply {
            id,
            response: reply(
                404,
                r#"{"success":false,"errors":[{"code":7404,"message":"Database not found"}]}"#,
            ),
        },
    )
    .unwrap();
    match done(&mut call) {
        Err(Error::Api(api)) => {
            assert_eq!(api.status, 404);
            assert_eq!(api.hint, Some(Hint::NotFound));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn transport_failures_are_retried_until_the_attempts_are_spent() {
    let mut now = Instant::now();
    let mut config = config();
    config.retry.max_attempts = 3;
    let mut call = lookup::find_database(config, &account(), "prod", now).unwrap();
    let mut attempts = 0;
    let result = loop {
        match call.poll_output() {
            Output::Send { id, .. } => {
                attempts += 1;
                call.handle_input(
                    now,
                    Input::Failed {
                        id,
                        failure: TransportFailure::Connect,
                    },
                )
                .unwrap();
            }
            Output::Event(Event::RetryScheduled {
                attempt, reason, ..
            }) => {
                assert_eq!(attempt, attempts + 1);
                assert_eq!(reason, Transient::Transport(TransportFailure::Connect));
            }
            Output::WaitUntil(at) => {
                assert!(at >= now);
                now = at;
                call.handle_input(now, Input::Tick).unwrap();
            }
            Output::Done(r) => break r,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(attempts, 3);
    assert_eq!(
        result,
        Err(Error::GaveUp {
            attempts: 3,
            last: Transient::Transport(TransportFailure::Connect)
        })
    );
}

#[test]
fn a_retry_waits_for_its_back_off() {
    let now = Instant::now();
    let mut call = lookup::find_database(config(), &account(), "prod", now).unwrap();
    let (id, _) = send(&mut call);
    call.handle_input(
        now,
        Input::Reply {
            id,
            response: http::Response::builder()
                .status(429)
                .header("retry-after", "9")
                .body(Vec::new())
                .unwrap(),
        },
    )
    .unwrap();
    let Output::Event(Event::RetryScheduled { delay, .. }) = call.poll_output() else {
        panic!("no retry")
    };
    assert_eq!(delay, Duration::from_secs(9));
    assert_eq!(call.poll_output_wait(), Some(now + delay));
    // A tick too early changes nothing.
    call.handle_input(now + Duration::from_secs(8), Input::Tick)
        .unwrap();
    assert_eq!(call.poll_output_wait(), Some(now + delay));
    call.handle_input(now + delay, Input::Tick).unwrap();
    let (id2, _) = send(&mut call);
    assert!(id2 > id, "a new id for the retry");
}

#[test]
fn stale_and_misplaced_inputs_are_refused() {
    let now = Instant::now();
    let mut call = lookup::find_database(config(), &account(), "prod", now).unwrap();
    let (id, _) = send(&mut call);
    // An id from another machine (the export's first id is the same number: make one up by
    // sending twice from a second call).
    let mut other = lookup::find_database(config(), &account(), "prod", now).unwrap();
    let (other_id, _) = send(&mut other);
    other
        .handle_input(
            now,
            Input::Failed {
                id: other_id,
                failure: TransportFailure::Reset,
            },
        )
        .unwrap();
    let _ = other.poll_output();
    let _ = other.poll_output();
    other
        .handle_input(now + Duration::from_secs(60), Input::Tick)
        .unwrap();
    let (stale, _) = send(&mut other);
    assert_ne!(stale, id);
    assert_eq!(
        call.handle_input(
            now,
            Input::Failed {
                id: stale,
                failure: TransportFailure::Reset
            }
        ),
        Err(InputError::UnexpectedId {
            got: stale,
            outstanding: Some(id)
        })
    );
    assert_eq!(
        call.handle_input(now, Input::DownloadEnded { id, written: 3 }),
        Err(InputError::WrongInput {
            input: "DownloadEnded",
            state: "call"
        })
    );
    // Neither changed anything: the reply is still taken.
    call.handle_input(
        now,
        Input::Reply {
            id,
            response: reply(
                200,
                &format!(r#"{{"success":true,"result":{{"uuid":"{DB}","name":"prod"}}}}"#),
            ),
        },
    )
    .unwrap();
    assert!(done(&mut call).is_ok());
    // After the end, no request is outstanding.
    assert_eq!(
        call.handle_input(
            now,
            Input::Failed {
                id,
                failure: TransportFailure::Reset
            }
        ),
        Err(InputError::UnexpectedId {
            got: id,
            outstanding: None
        })
    );
}

#[test]
fn cancel_and_deadline_end_a_call() {
    let now = Instant::now();
    let mut call = lookup::find_database(config(), &account(), "prod", now).unwrap();
    let _ = send(&mut call);
    call.handle_input(now, Input::Cancel).unwrap();
    assert_eq!(done(&mut call), Err(Error::Cancelled));

    let mut config = config();
    config.deadline = Duration::from_secs(30);
    let mut call = lookup::find_database(config, &account(), "prod", now).unwrap();
    let (id, _) = send(&mut call);
    // A reply that arrives after the deadline is not used.
    call.handle_input(
        now + Duration::from_secs(30),
        Input::Reply {
            id,
            response: reply(
                200,
                &format!(r#"{{"success":true,"result":{{"uuid":"{DB}","name":"prod"}}}}"#),
            ),
        },
    )
    .unwrap();
    assert_eq!(done(&mut call), Err(Error::DeadlineExceeded));
}

#[test]
fn list_pages_are_clamped_and_parsed() {
    let now = Instant::now();
    let mut list = lookup::list_databases(config(), &account(), 0, 0, now).unwrap();
    let (_, request) = send(&mut list);
    assert_eq!(
        request.uri().to_string(),
        format!("https://api.test/client/v4/accounts/{ACCOUNT}/d1/database?page=1&per_page=1")
    );
    let mut list = lookup::list_databases(config(), &account(), 3, 1_000_000, now).unwrap();
    let (id, request) = send(&mut list);
    assert_eq!(request.uri().query(), Some("page=3&per_page=10000"));
    list.handle_input(
        now,
        Input::Reply {
            id,
            response: reply(200, r#"{"success":true,"errors":[],"messages":[]}"#),
        },
    )
    .unwrap();
    assert_eq!(
        done(&mut list),
        Ok(Page {
            databases: Vec::new(),
            info: None
        })
    );

    // A result that is not a list is retried, not taken as an empty page.
    let mut list = lookup::list_databases(config(), &account(), 1, 10, now).unwrap();
    let (id, _) = send(&mut list);
    list.handle_input(
        now,
        Input::Reply {
            id,
            response: reply(200, r#"{"success":true,"result":{"uuid":"x"}}"#),
        },
    )
    .unwrap();
    assert!(matches!(
        list.poll_output(),
        Output::Event(Event::RetryScheduled {
            reason: Transient::InvalidJson { status: 200, .. },
            ..
        })
    ));
}

fn page(n: usize, total: Option<u64>) -> Page {
    Page {
        databases: vec![DatabaseInfo::default(); n],
        info: total.map(|t| ResultInfo {
            page: 1,
            per_page: 10,
            count: n as u64,
            total_count: Some(t),
        }),
    }
}

#[test]
fn next_pages() {
    // By total_count.
    assert_eq!(page(10, Some(25)).next_page(1, 10), Some(2));
    assert_eq!(page(10, Some(25)).next_page(2, 10), Some(3));
    assert_eq!(page(5, Some(25)).next_page(3, 10), None);
    assert_eq!(
        page(10, Some(20)).next_page(2, 10),
        None,
        "exactly at the end"
    );
    assert_eq!(page(10, Some(21)).next_page(2, 10), Some(3));
    // Page 0 is page 1.
    assert_eq!(page(10, Some(25)).next_page(0, 10), Some(2));
    // Without a total: a full page may have a successor, a short one has none.
    assert_eq!(page(10, None).next_page(1, 10), Some(2));
    assert_eq!(page(11, None).next_page(1, 10), Some(2));
    assert_eq!(page(9, None).next_page(1, 10), None);
    assert_eq!(page(0, None).next_page(4, 10), None);
}

#[test]
fn a_bookmark_reply_without_a_bookmark_is_retried() {
    let now = Instant::now();
    let db = DatabaseId::new(DB).unwrap();
    for body in [
        r#"{"success":true,"result":{"bookmark":""}}"#,
        r#"{"success":true,"result":{}}"#,
        r#"{"success":true,"result":null}"#,
    ] {
        let mut call = lookup::current_bookmark(config(), &account(), &db, now).unwrap();
        let (id, request) = send(&mut call);
        assert_eq!(
            request.uri().path(),
            format!("/client/v4/accounts/{ACCOUNT}/d1/database/{DB}/time_travel/bookmark")
        );
        call.handle_input(
            now,
            Input::Reply {
                id,
                response: reply(200, body),
            },
        )
        .unwrap();
        match call.poll_output() {
            Output::Event(Event::RetryScheduled {
                reason: Transient::InvalidJson { status: 200, .. },
                ..
            }) => {}
            other => panic!("{body}: {other:?}"),
        }
    }
    let mut call = lookup::current_bookmark(config(), &account(), &db, now).unwrap();
    let (id, _) = send(&mut call);
    call.handle_input(
        now,
        Input::Reply {
            id,
            response: reply(
                200,
                r#"{"success":true,"result":{"bookmark":"00000001-0000"}}"#,
            ),
        },
    )
    .unwrap();
    assert_eq!(done(&mut call), Ok("00000001-0000".to_owned()));
}

#[test]
fn a_retry_is_not_announced_as_due_while_its_event_waits() {
    let now = Instant::now();
    let db = DatabaseId::new(DB).unwrap();
    let mut call = lookup::current_bookmark(config(), &account(), &db, now).unwrap();
    assert_eq!(call.next_request(), Some(now));
    let (id, _) = send(&mut call);
    assert_eq!(call.next_request(), None, "a request is out");
    call.handle_input(
        now,
        Input::Reply {
            id,
            response: reply(
                503,
                r#"{"success":false,"errors":[{"code":7500,"message":"x"}]}"#,
            ),
        },
    )
    .unwrap();
    assert_eq!(call.next_request(), None, "the RetryScheduled event waits");
    assert!(matches!(
        call.poll_output(),
        Output::Event(Event::RetryScheduled { .. })
    ));
    assert!(call.next_request().is_some_and(|at| at >= now));
}
