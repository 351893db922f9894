//! Fleet export: every database of an account into one directory, under one shared request
//! budget. What both drivers share: the plan, the per-database report, the file naming and
//! the include/exclude globs. The drivers run it (`export_all`); the budget and every
//! protocol decision stay in the core.

use crate::drive::ExportOutcome;
use crate::error::Error;
use d1_export_core::wire::DatabaseInfo;
use d1_export_core::{DumpOptions, Event};
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What to export and how.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// The dump options, the same for every database.
    pub dump: DumpOptions,
    /// Exports running at once (at least 1).
    pub concurrency: usize,
    /// Only databases whose name matches one of these globs (see [`NameFilter`]); empty: all.
    pub include: Vec<String>,
    /// No database whose name matches one of these globs (see [`NameFilter`]).
    pub exclude: Vec<String>,
    /// Skip a database whose current bookmark equals the one its previous export recorded.
    pub skip_unchanged: bool,
    /// Page size of the database list.
    pub per_page: u32,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            dump: DumpOptions::default(),
            concurrency: 4,
            include: Vec::new(),
            exclude: Vec::new(),
            skip_unchanged: false,
            per_page: 100,
        }
    }
}

impl FleetOptions {
    /// The databases to export, in listing order: selected by the globs, each once.
    pub fn select(&self, listed: Vec<DatabaseInfo>) -> Vec<DatabaseInfo> {
        let filter = self.filter();
        let mut seen = std::collections::HashSet::new();
        listed
            .into_iter()
            .filter(|d| filter.selects(&d.name) && seen.insert(d.uuid.clone()))
            .collect()
    }

    /// Whether a database of this name is selected by the globs.
    pub fn selects(&self, name: &str) -> bool {
        self.filter().selects(name)
    }

    /// The include and exclude globs, compiled once.
    pub fn filter(&self) -> NameFilter {
        NameFilter::new(&self.include, &self.exclude)
    }
}

/// Database names selected by include and exclude globs, compiled with `globset`: `*` any
/// run of characters, `?` one character, `[a-z]` a class, `{prod,staging}` alternatives,
/// `\` escapes; case-sensitive. A name is selected when it matches an include glob (or there
/// is none) and no exclude glob. A pattern that is not a valid glob (check patterns first
/// with [`check_glob`]) is matched as literal text.
#[derive(Debug, Clone)]
pub struct NameFilter {
    include: Option<GlobSet>,
    exclude: GlobSet,
}

impl NameFilter {
    /// Compiles the globs.
    pub fn new(include: &[String], exclude: &[String]) -> Self {
        Self {
            include: (!include.is_empty()).then(|| glob_set(include)),
            exclude: glob_set(exclude),
        }
    }

    /// Whether a database of this name is selected.
    pub fn selects(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|set| set.is_match(name)) && !self.exclude.is_match(name)
    }
}

/// Whether `pattern` is a valid glob for [`NameFilter`]; the error says what is wrong.
pub fn check_glob(pattern: &str) -> Result<(), globset::Error> {
    Glob::new(pattern).map(|_| ())
}

fn glob(pattern: &str) -> Glob {
    Glob::new(pattern)
        .or_else(|_| Glob::new(&globset::escape(pattern)))
        .expect("an escaped pattern is a valid glob")
}

fn glob_set(patterns: &[String]) -> GlobSet {
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        set.add(glob(p));
    }
    // Globs that compiled one by one also compile as a set.
    set.build().unwrap_or_else(|_| GlobSet::empty())
}

/// How one database ended.
#[derive(Debug)]
pub enum DatabaseStatus {
    /// Exported and verified.
    Exported(ExportOutcome),
    /// Unchanged since the previous export (same bookmark): not exported again.
    Skipped {
        /// The bookmark, the same as the previous export's.
        bookmark: String,
    },
    /// Failed; the other databases go on.
    Failed(Error),
}

/// One database's result.
#[derive(Debug)]
pub struct DatabaseReport {
    /// The database.
    pub database: DatabaseInfo,
    /// Where its dump is (or would be).
    pub path: PathBuf,
    /// How it ended.
    pub status: DatabaseStatus,
    /// When its export started.
    pub started: SystemTime,
    /// How long it took.
    pub elapsed: Duration,
}

/// What the caller of a fleet export is told, and asked.
pub trait FleetHooks {
    /// An event of one database's export.
    fn on_event(&self, database: &DatabaseInfo, event: &Event) {
        let _ = (database, event);
    }

    /// The bookmark the previous export of `database` to `path` recorded (read from its
    /// manifest), for `skip_unchanged`.
    fn previous_bookmark(&self, database: &DatabaseInfo, path: &Path) -> Option<String> {
        let _ = (database, path);
        None
    }

    /// One database is done (exported, skipped or failed).
    fn on_done(&self, report: &DatabaseReport) {
        let _ = report;
    }
}

/// Hooks that do nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHooks;

impl FleetHooks for NoHooks {}

/// `<name>-<uuid>.sql`, the name reduced to `[A-Za-z0-9_-]` (others become `_`) so no
/// database name can escape the directory.
pub fn dump_file_name(database: &DatabaseInfo) -> String {
    let name: String = database
        .name
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let uuid: String = database
        .uuid
        .chars()
        .filter(|c| c.is_ascii_hexdigit() || *c == '-')
        .take(36)
        .collect();
    format!("{name}-{uuid}.sql")
}

/// Whether `text` matches the glob `pattern`, as [`NameFilter`] matches it.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    glob(pattern).compile_matcher().is_match(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (p, t, want) in [
            ("*", "anything", true),
            ("prod-*", "prod-eu", true),
            ("prod-*", "staging-eu", false),
            ("*-eu", "prod-eu", true),
            ("db?", "db1", true),
            ("db?", "db12", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("", "", true),
            ("", "x", false),
            // Beyond `*` and `?`: classes, alternatives, escapes; a path separator is just a
            // character in a database name.
            ("db[0-9]", "db7", true),
            ("db[0-9]", "dbx", false),
            ("{prod,staging}-*", "staging-eu", true),
            ("{prod,staging}-*", "dev-eu", false),
            ("a\\*", "a*", true),
            ("a\\*", "ab", false),
            ("*", "a/b", true),
            ("Prod-*", "prod-eu", false),
            // Not a glob (an unclosed class): literal text.
            ("db[", "db[", true),
            ("db[", "db1", false),
        ] {
            assert_eq!(glob_match(p, t), want, "{p} {t}");
        }
        let o = FleetOptions {
            include: vec!["prod-*".into()],
            exclude: vec!["*-old".into()],
            ..FleetOptions::default()
        };
        assert!(o.selects("prod-eu"));
        assert!(!o.selects("prod-old"));
        assert!(!o.selects("dev"));
        assert!(FleetOptions::default().selects("anything"));
        let several = NameFilter::new(&["a*".into(), "b*".into()], &["*z".into(), "ab".into()]);
        let picked: Vec<&str> = ["a1", "b1", "c1", "az", "ab", "bz"]
            .into_iter()
            .filter(|n| several.selects(n))
            .collect();
        assert_eq!(picked, ["a1", "b1"]);
        assert!(check_glob("db[0-9]").is_ok());
        assert!(check_glob("db[").is_err());
        assert!(check_glob("{a,b").is_err());
    }

    #[test]
    fn file_names_cannot_escape() {
        let db = DatabaseInfo {
            uuid: "0a1b2c3d-0000-4000-8000-00000000abcd".into(),
            name: "../../etc/passwd".into(),
        };
        assert_eq!(
            dump_file_name(&db),
            "______etc_passwd-0a1b2c3d-0000-4000-8000-00000000abcd.sql"
        );
        let db = DatabaseInfo {
            uuid: "../x".into(),
            name: "ok".into(),
        };
        assert_eq!(
            dump_file_name(&db),
            "ok-.sql",
            "the uuid loses its dots and slash"
        );
    }
}
