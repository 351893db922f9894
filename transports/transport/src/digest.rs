//! Counting and hashing what reaches the sink (the one place bytes are hashed), and placing
//! a body in it.

use sha2::{Digest as _, Sha256};
use std::io::{self, Read};

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
    fn hashes_rehashes_and_places() {
        let mut d = Digest::new();
        d.update(b"abc");
        assert_eq!(d.bytes(), 3);
        assert_eq!(
            d.hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut r = Digest::new();
        r.rehash_prefix(&b"abcdef"[..], 3).unwrap();
        assert_eq!(r.hex(), d.hex());
        assert!(r.rehash_prefix(&b"ab"[..], 3).is_err());
        assert_eq!(place(5, 5, false), Ok(Placement::Append));
        assert_eq!(place(5, 0, true), Ok(Placement::Truncate(0)));
        assert!(place(5, 0, false).is_err());
        assert!(place(5, 6, true).is_err());
    }
}
