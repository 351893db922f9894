//! The API as a client sees it: the export flow, errors, lookup, downloads, statistics.

mod common;

use std::time::{Duration, Instant};

use common::{request, small_db, target_of, Client, TempDir, UUID};
use d1_emulator::{DumpOptions, Emulator, EmulatorConfig, ALREADY_RUNNING, JOB_GONE_PREFIX};
use serde_json::Value;

fn start(dir: &TempDir, config: EmulatorConfig) -> (Emulator, Client) {
    let db = small_db(dir);
    let emulator = Emulator::start(config.database(UUID, db).database_name(UUID, "small")).unwrap();
    let client = Client::new(&emulator);
    (emulator, client)
}

fn error_code(resp: &common::Resp) -> (u16, i64) {
    let body = resp.json();
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["result"], Value::Null);
    (resp.status, body["errors"][0]["code"].as_i64().unwrap())
}

#[test]
fn export_flow_active_then_complete_then_download() {
    let dir = TempDir::new("flow");
    let (emulator, client) = start(&dir, EmulatorConfig::new());
    assert_eq!(
        emulator.base_url(),
        format!("http://{}/client/v4", emulator.addr())
    );

    let first = client.start(UUID, "{}");
    assert_eq!(first.status, 202);
    let body = first.json();
    assert_eq!(body["success"], true);
    assert_eq!(body["errors"], serde_json::json!([]));
    let result = &body["result"];
    assert_eq!(result["status"], "active");
    assert_eq!(result["type"], "export");
    assert_eq!(result["success"], true);
    let bookmark = result["at_bookmark"].as_str().unwrap().to_owned();
    let first_message = result["messages"][0].as_str().unwrap();
    assert!(first_message.starts_with("Generating ") && first_message.ends_with(".sql"));

    // Default: two polls with the bookmark before completion.
    let second = client.poll(UUID, &bookmark);
    assert_eq!(second.status, 202);
    assert_eq!(second.json()["result"]["at_bookmark"], bookmark.as_str());
    let third = client.poll(UUID, &bookmark);
    assert_eq!(third.status, 200);
    let done = third.json();
    let result = &done["result"];
    assert_eq!(result["status"], "complete");
    let filename = result["result"]["filename"].as_str().unwrap();
    let url = result["result"]["signed_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("http://{}/__download/", emulator.addr())));
    assert!(url.contains("X-Amz-Expires=3600") && url.contains("X-Amz-Signature="));
    let messages: Vec<&str> = result["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(
        messages.last().copied(),
        Some(format!("Finished uploading {filename} in 1 parts.").as_str())
    );

    let got = client.download(&url, &[]);
    assert_eq!(got.status, 200);
    assert!(!got.short);
    let expected = emulator.dump_bytes(UUID, &DumpOptions::default()).unwrap();
    assert_eq!(got.body, expected);
    assert_eq!(got.header("Accept-Ranges"), Some("bytes"));

    // A completed job answers `complete` again, with the same (still valid) URL.
    let again = client.poll(UUID, &bookmark).json();
    assert_eq!(again["result"]["status"], "complete");
    assert_eq!(again["result"]["result"]["signed_url"], url.as_str());

    let stats = emulator.stats();
    assert_eq!(stats.jobs_created, 1);
    assert_eq!(stats.jobs_completed, 1);
    assert_eq!(stats.polls_per_job[&bookmark], 3);
    assert_eq!(stats.downloads_completed, 1);
    assert_eq!(stats.bytes_served, expected.len() as u64);
    assert_eq!(stats.downloads_with_authorization, 0);
    let route = "POST /accounts/:account/d1/database/:database/export";
    assert_eq!(stats.requests[route][&202], 2);
    assert_eq!(stats.requests[route][&200], 2);
    assert_eq!(stats.requests_to("GET /__download"), 1);

    // The same statistics over HTTP.
    let over_http = request(emulator.addr(), "GET", "/__emulator/stats", &[], None).unwrap();
    assert_eq!(over_http.json()["jobs_completed"], 1);
    emulator.shutdown();
}

#[test]
fn parts_are_announced_out_of_order() {
    let dir = TempDir::new("parts");
    let src = dir.path("big.sqlite");
    d1_emulator::sample::generate(&src, 512 * 1024).unwrap();
    let timing = d1_emulator::Timing {
        part_size: 64 * 1024,
        ..d1_emulator::Timing::default()
    };
    let emulator =
        Emulator::start(EmulatorConfig::new().database(UUID, &src).timing(timing)).unwrap();
    let client = Client::new(&emulator);
    let (reply, messages) = client.run_to_completion(UUID, "{}");
    let size = emulator
        .dump_bytes(UUID, &DumpOptions::default())
        .unwrap()
        .len() as u64;
    let parts = size.div_ceil(64 * 1024);
    let uploaded: Vec<u64> = messages
        .iter()
        .filter_map(|m| m.strip_prefix("Uploaded part "))
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(uploaded.len() as u64, parts);
    assert_eq!(&uploaded[..2], &[2, 1]);
    let mut sorted = uploaded.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=parts).collect::<Vec<_>>());
    let filename = reply["result"]["result"]["filename"].as_str().unwrap();
    assert_eq!(
        messages.last().unwrap(),
        &format!("Finished uploading {filename} in {parts} parts.")
    );
}

#[test]
fn one_export_at_a_time_per_database() {
    let dir = TempDir::new("busy");
    let (_emulator, client) = start(&dir, EmulatorConfig::new());
    let first = client.start(UUID, "{}").json();
    let bookmark = first["result"]["at_bookmark"].as_str().unwrap().to_owned();
    let second = client.start(UUID, "{}");
    assert_eq!(error_code(&second), (409, 7500));
    assert_eq!(second.json()["errors"][0]["message"], ALREADY_RUNNING);
    // Once it completes, a new export can start.
    client.poll(UUID, &bookmark);
    assert_eq!(
        client.poll(UUID, &bookmark).json()["result"]["status"],
        "complete"
    );
    assert_eq!(client.start(UUID, "{}").status, 202);
}

#[test]
fn idle_jobs_are_cancelled_and_their_bookmark_is_gone() {
    let dir = TempDir::new("idle");
    let (emulator, client) = start(
        &dir,
        EmulatorConfig::new().idle_cancel(Duration::from_millis(200)),
    );
    let first = client.start(UUID, "{}").json();
    let bookmark = first["result"]["at_bookmark"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(emulator.stats().jobs_cancelled, 1, "the sweeper cancels it");
    let gone = client.poll(UUID, &bookmark);
    assert_eq!(gone.status, 200);
    let result = &gone.json()["result"];
    assert_eq!(result["status"], "error");
    assert_eq!(
        result["error"],
        format!("{JOB_GONE_PREFIX} {bookmark}").as_str()
    );
    // A new export may start.
    assert_eq!(client.start(UUID, "{}").status, 202);
    // Unknown bookmarks are gone too.
    let unknown = client.poll(UUID, "not-a-bookmark").json();
    assert!(unknown["result"]["error"]
        .as_str()
        .unwrap()
        .starts_with(JOB_GONE_PREFIX));
}

#[test]
fn polling_keeps_a_job_alive() {
    let dir = TempDir::new("alive");
    let (_emulator, client) = start(
        &dir,
        EmulatorConfig::new()
            .idle_cancel(Duration::from_millis(300))
            .polls_before_complete(6),
    );
    let first = client.start(UUID, "{}").json();
    let bookmark = first["result"]["at_bookmark"].as_str().unwrap().to_owned();
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(
            client.poll(UUID, &bookmark).json()["result"]["status"],
            "active"
        );
    }
    assert_eq!(
        client.poll(UUID, &bookmark).json()["result"]["status"],
        "complete"
    );
}

#[test]
fn long_poll_holds_until_ready_and_min_export_time() {
    let dir = TempDir::new("hold");
    let (_emulator, client) = start(
        &dir,
        EmulatorConfig::new()
            .polls_before_complete(0)
            .min_export_time(Duration::from_millis(300))
            .poll_hold(Duration::from_secs(5)),
    );
    let t0 = Instant::now();
    let reply = client.start(UUID, "{}");
    let elapsed = t0.elapsed();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["result"]["status"], "complete");
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[test]
fn poll_hold_zero_answers_at_once() {
    let dir = TempDir::new("nohold");
    let (_emulator, client) = start(
        &dir,
        EmulatorConfig::new()
            .polls_before_complete(1)
            .min_export_time(Duration::from_secs(30))
            .poll_hold(Duration::ZERO),
    );
    let first = client.start(UUID, "{}").json();
    let bookmark = first["result"]["at_bookmark"].as_str().unwrap().to_owned();
    let t0 = Instant::now();
    assert_eq!(client.poll(UUID, &bookmark).status, 202);
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[test]
fn dump_options_are_honoured() {
    let dir = TempDir::new("options");
    let (emulator, client) = start(&dir, EmulatorConfig::new());
    for (wire, options) in [
        (
            r#"{"no_data":true}"#,
            DumpOptions {
                no_data: true,
                ..DumpOptions::default()
            },
        ),
        (
            r#"{"no_schema":true,"tables":[]}"#,
            DumpOptions {
                no_schema: true,
                ..DumpOptions::default()
            },
        ),
        (
            r#"{"tables":["other"],"no_data":false,"no_schema":false}"#,
            DumpOptions {
                tables: vec!["other".into()],
                ..DumpOptions::default()
            },
        ),
    ] {
        let (reply, _) = client.run_to_completion(UUID, wire);
        let url = reply["result"]["result"]["signed_url"].as_str().unwrap();
        let got = client.download(url, &[]);
        assert_eq!(
            got.body,
            emulator.dump_bytes(UUID, &options).unwrap(),
            "{wire}"
        );
    }
}

#[test]
fn request_errors_have_envelope_shapes() {
    let dir = TempDir::new("errors");
    let (emulator, client) = start(&dir, EmulatorConfig::new());
    let addr = emulator.addr();
    let path = format!(
        "/client/v4/accounts/{}/d1/database/{UUID}/export",
        client.account
    );
    let body = br#"{"output_format":"polling"}"#;

    let missing = request(addr, "POST", &path, &[], Some(body)).unwrap();
    assert_eq!(error_code(&missing), (401, 10000));
    let wrong = request(
        addr,
        "POST",
        &path,
        &[("Authorization", "Bearer nope")],
        Some(body),
    )
    .unwrap();
    assert_eq!(error_code(&wrong), (403, 10000));
    assert_eq!(wrong.json()["errors"][0]["message"], "Authentication error");
    let basic = request(
        addr,
        "POST",
        &path,
        &[("Authorization", "Basic test-token")],
        Some(body),
    )
    .unwrap();
    assert_eq!(error_code(&basic), (403, 10000));

    let auth = [("Authorization", "Bearer test-token")];
    let other_account = format!(
        "/client/v4/accounts/{}/d1/database/{UUID}/export",
        "f".repeat(32)
    );
    let r = request(addr, "POST", &other_account, &auth, Some(body)).unwrap();
    assert_eq!(error_code(&r), (403, 7403));
    let r = request(
        addr,
        "POST",
        "/client/v4/accounts/xyz/d1/database/x/export",
        &auth,
        Some(body),
    )
    .unwrap();
    assert_eq!(error_code(&r), (400, 7003));
    let r = client.export("not-a-uuid", r#"{"output_format":"polling"}"#);
    assert_eq!(error_code(&r), (400, 7003));
    let r = client.export(
        "0b1c2d3e-0000-4000-8000-0000000000ff",
        r#"{"output_format":"polling"}"#,
    );
    assert_eq!(error_code(&r), (404, 7404));
    let r = client.export(UUID, r#"{"output_format":"polling""#);
    assert_eq!(error_code(&r), (400, 7400));
    let r = client.export(UUID, r#"{"dump_options":{}}"#);
    assert_eq!(error_code(&r), (400, 7400));
    let r = client.export(
        UUID,
        r#"{"output_format":"polling","dump_options":{"no_data":"yes"}}"#,
    );
    assert_eq!(error_code(&r), (400, 7400));
    let r = client.start(
        UUID,
        r#"{"compatibility":"sqlite3_cli_only","no_data":true}"#,
    );
    assert_eq!(error_code(&r), (400, 7400));
    let r = client.start(UUID, r#"{"compatibility":"postgres"}"#);
    assert_eq!(error_code(&r), (400, 7400));
    let r = client.api("GET", "/d1/database/x/export", None).unwrap();
    assert_eq!(error_code(&r), (405, 10405));
    let r = request(addr, "GET", "/client/v4/zones", &auth, None).unwrap();
    assert_eq!(error_code(&r), (404, 7000));
    // None of these started a job.
    assert_eq!(emulator.stats().jobs_created, 0);
}

#[test]
fn lookup_by_name_or_uuid_and_paged_list() {
    let dir = TempDir::new("lookup");
    let db = small_db(&dir);
    let uuids: Vec<String> = (1..=5)
        .map(|i| format!("0b1c2d3e-0000-4000-8000-00000000000{i}"))
        .collect();
    let mut config = EmulatorConfig::new();
    for (i, u) in uuids.iter().enumerate() {
        config = config.database(u, &db).database_name(u, format!("db-{i}"));
    }
    let emulator = Emulator::start(config).unwrap();
    let client = Client::new(&emulator);

    let by_name = client.api("GET", "/d1/database/db-2", None).unwrap();
    assert_eq!(by_name.status, 200);
    let r = by_name.json();
    assert_eq!(r["result"]["uuid"], uuids[2].as_str());
    assert_eq!(r["result"]["name"], "db-2");
    assert_eq!(r["result"]["num_tables"], 2);
    let by_uuid = client
        .api(
            "GET",
            &format!("/d1/database/{}?fields=uuid,name", uuids[4]),
            None,
        )
        .unwrap();
    assert_eq!(by_uuid.json()["result"]["name"], "db-4");
    let missing = client.api("GET", "/d1/database/nope", None).unwrap();
    assert_eq!(error_code(&missing), (404, 7404));

    let page2 = client
        .api("GET", "/d1/database?per_page=2&page=2", None)
        .unwrap()
        .json();
    let names: Vec<&str> = page2["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["db-2", "db-3"]);
    assert_eq!(
        page2["result_info"],
        serde_json::json!({"page": 2, "per_page": 2, "count": 2, "total_count": 5})
    );
    let last = client
        .api("GET", "/d1/database?per_page=2&page=4", None)
        .unwrap()
        .json();
    assert_eq!(last["result"], serde_json::json!([]));
    let named = client
        .api("GET", "/d1/database?name=db-3", None)
        .unwrap()
        .json();
    assert_eq!(named["result"][0]["uuid"], uuids[3].as_str());
    assert_eq!(named["result_info"]["total_count"], 1);
    let bad = client.api("GET", "/d1/database?per_page=0", None).unwrap();
    assert_eq!(error_code(&bad), (400, 7400));
}

#[test]
fn virtual_tables_fail_the_export_unless_filtered_or_cli_compatible() {
    let dir = TempDir::new("fts-api");
    let path = dir.path("fts.sqlite");
    common::make_db(
        &path,
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
         INSERT INTO notes VALUES (1, 'hello');
         CREATE VIRTUAL TABLE notes_fts USING fts5(body);",
    );
    let emulator = Emulator::start(EmulatorConfig::new().database(UUID, &path)).unwrap();
    let client = Client::new(&emulator);
    let reply = client.start(UUID, "{}");
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["success"], true);
    let result = &body["result"];
    assert_eq!(result["status"], "error");
    assert_eq!(
        result["error"],
        "cannot export databases with Virtual Tables (fts5)"
    );
    assert!(result["at_bookmark"].is_string());
    // Polling it repeats the error; the database is not left busy.
    let again = client
        .poll(UUID, result["at_bookmark"].as_str().unwrap())
        .json();
    assert_eq!(again["result"]["error"], result["error"]);
    let (ok, _) = client.run_to_completion(UUID, r#"{"tables":["notes"]}"#);
    assert_eq!(ok["result"]["status"], "complete");
    let (cli, _) = client.run_to_completion(UUID, r#"{"compatibility":"sqlite3_cli_only"}"#);
    let url = cli["result"]["result"]["signed_url"].as_str().unwrap();
    let text = client.download(url, &[]).text();
    assert!(text.contains("CREATE VIRTUAL TABLE notes_fts USING fts5(body)"));
    assert_eq!(emulator.stats().jobs_failed, 1);
}

#[test]
fn unreadable_database_is_an_inner_failure() {
    let dir = TempDir::new("corrupt");
    let path = dir.path("corrupt.sqlite");
    std::fs::write(&path, b"this is not a sqlite database, not at all, no no").unwrap();
    let emulator = Emulator::start(EmulatorConfig::new().database(UUID, &path)).unwrap();
    let client = Client::new(&emulator);
    let reply = client.start(UUID, "{}");
    assert_eq!(reply.status, 200);
    let result = &reply.json()["result"];
    assert_eq!(result["success"], false);
    assert!(result["error"]
        .as_str()
        .unwrap()
        .starts_with("Export failed:"));
}

#[test]
fn downloads_support_head_ranges_and_expiry() {
    let dir = TempDir::new("download");
    let (emulator, client) = start(
        &dir,
        EmulatorConfig::new().url_lifetime(Duration::from_millis(400)),
    );
    let (reply, _) = client.run_to_completion(UUID, "{}");
    let bookmark = reply["result"]["at_bookmark"].as_str().unwrap().to_owned();
    let url = reply["result"]["result"]["signed_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let full = emulator.dump_bytes(UUID, &DumpOptions::default()).unwrap();
    let n = full.len();

    let head = request(emulator.addr(), "HEAD", &target_of(&url), &[], None).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some(n.to_string().as_str()));
    let etag = head.header("ETag").unwrap().to_owned();

    let tail = client.download(&url, &[("Range", "bytes=10-")]);
    assert_eq!(tail.status, 206);
    assert_eq!(
        tail.header("Content-Range"),
        Some(format!("bytes 10-{}/{n}", n - 1).as_str())
    );
    assert_eq!(tail.body, &full[10..]);
    let mid = client.download(&url, &[("Range", "bytes=5-9"), ("If-Range", &etag)]);
    assert_eq!((mid.status, &mid.body[..]), (206, &full[5..10]));
    let stale = client.download(&url, &[("Range", "bytes=5-9"), ("If-Range", "\"other\"")]);
    assert_eq!(stale.status, 200);
    let past = client.download(&url, &[("Range", &format!("bytes={n}-"))]);
    assert_eq!(past.status, 416);
    assert_eq!(
        past.header("Content-Range"),
        Some(format!("bytes */{n}").as_str())
    );

    let with_auth = client.download(&url, &[("Authorization", "Bearer test-token")]);
    assert_eq!(with_auth.status, 200);
    assert_eq!(emulator.stats().downloads_with_authorization, 1);

    let mut bad_sig = url.clone();
    bad_sig.replace_range(bad_sig.len() - 4.., "0000");
    assert_eq!(client.download(&bad_sig, &[]).status, 403);

    std::thread::sleep(Duration::from_millis(500));
    let expired = client.download(&url, &[]);
    assert_eq!(expired.status, 403);
    let xml = expired.text();
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Request has expired</Message>"), "{xml}");
    assert_eq!(expired.header("Content-Type"), Some("application/xml"));

    // Polling the completed job again gives a fresh URL that works.
    let fresh = client.poll(UUID, &bookmark).json();
    assert_eq!(fresh["result"]["status"], "complete");
    let new_url = fresh["result"]["result"]["signed_url"].as_str().unwrap();
    assert_ne!(new_url, url);
    assert_eq!(client.download(new_url, &[]).body, full);

    let stats = emulator.stats();
    assert_eq!(stats.downloads_expired, 1);
    assert_eq!(stats.downloads_ranged, 2);
    assert_eq!(stats.downloads_completed, 5);
}

#[test]
fn keep_alive_connection_serves_several_requests() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = TempDir::new("keepalive");
    let (emulator, client) = start(&dir, EmulatorConfig::new());
    let mut s = std::net::TcpStream::connect(emulator.addr()).unwrap();
    let path = format!("/client/v4/accounts/{}/d1/database/{UUID}", client.account);
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-token\r\n\r\n");
    s.write_all(format!("{req}{req}").as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    for _ in 0..2 {
        let mut len = 0;
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["result"]["uuid"], UUID);
    }
}

#[test]
fn shutdown_stops_serving_and_removes_dump_files() {
    let dir = TempDir::new("shutdown");
    let (emulator, client) = start(&dir, EmulatorConfig::new());
    client.run_to_completion(UUID, "{}");
    let addr = emulator.addr();
    emulator.shutdown();
    assert!(
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_err()
            || request(addr, "GET", "/__emulator/stats", &[], None).is_err()
    );
}

#[test]
fn works_from_inside_another_thread_pool_and_many_at_once() {
    let dir = TempDir::new("many");
    let db = small_db(&dir);
    let emulators: Vec<Emulator> = (0..4)
        .map(|_| Emulator::start(EmulatorConfig::new().database(UUID, &db)).unwrap())
        .collect();
    std::thread::scope(|s| {
        for e in &emulators {
            s.spawn(move || {
                let (reply, _) = Client::new(e).run_to_completion(UUID, "{}");
                assert_eq!(reply["result"]["status"], "complete");
            });
        }
    });
}

const BOOKMARK_ROUTE: &str = "GET /accounts/:account/d1/database/:database/time_travel/bookmark";

/// `GET …/time_travel/bookmark` of `uuid`: the bookmark.
fn bookmark_of(client: &Client, uuid: &str) -> String {
    let resp = client
        .api(
            "GET",
            &format!("/d1/database/{uuid}/time_travel/bookmark"),
            None,
        )
        .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["success"], true);
    assert_eq!(body["errors"], serde_json::json!([]));
    assert_eq!(body["messages"], serde_json::json!([]));
    body["result"]["bookmark"].as_str().unwrap().to_owned()
}

#[test]
fn time_travel_bookmark_is_the_next_exports_and_follows_the_file() {
    let dir = TempDir::new("bookmark");
    let (emulator, client) = start(&dir, EmulatorConfig::new());
    let before = bookmark_of(&client, UUID);
    let groups: Vec<usize> = before.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 8, 8, 32], "{before}");
    assert!(before.bytes().all(|c| c == b'-' || c.is_ascii_hexdigit()));
    // Unchanged file: the same bookmark; `timestamp` is accepted and ignored.
    assert_eq!(bookmark_of(&client, UUID), before);
    let at_time = client
        .api(
            "GET",
            &format!("/d1/database/{UUID}/time_travel/bookmark?timestamp=2024-01-01T00:00:00Z"),
            None,
        )
        .unwrap()
        .json();
    assert_eq!(at_time["result"]["bookmark"], before.as_str());

    // The export started next reports it; exporting changes nothing.
    let (first, _) = client.run_to_completion(UUID, "{}");
    assert_eq!(first["result"]["status"], "complete");
    assert_eq!(first["result"]["at_bookmark"], before.as_str());
    let first_url = first["result"]["result"]["signed_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(bookmark_of(&client, UUID), before);

    // A second export of the unchanged database: same bookmark, a job of its own.
    let (second, _) = client.run_to_completion(UUID, "{}");
    assert_eq!(second["result"]["status"], "complete");
    assert_eq!(second["result"]["at_bookmark"], before.as_str());
    let second_url = second["result"]["result"]["signed_url"].as_str().unwrap();
    assert_ne!(second_url, first_url);
    let expected = emulator.dump_bytes(UUID, &DumpOptions::default()).unwrap();
    assert_eq!(client.download(second_url, &[]).body, expected);
    assert_eq!(client.download(&first_url, &[]).body, expected);
    // A poll with the bookmark reaches the newer job, complete.
    let again = client.poll(UUID, &before).json();
    assert_eq!(again["result"]["status"], "complete");
    assert_eq!(again["result"]["result"]["signed_url"], second_url);
    // Starting a third while it runs is still refused.
    let third = client.start(UUID, "{}").json();
    assert_eq!(third["result"]["at_bookmark"], before.as_str());
    assert_eq!(error_code(&client.start(UUID, "{}")), (409, 7500));
    let mut reply = client.poll(UUID, &before).json();
    while reply["result"]["status"] == "active" {
        reply = client.poll(UUID, &before).json();
    }
    assert_eq!(reply["result"]["status"], "complete");
    assert_eq!(bookmark_of(&client, UUID), before);

    // A write to the file: a new bookmark, reported by the next export.
    let conn = rusqlite::Connection::open(dir.path("small.sqlite")).unwrap();
    conn.execute("INSERT INTO other VALUES ('c', 3)", [])
        .unwrap();
    drop(conn);
    let after = bookmark_of(&client, UUID);
    assert_ne!(after, before);
    assert_eq!(bookmark_of(&client, UUID), after);
    let (fresh, _) = client.run_to_completion(UUID, "{}");
    assert_eq!(fresh["result"]["at_bookmark"], after.as_str());
    let url = fresh["result"]["result"]["signed_url"].as_str().unwrap();
    let got = client.download(url, &[]).body;
    assert_eq!(
        got,
        emulator.dump_bytes(UUID, &DumpOptions::default()).unwrap()
    );
    assert_ne!(got, expected, "the new row is in it");

    let stats = emulator.stats();
    assert_eq!(stats.jobs_created, 4);
    assert_eq!(stats.jobs_completed, 4);
    assert_eq!(stats.requests[BOOKMARK_ROUTE][&200], 7);
    assert_eq!(stats.requests_to(BOOKMARK_ROUTE), 7);
}

#[test]
fn time_travel_bookmark_errors_and_databases_sharing_a_file() {
    let dir = TempDir::new("bookmark-errors");
    let other = "0b1c2d3e-0000-4000-8000-000000000002";
    let db = small_db(&dir);
    let emulator = Emulator::start(
        EmulatorConfig::new()
            .database(UUID, &db)
            .database(other, &db),
    )
    .unwrap();
    let client = Client::new(&emulator);
    assert_ne!(
        bookmark_of(&client, UUID),
        bookmark_of(&client, other),
        "each database has its own bookmark"
    );
    // Any spelling of the UUID names the same database.
    assert_eq!(
        bookmark_of(&client, &UUID.replace('-', "").to_uppercase()),
        bookmark_of(&client, UUID)
    );

    let addr = emulator.addr();
    let path = format!(
        "/client/v4/accounts/{}/d1/database/{UUID}/time_travel/bookmark",
        client.account
    );
    let r = request(addr, "GET", &path, &[], None).unwrap();
    assert_eq!(error_code(&r), (401, 10000));
    let r = request(
        addr,
        "GET",
        &path,
        &[("Authorization", "Bearer nope")],
        None,
    )
    .unwrap();
    assert_eq!(error_code(&r), (403, 10000));
    let auth = [("Authorization", "Bearer test-token")];
    let r = request(
        addr,
        "GET",
        &format!(
            "/client/v4/accounts/{}/d1/database/{UUID}/time_travel/bookmark",
            "f".repeat(32)
        ),
        &auth,
        None,
    )
    .unwrap();
    assert_eq!(error_code(&r), (403, 7403));
    let r = request(
        addr,
        "GET",
        &format!("/client/v4/accounts/xyz/d1/database/{UUID}/time_travel/bookmark"),
        &auth,
        None,
    )
    .unwrap();
    assert_eq!(error_code(&r), (400, 7003));
    let bookmark = |db: &str| {
        client
            .api(
                "GET",
                &format!("/d1/database/{db}/time_travel/bookmark"),
                None,
            )
            .unwrap()
    };
    assert_eq!(error_code(&bookmark("small")), (400, 7003));
    assert_eq!(
        error_code(&bookmark("0b1c2d3e-0000-4000-8000-0000000000ff")),
        (404, 7404)
    );
    let r = client
        .api(
            "POST",
            &format!("/d1/database/{UUID}/time_travel/bookmark"),
            Some("{}"),
        )
        .unwrap();
    assert_eq!(error_code(&r), (405, 10405));

    let stats = emulator.stats();
    assert_eq!(stats.requests_to(BOOKMARK_ROUTE), 10);
    assert_eq!(stats.requests[BOOKMARK_ROUTE][&404], 1);
    assert_eq!(stats.jobs_created, 0);
}

#[test]
fn two_hundred_databases_page_through_the_list() {
    let dir = TempDir::new("fleet");
    let template = dir.path("template.sqlite");
    common::make_db(
        &template,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         INSERT INTO t(v) VALUES ('a'), ('b'), ('c');",
    );
    let uuids: Vec<String> = (0..200)
        .map(|i| format!("0b1c2d3e-0000-4000-8000-{i:012x}"))
        .collect();
    let mut config = EmulatorConfig::new();
    for (i, u) in uuids.iter().enumerate() {
        let path = dir.path(&format!("db-{i:03}.sqlite"));
        std::fs::copy(&template, &path).unwrap();
        config = config
            .database(u, path)
            .database_name(u, format!("db-{i:03}"));
    }
    let emulator = Emulator::start(config).unwrap();
    let client = Client::new(&emulator);

    let mut seen = Vec::new();
    for page in 1..=4 {
        let body = client
            .api(
                "GET",
                &format!("/d1/database?page={page}&per_page=50"),
                None,
            )
            .unwrap()
            .json();
        assert_eq!(
            body["result_info"],
            serde_json::json!({"page": page, "per_page": 50, "count": 50, "total_count": 200})
        );
        for d in body["result"].as_array().unwrap() {
            assert_eq!(d["num_tables"], 1);
            seen.push(d["uuid"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(seen, uuids, "every database once, in order");
    let past = client
        .api("GET", "/d1/database?page=5&per_page=50", None)
        .unwrap()
        .json();
    assert_eq!(past["result"], serde_json::json!([]));
    assert_eq!(past["result_info"]["count"], 0);
    assert_eq!(past["result_info"]["total_count"], 200);
    let all = client.api("GET", "/d1/database", None).unwrap().json();
    assert_eq!(all["result"].as_array().unwrap().len(), 200);
    assert_eq!(all["result_info"]["total_count"], 200);
    let uneven = client
        .api("GET", "/d1/database?page=3&per_page=75", None)
        .unwrap()
        .json();
    assert_eq!(uneven["result_info"]["count"], 50);
    assert_eq!(uneven["result"][0]["uuid"], uuids[150].as_str());

    // Each database exports on its own, with a bookmark of its own.
    let (a, _) = client.run_to_completion(&uuids[0], "{}");
    let (b, _) = client.run_to_completion(&uuids[199], "{}");
    assert_eq!(a["result"]["status"], "complete");
    assert_eq!(b["result"]["status"], "complete");
    assert_ne!(a["result"]["at_bookmark"], b["result"]["at_bookmark"]);
    assert_eq!(emulator.stats().jobs_created, 2);
}
