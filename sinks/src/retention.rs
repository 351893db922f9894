//! Backups with `--keep N`: each run writes `<name>-<uuid>-<UTC timestamp>.sql[.gz|.zst]`
//! (`.sqlite[.gz|.zst]` with `--format sqlite`), and its manifest; afterwards the database's backups beyond the newest N are removed.
//! Only names of exactly that pattern, with that database's UUID, are ever touched, and
//! never the one the running export wrote.

use crate::compression::Compression;
use crate::s3::Bucket;
use std::path::Path;
use std::time::SystemTime;

/// `20261201T081530.123Z`: UTC, basic ISO 8601 with milliseconds (sorts as text).
pub const TIMESTAMP_LEN: usize = 20;

/// The manifest's name beside a backup.
pub fn manifest_name(file: &str) -> String {
    format!("{file}.manifest.json")
}

/// The timestamp of `at`, as it goes in a name.
pub fn timestamp(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at)
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect()
}

/// `<stem>-<timestamp>.sql<ext>`, where `stem` is `<name>-<uuid>` (the fleet's file name
/// without `.sql`).
pub fn backup_name(stem: &str, at: SystemTime, compression: Compression) -> String {
    backup_name_as(stem, at, Format::Sql, compression)
}

/// What a backup holds, by its name's first extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// SQL (`.sql`).
    Sql,
    /// A SQLite database file (`.sqlite`).
    Sqlite,
}

impl Format {
    /// The extension, with its dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Sql => ".sql",
            Self::Sqlite => ".sqlite",
        }
    }
}

/// `<stem>-<timestamp><.sql|.sqlite><ext>`: [`backup_name`] for either format.
pub fn backup_name_as(
    stem: &str,
    at: SystemTime,
    format: Format,
    compression: Compression,
) -> String {
    format!(
        "{stem}-{}{}{}",
        timestamp(at),
        format.extension(),
        compression.extension()
    )
}

fn is_timestamp(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == TIMESTAMP_LEN
        && b.iter().enumerate().all(|(i, c)| match i {
            8 => *c == b'T',
            15 => *c == b'.',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// One backup of a database, by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// The file (or object) name.
    pub file: String,
    /// Its timestamp.
    pub timestamp: String,
}

/// The timestamp of `file` if it is a backup of database `uuid` by our pattern.
pub fn parse(file: &str, uuid: &str) -> Option<String> {
    let rest = [
        ".sql.gz",
        ".sql.zst",
        ".sql",
        ".sqlite.gz",
        ".sqlite.zst",
        ".sqlite",
    ]
    .iter()
    .find_map(|ext| file.strip_suffix(ext))?;
    let split = rest.len().checked_sub(TIMESTAMP_LEN + 1)?;
    let (head, ts) = rest.split_at(split);
    let ts = ts.strip_prefix('-')?;
    if !is_timestamp(ts) {
        return None;
    }
    let name = head.strip_suffix(uuid)?.strip_suffix('-')?;
    let ours = name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ours.then(|| ts.to_owned())
}

/// The backups of database `uuid` among `names`, newest first.
pub fn backups_of<'a>(uuid: &str, names: impl IntoIterator<Item = &'a str>) -> Vec<Backup> {
    let mut found: Vec<Backup> = names
        .into_iter()
        .filter_map(|f| {
            parse(f, uuid).map(|timestamp| Backup {
                file: f.to_owned(),
                timestamp,
            })
        })
        .collect();
    found.sort_by(|a, b| b.timestamp.cmp(&a.timestamp).then(b.file.cmp(&a.file)));
    found
}

/// What to remove so that the newest `keep` backups remain (`backups` newest first): every
/// one past them, but never `running` (it stays even if a skewed clock made it look older).
pub fn beyond(backups: &[Backup], keep: usize, running: &str) -> Vec<Backup> {
    backups
        .iter()
        .skip(keep)
        .filter(|b| b.file != running)
        .cloned()
        .collect()
}

/// A place backups are kept: a local directory or a bucket prefix.
#[derive(Debug, Clone)]
pub enum Store<'a> {
    /// A directory.
    Dir(&'a Path),
    /// A bucket and a key prefix (empty or ending in `/`).
    Bucket {
        /// The bucket.
        bucket: &'a Bucket,
        /// The prefix.
        prefix: &'a str,
    },
}

impl Store<'_> {
    /// The names directly in the store.
    pub fn names(&self) -> Result<Vec<String>, String> {
        match self {
            Self::Dir(dir) => {
                let entries = std::fs::read_dir(dir)
                    .map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
                Ok(entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect())
            }
            Self::Bucket { bucket, prefix } => Ok(bucket
                .list(prefix)?
                .into_iter()
                .filter_map(|o| o.key.strip_prefix(*prefix).map(str::to_owned))
                .collect()),
        }
    }

    /// Reads a small file (a manifest); `None` if it is missing.
    pub fn read_small(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        match self {
            Self::Dir(dir) => match std::fs::read(dir.join(name)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(format!("cannot read {name}: {e}")),
            },
            Self::Bucket { bucket, prefix } => {
                bucket.get_small(&format!("{prefix}{name}"), 1 << 20)
            }
        }
    }

    fn remove(&self, name: &str) -> Result<(), String> {
        match self {
            Self::Dir(dir) => match std::fs::remove_file(dir.join(name)) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(format!("cannot remove {name}: {e}")),
            },
            Self::Bucket { bucket, prefix } => bucket.delete(&format!("{prefix}{name}")),
        }
    }

    /// The backups of database `uuid` here, newest first.
    pub fn backups(&self, uuid: &str) -> Result<Vec<Backup>, String> {
        let names = self.names()?;
        Ok(backups_of(uuid, names.iter().map(String::as_str)))
    }

    /// Removes the backups of `uuid` beyond the newest `keep` (never `running`), each with
    /// its manifest; the names removed.
    pub fn prune(&self, uuid: &str, keep: usize, running: &str) -> Result<Vec<String>, String> {
        let old = beyond(&self.backups(uuid)?, keep, running);
        let mut removed = Vec::new();
        for b in old {
            self.remove(&b.file)?;
            self.remove(&manifest_name(&b.file))?;
            removed.push(b.file);
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, UNIX_EPOCH};

    const UUID: &str = "0a1b2c3d-0000-4000-8000-00000000abcd";

    #[test]
    fn names_and_their_pattern() {
        let at = UNIX_EPOCH + Duration::from_millis(1_796_112_930_123);
        let name = backup_name(&format!("app-{UUID}"), at, Compression::Zstd);
        assert_eq!(name, format!("app-{UUID}-20261201T081530.123Z.sql.zst"));
        assert_eq!(parse(&name, UUID).as_deref(), Some("20261201T081530.123Z"));
        for not_ours in [
            format!("app-{UUID}.sql"),
            format!("app-{UUID}-20261201T081530.123Z.sql.bak"),
            format!("app-{UUID}-20261201T081530Z.sql"),
            format!("app-{UUID}-20261201T081530.123Z.sql.zst.manifest.json"),
            format!(".app-{UUID}-20261201T081530.123Z.sql.0123abcd.part"),
            format!("a b-{UUID}-20261201T081530.123Z.sql"),
            "app-0a1b2c3d-0000-4000-8000-00000000abce-20261201T081530.123Z.sql".to_owned(),
            "notes.txt".to_owned(),
        ] {
            assert_eq!(parse(&not_ours, UUID), None, "{not_ours}");
        }
        assert!(parse(&format!("-{UUID}-20261201T081530.123Z.sql.gz"), UUID).is_some());
    }

    #[test]
    fn sqlite_backups_follow_the_same_pattern() {
        let at = UNIX_EPOCH + Duration::from_millis(1_796_112_930_123);
        let name = backup_name_as(
            &format!("app-{UUID}"),
            at,
            Format::Sqlite,
            Compression::Gzip,
        );
        assert_eq!(name, format!("app-{UUID}-20261201T081530.123Z.sqlite.gz"));
        assert_eq!(parse(&name, UUID).as_deref(), Some("20261201T081530.123Z"));
        let plain = backup_name_as(
            &format!("app-{UUID}"),
            at,
            Format::Sqlite,
            Compression::None,
        );
        assert_eq!(parse(&plain, UUID).as_deref(), Some("20261201T081530.123Z"));
        assert_eq!(parse(&format!("{plain}-journal"), UUID), None);
        assert_eq!(parse(&format!("{plain}.manifest.json"), UUID), None);
    }

    proptest! {
        #[test]
        fn keeps_the_newest_n_and_the_running_one(
            stamps in proptest::collection::btree_set(0u64..10_000_000, 0..12),
            foreign in proptest::collection::vec("[a-z.]{1,12}", 0..5),
            keep in 1usize..5,
            running_pick in any::<prop::sample::Index>(),
        ) {
            let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms);
            let ours: Vec<String> = stamps
                .iter()
                .map(|ms| backup_name(&format!("db-{UUID}"), at(*ms), Compression::Gzip))
                .collect();
            let running = if ours.is_empty() { "x".to_owned() } else { running_pick.get(&ours).clone() };
            let all: Vec<String> = ours.iter().cloned().chain(foreign.iter().cloned()).collect();
            let found = backups_of(UUID, all.iter().map(String::as_str));
            prop_assert_eq!(found.len(), ours.len());
            let removed = beyond(&found, keep, &running);
            let kept: Vec<&String> = ours.iter().filter(|f| !removed.iter().any(|r| &r.file == *f)).collect();
            // Never the running one, never a foreign name.
            prop_assert!(removed.iter().all(|r| r.file != running && ours.contains(&r.file)));
            // The newest `keep` remain, plus the running one if it was older than those.
            let running_old = found.iter().position(|b| b.file == running).is_some_and(|i| i >= keep);
            prop_assert_eq!(kept.len(), ours.len().min(keep) + usize::from(running_old));
            prop_assert!(kept.contains(&&running) || !ours.contains(&running));
            // Whatever is kept besides the running one is newer than whatever is removed.
            for k in kept.iter().filter(|k| ***k != running) {
                for r in &removed {
                    prop_assert!(parse(k, UUID) > parse(&r.file, UUID));
                }
            }
        }
    }

    #[test]
    fn prunes_a_directory_but_nothing_foreign() {
        let dir = tempfile::tempdir().unwrap();
        let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms);
        let mut names = Vec::new();
        for i in 0..4 {
            let n = backup_name(&format!("db-{UUID}"), at(i * 1000), Compression::None);
            std::fs::write(dir.path().join(&n), b"x").unwrap();
            std::fs::write(dir.path().join(manifest_name(&n)), b"{}").unwrap();
            names.push(n);
        }
        for foreign in ["notes.txt", &format!("db-{UUID}.sql")] {
            std::fs::write(dir.path().join(foreign), b"keep me").unwrap();
        }
        let store = Store::Dir(dir.path());
        let removed = store.prune(UUID, 2, &names[3]).unwrap();
        assert_eq!(removed, vec![names[1].clone(), names[0].clone()]);
        let mut left = store.names().unwrap();
        left.sort();
        let mut want = vec![
            "notes.txt".to_owned(),
            format!("db-{UUID}.sql"),
            names[2].clone(),
            manifest_name(&names[2]),
            names[3].clone(),
            manifest_name(&names[3]),
        ];
        want.sort();
        assert_eq!(left, want);
    }
}
