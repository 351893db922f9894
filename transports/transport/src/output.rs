//! Atomic, private output: the dump is written to a temporary file beside the destination and
//! renamed over it only once complete; on failure, cancellation or a dropped future the
//! temporary file is removed and an existing destination is left untouched.
//!
//! The files hold a database, so they are private: a new temporary file is created `0600`
//! whatever the umask; when it replaces an existing file it takes that file's mode (never a
//! wider one). A temporary file of ours left behind by a crashed run for the same
//! destination is removed by the next run (a live run holds a lock on its own, so it is never
//! taken for a stale one).

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
    /// An exclusive lock held for the file's life: "this one is not stale".
    _lock: Option<Lock>,
}

#[cfg(unix)]
type Lock = nix::fcntl::Flock<File>;
#[cfg(not(unix))]
type Lock = ();

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

/// The temporary files this process has open (for [`remove_temporary_files`]).
static LIVE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes every temporary file (and [`TemporaryPath`] directory) of this process that is
/// still open: for a program about to exit at once (a second Ctrl-C) without unwinding to the
/// owners' drops.
pub fn remove_temporary_files() {
    for path in live().drain(..) {
        remove_path(&path);
    }
}

fn remove_path(path: &Path) {
    if path.is_dir() {
        let _ = std::fs::remove_dir_all(path);
    } else {
        let _ = std::fs::remove_file(path);
    }
}

/// A temporary file or directory of this process that is not a [`PartFile`] (a scratch
/// database, a staging directory): removed when dropped, and by [`remove_temporary_files`]
/// when the program exits at once, unless it was [persisted](Self::persist) or
/// [kept](Self::keep).
#[derive(Debug)]
pub struct TemporaryPath {
    path: PathBuf,
    armed: bool,
}

impl TemporaryPath {
    /// Tracks `path` (which the caller creates, privately) from now on.
    pub fn new(path: PathBuf) -> Self {
        live().push(path.clone());
        Self { path, armed: true }
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames it over `dest` (nothing to rename when it is `dest` already) and syncs the
    /// directory, so the result is durable; it is then no longer temporary. Sync the file
    /// itself first. On error it is removed.
    pub fn persist(mut self, dest: &Path) -> io::Result<()> {
        if self.path != dest {
            std::fs::rename(&self.path, dest)?;
        }
        self.disarm();
        sync_dir(parent_dir(dest));
        Ok(())
    }

    /// Stops tracking it, leaving it where it is.
    pub fn keep(mut self) -> PathBuf {
        self.disarm();
        std::mem::take(&mut self.path)
    }

    fn disarm(&mut self) {
        self.armed = false;
        live().retain(|p| *p != self.path);
    }
}

impl Drop for TemporaryPath {
    fn drop(&mut self) {
        if self.armed {
            remove_path(&self.path);
            live().retain(|p| *p != self.path);
        }
    }
}

fn invalid(message: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Checks that a file can be written at `dest` before anything is sent: its directory exists
/// and is writable (a probe temporary file is created and removed), and `dest` is not a
/// directory. Also removes stale temporary files of ours for `dest`.
pub fn check_destination(dest: &Path) -> io::Result<()> {
    PartFile::create_beside(dest).map(drop)
}

impl PartFile {
    /// Creates a new, empty temporary file beside `dest` (opened for reading and writing),
    /// private (`0600`, or the mode of the file it will replace), after removing stale ones
    /// of ours for `dest`.
    ///
    /// Fails if `dest` is a directory or has no file name, or if its directory does not
    /// exist or cannot be written.
    pub fn create_beside(dest: &Path) -> io::Result<(Self, File)> {
        let name = dest
            .file_name()
            .ok_or_else(|| invalid("the output path has no file name"))?
            .to_string_lossy()
            .into_owned();
        if dest.is_dir() {
            return Err(invalid("the output path is a directory"));
        }
        let dir = parent_dir(dest);
        if !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "the output directory does not exist",
            ));
        }
        remove_stale(dir, &name);
        let mode = replaced_mode(dest);
        let mut last = None;
        for _ in 0..16 {
            let path = dir.join(format!(".{name}.{}.part", random_suffix()));
            match create_private(&path) {
                Ok(file) => {
                    live().push(path.clone());
                    let part = Self {
                        _lock: lock(&path),
                        path,
                        armed: true,
                    };
                    if let Some(mode) = mode {
                        set_mode(&file, mode)?;
                    }
                    return Ok((part, file));
                }
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
        live().retain(|p| *p != self.path);
        sync_dir(parent_dir(dest));
        Ok(())
    }
}

/// Writes `bytes` to `dest` atomically and privately, like a dump (for a manifest beside it).
pub fn write_private(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    use io::Write;
    let (part, mut file) = PartFile::create_beside(dest)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    part.persist(dest)
}

#[cfg(unix)]
fn create_private(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
}

/// The mode the replacement of `dest` gets: the existing file's, never wider than it.
#[cfg(unix)]
fn replaced_mode(dest: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(dest).ok().filter(|m| m.is_file())?;
    Some(meta.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn replaced_mode(_dest: &Path) -> Option<u32> {
    None
}

#[cfg(unix)]
fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &File, _mode: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn lock(path: &Path) -> Option<Lock> {
    use nix::fcntl::{Flock, FlockArg};
    let file = File::open(path).ok()?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).ok()
}

#[cfg(not(unix))]
fn lock(_path: &Path) -> Option<Lock> {
    None
}

/// Removes our temporary files for `name` in `dir` that no live run holds.
fn remove_stale(dir: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(n) = file_name.to_str() else {
            continue;
        };
        if !is_part_file_name(n, name) || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        // Taking the lock proves no live run holds the file (on non-Unix: never removed).
        if cfg!(unix) && lock(&path).is_some() {
            let _ = std::fs::remove_file(&path);
        }
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
            live().retain(|p| *p != self.path);
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
    fn refuses_directories_and_missing_directories() {
        let dir = tempfile::tempdir().unwrap();
        assert!(PartFile::create_beside(dir.path()).is_err());
        assert!(check_destination(&dir.path().join("nope/db.sql")).is_err());
        assert!(check_destination(&dir.path().join("db.sql")).is_ok());
        assert!(names(dir.path()).is_empty(), "the probe is removed");
        assert!(!is_part_file_name(".db.sql.part", "db.sql"));
        assert!(!is_part_file_name("db.sql", "db.sql"));
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private_and_a_replacement_is_never_wider() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("db.sql");
        write_private(&dest, b"one").unwrap();
        assert_eq!(mode(&dest), 0o600);
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_private(&dest, b"two").unwrap();
        assert_eq!(mode(&dest), 0o640, "the replaced file's mode is kept");
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o400)).unwrap();
        write_private(&dest, b"three").unwrap();
        assert_eq!(mode(&dest), 0o400);
        assert_eq!(std::fs::read(&dest).unwrap(), b"three");
    }

    #[cfg(unix)]
    #[test]
    fn a_stale_part_is_removed_but_a_live_one_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("db.sql");
        let stale = dir.path().join(".db.sql.00000000deadbeef.part");
        let other = dir.path().join(".other.sql.00000000deadbeef.part");
        std::fs::write(&stale, b"crashed").unwrap();
        std::fs::write(&other, b"another destination").unwrap();
        let (live, _f) = PartFile::create_beside(&dest).unwrap();
        assert!(
            !stale.exists(),
            "the stale part of a crashed run is removed"
        );
        assert!(
            other.exists(),
            "another destination's part is not ours to remove"
        );
        let (second, _g) = PartFile::create_beside(&dest).unwrap();
        assert!(live.path().exists(), "a live run's part is kept");
        drop((live, second));
        assert_eq!(names(dir.path()), [".other.sql.00000000deadbeef.part"]);
    }
}
