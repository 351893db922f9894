//! Path identifiers, validated before any request is built.
//!
//! An id that reaches a URL path must not be able to change the path: `../`, `/`, `%2F`,
//! spaces and empty strings are refused here, so a hostile id is a clear error, never a request.

use std::fmt;
use std::str::FromStr;

/// Why an id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {value:?} (expected {expected})")]
pub struct InvalidId {
    /// Which kind of id (`"account id"`, `"database id"`).
    pub kind: &'static str,
    /// What it should look like.
    pub expected: &'static str,
    /// The refused value, shortened to 64 characters and with control characters escaped.
    pub value: String,
}

fn refuse(kind: &'static str, expected: &'static str, value: &str) -> InvalidId {
    let value: String = value.chars().take(64).collect();
    InvalidId {
        kind,
        expected,
        value,
    }
}

/// A Cloudflare account id: 32 hexadecimal characters (stored lower-case).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    /// Validates an account id.
    pub fn new(value: &str) -> Result<Self, InvalidId> {
        if value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(value.to_ascii_lowercase()))
        } else {
            Err(refuse("account id", "32 hexadecimal characters", value))
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A D1 database id: a UUID `8-4-4-4-12` of hexadecimal digits (stored lower-case).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DatabaseId(String);

impl DatabaseId {
    /// Validates a database id.
    pub fn new(value: &str) -> Result<Self, InvalidId> {
        if is_uuid(value) {
            Ok(Self(value.to_ascii_lowercase()))
        } else {
            Err(refuse(
                "database id",
                "a UUID such as 0a1b2c3d-0000-4000-8000-00000000abcd",
                value,
            ))
        }
    }

    /// Whether `value` has the shape of a database id (a UUID).
    pub fn looks_like(value: &str) -> bool {
        is_uuid(value)
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_uuid(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

macro_rules! id_traits {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($t), self.0)
            }
        }
        impl FromStr for $t {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}
id_traits!(AccountId);
id_traits!(DatabaseId);

/// A database name as the lookup endpoint accepts it: 1–64 characters of ASCII letters,
/// digits, `-` and `_` (D1's naming rule), so it can go into a URL path unescaped.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct DatabaseName(String);

impl DatabaseName {
    /// Validates a database name.
    pub fn new(value: &str) -> Result<Self, InvalidId> {
        let ok = !value.is_empty()
            && value.len() <= 64
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(refuse(
                "database name",
                "1-64 ASCII letters, digits, '-' or '_'",
                value,
            ))
        }
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatabaseName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids() {
        assert!(AccountId::new("0123456789abcdef0123456789ABCDEF").is_ok());
        assert_eq!(
            AccountId::new("0123456789abcdef0123456789ABCDEF")
                .unwrap()
                .as_str(),
            "0123456789abcdef0123456789abcdef"
        );
        for bad in [
            "",
            "../../../../../../../../etc/pass",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdeg",
            "0123456789abcdef0123456789abcd%2F",
            "0123456789abcdef 123456789abcdef",
        ] {
            assert!(AccountId::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn database_ids() {
        assert!(DatabaseId::new("0a1b2c3d-0000-4000-8000-00000000abcd").is_ok());
        for bad in [
            "",
            "0a1b2c3d-0000-4000-8000-00000000abc/",
            "../1b2c3d-0000-4000-8000-00000000abcd",
            "0a1b2c3d-0000-4000-8000%2F0000000abcd",
            "0a1b2c3d 0000-4000-8000-00000000abcd",
            "0a1b2c3d-0000-4000-8000-00000000abcde",
            "my-database",
        ] {
            assert!(DatabaseId::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn names() {
        assert!(DatabaseName::new("prod-db_1").is_ok());
        for bad in ["", "a/b", "..", "a b", "a%2Fb", &"x".repeat(65)] {
            assert!(DatabaseName::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn refusal_is_bounded() {
        let e = AccountId::new(&"z".repeat(10_000)).unwrap_err();
        assert_eq!(e.value.chars().count(), 64);
        assert!(e.to_string().contains("account id"));
    }
}
