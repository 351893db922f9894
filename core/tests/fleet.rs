//! The fleet machine: many exports under one budget, driven on a virtual clock against a
//! scripted service.

use d1_export_core::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const S: Duration = Duration::from_secs(1);

fn config() -> Config {
    let mut c = Config::new(
        ApiBase::new("https://api.test/client/v4").unwrap(),
        ApiToken::new("secret-token").unwrap(),
    );
    c.retry.jitter_seed = 7;
    c
}

fn job(i: usize) -> Task {
    Task::Export(Job {
        account: AccountId::new("0123456789abcdef0123456789abcdef").unwrap(),
        database: DatabaseId::new(&format!("f1ee7000-0000-4000-8000-{i:012}")).unwrap(),
        options: DumpOptions::default(),
    })
}

fn active(i: u64) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(202)
        .body(
            format!(r#"{{"success":true,"result":{{"at_bookmark":"bm-{i}","status":"active"}}}}"#)
                .into_bytes(),
        )
        .unwrap()
}

fn complete(i: u64) -> http::Response<Vec<u8>> {
    http::Response::builder().status(200).body(format!(r#"{{"success":true,"result":{{"at_bookmark":"bm-{i}","status":"complete","result":{{"filename":"{i}.sql","signed_url":"https://bucket.test/{i}.sql?X-Amz-Signature=s"}}}}}}"#).into_bytes()).unwrap()
}

fn throttled(after: &str) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(429)
        .header("retry-after", after)
        .body(b"{}".to_vec())
        .unwrap()
}

/// What a scripted run saw.
#[derive(Default)]
struct Seen {
    /// Release times of API requests, per task.
    sends: BTreeMap<u64, Vec<Instant>>,
    /// Reply times, per task.
    replies: BTreeMap<u64, Vec<Instant>>,
    all_sends: Vec<Instant>,
    most_running: usize,
    done: BTreeMap<u64, Result<Finished, Error>>,
    /// Retry delays, per task.
    retries: BTreeMap<u64, Vec<Duration>>,
}

/// Runs the fleet against a service that answers every API request `latency` later: with
/// `answer(task, nth request, now)`. Downloads are 10 bytes, served at once.
fn run(
    fleet: &mut Fleet,
    t0: Instant,
    latency: Duration,
    until: Duration,
    mut answer: impl FnMut(u64, usize, Instant) -> http::Response<Vec<u8>>,
) -> (Seen, Instant) {
    let mut seen = Seen::default();
    let mut now = t0;
    let mut pending: Vec<(Instant, TaskKey, Input)> = Vec::new();
    while now < t0 + until {
        match fleet.poll_output() {
            FleetOutput::Task { key, output } => match output {
                Output::Send { id, .. } => {
                    let sends = seen.sends.entry(key.get()).or_default();
                    sends.push(now);
                    seen.all_sends.push(now);
                    seen.most_running = seen.most_running.max(fleet.running());
                    let response = answer(key.get(), sends.len(), now);
                    pending.push((now + latency, key, Input::Reply { id, response }));
                }
                Output::Download { id, .. } => {
                    let head = http::Response::builder()
                        .status(200)
                        .header("content-length", "10")
                        .body(())
                        .unwrap();
                    pending.push((now, key, Input::DownloadHead { id, head }));
                }
                Output::WriteBody { id, .. } => {
                    pending.push((now, key, Input::DownloadEnded { id, written: 10 }));
                }
                Output::Done(result) => {
                    seen.done.insert(key.get(), result);
                }
                Output::Event(Event::RetryScheduled { delay, .. }) => {
                    seen.retries.entry(key.get()).or_default().push(delay);
                }
                Output::Event(_)
                | Output::WaitUntil(_)
                | Output::Upload { .. }
                | Output::KeepStreaming { .. } => {}
            },
            FleetOutput::WaitUntil(at) => {
                pending.sort_by_key(|p| p.0);
                if pending.first().is_some_and(|p| p.0 <= at) {
                    let (t, key, input) = pending.remove(0);
                    now = now.max(t);
                    if matches!(input, Input::Reply { .. }) {
                        seen.replies.entry(key.get()).or_default().push(now);
                    }
                    fleet
                        .handle_input(now, FleetInput::Task { key, input })
                        .unwrap();
                } else {
                    now = now.max(at);
                    fleet.handle_input(now, FleetInput::Tick).unwrap();
                }
            }
            FleetOutput::Idle => {
                if pending.is_empty() {
                    break;
                }
                pending.sort_by_key(|p| p.0);
                let (t, key, input) = pending.remove(0);
                now = now.max(t);
                fleet
                    .handle_input(now, FleetInput::Task { key, input })
                    .unwrap();
            }
        }
    }
    (seen, now)
}

/// The longest time between an answer and the next request of the same task.
fn longest_gap(seen: &Seen) -> Duration {
    let mut worst = Duration::ZERO;
    for (task, sends) in &seen.sends {
        let replies = &seen.replies[task];
        for (reply, next) in replies.iter().zip(sends.iter().skip(1)) {
            worst = worst.max(next.saturating_duration_since(*reply));
        }
    }
    worst
}

#[test]
fn admission_stops_where_the_budget_can_no_longer_keep_every_export_polled() {
    // One request a second and polls within 5 s: five exports at most, whatever the
    // concurrency. Twelve never-ending exports: seven wait, the five are polled in time.
    let t0 = Instant::now();
    let mut fleet = Fleet::new(config(), RateBudget::new(1, S), t0).with_concurrency(12);
    assert_eq!(fleet.capacity(), 5);
    for i in 0..12 {
        fleet.push(job(i)).unwrap();
    }
    let latency = Duration::from_millis(100);
    let (seen, _) = run(&mut fleet, t0, latency, S * 120, |t, _, _| active(t));
    assert_eq!(seen.most_running, 5);
    assert_eq!(fleet.running(), 5);
    assert_eq!(fleet.queued(), 7);
    assert!(
        longest_gap(&seen) <= config().pacing.max_gap,
        "{:?}",
        longest_gap(&seen)
    );
    // The budget is used, and never more than one request a second.
    for pair in seen.all_sends.windows(2) {
        assert!(pair[1] - pair[0] >= S);
    }
    assert!(seen.all_sends.len() >= 115, "{}", seen.all_sends.len());
}

#[test]
fn a_finished_export_makes_room_for_the_next_and_every_one_ends() {
    let t0 = Instant::now();
    let mut fleet = Fleet::new(config(), RateBudget::new(1, S), t0).with_concurrency(12);
    for i in 0..12 {
        fleet.push(job(i)).unwrap();
    }
    // Each export completes on its fourth request.
    let (seen, end) = run(
        &mut fleet,
        t0,
        Duration::from_millis(100),
        S * 3600,
        |t, n, _| {
            if n >= 4 {
                complete(t)
            } else {
                active(t)
            }
        },
    );
    assert_eq!(seen.done.len(), 12);
    assert!(seen
        .done
        .values()
        .all(|r| matches!(r, Ok(Finished::Exported(_)))));
    assert_eq!(seen.all_sends.len(), 48);
    assert!(longest_gap(&seen) <= config().pacing.max_gap);
    // 48 requests at one a second, and little more.
    assert!(end - t0 < S * 52, "{:?}", end - t0);
    assert!(matches!(fleet.poll_output(), FleetOutput::Idle));
}

#[test]
fn concurrency_is_a_ceiling_when_the_budget_allows_more() {
    let t0 = Instant::now();
    let mut fleet = Fleet::new(config(), RateBudget::new(100, S), t0).with_concurrency(3);
    for i in 0..9 {
        fleet.push(job(i)).unwrap();
    }
    let (seen, _) = run(
        &mut fleet,
        t0,
        Duration::from_millis(50),
        S * 600,
        |t, n, _| {
            if n >= 3 {
                complete(t)
            } else {
                active(t)
            }
        },
    );
    assert_eq!(seen.most_running, 3);
    assert_eq!(seen.done.len(), 9);
    // With budget to spare, polls follow the export's own pace (min_interval), not max_gap.
    for sends in seen.sends.values() {
        assert!(sends[2] - sends[1] < S * 2, "{sends:?}");
    }
}

#[test]
fn a_429_pauses_everyone_and_a_poll_that_waited_is_stamped_when_it_left() {
    let t0 = Instant::now();
    let mut fleet = Fleet::new(config(), RateBudget::new(100, S), t0).with_concurrency(2);
    fleet.push(job(0)).unwrap();
    fleet.push(job(1)).unwrap();
    // Task 1's second request meets a 429 with Retry-After: 3.
    let mut throttled_at = None;
    let (seen, _) = run(
        &mut fleet,
        t0,
        Duration::from_millis(200),
        S * 20,
        |t, n, now| {
            if t == 1 && n == 2 {
                throttled_at = Some(now);
                throttled("3")
            } else {
                active(t)
            }
        },
    );
    let throttled_at = throttled_at.expect("the 429 was sent") + Duration::from_millis(200);
    let resume = throttled_at + S * 3;
    for (task, sends) in &seen.sends {
        assert!(
            !sends.iter().any(|t| *t > throttled_at && *t < resume),
            "task {task} sent during the pause: {sends:?}"
        );
    }
    // Task 0's poll waited for the pause; it left at its end and was answered 200 ms later.
    // That reply was not held: the next poll waits out min_interval from the release.
    let sends = &seen.sends[&0];
    let i = sends
        .iter()
        .position(|t| *t >= resume)
        .expect("polled again");
    assert_eq!(sends[i], resume);
    assert!(
        sends[i + 1] - sends[i] >= config().pacing.min_interval,
        "{sends:?}"
    );
}

#[test]
fn lookups_go_through_the_budget_and_end_with_their_value() {
    let t0 = Instant::now();
    let mut fleet = Fleet::new(config(), RateBudget::new(1, S * 10), t0);
    let account = AccountId::new("0123456789abcdef0123456789abcdef").unwrap();
    let a = fleet
        .push(Task::ListDatabases {
            account: account.clone(),
            page: 1,
            per_page: 10,
        })
        .unwrap();
    let b = fleet
        .push(Task::CurrentBookmark {
            account,
            database: DatabaseId::new("f1ee7000-0000-4000-8000-000000000001").unwrap(),
        })
        .unwrap();
    let (seen, _) = run(&mut fleet, t0, Duration::ZERO, S * 60, |t, _, _| {
        let body = if t == a.get() {
            r#"{"success":true,"result":[{"uuid":"f1ee7000-0000-4000-8000-000000000001","name":"one"}],"result_info":{"total_count":1}}"#
        } else {
            r#"{"success":true,"result":{"bookmark":"bm-now"}}"#
        };
        http::Response::builder()
            .status(200)
            .body(body.as_bytes().to_vec())
            .unwrap()
    });
    assert_eq!(seen.sends[&a.get()], vec![t0]);
    assert_eq!(
        seen.sends[&b.get()],
        vec![t0 + S * 10],
        "the second waits for the window"
    );
    assert!(matches!(&seen.done[&a.get()], Ok(Finished::Page(p)) if p.databases.len() == 1));
    assert!(matches!(&seen.done[&b.get()], Ok(Finished::Bookmark(bm)) if bm == "bm-now"));
}

#[test]
fn cancel_ends_running_and_queued_tasks() {
    let t0 = Instant::now();
    let mut fleet = Fleet::new(config(), RateBudget::cloudflare(), t0).with_concurrency(1);
    let first = fleet.push(job(0)).unwrap();
    let second = fleet.push(job(1)).unwrap();
    let FleetOutput::Task {
        key,
        output: Output::Send { .. },
    } = fleet.poll_output()
    else {
        panic!("the first start goes out")
    };
    assert_eq!(key, first);
    // An input for a task still in line is a caller bug.
    assert_eq!(
        fleet.handle_input(
            t0,
            FleetInput::Task {
                key: second,
                input: Input::Tick
            }
        ),
        Err(FleetInputError::UnknownTask(second))
    );
    fleet.handle_input(t0, FleetInput::Cancel).unwrap();
    let mut ended = Vec::new();
    loop {
        match fleet.poll_output() {
            FleetOutput::Task {
                key,
                output: Output::Done(Err(Error::Cancelled)),
            } => ended.push(key),
            FleetOutput::Idle => break,
            other => panic!("{other:?}"),
        }
    }
    ended.sort();
    assert_eq!(ended, vec![first, second]);
    assert_eq!(fleet.reply_limit(), 1 << 20);
}

#[test]
fn one_queued_task_can_be_cancelled_alone() {
    let t0 = Instant::now();
    let mut fleet = Fleet::new(config(), RateBudget::cloudflare(), t0).with_concurrency(1);
    let first = fleet.push(job(0)).unwrap();
    let second = fleet.push(job(1)).unwrap();
    fleet
        .handle_input(
            t0,
            FleetInput::Task {
                key: second,
                input: Input::Cancel,
            },
        )
        .unwrap();
    assert!(matches!(
        fleet.poll_output(),
        FleetOutput::Task { key, output: Output::Done(Err(Error::Cancelled)) } if key == second
    ));
    assert_eq!(fleet.queued(), 1, "the first is still in line");
    // And it is the first that runs: its start is the next request.
    loop {
        match fleet.poll_output() {
            FleetOutput::Task {
                key,
                output: Output::Send { request, .. },
            } => {
                assert_eq!(key, first);
                assert!(request.uri().path().contains("000000000000/export"));
                break;
            }
            FleetOutput::Task { .. } => {}
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_throttled_download_does_not_pause_the_api() {
    // Export 0 is ready at once, and its download is answered 429 "retry after 20 s";
    // export 1 keeps running: its polls go on (a 429 of the bucket is not the API's).
    let t0 = Instant::now();
    let mut fleet = Fleet::new(config(), RateBudget::new(10, S), t0).with_concurrency(2);
    let zero = fleet.push(job(0)).unwrap();
    let one = fleet.push(job(1)).unwrap();
    let mut now = t0;
    let mut pending: Vec<(Instant, TaskKey, Input)> = Vec::new();
    let mut polls_of_one: Vec<Instant> = Vec::new();
    let mut downloads = 0;
    while now < t0 + S * 15 {
        match fleet.poll_output() {
            FleetOutput::Task { key, output } => match output {
                Output::Send { id, .. } => {
                    let response = if key == zero {
                        complete(0)
                    } else {
                        polls_of_one.push(now);
                        active(1)
                    };
                    pending.push((now, key, Input::Reply { id, response }));
                }
                Output::Download { id, .. } => {
                    downloads += 1;
                    let head = http::Response::builder()
                        .status(429)
                        .header("retry-after", "20")
                        .body(())
                        .unwrap();
                    pending.push((now, key, Input::DownloadHead { id, head }));
                }
                _ => {}
            },
            FleetOutput::WaitUntil(at) => {
                pending.sort_by_key(|p| p.0);
                if pending.first().is_some_and(|p| p.0 <= at) {
                    let (t, key, input) = pending.remove(0);
                    now = now.max(t);
                    fleet
                        .handle_input(now, FleetInput::Task { key, input })
                        .unwrap();
                } else {
                    now = now.max(at);
                    fleet.handle_input(now, FleetInput::Tick).unwrap();
                }
            }
            FleetOutput::Idle => break,
        }
    }
    assert_eq!(downloads, 1, "the download waits its 20 s");
    let _ = one;
    assert!(
        polls_of_one.len() >= 10,
        "export 1 paused by a download's 429: {polls_of_one:?}"
    );
    let longest = polls_of_one
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    assert!(
        longest <= S * 5,
        "export 1 paused {longest:?} by a download's 429"
    );
}

fn unavailable() -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(503)
        .body(br#"{"success":false,"errors":[{"code":7500,"message":"Internal error"}]}"#.to_vec())
        .unwrap()
}

#[test]
fn exports_that_fail_together_back_off_apart() {
    // Each task draws its own jitter seed from the fleet's, whatever the fleet's seed is.
    for seed in [0, 7, u64::MAX] {
        let mut c = config();
        c.retry.jitter_seed = seed;
        let t0 = Instant::now();
        let mut fleet = Fleet::new(c, RateBudget::new(100, S), t0).with_concurrency(3);
        for i in 0..3 {
            fleet.push(job(i)).unwrap();
        }
        let (seen, _) = run(&mut fleet, t0, Duration::ZERO, S * 60, |t, n, _| match n {
            1 => unavailable(),
            _ => complete(t),
        });
        let first: Vec<Duration> = (0..3).map(|t| seen.retries[&t][0]).collect();
        assert!(
            first[0] != first[1] && first[1] != first[2] && first[0] != first[2],
            "seed {seed}: retries in lockstep: {first:?}"
        );
        assert_eq!(seen.done.len(), 3);
    }
}

#[test]
fn lookups_are_not_counted_as_running_exports() {
    let t0 = Instant::now();
    let mut fleet = Fleet::new(config(), RateBudget::new(10, S), t0).with_concurrency(1);
    let lookup = fleet
        .push(Task::CurrentBookmark {
            account: AccountId::new("0123456789abcdef0123456789abcdef").unwrap(),
            database: DatabaseId::new("f1ee7000-0000-4000-8000-000000000001").unwrap(),
        })
        .unwrap();
    assert_eq!(lookup.to_string(), "task 0");
    assert_eq!(fleet.running(), 0, "a lookup is not an export");
    let export = fleet.push(job(1)).unwrap();
    assert_eq!(export.to_string(), "task 1");
    // Both requests go out although concurrency is 1: the lookup takes no export's place.
    let mut sent = Vec::new();
    let mut now = t0;
    while sent.len() < 2 {
        match fleet.poll_output() {
            FleetOutput::Task {
                key,
                output: Output::Send { .. },
            } => sent.push(key),
            FleetOutput::Task { .. } => {}
            FleetOutput::WaitUntil(at) => {
                assert!(at < t0 + S * 10, "the export was not admitted");
                now = now.max(at);
                fleet.handle_input(now, FleetInput::Tick).unwrap();
            }
            FleetOutput::Idle => panic!("idle with work to do"),
        }
    }
    assert!(sent.contains(&lookup) && sent.contains(&export), "{sent:?}");
    assert_eq!(fleet.running(), 1);
}

#[test]
fn an_export_whose_request_is_never_answered_ends_at_its_deadline() {
    let t0 = Instant::now();
    let mut c = config();
    c.deadline = S * 30;
    let mut fleet = Fleet::new(c, RateBudget::new(10, S), t0);
    fleet.push(job(0)).unwrap();
    let mut now = t0;
    let mut result = None;
    for _ in 0..10_000 {
        match fleet.poll_output() {
            FleetOutput::Task {
                output: Output::Done(r),
                ..
            } => {
                result = Some(r);
                break;
            }
            // The start goes out and is never answered.
            FleetOutput::Task { .. } => {}
            FleetOutput::WaitUntil(at) => {
                now = now.max(at);
                fleet.handle_input(now, FleetInput::Tick).unwrap();
            }
            FleetOutput::Idle => break,
        }
    }
    assert!(
        matches!(result, Some(Err(Error::DeadlineExceeded))),
        "{result:?}"
    );
    let took = now - t0;
    assert!(took >= S * 30 && took <= S * 31, "{took:?}");
}
