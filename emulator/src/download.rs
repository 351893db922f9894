//! The signed URLs: `GET`/`HEAD /__download/<token>/<filename>?X-Amz-...&X-Amz-Signature=...`,
//! served from the dump file on disk, with single byte ranges and S3-style XML errors.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::faults::Stall;
use crate::http::{status_line_and_headers, Request, Response};
use crate::jobs::{Grant, JobState, Phase};
use crate::server::{Flow, Shared};
use crate::timefmt;

/// The signed URL for a grant.
pub(crate) fn signed_url(origin: &str, token: &str, grant: &Grant, filename: &str) -> String {
    let date = timefmt::amz_date(grant.issued);
    format!(
        "{origin}/__download/{token}/{filename}?X-Amz-Algorithm=AWS4-HMAC-SHA256\
         &X-Amz-Credential=d1-emulator%2F{day}%2Fauto%2Fs3%2Faws4_request&X-Amz-Date={date}\
         &X-Amz-Expires={secs}&X-Amz-SignedHeaders=host&X-Amz-Signature={sig}",
        day = &date[..8],
        secs = grant.lifetime.as_secs(),
        sig = grant.signature,
    )
}

/// An S3-style XML error.
fn s3_error(status: u16, code: &str, message: &str, extra: &str) -> Response {
    let request_id = format!(
        "{:016X}",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64
    );
    Response::new(
        status,
        "application/xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>{extra}<RequestId>{request_id}</RequestId><HostId>d1-emulator</HostId></Error>"
        ),
    )
}

/// The byte range a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Range {
    Full,
    /// First and last byte, inclusive.
    Partial(u64, u64),
    Unsatisfiable,
}

/// Parses a single `Range: bytes=...` for a body of `size` bytes. Multiple ranges, other
/// units and malformed values are ignored (the whole body is sent), as RFC 9110 allows.
fn parse_range(header: Option<&str>, size: u64) -> Range {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Range::Full;
    };
    if spec.contains(',') {
        return Range::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Range::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        return match b.parse::<u64>() {
            Ok(0) => Range::Unsatisfiable,
            Ok(_) if size == 0 => Range::Unsatisfiable,
            Ok(n) => Range::Partial(size - n.min(size), size - 1),
            Err(_) => Range::Full,
        };
    }
    let Ok(start) = a.parse::<u64>() else {
        return Range::Full;
    };
    let end = if b.is_empty() {
        u64::MAX
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e,
            _ => return Range::Full,
        }
    };
    if start >= size {
        Range::Unsatisfiable
    } else {
        Range::Partial(start, end.min(size - 1))
    }
}

/// What a download will send, decided under the lock.
struct Plan {
    path: std::path::PathBuf,
    size: u64,
    etag: String,
    truncate: bool,
    /// Answer 429 with this `Retry-After` instead.
    throttle: Option<u64>,
}

/// Serves one download request.
pub(crate) fn serve(
    shared: &Arc<Shared>,
    req: &Request,
    stream: &TcpStream,
    keep_alive: bool,
) -> Flow {
    let route = format!("{} /__download", req.method);
    let head = req.method == "HEAD";
    let finish = |resp: Response| -> Flow {
        shared.lock().stats.record_request(&route, resp.status);
        shared.log(req, resp.status);
        let mut w = stream;
        match resp.write_to(&mut w, head, keep_alive) {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Close,
        }
    };
    if req.header("authorization").is_some() {
        shared.lock().stats.downloads_with_authorization += 1;
    }
    if req.method != "GET" && !head {
        return finish(s3_error(
            405,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
            "",
        ));
    }
    let rest = req.path.trim_start_matches("/__download/");
    let token = rest.split('/').next().unwrap_or("");
    let signature = req.query_param("X-Amz-Signature");
    let plan = {
        let now = Instant::now();
        let mut st = shared.lock();
        let Some(grant) = st.jobs.grants.get(token).cloned() else {
            drop(st);
            return finish(s3_error(
                404,
                "NoSuchKey",
                "The specified key does not exist.",
                "",
            ));
        };
        if signature.as_deref() != Some(grant.signature.as_str()) {
            drop(st);
            return finish(s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
                "",
            ));
        }
        if grant.expired(now) {
            st.stats.downloads_expired += 1;
            drop(st);
            let expires = if grant.born_expired {
                grant.issued
            } else {
                grant.issued + grant.lifetime
            };
            let extra = format!(
                "<X-Amz-Expires>{}</X-Amz-Expires><Expires>{}</Expires><ServerTime>{}</ServerTime>",
                grant.lifetime.as_secs(),
                timefmt::rfc3339(expires),
                timefmt::rfc3339(SystemTime::now()),
            );
            return finish(s3_error(403, "AccessDenied", "Request has expired", &extra));
        }
        let truncate_fault = shared.config.faults.truncate_first_download;
        let Some(job) = st.jobs.jobs.get_mut(&grant.job) else {
            drop(st);
            return finish(s3_error(
                404,
                "NoSuchKey",
                "The specified key does not exist.",
                "",
            ));
        };
        let (JobState::Complete, Phase::Written { path, size }) = (&job.state, &job.phase) else {
            drop(st);
            return finish(s3_error(
                404,
                "NoSuchKey",
                "The specified key does not exist.",
                "",
            ));
        };
        let (mut path, mut size) = (path.clone(), *size);
        let faults = &shared.config.faults;
        if faults.change_object_after_first_download && job.downloads >= 1 && !job.object_changed {
            // The object behind the URL changes: the dump plus a trailer, a new ETag.
            let changed = path.with_extension("changed.sql");
            let made = std::fs::copy(&path, &changed).and_then(|_| {
                let mut f = std::fs::OpenOptions::new().append(true).open(&changed)?;
                f.write_all(crate::faults::CHANGED_OBJECT_TRAILER)
            });
            if made.is_ok() {
                size += crate::faults::CHANGED_OBJECT_TRAILER.len() as u64;
                path = changed;
                job.phase = Phase::Written {
                    path: path.clone(),
                    size,
                };
                job.tag.push_str("-changed");
                job.object_changed = true;
            }
        }
        let range = parse_range(req.header("range"), size);
        let mut truncate = false;
        let mut throttle = None;
        if !head && range != Range::Unsatisfiable {
            job.downloads += 1;
            truncate = truncate_fault && job.downloads == 1;
            throttle = faults
                .first_download_429_secs
                .filter(|_| job.downloads == 1);
        }
        Plan {
            path,
            size,
            etag: format!("\"{}-{size:x}\"", job.tag),
            truncate,
            throttle,
        }
    };
    if let Some(secs) = plan.throttle {
        shared.lock().stats.record_fault("download_429");
        return finish(
            s3_error(429, "SlowDown", "Please reduce your request rate.", "")
                .with_header("Retry-After", secs.to_string()),
        );
    }
    let faults = &shared.config.faults;
    let file = match File::open(&plan.path) {
        Ok(f) => f,
        Err(_) => {
            return finish(s3_error(
                404,
                "NoSuchKey",
                "The specified key does not exist.",
                "",
            ))
        }
    };
    let mut range = parse_range(req.header("range"), plan.size);
    if let Some(if_range) = req.header("if-range").filter(|_| !faults.ignore_if_range) {
        if if_range != plan.etag {
            range = Range::Full;
        }
    }
    let modified = file
        .metadata()
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| SystemTime::now());
    let mut headers = vec![
        ("Content-Type".to_owned(), "application/sql".to_owned()),
        ("Accept-Ranges".to_owned(), "bytes".to_owned()),
        ("ETag".to_owned(), plan.etag.clone()),
        (
            "Last-Modified".to_owned(),
            httpdate::fmt_http_date(modified),
        ),
    ];
    let (status, start, len) = match range {
        Range::Full => (200, 0, plan.size),
        Range::Partial(a, b) => {
            headers.push((
                "Content-Range".to_owned(),
                format!("bytes {a}-{b}/{}", plan.size),
            ));
            (206, a, b - a + 1)
        }
        Range::Unsatisfiable => {
            let resp = s3_error(
                416,
                "InvalidRange",
                "The requested range is not satisfiable",
                "",
            )
            .with_header("Content-Range", format!("bytes */{}", plan.size));
            return finish(resp);
        }
    };
    if let Some(coding) = &faults.download_content_encoding {
        headers.push(("Content-Encoding".to_owned(), coding.clone()));
    }
    // A close-delimited body: no length, no chunks; the connection's end is the body's.
    let close_delimited = faults.close_delimited_downloads;
    let keep_alive = keep_alive && !close_delimited;
    let mut head_bytes = status_line_and_headers(status, &headers, keep_alive);
    if close_delimited {
        head_bytes.push_str("\r\n");
    } else {
        head_bytes.push_str(&format!("Content-Length: {len}\r\n\r\n"));
    }
    {
        let mut st = shared.lock();
        st.stats.record_request(&route, status);
        if status == 206 && !head {
            st.stats.downloads_ranged += 1;
        }
    }
    shared.log(req, status);
    let stall = shared.config.faults.stall_download.filter(|_| !head);
    if stall == Some(Stall::BeforeHead) {
        return hold_silent(shared, stream);
    }
    let mut w = stream;
    if w.write_all(head_bytes.as_bytes()).is_err() {
        return Flow::Close;
    }
    if head {
        return Flow::Continue;
    }
    let limit = if plan.truncate {
        (len / 2).max(1).min(len)
    } else {
        len
    };
    if let Some(Stall::AfterBytes(n)) = stall {
        let _ = send_body(shared, file, stream, start, n.min(len));
        return hold_silent(shared, stream);
    }
    let limit = match faults.break_downloads_every_kib.filter(|k| *k > 0) {
        Some(kib) => limit.min(kib * 1024),
        None => limit,
    };
    let sent = send_body(shared, file, stream, start, limit);
    let mut st = shared.lock();
    let sent_ok = match sent {
        Ok(n) => {
            st.stats.bytes_served += n;
            n == limit
        }
        Err((n, _)) => {
            st.stats.bytes_served += n;
            false
        }
    };
    if limit < len {
        st.stats.downloads_truncated += 1;
        st.stats.record_fault("truncated_download");
        return Flow::Close;
    }
    if sent_ok {
        st.stats.downloads_completed += 1;
    }
    if sent_ok && !close_delimited {
        Flow::Continue
    } else {
        Flow::Close
    }
}

/// The stall fault: keeps the connection open and silent until the client closes it or the
/// emulator stops (at most ten minutes).
fn hold_silent(shared: &Shared, stream: &TcpStream) -> Flow {
    shared.lock().stats.record_fault("stalled_download");
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let began = Instant::now();
    let mut byte = [0u8; 1];
    while !shared.stopping.load(Ordering::SeqCst) && began.elapsed() < Duration::from_secs(600) {
        match stream.peek(&mut byte) {
            Ok(0) => break,
            Ok(_) => std::thread::sleep(Duration::from_millis(50)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    Flow::Close
}

/// Copies `len` bytes of `file` from `start` to the socket, throttled if configured. Returns
/// the bytes sent (and on error, those sent before it).
fn send_body(
    shared: &Shared,
    file: File,
    stream: &TcpStream,
    start: u64,
    len: u64,
) -> Result<u64, (u64, io::Error)> {
    match shared.config.faults.download_kib_per_sec.filter(|k| *k > 0) {
        Some(kib) => copy_buffered(shared, file, stream, start, len, Some(kib * 1024)),
        None => copy_zero(shared, file, stream, start, len),
    }
}

/// sendfile(2): the kernel moves the pages from the page cache to the socket. (std's
/// `io::copy` deliberately does not use it for file-to-socket copies.) Falls back to a
/// buffered copy where sendfile is refused.
#[cfg(target_os = "linux")]
fn copy_zero(
    shared: &Shared,
    file: File,
    stream: &TcpStream,
    start: u64,
    len: u64,
) -> Result<u64, (u64, io::Error)> {
    use nix::errno::Errno;
    let Ok(mut offset) = i64::try_from(start) else {
        return copy_buffered(shared, file, stream, start, len, None);
    };
    let mut sent = 0u64;
    while sent < len {
        let chunk = (len - sent).min(1 << 30) as usize;
        match nix::sys::sendfile::sendfile(stream, &file, Some(&mut offset), chunk) {
            Ok(0) => return Err((sent, io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => sent += n as u64,
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            Err(Errno::EINVAL | Errno::ENOSYS) if sent == 0 => {
                return copy_buffered(shared, file, stream, start, len, None);
            }
            Err(e) => return Err((sent, e.into())),
        }
    }
    Ok(sent)
}

#[cfg(not(target_os = "linux"))]
fn copy_zero(
    shared: &Shared,
    file: File,
    stream: &TcpStream,
    start: u64,
    len: u64,
) -> Result<u64, (u64, io::Error)> {
    copy_buffered(shared, file, stream, start, len, None)
}

/// A read/write loop with large buffers, paced to `rate` bytes per second if given.
fn copy_buffered(
    shared: &Shared,
    mut file: File,
    stream: &TcpStream,
    start: u64,
    len: u64,
    rate: Option<u64>,
) -> Result<u64, (u64, io::Error)> {
    file.seek(SeekFrom::Start(start)).map_err(|e| (0, e))?;
    let mut w = stream;
    let chunk = rate.map_or(256 * 1024, |r| (r / 20).clamp(512, 256 * 1024) as usize);
    let mut buf = vec![0; chunk];
    let began = Instant::now();
    let mut sent = 0u64;
    while sent < len {
        if shared.stopping.load(Ordering::SeqCst) {
            return Err((sent, io::ErrorKind::Interrupted.into()));
        }
        let want = chunk.min((len - sent) as usize);
        let n = file.read(&mut buf[..want]).map_err(|e| (sent, e))?;
        if n == 0 {
            return Err((sent, io::ErrorKind::UnexpectedEof.into()));
        }
        w.write_all(&buf[..n]).map_err(|e| (sent, e))?;
        sent += n as u64;
        if let Some(rate) = rate {
            let due = Duration::from_secs_f64(sent as f64 / rate as f64);
            let elapsed = began.elapsed();
            if due > elapsed {
                std::thread::sleep(due - elapsed);
            }
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Range::Full);
        assert_eq!(parse_range(Some("bytes=2-"), 10), Range::Partial(2, 9));
        assert_eq!(parse_range(Some("bytes=2-4"), 10), Range::Partial(2, 4));
        assert_eq!(parse_range(Some("bytes=2-400"), 10), Range::Partial(2, 9));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Range::Partial(7, 9));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Range::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Range::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5-2"), 10), Range::Full);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), Range::Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), Range::Full);
    }
}
