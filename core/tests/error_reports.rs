//! What a user is shown for each error (the CLI prints these), who is at fault, the hints,
//! and which errors concern the download (found missing by cargo-mutants,
//! scripts/mutants.sh).

use d1_export_core::wire::ResponseInfo;
use d1_export_core::*;
use std::time::Duration;

fn info(code: i64, message: &str) -> ResponseInfo {
    ResponseInfo {
        code,
        message: message.to_owned(),
        ..ResponseInfo::default()
    }
}

fn api(status: u16, errors: Vec<ResponseInfo>) -> ApiError {
    ApiError::new(status, errors)
}

#[test]
fn transport_failures_say_what_happened() {
    let shown: Vec<String> = [
        TransportFailure::Connect,
        TransportFailure::Timeout,
        TransportFailure::Reset,
        TransportFailure::BodyTooLarge,
        TransportFailure::Other,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        shown,
        [
            "could not connect",
            "timed out",
            "connection reset or closed early",
            "reply body over the size cap",
            "transport error",
        ]
    );
}

#[test]
fn every_hint_has_its_own_advice_worded_for_a_program() {
    let hints = [
        (Hint::Authentication, "API token"),
        (Hint::Account, "account id"),
        (Hint::NotFound, "no such database"),
        (Hint::ExportAlreadyRunning, "another export"),
        (Hint::ImportAlreadyRunning, "an import or export"),
        (Hint::VirtualTables, "DumpOptions::tables"),
        (Hint::Challenge, "firewall challenge"),
        (Hint::RateLimited, "1200 requests per 5 minutes"),
    ];
    let mut seen = std::collections::HashSet::new();
    for (hint, needle) in hints {
        let advice = hint.advice();
        assert!(advice.contains(needle), "{hint:?}: {advice}");
        assert!(seen.insert(advice), "{hint:?} shares its advice");
        // A command line's words (flags, environment variables) are the front end's.
        assert!(
            !advice.contains("--") && !advice.contains("CLOUDFLARE_"),
            "{hint:?} names a flag or variable: {advice}"
        );
    }
}

#[test]
fn hints_for_codes_statuses_and_messages() {
    let cases: &[(u16, i64, &str, Option<Hint>)] = &[
        (400, 10000, "", Some(Hint::Authentication)),
        (400, 9106, "", Some(Hint::Authentication)),
        (400, 9109, "", Some(Hint::Authentication)),
        (401, 0, "", Some(Hint::Authentication)),
        (403, 7403, "", Some(Hint::Account)),
        (400, 7404, "", Some(Hint::NotFound)),
        (400, 7003, "", Some(Hint::NotFound)),
        (404, 0, "", Some(Hint::NotFound)),
        (429, 0, "", Some(Hint::RateLimited)),
        (
            400,
            7500,
            "Currently processing a LONG-RUNNING export.",
            Some(Hint::ExportAlreadyRunning),
        ),
        (
            200,
            0,
            "cannot export databases with Virtual Tables (fts5)",
            Some(Hint::VirtualTables),
        ),
        (500, 7500, "Internal error", None),
        (403, 0, "", None),
        (400, 1000, "message", None),
    ];
    for &(status, code, message, want) in cases {
        assert_eq!(
            Hint::for_api(status, code, message),
            want,
            "{status} {code} {message:?}"
        );
    }
}

#[test]
fn api_errors_take_the_first_known_hint_and_show_every_error() {
    let e = api(
        400,
        vec![info(1000, "something"), info(7404, "Database not found")],
    );
    assert_eq!(e.hint, Some(Hint::NotFound));
    assert_eq!(e.code(), Some(1000));
    assert_eq!(
        e.to_string(),
        format!(
            "the API answered HTTP 400: [1000] something; [7404] Database not found (hint: {})",
            Hint::NotFound.advice()
        )
    );
    // No error entries: the status alone decides the hint.
    let bare = api(401, Vec::new());
    assert_eq!(bare.hint, Some(Hint::Authentication));
    assert_eq!(bare.code(), None);
    let plain = api(500, Vec::new());
    assert_eq!(plain.hint, None);
    assert_eq!(plain.to_string(), "the API answered HTTP 500");
}

#[test]
fn transients_say_what_failed_and_whose_fault() {
    let server = api(502, vec![info(7500, "Internal error")]);
    let cases: Vec<(Transient, &str, Side)> = vec![
        (
            Transient::Throttled {
                retry_after: Some(Duration::from_secs(30)),
            },
            "rate limited (HTTP 429), retry after 30s",
            Side::Service,
        ),
        (
            Transient::Throttled { retry_after: None },
            "rate limited (HTTP 429)",
            Side::Service,
        ),
        (
            Transient::ServerError(server.clone()),
            "the API answered HTTP 502: [7500] Internal error",
            Side::Service,
        ),
        (
            Transient::NotJson {
                status: 502,
                content_type: Some("text/html".into()),
            },
            "HTTP 502 with a non-JSON body (text/html)",
            Side::Service,
        ),
        (
            Transient::NotJson {
                status: 200,
                content_type: None,
            },
            "HTTP 200 with a non-JSON body (no content type)",
            Side::Service,
        ),
        (
            Transient::InvalidJson {
                status: 200,
                detail: "EOF while parsing".into(),
            },
            "HTTP 200 with invalid JSON: EOF while parsing",
            Side::Service,
        ),
        (
            Transient::MissingDownload("no signed_url was given".into()),
            "complete, but no signed_url was given",
            Side::Service,
        ),
        (
            Transient::Transport(TransportFailure::Reset),
            "connection reset or closed early",
            Side::Network,
        ),
        (
            Transient::OrphanedExport(server),
            "the API answered HTTP 502: [7500] Internal error",
            Side::Service,
        ),
        (
            Transient::UrlExpired,
            "the signed URL expired or was denied (HTTP 403)",
            Side::Service,
        ),
        (
            Transient::DownloadInterrupted { received: 1234 },
            "the download broke after 1234 bytes",
            Side::Network,
        ),
        (
            Transient::DownloadStatus(503),
            "the download answered HTTP 503",
            Side::Service,
        ),
    ];
    for (t, shown, side) in cases {
        assert_eq!(t.to_string(), shown);
        assert_eq!(t.side(), side, "{t:?}");
    }
}

#[test]
fn protocol_errors_say_what_the_service_did() {
    let cases = [
        (
            ProtocolError::ReplyTooLarge { limit: 1024 },
            "a reply body was over the 1024-byte cap",
        ),
        (
            ProtocolError::UnexpectedStatus(299),
            "unexpected HTTP status 299",
        ),
        (
            ProtocolError::UnknownStatus("paused".into()),
            "the export reported an unknown status \"paused\"",
        ),
        (
            ProtocolError::BookmarkChanged,
            "the export's bookmark changed while polling",
        ),
        (
            ProtocolError::InconsistentDownload("gap".into()),
            "inconsistent download: gap",
        ),
    ];
    for (p, shown) in cases {
        assert_eq!(p.to_string(), shown);
        assert_eq!(
            Error::Protocol(p).to_string(),
            format!("protocol error: {shown}")
        );
    }
}

#[test]
fn errors_are_shown_with_their_hints() {
    let vt = Error::ExportFailed {
        message: "cannot export databases with Virtual Tables (fts5)".into(),
        hint: Some(Hint::VirtualTables),
    };
    assert_eq!(
        vt.to_string(),
        format!(
            "the export failed: cannot export databases with Virtual Tables (fts5) (hint: {})",
            Hint::VirtualTables.advice()
        )
    );
    let plain = Error::ExportFailed {
        message: "boom".into(),
        hint: None,
    };
    assert_eq!(plain.to_string(), "the export failed: boom");
    let cases = [
        (
            Error::JobGone {
                message: "cancelled".into(),
            },
            "the service no longer knows this export: cancelled",
        ),
        (
            Error::GaveUp {
                attempts: 8,
                last: Transient::Transport(TransportFailure::Timeout),
            },
            "gave up after 8 attempts: timed out",
        ),
        (
            Error::DownloadRefused { status: 404 },
            "the download was refused with HTTP 404",
        ),
        (
            Error::DeadlineExceeded,
            "the export did not finish before its deadline",
        ),
        (Error::Cancelled, "the export was cancelled"),
    ];
    for (e, shown) in cases {
        assert_eq!(e.to_string(), shown);
    }
    let api_error = api(404, vec![info(7404, "Database not found")]);
    assert_eq!(
        Error::Api(api_error.clone()).to_string(),
        api_error.to_string()
    );
}

#[test]
fn whose_fault_each_error_is() {
    let cases = [
        (Error::Api(api(400, Vec::new())), Side::Caller),
        (Error::Api(api(499, Vec::new())), Side::Caller),
        (Error::Api(api(500, Vec::new())), Side::Service),
        (Error::Cancelled, Side::Caller),
        (
            Error::ExportFailed {
                message: String::new(),
                hint: Some(Hint::VirtualTables),
            },
            Side::Caller,
        ),
        (
            Error::ExportFailed {
                message: String::new(),
                hint: Some(Hint::ExportAlreadyRunning),
            },
            Side::Caller,
        ),
        (
            Error::ExportFailed {
                message: String::new(),
                hint: None,
            },
            Side::Service,
        ),
        (
            Error::GaveUp {
                attempts: 3,
                last: Transient::Transport(TransportFailure::Connect),
            },
            Side::Network,
        ),
        (
            Error::GaveUp {
                attempts: 3,
                last: Transient::UrlExpired,
            },
            Side::Service,
        ),
        (Error::DeadlineExceeded, Side::Network),
        (
            Error::Protocol(ProtocolError::BookmarkChanged),
            Side::Service,
        ),
        (Error::DownloadRefused { status: 404 }, Side::Service),
        (
            Error::JobGone {
                message: String::new(),
            },
            Side::Service,
        ),
    ];
    for (e, side) in cases {
        assert_eq!(e.side(), side, "{e:?}");
    }
}

#[test]
fn hints_of_errors() {
    let auth = api(401, vec![info(10000, "Authentication error")]);
    assert_eq!(Error::Api(auth.clone()).hint(), Some(Hint::Authentication));
    assert_eq!(
        Error::ExportFailed {
            message: String::new(),
            hint: Some(Hint::VirtualTables)
        }
        .hint(),
        Some(Hint::VirtualTables)
    );
    let running = api(
        400,
        vec![info(7500, "Currently processing a long-running export")],
    );
    assert_eq!(
        Error::GaveUp {
            attempts: 8,
            last: Transient::OrphanedExport(running)
        }
        .hint(),
        Some(Hint::ExportAlreadyRunning)
    );
    assert_eq!(
        Error::GaveUp {
            attempts: 8,
            last: Transient::ServerError(auth)
        }
        .hint(),
        Some(Hint::Authentication)
    );
    assert_eq!(
        Error::GaveUp {
            attempts: 8,
            last: Transient::Throttled { retry_after: None }
        }
        .hint(),
        Some(Hint::RateLimited)
    );
    for e in [
        Error::GaveUp {
            attempts: 8,
            last: Transient::Transport(TransportFailure::Timeout),
        },
        Error::DeadlineExceeded,
        Error::Cancelled,
        Error::JobGone {
            message: "cancelled".into(),
        },
    ] {
        assert_eq!(e.hint(), None, "{e:?}");
    }
}

#[test]
fn which_errors_concern_the_download() {
    let gave_up = |last| Error::GaveUp { attempts: 4, last };
    for e in [
        Error::DownloadRefused { status: 404 },
        gave_up(Transient::UrlExpired),
        gave_up(Transient::DownloadInterrupted { received: 1 }),
        gave_up(Transient::DownloadStatus(503)),
        Error::Protocol(ProtocolError::InconsistentDownload("x".into())),
    ] {
        assert!(e.is_download(), "{e:?}");
    }
    for e in [
        gave_up(Transient::Transport(TransportFailure::Reset)),
        Error::Protocol(ProtocolError::BookmarkChanged),
        Error::DeadlineExceeded,
        Error::Cancelled,
        Error::Api(api(404, Vec::new())),
    ] {
        assert!(!e.is_download(), "{e:?}");
    }
}

#[test]
fn caller_mistakes_are_explained() {
    assert_eq!(InvalidToken::Empty.to_string(), "the API token is empty");
    assert_eq!(
        InvalidToken::NotAHeaderValue.to_string(),
        "the API token holds characters not allowed in an HTTP header"
    );
    let base = ApiBase::new("http://api.example/client/v4").unwrap_err();
    assert!(
        base.to_string().starts_with("invalid API base: ")
            && base.to_string().contains("plain http"),
        "{base}"
    );
    assert_eq!(
        InvalidOptions::EmptyTableName.to_string(),
        "a table name is empty"
    );
    assert_eq!(
        InvalidOptions::CompatibilityWithPartialContents.to_string(),
        "the compatibility option cannot be combined with no-data or no-schema"
    );
    assert_eq!(
        "sqlite".parse::<Compatibility>().unwrap_err().to_string(),
        "unknown compatibility \"sqlite\" (expected \"d1\" or \"sqlite3_cli_only\")"
    );
    let id = AccountId::new("nope").unwrap_err();
    assert_eq!(
        id.to_string(),
        "invalid account id: \"nope\" (expected 32 hexadecimal characters)"
    );
    assert_eq!(
        SetupError::Options(InvalidOptions::EmptyTableName).to_string(),
        "a table name is empty"
    );
    assert_eq!(
        SetupError::Uri("bad".into()).to_string(),
        "cannot form the export URL: bad"
    );
    assert_eq!(
        SetupError::Policy("max_attempts is zero").to_string(),
        "invalid policy: max_attempts is zero"
    );
}

#[test]
fn an_api_base_shows_itself() {
    let base = ApiBase::new("https://api.test/client/v4/").unwrap();
    assert_eq!(
        format!("{base:?}"),
        "ApiBase(\"https://api.test/client/v4\")"
    );
    assert_eq!(base.to_string(), "https://api.test/client/v4");
}
