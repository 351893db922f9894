//! Judging a download: its response head, and whether the bytes that arrived make a whole file.
//!
//! The core never sees the body. It sees the head, then "N bytes written, ended" or "transport
//! failed after N bytes", and decides from those alone. A short file is never whole.

use http::{HeaderMap, StatusCode};

/// What to do with a download's response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadVerdict {
    /// Stream the body into the sink, starting at byte `start_at` of the file.
    Write {
        /// Where in the file this body begins (0 for a whole body).
        start_at: u64,
        /// The whole file's size, when the head tells it.
        total: Option<u64>,
    },
    /// The file is already whole: a 416 whose `Content-Range: bytes */N` equals what we have.
    AlreadyWhole,
    /// 403: the signed URL expired or was denied; a fresh one is needed.
    Expired,
    /// A status that may pass (5xx, 408, 429).
    Retry(u16),
    /// A status that will not pass.
    Refused(u16),
    /// The head contradicts the request (a range we did not ask for): start over from 0.
    Inconsistent(String),
}

fn header_u64(headers: &HeaderMap, name: http::header::HeaderName) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// A parsed `Content-Range: bytes first-last/total` (`total` may be `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// First byte, when a range is given.
    pub range: Option<(u64, u64)>,
    /// The whole size, when known.
    pub total: Option<u64>,
}

/// Parses a `Content-Range` value; `None` if it is malformed.
pub fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse::<u64>().ok()?),
    };
    let range = match range.trim() {
        "*" => None,
        r => {
            let (a, b) = r.split_once('-')?;
            let (a, b) = (a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?);
            if a > b || total.is_some_and(|t| b >= t) {
                return None;
            }
            Some((a, b))
        }
    };
    if range.is_none() && total.is_none() {
        return None;
    }
    Some(ContentRange { range, total })
}

/// Judges the head of a download that asked for bytes from `requested_from` on.
pub fn judge_head(status: StatusCode, headers: &HeaderMap, requested_from: u64) -> HeadVerdict {
    let content_range = headers
        .get(http::header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .map(parse_content_range);
    let length = header_u64(headers, http::header::CONTENT_LENGTH);
    match status.as_u16() {
        200 => HeadVerdict::Write {
            start_at: 0,
            total: length,
        },
        206 => match content_range {
            Some(Some(ContentRange {
                range: Some((first, last)),
                total,
            })) => {
                if first != requested_from {
                    HeadVerdict::Inconsistent(format!(
                        "asked for bytes from {requested_from}, got a range from {first}"
                    ))
                } else if last.checked_add(1).is_none() {
                    HeadVerdict::Inconsistent("a range that ends past the largest size".to_owned())
                } else if length.is_some_and(|l| l != last - first + 1) {
                    HeadVerdict::Inconsistent(
                        "Content-Length disagrees with Content-Range".to_owned(),
                    )
                } else if total.is_some_and(|t| last + 1 != t) {
                    HeadVerdict::Inconsistent(
                        "a partial range that does not reach the end".to_owned(),
                    )
                } else {
                    HeadVerdict::Write {
                        start_at: first,
                        total: total.or(Some(last + 1)),
                    }
                }
            }
            _ => HeadVerdict::Inconsistent("206 without a valid Content-Range".to_owned()),
        },
        416 => match content_range {
            Some(Some(ContentRange {
                range: None,
                total: Some(t),
            })) if t == requested_from && requested_from > 0 => HeadVerdict::AlreadyWhole,
            _ => HeadVerdict::Inconsistent("416 for a range we should be able to get".to_owned()),
        },
        403 => HeadVerdict::Expired,
        s @ (408 | 429 | 500..=599) => HeadVerdict::Retry(s),
        s => HeadVerdict::Refused(s),
    }
}

/// How the end of a response body is vouched for: by a length, by the transfer's framing, or
/// by nothing but the connection closing (which a cut connection looks exactly like).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length`: the body is whole when this many bytes arrived.
    Length(u64),
    /// Chunked transfer coding (HTTP/1.1) or a stream of HTTP/2 and later: the transport
    /// reports a clean end only after the last chunk or frame.
    Framed,
    /// Neither: the body ends when the connection closes, so a clean end proves nothing. Its
    /// length must be confirmed by another request before the file is whole.
    CloseDelimited,
}

/// How a response head frames its body.
pub fn framing(head: &http::Response<()>) -> Framing {
    let headers = head.headers();
    let chunked = headers
        .get_all(http::header::TRANSFER_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|c| c.trim().eq_ignore_ascii_case("chunked"));
    if chunked {
        return Framing::Framed;
    }
    if let Some(n) = header_u64(headers, http::header::CONTENT_LENGTH) {
        return Framing::Length(n);
    }
    if head.version() >= http::Version::HTTP_2 {
        return Framing::Framed;
    }
    Framing::CloseDelimited
}

/// The content or transfer coding of a response other than `identity` (and `chunked`), if any:
/// such bytes are not the dump and are never saved as SQL.
pub fn foreign_coding(headers: &HeaderMap) -> Option<String> {
    let codings = |name| {
        headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
    };
    let content = codings(http::header::CONTENT_ENCODING);
    let transfer = codings(http::header::TRANSFER_ENCODING);
    content
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"))
        .or_else(|| {
            transfer
                .iter()
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .find(|c| {
                    !c.is_empty()
                        && !c.eq_ignore_ascii_case("chunked")
                        && !c.eq_ignore_ascii_case("identity")
                })
        })
        .map(|c| c.chars().filter(|c| !c.is_control()).take(40).collect())
}

/// What identifies one version of the file: its validator and its size. Remembered from the
/// first head of a download and compared on every resumption, so two files are never stitched.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileIdentity {
    /// A strong `ETag`, else `Last-Modified`.
    pub validator: Option<Validator>,
    /// The whole file's size, when a head told it.
    pub total: Option<u64>,
}

/// A validator for `If-Range`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validator {
    /// A strong entity tag, quotes included.
    ETag(String),
    /// A `Last-Modified` date, as sent.
    LastModified(String),
}

impl FileIdentity {
    /// The identity a head shows: its validator, and the size from `Content-Range`'s total (a
    /// 206 or 416) or `Content-Length` (a 200).
    pub fn of(head: &http::Response<()>) -> Self {
        let headers = head.headers();
        let text = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let validator = text(http::header::ETAG)
            .filter(|e| !e.starts_with("W/"))
            .map(Validator::ETag)
            .or_else(|| text(http::header::LAST_MODIFIED).map(Validator::LastModified));
        let total = match head.status().as_u16() {
            206 | 416 => text(http::header::CONTENT_RANGE)
                .and_then(|v| parse_content_range(&v))
                .and_then(|r| r.total),
            200 => header_u64(headers, http::header::CONTENT_LENGTH),
            _ => None,
        };
        Self { validator, total }
    }

    /// The `If-Range` value for a resumption, if there is a validator.
    pub fn if_range(&self) -> Option<&str> {
        match &self.validator {
            Some(Validator::ETag(v) | Validator::LastModified(v)) => Some(v),
            None => None,
        }
    }

    /// Why a later head (`now`) shows another file than this one, if it does: a different
    /// size, or a validator that changed or went missing.
    pub fn differs(&self, now: &FileIdentity) -> Option<String> {
        if let (Some(a), Some(b)) = (self.total, now.total) {
            if a != b {
                return Some(format!("the file was {a} bytes, the resumption says {b}"));
            }
        }
        match (&self.validator, &now.validator) {
            (None, _) => None,
            (Some(a), Some(b)) if a == b => None,
            (Some(_), Some(_)) => Some("the file's validator changed".to_owned()),
            (Some(_), None) => Some("the resumption carries no validator".to_owned()),
        }
    }
}

/// What the bytes of one finished body make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndVerdict {
    /// The file is whole: this many bytes.
    Whole(u64),
    /// Short: this many bytes are good; resume from there.
    Short(u64),
    /// More bytes than the head announced.
    TooLong(u64),
}

/// Judges a body that ended cleanly after `received` bytes, begun at `start_at`, of a file of
/// `total` bytes (when known). Without a known total, a clean end is taken as whole: the
/// transport's framing (chunked encoding's last chunk) vouches for it.
pub fn judge_end(start_at: u64, received: u64, total: Option<u64>) -> EndVerdict {
    let have = start_at.saturating_add(received);
    match total.map(|t| have.cmp(&t)) {
        Some(std::cmp::Ordering::Less) => EndVerdict::Short(have),
        Some(std::cmp::Ordering::Greater) => EndVerdict::TooLong(have),
        Some(std::cmp::Ordering::Equal) | None => EndVerdict::Whole(have),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn content_ranges() {
        assert_eq!(
            parse_content_range("bytes 10-19/20"),
            Some(ContentRange {
                range: Some((10, 19)),
                total: Some(20)
            })
        );
        assert_eq!(
            parse_content_range("bytes */20"),
            Some(ContentRange {
                range: None,
                total: Some(20)
            })
        );
        for bad in [
            "bytes 19-10/20",
            "bytes 10-20/20",
            "10-19/20",
            "bytes */*",
            "bytes a-b/c",
            "",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn heads() {
        let ok = StatusCode::OK;
        assert_eq!(
            judge_head(ok, &head(&[("content-length", "5")]), 0),
            HeadVerdict::Write {
                start_at: 0,
                total: Some(5)
            }
        );
        // A server that ignores Range: start over.
        assert_eq!(
            judge_head(ok, &head(&[("content-length", "5")]), 3),
            HeadVerdict::Write {
                start_at: 0,
                total: Some(5)
            }
        );
        let partial = StatusCode::PARTIAL_CONTENT;
        assert_eq!(
            judge_head(
                partial,
                &head(&[("content-range", "bytes 3-4/5"), ("content-length", "2")]),
                3
            ),
            HeadVerdict::Write {
                start_at: 3,
                total: Some(5)
            }
        );
        assert!(matches!(
            judge_head(partial, &head(&[("content-range", "bytes 2-4/5")]), 3),
            HeadVerdict::Inconsistent(_)
        ));
        assert!(matches!(
            judge_head(partial, &head(&[]), 3),
            HeadVerdict::Inconsistent(_)
        ));
        assert_eq!(
            judge_head(
                StatusCode::RANGE_NOT_SATISFIABLE,
                &head(&[("content-range", "bytes */5")]),
                5
            ),
            HeadVerdict::AlreadyWhole
        );
        assert_eq!(
            judge_head(StatusCode::FORBIDDEN, &head(&[]), 0),
            HeadVerdict::Expired
        );
        assert_eq!(
            judge_head(StatusCode::BAD_GATEWAY, &head(&[]), 0),
            HeadVerdict::Retry(502)
        );
        assert_eq!(
            judge_head(StatusCode::NOT_FOUND, &head(&[]), 0),
            HeadVerdict::Refused(404)
        );
    }

    #[test]
    fn ends() {
        assert_eq!(judge_end(0, 5, Some(5)), EndVerdict::Whole(5));
        assert_eq!(judge_end(3, 1, Some(5)), EndVerdict::Short(4));
        assert_eq!(judge_end(3, 3, Some(5)), EndVerdict::TooLong(6));
        assert_eq!(judge_end(0, 9, None), EndVerdict::Whole(9));
    }
}
