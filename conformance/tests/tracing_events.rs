//! Library users see retries and pacing in their own `tracing` subscriber, on both drivers,
//! and no event carries the token or the signed download URL.

use d1_emulator::{Emulator, EmulatorConfig, Faults};
use d1_export_ureq::{AccountId, DatabaseId, DumpOptions, Job, Pacing, RetryPolicy};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Level, Metadata, Subscriber};

const DB: &str = "7ace0000-0000-4000-8000-000000000001";

/// One event as a subscriber saw it.
#[derive(Debug, Clone)]
struct Seen {
    level: Level,
    target: String,
    fields: BTreeMap<String, String>,
}

/// A subscriber that keeps every event.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Seen>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl Subscriber for Collector {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(Seen {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            fields,
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn export(driver: &str, emulator: &Emulator, dest: &std::path::Path) {
    let config = d1_export_ureq::Client::builder()
        .api_base(emulator.base_url())
        .token(emulator.token())
        .pacing(Pacing {
            min_interval: Duration::from_millis(50),
            max_gap: Duration::from_secs(2),
        })
        .retry(RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            ..RetryPolicy::default()
        })
        .config()
        .expect("config");
    let job = Job {
        account: AccountId::new(emulator.account_id()).expect("account"),
        database: DatabaseId::new(DB).expect("db"),
        options: DumpOptions::default(),
    };
    let outcome = match driver {
        "ureq" => d1_export_ureq::Client::new(config)
            .expect("client")
            .export_to_path(&job, dest, |_| {}),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(
                d1_export_reqwest::Client::new(config)
                    .expect("client")
                    .export_to_path(&job, dest, |_| {}),
            ),
    };
    outcome.unwrap_or_else(|e| panic!("{driver}: {e}"));
}

#[test]
fn retries_and_pacing_reach_the_subscriber_without_secrets_on_both_drivers() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("t.sqlite");
    let c = rusqlite::Connection::open(&db).expect("db");
    c.execute_batch("CREATE TABLE t(x TEXT); INSERT INTO t VALUES('hello');")
        .expect("rows");
    drop(c);
    let collector = Collector::default();
    // One subscriber for the whole process: the blocking driver does part of its work on
    // helper threads. This binary has this one test, so nothing else emits meanwhile.
    tracing::subscriber::set_global_default(collector.clone()).expect("no other subscriber");
    for driver in ["ureq", "reqwest"] {
        let emulator = Emulator::start(
            EmulatorConfig::new()
                .database(DB, &db)
                .work_dir(dir.path().join(format!("emu-{driver}")))
                .polls_before_complete(3)
                .poll_hold(Duration::from_millis(10))
                .faults(Faults {
                    http_503_every: Some(2),
                    ..Faults::default()
                }),
        )
        .expect("emulator");
        collector.0.lock().unwrap().clear();
        export(driver, &emulator, &dir.path().join(format!("{driver}.sql")));
        let seen = collector.0.lock().unwrap().clone();
        let ours: Vec<&Seen> = seen.iter().filter(|s| s.target == "d1_export").collect();
        assert_eq!(d1_export_transport::TRACING_TARGET, "d1_export");

        let retries: Vec<&&Seen> = ours
            .iter()
            .filter(|s| {
                s.fields
                    .get("message")
                    .is_some_and(|m| m == "retry scheduled")
            })
            .collect();
        assert!(!retries.is_empty(), "{driver}: no retry event in {ours:#?}");
        for r in &retries {
            assert_eq!(r.level, Level::INFO);
            assert!(
                r.fields["attempt"].parse::<u32>().is_ok_and(|a| a >= 1),
                "{r:?}"
            );
            assert!(r.fields["delay_ms"].parse::<u64>().is_ok(), "{r:?}");
            assert!(r.fields["reason"].contains("503"), "{driver}: {r:?}");
        }
        let waits: Vec<u64> = ours
            .iter()
            .filter(|s| {
                s.fields
                    .get("message")
                    .is_some_and(|m| m == "pacing: waiting")
            })
            .map(|s| s.fields["wait_ms"].parse().expect("wait_ms"))
            .collect();
        assert!(!waits.is_empty(), "{driver}: no pacing event");
        assert!(waits.iter().all(|w| *w <= 2_000), "{driver}: {waits:?}");
        assert!(
            ours.iter().any(|s| s
                .fields
                .get("message")
                .is_some_and(|m| m == "export completed")),
            "{driver}: no completion"
        );

        let everything = format!("{seen:?}");
        assert!(
            !everything.contains(emulator.token()),
            "{driver}: the token was traced"
        );
        assert!(
            !everything.contains("__download"),
            "{driver}: a signed URL was traced"
        );
    }
}
