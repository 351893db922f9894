//! Each fault, deterministic and reachable from the configuration.

mod common;

use std::time::{Duration, Instant};

use common::{small_db, target_of, Client, TempDir, UUID};
use d1_emulator::{DumpOptions, Emulator, EmulatorConfig, Faults, RateLimit};
use serde_json::Value;

fn start(dir: &TempDir, faults: Faults) -> (Emulator, Client) {
    let db = small_db(dir);
    let emulator =
        Emulator::start(EmulatorConfig::new().database(UUID, db).faults(faults)).unwrap();
    let client = Client::new(&emulator);
    (emulator, client)
}

fn lookup(client: &Client) -> std::io::Result<common::Resp> {
    client.api("GET", &format!("/d1/database/{UUID}"), None)
}

#[test]
fn http_503_every_nth_api_request() {
    let dir = TempDir::new("503");
    let (emulator, client) = start(
        &dir,
        Faults {
            http_503_every: Some(3),
            ..Faults::default()
        },
    );
    let statuses: Vec<u16> = (0..7).map(|_| lookup(&client).unwrap().status).collect();
    assert_eq!(statuses, [200, 200, 503, 200, 200, 503, 200]);
    assert_eq!(lookup(&client).unwrap().status, 200);
    let r = lookup(&client).unwrap();
    assert_eq!(r.status, 503, "the 9th request");
    assert!(r.header("Content-Type").unwrap().starts_with("text/html"));
    assert!(r.text().contains("<html>"));
    assert_eq!(emulator.stats().faults("http_503"), 3);
    // Downloads and the stats endpoint are not API requests.
    let stats = common::request(emulator.addr(), "GET", "/__emulator/stats", &[], None).unwrap();
    assert_eq!(stats.status, 200);
}

#[test]
fn a_503_does_not_reach_the_api() {
    let dir = TempDir::new("503-export");
    let (emulator, client) = start(
        &dir,
        Faults {
            http_503_every: Some(1),
            ..Faults::default()
        },
    );
    assert_eq!(client.start(UUID, "{}").status, 503);
    assert_eq!(emulator.stats().jobs_created, 0);
}

#[test]
fn http_429_past_n_requests_in_a_window() {
    let dir = TempDir::new("429");
    let (emulator, client) = start(
        &dir,
        Faults {
            rate_limit: Some(RateLimit {
                requests: 3,
                window: Duration::from_millis(1500),
            }),
            ..Faults::default()
        },
    );
    let t0 = Instant::now();
    let statuses: Vec<u16> = (0..5).map(|_| lookup(&client).unwrap().status).collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let limited = lookup(&client).unwrap();
    assert_eq!(limited.status, 429);
    let retry: u64 = limited.header("Retry-After").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let body = limited.json();
    assert_eq!(body["success"], false);
    assert_eq!(body["errors"][0]["code"], 971);
    // After the window, requests pass again.
    std::thread::sleep(
        Duration::from_millis(1500).saturating_sub(t0.elapsed()) + Duration::from_millis(50),
    );
    assert_eq!(lookup(&client).unwrap().status, 200);
    assert_eq!(emulator.stats().faults("http_429"), 3);
}

#[test]
fn invalid_json_on_the_nth_request() {
    let dir = TempDir::new("json");
    let (emulator, client) = start(
        &dir,
        Faults {
            invalid_json_at: Some(2),
            ..Faults::default()
        },
    );
    let first = client.start(UUID, "{}").json();
    let bookmark = first["result"]["at_bookmark"].as_str().unwrap().to_owned();
    let broken = client.poll(UUID, &bookmark);
    assert_eq!(broken.status, 200);
    assert!(serde_json::from_slice::<Value>(&broken.body).is_err());
    assert!(broken.text().starts_with('{'));
    // The poll was processed: it counted.
    assert_eq!(emulator.stats().polls_per_job[&bookmark], 1);
    assert_eq!(
        client.poll(UUID, &bookmark).json()["result"]["status"],
        "complete"
    );
}

#[test]
fn reset_connection_on_the_nth_request() {
    let dir = TempDir::new("reset");
    let (emulator, client) = start(
        &dir,
        Faults {
            reset_connection_at: Some(2),
            ..Faults::default()
        },
    );
    assert_eq!(lookup(&client).unwrap().status, 200);
    let err = lookup(&client).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof
        ),
        "{err:?}"
    );
    assert_eq!(lookup(&client).unwrap().status, 200);
    let stats = emulator.stats();
    assert_eq!(stats.faults("reset_connection"), 1);
    assert_eq!(
        stats.requests["GET /accounts/:account/d1/database/:database"][&0],
        1
    );
}

#[test]
fn truncated_first_download_then_resume() {
    let dir = TempDir::new("truncate");
    let (emulator, client) = start(
        &dir,
        Faults {
            truncate_first_download: true,
            ..Faults::default()
        },
    );
    let (reply, _) = client.run_to_completion(UUID, "{}");
    let url = reply["result"]["result"]["signed_url"].as_str().unwrap();
    let full = emulator.dump_bytes(UUID, &DumpOptions::default()).unwrap();
    let first = client.download(url, &[]);
    assert_eq!(first.status, 200);
    assert_eq!(
        first.header("Content-Length"),
        Some(full.len().to_string().as_str())
    );
    assert!(first.short);
    assert_eq!(first.body.len(), full.len() / 2);
    assert_eq!(first.body, &full[..full.len() / 2]);
    // Resume from where it stopped.
    let range = format!("bytes={}-", first.body.len());
    let rest = client.download(url, &[("Range", &range)]);
    assert_eq!(rest.status, 206);
    assert!(!rest.short);
    let mut joined = first.body.clone();
    joined.extend_from_slice(&rest.body);
    assert_eq!(joined, full);
    // Later downloads are whole.
    assert_eq!(client.download(url, &[]).body, full);
    let stats = emulator.stats();
    assert_eq!(stats.downloads_truncated, 1);
    assert_eq!(stats.downloads_completed, 2);
}

#[test]
fn slow_downloads_are_throttled() {
    let dir = TempDir::new("slow");
    let db = dir.path("bigger.sqlite");
    d1_emulator::sample::generate(&db, 128 * 1024).unwrap();
    let emulator = Emulator::start(EmulatorConfig::new().database(UUID, &db).faults(Faults {
        download_kib_per_sec: Some(256),
        ..Faults::default()
    }))
    .unwrap();
    let client = Client::new(&emulator);
    let (reply, _) = client.run_to_completion(UUID, "{}");
    let url = reply["result"]["result"]["signed_url"].as_str().unwrap();
    let size = emulator
        .dump_bytes(UUID, &DumpOptions::default())
        .unwrap()
        .len();
    let t0 = Instant::now();
    let got = client.download(url, &[]);
    let elapsed = t0.elapsed().as_secs_f64();
    assert_eq!(got.body.len(), size);
    let expected = size as f64 / (256.0 * 1024.0);
    assert!(elapsed >= expected * 0.9, "{elapsed}s for {size} bytes");
    assert!(
        elapsed < expected * 3.0 + 1.0,
        "{elapsed}s for {size} bytes"
    );
}

#[test]
fn first_signed_url_already_expired() {
    let dir = TempDir::new("expired");
    let (emulator, client) = start(
        &dir,
        Faults {
            expire_first_url: true,
            ..Faults::default()
        },
    );
    let (reply, _) = client.run_to_completion(UUID, "{}");
    let bookmark = reply["result"]["at_bookmark"].as_str().unwrap();
    let url = reply["result"]["result"]["signed_url"].as_str().unwrap();
    let denied = client.download(url, &[]);
    assert_eq!(denied.status, 403);
    assert!(denied
        .text()
        .contains("<Code>AccessDenied</Code><Message>Request has expired</Message>"));
    let fresh = client.poll(UUID, bookmark).json();
    let fresh_url = fresh["result"]["result"]["signed_url"].as_str().unwrap();
    assert_ne!(fresh_url, url);
    assert_eq!(client.download(fresh_url, &[]).status, 200);
    let stats = emulator.stats();
    assert_eq!(stats.downloads_expired, 1);
    assert_eq!(stats.faults("expired_url"), 1);
    // HEAD of the expired URL is refused too.
    let head = common::request(emulator.addr(), "HEAD", &target_of(url), &[], None).unwrap();
    assert_eq!(head.status, 403);
}

#[test]
fn omitted_status_while_active() {
    let dir = TempDir::new("nostatus");
    let (_emulator, client) = start(
        &dir,
        Faults {
            omit_active_status: true,
            ..Faults::default()
        },
    );
    let first = client.start(UUID, "{}");
    assert_eq!(first.status, 200);
    let body = first.json();
    assert!(body["result"].get("status").is_none(), "{body}");
    let bookmark = body["result"]["at_bookmark"].as_str().unwrap();
    client.poll(UUID, bookmark);
    let done = client.poll(UUID, bookmark).json();
    assert_eq!(done["result"]["status"], "complete");
}

#[test]
fn extra_fields_everywhere() {
    let dir = TempDir::new("extra");
    let (_emulator, client) = start(
        &dir,
        Faults {
            extra_fields: true,
            ..Faults::default()
        },
    );
    let (reply, _) = client.run_to_completion(UUID, "{}");
    assert!(reply["x_emulator_unknown"].is_object());
    assert!(reply["result"]["x_emulator_unknown"].is_object());
    assert!(reply["result"]["result"]["x_emulator_unknown"].is_object());
    let url = reply["result"]["result"]["signed_url"].as_str().unwrap();
    assert_eq!(client.download(url, &[]).status, 200);
    let err = client
        .start("0b1c2d3e-0000-4000-8000-0000000000ff", "{}")
        .json();
    assert!(err["errors"][0]["x_emulator_unknown"].is_object());
    let list = client.api("GET", "/d1/database", None).unwrap().json();
    assert!(list["result"][0]["x_emulator_unknown"].is_object());
    assert!(list["result_info"]["x_emulator_unknown"].is_object());
}

#[test]
fn all_faults_off_by_default() {
    assert!(Faults::default().is_off());
    assert!(EmulatorConfig::default().faults.is_off());
}
