//! Which export errors mean the service lost the job, the reply size cap's edge, and the
//! envelope's failure layer (found missing by cargo-mutants, scripts/mutants.sh).

use d1_export_core::reply::{means_job_gone, parse_export_reply, ExportStatus, ReplyError};
use d1_export_core::*;
use http::HeaderMap;

#[test]
fn messages_that_mean_the_job_is_gone() {
    for gone in [
        "Export job not found or cancelled for this bookmark",
        "export was Cancelled",
        "cancel",
        "bookmark not found",
        "Unknown bookmark",
        "invalid bookmark given",
        "the bookmark has expired",
        "no such export",
        "Export not found",
        "job not found",
    ] {
        assert!(means_job_gone(gone), "{gone:?}");
    }
    for not in [
        "Database not found",
        "bookmark",
        "the bookmark is fine",
        "unknown error",
        "invalid table",
        "expired token",
        "Export failed: internal",
        "cannot export databases with Virtual Tables (fts5)",
        "",
    ] {
        assert!(!means_job_gone(not), "{not:?}");
    }
}

#[test]
fn a_reply_of_exactly_the_cap_is_taken() {
    let body = br#"{"success":true,"result":{"status":"active"}}"#;
    let h = HeaderMap::new();
    let ok = parse_export_reply(200, &h, body, body.len()).unwrap();
    assert_eq!(ok.status, ExportStatus::Running);
    assert_eq!(
        parse_export_reply(200, &h, body, body.len() - 1),
        Err(ReplyError::Fatal(Error::Protocol(
            ProtocolError::ReplyTooLarge {
                limit: body.len() - 1
            }
        )))
    );
}

#[test]
fn either_a_failed_envelope_or_a_failing_status_is_a_failure() {
    let h = HeaderMap::new();
    // success: false under a 200.
    match parse_export_reply(
        200,
        &h,
        br#"{"success":false,"errors":[{"code":7003,"message":"Could not route"}],"result":{"status":"active"}}"#,
        1 << 20,
    ) {
        Err(ReplyError::Fatal(Error::Api(api))) => {
            assert_eq!(api.status, 200);
            assert_eq!(api.code(), Some(7003));
        }
        other => panic!("{other:?}"),
    }
    // A 4xx whose JSON claims success.
    match parse_export_reply(
        400,
        &h,
        br#"{"success":true,"result":{"status":"active"}}"#,
        1 << 20,
    ) {
        Err(ReplyError::Fatal(Error::Api(api))) => assert_eq!(api.status, 400),
        other => panic!("{other:?}"),
    }
    // A 5xx whose JSON has no success field: retried.
    assert!(matches!(
        parse_export_reply(503, &h, br#"{"result":{"status":"active"}}"#, 1 << 20),
        Err(ReplyError::Retry(Transient::ServerError(_)))
    ));
}
