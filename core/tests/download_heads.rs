//! Download head and range edges (found missing by cargo-mutants, scripts/mutants.sh).

use d1_export_core::download::{
    judge_end, judge_head, parse_content_range, ContentRange, EndVerdict, HeadVerdict,
};
use http::{HeaderMap, StatusCode};

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, v.parse().unwrap());
    }
    h
}

#[test]
fn a_one_byte_range_is_a_range() {
    assert_eq!(
        parse_content_range("bytes 5-5/10"),
        Some(ContentRange {
            range: Some((5, 5)),
            total: Some(10)
        })
    );
    assert_eq!(
        parse_content_range("bytes 9-9/10"),
        Some(ContentRange {
            range: Some((9, 9)),
            total: Some(10)
        })
    );
    assert_eq!(parse_content_range("bytes 10-10/10"), None, "past the end");
    assert_eq!(
        parse_content_range("  bytes  0-0 / * "),
        Some(ContentRange {
            range: Some((0, 0)),
            total: None
        })
    );
}

#[test]
fn a_resumed_range_of_unknown_total_ends_at_its_last_byte() {
    // 206 for bytes 3..=9 of a file whose size is not told: the file is 10 bytes.
    let h = headers(&[("content-range", "bytes 3-9/*"), ("content-length", "7")]);
    assert_eq!(
        judge_head(StatusCode::PARTIAL_CONTENT, &h, 3),
        HeadVerdict::Write {
            start_at: 3,
            total: Some(10)
        }
    );
    // So 7 bytes make it whole, and 6 leave it short.
    assert_eq!(judge_end(3, 7, Some(10)), EndVerdict::Whole(10));
    assert_eq!(judge_end(3, 6, Some(10)), EndVerdict::Short(9));
    assert_eq!(judge_end(3, 8, Some(10)), EndVerdict::TooLong(11));
}

#[test]
fn a_partial_head_must_agree_with_itself() {
    let partial = StatusCode::PARTIAL_CONTENT;
    // Content-Length one short of the range.
    let h = headers(&[("content-range", "bytes 3-9/10"), ("content-length", "6")]);
    assert!(matches!(
        judge_head(partial, &h, 3),
        HeadVerdict::Inconsistent(_)
    ));
    // A range that stops before the end of the file.
    let h = headers(&[("content-range", "bytes 3-8/10")]);
    assert!(matches!(
        judge_head(partial, &h, 3),
        HeadVerdict::Inconsistent(_)
    ));
    // A 206 whose Content-Range is only a total.
    let h = headers(&[("content-range", "bytes */10")]);
    assert!(matches!(
        judge_head(partial, &h, 3),
        HeadVerdict::Inconsistent(_)
    ));
}

#[test]
fn a_416_means_whole_only_when_we_have_exactly_the_file() {
    let h = headers(&[("content-range", "bytes */10")]);
    let status = StatusCode::RANGE_NOT_SATISFIABLE;
    assert_eq!(judge_head(status, &h, 10), HeadVerdict::AlreadyWhole);
    assert!(matches!(
        judge_head(status, &h, 9),
        HeadVerdict::Inconsistent(_)
    ));
    assert!(matches!(
        judge_head(status, &h, 11),
        HeadVerdict::Inconsistent(_)
    ));
    let empty = headers(&[("content-range", "bytes */0")]);
    assert!(matches!(
        judge_head(status, &empty, 0),
        HeadVerdict::Inconsistent(_)
    ));
}

#[test]
fn statuses_that_may_pass_and_those_that_will_not() {
    let none = HeaderMap::new();
    for s in [408, 429, 500, 503, 599] {
        assert_eq!(
            judge_head(StatusCode::from_u16(s).unwrap(), &none, 0),
            HeadVerdict::Retry(s)
        );
    }
    for s in [204, 301, 400, 401, 404, 410] {
        assert_eq!(
            judge_head(StatusCode::from_u16(s).unwrap(), &none, 0),
            HeadVerdict::Refused(s)
        );
    }
    assert_eq!(
        judge_head(StatusCode::FORBIDDEN, &none, 5),
        HeadVerdict::Expired
    );
    // A 200 without Content-Length: the size is unknown, and a clean end is whole.
    assert_eq!(
        judge_head(StatusCode::OK, &none, 0),
        HeadVerdict::Write {
            start_at: 0,
            total: None
        }
    );
    assert_eq!(judge_end(0, 123, None), EndVerdict::Whole(123));
    // Content-Length with spaces is still read.
    assert_eq!(
        judge_head(StatusCode::OK, &headers(&[("content-length", " 42 ")]), 0),
        HeadVerdict::Write {
            start_at: 0,
            total: Some(42)
        }
    );
}
