//! Fleet simulation at account scale: a deterministic world on a virtual clock, no sockets.
//!
//! 50,000 databases (an account's maximum), each export taking 1 s to 10 min (uniform, seeded),
//! under the API's budget of 1,200 requests / 5 min. The service answers each API request after
//! 80–120 ms, cancels an export not polled for 8 s, and serves each dump in 200 ms. Prints the
//! virtual time against the bound the budget imposes, the longest poll gap, cancellations and
//! the wall time.
//!
//! `cargo bench -p d1-export-core --bench fleet [-- DATABASES]`

use d1_export_core::{
    AccountId, ApiBase, ApiToken, Config, DatabaseId, DumpOptions, Finished, Fleet, FleetInput,
    FleetOutput, Input, Job, Output, RateBudget, Task,
};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

const IDLE_CANCEL: Duration = Duration::from_secs(8);

/// SplitMix64: a seeded, portable generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = (hi - lo).as_nanos() as u64;
        lo + Duration::from_nanos(self.next() % (span + 1))
    }
}

/// One database as the service sees it.
#[derive(Clone, Default)]
struct Db {
    export_time: Duration,
    /// When its job started (the start request arrived).
    started: Option<Instant>,
    /// When the API last answered it.
    contact: Option<Instant>,
    complete: bool,
    cancelled: bool,
    max_gap: Duration,
}

struct Pending {
    at: Instant,
    seq: u64,
    key: d1_export_core::TaskKey,
    input: Input,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// This process's CPU time (user + system), where `/proc` tells it.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn reply(status: u16, body: String) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .body(body.into_bytes())
        .expect("a valid response")
}

fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(50_000);
    let wall = Instant::now();
    let mut rng = Rng(0x0d1e_f1ee_7000_0001);
    let t0 = Instant::now();
    let mut config = Config::new(
        ApiBase::new("https://api.test/client/v4").expect("a base"),
        ApiToken::new("sim-token").expect("a token"),
    );
    config.deadline = Duration::from_secs(3600);
    let max_gap = config.pacing.max_gap;
    let budget = RateBudget::cloudflare();
    let (limit, window) = (budget.limit(), budget.window());
    let mut fleet = Fleet::new(config, budget, t0).with_concurrency(1000);
    let account = AccountId::new("0123456789abcdef0123456789abcdef").expect("an account");
    let mut dbs = vec![Db::default(); count];
    for (i, db) in dbs.iter_mut().enumerate() {
        db.export_time = rng.between(Duration::from_secs(1), Duration::from_secs(600));
        let job = Job {
            account: account.clone(),
            database: DatabaseId::new(&format!("f1ee7000-0000-4000-8000-{i:012}")).expect("an id"),
            options: DumpOptions::default(),
        };
        let key = fleet.push(Task::Export(job)).expect("a valid job");
        assert_eq!(key.get() as usize, i);
    }
    let mut pending: BinaryHeap<Reverse<Pending>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut now = t0;
    let (mut api, mut downloads, mut exported, mut failed) = (0u64, 0u64, 0u64, 0u64);
    let mut most_running = 0usize;
    let mut ticks = 0u64;
    let mut window_log: std::collections::VecDeque<Instant> = Default::default();
    let mut most_in_window = 0usize;
    loop {
        let output = fleet.poll_output();
        let mut schedule = |at: Instant, key, input| {
            seq += 1;
            pending.push(Reverse(Pending {
                at,
                seq,
                key,
                input,
            }));
        };
        match output {
            FleetOutput::Task { key, output } => {
                let i = key.get() as usize;
                let db = &mut dbs[i];
                match output {
                    Output::Send { id, .. } => {
                        api += 1;
                        most_running = most_running.max(fleet.running());
                        window_log.push_back(now);
                        while window_log.front().is_some_and(|t| now - *t >= window) {
                            window_log.pop_front();
                        }
                        most_in_window = most_in_window.max(window_log.len());
                        let latency =
                            rng.between(Duration::from_millis(80), Duration::from_millis(120));
                        let bookmark = format!("bm-{i}");
                        let response = match db.started {
                            None => {
                                db.started = Some(now);
                                reply(
                                    202,
                                    format!(
                                        r#"{{"success":true,"result":{{"at_bookmark":"{bookmark}","status":"active"}}}}"#
                                    ),
                                )
                            }
                            Some(started) => {
                                if !db.complete {
                                    let gap = now - db.contact.unwrap_or(started);
                                    db.max_gap = db.max_gap.max(gap);
                                    if gap > IDLE_CANCEL {
                                        db.cancelled = true;
                                    }
                                }
                                if db.cancelled {
                                    reply(
                                        200,
                                        format!(
                                            r#"{{"success":true,"result":{{"at_bookmark":"{bookmark}","status":"error","error":"Export job not found for bookmark {bookmark}"}}}}"#
                                        ),
                                    )
                                } else if now >= started + db.export_time {
                                    db.complete = true;
                                    reply(
                                        200,
                                        format!(
                                            r#"{{"success":true,"result":{{"at_bookmark":"{bookmark}","status":"complete","result":{{"filename":"db-{i}.sql","signed_url":"https://bucket.test/db-{i}.sql?X-Amz-Signature=s"}}}}}}"#
                                        ),
                                    )
                                } else {
                                    reply(
                                        202,
                                        format!(
                                            r#"{{"success":true,"result":{{"at_bookmark":"{bookmark}","status":"active"}}}}"#
                                        ),
                                    )
                                }
                            }
                        };
                        db.contact = Some(now + latency);
                        schedule(now + latency, key, Input::Reply { id, response });
                    }
                    Output::Download { id, .. } => {
                        downloads += 1;
                        let head = http::Response::builder()
                            .status(200)
                            .header("content-length", "1000")
                            .body(())
                            .expect("a head");
                        schedule(
                            now + Duration::from_millis(50),
                            key,
                            Input::DownloadHead { id, head },
                        );
                    }
                    Output::WriteBody { id, .. } => {
                        schedule(
                            now + Duration::from_millis(200),
                            key,
                            Input::DownloadEnded { id, written: 1000 },
                        );
                    }
                    Output::Event(_)
                    | Output::WaitUntil(_)
                    | Output::Upload { .. }
                    | Output::KeepStreaming { .. } => {}
                    Output::Done(Ok(Finished::Exported(_))) => exported += 1,
                    Output::Done(_) => failed += 1,
                }
            }
            FleetOutput::WaitUntil(at) => {
                let next = pending.peek().map(|p| p.0.at);
                match next {
                    Some(t) if t <= at => {
                        let Reverse(p) = pending.pop().expect("peeked");
                        now = now.max(p.at);
                        fleet
                            .handle_input(
                                now,
                                FleetInput::Task {
                                    key: p.key,
                                    input: p.input,
                                },
                            )
                            .expect("a valid input");
                    }
                    _ => {
                        ticks += 1;
                        now = now.max(at);
                        fleet.handle_input(now, FleetInput::Tick).expect("a tick");
                    }
                }
            }
            FleetOutput::Idle => {
                if let Some(Reverse(p)) = pending.pop() {
                    now = now.max(p.at);
                    fleet
                        .handle_input(
                            now,
                            FleetInput::Task {
                                key: p.key,
                                input: p.input,
                            },
                        )
                        .expect("a valid input");
                } else {
                    break;
                }
            }
        }
    }
    let took = now - t0;
    let rate = limit as f64 / window.as_secs_f64();
    let bound = api as f64 / rate;
    let g = max_gap.as_secs_f64();
    let least: u64 = dbs
        .iter()
        .map(|d| 1 + (d.export_time.as_secs_f64() / g).ceil().max(1.0) as u64)
        .sum();
    let least_bound = least as f64 / rate;
    let worst_gap = dbs.iter().map(|d| d.max_gap).max().unwrap_or_default();
    let past_gap = dbs.iter().filter(|d| d.max_gap > max_gap).count();
    let cancelled = dbs.iter().filter(|d| d.cancelled).count();
    println!("fleet simulation: {count} databases, exports 1 s..10 min, budget {limit} requests / {} s, max_gap {g} s", window.as_secs());
    println!("exported {exported}, failed {failed}, cancelled {cancelled}, downloads {downloads}, most running at once {most_running} (capacity {})", fleet.capacity());
    println!("API requests {api} (least possible {least}: one start and a poll every max_gap), most in one window {most_in_window} of {limit}");
    println!(
        "virtual time {:.0} s ({:.2} days); bound {:.0} s (requests / rate): ratio {:.4}; against the least requests {:.0} s: ratio {:.4}",
        took.as_secs_f64(),
        took.as_secs_f64() / 86_400.0,
        bound,
        took.as_secs_f64() / bound,
        least_bound,
        took.as_secs_f64() / least_bound
    );
    println!(
        "longest poll gap {:.3} s, exports past max_gap {past_gap}",
        worst_gap.as_secs_f64()
    );
    let wall = wall.elapsed().as_secs_f64();
    match cpu_seconds() {
        Some(cpu) => println!("wall time {wall:.2} s (CPU {cpu:.2} s; {ticks} timer wake-ups)"),
        None => println!("wall time {wall:.2} s ({ticks} timer wake-ups)"),
    }
    let ok = wall < 60.0
        && took.as_secs_f64() <= bound * 1.02
        && past_gap == 0
        && cancelled == 0
        && failed == 0
        && exported == count as u64
        && most_in_window <= limit;
    println!("{}", if ok { "PASS" } else { "FAIL" });
    if !ok {
        std::process::exit(1);
    }
}
