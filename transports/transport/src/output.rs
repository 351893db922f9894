//! Atomic output: the dump is written to a temporary file beside the destination and renamed
//! over it only once complete; on failure, cancellation or a dropped future the temporary
//! file is removed and an existing destination is left untouched.

use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A temporary `.<name>.<random>.part` file beside a destination. Dropping it (without
/// [`persist`](Self::persist)) removes the file.
#[derive(Debug)]
pub struct PartFile {
    path: PathBuf,
    armed: bool,
}

/// The directory a destination lives in (`.` for a bare file name).
pub fn parent_dir(dest: &Path) -> &Path {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Whether `name` is the name of one of our temporary files for `dest_name`.
pub fn is_part_file_name(name: &str, dest_name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|n| n.strip_prefix(dest_name))
        .and_then(|n| n.strip_prefix('.'))
        .and_then(|n| n.strip_suffix(".part"))
        .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn random_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let h = RandomState::new().hash_one((std::process::id(), nanos, n));
    format!("{h:016x}")
}

impl PartFile {
    /// Creates a new, empty temporary file beside `dest` (opened for reading and writing).
    ///
    /// Fails if `dest` is a directory or has no file name, or if its directory cannot be
    /// written.
    pub fn create_beside(dest: &Path) -> io::Result<(Self, File)> {
        let name = dest
            .file_name()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the output path has no file name",
                )
            })?
            .to_string_lossy()
            .into_owned();
        if dest.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the output path is a directory",
            ));
        }
        let dir = parent_dir(dest);
        let mut last = None;
        for _ in 0..16 {
            let path = dir.join(format!(".{name}.{}.part", random_suffix()));
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(file) => return Ok((Self { path, armed: true }, file)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("cannot name a temporary file")))
    }

    /// The temporary file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the temporary file over `dest` (replacing it) and syncs the directory so the
    /// rename is durable. Flush and `sync_all` the file before calling this. On error the
    /// temporary file is removed.
    pub fn persist(mut self, dest: &Path) -> io::Result<()> {
        std::fs::rename(&self.path, dest)?;
        self.armed = false;
        sync_dir(parent_dir(dest));
        Ok(())
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) {
    // Best effort: some file systems refuse to fsync a directory.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) {}

impl Drop for PartFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn dropped_part_is_removed_and_destination_kept() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("db.sql");
        std::fs::write(&dest, b"old").unwrap();
        let (part, mut f) = PartFile::create_beside(&dest).unwrap();
        let n = part
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(is_part_file_name(&n, "db.sql"), "{n}");
        f.write_all(b"new").unwrap();
        drop(part);
        assert_eq!(names(dir.path()), ["db.sql"]);
        assert_eq!(std::fs::read(&dest).unwrap(), b"old");
    }

    #[test]
    fn persisted_part_replaces_destination() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("db.sql");
        std::fs::write(&dest, b"old").unwrap();
        let (part, mut f) = PartFile::create_beside(&dest).unwrap();
        f.write_all(b"new").unwrap();
        f.sync_all().unwrap();
        part.persist(&dest).unwrap();
        assert_eq!(names(dir.path()), ["db.sql"]);
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
    }

    #[test]
    fn refuses_directories() {
        let dir = tempfile::tempdir().unwrap();
        assert!(PartFile::create_beside(dir.path()).is_err());
        assert!(!is_part_file_name(".db.sql.part", "db.sql"));
        assert!(!is_part_file_name("db.sql", "db.sql"));
    }
}
