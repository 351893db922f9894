//! Counting and hashing what reaches the sink, and placing a body in it.

use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};

/// A running SHA-256 and byte count of the sink's contents.
#[derive(Debug, Clone, Default)]
pub struct Digest {
    sha: Sha256,
    bytes: u64,
}

impl Digest {
    /// An empty digest.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes written to the sink.
    pub fn update(&mut self, bytes: &[u8]) {
        self.sha.update(bytes);
        self.bytes += bytes.len() as u64;
    }

    /// Bytes hashed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Starts over (the sink was truncated to nothing).
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// The SHA-256 of everything hashed so far, as lower-case hex.
    pub fn hex(&self) -> String {
        hex::encode(self.sha.clone().finalize())
    }

    /// Starts over and hashes the first `len` bytes of `reader` (a file being truncated to a
    /// point it already holds).
    pub fn rehash_prefix(&mut self, reader: impl Read, len: u64) -> io::Result<()> {
        self.reset();
        let mut taken = reader.take(len);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match taken.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.update(&buf[..n]);
        }
        if self.bytes != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the output file is shorter than the bytes already written",
            ));
        }
        Ok(())
    }
}

/// A writer that hashes and counts exactly the bytes its inner writer accepted.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    digest: Digest,
}

impl<W> HashingWriter<W> {
    /// Wraps a writer.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            digest: Digest::new(),
        }
    }

    /// The digest of what was written.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The digest, to reset or rehash after moving the inner writer.
    pub fn digest_mut(&mut self) -> &mut Digest {
        &mut self.digest
    }

    /// The inner writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The inner writer and the digest.
    pub fn into_parts(self) -> (W, Digest) {
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

/// Where a body the core asked for with `Output::WriteBody { start_at }` goes, given the
/// bytes already in the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Right after what is there (`start_at` equals the bytes in the sink).
    Append,
    /// Truncate the sink to `start_at` bytes first (a seekable sink only): to nothing when
    /// the server ignored a range, to a shorter prefix otherwise.
    Truncate(u64),
}

/// Decides where a body goes. `seekable` is false for a plain stream (stdout, a pipe), which
/// can only append; the error says why the export cannot go on.
pub fn place(in_sink: u64, start_at: u64, seekable: bool) -> Result<Placement, String> {
    if start_at == in_sink {
        Ok(Placement::Append)
    } else if start_at > in_sink {
        Err(format!(
            "the core asked to write at byte {start_at}, but the output holds only {in_sink}"
        ))
    } else if seekable {
        Ok(Placement::Truncate(start_at))
    } else {
        Err(format!(
            "the download must start over at byte {start_at}, but {in_sink} bytes were already \
             written to a stream that cannot be rewound; write to a file instead"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_places() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"abc").unwrap();
        assert_eq!(w.digest().bytes(), 3);
        assert_eq!(
            w.digest().hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut d = Digest::new();
        d.rehash_prefix(&b"abcdef"[..], 3).unwrap();
        assert_eq!(d.hex(), w.digest().hex());
        assert!(d.rehash_prefix(&b"ab"[..], 3).is_err());
        assert_eq!(place(5, 5, false), Ok(Placement::Append));
        assert_eq!(place(5, 0, true), Ok(Placement::Truncate(0)));
        assert!(place(5, 0, false).is_err());
        assert!(place(5, 6, true).is_err());
    }
}

/// Hashes buffers on a helper thread, in the order they are pushed, so hashing overlaps the
/// network and the disk instead of adding to them; the buffers come back for reuse. At most
/// `depth` buffers wait at once ([`push`](Self::push) blocks beyond that), so memory stays
/// bounded. The thread starts at the first push.
#[derive(Debug)]
pub struct HashPipeline<B> {
    depth: usize,
    bytes: u64,
    idle: Option<Digest>,
    running: Option<Running<B>>,
}

#[derive(Debug)]
struct Running<B> {
    to: std::sync::mpsc::SyncSender<B>,
    back: std::sync::mpsc::Receiver<B>,
    thread: std::thread::JoinHandle<Digest>,
}

impl<B: AsRef<[u8]> + Send + 'static> HashPipeline<B> {
    /// A pipeline that continues `digest`, with up to `depth` (at least 1) buffers queued.
    pub fn new(digest: Digest, depth: usize) -> Self {
        Self {
            depth: depth.max(1),
            bytes: digest.bytes(),
            idle: Some(digest),
            running: None,
        }
    }

    /// Bytes pushed so far (hashed or queued), the starting digest's included.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Queues a buffer for hashing (blocks while `depth` buffers are already queued).
    pub fn push(&mut self, buf: B) -> io::Result<()> {
        let len = buf.as_ref().len() as u64;
        if self.running.is_none() {
            let mut digest = self.idle.take().unwrap_or_default();
            let (to, rx) = std::sync::mpsc::sync_channel::<B>(self.depth - 1);
            let (tx_back, back) = std::sync::mpsc::sync_channel::<B>(self.depth + 1);
            let thread = std::thread::Builder::new()
                .name("d1-export-sha256".to_owned())
                .spawn(move || {
                    for buf in rx {
                        digest.update(buf.as_ref());
                        let _ = tx_back.try_send(buf);
                    }
                    digest
                })?;
            self.running = Some(Running { to, back, thread });
        }
        let running = self
            .running
            .as_ref()
            .ok_or_else(|| io::Error::other("no hasher"))?;
        running
            .to
            .send(buf)
            .map_err(|_| io::Error::other("the hashing thread stopped"))?;
        self.bytes += len;
        Ok(())
    }

    /// A buffer that was hashed and can be reused, if one is back.
    pub fn recycled(&mut self) -> Option<B> {
        self.running.as_ref()?.back.try_recv().ok()
    }

    /// Waits for every queued buffer to be hashed and returns the digest; the pipeline can
    /// be used again afterwards (continuing from that digest).
    pub fn finish(&mut self) -> io::Result<Digest> {
        let digest = match self.running.take() {
            Some(Running { to, back, thread }) => {
                drop(to);
                drop(back);
                thread
                    .join()
                    .map_err(|_| io::Error::other("the hashing thread panicked"))?
            }
            None => self.idle.take().unwrap_or_default(),
        };
        self.idle = Some(digest.clone());
        Ok(digest)
    }

    /// Drops everything queued and starts again from `digest` (after truncating the sink).
    pub fn reset_to(&mut self, digest: Digest) {
        if let Some(Running { to, back, thread }) = self.running.take() {
            drop(to);
            drop(back);
            let _ = thread.join();
        }
        self.bytes = digest.bytes();
        self.idle = Some(digest);
    }
}

impl<B> Drop for HashPipeline<B> {
    fn drop(&mut self) {
        // Closing the channel ends the thread; it is not waited for.
        self.running.take();
    }
}

/// A buffer of which only the first `len` bytes count (so a full-size buffer can be reused
/// without clearing it).
#[derive(Debug)]
pub struct Chunk {
    /// The buffer.
    pub buf: Vec<u8>,
    /// How much of it holds data.
    pub len: usize,
}

impl AsRef<[u8]> for Chunk {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len.min(self.buf.len())]
    }
}

#[cfg(test)]
mod pipeline_tests {
    use super::*;

    #[test]
    fn pipeline_hashes_in_order_and_recycles() {
        let mut p = HashPipeline::new(Digest::new(), 2);
        let mut plain = Digest::new();
        for i in 0..50u8 {
            let buf = p
                .recycled()
                .map(|mut c: Chunk| {
                    c.buf.fill(i);
                    c
                })
                .unwrap_or_else(|| Chunk {
                    buf: vec![i; 1000],
                    len: 0,
                });
            let chunk = Chunk {
                len: 1 + usize::from(i) * 7,
                ..buf
            };
            plain.update(chunk.as_ref());
            p.push(chunk).unwrap();
        }
        assert_eq!(p.bytes(), plain.bytes());
        let d = p.finish().unwrap();
        assert_eq!(d.hex(), plain.hex());
        // Usable again, continuing.
        p.push(Chunk {
            buf: vec![1; 3],
            len: 3,
        })
        .unwrap();
        plain.update(&[1, 1, 1]);
        assert_eq!(p.finish().unwrap().hex(), plain.hex());
        p.reset_to(Digest::new());
        assert_eq!(p.bytes(), 0);
        assert_eq!(p.finish().unwrap().hex(), Digest::new().hex());
    }
}
