//! The consumer of a [`Feed`]: one thread that hashes the SQL, compresses it, hashes what it
//! writes, and writes it to the output — a temporary file renamed into place, standard
//! output, or a multipart upload — then commits or aborts as the feed says.
//!
//! Correct under resume and restart by construction: a resume appends to the one stream; a
//! restart (the core starting the download again from byte 0) ends the encoder and drops
//! the output whole (the temporary file truncated, the upload aborted and begun again), so
//! no byte of a discarded download reaches the result. A cut anywhere else is refused by
//! the feed before it gets here.

use crate::compression::{Compression, Encoder};
use crate::s3::{Bucket, ObjectWriter};
use bytes::Bytes;
use d1_export_transport::{
    parent_dir, Digest, Error, Feed, FeedConsumer, FeedMessage, PartFile, Rewind, Written,
};
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Messages that may wait between the driver and the compressor.
const FEED_DEPTH: usize = 8;
/// Write buffer of a local output.
const FILE_BUFFER: usize = 256 * 1024;

/// Where the written file goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// A local file, written through a temporary file beside it and renamed once complete.
    File(PathBuf),
    /// Standard output (append only: a download that restarts after bytes went out fails).
    Stdout,
    /// An object, written by a multipart upload completed only once the dump is whole.
    Object {
        /// The bucket.
        bucket: Bucket,
        /// The key.
        key: String,
    },
}

impl Target {
    /// The name shown for it: the path, `-`, or `s3://bucket/key`.
    pub fn location(&self) -> String {
        match self {
            Self::File(p) => p.display().to_string(),
            Self::Stdout => "-".to_owned(),
            Self::Object { bucket, key } => format!("s3://{}/{key}", bucket.name()),
        }
    }
}

/// A destination: a target and how the file written there is compressed.
#[derive(Debug, Clone)]
pub struct Destination {
    /// Where.
    pub target: Target,
    /// How.
    pub compression: Compression,
}

impl Destination {
    /// Opens the output (creates the temporary file, or starts the multipart upload — so a
    /// bad bucket or credentials fail here, before any export) and returns the [`Feed`] a
    /// driver's `export_to_feed` streams into. Dropping the feed uncommitted removes
    /// everything written.
    pub fn open(&self) -> Result<Feed, Error> {
        let (feed, ready) = self.spawn()?;
        let location = feed.location().to_owned();
        match ready.recv() {
            Ok(Ok(())) => Ok(feed),
            Ok(Err(e)) => Err(Error::sink("open", Some(location.into()), e)),
            Err(_) => Err(Error::sink(
                "open",
                Some(location.into()),
                io::Error::other("the output thread stopped"),
            )),
        }
    }

    /// As [`open`](Self::open), without waiting for the output to be opened: a failure to
    /// open it is reported by the first send. For callers on an async runtime (a fleet).
    pub fn start(&self) -> Result<Feed, Error> {
        self.spawn().map(|(feed, _)| feed)
    }

    fn spawn(&self) -> Result<(Feed, std::sync::mpsc::Receiver<io::Result<()>>), Error> {
        let rewind = match self.target {
            Target::Stdout => Rewind::Never,
            _ => Rewind::ToStart,
        };
        let location = self.target.location();
        let (feed, consumer) = Feed::channel(FEED_DEPTH, rewind, location.clone());
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let this = self.clone();
        std::thread::Builder::new()
            .name("d1-export-sink".to_owned())
            .spawn(move || match Output::open(&this.target) {
                Ok(output) => {
                    let _ = ready_tx.send(Ok(()));
                    consume(consumer, output, this.compression);
                }
                Err(e) => {
                    consumer.fail(format!("cannot open the output: {e}"));
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(|e| Error::sink("start the output thread for", Some(location.into()), e))?;
        Ok((feed, ready))
    }

    /// Writes an existing local file (a verified dump, a SQLite file) to this destination in
    /// one streaming pass, compressed; nothing appears unless all of it was written.
    /// Call it from a plain thread, not an async runtime's.
    pub fn store_file(&self, source: &Path) -> Result<Written, Error> {
        let mut feed = self.open()?;
        let mut file =
            File::open(source).map_err(|e| Error::sink("open", Some(source.to_owned()), e))?;
        let mut digest = Digest::new();
        let mut buf = vec![0u8; FILE_BUFFER];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::sink("read", Some(source.to_owned()), e)),
            };
            digest.update(&buf[..n]);
            feed.send_blocking(Bytes::copy_from_slice(&buf[..n]))?;
        }
        feed.commit_blocking(&digest)
    }
}

/// The raw output the encoder writes into.
enum Output {
    File {
        part: PartFile,
        file: BufWriter<File>,
        dest: PathBuf,
    },
    Stdout(BufWriter<io::Stdout>),
    Object(ObjectWriter),
}

impl Output {
    fn open(target: &Target) -> io::Result<Self> {
        Ok(match target {
            Target::File(dest) => {
                let (part, file) = PartFile::create_beside(dest)?;
                private(&file)?;
                Self::File {
                    part,
                    file: BufWriter::with_capacity(FILE_BUFFER, file),
                    dest: dest.clone(),
                }
            }
            Target::Stdout => Self::Stdout(BufWriter::with_capacity(FILE_BUFFER, io::stdout())),
            Target::Object { bucket, key } => {
                Self::Object(bucket.upload(key).map_err(io::Error::other)?)
            }
        })
    }

    /// Drops everything written so far.
    fn restart(&mut self) -> io::Result<()> {
        match self {
            Self::File { file, .. } => {
                file.flush()?;
                let f = file.get_mut();
                f.set_len(0)?;
                f.seek(SeekFrom::Start(0)).map(drop)
            }
            Self::Stdout(_) => Err(io::Error::other("standard output cannot start over")),
            Self::Object(o) => o.restart(),
        }
    }

    /// Makes the written file appear; its location.
    fn commit(self) -> io::Result<String> {
        match self {
            Self::File { part, file, dest } => {
                let file = file.into_inner().map_err(|e| e.into_error())?;
                file.sync_all()?;
                drop(file);
                part.persist(&dest)?;
                Ok(dest.display().to_string())
            }
            Self::Stdout(mut out) => {
                out.flush()?;
                Ok("-".to_owned())
            }
            Self::Object(o) => {
                let url = o.url().to_owned();
                o.complete()?;
                Ok(url)
            }
        }
    }

    /// Removes everything written (the temporary file, the upload's parts).
    fn abort(self) -> Result<(), String> {
        match self {
            Self::File { part, .. } => {
                drop(part);
                Ok(())
            }
            Self::Stdout(_) => Ok(()),
            Self::Object(o) => o.abort(),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::File { file, .. } => file.write(buf),
            Self::Stdout(out) => out.write(buf),
            Self::Object(o) => o.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::File { file, .. } => file.flush(),
            Self::Stdout(out) => out.flush(),
            Self::Object(o) => o.flush(),
        }
    }
}

#[cfg(unix)]
fn private(file: &File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn private(_file: &File) -> io::Result<()> {
    Ok(())
}

/// A writer that hashes and counts exactly the bytes its inner writer accepted.
struct HashingWriter<W> {
    inner: W,
    digest: Digest,
}

impl<W> HashingWriter<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            digest: Digest::new(),
        }
    }

    fn into_parts(self) -> (W, Digest) {
        (self.inner, self.digest)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digest.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The state of the stream being written.
struct Stream {
    sql: Digest,
    encoder: Encoder<HashingWriter<Output>>,
}

impl Stream {
    fn new(output: Output, compression: Compression) -> io::Result<Self> {
        Ok(Self {
            sql: Digest::new(),
            encoder: compression.encoder(HashingWriter::new(output))?,
        })
    }

    fn finish(self) -> io::Result<(Digest, Output, Digest)> {
        let (output, written) = self.encoder.finish()?.into_parts();
        Ok((self.sql, output, written))
    }
}

/// Runs the consumer to its end: commit, or abort on any failure or a closed feed.
fn consume(mut consumer: FeedConsumer, output: Output, compression: Compression) {
    let mut stream = match Stream::new(output, compression) {
        Ok(s) => s,
        Err(e) => return consumer.fail(format!("cannot start the {compression} encoder: {e}")),
    };
    loop {
        let Some(message) = consumer.messages.blocking_recv() else {
            // The export failed or was cancelled.
            if let Ok((_, output, _)) = stream.finish() {
                if let Err(e) = output.abort() {
                    consumer.fail(e);
                }
            }
            return;
        };
        match message {
            FeedMessage::Data(bytes) => {
                stream.sql.update(&bytes);
                if let Err(e) = stream.encoder.write_all(&bytes) {
                    return fail(consumer, stream, format!("{e}"));
                }
            }
            FeedMessage::Restart => {
                let restarted = stream.finish().and_then(|(_, mut output, _)| {
                    output.restart()?;
                    Stream::new(output, compression)
                });
                match restarted {
                    Ok(s) => stream = s,
                    Err(e) => return consumer.fail(format!("cannot start over: {e}")),
                }
            }
            FeedMessage::Commit { sql, reply } => {
                let result = commit(stream, &sql);
                if let Err(e) = &result {
                    consumer.fail(e.clone());
                }
                let _ = reply.send(result);
                return;
            }
        }
    }
}

fn fail(consumer: FeedConsumer, stream: Stream, why: String) {
    let why = match stream.finish() {
        Ok((_, output, _)) => match output.abort() {
            Ok(()) => why,
            Err(also) => format!("{why}; {also}"),
        },
        Err(_) => why,
    };
    consumer.fail(why);
}

fn commit(stream: Stream, expected: &Digest) -> Result<Written, String> {
    if stream.sql.bytes() != expected.bytes() || stream.sql.hex() != expected.hex() {
        let (seen, hex) = (stream.sql.bytes(), stream.sql.hex());
        let abort = stream.finish().map(|(_, o, _)| o.abort());
        let mut why = format!(
            "the output saw {seen} bytes (sha256 {hex}) but the download verified {} (sha256 {})",
            expected.bytes(),
            expected.hex()
        );
        if let Ok(Err(also)) = abort {
            why = format!("{why}; {also}");
        }
        return Err(why);
    }
    let (_, output, written) = stream.finish().map_err(|e| format!("cannot finish: {e}"))?;
    let mut output = output;
    if let Err(e) = output.flush() {
        return Err(abort_after(output, format!("cannot flush: {e}")));
    }
    let location = output.commit().map_err(|e| e.to_string())?;
    Ok(Written {
        location,
        bytes: written.bytes(),
        sha256: written.hex(),
    })
}

fn abort_after(output: Output, why: String) -> String {
    match output.abort() {
        Ok(()) => why,
        Err(also) => format!("{why}; {also}"),
    }
}

/// The directory a local target lives in (to check before exporting).
pub fn target_dir(path: &Path) -> &Path {
    parent_dir(path)
}
