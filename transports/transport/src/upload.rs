//! What both drivers need to run an import: the SQL file's md5 and size (read once, in
//! constant memory), the machine a driver runs ([`ImportRun`]: the core's [`Import`] with
//! the file it uploads), and a reader that counts what went out and stops on a cancel.

use crate::cancel::CancelToken;
use crate::error::Error;
use d1_export_core::{Import, ImportOutcome, Input, InputError, Machine, Md5, Output, SqlFile};
use md5::{Digest as _, Md5 as Md5Hasher};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The buffer a file is read through when measured.
const MEASURE_BUFFER: usize = 256 * 1024;

/// Reads the file at `path` once and returns its md5 and size (what
/// [`ImportJob`](d1_export_core::ImportJob) needs). Memory does not grow with the file.
pub fn measure_sql_file(path: &Path) -> Result<SqlFile, Error> {
    let sink = |e| Error::sink("read", Some(path.to_owned()), e);
    let mut file = File::open(path).map_err(sink)?;
    let mut hasher = Md5Hasher::new();
    let mut buf = vec![0u8; MEASURE_BUFFER];
    let mut size = 0u64;
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(sink(e)),
        }
    }
    Ok(SqlFile {
        md5: Md5::from_bytes(hasher.finalize().into()),
        size,
    })
}

/// Bytes of an upload body that went out, shared between the reader and the driving loop.
#[derive(Debug, Clone, Default)]
pub struct UploadCounter(Arc<AtomicU64>);

impl UploadCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes counted so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Counts `n` more bytes.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

/// A reader over the file being uploaded: counts the bytes read, never reads past `limit`
/// (the `Content-Length` announced), and fails once the cancel token is cancelled so the
/// HTTP client stops sending.
#[derive(Debug)]
pub struct UploadReader<R> {
    inner: R,
    left: u64,
    counter: UploadCounter,
    cancel: CancelToken,
}

impl<R: Read> UploadReader<R> {
    /// Wraps `inner`, of which `limit` bytes are sent.
    pub fn new(inner: R, limit: u64, counter: UploadCounter, cancel: CancelToken) -> Self {
        Self {
            inner,
            left: limit,
            counter,
            cancel,
        }
    }
}

impl<R: Read> Read for UploadReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.is_cancelled() {
            return Err(io::Error::other("the import was cancelled"));
        }
        let want = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        self.counter.add(n as u64);
        Ok(n)
    }
}

/// An import and the file it uploads: the machine a driver runs for `import_from_path` (its
/// [`Runner`](crate::Runner) gets the file with
/// [`with_upload_source`](crate::Runner::with_upload_source)).
#[derive(Debug)]
pub struct ImportRun {
    import: Import,
    source: PathBuf,
}

impl ImportRun {
    /// `import`, uploading the file at `source` (measured by [`measure_sql_file`]).
    pub fn new(import: Import, source: impl Into<PathBuf>) -> Self {
        Self {
            import,
            source: source.into(),
        }
    }
}

impl Machine for ImportRun {
    type Outcome = ImportOutcome;

    fn poll_output(&mut self) -> Output<ImportOutcome> {
        self.import.poll_output()
    }

    fn handle_input(&mut self, now: Instant, input: Input) -> Result<(), InputError> {
        self.import.handle_input(now, input)
    }

    fn reply_limit(&self) -> usize {
        self.import.reply_limit()
    }
}

impl ImportRun {
    /// The file the import uploads.
    pub fn source(&self) -> &Path {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn measures_md5_and_size_of_a_file() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"The quick brown fox jumps over the lazy dog")
            .unwrap();
        let m = measure_sql_file(f.path()).unwrap();
        assert_eq!(m.md5.hex(), "9e107d9d372bb6826bd81d3542a419d6");
        assert_eq!(m.size, 43);
        let empty = tempfile::NamedTempFile::new().unwrap();
        assert_eq!(
            measure_sql_file(empty.path()).unwrap().md5.hex(),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert!(measure_sql_file(Path::new("/nonexistent/x.sql")).is_err());
    }

    #[test]
    fn the_reader_counts_stops_at_the_limit_and_on_cancel() {
        let counter = UploadCounter::new();
        let cancel = CancelToken::new();
        let mut r = UploadReader::new(&b"0123456789"[..], 6, counter.clone(), cancel.clone());
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"012345");
        assert_eq!(counter.get(), 6);
        let mut r = UploadReader::new(&b"0123456789"[..], 10, counter.clone(), cancel.clone());
        cancel.cancel();
        assert!(r.read(&mut [0u8; 4]).is_err());
    }
}
