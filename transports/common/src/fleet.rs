//! Fleet export: every database of an account into one directory, under one shared request
//! budget. What both drivers share: the plan, the per-database report, the file naming and
//! the include/exclude globs. The drivers run it (`export_all`); the budget and every
//! protocol decision stay in the core.

use crate::drive::ExportOutcome;
use crate::error::Error;
use d1_export_core::wire::DatabaseInfo;
use d1_export_core::{DumpOptions, Event};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What to export and how.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// The dump options, the same for every database.
    pub dump: DumpOptions,
    /// Exports running at once (at least 1).
    pub concurrency: usize,
    /// Only databases whose name matches one of these globs (`*`, `?`); empty: all.
    pub include: Vec<String>,
    /// No database whose name matches one of these globs.
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
        let mut seen = std::collections::HashSet::new();
        listed
            .into_iter()
            .filter(|d| self.selects(&d.name) && seen.insert(d.uuid.clone()))
            .collect()
    }

    /// Whether a database of this name is selected by the globs.
    pub fn selects(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|g| glob_match(g, name)))
            && !self.exclude.iter().any(|g| glob_match(g, name))
    }
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

    /// Where `database`'s dump goes when not to the file at `path`: a [`Feed`](crate::Feed)
    /// (compressed, uploaded, named by time). `None` (the default): the file at `path`. Keep
    /// it quick: the async driver calls it on its runtime.
    fn open_feed(
        &self,
        database: &DatabaseInfo,
        path: &Path,
    ) -> Option<Result<crate::Feed, Error>> {
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

/// Shell-style glob: `*` any run of characters, `?` one character; everything else literal.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
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
