//! The small accessors a driver or the CLI relies on (found missing by cargo-mutants,
//! scripts/mutants.sh).

use d1_export_core::*;
use std::time::Instant;

const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";
const DB: &str = "0a1b2c3d-0000-4000-8000-00000000abcd";

#[test]
fn ids_show_their_value() {
    let db = DatabaseId::new(&DB.to_ascii_uppercase()).unwrap();
    assert_eq!(db.as_str(), DB);
    assert_eq!(db.to_string(), DB);
    assert_eq!(AsRef::<str>::as_ref(&db), DB);
    assert_eq!(format!("{db:?}"), format!("DatabaseId({DB:?})"));
    let account: AccountId = ACCOUNT.parse().unwrap();
    assert_eq!(account.as_str(), ACCOUNT);
    assert_eq!(format!("{account:?}"), format!("AccountId({ACCOUNT:?})"));
    let name = DatabaseName::new("prod-db_1").unwrap();
    assert_eq!(name.as_str(), "prod-db_1");
    assert_eq!(name.to_string(), "prod-db_1");
}

#[test]
fn what_looks_like_a_database_id() {
    assert!(DatabaseId::looks_like(DB));
    for not in [
        "prod-db",
        "",
        "0a1b2c3d-0000-4000-8000-00000000abc",
        "0a1b2c3d_0000-4000-8000-00000000abcd",
    ] {
        assert!(!DatabaseId::looks_like(not), "{not:?}");
    }
}

#[test]
fn request_ids_count_up_from_one() {
    let now = Instant::now();
    let config = Config::new(ApiBase::default(), ApiToken::new("t").unwrap());
    let job = Job {
        account: AccountId::new(ACCOUNT).unwrap(),
        database: DatabaseId::new(DB).unwrap(),
        options: DumpOptions::default(),
    };
    let mut export = Export::new(config.clone(), job, now).unwrap();
    assert_eq!(export.reply_limit(), config.max_reply_bytes);
    assert_eq!(export.reply_limit(), 1 << 20);
    let Output::Send { id, .. } = export.poll_output() else {
        panic!("no request")
    };
    assert_eq!(id.get(), 1);
    assert_eq!(id.to_string(), "#1");
    export
        .handle_input(
            now,
            Input::Failed {
                id,
                failure: TransportFailure::Reset,
            },
        )
        .unwrap();
    let next = loop {
        match export.poll_output() {
            Output::Event(_) => {}
            Output::WaitUntil(at) => export.handle_input(at, Input::Tick).unwrap(),
            Output::Send { id, .. } => break id,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(next.get(), 2);
    assert!(next > id);
}

#[test]
fn input_errors_say_which_request() {
    let now = Instant::now();
    let config = Config::new(ApiBase::default(), ApiToken::new("t").unwrap());
    let job = Job {
        account: AccountId::new(ACCOUNT).unwrap(),
        database: DatabaseId::new(DB).unwrap(),
        options: DumpOptions::default(),
    };
    let mut export = Export::new(config, job, now).unwrap();
    let Output::Send { id, .. } = export.poll_output() else {
        panic!("no request")
    };
    let err = export
        .handle_input(now, Input::DownloadEnded { id, written: 0 })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "input DownloadEnded does not fit state awaiting reply"
    );
    export.handle_input(now, Input::Cancel).unwrap();
    let err = export
        .handle_input(
            now,
            Input::Failed {
                id,
                failure: TransportFailure::Reset,
            },
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "input for request #1, but no request is outstanding"
    );
}

#[test]
fn compatibility_values_round_trip() {
    for (c, s) in [
        (Compatibility::D1, "d1"),
        (Compatibility::Sqlite3CliOnly, "sqlite3_cli_only"),
    ] {
        assert_eq!(c.as_str(), s);
        assert_eq!(s.parse::<Compatibility>(), Ok(c));
        let options = DumpOptions {
            compatibility: Some(c),
            ..DumpOptions::default()
        };
        assert_eq!(options.to_wire().unwrap().compatibility.as_deref(), Some(s));
    }
    assert!("D1".parse::<Compatibility>().is_err());
}

/// SplitMix64, as published (Steele, Lea, Flood 2014): the generator the back-off jitter
/// documents, so a seeded run is reproducible.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn back_off_is_full_jitter_from_the_seeded_splitmix64() {
    use std::time::Duration;
    for seed in [0u64, 7, 0x0d1e_4b0e_c0ff_ee01] {
        let mut config = Config::new(ApiBase::default(), ApiToken::new("t").unwrap());
        config.retry.jitter_seed = seed;
        config.retry.max_attempts = 9;
        let policy = config.retry;
        let mut now = Instant::now();
        let mut call =
            lookup::find_database(config, &AccountId::new(ACCOUNT).unwrap(), "prod", now).unwrap();
        let mut state = seed;
        let mut retry = 0u32;
        loop {
            match call.poll_output() {
                Output::Send { id, .. } => call
                    .handle_input(
                        now,
                        Input::Failed {
                            id,
                            failure: TransportFailure::Timeout,
                        },
                    )
                    .unwrap(),
                Output::Event(Event::RetryScheduled { attempt, delay, .. }) => {
                    retry += 1;
                    assert_eq!(attempt, retry + 1);
                    let ceiling = policy
                        .initial_backoff
                        .saturating_mul(1 << (retry - 1))
                        .min(policy.max_backoff);
                    let nanos = u64::try_from(ceiling.as_nanos()).unwrap();
                    let want = Duration::from_nanos(splitmix64(&mut state) % (nanos + 1));
                    assert_eq!(delay, want, "seed {seed}, retry {retry}");
                }
                Output::WaitUntil(at) => {
                    now = at;
                    call.handle_input(now, Input::Tick).unwrap();
                }
                Output::Done(result) => {
                    assert!(matches!(result, Err(Error::GaveUp { attempts: 9, .. })));
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(retry, 8);
    }
}

#[test]
fn a_signed_url_is_shown_without_its_signature() {
    let url = SignedUrl::parse("https://bucket.test/x/db.sql?X-Amz-Signature=deadbeef").unwrap();
    assert_eq!(url.to_string(), "https://bucket.test/x/db.sql?…");
    assert_eq!(url.redacted(), url.to_string());
    assert_eq!(
        format!("{url:?}"),
        "SignedUrl(\"https://bucket.test/x/db.sql?…\")"
    );
    let plain = SignedUrl::parse("http://127.0.0.1:8787/db.sql").unwrap();
    assert_eq!(plain.to_string(), "http://127.0.0.1:8787/db.sql");
}
