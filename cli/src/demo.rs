//! `d1-export --demo`: the whole product, no account needed. A sample database is generated,
//! the emulator serves it on loopback, and the real client path (same drivers, same code)
//! exports it; the file is then checked byte for byte against the emulator's own dump.

use crate::exit::{Code, Failure};
use d1_emulator::{DumpOptions as EmulatorDumpOptions, Emulator, EmulatorConfig};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The demo database's id.
pub const DEMO_DATABASE: &str = "d1d1d1d1-0000-4000-8000-000000000001";
/// The demo database's name.
pub const DEMO_NAME: &str = "demo-shop";

/// A running demo environment: the emulator and the sample database behind it.
pub struct Demo {
    /// The emulator.
    pub emulator: Emulator,
    _dir: TempDir,
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Demo {
    /// Generates the sample (about 2 MB) and starts the emulator.
    pub fn start() -> Result<Self, Failure> {
        let dir = std::env::temp_dir().join(format!("d1-export-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
        let dir = TempDir(dir);
        let db = dir.0.join("demo-shop.sqlite");
        d1_emulator::sample::generate(&db, 2 << 20)
            .map_err(|e| fail(format!("cannot generate the sample database: {e}")))?;
        let config = EmulatorConfig::new()
            .database(DEMO_DATABASE, &db)
            .database_name(DEMO_DATABASE, DEMO_NAME)
            .work_dir(dir.0.join("emulator"))
            .polls_before_complete(2)
            .poll_hold(Duration::from_millis(300));
        let emulator =
            Emulator::start(config).map_err(|e| fail(format!("cannot start the emulator: {e}")))?;
        Ok(Self {
            emulator,
            _dir: dir,
        })
    }

    /// Checks the exported file against the emulator's own dump of the same database.
    pub fn verify(&self, output: &Path) -> Result<String, Failure> {
        let expected = self
            .emulator
            .dump_bytes(DEMO_DATABASE, &EmulatorDumpOptions::default())
            .map_err(|e| fail(format!("the emulator cannot dump: {e}")))?;
        let got = std::fs::read(output)
            .map_err(|e| fail(format!("cannot read {}: {e}", output.display())))?;
        if got != expected {
            return Err(fail(format!(
                "{} differs from the emulator's dump ({} bytes, expected {})",
                output.display(),
                got.len(),
                expected.len()
            )));
        }
        let text = String::from_utf8_lossy(&got);
        let inserts = text.matches("\nINSERT INTO ").count();
        let tables = text.matches("\nCREATE TABLE ").count();
        let stats = self.emulator.stats();
        Ok(format!(
            "verified: byte-identical to the service's dump ({tables} tables, {inserts} rows); the service saw {} export request(s) and {} download(s), {} of them carrying the API token",
            stats.polls_per_job.values().sum::<u64>(),
            stats.downloads_completed,
            stats.downloads_with_authorization,
        ))
    }
}

fn fail(message: String) -> Failure {
    Failure::new(Code::Other, message)
}
