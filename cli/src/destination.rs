//! Where the CLI writes a dump and its manifest: a plain local file or stdout (the drivers'
//! own paths), or a sink destination — compressed, or in S3-compatible object storage — and,
//! for `--all`, a directory or a bucket prefix with the names `--keep` uses.

use crate::args::CompressArg;
use crate::driver::{Destination as PlainDestination, Driver};
use crate::exit::{Code, Failure};
use crate::manifest::Manifest;
use d1_export_core::{Event, Job};
use d1_export_sinks::retention::{self, Store};
use d1_export_sinks::{Bucket, Compression, Destination, S3Settings, S3Url, Target};
use d1_export_transport::{Error, ExportOutcome, Feed, TemporaryPath};
use std::path::{Path, PathBuf};

/// Whether `output` names object storage (`s3://…`).
pub fn is_object_storage(output: &Path) -> bool {
    S3Url::is_s3(&output.to_string_lossy())
}

/// The compression asked for, else the one `name`'s extension says.
pub fn compression(arg: Option<CompressArg>, name: &str) -> Compression {
    match arg {
        Some(CompressArg::None) => Compression::None,
        Some(CompressArg::Gzip) => Compression::Gzip,
        Some(CompressArg::Zstd) => Compression::Zstd,
        None => Compression::from_name(name),
    }
}

/// Opens the bucket of `url` with the standard AWS environment (a usage error if it is
/// incomplete or names a plain-http endpoint off loopback).
fn open_bucket(url: &S3Url) -> Result<Bucket, Failure> {
    let settings = S3Settings::from_env().map_err(Failure::usage)?;
    Bucket::open(&settings, &url.bucket).map_err(Failure::usage)
}

/// Where a manifest goes.
#[derive(Debug)]
pub enum ManifestAt {
    /// A local file.
    File(PathBuf),
    /// An object.
    Object {
        /// The bucket.
        bucket: Bucket,
        /// The key.
        key: String,
    },
    /// Nowhere (stdout output, or `--no-manifest`).
    Nowhere,
}

impl ManifestAt {
    /// Writes it (atomically: a temporary file renamed, or one PUT).
    pub fn write(&self, manifest: &Manifest) -> Result<(), String> {
        match self {
            Self::File(path) => manifest
                .write(path)
                .map_err(|e| format!("{}: {e}", path.display())),
            Self::Object { bucket, key } => {
                let mut bytes = serde_json::to_vec_pretty(manifest).map_err(|e| e.to_string())?;
                bytes.push(b'\n');
                bucket.put_small(key, bytes)
            }
            Self::Nowhere => Ok(()),
        }
    }
}

/// One export's output.
#[derive(Debug)]
pub enum Output {
    /// Plain SQL into a local file, by the driver (any resume).
    PlainFile(PathBuf),
    /// Plain SQL to stdout.
    PlainStdout,
    /// Through a sink: compressed, or uploaded.
    Sink(Destination),
}

impl Output {
    /// Plans `--output` (a path, `-`, or `s3://bucket/key`) with `--compress`.
    pub fn plan(output: &Path, compress: Option<CompressArg>) -> Result<Self, Failure> {
        let text = output.to_string_lossy();
        if S3Url::is_s3(&text) {
            let url = S3Url::parse(&text).map_err(|e| Failure::usage(format!("--output: {e}")))?;
            if url.key.is_empty() || url.key.ends_with('/') {
                return Err(Failure::usage(format!(
                    "--output {text}: give the object's key, not a prefix"
                )));
            }
            let bucket = open_bucket(&url)?;
            return Ok(Self::Sink(Destination {
                compression: compression(compress, &url.key),
                target: Target::Object {
                    bucket,
                    key: url.key,
                },
            }));
        }
        let kind = compression(compress, &text);
        Ok(match (output == Path::new("-"), kind) {
            (true, Compression::None) => Self::PlainStdout,
            (true, kind) => Self::Sink(Destination {
                target: Target::Stdout,
                compression: kind,
            }),
            (false, Compression::None) => Self::PlainFile(output.to_owned()),
            (false, kind) => Self::Sink(Destination {
                target: Target::File(output.to_owned()),
                compression: kind,
            }),
        })
    }

    /// Whether the dump goes to stdout.
    pub fn is_stdout(&self) -> bool {
        matches!(
            self,
            Self::PlainStdout
                | Self::Sink(Destination {
                    target: Target::Stdout,
                    ..
                })
        )
    }

    /// The local file written, if any.
    pub fn local_file(&self) -> Option<&Path> {
        match self {
            Self::PlainFile(p)
            | Self::Sink(Destination {
                target: Target::File(p),
                ..
            }) => Some(p),
            _ => None,
        }
    }

    /// How the written file is compressed.
    pub fn compression(&self) -> Compression {
        match self {
            Self::Sink(d) => d.compression,
            _ => Compression::None,
        }
    }

    /// Runs the export into it.
    pub fn export(
        &self,
        driver: &Driver,
        job: &Job,
        on_event: impl FnMut(&Event) + Send,
    ) -> Result<ExportOutcome, Error> {
        match self {
            Self::PlainFile(p) => driver.export(job, PlainDestination::File(p), on_event),
            Self::PlainStdout => driver.export(job, PlainDestination::Stdout, on_event),
            Self::Sink(d) => driver.export_to_feed(job, d.open()?, on_event),
        }
    }

    /// Where a restore-ready output (`--verify`, `--format sqlite`, `--importable`) is made
    /// before [`deliver`](Self::deliver) writes it here: the output itself for plain local
    /// SQL, else a private file beside a local output or in the temporary directory.
    pub fn staging(&self, output: &Path) -> Staging {
        let staged = |dir: &Path, name: &str| {
            let path = dir.join(format!(".{name}.{}.staged", std::process::id()));
            Staging {
                _temporary: Some(TemporaryPath::new(path.clone())),
                path,
            }
        };
        match self {
            Self::PlainFile(p) => Staging {
                path: p.clone(),
                _temporary: None,
            },
            Self::Sink(Destination {
                target: Target::File(p),
                ..
            }) => staged(
                d1_export_sinks::target_dir(p),
                &p.file_name().unwrap_or_default().to_string_lossy(),
            ),
            _ => {
                let name = output.file_name().unwrap_or_default().to_string_lossy();
                staged(&std::env::temp_dir(), &format!("d1-export-{name}"))
            }
        }
    }

    /// Writes a restore-ready output made at `staging` here (compressed, uploaded) in one
    /// streaming pass; `outcome` describes what was made.
    pub fn deliver(
        &self,
        staging: &Staging,
        mut outcome: ExportOutcome,
    ) -> Result<ExportOutcome, Error> {
        if let Self::Sink(d) = self {
            outcome.written = Some(d.store_file(&staging.path)?);
        }
        Ok(outcome)
    }

    /// Where its manifest goes (`<output>.manifest.json`).
    pub fn manifest_at(&self) -> ManifestAt {
        match self {
            Self::PlainFile(p)
            | Self::Sink(Destination {
                target: Target::File(p),
                ..
            }) => ManifestAt::File(Manifest::path_for(p)),
            Self::Sink(Destination {
                target: Target::Object { bucket, key },
                ..
            }) => ManifestAt::Object {
                bucket: bucket.clone(),
                key: retention::manifest_name(key),
            },
            _ => ManifestAt::Nowhere,
        }
    }
}

/// A local file a restore-ready output is made at; removed on drop when it is not the
/// output itself.
#[derive(Debug)]
pub struct Staging {
    path: PathBuf,
    /// A private file of ours (removed when done, also by the signal handler's exit path);
    /// `None` when the output itself is the staging place. Held for its drop.
    _temporary: Option<TemporaryPath>,
}

impl Staging {
    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The place `--all` writes to: a directory or a bucket prefix.
#[derive(Debug)]
pub enum Place {
    /// A local directory.
    Dir(PathBuf),
    /// A bucket and a key prefix (empty or ending in `/`).
    Bucket {
        /// The bucket.
        bucket: Bucket,
        /// The prefix.
        prefix: String,
    },
}

impl Place {
    /// Plans `--output-dir`; creates a local directory if missing.
    pub fn plan(dir: &Path) -> Result<Self, Failure> {
        let text = dir.to_string_lossy();
        if S3Url::is_s3(&text) {
            let url =
                S3Url::parse(&text).map_err(|e| Failure::usage(format!("--output-dir: {e}")))?;
            let bucket = open_bucket(&url)?;
            return Ok(Self::Bucket {
                bucket,
                prefix: url.as_prefix(),
            });
        }
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::new(
                Code::Download,
                format!("cannot create {}: {e}", dir.display()),
            )
        })?;
        Ok(Self::Dir(dir.to_owned()))
    }

    /// The path handed to the driver's fleet as "the directory" (an `s3://` URL for a
    /// bucket: it is only shown).
    pub fn fleet_dir(&self) -> PathBuf {
        match self {
            Self::Dir(d) => d.clone(),
            Self::Bucket { bucket, prefix } => PathBuf::from(format!(
                "s3://{}/{}",
                bucket.name(),
                prefix.trim_end_matches('/')
            )),
        }
    }

    /// The retention view of it.
    pub fn store(&self) -> Store<'_> {
        match self {
            Self::Dir(d) => Store::Dir(d),
            Self::Bucket { bucket, prefix } => Store::Bucket { bucket, prefix },
        }
    }

    /// Whether a dump named `name` here needs a sink (anything but plain local SQL).
    pub fn needs_sink(&self, compression: Compression) -> bool {
        matches!(self, Self::Bucket { .. }) || compression != Compression::None
    }

    /// The destination of a dump named `name`.
    pub fn destination(&self, name: &str, compression: Compression) -> Destination {
        Destination {
            compression,
            target: match self {
                Self::Dir(d) => Target::File(d.join(name)),
                Self::Bucket { bucket, prefix } => Target::Object {
                    bucket: bucket.clone(),
                    key: format!("{prefix}{name}"),
                },
            },
        }
    }

    /// Where the manifest of the dump named `name` goes.
    pub fn manifest_at(&self, name: &str) -> ManifestAt {
        match self {
            Self::Dir(d) => ManifestAt::File(d.join(retention::manifest_name(name))),
            Self::Bucket { bucket, prefix } => ManifestAt::Object {
                bucket: bucket.clone(),
                key: format!("{prefix}{}", retention::manifest_name(name)),
            },
        }
    }

    /// Opens a feed for the dump named `name` (without waiting on the store: the fleet's
    /// async driver calls this on its runtime).
    pub fn start(&self, name: &str, compression: Compression) -> Result<Feed, Error> {
        self.destination(name, compression).start()
    }
}
