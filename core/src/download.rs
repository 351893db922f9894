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
    match total {
        Some(t) if have == t => EndVerdict::Whole(have),
        Some(t) if have < t => EndVerdict::Short(have),
        Some(_) => EndVerdict::TooLong(have),
        None => EndVerdict::Whole(have),
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
