//! Where a download goes, written once for both drivers: the bytes are written, counted and
//! hashed here (the one hashing path), a resumed or restarted body is placed here (the one
//! truncate-and-rehash routine). The drivers only move bytes from the network to
//! [`Sink::write`]; the async driver calls it on the blocking pool.

use crate::digest::{place, Digest, Placement};
use crate::error::Error;
use crate::output::PartFile;
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A dump's destination as it is being written.
#[derive(Debug)]
pub enum Sink<W> {
    /// Lookups: no body is ever written.
    None,
    /// A private temporary file beside the destination (seekable), renamed over it by
    /// [`Sink::commit`].
    File(FileSink),
    /// A stream (stdout, a pipe, a compressor): append only.
    Stream {
        /// The writer.
        writer: W,
        /// What was written to it.
        digest: Digest,
    },
}

/// The temporary file of a [`Sink::File`].
#[derive(Debug)]
pub struct FileSink {
    dest: PathBuf,
    part: PartFile,
    file: File,
    digest: Digest,
}

impl Sink<io::Sink> {
    /// A private temporary file beside `dest` (see [`PartFile`]): created, and stale ones of
    /// ours removed, before any request is made.
    pub fn file(dest: &Path) -> Result<Self, Error> {
        let (part, file) = PartFile::create_beside(dest)
            .map_err(|e| Error::sink("create a temporary file beside", Some(dest.into()), e))?;
        Ok(Self::File(FileSink {
            dest: dest.to_owned(),
            part,
            file,
            digest: Digest::new(),
        }))
    }
}

impl<W: Write> Sink<W> {
    /// A stream sink.
    pub fn stream(writer: W) -> Self {
        Self::Stream {
            writer,
            digest: Digest::new(),
        }
    }

    /// The temporary file's path, for a file sink.
    pub fn temp_path(&self) -> Option<&Path> {
        match self {
            Self::File(f) => Some(f.part.path()),
            _ => None,
        }
    }

    /// The digest of what is in the sink.
    pub fn digest(&self) -> Digest {
        match self {
            Self::None => Digest::new(),
            Self::File(f) => f.digest.clone(),
            Self::Stream { digest, .. } => digest.clone(),
        }
    }

    /// Makes the next byte written land at `start_at` (`Output::WriteBody`): appends, or
    /// truncates a file there and re-hashes what stays. A stream cannot go back.
    pub fn place(&mut self, start_at: u64) -> Result<(), Error> {
        match self {
            Self::None => Err(Error::Internal("a lookup asked for a download".to_owned())),
            Self::File(f) => {
                match place(f.digest.bytes(), start_at, true).map_err(Error::Internal)? {
                    Placement::Append => Ok(()),
                    Placement::Truncate(at) => f.truncate(at),
                }
            }
            Self::Stream { digest, .. } => place(digest.bytes(), start_at, false)
                .map(drop)
                .map_err(|e| Error::sink("resume", None, io::Error::other(e))),
        }
    }

    /// Writes bytes of the body, counting and hashing exactly what was written.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        match self {
            Self::None => Err(Error::Internal("a lookup asked for a download".to_owned())),
            Self::File(f) => {
                f.file
                    .write_all(bytes)
                    .map_err(|e| Error::sink("write", Some(f.part.path().to_owned()), e))?;
                f.digest.update(bytes);
                Ok(())
            }
            Self::Stream { writer, digest } => {
                writer
                    .write_all(bytes)
                    .map_err(|e| Error::sink("write", None, e))?;
                digest.update(bytes);
                Ok(())
            }
        }
    }

    /// Ends a successful run: a file is flushed, synced and renamed over its destination; a
    /// stream is flushed. Returns the digest of what was written.
    pub fn commit(self) -> Result<Digest, Error> {
        match self {
            Self::None => Ok(Digest::new()),
            Self::File(f) => f.commit(),
            Self::Stream { mut writer, digest } => {
                writer.flush().map_err(|e| Error::sink("flush", None, e))?;
                Ok(digest)
            }
        }
    }
}

impl FileSink {
    /// Truncates the file to `at` bytes and re-hashes what stays.
    fn truncate(&mut self, at: u64) -> Result<(), Error> {
        let file = &mut self.file;
        let result = (|| {
            file.set_len(at)?;
            file.seek(SeekFrom::Start(0))?;
            let mut digest = Digest::new();
            digest.rehash_prefix(&mut *file, at)?;
            file.seek(SeekFrom::Start(at))?;
            Ok(digest)
        })();
        self.digest =
            result.map_err(|e| Error::sink("truncate", Some(self.part.path().into()), e))?;
        Ok(())
    }

    fn commit(mut self) -> Result<Digest, Error> {
        let temp = Some(self.part.path().to_owned());
        self.file
            .flush()
            .and_then(|()| self.file.sync_all())
            .map_err(|e| Error::sink("sync", temp, e))?;
        drop(self.file);
        self.part
            .persist(&self.dest)
            .map_err(|e| Error::sink("rename the temporary file to", Some(self.dest.clone()), e))?;
        Ok(self.digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_sink_truncates_rehashes_and_commits() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("db.sql");
        let mut sink = Sink::file(&dest).unwrap();
        sink.place(0).unwrap();
        sink.write(b"hello wor").unwrap();
        sink.place(6).unwrap();
        sink.write(b"world").unwrap();
        assert!(sink.place(99).is_err());
        let digest = sink.commit().unwrap();
        let mut want = Digest::new();
        want.update(b"hello world");
        assert_eq!(digest.hex(), want.hex());
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello world");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_stream_sink_appends_only() {
        let mut out = Vec::new();
        let mut sink = Sink::stream(&mut out);
        sink.place(0).unwrap();
        sink.write(b"abc").unwrap();
        sink.place(3).unwrap();
        let err = sink.place(0).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Output);
        assert_eq!(sink.commit().unwrap().bytes(), 3);
        assert_eq!(out, b"abc");
    }

    #[test]
    fn a_dropped_file_sink_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Sink::file(&dir.path().join("db.sql")).unwrap();
        drop(sink);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
