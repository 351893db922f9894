//! The exact wording of the validation errors a caller meets before any request: scripts and
//! users read these, so their `Display` is pinned here (whatever implements it).

use d1_export_core::{
    AccountId, ApiBase, ApiToken, Compatibility, Contents, DatabaseId, DumpOptions, InvalidApiBase,
    InvalidOptions, Md5, SetupError,
};
use std::error::Error as _;

#[test]
fn id_errors_name_the_kind_the_value_and_the_expected_shape() {
    let e = AccountId::new("../etc").unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("invalid account id: \"../etc\" (expected {})", e.expected)
    );
    assert_eq!(e.kind, "account id");
    let e = DatabaseId::new("a b").unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("invalid database id: \"a b\" (expected {})", e.expected)
    );
    // Control characters in the refused value are escaped, not written raw.
    let e = DatabaseId::new("x\u{1b}[2J").unwrap_err();
    assert!(e.to_string().contains("\\u{1b}[2J"), "{e}");
    assert!(e.source().is_none());
}

#[test]
fn token_errors() {
    assert_eq!(
        ApiToken::new("  ").unwrap_err().to_string(),
        "the API token is empty"
    );
    assert_eq!(
        ApiToken::new("a\u{7}b").unwrap_err().to_string(),
        "the API token holds characters not allowed in an HTTP header"
    );
}

#[test]
fn api_base_and_md5_errors() {
    let e = ApiBase::new("http://example.com/client/v4").unwrap_err();
    assert!(e.to_string().starts_with("invalid API base: "), "{e}");
    assert_eq!(
        InvalidApiBase("why".into()).to_string(),
        "invalid API base: why"
    );
    assert_eq!(
        Md5::from_hex("xyz").unwrap_err().to_string(),
        "an md5 is 32 hexadecimal digits"
    );
}

#[test]
fn option_and_setup_errors() {
    let partial = DumpOptions {
        contents: Contents::SchemaOnly,
        tables: Vec::new(),
        compatibility: Some(Compatibility::D1),
    };
    let e = partial.validate().unwrap_err();
    assert_eq!(e, InvalidOptions::CompatibilityWithPartialContents);
    assert_eq!(
        e.to_string(),
        "the compatibility option cannot be combined with no-data or no-schema"
    );
    assert_eq!(
        InvalidOptions::EmptyTableName.to_string(),
        "a table name is empty"
    );
    assert_eq!(
        InvalidOptions::UnknownCompatibility("x\"y".into()).to_string(),
        "unknown compatibility \"x\\\"y\" (expected \"d1\" or \"sqlite3_cli_only\")"
    );
    assert_eq!(
        SetupError::Options(InvalidOptions::EmptyTableName).to_string(),
        "a table name is empty"
    );
    assert!(SetupError::Options(InvalidOptions::EmptyTableName)
        .source()
        .is_none());
    assert_eq!(
        SetupError::Uri("bad".into()).to_string(),
        "cannot form the export URL: bad"
    );
    assert_eq!(
        SetupError::Policy("min_interval above max_gap").to_string(),
        "invalid policy: min_interval above max_gap"
    );
}
