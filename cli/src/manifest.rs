//! `<FILE>.manifest.json`: what was exported, when, and how to check it.

use d1_export_core::{Contents, DumpOptions};
use d1_export_transport::ExportOutcome;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The manifest written beside a dump, and the object `--json` prints.
#[derive(Debug, Serialize)]
pub struct Manifest {
    /// The database's UUID.
    pub database_id: String,
    /// The database's name, when known.
    pub database_name: Option<String>,
    /// The time-travel bookmark the dump was taken at.
    pub bookmark: Option<String>,
    /// The service's name for the dump file.
    pub service_filename: String,
    /// Where the dump was written (`-` for stdout).
    pub output: String,
    /// The dump options.
    pub dump_options: ManifestOptions,
    /// Bytes of the dump.
    pub bytes: u64,
    /// SHA-256 of the dump, lower-case hex.
    pub sha256: String,
    /// RFC 3339 start time.
    pub started_at: String,
    /// RFC 3339 end time.
    pub finished_at: String,
    /// Wall time in milliseconds.
    pub duration_ms: u128,
    /// Which transport ran it.
    pub driver: &'static str,
    /// `d1-export <version>`.
    pub tool: String,
    /// With --verify, --format sqlite or --importable: what the scratch load found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<crate::restore_ready::Verified>,
    /// With --format sqlite or --importable: how the output was made from the download.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_ready: Option<crate::restore_ready::Made>,
}

/// Dump options as the manifest records them.
#[derive(Debug, Serialize)]
pub struct ManifestOptions {
    /// `--no-data`.
    pub no_data: bool,
    /// `--no-schema`.
    pub no_schema: bool,
    /// `--table`s (empty: all).
    pub tables: Vec<String>,
    /// `--compatibility`.
    pub compatibility: Option<&'static str>,
}

impl From<&DumpOptions> for ManifestOptions {
    fn from(o: &DumpOptions) -> Self {
        Self {
            no_data: o.contents == Contents::SchemaOnly,
            no_schema: o.contents == Contents::DataOnly,
            tables: o.tables.clone(),
            compatibility: o.compatibility.map(|c| c.as_str()),
        }
    }
}

/// What a manifest is built from.
pub struct Facts<'a> {
    /// The database id.
    pub database_id: &'a str,
    /// The database name, if known.
    pub database_name: Option<&'a str>,
    /// The output path (or `-`).
    pub output: &'a Path,
    /// The options.
    pub options: &'a DumpOptions,
    /// The outcome.
    pub outcome: &'a ExportOutcome,
    /// Start and end.
    pub started: SystemTime,
    /// End.
    pub finished: SystemTime,
    /// The transport.
    pub driver: &'static str,
}

impl Manifest {
    /// Builds the manifest.
    pub fn new(f: Facts<'_>) -> Self {
        Self {
            database_id: f.database_id.to_owned(),
            database_name: f.database_name.map(str::to_owned),
            bookmark: f.outcome.bookmark.clone(),
            service_filename: f.outcome.filename.clone(),
            output: f.output.display().to_string(),
            dump_options: f.options.into(),
            bytes: f.outcome.bytes,
            sha256: f.outcome.sha256.clone(),
            started_at: humantime::format_rfc3339_millis(f.started).to_string(),
            finished_at: humantime::format_rfc3339_millis(f.finished).to_string(),
            duration_ms: f
                .finished
                .duration_since(f.started)
                .unwrap_or_default()
                .as_millis(),
            driver: f.driver,
            tool: format!("d1-export {}", env!("CARGO_PKG_VERSION")),
            verified: None,
            restore_ready: None,
        }
    }

    /// `<FILE>.manifest.json` for a dump at `output`.
    pub fn path_for(output: &Path) -> PathBuf {
        let mut name = output.file_name().unwrap_or_default().to_os_string();
        name.push(".manifest.json");
        output.with_file_name(name)
    }

    /// Writes the manifest atomically and privately, like the dump (a private temporary
    /// file, sync, rename; an existing manifest's mode is kept, never widened).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        d1_export_transport::write_private(path, &bytes)
    }
}
