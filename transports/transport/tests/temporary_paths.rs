//! Temporary paths go when dropped and when the program exits at once (a second Ctrl-C),
//! unless persisted or kept. Alone in its test binary: the exit path empties the process's
//! list of temporary files, which other tests' files would be on.

use d1_export_transport::{remove_temporary_files, TemporaryPath};

#[test]
fn temporary_paths_go_on_drop_and_on_exit_unless_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join(".db.sql.scratch.tmp");
    std::fs::write(&scratch, b"x").unwrap();
    drop(TemporaryPath::new(scratch.clone()));
    assert!(!scratch.exists(), "dropped: removed");
    // A directory with files in it, removed by the exit path without any drop.
    let staging = dir.path().join(".staging");
    std::fs::create_dir(&staging).unwrap();
    std::fs::write(staging.join("a.sql"), b"x").unwrap();
    let guard = TemporaryPath::new(staging.clone());
    remove_temporary_files();
    assert!(!staging.exists(), "the exit path removes directories too");
    std::mem::forget(guard);
    // Persisted: renamed into place and no longer tracked.
    let made = dir.path().join(".db.sqlite.tmp");
    std::fs::write(&made, b"db").unwrap();
    let dest = dir.path().join("db.sqlite");
    TemporaryPath::new(made.clone()).persist(&dest).unwrap();
    remove_temporary_files();
    assert_eq!(std::fs::read(&dest).unwrap(), b"db");
    assert!(!made.exists());
    // Kept where it is.
    let kept = TemporaryPath::new(dest.clone()).keep();
    remove_temporary_files();
    assert!(kept.exists());
}
