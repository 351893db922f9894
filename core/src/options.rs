//! What to dump: the `dump_options` of every request of one export.

use crate::wire::WireDumpOptions;

/// Which parts of each table go into the dump (`no_data` / `no_schema`, which conflict).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Contents {
    /// Table definitions and rows (the default).
    #[default]
    SchemaAndData,
    /// Only the table definitions (`no_data: true`).
    SchemaOnly,
    /// Only the rows (`no_schema: true`).
    DataOnly,
}

/// The undocumented `dump_options.compatibility` option (wrangler 4.164).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compatibility {
    /// `"d1"`: a dump D1 can import (the service's default).
    D1,
    /// `"sqlite3_cli_only"`: like `sqlite3 .dump`, virtual tables included; D1 cannot import it.
    Sqlite3CliOnly,
}

impl Compatibility {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::D1 => "d1",
            Self::Sqlite3CliOnly => "sqlite3_cli_only",
        }
    }
}

impl std::str::FromStr for Compatibility {
    type Err = InvalidOptions;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "d1" => Ok(Self::D1),
            "sqlite3_cli_only" => Ok(Self::Sqlite3CliOnly),
            _ => Err(InvalidOptions::UnknownCompatibility(
                s.chars().take(64).collect(),
            )),
        }
    }
}

/// The dump options of one export. Validated by [`DumpOptions::validate`] (called by
/// [`crate::Export::new`]) before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DumpOptions {
    /// Schema, data or both.
    pub contents: Contents,
    /// Only these tables; empty means all tables.
    pub tables: Vec<String>,
    /// The compatibility mode, when one is asked for explicitly.
    pub compatibility: Option<Compatibility>,
}

/// Why dump options were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidOptions {
    /// `compatibility` together with schema-only or data-only, which the service refuses.
    #[error("the compatibility option cannot be combined with no-data or no-schema")]
    CompatibilityWithPartialContents,
    /// An empty table name in `tables`.
    #[error("a table name is empty")]
    EmptyTableName,
    /// A compatibility value other than `d1` or `sqlite3_cli_only`.
    #[error("unknown compatibility {0:?} (expected \"d1\" or \"sqlite3_cli_only\")")]
    UnknownCompatibility(String),
}

impl DumpOptions {
    /// Checks the documented conflicts.
    pub fn validate(&self) -> Result<(), InvalidOptions> {
        if self.compatibility.is_some() && self.contents != Contents::SchemaAndData {
            return Err(InvalidOptions::CompatibilityWithPartialContents);
        }
        if self.tables.iter().any(|t| t.is_empty()) {
            return Err(InvalidOptions::EmptyTableName);
        }
        Ok(())
    }

    /// The wire form, `None` when every option is at its default (the body then omits
    /// `dump_options`, as wrangler does). Public only with the `fuzzing` feature.
    #[cfg(feature = "fuzzing")]
    pub fn to_wire(&self) -> Option<WireDumpOptions> {
        self.wire()
    }

    /// The wire form (see `to_wire`), for the request builder.
    pub(crate) fn wire(&self) -> Option<WireDumpOptions> {
        let wire = WireDumpOptions {
            no_data: self.contents == Contents::SchemaOnly,
            no_schema: self.contents == Contents::DataOnly,
            tables: self.tables.clone(),
            compatibility: self.compatibility.map(|c| c.as_str().to_owned()),
        };
        (wire != WireDumpOptions::default()).then_some(wire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts() {
        let mut o = DumpOptions {
            contents: Contents::SchemaOnly,
            compatibility: Some(Compatibility::Sqlite3CliOnly),
            ..Default::default()
        };
        assert_eq!(
            o.validate(),
            Err(InvalidOptions::CompatibilityWithPartialContents)
        );
        o.contents = Contents::SchemaAndData;
        assert_eq!(o.validate(), Ok(()));
        o.tables = vec!["a".into(), String::new()];
        assert_eq!(o.validate(), Err(InvalidOptions::EmptyTableName));
        assert!("sqlite3".parse::<Compatibility>().is_err());
    }

    #[test]
    fn wire_form() {
        assert_eq!(DumpOptions::default().wire(), None);
        let o = DumpOptions {
            contents: Contents::DataOnly,
            tables: vec!["users".into()],
            compatibility: None,
        };
        let w = o.wire().unwrap();
        assert!(w.no_schema && !w.no_data);
        assert_eq!(
            serde_json::to_string(&w).unwrap(),
            r#"{"no_schema":true,"tables":["users"]}"#
        );
    }
}
