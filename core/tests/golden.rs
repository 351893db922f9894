//! Golden tests: every reply shape in the spec (Parts 1 and 2) through the reply judge.

use d1_export_core::reply::{parse_export_reply, retry_after, ExportStatus, ReplyError};
use d1_export_core::{Error, Hint, ProtocolError, Transient};
use http::HeaderMap;
use std::time::Duration;

const LIMIT: usize = 1 << 20;

fn parse(status: u16, body: &str) -> Result<d1_export_core::reply::Progress, ReplyError> {
    parse_export_reply(status, &HeaderMap::new(), body.as_bytes(), LIMIT)
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, v.parse().unwrap());
    }
    h
}

#[test]
fn the_reference_example_is_complete() {
    // Part 1's example response, verbatim (its "signed_url" is not a URL: a retryable
    // "complete without a usable URL").
    let body = r#"{
      "errors": [{"code": 1000, "message": "message", "documentation_url": "documentation_url", "source": {"pointer": "pointer"}}],
      "messages": [{"code": 1000, "message": "message", "documentation_url": "documentation_url", "source": {"pointer": "pointer"}}],
      "result": {
        "at_bookmark": "at_bookmark",
        "error": "error",
        "messages": ["string"],
        "result": {"filename": "filename", "signed_url": "signed_url"},
        "status": "complete",
        "success": true,
        "type": "export"
      },
      "success": true
    }"#;
    match parse(200, body) {
        Err(ReplyError::Retry(Transient::MissingDownload(why))) => {
            assert!(why.contains("not"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    let fixed = body.replace(
        "\"signed_url\": \"signed_url\"",
        "\"signed_url\": \"https://r2.test/f.sql?sig=1\"",
    );
    let p = parse(200, &fixed).unwrap();
    assert_eq!(p.bookmark.as_deref(), Some("at_bookmark"));
    assert_eq!(p.messages, ["string"]);
    match p.status {
        ExportStatus::Complete { filename, url } => {
            assert_eq!(filename.as_deref(), Some("filename"));
            assert_eq!(url.expose().to_string(), "https://r2.test/f.sql?sig=1");
        }
        s => panic!("{s:?}"),
    }
}

#[test]
fn running_is_202_active_or_absent() {
    for (status, body) in [
        (
            202,
            r#"{"success":true,"errors":[],"messages":[],"result":{"at_bookmark":"b1","status":"active","type":"export","messages":["Generating x.sql"]}}"#,
        ),
        (
            200,
            r#"{"success":true,"result":{"at_bookmark":"b1","status":"active"}}"#,
        ),
        (
            200,
            r#"{"success":true,"result":{"at_bookmark":"b1","messages":null}}"#,
        ),
        (
            202,
            r#"{"success":true,"result":{"at_bookmark":"b1","future_field":{"a":[1,2]},"status":"active"},"new_top":1}"#,
        ),
    ] {
        let p = parse(status, body).unwrap_or_else(|e| panic!("{body}: {e:?}"));
        assert_eq!(p.status, ExportStatus::Running, "{body}");
        assert_eq!(p.bookmark.as_deref(), Some("b1"));
    }
}

#[test]
fn unknown_status_is_its_own_case() {
    let p = parse(200, r#"{"success":true,"result":{"status":"queued"}}"#).unwrap();
    assert_eq!(p.status, ExportStatus::Unknown("queued".into()));
}

#[test]
fn envelope_failures_keep_code_and_message_with_hints() {
    let cases = [
        (401, 10000, "Authentication error", Some(Hint::Authentication)),
        (403, 9106, "Authentication failed", Some(Hint::Authentication)),
        (403, 7403, "The given account is not valid or is not authorized to access this service", Some(Hint::Account)),
        (404, 7404, "Not found", Some(Hint::NotFound)),
        (400, 7003, "Could not route to /accounts/x/d1/database/y/export, perhaps your object identifier is invalid?", Some(Hint::NotFound)),
        (409, 7500, "Currently processing a long-running export. Cannot start a new export until that completes or times out.", Some(Hint::ExportAlreadyRunning)),
        (400, 1, "Malformed JSON in request body", None),
    ];
    for (status, code, message, hint) in cases {
        let body = format!(
            r#"{{"success":false,"errors":[{{"code":{code},"message":"{message}","documentation_url":"https://d.test","source":{{"pointer":"/x"}}}}],"messages":[],"result":null}}"#
        );
        match parse(status, &body) {
            Err(ReplyError::Fatal(Error::Api(api))) => {
                assert_eq!(api.status, status);
                assert_eq!(api.code(), Some(code));
                assert_eq!(api.errors[0].message, message);
                assert_eq!(
                    api.errors[0].source.as_ref().unwrap().pointer.as_deref(),
                    Some("/x")
                );
                assert_eq!(api.hint, hint, "{message}");
                let shown = Error::Api(api).to_string();
                assert!(
                    shown.contains(&code.to_string()) && shown.contains(message),
                    "{shown}"
                );
            }
            other => panic!("{status} {code}: {other:?}"),
        }
    }
}

#[test]
fn server_errors_are_retried() {
    match parse(
        500,
        r#"{"success":false,"errors":[{"code":7500,"message":"Internal error"}]}"#,
    ) {
        Err(ReplyError::Retry(Transient::ServerError(api))) => assert_eq!(api.code(), Some(7500)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn inner_failure_layers() {
    match parse(
        200,
        r#"{"success":true,"result":{"success":false,"error":"cannot export databases with Virtual Tables (fts5)"}}"#,
    ) {
        Err(ReplyError::Fatal(Error::ExportFailed { message, hint })) => {
            assert!(message.contains("fts5"));
            assert_eq!(hint, Some(Hint::VirtualTables));
        }
        other => panic!("{other:?}"),
    }
    match parse(
        200,
        r#"{"success":true,"result":{"status":"error","error":"D1_ERROR: out of memory","messages":["Generating a.sql"]}}"#,
    ) {
        Err(ReplyError::Fatal(Error::ExportFailed {
            message,
            hint: None,
        })) => {
            assert_eq!(message, "D1_ERROR: out of memory")
        }
        other => panic!("{other:?}"),
    }
    match parse(200, r#"{"success":true,"result":{"status":"error"}}"#) {
        Err(ReplyError::Fatal(Error::ExportFailed { message, .. })) => {
            assert!(message.contains("no error message"))
        }
        other => panic!("{other:?}"),
    }
    match parse(
        200,
        r#"{"success":true,"result":{"status":"error","error":"Export was cancelled: not polled"}}"#,
    ) {
        Err(ReplyError::Fatal(Error::JobGone { message })) => {
            assert!(message.contains("cancelled"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn proxies_and_challenges() {
    let html = "<html><head><title>502 Bad Gateway</title></head><body><center>cloudflare</center></body></html>";
    let h = headers(&[("content-type", "text/html")]);
    match parse_export_reply(502, &h, html.as_bytes(), LIMIT) {
        Err(ReplyError::Retry(Transient::NotJson {
            status: 502,
            content_type,
        })) => {
            assert_eq!(content_type.as_deref(), Some("text/html"))
        }
        other => panic!("{other:?}"),
    }
    let h = headers(&[("cf-mitigated", "challenge"), ("content-type", "text/html")]);
    match parse_export_reply(403, &h, b"<html>Just a moment...</html>", LIMIT) {
        Err(ReplyError::Fatal(Error::Api(api))) => assert_eq!(api.hint, Some(Hint::Challenge)),
        other => panic!("{other:?}"),
    }
    // A 4xx HTML page is not retried.
    assert!(matches!(
        parse(404, "<html>nope</html>"),
        Err(ReplyError::Fatal(Error::Api(_)))
    ));
}

#[test]
fn invalid_json_is_retried_and_huge_bodies_refused() {
    assert!(matches!(
        parse(200, r#"{"success":true,"result":{"status":"act"#),
        Err(ReplyError::Retry(Transient::InvalidJson {
            status: 200,
            ..
        }))
    ));
    assert!(matches!(
        parse(200, r#"{"success":true}"#),
        Err(ReplyError::Retry(Transient::InvalidJson { .. }))
    ));
    let big = format!(
        r#"{{"success":true,"result":{{"messages":["{}"]}}}}"#,
        "x".repeat(2000)
    );
    assert_eq!(
        parse_export_reply(200, &HeaderMap::new(), big.as_bytes(), 1000),
        Err(ReplyError::Fatal(Error::Protocol(
            ProtocolError::ReplyTooLarge { limit: 1000 }
        )))
    );
}

#[test]
fn throttling_and_retry_after() {
    let h = headers(&[("retry-after", "17")]);
    assert_eq!(
        parse_export_reply(429, &h, b"{}", LIMIT),
        Err(ReplyError::Retry(Transient::Throttled {
            retry_after: Some(Duration::from_secs(17))
        }))
    );
    let h = headers(&[
        ("retry-after", "Wed, 25 Nov 2026 03:01:30 GMT"),
        ("date", "Wed, 25 Nov 2026 03:00:00 GMT"),
    ]);
    assert_eq!(retry_after(&h), Some(Duration::from_secs(90)));
    // A date in the past means "now"; a date with no Date header is not understood.
    let h = headers(&[
        ("retry-after", "Wed, 25 Nov 2026 02:00:00 GMT"),
        ("date", "Wed, 25 Nov 2026 03:00:00 GMT"),
    ]);
    assert_eq!(retry_after(&h), Some(Duration::ZERO));
    let h = headers(&[("retry-after", "Wed, 25 Nov 2026 02:00:00 GMT")]);
    assert_eq!(retry_after(&h), None);
    assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
}

#[test]
fn complete_needs_a_safe_url() {
    for url in ["http://evil.test/f.sql?sig=1", "file:///etc/passwd", ""] {
        let body = format!(
            r#"{{"success":true,"result":{{"status":"complete","result":{{"signed_url":"{url}"}}}}}}"#
        );
        assert!(
            matches!(
                parse(200, &body),
                Err(ReplyError::Retry(Transient::MissingDownload(_)))
            ),
            "{url}"
        );
    }
    let body = r#"{"success":true,"result":{"status":"complete","result":{"filename":"a.sql"}}}"#;
    assert!(matches!(
        parse(200, body),
        Err(ReplyError::Retry(Transient::MissingDownload(_)))
    ));
}
