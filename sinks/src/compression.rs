//! Compression of the dump as it is written: none, gzip (flate2) or zstd, chosen by the
//! output's extension unless given.

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

/// How the written file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Plain SQL.
    #[default]
    None,
    /// gzip (RFC 1952), level 6.
    Gzip,
    /// Zstandard, level 3, one frame.
    Zstd,
}

impl Compression {
    /// By the name's extension: `.gz` is gzip, `.zst` is zstd, anything else none.
    pub fn from_name(name: &str) -> Self {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".gz") {
            Self::Gzip
        } else if lower.ends_with(".zst") {
            Self::Zstd
        } else {
            Self::None
        }
    }

    /// The name used in flags and the manifest: `none`, `gzip`, `zstd`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
        }
    }

    /// The file extension it adds after `.sql`: ``, `.gz`, `.zst`.
    pub fn extension(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Gzip => ".gz",
            Self::Zstd => ".zst",
        }
    }

    /// Wraps `inner` in an encoder of this kind.
    pub fn encoder<W: Write>(self, inner: W) -> io::Result<Encoder<W>> {
        Ok(Encoder(match self {
            Self::None => Kind::Plain(inner),
            Self::Gzip => Kind::Gzip(flate2::write::GzEncoder::new(
                inner,
                flate2::Compression::new(6),
            )),
            Self::Zstd => Kind::Zstd(zstd::stream::write::Encoder::new(inner, 3)?),
        }))
    }

    /// Wraps `inner` in a decoder of this kind (to check what was written).
    pub fn decoder<'a, R: io::BufRead + 'a>(self, inner: R) -> io::Result<Box<dyn io::Read + 'a>> {
        Ok(match self {
            Self::None => Box::new(inner),
            Self::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(inner)),
            Self::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(inner)?),
        })
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Compression {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Self::None),
            "gzip" | "gz" => Ok(Self::Gzip),
            "zstd" | "zst" => Ok(Self::Zstd),
            other => Err(format!("unknown compression {other:?} (none, gzip, zstd)")),
        }
    }
}

/// A streaming encoder over a writer; [`finish`](Self::finish) writes the trailer.
pub struct Encoder<W: Write>(Kind<W>);

enum Kind<W: Write> {
    Plain(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> fmt::Debug for Encoder<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.0 {
            Kind::Plain(_) => "none",
            Kind::Gzip(_) => "gzip",
            Kind::Zstd(_) => "zstd",
        };
        f.debug_tuple("Encoder").field(&kind).finish()
    }
}

impl<W: Write> Encoder<W> {
    /// Ends the stream (gzip or zstd trailer) and returns the inner writer, not flushed.
    pub fn finish(self) -> io::Result<W> {
        match self.0 {
            Kind::Plain(w) => Ok(w),
            Kind::Gzip(e) => e.finish(),
            Kind::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.0 {
            Kind::Plain(w) => w.write(buf),
            Kind::Gzip(e) => e.write(buf),
            Kind::Zstd(e) => e.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.0 {
            Kind::Plain(w) => w.write_all(buf),
            Kind::Gzip(e) => e.write_all(buf),
            Kind::Zstd(e) => e.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.0 {
            Kind::Plain(w) => w.flush(),
            Kind::Gzip(e) => e.flush(),
            Kind::Zstd(e) => e.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Read;

    #[test]
    fn chosen_by_extension() {
        assert_eq!(Compression::from_name("b.sql.gz"), Compression::Gzip);
        assert_eq!(Compression::from_name("b.SQL.ZST"), Compression::Zstd);
        assert_eq!(Compression::from_name("b.sql"), Compression::None);
        assert_eq!(Compression::from_name("-"), Compression::None);
        assert_eq!("zstd".parse::<Compression>(), Ok(Compression::Zstd));
        assert!("lz4".parse::<Compression>().is_err());
    }

    proptest! {
        #[test]
        fn every_kind_round_trips(data in proptest::collection::vec(any::<u8>(), 0..20_000), cut in 1usize..5000) {
            for kind in [Compression::None, Compression::Gzip, Compression::Zstd] {
                let mut enc = kind.encoder(Vec::new()).unwrap();
                for piece in data.chunks(cut) {
                    enc.write_all(piece).unwrap();
                }
                let out = enc.finish().unwrap();
                let mut back = Vec::new();
                kind.decoder(&out[..]).unwrap().read_to_end(&mut back).unwrap();
                prop_assert_eq!(&back, &data);
            }
        }
    }
}
